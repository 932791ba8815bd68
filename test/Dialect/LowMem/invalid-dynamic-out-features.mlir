// RUN: lowmem-opt %s -split-input-file -verify-diagnostics

// Dense weights, like quantized ones, have static shapes.

func.func @linear_dynamic_out_features(%x: tensor<?x8xf32>, %w: tensor<?x8xf32>) -> tensor<?x4xf32> {
  // expected-error @+1 {{'lowmem.linear' op weight must have a static shape, got [?, 8]}}
  %0 = lowmem.linear %x, %w : tensor<?x8xf32>, tensor<?x8xf32> -> tensor<?x4xf32>
  return %0 : tensor<?x4xf32>
}

// -----

func.func @lora_dynamic_rank_b(%x: tensor<?x8xf32>, %a: tensor<2x8xf32>, %b: tensor<?x2xf32>) -> tensor<?x4xf32> {
  // expected-error @+1 {{'lowmem.lora' op lora_a and lora_b must have static shapes, got [2, 8] and [?, 2]}}
  %0 = lowmem.lora %x, %a, %b {alpha = 1.0 : f64} : tensor<?x8xf32>, tensor<2x8xf32>, tensor<?x2xf32> -> tensor<?x4xf32>
  return %0 : tensor<?x4xf32>
}
