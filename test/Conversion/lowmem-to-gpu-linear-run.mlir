// The matrix product's GPU kernel (convert-lowmem-to-gpu: one warp an
// output feature, each lane decoding 16-byte runs of its row of W, the warp
// summing by shuffles, lane 0 applying bias, relu and residual), run on the
// host by lowmem-emulate-launches, for every weight format: 3 rows of 64
// inputs (a partial tile of rows), 5 outputs (a partial block of warps);
// the weights are values each format holds exactly (one 64-block a row of
// W, each its own scale), so every result is exact. The first RUN is the
// CPU lowering, which the kernel must match.
//
// RUN: lowmem-opt %s --lowmem-materialize-storage --convert-lowmem-to-linalg %lower-tensors-to-llvm | %mlir-runner | FileCheck %s
// RUN: lowmem-opt %s --lowmem-materialize-storage --convert-lowmem-to-gpu --convert-lowmem-to-linalg %emulate-cuda-to-llvm | %mlir-runner | FileCheck %s
// RUN: lowmem-opt %s --lowmem-quantize-weights="format=nf4 block-size=64" --lowmem-materialize-storage --convert-lowmem-to-gpu --convert-lowmem-to-linalg %emulate-cuda-to-llvm | %mlir-runner | FileCheck %s
// RUN: lowmem-opt %s --lowmem-quantize-weights="format=fp4 block-size=64" --lowmem-materialize-storage --convert-lowmem-to-gpu --convert-lowmem-to-linalg %emulate-cuda-to-llvm | %mlir-runner | FileCheck %s
// RUN: lowmem-opt %s --lowmem-quantize-weights="format=int4 block-size=64" --lowmem-materialize-storage --convert-lowmem-to-gpu --convert-lowmem-to-linalg %emulate-cuda-to-llvm | %mlir-runner | FileCheck %s
// RUN: lowmem-opt %s --lowmem-quantize-weights="format=int8" --lowmem-materialize-storage --convert-lowmem-to-gpu --convert-lowmem-to-linalg %emulate-cuda-to-llvm | %mlir-runner | FileCheck %s
// RUN: lowmem-opt %s --lowmem-quantize-weights="format=f16" --lowmem-materialize-storage --convert-lowmem-to-gpu --convert-lowmem-to-linalg %emulate-cuda-to-llvm | %mlir-runner | FileCheck %s
// RUN: lowmem-opt %s --lowmem-quantize-weights="format=bf16" --lowmem-materialize-storage --convert-lowmem-to-gpu --convert-lowmem-to-linalg %emulate-cuda-to-llvm | %mlir-runner | FileCheck %s
//
// The product is a kernel whose warps shuffle, not left to linalg.
// RUN: lowmem-opt %s --lowmem-quantize-weights="format=nf4 block-size=64" --lowmem-materialize-storage --convert-lowmem-to-gpu | FileCheck %s --check-prefix=KERNEL
// KERNEL-NOT: lowmem.qlinear
// KERNEL: gpu.launch
// KERNEL: gpu.shuffle xor
// KERNEL-NOT: lowmem.qlinear

func.func private @printMemrefF32(tensor<*xf32>)

