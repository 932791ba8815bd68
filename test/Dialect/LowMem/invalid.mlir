// RUN: lowmem-opt %s -split-input-file -verify-diagnostics

// One case per diagnostic of the !lowmem.qtensor type and of the lowmem op
// verifiers.

//===----------------------------------------------------------------------===//
// !lowmem.qtensor
//===----------------------------------------------------------------------===//

// expected-error @+1 {{unknown quantization format 'nf5'; expected one of f16, bf16, int4, nf4, fp4, int8}}
func.func private @unknown_format(!lowmem.qtensor<8x8xf32, nf5>)

// -----

// expected-error @+1 {{unknown quantization format 'f32'; expected one of f16, bf16, int4, nf4, fp4, int8}}
func.func private @f32_is_not_a_storage_format(!lowmem.qtensor<8x8xf32, f32>)

// -----

// expected-error @+1 {{expected 'block'}}
func.func private @unknown_option(!lowmem.qtensor<8x8xf32, nf4, blocksize = 64>)

// -----

// expected-error @+1 {{quantized tensor must have rank >= 1}}
func.func private @rank0(!lowmem.qtensor<f32, nf4>)

// -----

// expected-error @+1 {{quantized tensor dimensions must be static and positive, got ?}}
func.func private @dynamic_dim(!lowmem.qtensor<?x8xf32, nf4>)

// -----

// expected-error @+1 {{quantized tensor dimensions must be static and positive, got 0}}
func.func private @zero_dim(!lowmem.qtensor<8x0xf32, int8>)

// -----

// expected-error @+1 {{quantized tensor element type must be f32, f16 or bf16, got 'i8'}}
func.func private @integer_element(!lowmem.qtensor<8x8xi8, nf4>)

// -----

// expected-error @+1 {{quantized tensor element type must be f32, f16 or bf16, got 'f64'}}
func.func private @f64_element(!lowmem.qtensor<8x8xf64, int8>)

// -----

// expected-error @+1 {{block size 48 for nf4 must be a power of two in [32, 4096]}}
func.func private @nf4_block_not_pow2(!lowmem.qtensor<8x8xf32, nf4, block = 48>)

// -----

// expected-error @+1 {{block size 16 for nf4 must be a power of two in [32, 4096]}}
func.func private @nf4_block_too_small(!lowmem.qtensor<8x8xf32, nf4, block = 16>)

// -----

// expected-error @+1 {{block size 8192 for nf4 must be a power of two in [32, 4096]}}
func.func private @nf4_block_too_large(!lowmem.qtensor<8x8xf32, nf4, block = 8192>)

// -----

// expected-error @+1 {{block size 0 for fp4 must be a power of two in [32, 4096]}}
func.func private @fp4_block_zero(!lowmem.qtensor<8x8xf32, fp4, block = 0>)

// -----

// expected-error @+1 {{block size 7 for int4 must be even and in [2, 4096]}}
func.func private @int4_block_odd(!lowmem.qtensor<8x8xf32, int4, block = 7>)

// -----

// expected-error @+1 {{block size 8194 for int4 must be even and in [2, 4096]}}
func.func private @int4_block_too_large(!lowmem.qtensor<8x8xf32, int4, block = 8194>)

// -----

// expected-error @+1 {{block size 64 for int8 must be 0 (int8 is not a block format)}}
func.func private @int8_block(!lowmem.qtensor<8x8xf32, int8, block = 64>)

// -----

// expected-error @+1 {{block size 16 for f16 must be 0 (f16 is not a block format)}}
func.func private @f16_block(!lowmem.qtensor<8x8xf32, f16, block = 16>)

// -----

// expected-error @+1 {{double quantization applies only to nf4 and fp4, not int8}}
func.func private @int8_double_quant(!lowmem.qtensor<8x8xf32, int8, double_quant>)

// -----

// expected-error @+1 {{double quantization applies only to nf4 and fp4, not int4}}
func.func private @int4_double_quant(!lowmem.qtensor<8x8xf32, int4, double_quant>)

// -----

//===----------------------------------------------------------------------===//
// lowmem.linear
//===----------------------------------------------------------------------===//

func.func @linear_rank0_input(%x: tensor<f32>, %w: tensor<4x8xf32>) -> tensor<4xf32> {
  // expected-error @+1 {{'lowmem.linear' op input must have rank >= 1}}
  %0 = lowmem.linear %x, %w : tensor<f32>, tensor<4x8xf32> -> tensor<4xf32>
  return %0 : tensor<4xf32>
}

// -----

func.func @linear_1d_weight(%x: tensor<?x8xf32>, %w: tensor<8xf32>) -> tensor<?x8xf32> {
  // expected-error @+1 {{'lowmem.linear' op weight must be a 2-D [out_features, in_features] tensor, got shape [8]}}
  %0 = lowmem.linear %x, %w : tensor<?x8xf32>, tensor<8xf32> -> tensor<?x8xf32>
  return %0 : tensor<?x8xf32>
}

// -----

func.func @linear_in_features(%x: tensor<?x8xf32>, %w: tensor<4x16xf32>) -> tensor<?x4xf32> {
  // expected-error @+1 {{'lowmem.linear' op input feature dimension (8) does not match the weight's in_features (16)}}
  %0 = lowmem.linear %x, %w : tensor<?x8xf32>, tensor<4x16xf32> -> tensor<?x4xf32>
  return %0 : tensor<?x4xf32>
}

// -----

func.func @linear_transposed_features(%dy: tensor<?x8xf32>, %w: tensor<16x8xf32>) -> tensor<?x8xf32> {
  // expected-error @+1 {{'lowmem.linear' op input feature dimension (8) does not match the weight's out_features (transposed) (16)}}
  %0 = lowmem.linear %dy, %w transposed : tensor<?x8xf32>, tensor<16x8xf32> -> tensor<?x8xf32>
  return %0 : tensor<?x8xf32>
}

// -----

func.func @linear_transposed_result(%dy: tensor<?x16xf32>, %w: tensor<16x8xf32>) -> tensor<?x16xf32> {
  // expected-error @+1 {{'lowmem.linear' op result shape [?, 16] must be the input's leading dimensions followed by the weight's in_features (transposed) (8)}}
  %0 = lowmem.linear %dy, %w transposed : tensor<?x16xf32>, tensor<16x8xf32> -> tensor<?x16xf32>
  return %0 : tensor<?x16xf32>
}

// -----

func.func @linear_weight_element_type(%x: tensor<?x8xf32>, %w: tensor<4x8xf16>) -> tensor<?x4xf32> {
  // expected-error @+1 {{'lowmem.linear' op element types of input ('f32'), weight ('f16') and result ('f32') must agree}}
  %0 = lowmem.linear %x, %w : tensor<?x8xf32>, tensor<4x8xf16> -> tensor<?x4xf32>
  return %0 : tensor<?x4xf32>
}

// -----

func.func @linear_result_element_type(%x: tensor<?x8xf32>, %w: tensor<4x8xf32>) -> tensor<?x4xbf16> {
  // expected-error @+1 {{'lowmem.linear' op element types of input ('f32'), weight ('f32') and result ('bf16') must agree}}
  %0 = lowmem.linear %x, %w : tensor<?x8xf32>, tensor<4x8xf32> -> tensor<?x4xbf16>
  return %0 : tensor<?x4xbf16>
}

// -----

func.func @linear_out_features(%x: tensor<?x8xf32>, %w: tensor<4x8xf32>) -> tensor<?x8xf32> {
  // expected-error @+1 {{'lowmem.linear' op result shape [?, 8] must be the input's leading dimensions followed by out_features (4)}}
  %0 = lowmem.linear %x, %w : tensor<?x8xf32>, tensor<4x8xf32> -> tensor<?x8xf32>
  return %0 : tensor<?x8xf32>
}

// -----

func.func @linear_result_rank(%x: tensor<2x3x8xf32>, %w: tensor<4x8xf32>) -> tensor<6x4xf32> {
  // expected-error @+1 {{'lowmem.linear' op result shape [6, 4] must be the input's leading dimensions followed by out_features (4)}}
  %0 = lowmem.linear %x, %w : tensor<2x3x8xf32>, tensor<4x8xf32> -> tensor<6x4xf32>
  return %0 : tensor<6x4xf32>
}

// -----

func.func @linear_result_leading_dim(%x: tensor<2x8xf32>, %w: tensor<4x8xf32>) -> tensor<3x4xf32> {
  // expected-error @+1 {{'lowmem.linear' op result shape [3, 4] must be the input's leading dimensions followed by out_features (4)}}
  %0 = lowmem.linear %x, %w : tensor<2x8xf32>, tensor<4x8xf32> -> tensor<3x4xf32>
  return %0 : tensor<3x4xf32>
}

// -----

func.func @linear_bias_shape(%x: tensor<?x8xf32>, %w: tensor<4x8xf32>, %b: tensor<8xf32>) -> tensor<?x4xf32> {
  // expected-error @+1 {{'lowmem.linear' op bias must have shape [4], got [8]}}
  %0 = lowmem.linear %x, %w bias(%b : tensor<8xf32>) : tensor<?x8xf32>, tensor<4x8xf32> -> tensor<?x4xf32>
  return %0 : tensor<?x4xf32>
}

// -----

func.func @linear_bias_rank(%x: tensor<?x8xf32>, %w: tensor<4x8xf32>, %b: tensor<1x4xf32>) -> tensor<?x4xf32> {
  // expected-error @+1 {{'lowmem.linear' op bias must have shape [4], got [1, 4]}}
  %0 = lowmem.linear %x, %w bias(%b : tensor<1x4xf32>) : tensor<?x8xf32>, tensor<4x8xf32> -> tensor<?x4xf32>
  return %0 : tensor<?x4xf32>
}

// -----

func.func @linear_bias_element_type(%x: tensor<?x8xf32>, %w: tensor<4x8xf32>, %b: tensor<4xf16>) -> tensor<?x4xf32> {
  // expected-error @+1 {{'lowmem.linear' op bias element type 'f16' must be 'f32'}}
  %0 = lowmem.linear %x, %w bias(%b : tensor<4xf16>) : tensor<?x8xf32>, tensor<4x8xf32> -> tensor<?x4xf32>
  return %0 : tensor<?x4xf32>
}

