// RUN: lowmem-opt %s -split-input-file --lowmem-fuse | FileCheck %s

// linear(x, dequantize(q)) becomes qlinear(x, q), keeping bias, residual and
// activation, and the dead dequantize disappears.

// CHECK-LABEL: func.func @dequantize_into_qlinear
// CHECK-SAME: ([[X:%[^:]+]]: tensor<?x8xf32>, [[Q:%[^:]+]]: !lowmem.qtensor<16x8xf32, nf4, block = 64, double_quant>, [[B:%[^:]+]]: tensor<16xf32>, [[R:%[^:]+]]: tensor<?x16xf32>)
// CHECK-NOT: lowmem.dequantize
// CHECK: [[Y:%.+]] = lowmem.qlinear [[X]], [[Q]] bias([[B]] : tensor<16xf32>) residual([[R]] : tensor<?x16xf32>) activation <relu> : tensor<?x8xf32>, <16x8xf32, nf4, block = 64, double_quant> -> tensor<?x16xf32>
// CHECK-NOT: lowmem.dequantize
// CHECK-NOT: lowmem.linear
// CHECK: return [[Y]]
func.func @dequantize_into_qlinear(%x: tensor<?x8xf32>, %q: !lowmem.qtensor<16x8xf32, nf4, double_quant>,
                                   %b: tensor<16xf32>, %r: tensor<?x16xf32>) -> tensor<?x16xf32> {
  %w = lowmem.dequantize %q : !lowmem.qtensor<16x8xf32, nf4, double_quant> -> tensor<16x8xf32>
  %0 = lowmem.linear %x, %w bias(%b : tensor<16xf32>) residual(%r : tensor<?x16xf32>) activation <relu> : tensor<?x8xf32>, tensor<16x8xf32> -> tensor<?x16xf32>
  return %0 : tensor<?x16xf32>
}

// -----

// One dequantize feeding several linear layers, in different formats.

// CHECK-LABEL: func.func @dequantize_shared
// CHECK-SAME: ([[X:%[^:]+]]: tensor<?x8xf32>, [[Q:%[^:]+]]: !lowmem.qtensor<8x8xf32, int4, block = 16>, [[Q8:%[^:]+]]: !lowmem.qtensor<8x8xf32, int8>)
// CHECK-NOT: lowmem.dequantize
// CHECK: [[A:%.+]] = lowmem.qlinear [[X]], [[Q]] : tensor<?x8xf32>, <8x8xf32, int4, block = 16> -> tensor<?x8xf32>
// CHECK: [[B:%.+]] = lowmem.qlinear [[A]], [[Q]] : tensor<?x8xf32>, <8x8xf32, int4, block = 16> -> tensor<?x8xf32>
// CHECK: [[C:%.+]] = lowmem.qlinear [[B]], [[Q8]] : tensor<?x8xf32>, <8x8xf32, int8> -> tensor<?x8xf32>
// CHECK-NOT: lowmem.dequantize
// CHECK: return [[C]]
func.func @dequantize_shared(%x: tensor<?x8xf32>, %q: !lowmem.qtensor<8x8xf32, int4>, %q8: !lowmem.qtensor<8x8xf32, int8>) -> tensor<?x8xf32> {
  %w = lowmem.dequantize %q : !lowmem.qtensor<8x8xf32, int4> -> tensor<8x8xf32>
  %w8 = lowmem.dequantize %q8 : !lowmem.qtensor<8x8xf32, int8> -> tensor<8x8xf32>
  %0 = lowmem.linear %x, %w : tensor<?x8xf32>, tensor<8x8xf32> -> tensor<?x8xf32>
  %1 = lowmem.linear %0, %w : tensor<?x8xf32>, tensor<8x8xf32> -> tensor<?x8xf32>
  %2 = lowmem.linear %1, %w8 : tensor<?x8xf32>, tensor<8x8xf32> -> tensor<?x8xf32>
  return %2 : tensor<?x8xf32>
}

// -----

// A dequantize whose value is also needed in full precision elsewhere stays
// for that user only.

