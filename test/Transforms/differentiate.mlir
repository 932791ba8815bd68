// RUN: lowmem-opt %s --lowmem-differentiate=optimizer=none | FileCheck %s
// RUN: lowmem-opt %s --lowmem-differentiate="optimizer=sgd momentum=0.9 weight-decay=0.01" | FileCheck %s --check-prefix=SGD
// RUN: lowmem-opt %s --lowmem-differentiate=optimizer=sgd | FileCheck %s --check-prefix=PLAIN
// RUN: lowmem-opt %s --lowmem-differentiate="optimizer=adamw beta1=0.8" | FileCheck %s --check-prefix=ADAMW

// Every rule of the reverse sweep on one function: a frozen first layer with
// a fused ReLU (no gradient reaches it: nothing before it is trainable), a
// group norm with a trainable gamma, a trainable full-precision weight with a
// residual, a ReLU, a LoRA branch and an add.

// CHECK-LABEL: func.func @train_step(
// CHECK-SAME: %[[X:[a-z0-9]+]]: tensor<?x6xf32> {lowmem.input = "x"}
// CHECK-SAME: %[[G:[a-z0-9]+]]: tensor<4xf32> {lowmem.param = "n.weight", lowmem.trainable}
// CHECK-SAME: %[[W2:[a-z0-9]+]]: tensor<4x4xf32> {lowmem.param = "l2.weight", lowmem.trainable}
// CHECK-SAME: %[[A:[a-z0-9]+]]: tensor<2x4xf32> {lowmem.param = "l3.lora_A.weight", lowmem.trainable}
// CHECK-SAME: %[[B:[a-z0-9]+]]: tensor<4x2xf32> {lowmem.param = "l3.lora_B.weight", lowmem.trainable}
// CHECK-SAME: %[[T:[a-z0-9]+]]: tensor<?x4xf32> {lowmem.input = "target"})
// CHECK-SAME: -> (tensor<f32> {lowmem.loss}, tensor<4xf32> {lowmem.grad = "n.weight"}, tensor<4x4xf32> {lowmem.grad = "l2.weight"}, tensor<2x4xf32> {lowmem.grad = "l3.lora_A.weight"}, tensor<4x2xf32> {lowmem.grad = "l3.lora_B.weight"})
// CHECK: %[[H0:.+]] = lowmem.linear %[[X]]
// CHECK: %[[H1:.+]] = lowmem.group_norm %[[H0]], %[[G]]
// CHECK: %[[H3:.+]] = lowmem.relu
// CHECK: %[[Y:.+]] = lowmem.add
// CHECK: %[[LOSS:.+]] = lowmem.mse_loss %[[Y]], %[[T]]
// CHECK: %[[DY:.+]] = lowmem.mse_loss_grad %[[Y]], %[[T]]
// The LoRA backward: u = x Aᵀ recomputed, dB = s dyᵀ u, t = dy B,
// dA = s tᵀ x, dx = s t A.
// CHECK: %[[U:.+]] = lowmem.linear %[[H3]], %[[A]] : tensor<?x4xf32>, tensor<2x4xf32> -> tensor<?x2xf32>
// CHECK: %[[DB:.+]] = lowmem.weight_grad %[[DY]], %[[U]] {scale = 2.000000e+00 : f64}
// CHECK: %[[TB:.+]] = lowmem.linear %[[DY]], %[[B]] transposed : tensor<?x4xf32>, tensor<4x2xf32> -> tensor<?x2xf32>
// CHECK: %[[DA:.+]] = lowmem.weight_grad %[[TB]], %[[H3]] {scale = 2.000000e+00 : f64}
// CHECK: %[[TA:.+]] = lowmem.linear %[[TB]], %[[A]] transposed
// CHECK: %[[DXL:.+]] = lowmem.scale %[[TA]] {factor = 2.000000e+00 : f64}
// CHECK: %[[DH3:.+]] = lowmem.add %[[DY]], %[[DXL]]
// CHECK: %[[DZ:.+]] = lowmem.relu_grad %[[DH3]], %[[H3]]
// The input gradient reads the same weight, transposed; the residual adds
// the output gradient.
// CHECK: %[[DX2:.+]] = lowmem.linear %[[DZ]], %[[W2]] transposed
// CHECK: %[[DH1:.+]] = lowmem.add %[[DZ]], %[[DX2]]
// CHECK: %[[DW2:.+]] = lowmem.weight_grad %[[DZ]], %[[H1]] :
// CHECK: %{{.+}}, %[[DG:.+]], %{{.+}} = lowmem.group_norm_grad %[[DH1]], %[[H0]], %[[G]]
// CHECK-NOT: lowmem.linear
// CHECK: return %[[LOSS]], %[[DG]], %[[DW2]], %[[DA]], %[[DB]]

