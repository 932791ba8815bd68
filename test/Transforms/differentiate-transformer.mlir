// RUN: lowmem-opt %s --lowmem-differentiate="optimizer=none loss=cross_entropy" | FileCheck %s

// The transformer rules: the reverse sweep of one decoder layer whose
// projections carry trainable LoRA adapters. RMSNorm gives its input
// gradient, rope its inverse rotation, SwiGLU both gradients, attention
// the query, key and value gradients. The first norm and the embedding
// depend on nothing trainable and get no gradient. The head and the loss
// become one linear_cross_entropy: the logits are never stored.

// CHECK-LABEL: func.func @train_step(
// CHECK: %[[EMB:.+]] = lowmem.embedding
// CHECK: %[[Q:.+]] = lowmem.rope
// CHECK: %[[K:.+]] = lowmem.rope
// CHECK: %[[ATT:.+]] = lowmem.attention %[[Q]], %[[K]], %[[V:[^ ]+]] {causal
// CHECK: %[[R:.+]] = lowmem.add %[[ATT]], %[[EMB]]
// CHECK: %[[S:.+]] = lowmem.swiglu
// CHECK-NOT: lowmem.cross_entropy_loss
// CHECK: %{{.+}}, %[[LSE:.+]] = lowmem.linear_cross_entropy %[[S]], %{{.+}}, %{{.+}} : tensor<?x?x24xf32>, tensor<20x24xf32>, tensor<?x?xi64> -> tensor<f32>, tensor<?x?xf32>
// CHECK: lowmem.linear_cross_entropy_grad %[[S]], %{{.+}}, %{{.+}}, %[[LSE]]
// CHECK: lowmem.swiglu_grad
// CHECK: lowmem.rms_norm_grad %{{.+}}, %[[R]], %{{.+}} {epsilon
// CHECK: %[[DQ:.+]], %[[DK:.+]], %{{.+}} = lowmem.attention_grad %{{.+}}, %[[Q]], %[[K]], %[[V]], %[[ATT]] {causal, num_heads = 2 : i64, num_kv_heads = 1 : i64
// CHECK-DAG: lowmem.rope %[[DK]], %{{.+}} {head_dim = 8 : i64, inverse}
// CHECK-DAG: lowmem.rope %[[DQ]], %{{.+}} {head_dim = 8 : i64, inverse}
// CHECK-NOT: lowmem.rms_norm_grad
// CHECK-NOT: lowmem.embedding
// CHECK: return

func.func @forward(%ids: tensor<?x?xi64> {lowmem.input = "input_ids"},
    %emb: tensor<20x16xf32> {lowmem.param = "model.embed_tokens.weight"},
    %ln: tensor<16xf32> {lowmem.param = "ln.weight"},
    %wq: tensor<16x16xf32> {lowmem.param = "q.weight"},
    %aq: tensor<2x16xf32> {lowmem.param = "q.lora_A.weight", lowmem.trainable},
    %bq: tensor<16x2xf32> {lowmem.param = "q.lora_B.weight", lowmem.trainable},
    %wk: tensor<8x16xf32> {lowmem.param = "k.weight"},
    %ak: tensor<2x16xf32> {lowmem.param = "k.lora_A.weight", lowmem.trainable},
    %bk: tensor<8x2xf32> {lowmem.param = "k.lora_B.weight", lowmem.trainable},
    %wv: tensor<8x16xf32> {lowmem.param = "v.weight"},
    %wg: tensor<24x16xf32> {lowmem.param = "g.weight"},
    %wu: tensor<24x16xf32> {lowmem.param = "u.weight"},
    %ag: tensor<2x16xf32> {lowmem.param = "g.lora_A.weight", lowmem.trainable},
    %bg: tensor<24x2xf32> {lowmem.param = "g.lora_B.weight", lowmem.trainable},
    %wd: tensor<20x24xf32> {lowmem.param = "d.weight"}) -> tensor<?x?x20xf32> {
  %inv = arith.constant dense<[1.0, 0.1, 0.01, 0.001]> : tensor<4xf32>
  %h = lowmem.embedding %ids, %emb : tensor<?x?xi64>, tensor<20x16xf32> -> tensor<?x?x16xf32>
  %n = lowmem.rms_norm %h, %ln {epsilon = 1.0e-06 : f64} : tensor<?x?x16xf32>, tensor<16xf32> -> tensor<?x?x16xf32>
  %q0 = lowmem.linear %n, %wq : tensor<?x?x16xf32>, tensor<16x16xf32> -> tensor<?x?x16xf32>
  %ql = lowmem.lora %n, %aq, %bq {alpha = 4.0 : f64} : tensor<?x?x16xf32>, tensor<2x16xf32>, tensor<16x2xf32> -> tensor<?x?x16xf32>
  %q1 = lowmem.add %q0, %ql : tensor<?x?x16xf32>
  %k0 = lowmem.linear %n, %wk : tensor<?x?x16xf32>, tensor<8x16xf32> -> tensor<?x?x8xf32>
  %kl = lowmem.lora %n, %ak, %bk {alpha = 4.0 : f64} : tensor<?x?x16xf32>, tensor<2x16xf32>, tensor<8x2xf32> -> tensor<?x?x8xf32>
  %k1 = lowmem.add %k0, %kl : tensor<?x?x8xf32>
  %v = lowmem.linear %n, %wv : tensor<?x?x16xf32>, tensor<8x16xf32> -> tensor<?x?x8xf32>
  %q = lowmem.rope %q1, %inv {head_dim = 8 : i64} : tensor<?x?x16xf32>, tensor<4xf32> -> tensor<?x?x16xf32>
  %k = lowmem.rope %k1, %inv {head_dim = 8 : i64} : tensor<?x?x8xf32>, tensor<4xf32> -> tensor<?x?x8xf32>
  %a = lowmem.attention %q, %k, %v {causal, num_heads = 2 : i64, num_kv_heads = 1 : i64, scale = 0.35355339 : f64} : tensor<?x?x16xf32>, tensor<?x?x8xf32>, tensor<?x?x8xf32> -> tensor<?x?x16xf32>
  %r = lowmem.add %a, %h : tensor<?x?x16xf32>
  %n2 = lowmem.rms_norm %r, %ln {epsilon = 1.0e-06 : f64} : tensor<?x?x16xf32>, tensor<16xf32> -> tensor<?x?x16xf32>
  %g0 = lowmem.linear %n2, %wg : tensor<?x?x16xf32>, tensor<24x16xf32> -> tensor<?x?x24xf32>
  %gl = lowmem.lora %n2, %ag, %bg {alpha = 4.0 : f64} : tensor<?x?x16xf32>, tensor<2x16xf32>, tensor<24x2xf32> -> tensor<?x?x24xf32>
  %g = lowmem.add %g0, %gl : tensor<?x?x24xf32>
  %u = lowmem.linear %n2, %wu : tensor<?x?x16xf32>, tensor<24x16xf32> -> tensor<?x?x24xf32>
  %s = lowmem.swiglu %g, %u : tensor<?x?x24xf32>
  %logits = lowmem.linear %s, %wd : tensor<?x?x24xf32>, tensor<20x24xf32> -> tensor<?x?x20xf32>
  return %logits : tensor<?x?x20xf32>
}