// CHECK-LABEL: func.func @dequantize_kept_for_other_user
// CHECK-SAME: ([[X:%[^:]+]]: tensor<?x8xf32>, [[Q:%[^:]+]]: !lowmem.qtensor<8x8xf32, fp4, block = 64>)
// CHECK-NEXT: [[W:%.+]] = lowmem.dequantize [[Q]] : <8x8xf32, fp4, block = 64> -> tensor<8x8xf32>
// CHECK-NEXT: [[A:%.+]] = lowmem.qlinear [[X]], [[Q]] : tensor<?x8xf32>, <8x8xf32, fp4, block = 64> -> tensor<?x8xf32>
// CHECK-NEXT: [[R:%.+]] = lowmem.relu [[W]] : tensor<8x8xf32>
// CHECK-NEXT: return [[A]], [[R]]
func.func @dequantize_kept_for_other_user(%x: tensor<?x8xf32>, %q: !lowmem.qtensor<8x8xf32, fp4>) -> (tensor<?x8xf32>, tensor<8x8xf32>) {
  %w = lowmem.dequantize %q : !lowmem.qtensor<8x8xf32, fp4> -> tensor<8x8xf32>
  %0 = lowmem.linear %x, %w : tensor<?x8xf32>, tensor<8x8xf32> -> tensor<?x8xf32>
  %1 = lowmem.relu %w : tensor<8x8xf32>
  return %0, %1 : tensor<?x8xf32>, tensor<8x8xf32>
}

// -----

// relu after a single-use linear or qlinear becomes its activation.

// CHECK-LABEL: func.func @relu_into_linear
// CHECK-SAME: ([[X:%[^:]+]]: tensor<?x8xf32>, [[W:%[^:]+]]: tensor<8x8xf32>, [[B:%[^:]+]]: tensor<8xf32>)
// CHECK-NEXT: [[Y:%.+]] = lowmem.linear [[X]], [[W]] bias([[B]] : tensor<8xf32>) activation <relu> : tensor<?x8xf32>, tensor<8x8xf32> -> tensor<?x8xf32>
// CHECK-NEXT: return [[Y]]
func.func @relu_into_linear(%x: tensor<?x8xf32>, %w: tensor<8x8xf32>, %b: tensor<8xf32>) -> tensor<?x8xf32> {
  %0 = lowmem.linear %x, %w bias(%b : tensor<8xf32>) : tensor<?x8xf32>, tensor<8x8xf32> -> tensor<?x8xf32>
  %1 = lowmem.relu %0 : tensor<?x8xf32>
  return %1 : tensor<?x8xf32>
}

// CHECK-LABEL: func.func @relu_into_qlinear
// CHECK-SAME: ([[X:%[^:]+]]: tensor<?x8xf32>, [[Q:%[^:]+]]: !lowmem.qtensor<8x8xf32, nf4, block = 64>)
// CHECK-NEXT: [[Y:%.+]] = lowmem.qlinear [[X]], [[Q]] activation <relu> : tensor<?x8xf32>, <8x8xf32, nf4, block = 64> -> tensor<?x8xf32>
// CHECK-NEXT: return [[Y]]
func.func @relu_into_qlinear(%x: tensor<?x8xf32>, %q: !lowmem.qtensor<8x8xf32, nf4>) -> tensor<?x8xf32> {
  %0 = lowmem.qlinear %x, %q : tensor<?x8xf32>, !lowmem.qtensor<8x8xf32, nf4> -> tensor<?x8xf32>
  %1 = lowmem.relu %0 : tensor<?x8xf32>
  return %1 : tensor<?x8xf32>
}

// -----

// add(linear, r) and add(r, linear) both fold r into the residual.

// CHECK-LABEL: func.func @residual_lhs
// CHECK-SAME: ([[X:%[^:]+]]: tensor<?x8xf32>, [[W:%[^:]+]]: tensor<8x8xf32>, [[R:%[^:]+]]: tensor<?x8xf32>)
// CHECK-NEXT: [[Y:%.+]] = lowmem.linear [[X]], [[W]] residual([[R]] : tensor<?x8xf32>) : tensor<?x8xf32>, tensor<8x8xf32> -> tensor<?x8xf32>
// CHECK-NEXT: return [[Y]]
func.func @residual_lhs(%x: tensor<?x8xf32>, %w: tensor<8x8xf32>, %r: tensor<?x8xf32>) -> tensor<?x8xf32> {
  %0 = lowmem.linear %x, %w : tensor<?x8xf32>, tensor<8x8xf32> -> tensor<?x8xf32>
  %1 = lowmem.add %0, %r : tensor<?x8xf32>
  return %1 : tensor<?x8xf32>
}

