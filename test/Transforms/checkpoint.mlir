// RUN: lowmem-opt %s --lowmem-differentiate=optimizer=none --lowmem-checkpoint=policy=none | FileCheck %s --check-prefix=NONE
// RUN: lowmem-opt %s --lowmem-differentiate=optimizer=none --lowmem-checkpoint=policy=blocks | FileCheck %s --check-prefix=BLOCKS
// RUN: lowmem-opt %s --lowmem-differentiate=optimizer=sgd --lowmem-checkpoint=policy=sqrt | FileCheck %s --check-prefix=SQRT
// RUN: lowmem-opt %s --lowmem-differentiate=optimizer=none --lowmem-checkpoint="policy=budget budget=1000000 batch=1000" | FileCheck %s --check-prefix=ROOMY
// RUN: lowmem-opt %s --lowmem-differentiate=optimizer=none --lowmem-checkpoint="policy=budget budget=100000 batch=1000" | FileCheck %s --check-prefix=TIGHT
// RUN: lowmem-opt %s --lowmem-differentiate=optimizer=none --lowmem-checkpoint="policy=budget budget=90000 batch=1000" | FileCheck %s --check-prefix=TIGHTER
// RUN: lowmem-opt %s --lowmem-differentiate=optimizer=none --lowmem-checkpoint=policy=blocks --cse | FileCheck %s --check-prefix=CSE

// Two residual blocks with a group norm between them. The boundaries are
// the first block's output %1, the norm's output %2 and the prediction %4:
// right after each, it is the only activation the rest of the forward
// reads. %0 (read by the first block's backward with the input x alive
// beside it) and %3 are inside blocks.

// NONE: lowmem.checkpoint = {boundaries = 3 : i64, estimated_peak = {{[0-9]+}} : i64, kept = 3 : i64, policy = "none", recompute_flops = [], recomputed_ops = 0 : i64
// NONE-NOT: lowmem.recompute

// blocks: the inside of each block is recomputed just before the first
// backward op that reads it; the boundaries are read from the forward.
// BLOCKS: lowmem.checkpoint = {boundaries = 3 : i64, estimated_peak = {{[0-9]+}} : i64, kept = 3 : i64, policy = "blocks", recompute_flops = {{\[}}[72, 0]], recomputed_ops = 2 : i64, step_flops = {{\[}}[560, 0]]}
// BLOCKS: %[[H0:.+]] = lowmem.linear %[[X:.+]], %[[W0:.+]] activation <relu> :
// BLOCKS: %[[B1:.+]] = lowmem.linear %[[H0]], %[[W1:.+]] residual
// BLOCKS: %[[B2:.+]] = lowmem.group_norm %[[B1]]
// BLOCKS: %[[H3:.+]] = lowmem.linear %[[B2]], %[[W2:.+]] activation <relu> :
// BLOCKS: %[[Y:.+]] = lowmem.linear %[[H3]]
// BLOCKS: %[[DY:.+]] = lowmem.mse_loss_grad %[[Y]]
// BLOCKS: %[[R3:.+]] = lowmem.linear %[[B2]], %[[W2]] activation <relu> {lowmem.recompute}
// BLOCKS-NEXT: lowmem.weight_grad %[[DY]], %[[R3]]
// BLOCKS-NEXT: lowmem.relu_grad %{{.+}}, %[[R3]]
// BLOCKS: lowmem.weight_grad %{{.+}}, %[[B2]]
// BLOCKS: lowmem.group_norm_grad %{{.+}}, %[[B1]]
// BLOCKS: %[[R0:.+]] = lowmem.linear %[[X]], %[[W0]] activation <relu> {lowmem.recompute}
// BLOCKS-NEXT: lowmem.weight_grad %{{.+}}, %[[R0]]
// BLOCKS-NEXT: lowmem.relu_grad %{{.+}}, %[[R0]]
// BLOCKS-NOT: %[[H0]]
// BLOCKS-NOT: %[[H3]]
// BLOCKS: return

// sqrt: of 3 boundaries, every ceil(sqrt(3)) = 2nd and the last are kept:
// %2 and the prediction. The first block's output is recomputed too, and
// each SGD step follows the last reader of its weight.
// SQRT: kept = 2 : i64, policy = "sqrt", recompute_flops = {{\[}}[108, 0]], recomputed_ops = 3 : i64
// SQRT: %[[DY:.+]] = lowmem.mse_loss_grad
// SQRT: %[[R3:.+]] = lowmem.linear %{{.+}}, %[[W2:.+]] activation <relu> {lowmem.recompute}
// SQRT-NEXT: %[[G3:.+]] = lowmem.weight_grad %[[DY]], %[[R3]]
// SQRT-NEXT: lowmem.sgd %{{.+}}, %[[G3]],
// SQRT: %[[R0:.+]] = lowmem.linear %[[X:.+]], %[[W0:.+]] activation <relu> {lowmem.recompute}
// SQRT-NEXT: %[[R1:.+]] = lowmem.linear %[[R0]], %{{.+}} residual(%[[X]] : tensor<?x4xf32>) {lowmem.recompute}
// SQRT-NEXT: lowmem.group_norm_grad %{{.+}}, %[[R1]]
// SQRT: %[[G0:.+]] = lowmem.weight_grad %{{.+}}, %[[X]]
// SQRT-NEXT: lowmem.sgd %[[W0]], %[[G0]]
// SQRT-NEXT: return

// budget: the least recomputation whose estimated activation peak at 1000
// rows fits.
// ROOMY: policy = "budget (none)", recompute_flops = []
// TIGHT: policy = "budget (blocks)", recompute_flops = {{\[}}[72, 0]]
// TIGHTER: policy = "budget (one boundary in 2)", recompute_flops = {{\[}}[108, 0]]

// CSE does not merge the recomputation with the forward.
// CSE-COUNT-2: lowmem.recompute

func.func @forward(%x: tensor<?x4xf32> {lowmem.input = "x"},
    %w0: tensor<4x4xf32> {lowmem.param = "b0.l0.weight", lowmem.trainable},
    %w1: tensor<4x4xf32> {lowmem.param = "b0.l1.weight", lowmem.trainable},
    %g: tensor<4xf32> {lowmem.param = "n.weight"},
    %be: tensor<4xf32> {lowmem.param = "n.bias"},
    %w2: tensor<4x4xf32> {lowmem.param = "b1.l0.weight", lowmem.trainable},
    %w3: tensor<4x4xf32> {lowmem.param = "b1.l1.weight", lowmem.trainable}) -> tensor<?x4xf32> {
  %0 = lowmem.linear %x, %w0 activation <relu> : tensor<?x4xf32>, tensor<4x4xf32> -> tensor<?x4xf32>
  %1 = lowmem.linear %0, %w1 residual(%x : tensor<?x4xf32>) : tensor<?x4xf32>, tensor<4x4xf32> -> tensor<?x4xf32>
  %2 = lowmem.group_norm %1, %g, %be {epsilon = 1.0e-05 : f64, num_groups = 1 : i64} : tensor<?x4xf32>, tensor<4xf32>, tensor<4xf32> -> tensor<?x4xf32>
  %3 = lowmem.linear %2, %w2 activation <relu> : tensor<?x4xf32>, tensor<4x4xf32> -> tensor<?x4xf32>
  %4 = lowmem.linear %3, %w3 residual(%2 : tensor<?x4xf32>) : tensor<?x4xf32>, tensor<4x4xf32> -> tensor<?x4xf32>
  return %4 : tensor<?x4xf32>
}
