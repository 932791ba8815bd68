// RUN: lowmem-opt %s --lowmem-kv-cache | FileCheck %s
// RUN: lowmem-opt %s --lowmem-kv-cache="cache-type=f32 step-name=step" | FileCheck %s --check-prefix=F32
// RUN: lowmem-opt %s --lowmem-kv-cache="cache-type=int8" | FileCheck %s --check-prefix=INT8

// A one-layer decoder becomes a generation step: rope takes the cache's fill
// `past`, keys and values go through the caches and attention reads their
// filled prefix, and only the last position runs from the attention to the
// logits, whose argmax is the next token.

// CHECK-LABEL: func.func @generate_step(
// CHECK-SAME: %[[IDS:[^:]+]]: tensor<?x?xi64> {lowmem.input = "input_ids"}
// CHECK-SAME: %[[PAST:[^:]+]]: index {lowmem.position}
// CHECK-SAME: %[[STARTS:[^:]+]]: tensor<?xi64> {lowmem.row_starts}
// CHECK-SAME: %[[KC:[^:]+]]: tensor<?x?x32xf16> {lowmem.cache = "cache.0.key"}
// CHECK-SAME: %[[VC:[^:]+]]: tensor<?x?x32xf16> {lowmem.cache = "cache.0.value"})
// CHECK-SAME: -> (tensor<?x?xi64> {lowmem.output = "next_ids"}, tensor<?x?x100xf32> {lowmem.output = "logits"}, tensor<?x?x32xf16> {lowmem.update = "cache.0.key"}, tensor<?x?x32xf16> {lowmem.update = "cache.0.value"})
// CHECK: %[[H:.+]] = lowmem.embedding %[[IDS]]
// The residual's last row, for the row-wise tail.
// CHECK: %[[HLAST:.+]] = tensor.extract_slice %[[H]][0, %{{.+}}, 0] [%{{.+}}, %{{.+}}, 64] [1, 1, 1]
// CHECK: %[[Q:.+]] = lowmem.linear %[[H]]
// CHECK: %[[K:.+]] = lowmem.linear %[[H]]
// CHECK: %[[V:.+]] = lowmem.linear %[[H]]
// CHECK: %[[QR:.+]] = lowmem.rope %[[Q]], %{{.+}} offset(%[[PAST]]) row_starts(%[[STARTS]] : tensor<?xi64>)
// CHECK: %[[KR:.+]] = lowmem.rope %[[K]], %{{.+}} offset(%[[PAST]]) row_starts(%[[STARTS]] : tensor<?xi64>)
// CHECK: %[[K1:.+]] = lowmem.cache_update %[[KR]] into %[[KC]][%[[PAST]]] : tensor<?x?x32xf32> into tensor<?x?x32xf16>
// CHECK: %[[S:.+]] = tensor.dim %[[KR]], %c1
// CHECK: %[[FILL:.+]] = arith.addi %[[PAST]], %[[S]]
// CHECK: %[[KVIEW:.+]] = tensor.extract_slice %[[K1]][0, 0, 0] [%{{.+}}, %[[FILL]], 32] [1, 1, 1]
// CHECK: %[[V1:.+]] = lowmem.cache_update %[[V]] into %[[VC]][%[[PAST]]]
// CHECK: %[[VVIEW:.+]] = tensor.extract_slice %[[V1]][0, 0, 0]
// CHECK: %[[A:.+]] = lowmem.attention %[[QR]], %[[KVIEW]], %[[VVIEW]] key_starts(%[[STARTS]] : tensor<?xi64>) {causal
// CHECK: %[[ALAST:.+]] = tensor.extract_slice %[[A]][0, %{{.+}}, 0] [%{{.+}}, %{{.+}}, 64]
// CHECK: %[[O:.+]] = lowmem.linear %[[ALAST]], %{{.+}} residual(%[[HLAST]] :
// CHECK: %[[X:.+]] = lowmem.rms_norm %[[O]]
// CHECK: %[[L:.+]] = lowmem.linear %[[X]]
// CHECK: %[[NEXT:.+]] = lowmem.argmax %[[L]] : tensor<?x?x100xf32> -> tensor<?x?xi64>
// CHECK: return %[[NEXT]], %[[L]], %[[K1]], %[[V1]]