// -----

func.func @linear_residual_type(%x: tensor<?x8xf32>, %w: tensor<4x8xf32>, %r: tensor<2x4xf32>) -> tensor<?x4xf32> {
  // expected-error @+1 {{'lowmem.linear' op residual type 'tensor<2x4xf32>' must equal the result type 'tensor<?x4xf32>'}}
  %0 = lowmem.linear %x, %w residual(%r : tensor<2x4xf32>) : tensor<?x8xf32>, tensor<4x8xf32> -> tensor<?x4xf32>
  return %0 : tensor<?x4xf32>
}

// -----

func.func @linear_integer_input(%x: tensor<?x8xi32>, %w: tensor<4x8xf32>) -> tensor<?x4xf32> {
  // expected-error @+1 {{'lowmem.linear' op operand #0 must be ranked tensor of 16-bit float or bfloat16 type or 32-bit float values}}
  %0 = lowmem.linear %x, %w : tensor<?x8xi32>, tensor<4x8xf32> -> tensor<?x4xf32>
  return %0 : tensor<?x4xf32>
}

// -----

//===----------------------------------------------------------------------===//
// lowmem.qlinear
//===----------------------------------------------------------------------===//

func.func @qlinear_rank0_input(%x: tensor<f32>, %q: !lowmem.qtensor<4x8xf32, nf4>) -> tensor<4xf32> {
  // expected-error @+1 {{'lowmem.qlinear' op input must have rank >= 1}}
  %0 = lowmem.qlinear %x, %q : tensor<f32>, !lowmem.qtensor<4x8xf32, nf4> -> tensor<4xf32>
  return %0 : tensor<4xf32>
}

// -----

func.func @qlinear_3d_weight(%x: tensor<?x8xf32>, %q: !lowmem.qtensor<2x4x8xf32, nf4>) -> tensor<?x4xf32> {
  // expected-error @+1 {{'lowmem.qlinear' op weight must be a 2-D [out_features, in_features] tensor, got shape [2, 4, 8]}}
  %0 = lowmem.qlinear %x, %q : tensor<?x8xf32>, !lowmem.qtensor<2x4x8xf32, nf4> -> tensor<?x4xf32>
  return %0 : tensor<?x4xf32>
}

// -----

func.func @qlinear_in_features(%x: tensor<?x8xf32>, %q: !lowmem.qtensor<4x16xf32, int4>) -> tensor<?x4xf32> {
  // expected-error @+1 {{'lowmem.qlinear' op input feature dimension (8) does not match the weight's in_features (16)}}
  %0 = lowmem.qlinear %x, %q : tensor<?x8xf32>, !lowmem.qtensor<4x16xf32, int4> -> tensor<?x4xf32>
  return %0 : tensor<?x4xf32>
}

// -----

func.func @qlinear_element_type(%x: tensor<?x8xf16>, %q: !lowmem.qtensor<4x8xf32, int8>) -> tensor<?x4xf16> {
  // expected-error @+1 {{'lowmem.qlinear' op element types of input ('f16'), weight ('f32') and result ('f16') must agree}}
  %0 = lowmem.qlinear %x, %q : tensor<?x8xf16>, !lowmem.qtensor<4x8xf32, int8> -> tensor<?x4xf16>
  return %0 : tensor<?x4xf16>
}

// -----

func.func @qlinear_out_features(%x: tensor<?x8xf32>, %q: !lowmem.qtensor<4x8xf32, nf4, double_quant>) -> tensor<?x8xf32> {
  // expected-error @+1 {{'lowmem.qlinear' op result shape [?, 8] must be the input's leading dimensions followed by out_features (4)}}
  %0 = lowmem.qlinear %x, %q : tensor<?x8xf32>, !lowmem.qtensor<4x8xf32, nf4, double_quant> -> tensor<?x8xf32>
  return %0 : tensor<?x8xf32>
}

// -----

func.func @qlinear_bias_shape(%x: tensor<?x8xf32>, %q: !lowmem.qtensor<4x8xf32, f16>, %b: tensor<?xf32>) -> tensor<?x4xf32> {
  // expected-error @+1 {{'lowmem.qlinear' op bias must have shape [4], got [?]}}
  %0 = lowmem.qlinear %x, %q bias(%b : tensor<?xf32>) : tensor<?x8xf32>, !lowmem.qtensor<4x8xf32, f16> -> tensor<?x4xf32>
  return %0 : tensor<?x4xf32>
}

// -----

func.func @qlinear_bias_element_type(%x: tensor<?x8xf32>, %q: !lowmem.qtensor<4x8xf32, bf16>, %b: tensor<4xbf16>) -> tensor<?x4xf32> {
  // expected-error @+1 {{'lowmem.qlinear' op bias element type 'bf16' must be 'f32'}}
  %0 = lowmem.qlinear %x, %q bias(%b : tensor<4xbf16>) : tensor<?x8xf32>, !lowmem.qtensor<4x8xf32, bf16> -> tensor<?x4xf32>
  return %0 : tensor<?x4xf32>
}

// -----

func.func @qlinear_residual_type(%x: tensor<?x8xf32>, %q: !lowmem.qtensor<4x8xf32, fp4>) -> tensor<?x4xf32> {
  // expected-error @+1 {{'lowmem.qlinear' op residual type 'tensor<?x8xf32>' must equal the result type 'tensor<?x4xf32>'}}
  %0 = lowmem.qlinear %x, %q residual(%x : tensor<?x8xf32>) : tensor<?x8xf32>, !lowmem.qtensor<4x8xf32, fp4> -> tensor<?x4xf32>
  return %0 : tensor<?x4xf32>
}

// -----

func.func @qlinear_dense_weight(%x: tensor<?x8xf32>, %w: tensor<4x8xf32>) -> tensor<?x4xf32> {
  // expected-error @+1 {{'lowmem.qlinear' op operand #1 must be quantized tensor, but got 'tensor<4x8xf32>'}}
  %0 = "lowmem.qlinear"(%x, %w) {operandSegmentSizes = array<i32: 1, 1, 0, 0>} : (tensor<?x8xf32>, tensor<4x8xf32>) -> tensor<?x4xf32>
  return %0 : tensor<?x4xf32>
}

// -----

//===----------------------------------------------------------------------===//
// lowmem.lora
//===----------------------------------------------------------------------===//

func.func @lora_not_2d(%x: tensor<?x8xf32>, %a: tensor<2x8xf32>, %b: tensor<4xf32>) -> tensor<?x4xf32> {
  // expected-error @+1 {{'lowmem.lora' op lora_a and lora_b must be 2-D, got shapes [2, 8] and [4]}}
  %0 = lowmem.lora %x, %a, %b {alpha = 16.0 : f64} : tensor<?x8xf32>, tensor<2x8xf32>, tensor<4xf32> -> tensor<?x4xf32>
  return %0 : tensor<?x4xf32>
}

// -----

func.func @lora_dynamic_rank(%x: tensor<?x8xf32>, %a: tensor<?x8xf32>, %b: tensor<4x2xf32>) -> tensor<?x4xf32> {
  // expected-error @+1 {{'lowmem.lora' op adapter rank (lora_a's first dimension) must be a static positive size, got [?, 8]}}
  %0 = lowmem.lora %x, %a, %b {alpha = 16.0 : f64} : tensor<?x8xf32>, tensor<?x8xf32>, tensor<4x2xf32> -> tensor<?x4xf32>
  return %0 : tensor<?x4xf32>
}

// -----

func.func @lora_zero_rank(%x: tensor<?x8xf32>, %a: tensor<0x8xf32>, %b: tensor<4x0xf32>) -> tensor<?x4xf32> {
  // expected-error @+1 {{'lowmem.lora' op adapter rank (lora_a's first dimension) must be a static positive size, got [0, 8]}}
  %0 = lowmem.lora %x, %a, %b {alpha = 16.0 : f64} : tensor<?x8xf32>, tensor<0x8xf32>, tensor<4x0xf32> -> tensor<?x4xf32>
  return %0 : tensor<?x4xf32>
}

// -----

func.func @lora_a_in_features(%x: tensor<?x8xf32>, %a: tensor<2x16xf32>, %b: tensor<4x2xf32>) -> tensor<?x4xf32> {
  // expected-error @+1 {{'lowmem.lora' op lora_a shape [2, 16] must be [r, 8] to match the input}}
  %0 = lowmem.lora %x, %a, %b {alpha = 16.0 : f64} : tensor<?x8xf32>, tensor<2x16xf32>, tensor<4x2xf32> -> tensor<?x4xf32>
  return %0 : tensor<?x4xf32>
}

// -----

func.func @lora_b_rank(%x: tensor<?x8xf32>, %a: tensor<2x8xf32>, %b: tensor<4x3xf32>) -> tensor<?x4xf32> {
  // expected-error @+1 {{'lowmem.lora' op lora_b shape [4, 3] must be [out_features, 2] to match lora_a's rank}}
  %0 = lowmem.lora %x, %a, %b {alpha = 16.0 : f64} : tensor<?x8xf32>, tensor<2x8xf32>, tensor<4x3xf32> -> tensor<?x4xf32>
  return %0 : tensor<?x4xf32>
}

// -----

func.func @lora_result_shape(%x: tensor<?x8xf32>, %a: tensor<2x8xf32>, %b: tensor<4x2xf32>) -> tensor<?x8xf32> {
  // expected-error @+1 {{'lowmem.lora' op result shape [?, 8] must be the input's leading dimensions followed by lora_b's out_features (4)}}
  %0 = lowmem.lora %x, %a, %b {alpha = 16.0 : f64} : tensor<?x8xf32>, tensor<2x8xf32>, tensor<4x2xf32> -> tensor<?x8xf32>
  return %0 : tensor<?x8xf32>
}

// -----

