// RUN: lowmem-opt %s -split-input-file -verify-diagnostics --lowmem-plan-memory | FileCheck %s
// RUN: lowmem-opt %s -split-input-file -verify-diagnostics --lowmem-plan-memory --canonicalize --cse | FileCheck %s --check-prefix=CANON
// RUN: lowmem-opt %s -split-input-file -verify-diagnostics --lowmem-plan-memory="alignment=16" --canonicalize --cse | FileCheck %s --check-prefix=ALIGN16
// RUN: not lowmem-opt %s -split-input-file --lowmem-plan-memory="alignment=48" 2>&1 | FileCheck %s --check-prefix=ERR

// The value in this message is checked in plan-memory-alignment.mlir.
// ERR: error: plan-memory alignment must be a positive power of two, got

// The planner runs on bufferized IR. Each top-level memref.alloc becomes a
// memref.view into a trailing memref<?xi8> argument marked lowmem.arena, its
// deallocs disappear, and the function records the arena size and the heap
// size of its results as lists of terms [coefficient, [arg, dim], ...].
//
// Here a chain of three elementwise ops on ?x8 buffers (32 bytes a row, 64
// after alignment) and one 16xf32 scratch buffer (64 bytes): %a dies before
// %c is allocated, so %c reuses %a's slot; the arena is 64 + 128 * dim0(x).

#id = affine_map<(d0, d1) -> (d0, d1)>

// CHECK-LABEL: func.func @chain
// CHECK-SAME: ([[X:%[^:]+]]: memref<?x8xf32>, [[OUT:%[^:]+]]: memref<?x8xf32>, [[ARENA:%[^:]+]]: memref<?xi8> {lowmem.arena})
// CHECK-SAME: attributes {lowmem.arena_gradients_size = [], lowmem.arena_size = {{\[\[}}64], [128, [0, 0]]], lowmem.heap_size = []}
// CHECK-NOT: memref.alloc
// The pass computes the units of its families at the top of the body.
// CHECK: memref.dim [[X]], %{{.+}} : memref<?x8xf32>
// CHECK: [[N:%.+]] = memref.dim [[X]], %{{.+}} : memref<?x8xf32>
// CHECK: [[A:%.+]] = memref.view [[ARENA]][%{{.+}}]{{\[}}[[N]]] : memref<?xi8> to memref<?x8xf32>
// CHECK: linalg.generic {{.*}} ins([[X]] : memref<?x8xf32>) outs([[A]] : memref<?x8xf32>)
// CHECK: [[B:%.+]] = memref.view [[ARENA]][%{{.+}}]{{\[}}[[N]]] : memref<?xi8> to memref<?x8xf32>
// CHECK: linalg.generic {{.*}} ins([[A]] : memref<?x8xf32>) outs([[B]] : memref<?x8xf32>)
// CHECK-NOT: memref.dealloc
// CHECK: [[C:%.+]] = memref.view [[ARENA]][%{{.+}}]{{\[}}[[N]]] : memref<?xi8> to memref<?x8xf32>
// CHECK: linalg.generic {{.*}} ins([[B]] : memref<?x8xf32>) outs([[C]] : memref<?x8xf32>)
// CHECK: [[T:%.+]] = memref.view [[ARENA]][%{{.+}}][] : memref<?xi8> to memref<16xf32>
// CHECK: linalg.fill ins(%{{.+}} : f32) outs([[T]] : memref<16xf32>)
// CHECK: memref.copy [[C]], [[OUT]]
// CHECK-NOT: memref.alloc
// CHECK-NOT: memref.dealloc
// CHECK: return

// Offsets: constants first (the scratch buffer at 0), then the ?x8 family
// from byte 64 on, in units of 64 * dim0(x) bytes; %c shares %a's view.
// CANON-LABEL: func.func @chain
// CANON-DAG: [[C0:%.+]] = arith.constant 0 : index
// CANON-DAG: [[C64:%.+]] = arith.constant 64 : index
// CANON-DAG: [[N:%.+]] = memref.dim %arg0, [[C0]]
// CANON: [[A:%.+]] = memref.view %arg2{{\[}}[[C64]]]{{\[}}[[N]]] : memref<?xi8> to memref<?x8xf32>
// CANON: outs([[A]] : memref<?x8xf32>)
// CANON: [[S:%.+]] = arith.muli [[N]], [[C64]] : index
// CANON: [[OFF:%.+]] = arith.addi [[S]], [[C64]] : index
// CANON: [[B:%.+]] = memref.view %arg2{{\[}}[[OFF]]]{{\[}}[[N]]] : memref<?xi8> to memref<?x8xf32>
// CANON: ins([[A]] : memref<?x8xf32>) outs([[B]] : memref<?x8xf32>)
// CANON: ins([[B]] : memref<?x8xf32>) outs([[A]] : memref<?x8xf32>)
// CANON: [[T:%.+]] = memref.view %arg2{{\[}}[[C0]]][] : memref<?xi8> to memref<16xf32>
// CANON: linalg.fill ins(%{{.+}} : f32) outs([[T]] : memref<16xf32>)
// CANON: memref.copy [[A]], %arg1

