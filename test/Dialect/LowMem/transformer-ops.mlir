// RUN: lowmem-opt %s | lowmem-opt | FileCheck %s
// RUN: lowmem-opt %s --mlir-print-op-generic | lowmem-opt | FileCheck %s

// The transformer ops round-trip through the custom and generic forms.

// CHECK-LABEL: func.func @decoder_layer
func.func @decoder_layer(%ids: tensor<?x?xi64>, %table: tensor<1000x64xf32>,
                         %w: tensor<64xf32>, %inv: tensor<8xf32>,
                         %kv: tensor<?x?x32xf32>, %up: tensor<?x?x64xf32>)
    -> tensor<?x?x64xf32> {
  // CHECK: lowmem.embedding %{{.+}}, %{{.+}} : tensor<?x?xi64>, tensor<1000x64xf32> -> tensor<?x?x64xf32>
  %h = lowmem.embedding %ids, %table : tensor<?x?xi64>, tensor<1000x64xf32> -> tensor<?x?x64xf32>
  // CHECK: lowmem.rms_norm %{{.+}}, %{{.+}} {epsilon = 9.9999999999999995E-7 : f64} : tensor<?x?x64xf32>, tensor<64xf32> -> tensor<?x?x64xf32>
  %n = lowmem.rms_norm %h, %w {epsilon = 1.0e-06 : f64} : tensor<?x?x64xf32>, tensor<64xf32> -> tensor<?x?x64xf32>
  // CHECK: lowmem.rope %{{.+}}, %{{.+}} {head_dim = 16 : i64} : tensor<?x?x64xf32>, tensor<8xf32> -> tensor<?x?x64xf32>
  %q = lowmem.rope %n, %inv {head_dim = 16 : i64} : tensor<?x?x64xf32>, tensor<8xf32> -> tensor<?x?x64xf32>
  // CHECK: lowmem.rope %{{.+}}, %{{.+}} {head_dim = 16 : i64, position_offset = 5 : i64}
  %k = lowmem.rope %kv, %inv {head_dim = 16 : i64, position_offset = 5 : i64} : tensor<?x?x32xf32>, tensor<8xf32> -> tensor<?x?x32xf32>
  // CHECK: lowmem.attention %{{.+}}, %{{.+}}, %{{.+}} {causal, num_heads = 4 : i64, num_kv_heads = 2 : i64, scale = 2.500000e-01 : f64}
  %a = lowmem.attention %q, %k, %kv {causal, num_heads = 4 : i64, num_kv_heads = 2 : i64, scale = 0.25 : f64} : tensor<?x?x64xf32>, tensor<?x?x32xf32>, tensor<?x?x32xf32> -> tensor<?x?x64xf32>
  // CHECK: lowmem.swiglu %{{.+}}, %{{.+}} : tensor<?x?x64xf32>
  %s = lowmem.swiglu %a, %up : tensor<?x?x64xf32>
  return %s : tensor<?x?x64xf32>
}

// CHECK-LABEL: func.func @generation_step
func.func @generation_step(%x: tensor<?x?x64xf32>, %kv: tensor<?x?x32xf32>,
                           %inv: tensor<8xf32>, %cache: tensor<?x?x32xf16>,
                           %past: index)
    -> (tensor<?x?xi64>, tensor<?x?x32xf16>) {
  // CHECK: lowmem.rope %{{.+}}, %{{.+}} offset(%{{.+}}) {head_dim = 16 : i64} : tensor<?x?x32xf32>, tensor<8xf32> -> tensor<?x?x32xf32>
  %k = lowmem.rope %kv, %inv offset(%past) {head_dim = 16 : i64} : tensor<?x?x32xf32>, tensor<8xf32> -> tensor<?x?x32xf32>
  // CHECK: lowmem.rope %{{.+}}, %{{.+}} offset(%{{.+}}) row_starts(%{{.+}} : tensor<?xi64>) {head_dim = 16 : i64}
  %starts = arith.constant dense<[0, 3]> : tensor<2xi64>
  %startsd = tensor.cast %starts : tensor<2xi64> to tensor<?xi64>
  %k2 = lowmem.rope %kv, %inv offset(%past) row_starts(%startsd : tensor<?xi64>) {head_dim = 16 : i64} : tensor<?x?x32xf32>, tensor<8xf32> -> tensor<?x?x32xf32>
  // CHECK: lowmem.attention %{{.+}}, %{{.+}}, %{{.+}} key_starts(%{{.+}} : tensor<?xi64>) {causal
  %a2 = lowmem.attention %x, %k2, %k2 key_starts(%startsd : tensor<?xi64>) {causal, num_heads = 4 : i64, num_kv_heads = 2 : i64, scale = 0.25 : f64} : tensor<?x?x64xf32>, tensor<?x?x32xf32>, tensor<?x?x32xf32> -> tensor<?x?x64xf32>
  // CHECK: lowmem.cache_update %{{.+}} into %{{.+}}[%{{.+}}] : tensor<?x?x32xf32> into tensor<?x?x32xf16>
  %c = lowmem.cache_update %k into %cache[%past] : tensor<?x?x32xf32> into tensor<?x?x32xf16>
  // CHECK: lowmem.attention %{{.+}}, %{{.+}}, %{{.+}} {causal, num_heads = 4 : i64, num_kv_heads = 2 : i64, scale = 2.500000e-01 : f64} : tensor<?x?x64xf32>, tensor<?x?x32xf16>, tensor<?x?x32xf16> -> tensor<?x?x64xf32>
  %a = lowmem.attention %x, %c, %c {causal, num_heads = 4 : i64, num_kv_heads = 2 : i64, scale = 0.25 : f64} : tensor<?x?x64xf32>, tensor<?x?x32xf16>, tensor<?x?x32xf16> -> tensor<?x?x64xf32>
  // CHECK: lowmem.argmax %{{.+}} : tensor<?x?x64xf32> -> tensor<?x?xi64>
  %n = lowmem.argmax %a : tensor<?x?x64xf32> -> tensor<?x?xi64>
  return %n, %c : tensor<?x?xi64>, tensor<?x?x32xf16>
}

