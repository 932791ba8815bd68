// RUN: lowmem-opt %s -split-input-file --lowmem-materialize-storage -verify-diagnostics

// lowmem.quantize can only be folded when its input is a dense f32 constant.

func.func @quantize_argument(%x: tensor<?x8xf32>, %w: tensor<8x8xf32>) -> tensor<?x8xf32> {
  // expected-error @+1 {{'lowmem.quantize' op can only be evaluated at compile time on a dense constant; make the weight a function argument marked lowmem.param}}
  %q = lowmem.quantize %w : tensor<8x8xf32> -> !lowmem.qtensor<8x8xf32, nf4>
  %0 = lowmem.qlinear %x, %q : tensor<?x8xf32>, !lowmem.qtensor<8x8xf32, nf4> -> tensor<?x8xf32>
  return %0 : tensor<?x8xf32>
}

// -----

func.func @quantize_computed(%x: tensor<?x8xf32>, %w: tensor<8x8xf32>) -> tensor<?x8xf32> {
  %r = lowmem.relu %w : tensor<8x8xf32>
  // expected-error @+1 {{'lowmem.quantize' op can only be evaluated at compile time on a dense constant; make the weight a function argument marked lowmem.param}}
  %q = lowmem.quantize %r : tensor<8x8xf32> -> !lowmem.qtensor<8x8xf32, int8>
  %0 = lowmem.qlinear %x, %q : tensor<?x8xf32>, !lowmem.qtensor<8x8xf32, int8> -> tensor<?x8xf32>
  return %0 : tensor<?x8xf32>
}

// -----

func.func @quantize_f16_constant(%x: tensor<?x8xf16>) -> tensor<?x8xf16> {
  %w = arith.constant dense<1.0> : tensor<8x8xf16>
  // expected-error @+1 {{'lowmem.quantize' op compile-time quantization needs an f32 constant}}
  %q = lowmem.quantize %w : tensor<8x8xf16> -> !lowmem.qtensor<8x8xf16, int8>
  %0 = lowmem.qlinear %x, %q : tensor<?x8xf16>, !lowmem.qtensor<8x8xf16, int8> -> tensor<?x8xf16>
  return %0 : tensor<?x8xf16>
}
