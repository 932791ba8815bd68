// convert-lowmem-to-cpu on shapes its vector runs do not take: k = 12 and
// n = 10 (not multiples of 8), so every panel is decoded one weight at a
// time, and its lanes past n are masked; 6 rows (a tile of 4 and 2 rows
// alone); a rank-3 input; bias, relu and residual; then a transposed
// product (x · W, W of shape [10, 12]) of that result. In each format the
// CPU loops print what the generic lowering (convert-lowmem-to-linalg
// alone) prints for the same weights, to 1e-5 of the largest value (the
// sums run in another order); f32 is checked against the values (exact:
// small integers and halves, in any order).
//
// RUN: lowmem-opt %s --lowmem-materialize-storage --convert-lowmem-to-cpu="panel-depth=8" --convert-lowmem-to-linalg %lower-tensors-to-llvm | %mlir-runner | FileCheck %s
// RUN: lowmem-opt %s --lowmem-materialize-storage --convert-lowmem-to-cpu --convert-lowmem-to-linalg %lower-tensors-to-llvm | %mlir-runner | FileCheck %s
//
// RUN: rm -rf %t && mkdir -p %t
// RUN: lowmem-opt %s --lowmem-quantize-weights="format=int8" --lowmem-materialize-storage --convert-lowmem-to-linalg %lower-tensors-to-llvm | %mlir-runner > %t/int8.generic
// RUN: lowmem-opt %s --lowmem-quantize-weights="format=int8" --lowmem-materialize-storage --convert-lowmem-to-cpu="panel-depth=8" --convert-lowmem-to-linalg %lower-tensors-to-llvm | %mlir-runner > %t/int8.cpu
// RUN: %python %S/Inputs/close_prints.py %t/int8.generic %t/int8.cpu
// RUN: lowmem-opt %s --lowmem-quantize-weights="format=f16" --lowmem-materialize-storage --convert-lowmem-to-linalg %lower-tensors-to-llvm | %mlir-runner > %t/f16.generic
// RUN: lowmem-opt %s --lowmem-quantize-weights="format=f16" --lowmem-materialize-storage --convert-lowmem-to-cpu="panel-depth=8" --convert-lowmem-to-linalg %lower-tensors-to-llvm | %mlir-runner > %t/f16.cpu
// RUN: %python %S/Inputs/close_prints.py %t/f16.generic %t/f16.cpu
// RUN: lowmem-opt %s --lowmem-quantize-weights="format=bf16" --lowmem-materialize-storage --convert-lowmem-to-linalg %lower-tensors-to-llvm | %mlir-runner > %t/bf16.generic
// RUN: lowmem-opt %s --lowmem-quantize-weights="format=bf16" --lowmem-materialize-storage --convert-lowmem-to-cpu="panel-depth=8" --convert-lowmem-to-linalg %lower-tensors-to-llvm | %mlir-runner > %t/bf16.cpu
// RUN: %python %S/Inputs/close_prints.py %t/bf16.generic %t/bf16.cpu
// RUN: lowmem-opt %s --lowmem-quantize-weights="format=nf4 block-size=32" --lowmem-materialize-storage --convert-lowmem-to-linalg %lower-tensors-to-llvm | %mlir-runner > %t/nf4.generic
// RUN: lowmem-opt %s --lowmem-quantize-weights="format=nf4 block-size=32" --lowmem-materialize-storage --convert-lowmem-to-cpu="panel-depth=8" --convert-lowmem-to-linalg %lower-tensors-to-llvm | %mlir-runner > %t/nf4.cpu
// RUN: %python %S/Inputs/close_prints.py %t/nf4.generic %t/nf4.cpu
// RUN: lowmem-opt %s --lowmem-quantize-weights="format=int4 block-size=32" --lowmem-materialize-storage --convert-lowmem-to-linalg %lower-tensors-to-llvm | %mlir-runner > %t/int4.generic
// RUN: lowmem-opt %s --lowmem-quantize-weights="format=int4 block-size=32" --lowmem-materialize-storage --convert-lowmem-to-cpu="panel-depth=8" --convert-lowmem-to-linalg %lower-tensors-to-llvm | %mlir-runner > %t/int4.cpu
// RUN: %python %S/Inputs/close_prints.py %t/int4.generic %t/int4.cpu
// RUN: lowmem-opt %s --lowmem-quantize-weights="format=fp4 block-size=32 double-quant" --lowmem-materialize-storage --convert-lowmem-to-linalg %lower-tensors-to-llvm | %mlir-runner > %t/fp4dq.generic
// RUN: lowmem-opt %s --lowmem-quantize-weights="format=fp4 block-size=32 double-quant" --lowmem-materialize-storage --convert-lowmem-to-cpu="panel-depth=8" --convert-lowmem-to-linalg %lower-tensors-to-llvm | %mlir-runner > %t/fp4dq.cpu
// RUN: %python %S/Inputs/close_prints.py %t/fp4dq.generic %t/fp4dq.cpu
//
// CHECK: sizes = [2, 3, 10]
// CHECK: [15.5, 7.5, 1, -4.5, 10, 1, 9, 1, 1, 0]
// CHECK-NEXT: [17, 23, 4, -7, 9, 7, 19, -4, -1, -1]
// CHECK-NEXT: [-2.5, 6.5, 5.5, -2, 5, -6, 7, -3, -3, 23.5]
// CHECK-NEXT: [0, 8, -6, 0, -0.5, -1, -9, 3, -3, 21]
// CHECK-NEXT: [9, -2, -9, 6.5, 1, -2, 25.5, 7, 9, 14]
// CHECK-NEXT: [11, 7.5, -6, 4, 13, 12, -2, -3.5, 4, -9]
// CHECK: sizes = [2, 3, 12]
// CHECK: [9, -18.125, -0.125, -22, 19.5, -19, -13.25, -16.875, -2.75, 6.125, -4.125, -7.5]
// CHECK-NEXT: [7, -6.5, 12, -23.75, 31, -30.5, -8.5, -19.5, -15.5, 23.25, -4.25, -0.5]
// CHECK-NEXT: [-0.375, -7.5, -14.5, -26.375, 11.25, -22.125, 5.625, 7.5, -29.375, 20.5, -22.375, -10.25]
// CHECK-NEXT: [-7.25, -4.25, -11.5, -18.75, -13, -12, 16, 5.75, 3.5, -3.875, -33.375, 13]
// CHECK-NEXT: [4.125, -22.875, -3.125, -18.125, 13.875, -28.75, -4.375, 3, 12.875, -12.75, -1, -14.375]
// CHECK-NEXT: [14.625, -18.625, -0.125, -18.875, 7.875, -5.875, 8, -5.125, 5.5, -4.375, 14.75, 6.625]