// CHECK-LABEL: func.func @int8_cache
func.func @int8_cache(%q: tensor<?x?x64xf32>, %k: tensor<?x?x32xf32>,
                      %cache: tensor<?x?x32xi8>, %scales: tensor<?x?x2xf32>,
                      %past: index) -> tensor<?x?x64xf32> {
  // CHECK: lowmem.quantize_groups %{{.+}} {group_size = 16 : i64} : tensor<?x?x32xf32> -> tensor<?x?x32xi8>, tensor<?x?x2xf32>
  %codes, %s = lowmem.quantize_groups %k {group_size = 16 : i64} : tensor<?x?x32xf32> -> tensor<?x?x32xi8>, tensor<?x?x2xf32>
  // CHECK: lowmem.cache_update %{{.+}} into %{{.+}}[%{{.+}}] : tensor<?x?x32xi8> into tensor<?x?x32xi8>
  %c = lowmem.cache_update %codes into %cache[%past] : tensor<?x?x32xi8> into tensor<?x?x32xi8>
  %cs = lowmem.cache_update %s into %scales[%past] : tensor<?x?x2xf32> into tensor<?x?x2xf32>
  // CHECK: lowmem.attention %{{.+}}, %{{.+}}, %{{.+}} scales(%{{.+}}, %{{.+}} : tensor<?x?x2xf32>, tensor<?x?x2xf32>) {causal, num_heads = 4 : i64, num_kv_heads = 2 : i64, scale = 2.500000e-01 : f64} : tensor<?x?x64xf32>, tensor<?x?x32xi8>, tensor<?x?x32xi8> -> tensor<?x?x64xf32>
  %a = lowmem.attention %q, %c, %c scales(%cs, %cs : tensor<?x?x2xf32>, tensor<?x?x2xf32>) {causal, num_heads = 4 : i64, num_kv_heads = 2 : i64, scale = 0.25 : f64} : tensor<?x?x64xf32>, tensor<?x?x32xi8>, tensor<?x?x32xi8> -> tensor<?x?x64xf32>
  return %a : tensor<?x?x64xf32>
}

// CHECK-LABEL: func.func @gradients
func.func @gradients(%dy: tensor<?x?x64xf32>, %x: tensor<?x?x64xf32>,
                     %w: tensor<64xf32>, %k: tensor<?x?x32xf32>,
                     %inv: tensor<8xf32>)
    -> (tensor<?x?x64xf32>, tensor<?x?x64xf32>, tensor<?x?x64xf32>,
        tensor<?x?x32xf32>, tensor<?x?x32xf32>, tensor<?x?x64xf32>) {
  // CHECK: lowmem.rms_norm_grad %{{.+}}, %{{.+}}, %{{.+}} {epsilon = 9.9999999999999995E-7 : f64} : tensor<?x?x64xf32>, tensor<?x?x64xf32>, tensor<64xf32> -> tensor<?x?x64xf32>
  %0 = lowmem.rms_norm_grad %dy, %x, %w {epsilon = 1.0e-06 : f64} : tensor<?x?x64xf32>, tensor<?x?x64xf32>, tensor<64xf32> -> tensor<?x?x64xf32>
  // CHECK: lowmem.swiglu_grad %{{.+}}, %{{.+}}, %{{.+}} : tensor<?x?x64xf32>
  %1:2 = lowmem.swiglu_grad %dy, %x, %x : tensor<?x?x64xf32>
  // CHECK: lowmem.attention_grad %{{.+}}, %{{.+}}, %{{.+}}, %{{.+}}, %{{.+}} {causal, num_heads = 4 : i64, num_kv_heads = 2 : i64, scale = 2.500000e-01 : f64}
  %2:3 = lowmem.attention_grad %dy, %x, %k, %k, %x {causal, num_heads = 4 : i64, num_kv_heads = 2 : i64, scale = 0.25 : f64} : tensor<?x?x64xf32>, tensor<?x?x64xf32>, tensor<?x?x32xf32>, tensor<?x?x32xf32>, tensor<?x?x64xf32> -> tensor<?x?x64xf32>, tensor<?x?x32xf32>, tensor<?x?x32xf32>
  // CHECK: lowmem.rope %{{.+}}, %{{.+}} {head_dim = 16 : i64, inverse}
  %3 = lowmem.rope %dy, %inv {head_dim = 16 : i64, inverse} : tensor<?x?x64xf32>, tensor<8xf32> -> tensor<?x?x64xf32>
  return %0, %1#0, %2#0, %2#1, %2#2, %3 : tensor<?x?x64xf32>, tensor<?x?x64xf32>, tensor<?x?x64xf32>, tensor<?x?x32xf32>, tensor<?x?x32xf32>, tensor<?x?x64xf32>
}