// CHECK-LABEL: func.func @residual_rhs
// CHECK-SAME: ([[X:%[^:]+]]: tensor<?x8xf32>, [[W:%[^:]+]]: tensor<8x8xf32>, [[R:%[^:]+]]: tensor<?x8xf32>)
// CHECK-NEXT: [[Y:%.+]] = lowmem.linear [[X]], [[W]] residual([[R]] : tensor<?x8xf32>) : tensor<?x8xf32>, tensor<8x8xf32> -> tensor<?x8xf32>
// CHECK-NEXT: return [[Y]]
func.func @residual_rhs(%x: tensor<?x8xf32>, %w: tensor<8x8xf32>, %r: tensor<?x8xf32>) -> tensor<?x8xf32> {
  %0 = lowmem.linear %x, %w : tensor<?x8xf32>, tensor<8x8xf32> -> tensor<?x8xf32>
  %1 = lowmem.add %r, %0 : tensor<?x8xf32>
  return %1 : tensor<?x8xf32>
}

// The skip connection of a block: x + qlinear(x).

// CHECK-LABEL: func.func @residual_qlinear_skip
// CHECK-SAME: ([[X:%[^:]+]]: tensor<?x8xf32>, [[Q:%[^:]+]]: !lowmem.qtensor<8x8xf32, int8>, [[B:%[^:]+]]: tensor<8xf32>)
// CHECK-NEXT: [[Y:%.+]] = lowmem.qlinear [[X]], [[Q]] bias([[B]] : tensor<8xf32>) residual([[X]] : tensor<?x8xf32>) : tensor<?x8xf32>, <8x8xf32, int8> -> tensor<?x8xf32>
// CHECK-NEXT: return [[Y]]
func.func @residual_qlinear_skip(%x: tensor<?x8xf32>, %q: !lowmem.qtensor<8x8xf32, int8>, %b: tensor<8xf32>) -> tensor<?x8xf32> {
  %0 = lowmem.qlinear %x, %q bias(%b : tensor<8xf32>) : tensor<?x8xf32>, !lowmem.qtensor<8x8xf32, int8> -> tensor<?x8xf32>
  %1 = lowmem.add %x, %0 : tensor<?x8xf32>
  return %1 : tensor<?x8xf32>
}

// -----

// relu then add: activation(x W^T + b) + r, i.e. both fold, in this order.

// CHECK-LABEL: func.func @relu_then_residual
// CHECK-SAME: ([[X:%[^:]+]]: tensor<?x8xf32>, [[Q:%[^:]+]]: !lowmem.qtensor<8x8xf32, nf4, block = 64>, [[B:%[^:]+]]: tensor<8xf32>)
// CHECK-NEXT: [[Y:%.+]] = lowmem.qlinear [[X]], [[Q]] bias([[B]] : tensor<8xf32>) residual([[X]] : tensor<?x8xf32>) activation <relu> : tensor<?x8xf32>, <8x8xf32, nf4, block = 64> -> tensor<?x8xf32>
// CHECK-NEXT: return [[Y]]
func.func @relu_then_residual(%x: tensor<?x8xf32>, %q: !lowmem.qtensor<8x8xf32, nf4>, %b: tensor<8xf32>) -> tensor<?x8xf32> {
  %w = lowmem.dequantize %q : !lowmem.qtensor<8x8xf32, nf4> -> tensor<8x8xf32>
  %0 = lowmem.linear %x, %w bias(%b : tensor<8xf32>) : tensor<?x8xf32>, tensor<8x8xf32> -> tensor<?x8xf32>
  %1 = lowmem.relu %0 : tensor<?x8xf32>
  %2 = lowmem.add %x, %1 : tensor<?x8xf32>
  return %2 : tensor<?x8xf32>
}

// add then relu is relu(x W^T + r): the residual folds, but the relu cannot
// (the epilogue applies the activation before the residual).

