// RUN: lowmem-opt %s -split-input-file --lowmem-differentiate=optimizer=none -verify-diagnostics
// RUN: not lowmem-opt %s -split-input-file --lowmem-differentiate=loss=huber 2>&1 | FileCheck %s --check-prefix=LOSS
// RUN: not lowmem-opt %s -split-input-file --lowmem-differentiate="optimizer=sgd momentum=1.5" 2>&1 | FileCheck %s --check-prefix=MOMENTUM
// RUN: not lowmem-opt %s -split-input-file --lowmem-differentiate="entry=model" 2>&1 | FileCheck %s --check-prefix=ENTRY

// LOSS: error: unsupported loss 'huber'; expected mse
// MOMENTUM: error: momentum must be in [0, 1), got 1.5
// ENTRY: error: no function 'model' to differentiate

// expected-error @+1 {{no trainable parameters: attach adapters (lowmem-attach-lora, lowmem-compile --lora-rank) or mark parameters lowmem.trainable}}
func.func @forward(%x: tensor<?x4xf32> {lowmem.input = "x"},
                   %w: tensor<4x4xf32> {lowmem.param = "l.weight"}) -> tensor<?x4xf32> {
  %0 = lowmem.linear %x, %w : tensor<?x4xf32>, tensor<4x4xf32> -> tensor<?x4xf32>
  return %0 : tensor<?x4xf32>
}

// -----

// expected-error @+1 {{can only differentiate a function with one block and one result (the prediction)}}
func.func @forward(%x: tensor<?x4xf32> {lowmem.input = "x"},
                   %w: tensor<4x4xf32> {lowmem.param = "l.weight", lowmem.trainable}) -> (tensor<?x4xf32>, tensor<?x4xf32>) {
  %0 = lowmem.linear %x, %w : tensor<?x4xf32>, tensor<4x4xf32> -> tensor<?x4xf32>
  return %0, %0 : tensor<?x4xf32>, tensor<?x4xf32>
}

// -----

// expected-error @+1 {{the prediction must be an f32 tensor to compute the loss, got 'tensor<?x4xf16>'}}
func.func @forward(%x: tensor<?x4xf16> {lowmem.input = "x"},
                   %w: tensor<4x4xf16> {lowmem.param = "l.weight", lowmem.trainable}) -> tensor<?x4xf16> {
  %0 = lowmem.linear %x, %w : tensor<?x4xf16>, tensor<4x4xf16> -> tensor<?x4xf16>
  return %0 : tensor<?x4xf16>
}

// -----

// expected-error @+1 {{trainable argument #1 must be a static f32 tensor named by lowmem.param, got 'tensor<?x4xf32>'}}
func.func @forward(%x: tensor<?x4xf32> {lowmem.input = "x"},
                   %w: tensor<?x4xf32> {lowmem.param = "l.weight", lowmem.trainable}) -> tensor<?x4xf32> {
  %0 = lowmem.add %x, %w : tensor<?x4xf32>
  return %0 : tensor<?x4xf32>
}


// -----

func.func @forward(%x: tensor<?x4xf32> {lowmem.input = "x"},
                   %a: tensor<2x4xf32> {lowmem.param = "m.lora_A.weight", lowmem.trainable}) -> tensor<?x4xf32> {
  %0 = lowmem.linear %x, %a : tensor<?x4xf32>, tensor<2x4xf32> -> tensor<?x2xf32>
  // expected-error @+1 {{'lowmem.linear' op cannot be differentiated when transposed}}
  %1 = lowmem.linear %0, %a transposed : tensor<?x2xf32>, tensor<2x4xf32> -> tensor<?x4xf32>
  return %1 : tensor<?x4xf32>
}

// -----

// expected-error @+1 {{trainable argument #1 is quantized ('!lowmem.qtensor<4x64xf32, nf4, block = 64>'); train full-precision weights or adapters}}
func.func @forward(%x: tensor<?x64xf32> {lowmem.input = "x"},
                   %q: !lowmem.qtensor<4x64xf32, nf4> {lowmem.param = "l.weight", lowmem.trainable}) -> tensor<?x4xf32> {
  %0 = lowmem.qlinear %x, %q : tensor<?x64xf32>, !lowmem.qtensor<4x64xf32, nf4> -> tensor<?x4xf32>
  return %0 : tensor<?x4xf32>
}

// -----

func.func @forward(%x: tensor<?x64xf32> {lowmem.input = "x"},
                   %w: tensor<4x64xf32> {lowmem.param = "l.weight", lowmem.trainable}) -> tensor<?x4xf32> {
  %q = lowmem.quantize %w : tensor<4x64xf32> -> !lowmem.qtensor<4x64xf32, nf4>
  // expected-error @+1 {{'lowmem.qlinear' op has a trainable quantized weight; train full-precision weights or adapters}}
  %0 = lowmem.qlinear %x, %q : tensor<?x64xf32>, !lowmem.qtensor<4x64xf32, nf4> -> tensor<?x4xf32>
  return %0 : tensor<?x4xf32>
}

// -----

func.func @forward(%x: tensor<?x64xf32> {lowmem.input = "x"},
                   %w: tensor<64x64xf32> {lowmem.param = "l.weight", lowmem.trainable}) -> tensor<?x64xf32> {
  %0 = lowmem.quantize %w : tensor<64x64xf32> -> !lowmem.qtensor<64x64xf32, nf4>
  // expected-error @+1 {{'lowmem.dequantize' op cannot be differentiated: no gradient rule for it yet (it depends on a trainable parameter)}}
  %1 = lowmem.dequantize %0 : !lowmem.qtensor<64x64xf32, nf4> -> tensor<64x64xf32>
  %2 = lowmem.linear %x, %1 : tensor<?x64xf32>, tensor<64x64xf32> -> tensor<?x64xf32>
  return %2 : tensor<?x64xf32>
}
