// RUN: lowmem-opt %s -split-input-file -verify-diagnostics

// BUG: LoraOp::verify() reads input.getShape().back() without checking that
// the input has rank >= 1, so a rank-0 input makes lowmem-opt crash
// (segmentation fault in mlir::lowmem::LoraOp::verify()) instead of
// diagnosing it the way linear, qlinear and group_norm do.

func.func @lora_rank0_input(%x: tensor<f32>, %a: tensor<2x8xf32>, %b: tensor<4x2xf32>) -> tensor<f32> {
  // expected-error @+1 {{'lowmem.lora' op input must have rank >= 1}}
  %0 = lowmem.lora %x, %a, %b {alpha = 16.0 : f64} : tensor<f32>, tensor<2x8xf32>, tensor<4x2xf32> -> tensor<f32>
  return %0 : tensor<f32>
}

// -----

func.func @lora_rank0_input_rank1_result(%x: tensor<f32>, %a: tensor<2x8xf32>, %b: tensor<4x2xf32>) -> tensor<4xf32> {
  // expected-error @+1 {{'lowmem.lora' op input must have rank >= 1}}
  %0 = lowmem.lora %x, %a, %b {alpha = 16.0 : f64} : tensor<f32>, tensor<2x8xf32>, tensor<4x2xf32> -> tensor<4xf32>
  return %0 : tensor<4xf32>
}