// F32-LABEL: func.func @step(
// F32-SAME: tensor<?x?x32xf32> {lowmem.cache = "cache.0.key"}
// F32: lowmem.cache_update %{{.+}} into %{{.+}}[%{{.+}}] : tensor<?x?x32xf32> into tensor<?x?x32xf32>

// An int8 cache: codes and a scale per token and head, each in a cache.
// INT8-LABEL: func.func @generate_step(
// INT8-SAME: tensor<?x?x32xi8> {lowmem.cache = "cache.0.key"}
// INT8-SAME: tensor<?x?x2xf32> {lowmem.cache = "cache.0.key_scales"}
// INT8-SAME: tensor<?x?x32xi8> {lowmem.cache = "cache.0.value"}
// INT8-SAME: tensor<?x?x2xf32> {lowmem.cache = "cache.0.value_scales"}
// INT8: %[[KC:.+]], %[[KS:.+]] = lowmem.quantize_groups %{{.+}} {group_size = 16 : i64} : tensor<?x?x32xf32> -> tensor<?x?x32xi8>, tensor<?x?x2xf32>
// INT8: lowmem.cache_update %[[KC]] into
// INT8: lowmem.cache_update %[[KS]] into
// INT8: lowmem.quantize_groups
// INT8: lowmem.attention %{{.+}}, %{{.+}}, %{{.+}} scales(%{{.+}}, %{{.+}} : tensor<?x?x2xf32>, tensor<?x?x2xf32>) key_starts(%{{.+}} : tensor<?xi64>) {causal
// INT8: return {{.*}} : tensor<?x?xi64>, tensor<?x?x100xf32>, tensor<?x?x32xi8>, tensor<?x?x2xf32>, tensor<?x?x32xi8>, tensor<?x?x2xf32>
func.func @forward(%ids: tensor<?x?xi64> {lowmem.input = "input_ids"},
    %emb: tensor<100x64xf32> {lowmem.param = "embed"},
    %wq: tensor<64x64xf32> {lowmem.param = "q"},
    %wk: tensor<32x64xf32> {lowmem.param = "k"},
    %wv: tensor<32x64xf32> {lowmem.param = "v"},
    %wo: tensor<64x64xf32> {lowmem.param = "o"},
    %n: tensor<64xf32> {lowmem.param = "norm"},
    %head: tensor<100x64xf32> {lowmem.param = "head"}) -> tensor<?x?x100xf32> {
  %f = arith.constant dense<1.0> : tensor<8xf32>
  %h = lowmem.embedding %ids, %emb : tensor<?x?xi64>, tensor<100x64xf32> -> tensor<?x?x64xf32>
  %q = lowmem.linear %h, %wq : tensor<?x?x64xf32>, tensor<64x64xf32> -> tensor<?x?x64xf32>
  %k = lowmem.linear %h, %wk : tensor<?x?x64xf32>, tensor<32x64xf32> -> tensor<?x?x32xf32>
  %v = lowmem.linear %h, %wv : tensor<?x?x64xf32>, tensor<32x64xf32> -> tensor<?x?x32xf32>
  %qr = lowmem.rope %q, %f {head_dim = 16 : i64} : tensor<?x?x64xf32>, tensor<8xf32> -> tensor<?x?x64xf32>
  %kr = lowmem.rope %k, %f {head_dim = 16 : i64} : tensor<?x?x32xf32>, tensor<8xf32> -> tensor<?x?x32xf32>
  %a = lowmem.attention %qr, %kr, %v {causal, num_heads = 4 : i64, num_kv_heads = 2 : i64, scale = 0.25 : f64} : tensor<?x?x64xf32>, tensor<?x?x32xf32>, tensor<?x?x32xf32> -> tensor<?x?x64xf32>
  %o = lowmem.linear %a, %wo residual(%h : tensor<?x?x64xf32>) : tensor<?x?x64xf32>, tensor<64x64xf32> -> tensor<?x?x64xf32>
  %x = lowmem.rms_norm %o, %n {epsilon = 1.0e-06 : f64} : tensor<?x?x64xf32>, tensor<64xf32> -> tensor<?x?x64xf32>
  %l = lowmem.linear %x, %head : tensor<?x?x64xf32>, tensor<100x64xf32> -> tensor<?x?x100xf32>
  return %l : tensor<?x?x100xf32>
}
