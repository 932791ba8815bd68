// RUN: lowmem-opt %s -split-input-file --lowmem-drop-in-place-updates -verify-diagnostics | FileCheck %s

// Updates written into their argument's buffer are dropped; the loss stays.
// CHECK-LABEL: func.func @step(
// CHECK-SAME: -> (memref<f32> {lowmem.loss})
// CHECK: return %{{.+}} : memref<f32>
func.func @step(%p: memref<4xf32> {lowmem.param = "w", lowmem.trainable},
                %m: memref<4xf32> {lowmem.state = "w.exp_avg"})
    -> (memref<f32> {lowmem.loss}, memref<4xf32> {lowmem.update = "w"},
        memref<4xf32> {lowmem.update = "w.exp_avg"}) {
  %l = memref.alloc() : memref<f32>
  return %l, %p, %m : memref<f32>, memref<4xf32>, memref<4xf32>
}

// -----

// An update in a fresh buffer would be a second copy: an error naming it.
func.func @copy(%p: memref<4xf32> {lowmem.param = "w", lowmem.trainable})
    -> (memref<f32> {lowmem.loss}, memref<4xf32> {lowmem.update = "w"}) {
  %l = memref.alloc() : memref<f32>
  %c = memref.alloc() : memref<4xf32>
  // expected-error @+1 {{the update of 'w' is not written in place into its argument; the step would hold a second copy of it}}
  return %l, %c : memref<f32>, memref<4xf32>
}

// -----

// The right buffer: the argument of the same name, not another one.
func.func @swapped(%p: memref<4xf32> {lowmem.param = "w", lowmem.trainable},
                   %m: memref<4xf32> {lowmem.state = "w.exp_avg"})
    -> (memref<4xf32> {lowmem.update = "w"}) {
  // expected-error @+1 {{the update of 'w' is not written in place into its argument}}
  return %m : memref<4xf32>
}
