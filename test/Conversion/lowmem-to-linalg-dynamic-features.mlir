// RUN: lowmem-opt %s -split-input-file --convert-lowmem-to-linalg | FileCheck %s

// BUG: emptyLike() in LowMemToLinalg.cpp takes the dynamic sizes of the
// result from the *input* for every dimension of the result, the last one
// included, checking `isDynamicDim` on the input's type rather than the
// result's. The verifiers accept a dynamic in_features dimension (and a
// static input with a dynamic result), but the lowering then builds an
// invalid tensor.empty: "'tensor.empty' op incorrect number of dynamic
// sizes, has 2, expected 1" (resp. "has 0, expected 1").

// CHECK-LABEL: func.func @linear_dynamic_in_features
// CHECK-SAME: ([[X:%[^:]+]]: tensor<?x?xf32>, [[W:%[^:]+]]: tensor<4x8xf32>)
// CHECK: [[ROWS:%.+]] = tensor.dim [[X]], %{{.+}} : tensor<?x?xf32>
// CHECK: tensor.empty([[ROWS]]) : tensor<?x4xf32>
// CHECK: linalg.generic
// CHECK-SAME: ins([[X]], [[W]] : tensor<?x?xf32>, tensor<4x8xf32>)
// CHECK-NOT: lowmem.
func.func @linear_dynamic_in_features(%x: tensor<?x?xf32>, %w: tensor<4x8xf32>) -> tensor<?x4xf32> {
  %0 = lowmem.linear %x, %w : tensor<?x?xf32>, tensor<4x8xf32> -> tensor<?x4xf32>
  return %0 : tensor<?x4xf32>
}

// -----

// CHECK-LABEL: func.func @qlinear_dynamic_in_features
// CHECK: tensor.empty(%{{[^,]+}}) : tensor<?x8xf32>
// CHECK: linalg.generic
// CHECK-NOT: lowmem.
func.func @qlinear_dynamic_in_features(%x: tensor<?x?xf32>, %codes: tensor<32xi8>, %absmax: tensor<1xf32>) -> tensor<?x8xf32> {
  %q = lowmem.assemble %codes, %absmax : tensor<32xi8>, tensor<1xf32> -> !lowmem.qtensor<8x8xf32, nf4>
  %0 = lowmem.qlinear %x, %q : tensor<?x?xf32>, !lowmem.qtensor<8x8xf32, nf4> -> tensor<?x8xf32>
  return %0 : tensor<?x8xf32>
}

// -----

// CHECK-LABEL: func.func @lora_dynamic_in_features
// CHECK: tensor.empty(%{{[^,]+}}) : tensor<?x2xf32>
// CHECK: tensor.empty(%{{[^,]+}}) : tensor<?x4xf32>
// CHECK-NOT: lowmem.
func.func @lora_dynamic_in_features(%x: tensor<?x?xf32>, %a: tensor<2x8xf32>, %b: tensor<4x2xf32>) -> tensor<?x4xf32> {
  %0 = lowmem.lora %x, %a, %b {alpha = 16.0 : f64} : tensor<?x?xf32>, tensor<2x8xf32>, tensor<4x2xf32> -> tensor<?x4xf32>
  return %0 : tensor<?x4xf32>
}

// -----

// A static input with a dynamic (compatible) result dimension.

// CHECK-LABEL: func.func @linear_static_input_dynamic_result
// CHECK: tensor.empty(%{{[^,]+}}) : tensor<?x4xf32>
// CHECK: linalg.generic
// CHECK-NOT: lowmem.
func.func @linear_static_input_dynamic_result(%x: tensor<3x8xf32>, %w: tensor<4x8xf32>) -> tensor<?x4xf32> {
  %0 = lowmem.linear %x, %w : tensor<3x8xf32>, tensor<4x8xf32> -> tensor<?x4xf32>
  return %0 : tensor<?x4xf32>
}