func.func @lora_result_rank(%x: tensor<3x8xf32>, %a: tensor<2x8xf32>, %b: tensor<4x2xf32>) -> tensor<4xf32> {
  // expected-error @+1 {{'lowmem.lora' op result shape [4] must be the input's leading dimensions followed by lora_b's out_features (4)}}
  %0 = lowmem.lora %x, %a, %b {alpha = 16.0 : f64} : tensor<3x8xf32>, tensor<2x8xf32>, tensor<4x2xf32> -> tensor<4xf32>
  return %0 : tensor<4xf32>
}

// -----

func.func @lora_dropout_one(%x: tensor<?x8xf32>, %a: tensor<2x8xf32>, %b: tensor<4x2xf32>) -> tensor<?x4xf32> {
  // expected-error @+1 {{'lowmem.lora' op dropout must be in [0, 1), got 1.000000e+00}}
  %0 = lowmem.lora %x, %a, %b {alpha = 16.0 : f64, dropout = 1.0 : f64} : tensor<?x8xf32>, tensor<2x8xf32>, tensor<4x2xf32> -> tensor<?x4xf32>
  return %0 : tensor<?x4xf32>
}

// -----

func.func @lora_dropout_negative(%x: tensor<?x8xf32>, %a: tensor<2x8xf32>, %b: tensor<4x2xf32>) -> tensor<?x4xf32> {
  // expected-error @+1 {{'lowmem.lora' op dropout must be in [0, 1), got -5.000000e-01}}
  %0 = lowmem.lora %x, %a, %b {alpha = 16.0 : f64, dropout = -0.5 : f64} : tensor<?x8xf32>, tensor<2x8xf32>, tensor<4x2xf32> -> tensor<?x4xf32>
  return %0 : tensor<?x4xf32>
}

// -----

func.func @lora_alpha_zero(%x: tensor<?x8xf32>, %a: tensor<2x8xf32>, %b: tensor<4x2xf32>) -> tensor<?x4xf32> {
  // expected-error @+1 {{'lowmem.lora' op alpha must be positive, got 0.000000e+00}}
  %0 = lowmem.lora %x, %a, %b {alpha = 0.0 : f64} : tensor<?x8xf32>, tensor<2x8xf32>, tensor<4x2xf32> -> tensor<?x4xf32>
  return %0 : tensor<?x4xf32>
}

// -----

func.func @lora_alpha_nan(%x: tensor<?x8xf32>, %a: tensor<2x8xf32>, %b: tensor<4x2xf32>) -> tensor<?x4xf32> {
  // expected-error @+1 {{'lowmem.lora' op alpha must be positive, got nan}}
  %0 = lowmem.lora %x, %a, %b {alpha = 0x7FF8000000000000 : f64} : tensor<?x8xf32>, tensor<2x8xf32>, tensor<4x2xf32> -> tensor<?x4xf32>
  return %0 : tensor<?x4xf32>
}

// -----

func.func @lora_alpha_missing(%x: tensor<?x8xf32>, %a: tensor<2x8xf32>, %b: tensor<4x2xf32>) -> tensor<?x4xf32> {
  // expected-error @+1 {{'lowmem.lora' op requires attribute 'alpha'}}
  %0 = lowmem.lora %x, %a, %b : tensor<?x8xf32>, tensor<2x8xf32>, tensor<4x2xf32> -> tensor<?x4xf32>
  return %0 : tensor<?x4xf32>
}

// -----

//===----------------------------------------------------------------------===//
// lowmem.quantize / lowmem.dequantize
//===----------------------------------------------------------------------===//

func.func @quantize_shape(%w: tensor<8x8xf32>) -> !lowmem.qtensor<16x8xf32, nf4> {
  // expected-error @+1 {{'lowmem.quantize' op tensor type 'tensor<8x8xf32>' does not match the logical type 'tensor<16x8xf32>' of '!lowmem.qtensor<16x8xf32, nf4, block = 64>'}}
  %q = lowmem.quantize %w : tensor<8x8xf32> -> !lowmem.qtensor<16x8xf32, nf4>
  return %q : !lowmem.qtensor<16x8xf32, nf4>
}

// -----

func.func @quantize_element_type(%w: tensor<8x8xf16>) -> !lowmem.qtensor<8x8xf32, int8> {
  // expected-error @+1 {{'lowmem.quantize' op tensor type 'tensor<8x8xf16>' does not match the logical type 'tensor<8x8xf32>' of '!lowmem.qtensor<8x8xf32, int8>'}}
  %q = lowmem.quantize %w : tensor<8x8xf16> -> !lowmem.qtensor<8x8xf32, int8>
  return %q : !lowmem.qtensor<8x8xf32, int8>
}

// -----

func.func @quantize_dynamic(%w: tensor<?x8xf32>) -> !lowmem.qtensor<8x8xf32, int4> {
  // expected-error @+1 {{'lowmem.quantize' op tensor type 'tensor<?x8xf32>' does not match the logical type 'tensor<8x8xf32>' of '!lowmem.qtensor<8x8xf32, int4, block = 16>'}}
  %q = lowmem.quantize %w : tensor<?x8xf32> -> !lowmem.qtensor<8x8xf32, int4>
  return %q : !lowmem.qtensor<8x8xf32, int4>
}

// -----

func.func @dequantize_shape(%q: !lowmem.qtensor<8x8xf32, nf4, double_quant>) -> tensor<64xf32> {
  // expected-error @+1 {{'lowmem.dequantize' op tensor type 'tensor<64xf32>' does not match the logical type 'tensor<8x8xf32>' of '!lowmem.qtensor<8x8xf32, nf4, block = 64, double_quant>'}}
  %w = lowmem.dequantize %q : !lowmem.qtensor<8x8xf32, nf4, double_quant> -> tensor<64xf32>
  return %w : tensor<64xf32>
}

// -----

func.func @dequantize_element_type(%q: !lowmem.qtensor<8x8xbf16, f16>) -> tensor<8x8xf16> {
  // expected-error @+1 {{'lowmem.dequantize' op tensor type 'tensor<8x8xf16>' does not match the logical type 'tensor<8x8xbf16>' of '!lowmem.qtensor<8x8xbf16, f16>'}}
  %w = lowmem.dequantize %q : !lowmem.qtensor<8x8xbf16, f16> -> tensor<8x8xf16>
  return %w : tensor<8x8xf16>
}

// -----

//===----------------------------------------------------------------------===//
// lowmem.assemble
//===----------------------------------------------------------------------===//

func.func @assemble_nf4_missing_absmax(%codes: tensor<32xi8>) -> !lowmem.qtensor<8x8xf32, nf4> {
  // expected-error @+1 {{'lowmem.assemble' op expected 2 storage parts (codes, absmax) for '!lowmem.qtensor<8x8xf32, nf4, block = 64>', got 1}}
  %q = lowmem.assemble %codes : tensor<32xi8> -> !lowmem.qtensor<8x8xf32, nf4>
  return %q : !lowmem.qtensor<8x8xf32, nf4>
}

// -----

func.func @assemble_double_quant_count(%codes: tensor<32xi8>, %absmax: tensor<1xf32>) -> !lowmem.qtensor<8x8xf32, nf4, double_quant> {
  // expected-error @+1 {{'lowmem.assemble' op expected 4 storage parts (codes, absmax, nested_absmax, nested_offset) for '!lowmem.qtensor<8x8xf32, nf4, block = 64, double_quant>', got 2}}
  %q = lowmem.assemble %codes, %absmax : tensor<32xi8>, tensor<1xf32> -> !lowmem.qtensor<8x8xf32, nf4, double_quant>
  return %q : !lowmem.qtensor<8x8xf32, nf4, double_quant>
}

// -----

func.func @assemble_f16_count(%data: tensor<8x8xf16>) -> !lowmem.qtensor<8x8xf32, f16> {
  // expected-error @+1 {{'lowmem.assemble' op expected 1 storage parts (data) for '!lowmem.qtensor<8x8xf32, f16>', got 2}}
  %q = lowmem.assemble %data, %data : tensor<8x8xf16>, tensor<8x8xf16> -> !lowmem.qtensor<8x8xf32, f16>
  return %q : !lowmem.qtensor<8x8xf32, f16>
}

// -----

func.func @assemble_f16_data(%data: tensor<64xf16>) -> !lowmem.qtensor<8x8xf32, f16> {
  // expected-error @+1 {{'lowmem.assemble' op storage part #0 (data) must be 'tensor<8x8xf16>', got 'tensor<64xf16>'}}
  %q = lowmem.assemble %data : tensor<64xf16> -> !lowmem.qtensor<8x8xf32, f16>
  return %q : !lowmem.qtensor<8x8xf32, f16>
}

// -----

func.func @assemble_bf16_data(%data: tensor<8x8xf16>) -> !lowmem.qtensor<8x8xf32, bf16> {
  // expected-error @+1 {{'lowmem.assemble' op storage part #0 (data) must be 'tensor<8x8xbf16>', got 'tensor<8x8xf16>'}}
  %q = lowmem.assemble %data : tensor<8x8xf16> -> !lowmem.qtensor<8x8xf32, bf16>
  return %q : !lowmem.qtensor<8x8xf32, bf16>
}

// -----

func.func @assemble_unpacked_codes(%codes: tensor<64xi8>, %absmax: tensor<1xf32>) -> !lowmem.qtensor<8x8xf32, nf4> {
  // expected-error @+1 {{'lowmem.assemble' op storage part #0 (codes) must be 'tensor<32xi8>', got 'tensor<64xi8>'}}
  %q = lowmem.assemble %codes, %absmax : tensor<64xi8>, tensor<1xf32> -> !lowmem.qtensor<8x8xf32, nf4>
  return %q : !lowmem.qtensor<8x8xf32, nf4>
}

// -----

func.func @assemble_int4_f32_absmax(%codes: tensor<32xi8>, %absmax: tensor<4xf32>) -> !lowmem.qtensor<8x8xf32, int4> {
  // expected-error @+1 {{'lowmem.assemble' op storage part #1 (absmax) must be 'tensor<4xf16>', got 'tensor<4xf32>'}}
  %q = lowmem.assemble %codes, %absmax : tensor<32xi8>, tensor<4xf32> -> !lowmem.qtensor<8x8xf32, int4>
  return %q : !lowmem.qtensor<8x8xf32, int4>
}