// CHECK-LABEL: func.func @residual_then_relu
// CHECK-SAME: ([[X:%[^:]+]]: tensor<?x8xf32>, [[W:%[^:]+]]: tensor<8x8xf32>)
// CHECK-NEXT: [[Y:%.+]] = lowmem.linear [[X]], [[W]] residual([[X]] : tensor<?x8xf32>) : tensor<?x8xf32>, tensor<8x8xf32> -> tensor<?x8xf32>
// CHECK-NEXT: [[R:%.+]] = lowmem.relu [[Y]]
// CHECK-NEXT: return [[R]]
func.func @residual_then_relu(%x: tensor<?x8xf32>, %w: tensor<8x8xf32>) -> tensor<?x8xf32> {
  %0 = lowmem.linear %x, %w : tensor<?x8xf32>, tensor<8x8xf32> -> tensor<?x8xf32>
  %1 = lowmem.add %0, %x : tensor<?x8xf32>
  %2 = lowmem.relu %1 : tensor<?x8xf32>
  return %2 : tensor<?x8xf32>
}

// A layer that already has a residual or an activation is not fused further.

// CHECK-LABEL: func.func @already_fused
// CHECK-SAME: ([[X:%[^:]+]]: tensor<?x8xf32>, [[W:%[^:]+]]: tensor<8x8xf32>)
// CHECK-NEXT: [[A:%.+]] = lowmem.linear [[X]], [[W]] activation <relu>
// CHECK-NEXT: [[B:%.+]] = lowmem.relu [[A]]
// CHECK-NEXT: [[C:%.+]] = lowmem.linear [[B]], [[W]] residual([[X]] : tensor<?x8xf32>)
// CHECK-NEXT: [[D:%.+]] = lowmem.add [[C]], [[X]]
// CHECK-NEXT: return [[D]]
func.func @already_fused(%x: tensor<?x8xf32>, %w: tensor<8x8xf32>) -> tensor<?x8xf32> {
  %0 = lowmem.linear %x, %w activation <relu> : tensor<?x8xf32>, tensor<8x8xf32> -> tensor<?x8xf32>
  %1 = lowmem.relu %0 : tensor<?x8xf32>
  %2 = lowmem.linear %1, %w residual(%x : tensor<?x8xf32>) : tensor<?x8xf32>, tensor<8x8xf32> -> tensor<?x8xf32>
  %3 = lowmem.add %2, %x : tensor<?x8xf32>
  return %3 : tensor<?x8xf32>
}

// -----

// No epilogue fusion when the linear result has another user.

// CHECK-LABEL: func.func @two_users_relu
// CHECK-SAME: ([[X:%[^:]+]]: tensor<?x8xf32>, [[W:%[^:]+]]: tensor<8x8xf32>)
// CHECK-NEXT: [[A:%.+]] = lowmem.linear [[X]], [[W]] : tensor<?x8xf32>, tensor<8x8xf32> -> tensor<?x8xf32>
// CHECK-NEXT: [[R:%.+]] = lowmem.relu [[A]]
// CHECK-NEXT: return [[R]], [[A]]
func.func @two_users_relu(%x: tensor<?x8xf32>, %w: tensor<8x8xf32>) -> (tensor<?x8xf32>, tensor<?x8xf32>) {
  %0 = lowmem.linear %x, %w : tensor<?x8xf32>, tensor<8x8xf32> -> tensor<?x8xf32>
  %1 = lowmem.relu %0 : tensor<?x8xf32>
  return %1, %0 : tensor<?x8xf32>, tensor<?x8xf32>
}

// CHECK-LABEL: func.func @two_users_add
// CHECK-SAME: ([[X:%[^:]+]]: tensor<?x8xf32>, [[Q:%[^:]+]]: !lowmem.qtensor<8x8xf32, nf4, block = 64>, [[R:%[^:]+]]: tensor<?x8xf32>)
// CHECK-NEXT: [[A:%.+]] = lowmem.qlinear [[X]], [[Q]] : tensor<?x8xf32>, <8x8xf32, nf4, block = 64> -> tensor<?x8xf32>
// CHECK-NEXT: [[S:%.+]] = lowmem.add [[A]], [[R]]
// CHECK-NEXT: [[T:%.+]] = lowmem.add [[R]], [[A]]
// CHECK-NEXT: return [[S]], [[T]]
func.func @two_users_add(%x: tensor<?x8xf32>, %q: !lowmem.qtensor<8x8xf32, nf4>, %r: tensor<?x8xf32>) -> (tensor<?x8xf32>, tensor<?x8xf32>) {
  %0 = lowmem.qlinear %x, %q : tensor<?x8xf32>, !lowmem.qtensor<8x8xf32, nf4> -> tensor<?x8xf32>
  %1 = lowmem.add %0, %r : tensor<?x8xf32>
  %2 = lowmem.add %r, %0 : tensor<?x8xf32>
  return %1, %2 : tensor<?x8xf32>, tensor<?x8xf32>
}

