// RUN: lowmem-opt %s --lowmem-differentiate="optimizer=none loss=cross_entropy" --canonicalize --lowmem-checkpoint=policy=none | FileCheck %s

// A decoder's step has two dynamic sizes, its ids' batch B (size 0) and
// sequence length S (size 1), and its FLOPs are a polynomial in both. Per
// B·S: the embedding 16, the projection 2·16·16 + 16 = 528, the fused head
// and loss 2·20·16 + 5·20 = 740 and its gradient 4·20·16 + 4·20 = 1360,
// the sum of the three attention gradients 2·16, the projection's weight
// gradient 2·16·16 = 512: 3188. Per B·S² (every query against every key):
// the attention 4·16 = 64 and its gradient 10·16 = 160. Nothing is per row
// of the batch alone (the runtime used to evaluate these counts at the
// batch, as BigNet's).
// CHECK: lowmem.checkpoint = {{{.*}}step_flops = {{\[}}[3188, 0, 1], [224, 0, 1, 1]]}
func.func @forward(%ids: tensor<?x?xi64> {lowmem.input = "ids"},
    %emb: tensor<20x16xf32> {lowmem.param = "embed.weight"},
    %wq: tensor<16x16xf32> {lowmem.param = "q.weight", lowmem.trainable},
    %wd: tensor<20x16xf32> {lowmem.param = "head.weight"}) -> tensor<?x?x20xf32> {
  %h = lowmem.embedding %ids, %emb : tensor<?x?xi64>, tensor<20x16xf32> -> tensor<?x?x16xf32>
  %q = lowmem.linear %h, %wq : tensor<?x?x16xf32>, tensor<16x16xf32> -> tensor<?x?x16xf32>
  %a = lowmem.attention %q, %q, %q {causal, num_heads = 2 : i64, num_kv_heads = 2 : i64, scale = 0.35355339 : f64} : tensor<?x?x16xf32>, tensor<?x?x16xf32>, tensor<?x?x16xf32> -> tensor<?x?x16xf32>
  %logits = lowmem.linear %a, %wd : tensor<?x?x16xf32>, tensor<20x16xf32> -> tensor<?x?x20xf32>
  return %logits : tensor<?x?x20xf32>
}
