// RUN: lowmem-opt %s --split-input-file --lowmem-map-parallel-loops | FileCheck %s
// RUN: lowmem-opt %s --split-input-file --lowmem-map-parallel-loops --gpu-map-parallel-loops --convert-parallel-loops-to-gpu --canonicalize | FileCheck %s --check-prefix=GPU

// A rank-4 elementwise loop: one thread per element in blocks of 256, the
// last dimension fastest; threads past the 120 elements do nothing.
// CHECK-LABEL: func.func @rank4(
// CHECK: scf.parallel (%[[B:.+]]) = (%{{.+}}) to (%{{.+}}) step (%{{.+}}) {
// CHECK: scf.parallel (%[[T:.+]]) = (%{{.+}}) to (%{{.+}}) step (%{{.+}}) {
// CHECK: %[[FLAT:.+]] = arith.addi %{{.+}}, %[[T]]
// CHECK: %[[IN:.+]] = arith.cmpi ult, %[[FLAT]], %{{.+}}
// CHECK: scf.if %[[IN]] {
// CHECK: memref.store
// CHECK: {mapping = [#gpu.loop_dim_map<processor = thread_x, map = (d0) -> (d0), bound = (d0) -> (d0)>]}
// CHECK: {mapping = [#gpu.loop_dim_map<processor = block_x, map = (d0) -> (d0), bound = (d0) -> (d0)>]}
// GPU-LABEL: func.func @rank4(
// GPU-DAG: %[[C1:.+]] = arith.constant 1 : index
// GPU-DAG: %[[C5:.+]] = arith.constant 5 : index
// GPU-DAG: %[[C4:.+]] = arith.constant 4 : index
// GPU-DAG: %[[C3:.+]] = arith.constant 3 : index
// GPU-DAG: %[[N:.+]] = arith.constant 120 : index
// GPU-DAG: %[[C256:.+]] = arith.constant 256 : index
// GPU: gpu.launch blocks(%{{.+}}, %{{.+}}, %{{.+}}) in (%{{.+}} = %[[C1]], %{{.+}} = %[[C1]], %{{.+}} = %[[C1]]) threads(%[[TX:.+]], %{{.+}}, %{{.+}}) in (%{{.+}} = %[[C256]], %{{.+}} = %[[C1]], %{{.+}} = %[[C1]])
// GPU-NEXT: %[[IN:.+]] = arith.cmpi ult, %[[TX]], %[[N]]
// GPU-NEXT: scf.if %[[IN]] {
// GPU-NEXT: %[[D3:.+]] = arith.remui %[[TX]], %[[C5]]
// GPU-NEXT: %[[R3:.+]] = arith.divui %[[TX]], %[[C5]]
// GPU-NEXT: %[[D2:.+]] = arith.remui %[[R3]], %[[C4]]
// GPU-NEXT: %[[R2:.+]] = arith.divui %[[R3]], %[[C4]]
// GPU-NEXT: %[[D1:.+]] = arith.remui %[[R2]], %[[C3]]
// GPU-NEXT: %[[D0:.+]] = arith.divui %[[R2]], %[[C3]]
// GPU-NEXT: memref.store %{{.+}}, %{{.+}}[%[[D0]], %[[D1]], %[[D2]], %[[D3]]]
func.func @rank4(%m: memref<2x3x4x5xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c2 = arith.constant 2 : index
  %c3 = arith.constant 3 : index
  %c4 = arith.constant 4 : index
  %c5 = arith.constant 5 : index
  %z = arith.constant 0.0 : f32
  scf.parallel (%a, %b, %c, %d) = (%c0, %c0, %c0, %c0) to (%c2, %c3, %c4, %c5) step (%c1, %c1, %c1, %c1) {
    memref.store %z, %m[%a, %b, %c, %d] : memref<2x3x4x5xf32>
    scf.reduce
  }
  return
}

// -----

// Dynamic bounds, a lower bound and a step: the point is lb + i * step, and
// an empty range (ub <= lb) has no points.
// CHECK-LABEL: func.func @bounds(
// CHECK: %[[SPAN:.+]] = arith.subi %arg2, %arg1
// CHECK: %[[EXT:.+]] = arith.ceildivui %[[SPAN]], %{{.+}}
// CHECK: %[[EMPTY:.+]] = arith.cmpi sle, %arg2, %arg1
// CHECK: %[[N:.+]] = arith.select %[[EMPTY]], %{{.+}}, %[[EXT]]
// CHECK: scf.if
// CHECK: %[[SCALED:.+]] = arith.muli %{{.+}}, %{{.+}}
// CHECK: %[[I:.+]] = arith.addi %arg1, %[[SCALED]]
// CHECK: memref.store %{{.+}}, %arg0[%[[I]]]
func.func @bounds(%m: memref<?xf32>, %lb: index, %ub: index) {
  %c2 = arith.constant 2 : index
  %z = arith.constant 0.0 : f32
  scf.parallel (%i) = (%lb) to (%ub) step (%c2) {
    memref.store %z, %m[%i] : memref<?xf32>
    scf.reduce
  }
  return
}

// -----

// A loop nested inside runs serially in its thread; one already mapped is
// left alone (and one with a reduction: map-parallel-loops-reduction.mlir).
// CHECK-LABEL: func.func @nested_and_left(
// CHECK: scf.parallel
// CHECK: scf.parallel
// CHECK: scf.if
// CHECK: %[[ROW:.+]] = arith.addi
// CHECK-NEXT: scf.for %[[J:.+]] = %c0 to %c8 step %c1 {
// CHECK-NEXT: memref.store %{{.+}}, %arg0[%[[ROW]], %[[J]]]
// GPU-LABEL: func.func @nested_and_left(
// GPU: gpu.launch blocks
// GPU-NOT: gpu.launch
// GPU: scf.for
// GPU: gpu.terminator
// GPU: gpu.launch blocks
// GPU-NOT: scf.parallel
// GPU: return
// CHECK: scf.parallel (%{{.+}}) = (%c0) to (%c8) step (%c1) {
// CHECK: {mapping = [#gpu.loop_dim_map<processor = block_y
func.func @nested_and_left(%m: memref<8x8xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c8 = arith.constant 8 : index
  %z = arith.constant 0.0 : f32
  scf.parallel (%i) = (%c0) to (%c8) step (%c1) {
    scf.parallel (%j) = (%c0) to (%c8) step (%c1) {
      memref.store %z, %m[%i, %j] : memref<8x8xf32>
      scf.reduce
    }
    scf.reduce
  }
  scf.parallel (%i) = (%c0) to (%c8) step (%c1) {
    memref.store %z, %m[%i, %c1] : memref<8x8xf32>
    scf.reduce
  } {mapping = [#gpu.loop_dim_map<processor = block_y, map = (d0) -> (d0), bound = (d0) -> (d0)>]}
  return
}
