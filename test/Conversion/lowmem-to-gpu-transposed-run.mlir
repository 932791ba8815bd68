// The transposed product's GPU kernel (convert-lowmem-to-gpu: a linear
// layer's input gradient, dy · W, each thread 4 rows × 8 columns), run on
// the host by lowmem-emulate-launches: 5 rows (a partial tile of rows), 32
// columns (four runs of 8), a rank-3 input, bias and residual, every weight
// format; the weights are values each format holds exactly (one block a row
// of W, each its own scale), so every result is exact. The CPU loops of
// convert-lowmem-to-cpu print the same in every format.
//
// RUN: lowmem-opt %s --lowmem-materialize-storage --convert-lowmem-to-gpu --convert-lowmem-to-linalg %emulate-cuda-to-llvm | %mlir-runner | FileCheck %s
// RUN: lowmem-opt %s --lowmem-quantize-weights="format=nf4 block-size=32" --lowmem-materialize-storage --convert-lowmem-to-gpu --convert-lowmem-to-linalg %emulate-cuda-to-llvm | %mlir-runner | FileCheck %s
// RUN: lowmem-opt %s --lowmem-quantize-weights="format=fp4 block-size=32" --lowmem-materialize-storage --convert-lowmem-to-gpu --convert-lowmem-to-linalg %emulate-cuda-to-llvm | %mlir-runner | FileCheck %s
// RUN: lowmem-opt %s --lowmem-quantize-weights="format=int4 block-size=32" --lowmem-materialize-storage --convert-lowmem-to-gpu --convert-lowmem-to-linalg %emulate-cuda-to-llvm | %mlir-runner | FileCheck %s
// RUN: lowmem-opt %s --lowmem-quantize-weights="format=int8" --lowmem-materialize-storage --convert-lowmem-to-gpu --convert-lowmem-to-linalg %emulate-cuda-to-llvm | %mlir-runner | FileCheck %s
// RUN: lowmem-opt %s --lowmem-quantize-weights="format=f16" --lowmem-materialize-storage --convert-lowmem-to-gpu --convert-lowmem-to-linalg %emulate-cuda-to-llvm | %mlir-runner | FileCheck %s
// RUN: lowmem-opt %s --lowmem-quantize-weights="format=bf16" --lowmem-materialize-storage --convert-lowmem-to-gpu --convert-lowmem-to-linalg %emulate-cuda-to-llvm | %mlir-runner | FileCheck %s
//
// The CPU loops (convert-lowmem-to-cpu): panels of 8 inputs (several
// panels along k) and of 256 (one).
// RUN: lowmem-opt %s --lowmem-materialize-storage --convert-lowmem-to-cpu="panel-depth=8" --convert-lowmem-to-linalg %lower-tensors-to-llvm | %mlir-runner | FileCheck %s
// RUN: lowmem-opt %s --lowmem-quantize-weights="format=nf4 block-size=32" --lowmem-materialize-storage --convert-lowmem-to-cpu="panel-depth=8" --convert-lowmem-to-linalg %lower-tensors-to-llvm | %mlir-runner | FileCheck %s
// RUN: lowmem-opt %s --lowmem-quantize-weights="format=fp4 block-size=32" --lowmem-materialize-storage --convert-lowmem-to-cpu="panel-depth=8" --convert-lowmem-to-linalg %lower-tensors-to-llvm | %mlir-runner | FileCheck %s
// RUN: lowmem-opt %s --lowmem-quantize-weights="format=int4 block-size=32" --lowmem-materialize-storage --convert-lowmem-to-cpu="panel-depth=8" --convert-lowmem-to-linalg %lower-tensors-to-llvm | %mlir-runner | FileCheck %s
// RUN: lowmem-opt %s --lowmem-quantize-weights="format=int8" --lowmem-materialize-storage --convert-lowmem-to-cpu="panel-depth=8" --convert-lowmem-to-linalg %lower-tensors-to-llvm | %mlir-runner | FileCheck %s
// RUN: lowmem-opt %s --lowmem-quantize-weights="format=f16" --lowmem-materialize-storage --convert-lowmem-to-cpu="panel-depth=8" --convert-lowmem-to-linalg %lower-tensors-to-llvm | %mlir-runner | FileCheck %s
// RUN: lowmem-opt %s --lowmem-quantize-weights="format=bf16" --lowmem-materialize-storage --convert-lowmem-to-cpu="panel-depth=8" --convert-lowmem-to-linalg %lower-tensors-to-llvm | %mlir-runner | FileCheck %s
// RUN: lowmem-opt %s --lowmem-materialize-storage --convert-lowmem-to-cpu="panel-depth=256" --convert-lowmem-to-linalg %lower-tensors-to-llvm | %mlir-runner | FileCheck %s
// RUN: lowmem-opt %s --lowmem-quantize-weights="format=nf4 block-size=32" --lowmem-materialize-storage --convert-lowmem-to-cpu="panel-depth=256" --convert-lowmem-to-linalg %lower-tensors-to-llvm | %mlir-runner | FileCheck %s
// RUN: lowmem-opt %s --lowmem-quantize-weights="format=fp4 block-size=32" --lowmem-materialize-storage --convert-lowmem-to-cpu="panel-depth=256" --convert-lowmem-to-linalg %lower-tensors-to-llvm | %mlir-runner | FileCheck %s
// RUN: lowmem-opt %s --lowmem-quantize-weights="format=int4 block-size=32" --lowmem-materialize-storage --convert-lowmem-to-cpu="panel-depth=256" --convert-lowmem-to-linalg %lower-tensors-to-llvm | %mlir-runner | FileCheck %s
// RUN: lowmem-opt %s --lowmem-quantize-weights="format=int8" --lowmem-materialize-storage --convert-lowmem-to-cpu="panel-depth=256" --convert-lowmem-to-linalg %lower-tensors-to-llvm | %mlir-runner | FileCheck %s
// RUN: lowmem-opt %s --lowmem-quantize-weights="format=f16" --lowmem-materialize-storage --convert-lowmem-to-cpu="panel-depth=256" --convert-lowmem-to-linalg %lower-tensors-to-llvm | %mlir-runner | FileCheck %s
// RUN: lowmem-opt %s --lowmem-quantize-weights="format=bf16" --lowmem-materialize-storage --convert-lowmem-to-cpu="panel-depth=256" --convert-lowmem-to-linalg %lower-tensors-to-llvm | %mlir-runner | FileCheck %s
//
// The product is a kernel, not left to linalg.
// RUN: lowmem-opt %s --lowmem-quantize-weights="format=nf4 block-size=32" --lowmem-materialize-storage --convert-lowmem-to-gpu | FileCheck %s --check-prefix=KERNEL
// KERNEL-NOT: lowmem.qlinear
// KERNEL: gpu.launch
// KERNEL-NOT: lowmem.qlinear