// With 16-byte alignment a row of the ?x8 buffers takes 32 bytes.
// ALIGN16-LABEL: func.func @chain
// ALIGN16-SAME: lowmem.arena_size = {{\[\[}}64], [64, [0, 0]]]
func.func @chain(%x: memref<?x8xf32>, %out: memref<?x8xf32>) {
  %c0 = arith.constant 0 : index
  %cst = arith.constant 0.0 : f32
  %n = memref.dim %x, %c0 : memref<?x8xf32>
  %a = memref.alloc(%n) : memref<?x8xf32>
  linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%x : memref<?x8xf32>) outs(%a : memref<?x8xf32>) {
  ^bb0(%i: f32, %o: f32):
    %r = arith.maximumf %i, %cst : f32
    linalg.yield %r : f32
  }
  %b = memref.alloc(%n) : memref<?x8xf32>
  linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%a : memref<?x8xf32>) outs(%b : memref<?x8xf32>) {
  ^bb0(%i: f32, %o: f32):
    %r = arith.maximumf %i, %cst : f32
    linalg.yield %r : f32
  }
  memref.dealloc %a : memref<?x8xf32>
  %c = memref.alloc(%n) : memref<?x8xf32>
  linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%b : memref<?x8xf32>) outs(%c : memref<?x8xf32>) {
  ^bb0(%i: f32, %o: f32):
    %r = arith.maximumf %i, %cst : f32
    linalg.yield %r : f32
  }
  memref.dealloc %b : memref<?x8xf32>
  %t = memref.alloc() : memref<16xf32>
  linalg.fill ins(%cst : f32) outs(%t : memref<16xf32>)
  memref.copy %c, %out : memref<?x8xf32> to memref<?x8xf32>
  memref.dealloc %c : memref<?x8xf32>
  memref.dealloc %t : memref<16xf32>
  return
}

// -----

// Static sizes, packed largest first: %b (1024 bytes) at 0, %a (256) at
// 1024 since it is read while %b is written (through two aliases of %b, a
// collapse_shape and a subview), and %c at 1024 again once %a is dead. The
// unused 10xi8 and 3xi1 buffers take 64 aligned bytes each, in %b's free slot.

// CHECK-LABEL: func.func @static_sizes
// CHECK-SAME: [[ARENA:%[^:]+]]: memref<?xi8> {lowmem.arena})
// CHECK-SAME: attributes {lowmem.arena_gradients_size = [], lowmem.arena_size = {{\[\[}}1280]], lowmem.heap_size = []}
// CHECK-NOT: memref.alloc
// CHECK-COUNT-5: memref.view [[ARENA]]
// CHECK-NOT: memref.alloc

// CANON-LABEL: func.func @static_sizes
// CANON-DAG: [[C0:%.+]] = arith.constant 0 : index
// CANON-DAG: [[C1024:%.+]] = arith.constant 1024 : index
// CANON: [[A:%.+]] = memref.view %arg2{{\[}}[[C1024]]][] : memref<?xi8> to memref<64xf32>
// CANON: linalg.copy ins(%arg0 : memref<64xf32>) outs([[A]] : memref<64xf32>)
// CANON: [[B:%.+]] = memref.view %arg2{{\[}}[[C0]]][] : memref<?xi8> to memref<16x16xf32>
// CANON: [[BFLAT:%.+]] = memref.collapse_shape [[B]]
// CANON: [[BSUB:%.+]] = memref.subview [[BFLAT]]
// CANON: linalg.copy ins([[A]] : memref<64xf32>) outs([[BSUB]] : {{.+}})
// CANON: linalg.copy ins([[BSUB]] : {{.+}}) outs([[A]] : memref<64xf32>)
// CANON: linalg.copy ins([[A]] : memref<64xf32>) outs(%arg1 : memref<64xf32>)

