// RUN: lowmem-opt %s -split-input-file --convert-lowmem-to-linalg -verify-diagnostics

// A qlinear can only be lowered when its weight's storage is explicit, i.e.
// comes from lowmem.assemble (lowmem-materialize-storage).

func.func @qlinear_weight_argument(%x: tensor<?x8xf32>, %q: !lowmem.qtensor<8x8xf32, nf4>) -> tensor<?x8xf32> {
  // expected-error @+1 {{cannot lower 'lowmem.qlinear': the weight's storage is not explicit; run lowmem-materialize-storage first}}
  %0 = lowmem.qlinear %x, %q : tensor<?x8xf32>, !lowmem.qtensor<8x8xf32, nf4> -> tensor<?x8xf32>
  return %0 : tensor<?x8xf32>
}

// -----

func.func @qlinear_weight_quantized_at_run_time(%x: tensor<?x8xf32>, %w: tensor<8x8xf32>) -> tensor<?x8xf32> {
  // expected-error @+1 {{cannot lower 'lowmem.quantize' at run time; quantize weights ahead of time (lowmem-materialize-storage folds constants)}}
  %q = lowmem.quantize %w : tensor<8x8xf32> -> !lowmem.qtensor<8x8xf32, int8>
  %0 = lowmem.qlinear %x, %q : tensor<?x8xf32>, !lowmem.qtensor<8x8xf32, int8> -> tensor<?x8xf32>
  return %0 : tensor<?x8xf32>
}

// -----

func.func @dequantize_weight_argument(%q: !lowmem.qtensor<8x8xf32, int4>) -> tensor<8x8xf32> {
  // expected-error @+1 {{cannot lower 'lowmem.dequantize': the weight's storage is not explicit; run lowmem-materialize-storage first}}
  %0 = lowmem.dequantize %q : !lowmem.qtensor<8x8xf32, int4> -> tensor<8x8xf32>
  return %0 : tensor<8x8xf32>
}

// -----

// Only f32 compute is supported.

func.func @linear_f16(%x: tensor<?x8xf16>, %w: tensor<4x8xf16>) -> tensor<?x4xf16> {
  // expected-error @+1 {{cannot lower 'lowmem.linear' to linalg (only f32 compute is supported)}}
  %0 = lowmem.linear %x, %w : tensor<?x8xf16>, tensor<4x8xf16> -> tensor<?x4xf16>
  return %0 : tensor<?x4xf16>
}

// -----

func.func @relu_bf16(%x: tensor<?x8xbf16>) -> tensor<?x8xbf16> {
  // expected-error @+1 {{cannot lower 'lowmem.relu' to linalg (only f32 compute is supported)}}
  %0 = lowmem.relu %x : tensor<?x8xbf16>
  return %0 : tensor<?x8xbf16>
}

// -----

func.func @group_norm_f16(%x: tensor<?x8xf16>, %g: tensor<8xf16>, %b: tensor<8xf16>) -> tensor<?x8xf16> {
  // expected-error @+1 {{cannot lower 'lowmem.group_norm' to linalg (only f32 compute is supported)}}
  %0 = lowmem.group_norm %x, %g, %b {epsilon = 1.0e-05 : f64, num_groups = 1 : i64} : tensor<?x8xf16>, tensor<8xf16>, tensor<8xf16> -> tensor<?x8xf16>
  return %0 : tensor<?x8xf16>
}
