// RUN: lowmem-opt %s --split-input-file --lowmem-differentiate="optimizer=none loss=cross_entropy" --canonicalize | FileCheck %s

// A checkpoint imported with f16/bf16 weights (or quantized ones) has its
// head as a qlinear: the head and the loss still become one
// linear_cross_entropy reading the stored weight, and the [B, S, V] logits
// never exist (the head left dead by the rewrite goes at the next
// canonicalization, as in the pipelines).
// CHECK-LABEL: func.func @train_step(
// CHECK-SAME: %[[IDS:[^:]+]]: tensor<?x?xi64>
// CHECK-SAME: %[[HEAD:[^:]+]]: !lowmem.qtensor<20x16xf32, bf16>
// CHECK-NOT: lowmem.qlinear
// CHECK: %[[LOSS:[^,]+]], %[[LSE:.+]] = lowmem.linear_cross_entropy %[[H:[^,]+]], %[[HEAD]], %{{[^ ]+}} : tensor<?x?x16xf32>, !lowmem.qtensor<20x16xf32, bf16>, tensor<?x?xi64> -> tensor<f32>, tensor<?x?xf32>
// CHECK: lowmem.linear_cross_entropy_grad %[[H]], %[[HEAD]], %{{[^ ]+}}, %[[LSE]]
// CHECK-NOT: tensor<?x?x20xf32>
// CHECK-NOT: lowmem.cross_entropy_loss
func.func @forward(%ids: tensor<?x?xi64> {lowmem.input = "ids"},
    %emb: tensor<20x16xf32> {lowmem.param = "embed.weight"},
    %w: tensor<16x16xf32> {lowmem.param = "p.weight"},
    %a: tensor<2x16xf32> {lowmem.param = "p.lora_A.weight", lowmem.trainable},
    %b: tensor<16x2xf32> {lowmem.param = "p.lora_B.weight", lowmem.trainable},
    %head: !lowmem.qtensor<20x16xf32, bf16> {lowmem.param = "head.weight"}) -> tensor<?x?x20xf32> {
  %h = lowmem.embedding %ids, %emb : tensor<?x?xi64>, tensor<20x16xf32> -> tensor<?x?x16xf32>
  %p = lowmem.linear %h, %w : tensor<?x?x16xf32>, tensor<16x16xf32> -> tensor<?x?x16xf32>
  %l = lowmem.lora %h, %a, %b {alpha = 4.0 : f64} : tensor<?x?x16xf32>, tensor<2x16xf32>, tensor<16x2xf32> -> tensor<?x?x16xf32>
  %s = lowmem.add %p, %l : tensor<?x?x16xf32>
  %logits = lowmem.qlinear %s, %head : tensor<?x?x16xf32>, !lowmem.qtensor<20x16xf32, bf16> -> tensor<?x?x20xf32>
  return %logits : tensor<?x?x20xf32>
}

// -----

// A head with a bias is no plain head: its logits are computed and the loss
// reads them.
// CHECK-LABEL: func.func @train_step(
// CHECK: %[[LOGITS:.+]] = lowmem.qlinear %{{.+}}, %{{.+}} bias
// CHECK: lowmem.cross_entropy_loss %[[LOGITS]]
// CHECK-NOT: lowmem.linear_cross_entropy
func.func @forward(%ids: tensor<?x?xi64> {lowmem.input = "ids"},
    %emb: tensor<20x16xf32> {lowmem.param = "embed.weight"},
    %a: tensor<2x16xf32> {lowmem.param = "p.lora_A.weight", lowmem.trainable},
    %b: tensor<16x2xf32> {lowmem.param = "p.lora_B.weight", lowmem.trainable},
    %head: !lowmem.qtensor<20x16xf32, bf16> {lowmem.param = "head.weight"},
    %bias: tensor<20xf32> {lowmem.param = "head.bias"}) -> tensor<?x?x20xf32> {
  %h = lowmem.embedding %ids, %emb : tensor<?x?xi64>, tensor<20x16xf32> -> tensor<?x?x16xf32>
  %l = lowmem.lora %h, %a, %b {alpha = 4.0 : f64} : tensor<?x?x16xf32>, tensor<2x16xf32>, tensor<16x2xf32> -> tensor<?x?x16xf32>
  %logits = lowmem.qlinear %l, %head bias(%bias : tensor<20xf32>) : tensor<?x?x16xf32>, !lowmem.qtensor<20x16xf32, bf16> -> tensor<?x?x20xf32>
  return %logits : tensor<?x?x20xf32>
}