// With 16-byte alignment the small buffers take 16 bytes.
// ALIGN16-LABEL: func.func @static_sizes
// ALIGN16-SAME: lowmem.arena_size = {{\[\[}}1280]]
func.func @static_sizes(%in: memref<64xf32>, %out: memref<64xf32>) {
  %a = memref.alloc() : memref<64xf32>
  linalg.copy ins(%in : memref<64xf32>) outs(%a : memref<64xf32>)
  %b = memref.alloc() : memref<16x16xf32>
  %bflat = memref.collapse_shape %b [[0, 1]] : memref<16x16xf32> into memref<256xf32>
  %bsub = memref.subview %bflat[0] [64] [1] : memref<256xf32> to memref<64xf32, strided<[1]>>
  linalg.copy ins(%a : memref<64xf32>) outs(%bsub : memref<64xf32, strided<[1]>>)
  %c = memref.alloc() : memref<64xf32>
  linalg.copy ins(%bsub : memref<64xf32, strided<[1]>>) outs(%c : memref<64xf32>)
  %d = memref.alloc() : memref<10xi8>
  %e = memref.alloc() : memref<3xi1>
  linalg.copy ins(%c : memref<64xf32>) outs(%out : memref<64xf32>)
  return
}

// -----

// Buffers returned from the function, directly or through an alias, stay
// heap allocations and are counted in lowmem.heap_size (unaligned); the
// arena only holds the scratch buffer.

// CHECK-LABEL: func.func @returned
// CHECK-SAME: ([[X:%[^:]+]]: memref<?x8xf32>, [[ARENA:%[^:]+]]: memref<?xi8> {lowmem.arena})
// CHECK-SAME: attributes {lowmem.arena_gradients_size = [], lowmem.arena_size = {{\[\[}}64]], lowmem.heap_size = {{\[\[}}32, [0, 0]], [64], [64]]}
// CHECK: [[A:%.+]] = memref.alloc(%{{.+}}) : memref<?x8xf32>
// CHECK: [[B:%.+]] = memref.alloc() : memref<4x4xf32>
// CHECK: [[T:%.+]] = memref.view [[ARENA]][%{{.+}}][] : memref<?xi8> to memref<16xf32>
// CHECK: [[C:%.+]] = memref.alloc() : memref<4x4xf32>
// CHECK: [[CC:%.+]] = memref.collapse_shape [[C]]
// CHECK: [[CAST:%.+]] = memref.cast [[A]]
// CHECK: linalg.fill ins(%{{.+}} : f32) outs([[T]] : memref<16xf32>)
// CHECK: return [[CAST]], [[B]], [[CC]] :
func.func @returned(%x: memref<?x8xf32>) -> (memref<?x?xf32>, memref<4x4xf32>, memref<16xf32>) {
  %c0 = arith.constant 0 : index
  %n = memref.dim %x, %c0 : memref<?x8xf32>
  %a = memref.alloc(%n) : memref<?x8xf32>
  %b = memref.alloc() : memref<4x4xf32>
  %t = memref.alloc() : memref<16xf32>
  %c = memref.alloc() : memref<4x4xf32>
  %cc = memref.collapse_shape %c [[0, 1]] : memref<4x4xf32> into memref<16xf32>
  %cast = memref.cast %a : memref<?x8xf32> to memref<?x?xf32>
  %cst = arith.constant 0.0 : f32
  linalg.fill ins(%cst : f32) outs(%t : memref<16xf32>)
  return %cast, %b, %cc : memref<?x?xf32>, memref<4x4xf32>, memref<16xf32>
}

// -----

// One family of sizes per product of dynamic dimensions, constants first,
// then by the (sorted) symbols: dim0(x) * dim1(x) holds an f32 and an f16
// buffer, each aligned to 64 bytes a unit, and dim0(y) one ?x4xf32 buffer.

func.func private @use(memref<?x?xf32>, memref<?x4xf32>, memref<?x?xf16>, memref<2xf64>)

// CHECK-LABEL: func.func @families
// CHECK-SAME: attributes {lowmem.arena_gradients_size = [], lowmem.arena_size = {{\[\[}}64], [128, [0, 0], [0, 1]], [64, [1, 0]]], lowmem.heap_size = []}

