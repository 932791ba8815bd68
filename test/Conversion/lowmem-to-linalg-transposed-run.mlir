// The transposed product (a linear layer's input gradient, dy · W) lowered
// to linalg and run: dense f32, and the same weight quantized (nf4 and f16,
// with values the formats hold exactly, so the result is exact too).
//
// RUN: lowmem-opt %s --convert-lowmem-to-linalg %lower-tensors-to-llvm | %mlir-runner | FileCheck %s
// RUN: lowmem-opt %s --lowmem-quantize-weights="format=nf4" --lowmem-materialize-storage --convert-lowmem-to-linalg %lower-tensors-to-llvm | %mlir-runner | FileCheck %s
// RUN: lowmem-opt %s --lowmem-quantize-weights="format=f16" --lowmem-materialize-storage --convert-lowmem-to-linalg %lower-tensors-to-llvm | %mlir-runner | FileCheck %s
// RUN: lowmem-opt %s --lowmem-quantize-weights="format=nf4" | FileCheck %s --check-prefix=IR
// The NF4 table as a vector constant (tables-in-registers), which the
// pipelines no longer use, still gives the same products.
// RUN: lowmem-opt %s --lowmem-quantize-weights="format=nf4" --lowmem-materialize-storage --convert-lowmem-to-linalg="tables-in-registers" %emulate-cuda-to-llvm | %mlir-runner | FileCheck %s
// RUN: lowmem-opt %s --lowmem-quantize-weights="format=nf4" --lowmem-materialize-storage --convert-lowmem-to-linalg="tables-in-registers" | FileCheck %s --check-prefix=VEC
// VEC: arith.constant dense<{{.+}}> : vector<16xf32>

// IR: lowmem.qlinear %{{.+}}, %{{.+}} transposed bias
// IR: lowmem.qlinear %{{.+}}, %{{.+}} :

func.func private @printMemrefF32(tensor<*xf32>)

func.func @main() {
  %dy = arith.constant dense<[[1.0, 2.0, 3.0], [0.5, -1.0, 0.0]]> : tensor<2x3xf32>
  %w = arith.constant dense<[[1.0, -1.0], [0.0, 1.0], [-1.0, 1.0]]> : tensor<3x2xf32>
  %b = arith.constant dense<[10.0, 20.0]> : tensor<2xf32>
  // dy · W + b = [[1 - 3, -1 + 2 + 3], [0.5, -0.5 - 1]] + b
  %dx = lowmem.linear %dy, %w transposed bias(%b : tensor<2xf32>)
      : tensor<2x3xf32>, tensor<3x2xf32> -> tensor<2x2xf32>
  %u = tensor.cast %dx : tensor<2x2xf32> to tensor<*xf32>
  call @printMemrefF32(%u) : (tensor<*xf32>) -> ()
  // The forward product on the same weight still reads it untransposed:
  // x · Wᵀ with x = [[1, 2]] gives [[-1, 2, 1]].
  %x = arith.constant dense<[[1.0, 2.0]]> : tensor<1x2xf32>
  %y = lowmem.linear %x, %w : tensor<1x2xf32>, tensor<3x2xf32> -> tensor<1x3xf32>
  %v = tensor.cast %y : tensor<1x3xf32> to tensor<*xf32>
  call @printMemrefF32(%v) : (tensor<*xf32>) -> ()
  return
}

// CHECK: sizes = [2, 2]
// CHECK-NEXT: [8, 24]
// CHECK-NEXT: [10.5, 18.5]
// CHECK: sizes = [1, 3]
// CHECK-NEXT: [-1, 2, 1]