// -----

func.func @assemble_fp4_block_count(%codes: tensor<32xi8>, %absmax: tensor<1xf32>) -> !lowmem.qtensor<8x8xf32, fp4, block = 32> {
  // expected-error @+1 {{'lowmem.assemble' op storage part #1 (absmax) must be 'tensor<2xf32>', got 'tensor<1xf32>'}}
  %q = lowmem.assemble %codes, %absmax : tensor<32xi8>, tensor<1xf32> -> !lowmem.qtensor<8x8xf32, fp4, block = 32>
  return %q : !lowmem.qtensor<8x8xf32, fp4, block = 32>
}

// -----

func.func @assemble_double_quant_codes(%codes: tensor<32xi8>, %absmax: tensor<1xf32>, %nested: tensor<1xf32>, %offset: tensor<1xf32>) -> !lowmem.qtensor<8x8xf32, nf4, double_quant> {
  // expected-error @+1 {{'lowmem.assemble' op storage part #1 (absmax) must be 'tensor<1xi8>', got 'tensor<1xf32>'}}
  %q = lowmem.assemble %codes, %absmax, %nested, %offset : tensor<32xi8>, tensor<1xf32>, tensor<1xf32>, tensor<1xf32> -> !lowmem.qtensor<8x8xf32, nf4, double_quant>
  return %q : !lowmem.qtensor<8x8xf32, nf4, double_quant>
}

// -----

func.func @assemble_double_quant_nested(%codes: tensor<32xi8>, %absmax: tensor<1xi8>, %nested: tensor<2xf32>, %offset: tensor<1xf32>) -> !lowmem.qtensor<8x8xf32, nf4, double_quant> {
  // expected-error @+1 {{'lowmem.assemble' op storage part #2 (nested_absmax) must be 'tensor<1xf32>', got 'tensor<2xf32>'}}
  %q = lowmem.assemble %codes, %absmax, %nested, %offset : tensor<32xi8>, tensor<1xi8>, tensor<2xf32>, tensor<1xf32> -> !lowmem.qtensor<8x8xf32, nf4, double_quant>
  return %q : !lowmem.qtensor<8x8xf32, nf4, double_quant>
}

// -----

func.func @assemble_double_quant_offset(%codes: tensor<32xi8>, %absmax: tensor<1xi8>, %nested: tensor<1xf32>, %offset: tensor<f32>) -> !lowmem.qtensor<8x8xf32, fp4, double_quant> {
  // expected-error @+1 {{'lowmem.assemble' op storage part #3 (nested_offset) must be 'tensor<1xf32>', got 'tensor<f32>'}}
  %q = lowmem.assemble %codes, %absmax, %nested, %offset : tensor<32xi8>, tensor<1xi8>, tensor<1xf32>, tensor<f32> -> !lowmem.qtensor<8x8xf32, fp4, double_quant>
  return %q : !lowmem.qtensor<8x8xf32, fp4, double_quant>
}

// -----

func.func @assemble_int8_absmax(%codes: tensor<32xi8>, %absmax: tensor<8xf32>) -> !lowmem.qtensor<4x8xf32, int8> {
  // expected-error @+1 {{'lowmem.assemble' op storage part #1 (absmax) must be 'tensor<4xf32>', got 'tensor<8xf32>'}}
  %q = lowmem.assemble %codes, %absmax : tensor<32xi8>, tensor<8xf32> -> !lowmem.qtensor<4x8xf32, int8>
  return %q : !lowmem.qtensor<4x8xf32, int8>
}

// -----

//===----------------------------------------------------------------------===//
// lowmem.relu / lowmem.add
//===----------------------------------------------------------------------===//

func.func @relu_types(%x: tensor<?x8xf32>) -> tensor<4x8xf32> {
  // expected-error @+2 {{'lowmem.relu' op inferred type(s) 'tensor<?x8xf32>' are incompatible with return type(s) of operation 'tensor<4x8xf32>'}}
  // expected-error @+1 {{'lowmem.relu' op failed to infer returned types}}
  %0 = "lowmem.relu"(%x) : (tensor<?x8xf32>) -> tensor<4x8xf32>
  return %0 : tensor<4x8xf32>
}

// -----

func.func @add_types(%x: tensor<?x8xf32>, %y: tensor<?x8xf16>) -> tensor<?x8xf32> {
  // expected-error @+1 {{'lowmem.add' op requires the same type for all operands and results}}
  %0 = "lowmem.add"(%x, %y) : (tensor<?x8xf32>, tensor<?x8xf16>) -> tensor<?x8xf32>
  return %0 : tensor<?x8xf32>
}

// -----

//===----------------------------------------------------------------------===//
// lowmem.group_norm
//===----------------------------------------------------------------------===//

func.func @group_norm_rank0(%x: tensor<f32>, %g: tensor<1xf32>, %b: tensor<1xf32>) -> tensor<f32> {
  // expected-error @+1 {{'lowmem.group_norm' op input must have rank >= 1}}
  %0 = lowmem.group_norm %x, %g, %b {epsilon = 1.0e-05 : f64, num_groups = 1 : i64} : tensor<f32>, tensor<1xf32>, tensor<1xf32> -> tensor<f32>
  return %0 : tensor<f32>
}

// -----

func.func @group_norm_dynamic_features(%x: tensor<4x?xf32>, %g: tensor<?xf32>, %b: tensor<?xf32>) -> tensor<4x?xf32> {
  // expected-error @+1 {{'lowmem.group_norm' op the normalized (last) dimension must be static}}
  %0 = lowmem.group_norm %x, %g, %b {epsilon = 1.0e-05 : f64, num_groups = 1 : i64} : tensor<4x?xf32>, tensor<?xf32>, tensor<?xf32> -> tensor<4x?xf32>
  return %0 : tensor<4x?xf32>
}

// -----

func.func @group_norm_groups_divide(%x: tensor<?x8xf32>, %g: tensor<8xf32>, %b: tensor<8xf32>) -> tensor<?x8xf32> {
  // expected-error @+1 {{'lowmem.group_norm' op num_groups (3) must divide the number of features (8)}}
  %0 = lowmem.group_norm %x, %g, %b {epsilon = 1.0e-05 : f64, num_groups = 3 : i64} : tensor<?x8xf32>, tensor<8xf32>, tensor<8xf32> -> tensor<?x8xf32>
  return %0 : tensor<?x8xf32>
}

// -----

func.func @group_norm_groups_positive(%x: tensor<?x8xf32>, %g: tensor<8xf32>, %b: tensor<8xf32>) -> tensor<?x8xf32> {
  // expected-error @+1 {{'lowmem.group_norm' op attribute 'num_groups' failed to satisfy constraint: 64-bit signless integer attribute whose value is positive}}
  %0 = lowmem.group_norm %x, %g, %b {epsilon = 1.0e-05 : f64, num_groups = 0 : i64} : tensor<?x8xf32>, tensor<8xf32>, tensor<8xf32> -> tensor<?x8xf32>
  return %0 : tensor<?x8xf32>
}

// -----

func.func @group_norm_gamma_shape(%x: tensor<?x8xf32>, %g: tensor<4xf32>, %b: tensor<8xf32>) -> tensor<?x8xf32> {
  // expected-error @+1 {{'lowmem.group_norm' op gamma must have shape [8], got [4]}}
  %0 = lowmem.group_norm %x, %g, %b {epsilon = 1.0e-05 : f64, num_groups = 2 : i64} : tensor<?x8xf32>, tensor<4xf32>, tensor<8xf32> -> tensor<?x8xf32>
  return %0 : tensor<?x8xf32>
}

// -----

func.func @group_norm_gamma_element_type(%x: tensor<?x8xf32>, %g: tensor<8xf16>, %b: tensor<8xf32>) -> tensor<?x8xf32> {
  // expected-error @+1 {{'lowmem.group_norm' op gamma element type 'f16' must be 'f32'}}
  %0 = lowmem.group_norm %x, %g, %b {epsilon = 1.0e-05 : f64, num_groups = 2 : i64} : tensor<?x8xf32>, tensor<8xf16>, tensor<8xf32> -> tensor<?x8xf32>
  return %0 : tensor<?x8xf32>
}

// -----

func.func @group_norm_beta_shape(%x: tensor<?x8xf32>, %g: tensor<8xf32>, %b: tensor<2x8xf32>) -> tensor<?x8xf32> {
  // expected-error @+1 {{'lowmem.group_norm' op beta must have shape [8], got [2, 8]}}
  %0 = lowmem.group_norm %x, %g, %b {epsilon = 1.0e-05 : f64, num_groups = 2 : i64} : tensor<?x8xf32>, tensor<8xf32>, tensor<2x8xf32> -> tensor<?x8xf32>
  return %0 : tensor<?x8xf32>
}

// -----

func.func @group_norm_beta_element_type(%x: tensor<?x8xbf16>, %g: tensor<8xbf16>, %b: tensor<8xf32>) -> tensor<?x8xbf16> {
  // expected-error @+1 {{'lowmem.group_norm' op beta element type 'f32' must be 'bf16'}}
  %0 = lowmem.group_norm %x, %g, %b {epsilon = 1.0e-05 : f64, num_groups = 2 : i64} : tensor<?x8xbf16>, tensor<8xbf16>, tensor<8xf32> -> tensor<?x8xbf16>
  return %0 : tensor<?x8xbf16>
}

// -----

func.func @group_norm_result_type(%x: tensor<?x8xf32>, %g: tensor<8xf32>, %b: tensor<8xf32>) -> tensor<4x8xf32> {
  // expected-error @+1 {{'lowmem.group_norm' op result type 'tensor<4x8xf32>' must equal the input type 'tensor<?x8xf32>'}}
  %0 = lowmem.group_norm %x, %g, %b {epsilon = 1.0e-05 : f64, num_groups = 2 : i64} : tensor<?x8xf32>, tensor<8xf32>, tensor<8xf32> -> tensor<4x8xf32>
  return %0 : tensor<4x8xf32>
}

