// RUN: lowmem-opt %s --lowmem-differentiate="optimizer=none loss=cross_entropy" --canonicalize --lowmem-checkpoint=policy=none | FileCheck %s
// RUN: lowmem-opt %s --lowmem-differentiate="optimizer=none loss=cross_entropy" --canonicalize --lowmem-checkpoint="policy=budget budget=1000000000 batch=2 length=4096" | FileCheck %s --check-prefix=BUDGET
// RUN: not lowmem-opt %s --lowmem-differentiate="optimizer=none loss=cross_entropy" --canonicalize --lowmem-checkpoint="policy=budget budget=1000000000 batch=2" 2>&1 | FileCheck %s --check-prefix=LENGTH
// RUN: not lowmem-opt %s --lowmem-differentiate="optimizer=none loss=cross_entropy" --canonicalize --lowmem-checkpoint="policy=budget budget=100000 batch=2 length=4096" 2>&1 | FileCheck %s --check-prefix=SMALL

// A budget is planned at the batch and the length: the estimated peak is
// the embedding's [2, 4096, 16] floats and more, and the budget's record
// carries both sizes for plan-memory's check. Without the length, or under
// the smallest peak, an error.
// BUDGET: lowmem.checkpoint = {{{.*}}estimated_peak = {{[1-9][0-9][0-9][0-9][0-9][0-9][0-9]+}} : i64, {{.*}}policy = "budget (none)"
// BUDGET-SAME: lowmem.checkpoint_budget = [1000000000, 2, 4096]
// LENGTH: error: checkpoint policy budget: the step's input has 2 dynamic sizes (a decoder's batch and length); give the length too (lowmem-compile --batch=BxS)
// SMALL: error: checkpoint budget of 100000 bytes at batch 2 and length 4096 cannot be met: the smallest activation peak is {{[0-9]+}} bytes

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