// CANON-LABEL: func.func @families
// CANON-DAG: [[C0:%.+]] = arith.constant 0 : index
// CANON-DAG: [[C64:%.+]] = arith.constant 64 : index
// CANON-DAG: [[C128:%.+]] = arith.constant 128 : index
// CANON-DAG: [[M:%.+]] = memref.dim %arg0, [[C0]] : memref<?x?xf32>
// CANON-DAG: [[N:%.+]] = memref.dim %arg0, %c1 : memref<?x?xf32>
// CANON-DAG: [[K:%.+]] = memref.dim %arg1, [[C0]] : memref<?x4xf32>
// CANON-DAG: [[MN:%.+]] = arith.muli [[M]], [[N]] : index
// CANON-DAG: [[MN128:%.+]] = arith.muli [[MN]], [[C128]] : index
// CANON-DAG: [[YBASE:%.+]] = arith.addi [[MN128]], [[C64]] : index
// CANON-DAG: [[MN64:%.+]] = arith.muli [[MN]], [[C64]] : index
// CANON-DAG: [[HOFF:%.+]] = arith.addi [[MN64]], [[C64]] : index
// CANON-DAG: [[VA:%.+]] = memref.view %arg2{{\[}}[[C64]]]{{\[}}[[M]], [[N]]] : memref<?xi8> to memref<?x?xf32>
// CANON-DAG: [[VB:%.+]] = memref.view %arg2{{\[}}[[YBASE]]]{{\[}}[[K]]] : memref<?xi8> to memref<?x4xf32>
// CANON-DAG: [[VC:%.+]] = memref.view %arg2{{\[}}[[HOFF]]]{{\[}}[[N]], [[M]]] : memref<?xi8> to memref<?x?xf16>
// CANON-DAG: [[VD:%.+]] = memref.view %arg2{{\[}}[[C0]]][] : memref<?xi8> to memref<2xf64>
// CANON: call @use([[VA]], [[VB]], [[VC]], [[VD]])

// ALIGN16-LABEL: func.func @families
// ALIGN16-SAME: lowmem.arena_size = {{\[\[}}16], [32, [0, 0], [0, 1]], [16, [1, 0]]]
func.func @families(%x: memref<?x?xf32>, %y: memref<?x4xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %m = memref.dim %x, %c0 : memref<?x?xf32>
  %k = memref.dim %y, %c0 : memref<?x4xf32>
  %n = memref.dim %x, %c1 : memref<?x?xf32>
  %a = memref.alloc(%m, %n) : memref<?x?xf32>
  %b = memref.alloc(%k) : memref<?x4xf32>
  %c = memref.alloc(%n, %m) : memref<?x?xf16>
  %d = memref.alloc() : memref<2xf64>
  call @use(%a, %b, %c, %d) : (memref<?x?xf32>, memref<?x4xf32>, memref<?x?xf16>, memref<2xf64>) -> ()
  return
}

// -----

// A use inside a loop keeps a buffer alive until the end of the loop. A
// loop's own allocations are planned too: packed among themselves over the
// loop's body, their scratch is one more buffer, live at the loop. %c then
// takes %a's place.

// CHECK-LABEL: func.func @loop
// CHECK-SAME: attributes {lowmem.arena_gradients_size = [], lowmem.arena_size = {{\[\[}}192]], lowmem.heap_size = []}
// CHECK: scf.for
// CHECK-NOT: memref.alloc
// CHECK: memref.view
// CHECK-NOT: memref.dealloc
// CHECK: }

