// The backward and optimizer ops lowered to linalg and run in MLIR's JIT, on
// values worked out by hand.
//
// RUN: lowmem-opt %s --convert-lowmem-to-linalg %lower-tensors-to-llvm | %mlir-runner | FileCheck %s
// RUN: lowmem-opt %s --convert-lowmem-to-linalg %emulate-cuda-to-llvm | %mlir-runner | FileCheck %s

func.func private @printMemrefF32(tensor<*xf32>)

func.func @print(%t: tensor<?xf32>) {
  %u = tensor.cast %t : tensor<?xf32> to tensor<*xf32>
  call @printMemrefF32(%u) : (tensor<*xf32>) -> ()
  return
}

func.func @main() {
  // bias_grad: column sums. dy = [[1, 2], [3, 4]] -> [4, 6].
  %dy = arith.constant dense<[[1.0, 2.0], [3.0, 4.0]]> : tensor<2x2xf32>
  %db = lowmem.bias_grad %dy : tensor<2x2xf32> -> tensor<2xf32>
  %db_d = tensor.cast %db : tensor<2xf32> to tensor<?xf32>
  call @print(%db_d) : (tensor<?xf32>) -> ()
  // CHECK: [4, 6]

  // cross_entropy_loss over rows [1, 2, 3] (label 2) and [1, 1, 1] (label
  // -100, ignored): log(e + e^2 + e^3) - 3 = 0.407606, a mean over one row.
  // Its gradient: softmax([1, 2, 3]) - [0, 0, 1] = [0.0900306, 0.244728,
  // -0.334759], and 0 on the ignored row.
  %logits = arith.constant dense<[[1.0, 2.0, 3.0], [1.0, 1.0, 1.0]]> : tensor<2x3xf32>
  %labels = arith.constant dense<[2, -100]> : tensor<2xi64>
  %ce = lowmem.cross_entropy_loss %logits, %labels : tensor<2x3xf32>, tensor<2xi64> -> tensor<f32>
  %ce1 = tensor.expand_shape %ce [] output_shape [1] : tensor<f32> into tensor<1xf32>
  %ce_d = tensor.cast %ce1 : tensor<1xf32> to tensor<?xf32>
  call @print(%ce_d) : (tensor<?xf32>) -> ()
  // CHECK: [0.40760{{[0-9]*}}]
  %dce = lowmem.cross_entropy_loss_grad %logits, %labels : tensor<2x3xf32>, tensor<2xi64>
  %dce1 = tensor.collapse_shape %dce [[0, 1]] : tensor<2x3xf32> into tensor<6xf32>
  %dce_d = tensor.cast %dce1 : tensor<6xf32> to tensor<?xf32>
  call @print(%dce_d) : (tensor<?xf32>) -> ()
  // CHECK: [0.0900{{[0-9]*}}, 0.24472{{[0-9]*}}, -0.33475{{[0-9]*}}, 0, 0, 0]

  // scale by 0.25.
  %v = arith.constant dense<[1.0, 2.0, 3.0, 4.0]> : tensor<4xf32>
  %s = lowmem.scale %v {factor = 0.25 : f64} : tensor<4xf32>
  %s_d = tensor.cast %s : tensor<4xf32> to tensor<?xf32>
  call @print(%s_d) : (tensor<?xf32>) -> ()
  // CHECK: [0.25, 0.5, 0.75, 1]

  // group_norm_grad, one row of 6 features in 2 groups of x = [0, 1, 2]
  // (mean 1, var 2/3, rstd = sqrt(1.5), x̂ = [-1.2247, 0, 1.2247]), gamma = 1,
  // dy = [1, 0, 0 | 0, 0, 1]. Group 1: g = [1, 0, 0], mean(g) = 1/3,
  // mean(g x̂) = -0.40825, dx = rstd ([2/3, -1/3, -1/3] + 0.40825 x̂)
  // = [0.20412, -0.40825, 0.20412]; group 2 the same by symmetry.
  // grad_gamma = dy x̂ = [-1.2247, 0, 0, 0, 0, 1.2247], grad_beta = dy.
  %x = arith.constant dense<[[0.0, 1.0, 2.0, 0.0, 1.0, 2.0]]> : tensor<1x6xf32>
  %gy = arith.constant dense<[[1.0, 0.0, 0.0, 0.0, 0.0, 1.0]]> : tensor<1x6xf32>
  %gamma = arith.constant dense<1.0> : tensor<6xf32>
  %dx, %dg, %dbeta = lowmem.group_norm_grad %gy, %x, %gamma {epsilon = 1.0e-12 : f64, num_groups = 2 : i64} : tensor<1x6xf32>, tensor<1x6xf32>, tensor<6xf32> -> tensor<1x6xf32>, tensor<6xf32>, tensor<6xf32>
  %dx1 = tensor.collapse_shape %dx [[0, 1]] : tensor<1x6xf32> into tensor<6xf32>
  %dx_d = tensor.cast %dx1 : tensor<6xf32> to tensor<?xf32>
  call @print(%dx_d) : (tensor<?xf32>) -> ()
  // CHECK: [0.20412{{[0-9]*}}, -0.40824{{[0-9]*}}, 0.20412{{[0-9]*}}, 0.20412{{[0-9]*}}, -0.40824{{[0-9]*}}, 0.20412{{[0-9]*}}]
  %dg_d = tensor.cast %dg : tensor<6xf32> to tensor<?xf32>
  call @print(%dg_d) : (tensor<?xf32>) -> ()
  // CHECK: [-1.22474{{[0-9]*}}, 0, 0, 0, 0, 1.22474{{[0-9]*}}]
  %dbeta_d = tensor.cast %dbeta : tensor<6xf32> to tensor<?xf32>
  call @print(%dbeta_d) : (tensor<?xf32>) -> ()
  // CHECK: [1, 0, 0, 0, 0, 1]

  // Optimizers on p = [1, 2], g = [0.5, -1], lr = 0.1, step 1.
  %p = arith.constant dense<[1.0, 2.0]> : tensor<2xf32>
  %g = arith.constant dense<[0.5, -1.0]> : tensor<2xf32>
  %h = arith.constant dense<[0.1, 0.1, 0.001, 1.0]> : tensor<4xf32>
  %loss = arith.constant dense<0.5> : tensor<f32>
  // SGD: p - lr g = [0.95, 2.1].
  %p1 = lowmem.sgd %p, %g, %h, %loss : tensor<2xf32>
  %p1_d = tensor.cast %p1 : tensor<2xf32> to tensor<?xf32>
  call @print(%p1_d) : (tensor<?xf32>) -> ()
  // CHECK: [0.95, 2.1]
  // Momentum 0.5, weight decay 0.1 from buf = [1, 1]: d = g + 0.1 p =
  // [0.6, -0.8], buf = 0.5 buf + d = [1.1, -0.3], p - lr buf = [0.89, 2.03].
  %buf = arith.constant dense<1.0> : tensor<2xf32>
  %p2, %b2 = lowmem.sgd %p, %g, %h, %loss momentum_buffer(%buf : tensor<2xf32>) {momentum = 0.5 : f64, weight_decay = 0.1 : f64} : tensor<2xf32>, tensor<2xf32>
  %p2_d = tensor.cast %p2 : tensor<2xf32> to tensor<?xf32>
  call @print(%p2_d) : (tensor<?xf32>) -> ()
  // CHECK: [0.89, 2.03]
  %b2_d = tensor.cast %b2 : tensor<2xf32> to tensor<?xf32>
  call @print(%b2_d) : (tensor<?xf32>) -> ()
  // CHECK: [1.1, -0.3]
  // AdamW, first step: the bias-corrected moments are g and g², so the step
  // is lr sign(g); decoupled decay 0.5 first scales p by 1 - 0.05:
  // [0.95, 1.9] - 0.1 [1, -1] = [0.85, 2]; m = 0.1 g, v = 0.001 g².
  %zero = arith.constant dense<0.0> : tensor<2xf32>
  %p3, %m3, %v3 = lowmem.adamw %p, %g, %zero, %zero, %h, %loss {weight_decay = 0.5 : f64} : tensor<2xf32>
  %p3_d = tensor.cast %p3 : tensor<2xf32> to tensor<?xf32>
  call @print(%p3_d) : (tensor<?xf32>) -> ()
  // CHECK: [{{0.85|0.84999[0-9]*}}, {{2|1.99999[0-9]*|2.00000[0-9]*}}]
  %m3_d = tensor.cast %m3 : tensor<2xf32> to tensor<?xf32>
  call @print(%m3_d) : (tensor<?xf32>) -> ()
  // CHECK: [0.05, -0.1]
  %v3_d = tensor.cast %v3 : tensor<2xf32> to tensor<?xf32>
  call @print(%v3_d) : (tensor<?xf32>) -> ()
  // CHECK: [{{0.00025|0.000249[0-9]*}}, {{0.001|0.000999[0-9]*}}]
  // A loss that is not finite skips the step: everything unchanged.
  %nan = arith.constant dense<0x7FC00000> : tensor<f32>
  %p4, %m4, %v4 = lowmem.adamw %p, %g, %zero, %zero, %h, %nan : tensor<2xf32>
  %p4_d = tensor.cast %p4 : tensor<2xf32> to tensor<?xf32>
  call @print(%p4_d) : (tensor<?xf32>) -> ()
  // CHECK: [1, 2]
  %inf = arith.constant dense<0x7F800000> : tensor<f32>
  %p5 = lowmem.sgd %p, %g, %h, %inf : tensor<2xf32>
  %p5_d = tensor.cast %p5 : tensor<2xf32> to tensor<?xf32>
  call @print(%p5_d) : (tensor<?xf32>) -> ()
  // CHECK: [1, 2]
  return
}