// The same value twice in an add is two uses: nothing to fold.

// CHECK-LABEL: func.func @add_self
// CHECK-NEXT: [[A:%.+]] = lowmem.linear
// CHECK-NEXT: [[S:%.+]] = lowmem.add [[A]], [[A]]
// CHECK-NEXT: return [[S]]
func.func @add_self(%x: tensor<?x8xf32>, %w: tensor<8x8xf32>) -> tensor<?x8xf32> {
  %0 = lowmem.linear %x, %w : tensor<?x8xf32>, tensor<8x8xf32> -> tensor<?x8xf32>
  %1 = lowmem.add %0, %0 : tensor<?x8xf32>
  return %1 : tensor<?x8xf32>
}

// -----

// Two single-use layers summed: one of them takes the other as residual.

// CHECK-LABEL: func.func @add_of_two_layers
// CHECK-SAME: ([[X:%[^:]+]]: tensor<?x8xf32>, [[W0:%[^:]+]]: tensor<8x8xf32>, [[W1:%[^:]+]]: tensor<8x8xf32>)
// CHECK: lowmem.linear [[X]], {{.+}} residual({{%.+}} : tensor<?x8xf32>)
// CHECK-NOT: lowmem.add
// CHECK: return
func.func @add_of_two_layers(%x: tensor<?x8xf32>, %w0: tensor<8x8xf32>, %w1: tensor<8x8xf32>) -> tensor<?x8xf32> {
  %0 = lowmem.linear %x, %w0 : tensor<?x8xf32>, tensor<8x8xf32> -> tensor<?x8xf32>
  %1 = lowmem.linear %x, %w1 : tensor<?x8xf32>, tensor<8x8xf32> -> tensor<?x8xf32>
  %2 = lowmem.add %0, %1 : tensor<?x8xf32>
  return %2 : tensor<?x8xf32>
}

// -----

// A two-layer model after quantization: everything folds into two qlinear.

// CHECK-LABEL: func.func @forward
// CHECK-SAME: ([[X:%[^:]+]]: tensor<?x8xf32> {lowmem.input = "x"}, [[Q0:%[^:]+]]: !lowmem.qtensor<8x8xf32, nf4, block = 64, double_quant> {lowmem.param = "model.0.weight"}, [[B0:%[^:]+]]: tensor<8xf32> {lowmem.param = "model.0.bias"}, [[Q1:%[^:]+]]: !lowmem.qtensor<8x8xf32, nf4, block = 64, double_quant> {lowmem.param = "model.2.weight"})
// CHECK-NEXT: [[H:%.+]] = lowmem.qlinear [[X]], [[Q0]] bias([[B0]] : tensor<8xf32>) activation <relu>
// CHECK-NEXT: [[Y:%.+]] = lowmem.qlinear [[H]], [[Q1]] residual([[X]] : tensor<?x8xf32>)
// CHECK-NEXT: return [[Y]]
func.func @forward(%x: tensor<?x8xf32> {lowmem.input = "x"},
    %q0: !lowmem.qtensor<8x8xf32, nf4, double_quant> {lowmem.param = "model.0.weight"},
    %b0: tensor<8xf32> {lowmem.param = "model.0.bias"},
    %q1: !lowmem.qtensor<8x8xf32, nf4, double_quant> {lowmem.param = "model.2.weight"}) -> tensor<?x8xf32> {
  %0 = lowmem.qlinear %x, %q0 bias(%b0 : tensor<8xf32>) : tensor<?x8xf32>, !lowmem.qtensor<8x8xf32, nf4, double_quant> -> tensor<?x8xf32>
  %1 = lowmem.relu %0 : tensor<?x8xf32>
  %2 = lowmem.qlinear %1, %q1 : tensor<?x8xf32>, !lowmem.qtensor<8x8xf32, nf4, double_quant> -> tensor<?x8xf32>
  %3 = lowmem.add %2, %x : tensor<?x8xf32>
  return %3 : tensor<?x8xf32>
}