// CANON-LABEL: func.func @loop
// CANON-DAG: [[C0:%.+]] = arith.constant 0 : index
// CANON-DAG: [[C64:%.+]] = arith.constant 64 : index
// CANON-DAG: [[C128:%.+]] = arith.constant 128 : index
// CANON: [[A:%.+]] = memref.view %arg1{{\[}}[[C0]]][] : memref<?xi8> to memref<16xf32>
// CANON: [[B:%.+]] = memref.view %arg1{{\[}}[[C64]]][] : memref<?xi8> to memref<16xf32>
// CANON: scf.for
// CANON:   [[T:%.+]] = memref.view %arg1{{\[}}[[C128]]][] : memref<?xi8> to memref<16xf32>
// CANON:   linalg.add ins([[A]], [[B]] : {{.+}}) outs([[T]] : memref<16xf32>)
// CANON: }
// CANON: linalg.fill ins(%{{.+}} : f32) outs([[A]] : memref<16xf32>)
// CANON: linalg.copy ins([[A]] : memref<16xf32>) outs(%arg0 : memref<16xf32>)
func.func @loop(%out: memref<16xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c4 = arith.constant 4 : index
  %cst = arith.constant 1.0 : f32
  %a = memref.alloc() : memref<16xf32>
  linalg.fill ins(%cst : f32) outs(%a : memref<16xf32>)
  %b = memref.alloc() : memref<16xf32>
  linalg.fill ins(%cst : f32) outs(%b : memref<16xf32>)
  scf.for %i = %c0 to %c4 step %c1 {
    %t = memref.alloc() : memref<16xf32>
    linalg.add ins(%a, %b : memref<16xf32>, memref<16xf32>) outs(%t : memref<16xf32>)
    linalg.copy ins(%t : memref<16xf32>) outs(%a : memref<16xf32>)
    memref.dealloc %t : memref<16xf32>
  }
  %c = memref.alloc() : memref<16xf32>
  linalg.fill ins(%cst : f32) outs(%c : memref<16xf32>)
  linalg.copy ins(%c : memref<16xf32>) outs(%out : memref<16xf32>)
  return
}

// -----

// Buffers the planner cannot place stay heap allocations, with a remark;
// only the static 8xf32 buffer goes to the arena.

// CHECK-LABEL: func.func @not_planned
// CHECK-SAME: %{{[^:]+}}: memref<?xi8> {lowmem.arena})
// CHECK-SAME: attributes {lowmem.arena_gradients_size = [], lowmem.arena_size = {{\[\[}}64]], lowmem.heap_size = []}
// CHECK-COUNT-5: memref.alloc
// CHECK: memref.view {{.+}} to memref<8xf32>
// CHECK: memref.alloc
// CHECK-NOT: memref.view
func.func private @keep(memref<?xf32>, memref<4x4xf32, affine_map<(d0, d1) -> (d1, d0)>>, memref<4xindex>, memref<4xvector<4xf32>>, memref<?xf32>, memref<?xf32>)
func.func @not_planned(%x: memref<?x8xf32>, %i: index) {
  // expected-remark @+1 {{not planned: a dynamic size is not a dimension of a function argument}}
  %a = memref.alloc(%i) : memref<?xf32>
  // expected-remark @+1 {{not planned: non-identity layout or element type}}
  %b = memref.alloc() : memref<4x4xf32, affine_map<(d0, d1) -> (d1, d0)>>
  // expected-remark @+1 {{not planned: non-identity layout or element type}}
  %c = memref.alloc() : memref<4xindex>
  // expected-remark @+1 {{not planned: non-identity layout or element type}}
  %d = memref.alloc() : memref<4xvector<4xf32>>
  %n = memref.dim %x, %i : memref<?x8xf32>
  // expected-remark @+1 {{not planned: a dynamic size is not a dimension of a function argument}}
  %e = memref.alloc(%n) : memref<?xf32>
  %c0 = arith.constant 0 : index
  %f = memref.alloc() : memref<8xf32>
  %m = memref.dim %f, %c0 : memref<8xf32>
  // expected-remark @+1 {{not planned: a dynamic size is not a dimension of a function argument}}
  %g = memref.alloc(%m) : memref<?xf32>
  call @keep(%a, %b, %c, %d, %e, %g) : (memref<?xf32>, memref<4x4xf32, affine_map<(d0, d1) -> (d1, d0)>>, memref<4xindex>, memref<4xvector<4xf32>>, memref<?xf32>, memref<?xf32>) -> ()
  return
}

// -----

// A function without buffers still gets the arena argument.

// CHECK-LABEL: func.func @no_buffers
// CHECK-SAME: ([[X:%[^:]+]]: memref<4xf32>, %{{[^:]+}}: memref<?xi8> {lowmem.arena})
// CHECK-SAME: attributes {lowmem.arena_gradients_size = [], lowmem.arena_size = [], lowmem.heap_size = []}
// CHECK-NEXT: return
func.func @no_buffers(%x: memref<4xf32>) {
  return
}

// Declarations are left alone.
// CHECK-LABEL: func.func private @declaration(memref<4xf32>)
// CHECK-NOT: lowmem.arena
func.func private @declaration(memref<4xf32>)

// -----

// A buffer read by an op that writes a trainable parameter is a gradient:
// gradients are planned in families of their own, first in the arena, and
// listed apart. %g and %h are both gradients and live together (128
// bytes); the activation %t, as large, does not share their space.

