// Every differentiated op, each parameter trainable: a linear layer with a
// fused ReLU, a group norm in two groups, a linear layer with a residual, a
// ReLU, a LoRA branch and an add (grad_check.py computes the same model).
func.func @forward(%x: tensor<?x6xf32> {lowmem.input = "x"},
    %w1: tensor<8x6xf32> {lowmem.param = "l1.weight", lowmem.trainable},
    %b1: tensor<8xf32> {lowmem.param = "l1.bias", lowmem.trainable},
    %g: tensor<8xf32> {lowmem.param = "n.weight", lowmem.trainable},
    %be: tensor<8xf32> {lowmem.param = "n.bias", lowmem.trainable},
    %w2: tensor<8x8xf32> {lowmem.param = "l2.weight", lowmem.trainable},
    %b2: tensor<8xf32> {lowmem.param = "l2.bias"},
    %a: tensor<2x8xf32> {lowmem.param = "l3.lora_A.weight", lowmem.trainable},
    %b: tensor<8x2xf32> {lowmem.param = "l3.lora_B.weight", lowmem.trainable}) -> tensor<?x8xf32> {
  %0 = lowmem.linear %x, %w1 bias(%b1 : tensor<8xf32>) activation <relu> : tensor<?x6xf32>, tensor<8x6xf32> -> tensor<?x8xf32>
  %1 = lowmem.group_norm %0, %g, %be {epsilon = 1.0e-05 : f64, num_groups = 2 : i64} : tensor<?x8xf32>, tensor<8xf32>, tensor<8xf32> -> tensor<?x8xf32>
  %2 = lowmem.linear %1, %w2 bias(%b2 : tensor<8xf32>) residual(%1 : tensor<?x8xf32>) : tensor<?x8xf32>, tensor<8x8xf32> -> tensor<?x8xf32>
  %3 = lowmem.relu %2 : tensor<?x8xf32>
  %4 = lowmem.lora %3, %a, %b {alpha = 4.0 : f64} : tensor<?x8xf32>, tensor<2x8xf32>, tensor<8x2xf32> -> tensor<?x8xf32>
  %5 = lowmem.add %4, %3 : tensor<?x8xf32>
  return %5 : tensor<?x8xf32>
}
