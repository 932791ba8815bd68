// The gradient and loss ops lowered to linalg and run in MLIR's JIT, on
// values worked out by hand.
//
// RUN: lowmem-opt %s --convert-lowmem-to-linalg %lower-tensors-to-llvm | %mlir-runner | FileCheck %s
// RUN: lowmem-opt %s --convert-lowmem-to-linalg %emulate-cuda-to-llvm | %mlir-runner | FileCheck %s

func.func private @printMemrefF32(tensor<*xf32>)

func.func @print(%t: tensor<*xf32>) {
  call @printMemrefF32(%t) : (tensor<*xf32>) -> ()
  return
}

func.func @main() {
  // weight_grad: dyᵀ · x summed over the batch, scaled.
  // dy = [[1, 2], [3, 4]], x = [[1, 0, 2], [0, 1, 1]]:
  // dyᵀ · x = [[1, 3, 5], [2, 4, 8]].
  %dy = arith.constant dense<[[1.0, 2.0], [3.0, 4.0]]> : tensor<2x2xf32>
  %x = arith.constant dense<[[1.0, 0.0, 2.0], [0.0, 1.0, 1.0]]> : tensor<2x3xf32>
  %dw = lowmem.weight_grad %dy, %x : tensor<2x2xf32>, tensor<2x3xf32> -> tensor<2x3xf32>
  %dw_u = tensor.cast %dw : tensor<2x3xf32> to tensor<*xf32>
  call @print(%dw_u) : (tensor<*xf32>) -> ()
  // CHECK: sizes = [2, 3]
  // CHECK-NEXT: [1, 3, 5]
  // CHECK-NEXT: [2, 4, 8]

  // Every leading dimension is summed: the same rows as [1, 2, ·], dynamic
  // batch, scale 0.5.
  %dy3 = tensor.expand_shape %dy [[0, 1], [2]] output_shape [1, 2, 2] : tensor<2x2xf32> into tensor<1x2x2xf32>
  %x3 = tensor.expand_shape %x [[0, 1], [2]] output_shape [1, 2, 3] : tensor<2x3xf32> into tensor<1x2x3xf32>
  %dy3d = tensor.cast %dy3 : tensor<1x2x2xf32> to tensor<?x?x2xf32>
  %x3d = tensor.cast %x3 : tensor<1x2x3xf32> to tensor<?x?x3xf32>
  %dw3 = lowmem.weight_grad %dy3d, %x3d {scale = 5.000000e-01 : f64} : tensor<?x?x2xf32>, tensor<?x?x3xf32> -> tensor<2x3xf32>
  %dw3_u = tensor.cast %dw3 : tensor<2x3xf32> to tensor<*xf32>
  call @print(%dw3_u) : (tensor<*xf32>) -> ()
  // CHECK: sizes = [2, 3]
  // CHECK-NEXT: [0.5, 1.5, 2.5]
  // CHECK-NEXT: [1, 2, 4]

  // relu_grad: dy where the ReLU's output is positive, 0 at 0.
  %g = arith.constant dense<[1.0, 2.0, 3.0, 4.0]> : tensor<4xf32>
  %y = arith.constant dense<[0.5, 0.0, 0.0, 2.0]> : tensor<4xf32>
  %dr = lowmem.relu_grad %g, %y : tensor<4xf32>
  %dr_u = tensor.cast %dr : tensor<4xf32> to tensor<*xf32>
  call @print(%dr_u) : (tensor<*xf32>) -> ()
  // CHECK: sizes = [4]
  // CHECK-NEXT: [1, 0, 0, 4]

  // mse_loss: differences [1, 0, 0, 2], mean of squares 5 / 4; its gradient
  // 2 · d / 4.
  %p = arith.constant dense<[[1.0, 2.0], [3.0, 4.0]]> : tensor<2x2xf32>
  %t = arith.constant dense<[[0.0, 2.0], [3.0, 2.0]]> : tensor<2x2xf32>
  %pd = tensor.cast %p : tensor<2x2xf32> to tensor<?x2xf32>
  %td = tensor.cast %t : tensor<2x2xf32> to tensor<?x2xf32>
  %l = lowmem.mse_loss %pd, %td : tensor<?x2xf32> -> tensor<f32>
  %l_u = tensor.cast %l : tensor<f32> to tensor<*xf32>
  call @print(%l_u) : (tensor<*xf32>) -> ()
  // CHECK: rank = 0
  // CHECK-NEXT: [1.25]
  %dl = lowmem.mse_loss_grad %pd, %td : tensor<?x2xf32>
  %dl_u = tensor.cast %dl : tensor<?x2xf32> to tensor<*xf32>
  call @print(%dl_u) : (tensor<*xf32>) -> ()
  // CHECK: sizes = [2, 2]
  // CHECK-NEXT: [0.5, 0]
  // CHECK-NEXT: [0, 1]

  // The mean over an empty batch is 0, not NaN.
  %e = tensor.empty() : tensor<0x2xf32>
  %ed = tensor.cast %e : tensor<0x2xf32> to tensor<?x2xf32>
  %le = lowmem.mse_loss %ed, %ed : tensor<?x2xf32> -> tensor<f32>
  %le_u = tensor.cast %le : tensor<f32> to tensor<*xf32>
  call @print(%le_u) : (tensor<*xf32>) -> ()
  // CHECK: rank = 0
  // CHECK-NEXT: [0]
  return
}