// -----

func.func @group_norm_epsilon_zero(%x: tensor<?x8xf32>, %g: tensor<8xf32>, %b: tensor<8xf32>) -> tensor<?x8xf32> {
  // expected-error @+1 {{'lowmem.group_norm' op epsilon must be positive, got 0.000000e+00}}
  %0 = lowmem.group_norm %x, %g, %b {epsilon = 0.0 : f64, num_groups = 2 : i64} : tensor<?x8xf32>, tensor<8xf32>, tensor<8xf32> -> tensor<?x8xf32>
  return %0 : tensor<?x8xf32>
}

// -----

func.func @group_norm_epsilon_negative(%x: tensor<?x8xf32>, %g: tensor<8xf32>, %b: tensor<8xf32>) -> tensor<?x8xf32> {
  // expected-error @+1 {{'lowmem.group_norm' op epsilon must be positive, got -1.000000e+00}}
  %0 = lowmem.group_norm %x, %g, %b {epsilon = -1.0 : f64, num_groups = 2 : i64} : tensor<?x8xf32>, tensor<8xf32>, tensor<8xf32> -> tensor<?x8xf32>
  return %0 : tensor<?x8xf32>
}

// -----

func.func @weight_grad_rank(%dy: tensor<16xf32>, %x: tensor<8xf32>) -> tensor<16x8xf32> {
  // expected-error @+1 {{'lowmem.weight_grad' op grad_out and input must have the same rank >= 2, got shapes [16] and [8]}}
  %0 = lowmem.weight_grad %dy, %x : tensor<16xf32>, tensor<8xf32> -> tensor<16x8xf32>
  return %0 : tensor<16x8xf32>
}

// -----

func.func @weight_grad_leading(%dy: tensor<3x16xf32>, %x: tensor<4x8xf32>) -> tensor<16x8xf32> {
  // expected-error @+1 {{'lowmem.weight_grad' op grad_out and input must share their leading dimensions, got shapes [3, 16] and [4, 8]}}
  %0 = lowmem.weight_grad %dy, %x : tensor<3x16xf32>, tensor<4x8xf32> -> tensor<16x8xf32>
  return %0 : tensor<16x8xf32>
}

// -----

func.func @weight_grad_types(%dy: tensor<?x16xf16>, %x: tensor<?x8xf32>) -> tensor<16x8xf32> {
  // expected-error @+1 {{'lowmem.weight_grad' op element types of grad_out, input and result must agree}}
  %0 = lowmem.weight_grad %dy, %x : tensor<?x16xf16>, tensor<?x8xf32> -> tensor<16x8xf32>
  return %0 : tensor<16x8xf32>
}

// -----

func.func @weight_grad_result(%dy: tensor<?x16xf32>, %x: tensor<?x8xf32>) -> tensor<8x16xf32> {
  // expected-error @+1 {{'lowmem.weight_grad' op result shape [8, 16] must be the static [16, 8] (grad_out's features, input's features)}}
  %0 = lowmem.weight_grad %dy, %x : tensor<?x16xf32>, tensor<?x8xf32> -> tensor<8x16xf32>
  return %0 : tensor<8x16xf32>
}

// -----

func.func @mse_loss_f16(%y: tensor<?x16xf16>, %t: tensor<?x16xf16>) -> tensor<f32> {
  // expected-error @+1 {{'lowmem.mse_loss' op computes in f32, got 'f16'}}
  %0 = lowmem.mse_loss %y, %t : tensor<?x16xf16> -> tensor<f32>
  return %0 : tensor<f32>
}

// -----

func.func @cross_entropy_f16(%y: tensor<?x10xf16>, %l: tensor<?xi64>) -> tensor<f32> {
  // expected-error @+1 {{'lowmem.cross_entropy_loss' op computes in f32, got 'f16'}}
  %0 = lowmem.cross_entropy_loss %y, %l : tensor<?x10xf16>, tensor<?xi64> -> tensor<f32>
  return %0 : tensor<f32>
}

// -----

func.func @cross_entropy_rank(%y: tensor<10xf32>, %l: tensor<i64>) -> tensor<f32> {
  // expected-error @+1 {{'lowmem.cross_entropy_loss' op needs logits of rank 2 or more ([..., classes]), got 'tensor<10xf32>'}}
  %0 = lowmem.cross_entropy_loss %y, %l : tensor<10xf32>, tensor<i64> -> tensor<f32>
  return %0 : tensor<f32>
}

// -----

func.func @cross_entropy_labels(%y: tensor<4x10xf32>, %l: tensor<5xi64>) -> tensor<4x10xf32> {
  // expected-error @+1 {{'lowmem.cross_entropy_loss_grad' op labels 'tensor<5xi64>' must have the leading shape of the logits 'tensor<4x10xf32>'}}
  %0 = lowmem.cross_entropy_loss_grad %y, %l : tensor<4x10xf32>, tensor<5xi64>
  return %0 : tensor<4x10xf32>
}

// -----

func.func @dropout_probability(%x: tensor<?x16xf32>, %h: tensor<4xf32>) -> tensor<?x16xf32> {
  // expected-error @+1 {{'lowmem.dropout' op probability must be in [0, 1), got 1}}
  %0 = lowmem.dropout %x, %h {probability = 1.0 : f64, stream = 0 : i64} : tensor<?x16xf32>
  return %0 : tensor<?x16xf32>
}

// -----

func.func @dropout_stream(%x: tensor<?x16xf32>, %h: tensor<4xf32>) -> tensor<?x16xf32> {
  // expected-error @+1 {{'lowmem.dropout' op stream must be non-negative, got -1}}
  %0 = lowmem.dropout %x, %h {probability = 0.5 : f64, stream = -1 : i64} : tensor<?x16xf32>
  return %0 : tensor<?x16xf32>
}

// -----

func.func @dropout_f16(%x: tensor<?x16xf16>, %h: tensor<4xf32>) -> tensor<?x16xf16> {
  // expected-error @+1 {{'lowmem.dropout' op computes in f32, got 'f16'}}
  %0 = lowmem.dropout %x, %h {probability = 0.5 : f64, stream = 0 : i64} : tensor<?x16xf16>
  return %0 : tensor<?x16xf16>
}

// -----

func.func @group_norm_grad_dy(%dy: tensor<?x4xf32>, %x: tensor<?x8xf32>, %g: tensor<8xf32>) {
  // expected-error @+1 {{'lowmem.group_norm_grad' op grad_out type 'tensor<?x4xf32>' must equal the input type 'tensor<?x8xf32>'}}
  %dx, %dg, %db = lowmem.group_norm_grad %dy, %x, %g {epsilon = 1.0e-05 : f64, num_groups = 1 : i64} : tensor<?x4xf32>, tensor<?x8xf32>, tensor<8xf32> -> tensor<?x8xf32>, tensor<8xf32>, tensor<8xf32>
  return
}

// -----

func.func @group_norm_grad_dx(%dy: tensor<?x8xf32>, %x: tensor<?x8xf32>, %g: tensor<8xf32>) {
  // expected-error @+1 {{'lowmem.group_norm_grad' op grad_input type 'tensor<2x8xf32>' must equal the input type 'tensor<?x8xf32>'}}
  %dx, %dg, %db = lowmem.group_norm_grad %dy, %x, %g {epsilon = 1.0e-05 : f64, num_groups = 1 : i64} : tensor<?x8xf32>, tensor<?x8xf32>, tensor<8xf32> -> tensor<2x8xf32>, tensor<8xf32>, tensor<8xf32>
  return
}

// -----

func.func @group_norm_grad_dgamma(%dy: tensor<?x8xf32>, %x: tensor<?x8xf32>, %g: tensor<8xf32>) {
  // expected-error @+1 {{'lowmem.group_norm_grad' op grad_gamma and grad_beta must have gamma's type 'tensor<8xf32>'}}
  %dx, %dg, %db = lowmem.group_norm_grad %dy, %x, %g {epsilon = 1.0e-05 : f64, num_groups = 1 : i64} : tensor<?x8xf32>, tensor<?x8xf32>, tensor<8xf32> -> tensor<?x8xf32>, tensor<8xf32>, tensor<4xf32>
  return
}

// -----

func.func @group_norm_grad_groups(%dy: tensor<?x8xf32>, %x: tensor<?x8xf32>, %g: tensor<8xf32>) {
  // expected-error @+1 {{'lowmem.group_norm_grad' op num_groups (3) must divide the number of features (8)}}
  %dx, %dg, %db = lowmem.group_norm_grad %dy, %x, %g {epsilon = 1.0e-05 : f64, num_groups = 3 : i64} : tensor<?x8xf32>, tensor<?x8xf32>, tensor<8xf32> -> tensor<?x8xf32>, tensor<8xf32>, tensor<8xf32>
  return
}

// -----

func.func @bias_grad_result(%dy: tensor<?x8xf32>) -> tensor<4xf32> {
  // expected-error @+1 {{'lowmem.bias_grad' op result type 'tensor<4xf32>' must be 'tensor<8xf32>' (grad_out's last dimension and element type)}}
  %0 = lowmem.bias_grad %dy : tensor<?x8xf32> -> tensor<4xf32>
  return %0 : tensor<4xf32>
}

// -----

func.func @sgd_f16(%p: tensor<4xf16>, %h: tensor<4xf32>, %l: tensor<f32>) -> tensor<4xf16> {
  // expected-error @+1 {{'lowmem.sgd' op updates f32 parameters, got 'f16'}}
  %0 = lowmem.sgd %p, %p, %h, %l : tensor<4xf16>
  return %0 : tensor<4xf16>
}

// -----

func.func @sgd_momentum_range(%p: tensor<4xf32>, %h: tensor<4xf32>, %l: tensor<f32>) {
  // expected-error @+1 {{'lowmem.sgd' op momentum must be in [0, 1), got 1}}
  %0, %1 = lowmem.sgd %p, %p, %h, %l momentum_buffer(%p : tensor<4xf32>) {momentum = 1.0 : f64} : tensor<4xf32>, tensor<4xf32>
  return
}