func.func private @printMemrefF32(tensor<*xf32>)

func.func @main() {
  %dy = arith.constant dense<[[[0.0, -1.0, -2.0], [1.0, 0.0, -1.0], [2.0, 1.0, 0.0], [3.0, 2.0, 1.0], [4.0, 3.0, 2.0]]]> : tensor<1x5x3xf32>
  %w = arith.constant dense<[[2.0, -2.0, -2.0, 2.0, -2.0, -2.0, 2.0, -2.0, -2.0, 2.0, -2.0, -2.0, 2.0, -2.0, -2.0, 2.0, -2.0, -2.0, 2.0, -2.0, -2.0, 2.0, -2.0, -2.0, 2.0, -2.0, -2.0, 2.0, -2.0, -2.0, 2.0, -2.0], [-1.0, -1.0, 1.0, -1.0, -1.0, 1.0, -1.0, -1.0, 1.0, -1.0, -1.0, 1.0, -1.0, -1.0, 1.0, -1.0, -1.0, 1.0, -1.0, -1.0, 1.0, -1.0, -1.0, 1.0, -1.0, -1.0, 1.0, -1.0, -1.0, 1.0, -1.0, -1.0], [-0.5, 0.5, -0.5, -0.5, 0.5, -0.5, -0.5, 0.5, -0.5, -0.5, 0.5, -0.5, -0.5, 0.5, -0.5, -0.5, 0.5, -0.5, -0.5, 0.5, -0.5, -0.5, 0.5, -0.5, -0.5, 0.5, -0.5, -0.5, 0.5, -0.5, -0.5, 0.5]]> : tensor<3x32xf32>
  %b = arith.constant dense<[0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0, 12.0, 13.0, 14.0, 15.0, 16.0, 17.0, 18.0, 19.0, 20.0, 21.0, 22.0, 23.0, 24.0, 25.0, 26.0, 27.0, 28.0, 29.0, 30.0, 31.0]> : tensor<32xf32>
  %r = arith.constant dense<[[[0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0], [100.0, 100.0, 100.0, 100.0, 100.0, 100.0, 100.0, 100.0, 100.0, 100.0, 100.0, 100.0, 100.0, 100.0, 100.0, 100.0, 100.0, 100.0, 100.0, 100.0, 100.0, 100.0, 100.0, 100.0, 100.0, 100.0, 100.0, 100.0, 100.0, 100.0, 100.0, 100.0], [200.0, 200.0, 200.0, 200.0, 200.0, 200.0, 200.0, 200.0, 200.0, 200.0, 200.0, 200.0, 200.0, 200.0, 200.0, 200.0, 200.0, 200.0, 200.0, 200.0, 200.0, 200.0, 200.0, 200.0, 200.0, 200.0, 200.0, 200.0, 200.0, 200.0, 200.0, 200.0], [300.0, 300.0, 300.0, 300.0, 300.0, 300.0, 300.0, 300.0, 300.0, 300.0, 300.0, 300.0, 300.0, 300.0, 300.0, 300.0, 300.0, 300.0, 300.0, 300.0, 300.0, 300.0, 300.0, 300.0, 300.0, 300.0, 300.0, 300.0, 300.0, 300.0, 300.0, 300.0], [400.0, 400.0, 400.0, 400.0, 400.0, 400.0, 400.0, 400.0, 400.0, 400.0, 400.0, 400.0, 400.0, 400.0, 400.0, 400.0, 400.0, 400.0, 400.0, 400.0, 400.0, 400.0, 400.0, 400.0, 400.0, 400.0, 400.0, 400.0, 400.0, 400.0, 400.0, 400.0]]]> : tensor<1x5x32xf32>
  %dx = lowmem.linear %dy, %w transposed bias(%b : tensor<32xf32>) residual(%r : tensor<1x5x32xf32>)
      : tensor<1x5x3xf32>, tensor<3x32xf32> -> tensor<1x5x32xf32>
  %u = tensor.cast %dx : tensor<1x5x32xf32> to tensor<*xf32>
  call @printMemrefF32(%u) : (tensor<*xf32>) -> ()
  return
}

