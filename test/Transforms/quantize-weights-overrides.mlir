// RUN: lowmem-opt %s --lowmem-quantize-weights="format=nf4 double-quant override=lm_head.=bf16,model.embed_tokens.=int8,model.layers.0.mlp.=f32" | FileCheck %s
// RUN: lowmem-opt %s --lowmem-quantize-weights="format=nf4" | FileCheck %s --check-prefix=DEFAULT
// RUN: lowmem-opt %s --lowmem-quantize-weights="format=f32 override=lm_head.=fp4" | FileCheck %s --check-prefix=ONLY
// RUN: lowmem-opt %s --lowmem-quantize-weights="format=nf4 double-quant override=lm_head.=nf4,lm_head.=f16" | FileCheck %s --check-prefix=FIRST
// RUN: not lowmem-opt %s --lowmem-quantize-weights="override=lm_head" 2>&1 | FileCheck %s --check-prefix=BAD
// RUN: not lowmem-opt %s --lowmem-quantize-weights="override=lm_head.=nf5" 2>&1 | FileCheck %s --check-prefix=BADFMT

// Overrides give the parameters they name a format of their own, the first
// that matches winning: the head bf16 (no double quantization: bf16 has no
// scales), the embedding table int8 (only an override quantizes it), the
// MLP kept f32; the other linear layers take the global nf4 + double quant.
// The fused head and its gradient read the quantized head as it is.

// CHECK-LABEL: func.func @lm
// CHECK-SAME: %{{[^:]+}}: !lowmem.qtensor<64x32xf32, int8> {lowmem.param = "model.embed_tokens.weight"}
// CHECK-SAME: %{{[^:]+}}: tensor<48x32xf32> {lowmem.param = "model.layers.0.mlp.up_proj.weight"}
// CHECK-SAME: %{{[^:]+}}: !lowmem.qtensor<32x48xf32, nf4, block = 64, double_quant> {lowmem.param = "model.layers.0.self_attn.o_proj.weight"}
// CHECK-SAME: %[[HEAD:[^:]+]]: !lowmem.qtensor<64x32xf32, bf16> {lowmem.param = "lm_head.weight"}
// CHECK: lowmem.embedding %{{.+}} : tensor<?x?xi64>, !lowmem.qtensor<64x32xf32, int8> -> tensor<?x?x32xf32>
// CHECK: lowmem.linear %{{.+}} : tensor<?x?x32xf32>, tensor<48x32xf32>
// CHECK: lowmem.qlinear %{{.+}} : tensor<?x?x48xf32>, <32x48xf32, nf4, block = 64, double_quant>
// CHECK: lowmem.linear_cross_entropy %{{.+}}, %[[HEAD]], %{{.+}} : tensor<?x?x32xf32>, !lowmem.qtensor<64x32xf32, bf16>, tensor<?x?xi64>
// CHECK: lowmem.linear_cross_entropy_grad %{{.+}}, %[[HEAD]], %{{.+}}, %{{.+}} : tensor<?x?x32xf32>, !lowmem.qtensor<64x32xf32, bf16>

// Without overrides the embedding stays f32 (bitsandbytes leaves it alone)
// and the fused head takes the global format, as a linear head does.
// DEFAULT-LABEL: func.func @lm
// DEFAULT-SAME: tensor<64x32xf32> {lowmem.param = "model.embed_tokens.weight"}
// DEFAULT-SAME: !lowmem.qtensor<48x32xf32, nf4, block = 64> {lowmem.param = "model.layers.0.mlp.up_proj.weight"}
// DEFAULT-SAME: !lowmem.qtensor<64x32xf32, nf4, block = 64> {lowmem.param = "lm_head.weight"}

// format=f32 with an override: only the head is stored otherwise.
// ONLY-LABEL: func.func @lm
// ONLY-SAME: tensor<64x32xf32> {lowmem.param = "model.embed_tokens.weight"}
// ONLY-SAME: tensor<48x32xf32> {lowmem.param = "model.layers.0.mlp.up_proj.weight"}
// ONLY-SAME: tensor<32x48xf32> {lowmem.param = "model.layers.0.self_attn.o_proj.weight"}
// ONLY-SAME: !lowmem.qtensor<64x32xf32, fp4, block = 64> {lowmem.param = "lm_head.weight"}

// FIRST: !lowmem.qtensor<64x32xf32, nf4, block = 64, double_quant> {lowmem.param = "lm_head.weight"}

// BAD: error: override 'lm_head' is not NAME=FORMAT
// BADFMT: error: unknown weight format 'nf5'; expected one of f32, f16, bf16, int4, nf4, fp4, int8

func.func @lm(%ids: tensor<?x?xi64> {lowmem.input = "input_ids"},
              %emb: tensor<64x32xf32> {lowmem.param = "model.embed_tokens.weight"},
              %up: tensor<48x32xf32> {lowmem.param = "model.layers.0.mlp.up_proj.weight"},
              %o: tensor<32x48xf32> {lowmem.param = "model.layers.0.self_attn.o_proj.weight"},
              %head: tensor<64x32xf32> {lowmem.param = "lm_head.weight"},
              %labels: tensor<?x?xi64> {lowmem.input = "target"}) -> (tensor<f32>, tensor<?x?x32xf32>) {
  %h = lowmem.embedding %ids, %emb : tensor<?x?xi64>, tensor<64x32xf32> -> tensor<?x?x32xf32>
  %u = lowmem.linear %h, %up : tensor<?x?x32xf32>, tensor<48x32xf32> -> tensor<?x?x48xf32>
  %y = lowmem.linear %u, %o : tensor<?x?x48xf32>, tensor<32x48xf32> -> tensor<?x?x32xf32>
  %loss, %lse = lowmem.linear_cross_entropy %y, %head, %labels : tensor<?x?x32xf32>, tensor<64x32xf32>, tensor<?x?xi64> -> tensor<f32>, tensor<?x?xf32>
  %dy = lowmem.linear_cross_entropy_grad %y, %head, %labels, %lse : tensor<?x?x32xf32>, tensor<64x32xf32>, tensor<?x?xi64>, tensor<?x?xf32> -> tensor<?x?x32xf32>
  return %loss, %dy : tensor<f32>, tensor<?x?x32xf32>
}