// -----

func.func @sgd_decay(%p: tensor<4xf32>, %h: tensor<4xf32>, %l: tensor<f32>) {
  // expected-error @+1 {{'lowmem.sgd' op weight_decay must be non-negative, got -1.000000e-01}}
  %0 = lowmem.sgd %p, %p, %h, %l {weight_decay = -0.1 : f64} : tensor<4xf32>
  return
}

// -----

func.func @sgd_buffer_without_momentum(%p: tensor<4xf32>, %h: tensor<4xf32>, %l: tensor<f32>) {
  // expected-error @+1 {{'lowmem.sgd' op momentum_buffer given without momentum}}
  %0, %1 = lowmem.sgd %p, %p, %h, %l momentum_buffer(%p : tensor<4xf32>) : tensor<4xf32>, tensor<4xf32>
  return
}

// -----

func.func @sgd_momentum_without_buffer(%p: tensor<4xf32>, %h: tensor<4xf32>, %l: tensor<f32>) {
  // expected-error @+1 {{'lowmem.sgd' op momentum needs a momentum_buffer}}
  %0 = lowmem.sgd %p, %p, %h, %l {momentum = 0.9 : f64} : tensor<4xf32>
  return
}

// -----

func.func @sgd_new_buffer(%p: tensor<4xf32>, %h: tensor<4xf32>, %l: tensor<f32>) {
  // expected-error @+1 {{'lowmem.sgd' op returns a new momentum buffer exactly when it takes one}}
  %0, %1 = lowmem.sgd %p, %p, %h, %l : tensor<4xf32>, tensor<4xf32>
  return
}

// -----

func.func @sgd_buffer_type(%p: tensor<4xf32>, %m: tensor<2xf32>, %h: tensor<4xf32>, %l: tensor<f32>) {
  // expected-error @+1 {{'lowmem.sgd' op momentum buffers must have the parameter's type 'tensor<4xf32>'}}
  %0, %1 = lowmem.sgd %p, %p, %h, %l momentum_buffer(%m : tensor<2xf32>) {momentum = 0.9 : f64} : tensor<4xf32>, tensor<2xf32>
  return
}

// -----

func.func @sgd_hyper(%p: tensor<4xf32>, %h: tensor<3xf32>, %l: tensor<f32>) {
  // expected-error @+1 {{operand #2 must be tensor<4xf32> of run-time hyperparameters}}
  %0 = "lowmem.sgd"(%p, %p, %h, %l) {operandSegmentSizes = array<i32: 1, 1, 1, 1, 0>} : (tensor<4xf32>, tensor<4xf32>, tensor<3xf32>, tensor<f32>) -> tensor<4xf32>
  return
}

// -----

func.func @adamw_f16(%p: tensor<4xf16>, %h: tensor<4xf32>, %l: tensor<f32>) {
  // expected-error @+1 {{'lowmem.adamw' op updates f32 parameters, got 'f16'}}
  %0, %1, %2 = lowmem.adamw %p, %p, %p, %p, %h, %l : tensor<4xf16>
  return
}

// -----

func.func @adamw_beta(%p: tensor<4xf32>, %h: tensor<4xf32>, %l: tensor<f32>) {
  // expected-error @+1 {{'lowmem.adamw' op beta2 must be in [0, 1), got 1}}
  %0, %1, %2 = lowmem.adamw %p, %p, %p, %p, %h, %l {beta2 = 1.0 : f64} : tensor<4xf32>
  return
}

// -----

func.func @adamw_epsilon(%p: tensor<4xf32>, %h: tensor<4xf32>, %l: tensor<f32>) {
  // expected-error @+1 {{'lowmem.adamw' op epsilon must be positive, got 0}}
  %0, %1, %2 = lowmem.adamw %p, %p, %p, %p, %h, %l {epsilon = 0.0 : f64} : tensor<4xf32>
  return
}

// -----

func.func @adamw_decay(%p: tensor<4xf32>, %h: tensor<4xf32>, %l: tensor<f32>) {
  // expected-error @+1 {{'lowmem.adamw' op weight_decay must be non-negative, got -1}}
  %0, %1, %2 = lowmem.adamw %p, %p, %p, %p, %h, %l {weight_decay = -1.0 : f64} : tensor<4xf32>
  return
}

//===----------------------------------------------------------------------===//
// Transformer ops
//===----------------------------------------------------------------------===//

func.func @embedding_dynamic_table(%ids: tensor<?xi64>, %t: tensor<?x8xf32>) {
  // expected-error @+1 {{table must be a static [vocab, hidden] matrix, got 'tensor<?x8xf32>'}}
  %0 = lowmem.embedding %ids, %t : tensor<?xi64>, tensor<?x8xf32> -> tensor<?x8xf32>
  return
}

// -----

func.func @embedding_shape(%ids: tensor<2x3xi64>, %t: tensor<10x8xf32>) {
  // expected-error @+1 {{result 'tensor<2x3x4xf32>' must have the ids' shape [2, 3] followed by the hidden size 8}}
  %0 = lowmem.embedding %ids, %t : tensor<2x3xi64>, tensor<10x8xf32> -> tensor<2x3x4xf32>
  return
}

// -----

func.func @embedding_type(%ids: tensor<2xi64>, %t: tensor<10x8xf32>) {
  // expected-error @+1 {{result element type 'f16' must be 'f32'}}
  %0 = lowmem.embedding %ids, %t : tensor<2xi64>, tensor<10x8xf32> -> tensor<2x8xf16>
  return
}

// -----

func.func @rms_norm_weight(%x: tensor<?x8xf32>, %w: tensor<4xf32>) {
  // expected-error @+1 {{weight must have shape [8], got [4]}}
  %0 = lowmem.rms_norm %x, %w {epsilon = 1.0e-06 : f64} : tensor<?x8xf32>, tensor<4xf32> -> tensor<?x8xf32>
  return
}

// -----

func.func @rms_norm_epsilon(%x: tensor<?x8xf32>, %w: tensor<8xf32>) {
  // expected-error @+1 {{epsilon must be positive, got 0}}
  %0 = lowmem.rms_norm %x, %w {epsilon = 0.0 : f64} : tensor<?x8xf32>, tensor<8xf32> -> tensor<?x8xf32>
  return
}

// -----

func.func @rms_norm_result(%x: tensor<?x8xf32>, %w: tensor<8xf32>) {
  // expected-error @+1 {{result type 'tensor<4x8xf32>' must equal the input type 'tensor<?x8xf32>'}}
  %0 = lowmem.rms_norm %x, %w {epsilon = 1.0e-06 : f64} : tensor<?x8xf32>, tensor<8xf32> -> tensor<4x8xf32>
  return
}

// -----

func.func @rope_rank(%x: tensor<?x64xf32>, %f: tensor<8xf32>) {
  // expected-error @+1 {{input must be [batch, seq, heads x head_dim] with a static last dimension, got 'tensor<?x64xf32>'}}
  %0 = lowmem.rope %x, %f {head_dim = 16 : i64} : tensor<?x64xf32>, tensor<8xf32> -> tensor<?x64xf32>
  return
}

// -----

func.func @rope_odd(%x: tensor<?x?x63xf32>, %f: tensor<10xf32>) {
  // expected-error @+1 {{head_dim must be even, got 21}}
  %0 = lowmem.rope %x, %f {head_dim = 21 : i64} : tensor<?x?x63xf32>, tensor<10xf32> -> tensor<?x?x63xf32>
  return
}

// -----

func.func @rope_divides(%x: tensor<?x?x60xf32>, %f: tensor<8xf32>) {
  // expected-error @+1 {{head_dim (16) must divide the last dimension (60)}}
  %0 = lowmem.rope %x, %f {head_dim = 16 : i64} : tensor<?x?x60xf32>, tensor<8xf32> -> tensor<?x?x60xf32>
  return
}

// -----

func.func @rope_freq(%x: tensor<?x?x64xf32>, %f: tensor<16xf32>) {
  // expected-error @+1 {{inv_freq must have shape [8], got [16]}}
  %0 = lowmem.rope %x, %f {head_dim = 16 : i64} : tensor<?x?x64xf32>, tensor<16xf32> -> tensor<?x?x64xf32>
  return
}

// -----

func.func @rope_freq_type(%x: tensor<?x?x64xf32>, %f: tensor<8xf16>) {
  // expected-error @+1 {{inv_freq element type 'f16' must be 'f32'}}
  %0 = lowmem.rope %x, %f {head_dim = 16 : i64} : tensor<?x?x64xf32>, tensor<8xf16> -> tensor<?x?x64xf32>
  return
}

// -----

func.func @rope_offset(%x: tensor<?x?x64xf32>, %f: tensor<8xf32>) {
  // expected-error @+1 {{position_offset must be non-negative, got -1}}
  %0 = lowmem.rope %x, %f {head_dim = 16 : i64, position_offset = -1 : i64} : tensor<?x?x64xf32>, tensor<8xf32> -> tensor<?x?x64xf32>
  return
}

// -----

func.func @rope_result(%x: tensor<?x?x64xf32>, %f: tensor<8xf32>) {
  // expected-error @+1 {{result type 'tensor<1x?x64xf32>' must equal the input type 'tensor<?x?x64xf32>'}}
  %0 = lowmem.rope %x, %f {head_dim = 16 : i64} : tensor<?x?x64xf32>, tensor<8xf32> -> tensor<1x?x64xf32>
  return
}

// -----

func.func @attention_rank(%q: tensor<?x64xf32>, %k: tensor<?x?x32xf32>) {
  // expected-error @+1 {{query must be [batch, seq, heads x head_dim] with a static last dimension, got 'tensor<?x64xf32>'}}
  %0 = lowmem.attention %q, %k, %k {num_heads = 4 : i64, num_kv_heads = 2 : i64, scale = 0.25 : f64} : tensor<?x64xf32>, tensor<?x?x32xf32>, tensor<?x?x32xf32> -> tensor<?x64xf32>
  return
}

// -----