// CHECK: sizes = [1, 5, 32]
// CHECK: [2, 1, 2, 5, 4, 5, 8, 7, 8, 11, 10, 11, 14, 13, 14, 17, 16, 17, 20, 19, 20, 23, 22, 23, 26, 25, 26, 29, 28, 29, 32, 31]
// CHECK-NEXT: [102.5, 98.5, 100.5, 105.5, 101.5, 103.5, 108.5, 104.5, 106.5, 111.5, 107.5, 109.5, 114.5, 110.5, 112.5, 117.5, 113.5, 115.5, 120.5, 116.5, 118.5, 123.5, 119.5, 121.5, 126.5, 122.5, 124.5, 129.5, 125.5, 127.5, 132.5, 128.5]
// CHECK-NEXT: [203, 196, 199, 206, 199, 202, 209, 202, 205, 212, 205, 208, 215, 208, 211, 218, 211, 214, 221, 214, 217, 224, 217, 220, 227, 220, 223, 230, 223, 226, 233, 226]
// CHECK-NEXT: [303.5, 293.5, 297.5, 306.5, 296.5, 300.5, 309.5, 299.5, 303.5, 312.5, 302.5, 306.5, 315.5, 305.5, 309.5, 318.5, 308.5, 312.5, 321.5, 311.5, 315.5, 324.5, 314.5, 318.5, 327.5, 317.5, 321.5, 330.5, 320.5, 324.5, 333.5, 323.5]
// CHECK-NEXT: [404, 391, 396, 407, 394, 399, 410, 397, 402, 413, 400, 405, 416, 403, 408, 419, 406, 411, 422, 409, 414, 425, 412, 417, 428, 415, 420, 431, 418, 423, 434, 421]
