// RUN: lowmem-opt %s --lowmem-map-parallel-loops | FileCheck %s

// A loop with a reduction is left to gpu-map-parallel-loops.
// CHECK-LABEL: func.func @reduction(
// CHECK: scf.parallel (%{{.+}}) = (%c0) to (%c8) step (%c1) init
// CHECK-NOT: mapping
// CHECK: return
func.func @reduction(%m: memref<8xf32>) -> f32 {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c8 = arith.constant 8 : index
  %z = arith.constant 0.0 : f32
  %s = scf.parallel (%i) = (%c0) to (%c8) step (%c1) init (%z) -> f32 {
    %v = memref.load %m[%i] : memref<8xf32>
    scf.reduce(%v : f32) {
    ^bb0(%a: f32, %b: f32):
      %t = arith.addf %a, %b : f32
      scf.reduce.return %t : f32
    }
  }
  return %s : f32
}
