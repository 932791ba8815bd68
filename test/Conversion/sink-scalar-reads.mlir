// RUN: lowmem-opt %s --split-input-file --lowmem-sink-scalar-reads | FileCheck %s

// An optimizer's learning rate, read from its hyperparameter tensor and
// scaled, is read and scaled inside the update's body; nothing is left
// outside.
// CHECK-LABEL: func.func @learning_rate(
// CHECK-NOT: tensor.extract
// CHECK: linalg.generic
// CHECK-NEXT: ^bb0(
// CHECK-NEXT: %[[C0:.+]] = arith.constant 0 : index
// CHECK-NEXT: %[[LR:.+]] = tensor.extract %{{.+}}[%[[C0]]] : tensor<4xf32>
// CHECK-NEXT: %[[NEG:.+]] = arith.negf %[[LR]]
// CHECK: arith.mulf %{{.+}}, %[[NEG]]
#id = affine_map<(d0) -> (d0)>
func.func @learning_rate(%hyper: tensor<4xf32>, %grad: tensor<8xf32>,
                         %param: tensor<8xf32>) -> tensor<8xf32> {
  %c0 = arith.constant 0 : index
  %lr = tensor.extract %hyper[%c0] : tensor<4xf32>
  %neg = arith.negf %lr : f32
  %r = linalg.generic {indexing_maps = [#id, #id],
                       iterator_types = ["parallel"]}
      ins(%grad : tensor<8xf32>) outs(%param : tensor<8xf32>) {
  ^bb0(%g: f32, %p: f32):
    %step = arith.mulf %g, %neg : f32
    %new = arith.addf %p, %step : f32
    linalg.yield %new : f32
  } -> tensor<8xf32>
  return %r : tensor<8xf32>
}

// -----

// Two generics use the scalar: each gets its own read.
// CHECK-LABEL: func.func @two_users(
// CHECK-NOT: tensor.extract
// CHECK: linalg.generic
// CHECK: tensor.extract %{{.+}}[] : tensor<f32>
// CHECK: linalg.generic
// CHECK: tensor.extract %{{.+}}[] : tensor<f32>
#id = affine_map<(d0) -> (d0)>
func.func @two_users(%loss: tensor<f32>, %a: tensor<8xf32>)
    -> (tensor<8xf32>, tensor<8xf32>) {
  %v = tensor.extract %loss[] : tensor<f32>
  %r0 = linalg.generic {indexing_maps = [#id], iterator_types = ["parallel"]}
      outs(%a : tensor<8xf32>) {
  ^bb0(%x: f32):
    %y = arith.addf %x, %v : f32
    linalg.yield %y : f32
  } -> tensor<8xf32>
  %r1 = linalg.generic {indexing_maps = [#id], iterator_types = ["parallel"]}
      outs(%a : tensor<8xf32>) {
  ^bb0(%x: f32):
    %y = arith.mulf %x, %v : f32
    linalg.yield %y : f32
  } -> tensor<8xf32>
  return %r0, %r1 : tensor<8xf32>, tensor<8xf32>
}

// -----

// A read the host itself needs (here a loop bound, and a returned value)
// stays where it is; the generic still gets its own copy.
// CHECK-LABEL: func.func @host_user(
// CHECK: %[[N:.+]] = tensor.extract %{{.+}}[] : tensor<index>
// CHECK: linalg.generic
// CHECK: tensor.extract %{{.+}}[] : tensor<index>
// CHECK: return %{{.+}}, %[[N]] :
#id = affine_map<(d0) -> (d0)>
func.func @host_user(%count: tensor<index>, %a: tensor<8xindex>)
    -> (tensor<8xindex>, index) {
  %n = tensor.extract %count[] : tensor<index>
  %r = linalg.generic {indexing_maps = [#id], iterator_types = ["parallel"]}
      outs(%a : tensor<8xindex>) {
  ^bb0(%x: index):
    %y = arith.addi %x, %n : index
    linalg.yield %y : index
  } -> tensor<8xindex>
  return %r, %n : tensor<8xindex>, index
}

// -----

// Reads inside a generic, and scalars that come from no tensor (a function
// argument), are left alone.
// CHECK-LABEL: func.func @untouched(
// CHECK-NEXT: %[[S:.+]] = arith.mulf %arg0, %arg0
// CHECK-NEXT: linalg.generic
// CHECK-NEXT: ^bb0(
// CHECK-NEXT: linalg.index
// CHECK-NEXT: tensor.extract %arg1
// CHECK-NEXT: arith.mulf %{{.+}}, %[[S]]
#id = affine_map<(d0) -> (d0)>
func.func @untouched(%s: f32, %table: tensor<8xf32>, %a: tensor<8xf32>)
    -> tensor<8xf32> {
  %sq = arith.mulf %s, %s : f32
  %r = linalg.generic {indexing_maps = [#id], iterator_types = ["parallel"]}
      outs(%a : tensor<8xf32>) {
  ^bb0(%x: f32):
    %i = linalg.index 0 : index
    %t = tensor.extract %table[%i] : tensor<8xf32>
    %y = arith.mulf %t, %sq : f32
    linalg.yield %y : f32
  } -> tensor<8xf32>
  return %r : tensor<8xf32>
}

// -----

// A loop over rows written on buffers (a fused head + cross-entropy's
// backward) gets the reciprocal of the label count computed inside.
// CHECK-LABEL: func.func @parallel_loop(
// CHECK-NOT: tensor.extract
// CHECK: scf.parallel
// CHECK-NEXT: %[[ONE:.+]] = arith.constant 1.0
// CHECK-NEXT: %[[N:.+]] = tensor.extract %arg0[] : tensor<f32>
// CHECK-NEXT: %[[INV:.+]] = arith.divf %[[ONE]], %[[N]]
// CHECK: memref.store %[[INV]]
func.func @parallel_loop(%count: tensor<f32>, %out: memref<8xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c8 = arith.constant 8 : index
  %one = arith.constant 1.0 : f32
  %n = tensor.extract %count[] : tensor<f32>
  %inv = arith.divf %one, %n : f32
  scf.parallel (%i) = (%c0) to (%c8) step (%c1) {
    memref.store %inv, %out[%i] : memref<8xf32>
    scf.reduce
  }
  return
}