func.func @attention_type(%q: tensor<?x?x64xf32>, %k: tensor<?x?x32xf16>, %v: tensor<?x?x32xbf16>) {
  // expected-error @+1 {{value element type 'bf16' must be 'f16'}}
  %0 = lowmem.attention %q, %k, %v {num_heads = 4 : i64, num_kv_heads = 2 : i64, scale = 0.25 : f64} : tensor<?x?x64xf32>, tensor<?x?x32xf16>, tensor<?x?x32xbf16> -> tensor<?x?x64xf32>
  return
}

// -----

func.func @attention_grad_type(%q: tensor<?x?x64xf32>, %k: tensor<?x?x32xf16>) {
  // expected-error @+1 {{key element type 'f16' must be 'f32'}}
  %0:3 = lowmem.attention_grad %q, %q, %k, %k, %q {num_heads = 4 : i64, num_kv_heads = 2 : i64, scale = 0.25 : f64} : tensor<?x?x64xf32>, tensor<?x?x64xf32>, tensor<?x?x32xf16>, tensor<?x?x32xf16>, tensor<?x?x64xf32> -> tensor<?x?x64xf32>, tensor<?x?x32xf16>, tensor<?x?x32xf16>
  return
}

// -----

func.func @attention_groups(%q: tensor<?x?x64xf32>, %k: tensor<?x?x48xf32>) {
  // expected-error @+1 {{num_kv_heads (3) must divide num_heads (4)}}
  %0 = lowmem.attention %q, %k, %k {num_heads = 4 : i64, num_kv_heads = 3 : i64, scale = 0.25 : f64} : tensor<?x?x64xf32>, tensor<?x?x48xf32>, tensor<?x?x48xf32> -> tensor<?x?x64xf32>
  return
}

// -----

func.func @attention_heads(%q: tensor<?x?x60xf32>, %k: tensor<?x?x30xf32>) {
  // expected-error @+1 {{num_heads (8) must divide the query's last dimension (60)}}
  %0 = lowmem.attention %q, %k, %k {num_heads = 8 : i64, num_kv_heads = 2 : i64, scale = 0.25 : f64} : tensor<?x?x60xf32>, tensor<?x?x30xf32>, tensor<?x?x30xf32> -> tensor<?x?x60xf32>
  return
}

// -----

func.func @attention_kv_features(%q: tensor<?x?x64xf32>, %k: tensor<?x?x16xf32>) {
  // expected-error @+1 {{key and value must have num_kv_heads x head_dim = 32 features, got 16 and 16}}
  %0 = lowmem.attention %q, %k, %k {num_heads = 4 : i64, num_kv_heads = 2 : i64, scale = 0.25 : f64} : tensor<?x?x64xf32>, tensor<?x?x16xf32>, tensor<?x?x16xf32> -> tensor<?x?x64xf32>
  return
}

// -----

func.func @attention_kv_length(%q: tensor<?x?x64xf32>, %k: tensor<2x5x32xf32>, %v: tensor<2x6x32xf32>) {
  // expected-error @+1 {{key 'tensor<2x5x32xf32>' and value 'tensor<2x6x32xf32>' must have the same batch and length}}
  %0 = lowmem.attention %q, %k, %v {num_heads = 4 : i64, num_kv_heads = 2 : i64, scale = 0.25 : f64} : tensor<?x?x64xf32>, tensor<2x5x32xf32>, tensor<2x6x32xf32> -> tensor<?x?x64xf32>
  return
}

// -----

func.func @attention_batch(%q: tensor<3x?x64xf32>, %k: tensor<2x5x32xf32>) {
  // expected-error @+1 {{query 'tensor<3x?x64xf32>' and key 'tensor<2x5x32xf32>' must have the same batch}}
  %0 = lowmem.attention %q, %k, %k {num_heads = 4 : i64, num_kv_heads = 2 : i64, scale = 0.25 : f64} : tensor<3x?x64xf32>, tensor<2x5x32xf32>, tensor<2x5x32xf32> -> tensor<3x?x64xf32>
  return
}

// -----

func.func @attention_causal(%q: tensor<2x6x64xf32>, %k: tensor<2x5x32xf32>) {
  // expected-error @+1 {{causal attention needs at least as many keys (5) as queries (6)}}
  %0 = lowmem.attention %q, %k, %k {causal, num_heads = 4 : i64, num_kv_heads = 2 : i64, scale = 0.25 : f64} : tensor<2x6x64xf32>, tensor<2x5x32xf32>, tensor<2x5x32xf32> -> tensor<2x6x64xf32>
  return
}

// -----

func.func @attention_scale(%q: tensor<?x?x64xf32>, %k: tensor<?x?x32xf32>) {
  // expected-error @+1 {{scale must be positive, got -1}}
  %0 = lowmem.attention %q, %k, %k {num_heads = 4 : i64, num_kv_heads = 2 : i64, scale = -1.0 : f64} : tensor<?x?x64xf32>, tensor<?x?x32xf32>, tensor<?x?x32xf32> -> tensor<?x?x64xf32>
  return
}

// -----

func.func @attention_result(%q: tensor<?x?x64xf32>, %k: tensor<?x?x32xf32>) {
  // expected-error @+1 {{result type 'tensor<?x?x32xf32>' must equal the query type 'tensor<?x?x64xf32>'}}
  %0 = lowmem.attention %q, %k, %k {num_heads = 4 : i64, num_kv_heads = 2 : i64, scale = 0.25 : f64} : tensor<?x?x64xf32>, tensor<?x?x32xf32>, tensor<?x?x32xf32> -> tensor<?x?x32xf32>
  return
}

// -----

func.func @rms_norm_grad_type(%dy: tensor<?x8xf32>, %x: tensor<?x9xf32>, %w: tensor<9xf32>) {
  // expected-error @+1 {{grad_out and grad_input must have the input type 'tensor<?x9xf32>'}}
  %0 = lowmem.rms_norm_grad %dy, %x, %w {epsilon = 1.0e-06 : f64} : tensor<?x8xf32>, tensor<?x9xf32>, tensor<9xf32> -> tensor<?x9xf32>
  return
}

// -----

func.func @swiglu_grad_types(%dy: tensor<?x8xf32>, %g: tensor<?x9xf32>) {
  // expected-error @+1 {{failed to verify that all of {grad_out, gate, up, grad_gate, grad_up} have same type}}
  %0:2 = "lowmem.swiglu_grad"(%dy, %g, %g) : (tensor<?x8xf32>, tensor<?x9xf32>, tensor<?x9xf32>) -> (tensor<?x8xf32>, tensor<?x8xf32>)
  return
}

// -----

func.func @attention_grad_operands(%q: tensor<?x?x64xf32>, %k: tensor<?x?x48xf32>) {
  // expected-error @+1 {{num_kv_heads (3) must divide num_heads (4)}}
  %0:3 = lowmem.attention_grad %q, %q, %k, %k, %q {num_heads = 4 : i64, num_kv_heads = 3 : i64, scale = 0.25 : f64} : tensor<?x?x64xf32>, tensor<?x?x64xf32>, tensor<?x?x48xf32>, tensor<?x?x48xf32>, tensor<?x?x64xf32> -> tensor<?x?x64xf32>, tensor<?x?x48xf32>, tensor<?x?x48xf32>
  return
}

// -----

func.func @attention_grad_output(%q: tensor<?x?x64xf32>, %k: tensor<?x?x32xf32>) {
  // expected-error @+1 {{grad_out, output and grad_query must have the query type 'tensor<?x?x64xf32>'}}
  %0:3 = lowmem.attention_grad %q, %q, %k, %k, %k {num_heads = 4 : i64, num_kv_heads = 2 : i64, scale = 0.25 : f64} : tensor<?x?x64xf32>, tensor<?x?x64xf32>, tensor<?x?x32xf32>, tensor<?x?x32xf32>, tensor<?x?x32xf32> -> tensor<?x?x64xf32>, tensor<?x?x32xf32>, tensor<?x?x32xf32>
  return
}

// -----

func.func @attention_grad_kv(%q: tensor<?x?x64xf32>, %k: tensor<?x?x32xf32>) {
  // expected-error @+1 {{grad_key and grad_value must have the key and value types}}
  %0:3 = lowmem.attention_grad %q, %q, %k, %k, %q {num_heads = 4 : i64, num_kv_heads = 2 : i64, scale = 0.25 : f64} : tensor<?x?x64xf32>, tensor<?x?x64xf32>, tensor<?x?x32xf32>, tensor<?x?x32xf32>, tensor<?x?x64xf32> -> tensor<?x?x64xf32>, tensor<?x?x64xf32>, tensor<?x?x32xf32>
  return
}

// -----

func.func @linear_ce_quantized_weight(%h: tensor<?x?x64xf32>, %w: !lowmem.qtensor<1000x32xf32, f16>, %l: tensor<?x?xi64>) {
  // expected-error @+1 {{weight must be a static [vocab, 64] matrix, got 'tensor<1000x32xf32>'}}
  %0:2 = lowmem.linear_cross_entropy %h, %w, %l : tensor<?x?x64xf32>, !lowmem.qtensor<1000x32xf32, f16>, tensor<?x?xi64> -> tensor<f32>, tensor<?x?xf32>
  return
}

// -----

func.func @embedding_quantized_table(%ids: tensor<2xi64>, %t: !lowmem.qtensor<10x8xf32, int8>) {
  // expected-error @+1 {{result 'tensor<2x4xf32>' must have the ids' shape [2] followed by the hidden size 8}}
  %0 = lowmem.embedding %ids, %t : tensor<2xi64>, !lowmem.qtensor<10x8xf32, int8> -> tensor<2x4xf32>
  return
}

// -----

func.func @linear_ce_weight(%h: tensor<?x?x64xf32>, %w: tensor<1000x32xf32>, %l: tensor<?x?xi64>) {
  // expected-error @+1 {{weight must be a static [vocab, 64] matrix, got 'tensor<1000x32xf32>'}}
  %0:2 = lowmem.linear_cross_entropy %h, %w, %l : tensor<?x?x64xf32>, tensor<1000x32xf32>, tensor<?x?xi64> -> tensor<f32>, tensor<?x?xf32>
  return
}

