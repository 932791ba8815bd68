// RUN: lowmem-opt %s --lowmem-differentiate=optimizer=none | FileCheck %s
// RUN: lowmem-opt %s --lowmem-differentiate=optimizer=adamw | FileCheck %s --check-prefix=ADAMW

// LoRA dropout when training: each branch's input goes through a
// lowmem.dropout whose mask comes from the step number in the hyper tensor
// (added even without an optimizer) and a stream of its own; the backward
// applies the same dropout (same stream) to the gradient reaching the input,
// and dA reads the dropped-out input.

// CHECK-LABEL: func.func @train_step(
// CHECK-SAME: %[[X:[a-z0-9]+]]: tensor<?x4xf32> {lowmem.input = "x"}
// CHECK-SAME: %[[H:[a-z0-9]+]]: tensor<4xf32> {lowmem.hyper})
// CHECK: %[[D0:.+]] = lowmem.dropout %[[X]], %[[H]] {probability = 1.000000e-01 : f64, stream = 0 : i64} : tensor<?x4xf32>
// CHECK: %[[L0:.+]] = lowmem.lora %[[D0]], %{{.+}}, %{{.+}} {alpha = 4.000000e+00 : f64} :
// CHECK: %[[D1:.+]] = lowmem.dropout %{{.+}}, %[[H]] {probability = 2.000000e-01 : f64, stream = 1 : i64}
// CHECK: lowmem.lora %[[D1]]
// CHECK: lowmem.mse_loss_grad
// CHECK: lowmem.dropout %{{.+}}, %[[H]] {probability = 2.000000e-01 : f64, stream = 1 : i64}
// CHECK: lowmem.weight_grad %{{.+}}, %[[D0]]
// CHECK-NOT: lowmem.dropout
// CHECK: return

// ADAMW-LABEL: func.func @train_step(
// ADAMW-COUNT-1: {lowmem.hyper}
// ADAMW: lowmem.dropout
func.func @forward(%x: tensor<?x4xf32> {lowmem.input = "x"},
                   %a: tensor<2x4xf32> {lowmem.param = "l0.lora_A.weight", lowmem.trainable},
                   %b: tensor<4x2xf32> {lowmem.param = "l0.lora_B.weight", lowmem.trainable},
                   %c: tensor<2x4xf32> {lowmem.param = "l1.lora_A.weight", lowmem.trainable},
                   %d: tensor<4x2xf32> {lowmem.param = "l1.lora_B.weight", lowmem.trainable}) -> tensor<?x4xf32> {
  %0 = lowmem.lora %x, %a, %b {alpha = 4.0 : f64, dropout = 0.1 : f64} : tensor<?x4xf32>, tensor<2x4xf32>, tensor<4x2xf32> -> tensor<?x4xf32>
  %1 = lowmem.relu %0 : tensor<?x4xf32>
  %2 = lowmem.lora %1, %c, %d {alpha = 4.0 : f64, dropout = 0.2 : f64} : tensor<?x4xf32>, tensor<2x4xf32>, tensor<4x2xf32> -> tensor<?x4xf32>
  return %2 : tensor<?x4xf32>
}
