// RUN: not lowmem-opt %s --lowmem-differentiate=optimizer=none --lowmem-checkpoint=policy=everything 2>&1 | FileCheck %s --check-prefix=POLICY
// RUN: not lowmem-opt %s --lowmem-differentiate=optimizer=none --lowmem-checkpoint=policy=budget 2>&1 | FileCheck %s --check-prefix=NOBUDGET
// RUN: not lowmem-opt %s --lowmem-differentiate=optimizer=none --lowmem-checkpoint="policy=budget budget=47999 batch=1000" 2>&1 | FileCheck %s --check-prefix=SMALL
// RUN: lowmem-opt %s --lowmem-checkpoint=policy=blocks | FileCheck %s --check-prefix=FORWARD

// POLICY: error: unknown checkpoint policy 'everything'; expected none, blocks, sqrt or budget
// NOBUDGET: error: checkpoint policy budget needs a positive budget (in bytes) and batch, got budget=0 batch=1
// SMALL: checkpoint-invalid.mlir:[[@LINE+6]]:1: error: checkpoint budget of 47999 bytes at batch 1000 cannot be met: the smallest activation peak is 48000 bytes (blocks)

// A function without a loss is not a training step: left alone.
// FORWARD-NOT: lowmem.checkpoint
// FORWARD-NOT: lowmem.recompute

func.func @forward(%x: tensor<?x4xf32> {lowmem.input = "x"},
    %w0: tensor<4x4xf32> {lowmem.param = "b0.l0.weight", lowmem.trainable},
    %w1: tensor<4x4xf32> {lowmem.param = "b0.l1.weight", lowmem.trainable}) -> tensor<?x4xf32> {
  %0 = lowmem.linear %x, %w0 activation <relu> : tensor<?x4xf32>, tensor<4x4xf32> -> tensor<?x4xf32>
  %1 = lowmem.linear %0, %w1 residual(%x : tensor<?x4xf32>) : tensor<?x4xf32>, tensor<4x4xf32> -> tensor<?x4xf32>
  %2 = lowmem.relu %1 : tensor<?x4xf32>
  return %2 : tensor<?x4xf32>
}