func.func @main() {
  %x = arith.constant dense<[[[0.0, 1.0, 2.0, 3.0, 4.0, 0.0, 1.0, 2.0, 3.0, 4.0, 0.0, 1.0, 2.0, 3.0, 4.0, 0.0, 1.0, 2.0, 3.0, 4.0, 0.0, 1.0, 2.0, 3.0, 4.0, 0.0, 1.0, 2.0, 3.0, 4.0, 0.0, 1.0, 2.0, 3.0, 4.0, 0.0, 1.0, 2.0, 3.0, 4.0, 0.0, 1.0, 2.0, 3.0, 4.0, 0.0, 1.0, 2.0, 3.0, 4.0, 0.0, 1.0, 2.0, 3.0, 4.0, 0.0, 1.0, 2.0, 3.0, 4.0, 0.0, 1.0, 2.0, 3.0], [-1.0, 0.0, 1.0, 2.0, 3.0, -1.0, 0.0, 1.0, 2.0, 3.0, -1.0, 0.0, 1.0, 2.0, 3.0, -1.0, 0.0, 1.0, 2.0, 3.0, -1.0, 0.0, 1.0, 2.0, 3.0, -1.0, 0.0, 1.0, 2.0, 3.0, -1.0, 0.0, 1.0, 2.0, 3.0, -1.0, 0.0, 1.0, 2.0, 3.0, -1.0, 0.0, 1.0, 2.0, 3.0, -1.0, 0.0, 1.0, 2.0, 3.0, -1.0, 0.0, 1.0, 2.0, 3.0, -1.0, 0.0, 1.0, 2.0, 3.0, -1.0, 0.0, 1.0, 2.0], [-2.0, -1.0, 0.0, 1.0, 2.0, -2.0, -1.0, 0.0, 1.0, 2.0, -2.0, -1.0, 0.0, 1.0, 2.0, -2.0, -1.0, 0.0, 1.0, 2.0, -2.0, -1.0, 0.0, 1.0, 2.0, -2.0, -1.0, 0.0, 1.0, 2.0, -2.0, -1.0, 0.0, 1.0, 2.0, -2.0, -1.0, 0.0, 1.0, 2.0, -2.0, -1.0, 0.0, 1.0, 2.0, -2.0, -1.0, 0.0, 1.0, 2.0, -2.0, -1.0, 0.0, 1.0, 2.0, -2.0, -1.0, 0.0, 1.0, 2.0, -2.0, -1.0, 0.0, 1.0]]]> : tensor<1x3x64xf32>
  %w = arith.constant dense<[[2.0, -2.0, -2.0, 2.0, -2.0, -2.0, 2.0, -2.0, -2.0, 2.0, -2.0, -2.0, 2.0, -2.0, -2.0, 2.0, -2.0, -2.0, 2.0, -2.0, -2.0, 2.0, -2.0, -2.0, 2.0, -2.0, -2.0, 2.0, -2.0, -2.0, 2.0, -2.0, -2.0, 2.0, -2.0, -2.0, 2.0, -2.0, -2.0, 2.0, -2.0, -2.0, 2.0, -2.0, -2.0, 2.0, -2.0, -2.0, 2.0, -2.0, -2.0, 2.0, -2.0, -2.0, 2.0, -2.0, -2.0, 2.0, -2.0, -2.0, 2.0, -2.0, -2.0, 2.0], [-1.0, -1.0, 1.0, -1.0, -1.0, 1.0, -1.0, -1.0, 1.0, -1.0, -1.0, 1.0, -1.0, -1.0, 1.0, -1.0, -1.0, 1.0, -1.0, -1.0, 1.0, -1.0, -1.0, 1.0, -1.0, -1.0, 1.0, -1.0, -1.0, 1.0, -1.0, -1.0, 1.0, -1.0, -1.0, 1.0, -1.0, -1.0, 1.0, -1.0, -1.0, 1.0, -1.0, -1.0, 1.0, -1.0, -1.0, 1.0, -1.0, -1.0, 1.0, -1.0, -1.0, 1.0, -1.0, -1.0, 1.0, -1.0, -1.0, 1.0, -1.0, -1.0, 1.0, -1.0], [-0.5, 0.5, -0.5, -0.5, 0.5, -0.5, -0.5, 0.5, -0.5, -0.5, 0.5, -0.5, -0.5, 0.5, -0.5, -0.5, 0.5, -0.5, -0.5, 0.5, -0.5, -0.5, 0.5, -0.5, -0.5, 0.5, -0.5, -0.5, 0.5, -0.5, -0.5, 0.5, -0.5, -0.5, 0.5, -0.5, -0.5, 0.5, -0.5, -0.5, 0.5, -0.5, -0.5, 0.5, -0.5, -0.5, 0.5, -0.5, -0.5, 0.5, -0.5, -0.5, 0.5, -0.5, -0.5, 0.5, -0.5, -0.5, 0.5, -0.5, -0.5, 0.5, -0.5, -0.5], [1.0, -1.0, -1.0, 1.0, 1.0, 1.0, -1.0, -1.0, 1.0, 1.0, 1.0, -1.0, -1.0, 1.0, 1.0, 1.0, -1.0, -1.0, 1.0, 1.0, 1.0, -1.0, -1.0, 1.0, 1.0, 1.0, -1.0, -1.0, 1.0, 1.0, 1.0, -1.0, -1.0, 1.0, 1.0, 1.0, -1.0, -1.0, 1.0, 1.0, 1.0, -1.0, -1.0, 1.0, 1.0, 1.0, -1.0, -1.0, 1.0, 1.0, 1.0, -1.0, -1.0, 1.0, 1.0, 1.0, -1.0, -1.0, 1.0, 1.0, 1.0, -1.0, -1.0, 1.0], [4.0, -4.0, 4.0, 4.0, 4.0, -4.0, 4.0, 4.0, 4.0, -4.0, 4.0, 4.0, 4.0, -4.0, 4.0, 4.0, 4.0, -4.0, 4.0, 4.0, 4.0, -4.0, 4.0, 4.0, 4.0, -4.0, 4.0, 4.0, 4.0, -4.0, 4.0, 4.0, 4.0, -4.0, 4.0, 4.0, 4.0, -4.0, 4.0, 4.0, 4.0, -4.0, 4.0, 4.0, 4.0, -4.0, 4.0, 4.0, 4.0, -4.0, 4.0, 4.0, 4.0, -4.0, 4.0, 4.0, 4.0, -4.0, 4.0, 4.0, 4.0, -4.0, 4.0, 4.0]]> : tensor<5x64xf32>
  %b = arith.constant dense<[90.0, 45.0, 25.0, -40.0, 4.0]> : tensor<5xf32>
  %r = arith.constant dense<[[[0.0, 0.0, 0.0, 0.0, 0.0], [100.0, 100.0, 100.0, 100.0, 100.0], [200.0, 200.0, 200.0, 200.0, 200.0]]]> : tensor<1x3x5xf32>
  %y = lowmem.linear %x, %w bias(%b : tensor<5xf32>) residual(%r : tensor<1x3x5xf32>) activation <relu>
      : tensor<1x3x64xf32>, tensor<5x64xf32> -> tensor<1x3x5xf32>
  %u = tensor.cast %y : tensor<1x3x5xf32> to tensor<*xf32>
  call @printMemrefF32(%u) : (tensor<*xf32>) -> ()
  return
}

// CHECK: sizes = [1, 3, 5]
// CHECK: [10, 3, 3, 8, 260]
// CHECK-NEXT: [150, 125, 114, 100, 232]
// CHECK-NEXT: [290, 247, 225, 200, 204]