// CHECK-LABEL: func.func @head_and_loss
func.func @head_and_loss(%h: tensor<?x?x64xf32>, %w: tensor<1000x64xf32>, %labels: tensor<?x?xi64>) -> (tensor<f32>, tensor<?x?x64xf32>) {
  // CHECK: lowmem.linear_cross_entropy %{{.+}}, %{{.+}}, %{{.+}} : tensor<?x?x64xf32>, tensor<1000x64xf32>, tensor<?x?xi64> -> tensor<f32>, tensor<?x?xf32>
  %loss, %lse = lowmem.linear_cross_entropy %h, %w, %labels : tensor<?x?x64xf32>, tensor<1000x64xf32>, tensor<?x?xi64> -> tensor<f32>, tensor<?x?xf32>
  // CHECK: lowmem.linear_cross_entropy_grad %{{.+}}, %{{.+}}, %{{.+}}, %{{.+}} {ignore_index = 7 : i64}
  %dh = lowmem.linear_cross_entropy_grad %h, %w, %labels, %lse {ignore_index = 7 : i64} : tensor<?x?x64xf32>, tensor<1000x64xf32>, tensor<?x?xi64>, tensor<?x?xf32> -> tensor<?x?x64xf32>
  return %loss, %dh : tensor<f32>, tensor<?x?x64xf32>
}

// The head, its gradient and the embedding read quantized weights as they
// are: decoded as they stream, never dequantized whole.
// CHECK-LABEL: func.func @quantized_head_and_table
func.func @quantized_head_and_table(%ids: tensor<?x?xi64>, %table: !lowmem.qtensor<1000x64xf32, int8>, %h: tensor<?x?x64xf32>, %w: !lowmem.qtensor<1000x64xf32, nf4, block = 64, double_quant>, %labels: tensor<?x?xi64>) -> (tensor<?x?x64xf32>, tensor<f32>, tensor<?x?x64xf32>) {
  // CHECK: lowmem.embedding %{{.+}}, %{{.+}} : tensor<?x?xi64>, !lowmem.qtensor<1000x64xf32, int8> -> tensor<?x?x64xf32>
  %e = lowmem.embedding %ids, %table : tensor<?x?xi64>, !lowmem.qtensor<1000x64xf32, int8> -> tensor<?x?x64xf32>
  // CHECK: lowmem.linear_cross_entropy %{{.+}}, %{{.+}}, %{{.+}} : tensor<?x?x64xf32>, !lowmem.qtensor<1000x64xf32, nf4, block = 64, double_quant>, tensor<?x?xi64> -> tensor<f32>, tensor<?x?xf32>
  %loss, %lse = lowmem.linear_cross_entropy %h, %w, %labels : tensor<?x?x64xf32>, !lowmem.qtensor<1000x64xf32, nf4, block = 64, double_quant>, tensor<?x?xi64> -> tensor<f32>, tensor<?x?xf32>
  // CHECK: lowmem.linear_cross_entropy_grad %{{.+}}, %{{.+}}, %{{.+}}, %{{.+}} : tensor<?x?x64xf32>, !lowmem.qtensor<1000x64xf32, nf4, block = 64, double_quant>
  %dh = lowmem.linear_cross_entropy_grad %h, %w, %labels, %lse : tensor<?x?x64xf32>, !lowmem.qtensor<1000x64xf32, nf4, block = 64, double_quant>, tensor<?x?xi64>, tensor<?x?xf32> -> tensor<?x?x64xf32>
  return %e, %loss, %dh : tensor<?x?x64xf32>, tensor<f32>, tensor<?x?x64xf32>
}