// SGD with momentum: one buffer a parameter, the hyperparameters, updates
// returned in order.
// SGD-LABEL: func.func @train_step(
// SGD-SAME: %{{.+}}: tensor<4xf32> {lowmem.state = "n.weight.momentum_buffer"}
// SGD-SAME: %{{.+}}: tensor<4x2xf32> {lowmem.state = "l3.lora_B.weight.momentum_buffer"}
// SGD-SAME: %[[H:[a-z0-9]+]]: tensor<4xf32> {lowmem.hyper})
// SGD-SAME: -> (tensor<f32> {lowmem.loss}, tensor<4xf32> {lowmem.update = "n.weight"}, tensor<4xf32> {lowmem.update = "n.weight.momentum_buffer"},
// SGD: lowmem.sgd %{{.+}}, %{{.+}}, %[[H]], %{{.+}} momentum_buffer(%{{.+}} : tensor<4xf32>) {momentum = 9.000000e-01 : f64, weight_decay = 1.000000e-02 : f64}

// PLAIN-LABEL: func.func @train_step(
// PLAIN-NOT: lowmem.state
// PLAIN: lowmem.sgd %{{.+}}, %{{.+}}, %{{.+}}, %{{[a-z0-9]+}} : tensor<4xf32>{{$}}
// PLAIN-NOT: momentum_buffer

// ADAMW-LABEL: func.func @train_step(
// ADAMW-SAME: {lowmem.state = "n.weight.exp_avg"}
// ADAMW-SAME: {lowmem.state = "n.weight.exp_avg_sq"}
// ADAMW-SAME: {lowmem.hyper}
// Each step follows the last reader of its parameter: lora_B's once its
// gradient and the t = dy B product are done, long before the end.
// ADAMW: %[[LOSS:.+]] = lowmem.mse_loss
// ADAMW: %[[DB:.+]] = lowmem.weight_grad
// ADAMW-NEXT: lowmem.linear %{{.+}}, %[[B:[a-z0-9]+]] transposed
// ADAMW-NEXT: lowmem.adamw %[[B]], %[[DB]], %{{.+}}, %{{.+}}, %{{.+}}, %[[LOSS]] {beta1 = 8.000000e-01 : f64, weight_decay = 0.000000e+00 : f64} : tensor<4x2xf32>
// ADAMW-COUNT-2: lowmem.adamw
// ADAMW: %{{.+}}, %[[DG:.+]], %{{.+}} = lowmem.group_norm_grad
// ADAMW-NEXT: lowmem.adamw %{{.+}}, %[[DG]], {{.+}} : tensor<4xf32>
// ADAMW-NEXT: return %[[LOSS]],
func.func @forward(%x: tensor<?x6xf32> {lowmem.input = "x"},
    %w1: tensor<4x6xf32> {lowmem.param = "l1.weight"},
    %b1: tensor<4xf32> {lowmem.param = "l1.bias"},
    %g: tensor<4xf32> {lowmem.param = "n.weight", lowmem.trainable},
    %be: tensor<4xf32> {lowmem.param = "n.bias"},
    %w2: tensor<4x4xf32> {lowmem.param = "l2.weight", lowmem.trainable},
    %a: tensor<2x4xf32> {lowmem.param = "l3.lora_A.weight", lowmem.trainable},
    %b: tensor<4x2xf32> {lowmem.param = "l3.lora_B.weight", lowmem.trainable}) -> tensor<?x4xf32> {
  %0 = lowmem.linear %x, %w1 bias(%b1 : tensor<4xf32>) activation <relu> : tensor<?x6xf32>, tensor<4x6xf32> -> tensor<?x4xf32>
  %1 = lowmem.group_norm %0, %g, %be {epsilon = 1.0e-05 : f64, num_groups = 2 : i64} : tensor<?x4xf32>, tensor<4xf32>, tensor<4xf32> -> tensor<?x4xf32>
  %2 = lowmem.linear %1, %w2 residual(%1 : tensor<?x4xf32>) : tensor<?x4xf32>, tensor<4x4xf32> -> tensor<?x4xf32>
  %3 = lowmem.relu %2 : tensor<?x4xf32>
  %4 = lowmem.lora %3, %a, %b {alpha = 4.0 : f64} : tensor<?x4xf32>, tensor<2x4xf32>, tensor<4x2xf32> -> tensor<?x4xf32>
  %5 = lowmem.add %4, %3 : tensor<?x4xf32>
  return %5 : tensor<?x4xf32>
}