// -----

func.func @linear_ce_labels(%h: tensor<?x?x64xf32>, %w: tensor<1000x64xf32>, %l: tensor<?xi64>) {
  // expected-error @+1 {{labels 'tensor<?xi64>' must have the leading shape of the input 'tensor<?x?x64xf32>'}}
  %0:2 = lowmem.linear_cross_entropy %h, %w, %l : tensor<?x?x64xf32>, tensor<1000x64xf32>, tensor<?xi64> -> tensor<f32>, tensor<?xf32>
  return
}

// -----

func.func @linear_ce_lse(%h: tensor<?x?x64xf32>, %w: tensor<1000x64xf32>, %l: tensor<?x?xi64>) {
  // expected-error @+1 {{lse must be f32 of the labels' shape, got 'tensor<?xf32>'}}
  %0:2 = lowmem.linear_cross_entropy %h, %w, %l : tensor<?x?x64xf32>, tensor<1000x64xf32>, tensor<?x?xi64> -> tensor<f32>, tensor<?xf32>
  return
}

// -----

func.func @linear_ce_input(%h: tensor<64xf32>, %w: tensor<1000x64xf32>, %l: tensor<i64>) {
  // expected-error @+1 {{input must be [..., hidden] with a static hidden size, got 'tensor<64xf32>'}}
  %0:2 = lowmem.linear_cross_entropy %h, %w, %l : tensor<64xf32>, tensor<1000x64xf32>, tensor<i64> -> tensor<f32>, tensor<f32>
  return
}

// -----

func.func @linear_ce_grad(%h: tensor<?x?x64xf32>, %w: tensor<1000x64xf32>, %l: tensor<?x?xi64>, %lse: tensor<?x?xf32>) {
  // expected-error @+1 {{grad_input must have the input type 'tensor<?x?x64xf32>'}}
  %0 = lowmem.linear_cross_entropy_grad %h, %w, %l, %lse : tensor<?x?x64xf32>, tensor<1000x64xf32>, tensor<?x?xi64>, tensor<?x?xf32> -> tensor<?x?x32xf32>
  return
}

// -----

func.func @cache_update_rank(%r: tensor<?x32xf32>, %c: tensor<?x?x32xf16>, %p: index) {
  // expected-error @+1 {{rows must be [batch, positions, features] with a static last dimension, got 'tensor<?x32xf32>'}}
  %0 = lowmem.cache_update %r into %c[%p] : tensor<?x32xf32> into tensor<?x?x32xf16>
  return
}

// -----

func.func @cache_update_features(%r: tensor<?x?x16xf32>, %c: tensor<?x?x32xf16>, %p: index) {
  // expected-error @+1 {{rows 'tensor<?x?x16xf32>' must have the batch and features of the cache 'tensor<?x?x32xf16>'}}
  %0 = lowmem.cache_update %r into %c[%p] : tensor<?x?x16xf32> into tensor<?x?x32xf16>
  return
}

// -----

func.func @cache_update_batch(%r: tensor<2x?x32xf32>, %c: tensor<3x?x32xf16>, %p: index) {
  // expected-error @+1 {{must have the batch and features of the cache}}
  %0 = lowmem.cache_update %r into %c[%p] : tensor<2x?x32xf32> into tensor<3x?x32xf16>
  return
}

// -----

func.func @cache_update_capacity(%r: tensor<?x9x32xf32>, %c: tensor<?x8x32xf16>, %p: index) {
  // expected-error @+1 {{cannot write 9 positions into a cache of 8}}
  %0 = lowmem.cache_update %r into %c[%p] : tensor<?x9x32xf32> into tensor<?x8x32xf16>
  return
}

// -----

func.func @argmax_shape(%x: tensor<?x1x100xf32>) {
  // expected-error @+1 {{result 'tensor<?xi64>' must have the input's shape without its last dimension, [?, 1]}}
  %0 = lowmem.argmax %x : tensor<?x1x100xf32> -> tensor<?xi64>
  return
}

// -----

func.func @argmax_empty(%x: tensor<4x0xf32>) {
  // expected-error @+1 {{rows must not be empty}}
  %0 = lowmem.argmax %x : tensor<4x0xf32> -> tensor<4xi64>
  return
}

// -----

func.func @argmax_scalar(%x: tensor<f32>) {
  // expected-error @+1 {{input must have at least one dimension}}
  %0 = lowmem.argmax %x : tensor<f32> -> tensor<i64>
  return
}

// -----

func.func @argmax_result_type(%x: tensor<4x8xf32>) {
  // expected-error @+1 {{result #0 must be ranked tensor of 64-bit signless integer values}}
  %0 = lowmem.argmax %x : tensor<4x8xf32> -> tensor<4xi32>
  return
}

// -----

func.func @cache_update_codes(%r: tensor<?x?x32xf32>, %c: tensor<?x?x32xi8>, %p: index) {
  // expected-error @+1 {{rows of 'f32' cannot be written into a cache of 'i8'; int8 codes go into an int8 cache as they are}}
  %0 = lowmem.cache_update %r into %c[%p] : tensor<?x?x32xf32> into tensor<?x?x32xi8>
  return
}

// -----

func.func @attention_codes_without_scales(%q: tensor<?x?x64xf32>, %k: tensor<?x?x32xi8>) {
  // expected-error @+1 {{int8 keys and values need their scales}}
  %0 = lowmem.attention %q, %k, %k {num_heads = 4 : i64, num_kv_heads = 2 : i64, scale = 0.25 : f64} : tensor<?x?x64xf32>, tensor<?x?x32xi8>, tensor<?x?x32xi8> -> tensor<?x?x64xf32>
  return
}

// -----

func.func @attention_scales_of_floats(%q: tensor<?x?x64xf32>, %k: tensor<?x?x32xf16>, %s: tensor<?x?x2xf32>) {
  // expected-error @+1 {{scales apply to int8 keys and values only}}
  %0 = lowmem.attention %q, %k, %k scales(%s, %s : tensor<?x?x2xf32>, tensor<?x?x2xf32>) {num_heads = 4 : i64, num_kv_heads = 2 : i64, scale = 0.25 : f64} : tensor<?x?x64xf32>, tensor<?x?x32xf16>, tensor<?x?x32xf16> -> tensor<?x?x64xf32>
  return
}

// -----

func.func @attention_scales_shape(%q: tensor<?x?x64xf32>, %k: tensor<?x?x32xi8>, %s: tensor<?x?x4xf32>) {
  // expected-error @+1 {{scales must be [batch, keys, num_kv_heads] = [?, ?, 2], got 'tensor<?x?x4xf32>'}}
  %0 = lowmem.attention %q, %k, %k scales(%s, %s : tensor<?x?x4xf32>, tensor<?x?x4xf32>) {num_heads = 4 : i64, num_kv_heads = 2 : i64, scale = 0.25 : f64} : tensor<?x?x64xf32>, tensor<?x?x32xi8>, tensor<?x?x32xi8> -> tensor<?x?x64xf32>
  return
}

// -----

func.func @quantize_groups_divides(%x: tensor<?x?x30xf32>) {
  // expected-error @+1 {{group_size (16) must divide the last dimension (30)}}
  %0:2 = lowmem.quantize_groups %x {group_size = 16 : i64} : tensor<?x?x30xf32> -> tensor<?x?x30xi8>, tensor<?x?x2xf32>
  return
}

// -----

func.func @quantize_groups_shapes(%x: tensor<?x?x32xf32>) {
  // expected-error @+1 {{codes and scales must have shapes [?, ?, 32] and [?, ?, 2], got 'tensor<?x?x32xi8>' and 'tensor<?x?x4xf32>'}}
  %0:2 = lowmem.quantize_groups %x {group_size = 16 : i64} : tensor<?x?x32xf32> -> tensor<?x?x32xi8>, tensor<?x?x4xf32>
  return
}

// -----

func.func @quantize_groups_dynamic(%x: tensor<?x?xf32>) {
  // expected-error @+1 {{input must have a static last dimension, got 'tensor<?x?xf32>'}}
  %0:2 = lowmem.quantize_groups %x {group_size = 16 : i64} : tensor<?x?xf32> -> tensor<?x?xi8>, tensor<?x?xf32>
  return
}

// -----

func.func @attention_one_scale(%q: tensor<?x?x64xf32>, %k: tensor<?x?x32xi8>, %s: tensor<?x?x2xf32>) {
  // expected-error @+1 {{key and value scales go together}}
  %0 = "lowmem.attention"(%q, %k, %k, %s) <{num_heads = 4 : i64, num_kv_heads = 2 : i64, operandSegmentSizes = array<i32: 1, 1, 1, 1, 0, 0>, scale = 2.5e-01 : f64}> : (tensor<?x?x64xf32>, tensor<?x?x32xi8>, tensor<?x?x32xi8>, tensor<?x?x2xf32>) -> tensor<?x?x64xf32>
  return
}

// -----

func.func @rope_row_starts(%x: tensor<2x?x64xf32>, %f: tensor<8xf32>, %s: tensor<3xi64>) {
  // expected-error @+1 {{row_starts must be one position a batch row, [2], got 'tensor<3xi64>'}}
  %0 = lowmem.rope %x, %f row_starts(%s : tensor<3xi64>) {head_dim = 16 : i64} : tensor<2x?x64xf32>, tensor<8xf32> -> tensor<2x?x64xf32>
  return
}

// -----

func.func @attention_key_starts(%q: tensor<?x?x64xf32>, %k: tensor<?x?x32xf32>, %s: tensor<?x?xi64>) {
  // expected-error @+1 {{key_starts must be one position a batch row, [?], got 'tensor<?x?xi64>'}}
  %0 = lowmem.attention %q, %k, %k key_starts(%s : tensor<?x?xi64>) {causal, num_heads = 4 : i64, num_kv_heads = 2 : i64, scale = 0.25 : f64} : tensor<?x?x64xf32>, tensor<?x?x32xf32>, tensor<?x?x32xf32> -> tensor<?x?x64xf32>
  return
}