func.func private @printMemrefF32(tensor<*xf32>)

func.func @main() {
  %x = arith.constant dense<[[[1.0, 2.0, -3.0, 2.0, 0.0, 0.0, 1.0, -1.0, 3.0, -3.0, -2.0, -1.0],
  [0.0, -1.0, -3.0, -3.0, -3.0, -3.0, -2.0, 3.0, -2.0, 1.0, 2.0, -2.0],
  [-2.0, 0.0, -2.0, 3.0, -2.0, 3.0, 2.0, 2.0, -3.0, -1.0, 1.0, 0.0]],

 [[1.0, 1.0, 1.0, -3.0, 3.0, 0.0, 3.0, -2.0, -1.0, 3.0, -2.0, -3.0],
  [-1.0, 1.0, -3.0, 3.0, -1.0, -2.0, 0.0, 3.0, 3.0, 3.0, -1.0, -3.0],
  [2.0, 1.0, 2.0, -3.0, -3.0, 0.0, -1.0, 0.0, 3.0, -2.0, 0.0, -1.0]]]> : tensor<2x3x12xf32>
  %w = arith.constant dense<[[-1.0, 1.5, -1.5, -1.0, -1.5, -1.5, -1.0, 1.0, 0.5, 0.0, -1.5, 1.5],
 [1.5, -1.0, -2.0, -1.0, -1.5, 1.5, 0.0, 0.0, -1.0, 0.0, 2.0, -1.0],
 [1.0, -2.0, -1.0, 2.0, 1.5, -2.0, 1.5, 1.5, 0.0, -0.5, 2.0, 2.0],
 [1.0, -0.5, -1.5, 2.0, -1.0, 0.5, 1.0, -1.0, -1.0, 1.0, -1.5, 1.0],
 [2.0, 1.0, 0.5, 0.0, 2.0, -1.5, -0.5, 0.5, 0.5, -2.0, -1.5, 1.0],
 [1.5, 0.5, 2.0, -0.5, -1.0, 1.5, -2.0, -1.5, -1.5, -0.5, -1.5, 1.5],
 [1.5, -0.5, -2.0, 1.0, -2.0, 0.5, -1.5, 2.0, 1.0, 2.0, 0.5, 1.0],
 [-0.5, 1.5, -1.5, -1.5, -0.5, 1.0, 0.0, 1.5, 2.0, -0.5, -0.5, 0.0],
 [0.5, 0.0, 0.5, 2.0, 1.0, -1.0, -0.5, -0.5, -1.5, -2.0, 1.5, -0.5],
 [-0.5, 0.5, 0.5, 2.0, 0.5, 2.0, 0.5, -1.0, -1.0, 2.0, 0.5, -1.5]]> : tensor<10x12xf32>
  %b = arith.constant dense<[4.0, 4.0, -5.0, -4.0, 2.0, -1.0, -2.0, -5.0, -3.0, 4.0]> : tensor<10xf32>
  %r = arith.constant dense<[[[6.0, 6.0, 1.0, -7.0, -3.0, 1.0, 9.0, -5.0, 1.0, 0.0],
  [0.0, 1.0, 4.0, -7.0, 9.0, 7.0, 5.0, -4.0, -1.0, -1.0],
  [-4.0, -8.0, 5.0, -9.0, 5.0, -6.0, 3.0, -3.0, -5.0, 8.0]],

 [[0.0, 7.0, -6.0, 0.0, -3.0, -1.0, -9.0, 3.0, -3.0, 7.0],
  [-5.0, -3.0, -9.0, 6.0, 1.0, -2.0, 8.0, 2.0, 9.0, 5.0],
  [2.0, 0.0, -6.0, 4.0, 6.0, 4.0, -2.0, -9.0, 4.0, -9.0]]]> : tensor<2x3x10xf32>
  %wt = arith.constant dense<[[0.75, -0.75, -0.5, -0.75, 0.0, -0.75, -0.5, -1.0, 1.0, -0.75, -0.75, 0.25],
 [-0.75, 0.75, 0.75, -0.25, -0.25, -0.25, 0.5, -0.25, -0.5, 0.5, -0.75, 0.75],
 [-0.25, 1.0, -0.5, -0.25, 0.75, 0.5, -1.0, -0.25, -1.0, 0.75, -0.25, -0.5],
 [0.5, 0.75, -1.0, 0.0, -0.25, 0.5, 1.0, 0.0, 0.5, -0.5, 0.25, 0.0],
 [0.5, -1.0, -0.5, -1.0, 1.0, 0.0, 0.0, 0.0, -1.0, 0.75, 0.75, -1.0],
 [0.25, 0.25, -0.25, 0.0, 0.75, 0.25, 0.0, 0.5, 0.5, 0.0, 0.75, 0.25],
 [0.25, 0.0, 0.25, 0.25, 1.0, -0.5, -0.25, 0.0, -0.25, 0.5, 0.75, -0.75],
 [-1.0, 1.0, 0.0, 0.5, 0.5, 1.0, -1.0, -0.5, 1.0, -0.25, -0.25, -0.5],
 [-1.0, -1.0, 1.0, -1.0, -0.75, -0.5, -0.5, 0.75, -0.5, -0.75, -0.25, 0.5],
 [0.0, -0.5, -0.75, -1.0, 0.0, -0.75, 0.25, 0.5, -0.25, 0.0, -1.0, 0.0]]> : tensor<10x12xf32>
  %y = lowmem.linear %x, %w bias(%b : tensor<10xf32>) residual(%r : tensor<2x3x10xf32>) activation <relu>
      : tensor<2x3x12xf32>, tensor<10x12xf32> -> tensor<2x3x10xf32>
  %z = lowmem.linear %y, %wt transposed
      : tensor<2x3x10xf32>, tensor<10x12xf32> -> tensor<2x3x12xf32>
  %u = tensor.cast %y : tensor<2x3x10xf32> to tensor<*xf32>
  call @printMemrefF32(%u) : (tensor<*xf32>) -> ()
  %v = tensor.cast %z : tensor<2x3x12xf32> to tensor<*xf32>
  call @printMemrefF32(%v) : (tensor<*xf32>) -> ()
  return
}