// CHECK-LABEL: func.func @gradients
// CHECK-SAME: attributes {lowmem.arena_gradients_size = {{\[\[}}128]], lowmem.arena_size = {{\[\[}}128], [64]], lowmem.heap_size = []}
// CANON-LABEL: func.func @gradients
// CANON-DAG: [[C0:%.+]] = arith.constant 0 : index
// CANON-DAG: [[C64:%.+]] = arith.constant 64 : index
// CANON-DAG: [[C128:%.+]] = arith.constant 128 : index
// CANON: memref.view %arg3{{\[}}[[C128]]][] : memref<?xi8> to memref<16xf32>
// CANON: memref.view %arg3{{\[}}[[C0]]][] : memref<?xi8> to memref<16xf32>
// CANON: memref.view %arg3{{\[}}[[C64]]][] : memref<?xi8> to memref<16xf32>
func.func @gradients(%x: memref<16xf32>, %p: memref<16xf32> {lowmem.param = "p", lowmem.trainable},
                     %q: memref<16xf32> {lowmem.param = "q", lowmem.trainable}) {
  %t = memref.alloc() : memref<16xf32>
  linalg.copy ins(%x : memref<16xf32>) outs(%t : memref<16xf32>)
  %g = memref.alloc() : memref<16xf32>
  linalg.copy ins(%t : memref<16xf32>) outs(%g : memref<16xf32>)
  %h = memref.alloc() : memref<16xf32>
  linalg.copy ins(%t : memref<16xf32>) outs(%h : memref<16xf32>)
  linalg.copy ins(%g : memref<16xf32>) outs(%p : memref<16xf32>)
  linalg.copy ins(%h : memref<16xf32>) outs(%q : memref<16xf32>)
  return
}

// -----

// The activation budget recorded by lowmem-checkpoint is checked against the
// plan, every dynamic dimension being the batch: 4 rows of 64 aligned bytes
// (32 with alignment=16).

// expected-error-re @+1 {{the planned activation arena is {{(256|128)}} bytes at batch 4, over the checkpoint budget of 127 bytes; give a larger budget}}
func.func @over_budget(%x: memref<?x8xf32>, %y: memref<?x8xf32>) attributes {lowmem.checkpoint_budget = [127, 4]} {
  %c0 = arith.constant 0 : index
  %d = memref.dim %x, %c0 : memref<?x8xf32>
  %t = memref.alloc(%d) : memref<?x8xf32>
  linalg.copy ins(%x : memref<?x8xf32>) outs(%t : memref<?x8xf32>)
  linalg.copy ins(%t : memref<?x8xf32>) outs(%y : memref<?x8xf32>)
  return
}

// -----

// CHECK-LABEL: func.func @within_budget
// CHECK-SAME: lowmem.arena_size = {{\[\[}}64, [0, 0]]]
func.func @within_budget(%x: memref<?x8xf32>, %y: memref<?x8xf32>) attributes {lowmem.checkpoint_budget = [256, 4]} {
  %c0 = arith.constant 0 : index
  %d = memref.dim %x, %c0 : memref<?x8xf32>
  %t = memref.alloc(%d) : memref<?x8xf32>
  linalg.copy ins(%x : memref<?x8xf32>) outs(%t : memref<?x8xf32>)
  linalg.copy ins(%t : memref<?x8xf32>) outs(%y : memref<?x8xf32>)
  return
}

// -----

// A returned buffer with an alignment and a dynamic size whose bytes per
// unit (1000 f32 = 4000 bytes) are not a multiple of it: the allocator is
// asked for the size rounded up, which only the runtime knows, so the plan
// gives each heap term's alignment.

// CHECK-LABEL: func.func @logits
// CHECK-SAME: lowmem.heap_alignment = [64, 1]
// CHECK-SAME: lowmem.heap_size = {{\[\[}}4000, [0, 0]], [64]]
func.func @logits(%x: memref<?x8xf32>) -> (memref<?x1000xf32>, memref<3xf32>) {
  %c0 = arith.constant 0 : index
  %n = memref.dim %x, %c0 : memref<?x8xf32>
  %a = memref.alloc(%n) {alignment = 64 : i64} : memref<?x1000xf32>
  %b = memref.alloc() {alignment = 64 : i64} : memref<3xf32>
  return %a, %b : memref<?x1000xf32>, memref<3xf32>
}
