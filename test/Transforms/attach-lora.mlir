// RUN: lowmem-opt %s -split-input-file --lowmem-attach-lora="rank=4 alpha=16" | FileCheck %s
// RUN: lowmem-opt %s -split-input-file --lowmem-attach-lora="rank=2 alpha=2 rslora dropout=0.1 targets=enc.,dec.1" | FileCheck %s --check-prefix=TARGETS

// Invalid options and targets are reported by the pass.
// RUN: not lowmem-opt %s -split-input-file --lowmem-attach-lora="rank=0" 2>&1 | FileCheck %s --check-prefix=ERR-RANK
// RUN: not lowmem-opt %s -split-input-file --lowmem-attach-lora="alpha=-1" 2>&1 | FileCheck %s --check-prefix=ERR-ALPHA
// RUN: not lowmem-opt %s -split-input-file --lowmem-attach-lora="dropout=1" 2>&1 | FileCheck %s --check-prefix=ERR-DROPOUT
// RUN: not lowmem-opt %s -split-input-file --lowmem-attach-lora="targets=dec.7" 2>&1 | FileCheck %s --check-prefix=ERR-TARGET
// ERR-RANK: error: attach-lora: rank must be positive, got 0
// ERR-ALPHA: error: attach-lora: alpha must be positive, got -1
// ERR-DROPOUT: error: attach-lora: dropout must be in [0, 1), got 1
// ERR-TARGET: error: attach-lora: target 'dec.7' names no linear layer with a parameter weight

// Every linear layer gets two trainable arguments with PEFT's names (A is
// [r, in], B is [out, r]) and the branch is added before the activation and
// the residual of a fused epilogue: act(x W^T + b + lora) + residual. The
// base weights stay frozen. A layer whose weight is not a parameter (a
// constant) is left alone.

// CHECK-LABEL: func.func @mlp
// CHECK-SAME: ([[X:%[^:]+]]: tensor<?x8xf32> {lowmem.input = "x"},
// CHECK-SAME: [[W0:%[^:]+]]: tensor<16x8xf32> {lowmem.param = "enc.0.weight"},
// CHECK-SAME: [[B0:%[^:]+]]: tensor<16xf32> {lowmem.param = "enc.0.bias"},
// CHECK-SAME: [[W1:%[^:]+]]: !lowmem.qtensor<8x16xf32, nf4, block = 64> {lowmem.param = "dec.1.weight"},
// CHECK-SAME: [[A0:%[^:]+]]: tensor<4x8xf32> {lowmem.param = "enc.0.lora_A.weight", lowmem.trainable},
// CHECK-SAME: [[BB0:%[^:]+]]: tensor<16x4xf32> {lowmem.param = "enc.0.lora_B.weight", lowmem.trainable},
// CHECK-SAME: [[A1:%[^:]+]]: tensor<4x16xf32> {lowmem.param = "dec.1.lora_A.weight", lowmem.trainable},
// CHECK-SAME: [[BB1:%[^:]+]]: tensor<8x4xf32> {lowmem.param = "dec.1.lora_B.weight", lowmem.trainable})
// CHECK: [[L0:%.+]] = lowmem.lora [[X]], [[A0]], [[BB0]] {alpha = 1.600000e+01 : f64}
// CHECK: [[Y0:%.+]] = lowmem.linear [[X]], [[W0]] bias([[B0]] : tensor<16xf32>) :
// CHECK: [[S0:%.+]] = lowmem.add [[Y0]], [[L0]]
// CHECK: [[H:%.+]] = lowmem.relu [[S0]]
// CHECK: [[L1:%.+]] = lowmem.lora [[H]], [[A1]], [[BB1]]
// CHECK: [[Y1:%.+]] = lowmem.qlinear [[H]], [[W1]] : tensor<?x16xf32>, <8x16xf32, nf4, block = 64> -> tensor<?x8xf32>
// CHECK: [[S1:%.+]] = lowmem.add [[Y1]], [[L1]]
// CHECK: [[R:%.+]] = lowmem.add [[S1]], [[X]]
// CHECK: [[C:%.+]] = lowmem.linear [[R]], %{{.+}} :
// CHECK-NOT: lowmem.lora
// CHECK: return [[C]]

// With targets: only the listed layers (prefixes ending in '.', exact
// names), rslora scaling and dropout recorded on the op.
// TARGETS-LABEL: func.func @mlp
// TARGETS-SAME: {lowmem.param = "enc.0.lora_A.weight", lowmem.trainable}
// TARGETS-SAME: {lowmem.param = "dec.1.lora_B.weight", lowmem.trainable})
// TARGETS: lowmem.lora %{{.+}} {alpha = 2.000000e+00 : f64, dropout = 1.000000e-01 : f64, scaling = #lowmem.lora_scaling<rslora>} : tensor<?x8xf32>, tensor<2x8xf32>, tensor<16x2xf32>
// TARGETS: lowmem.lora %{{.+}} : tensor<?x16xf32>, tensor<2x16xf32>, tensor<8x2xf32>
func.func @mlp(%x: tensor<?x8xf32> {lowmem.input = "x"},
               %w0: tensor<16x8xf32> {lowmem.param = "enc.0.weight"},
               %b0: tensor<16xf32> {lowmem.param = "enc.0.bias"},
               %w1: !lowmem.qtensor<8x16xf32, nf4, block = 64> {lowmem.param = "dec.1.weight"})
    -> tensor<?x8xf32> {
  %h = lowmem.linear %x, %w0 bias(%b0 : tensor<16xf32>) activation <relu>
      : tensor<?x8xf32>, tensor<16x8xf32> -> tensor<?x16xf32>
  %y = lowmem.qlinear %h, %w1 residual(%x : tensor<?x8xf32>)
      : tensor<?x16xf32>, !lowmem.qtensor<8x16xf32, nf4, block = 64> -> tensor<?x8xf32>
  %c = arith.constant dense<1.0> : tensor<8x8xf32>
  %z = lowmem.linear %y, %c : tensor<?x8xf32>, tensor<8x8xf32> -> tensor<?x8xf32>
  return %z : tensor<?x8xf32>
}
