// RUN: lowmem-opt %s -split-input-file -verify-diagnostics --lowmem-attach-lora

// A layer that already has an adapter is an error, not a second adapter.
func.func @twice(%x: tensor<2x4xf32> {lowmem.input = "x"},
                 %w: tensor<4x4xf32> {lowmem.param = "fc.weight"},
                 %a: tensor<8x4xf32> {lowmem.param = "fc.lora_A.weight", lowmem.trainable},
                 %b: tensor<4x8xf32> {lowmem.param = "fc.lora_B.weight", lowmem.trainable})
    -> tensor<2x4xf32> {
  // expected-error @below {{layer 'fc' already has a LoRA adapter}}
  %y = lowmem.linear %x, %w : tensor<2x4xf32>, tensor<4x4xf32> -> tensor<2x4xf32>
  return %y : tensor<2x4xf32>
}
