// RUN: lowmem-opt %s -split-input-file --lowmem-plan-memory="offload=true" | FileCheck %s
// RUN: lowmem-opt %s -split-input-file --lowmem-plan-memory | FileCheck %s --check-prefix=OFF

// With offload, an activation live but idle at its family's peak waits in a
// host arena: %a (64 bytes a row) is used at the start and at the end, and
// sits idle while %big (128 bytes a row) and %b are live. It is copied out
// after its last use before the gap (its subview), back into the arena
// before its first use after it, and the subview is made again there. The
// arena drops from 256 to 192 bytes a row; the host arena holds 64.

// CHECK-LABEL: func.func @idle
// CHECK-SAME: ([[X:%[^:]+]]: memref<?x8xf32>, [[OUT:%[^:]+]]: memref<?x8xf32>, [[ARENA:%[^:]+]]: memref<?xi8> {lowmem.arena}, [[HOST:%[^:]+]]: memref<?xi8> {lowmem.host_arena})
// CHECK-SAME: lowmem.arena_size = {{\[\[}}192, [0, 0]]]
// CHECK-SAME: lowmem.host_arena_size = {{\[\[}}64, [0, 0]]]
// CHECK: [[A:%.+]] = memref.view [[ARENA]]
// CHECK: linalg.generic {{.*}} outs([[A]] : memref<?x8xf32>)
// CHECK: memref.subview [[A]]
// CHECK: [[PARKED:%.+]] = memref.view [[HOST]]
// CHECK-NEXT: linalg.copy ins([[A]] : memref<?x8xf32>) outs([[PARKED]] : memref<?x8xf32>)
// CHECK: [[BIG:%.+]] = memref.view [[ARENA]]
// CHECK: linalg.fill {{.*}} outs([[BIG]]
// The gap around the fill is only an allocation: %big stays.
// CHECK-NOT: linalg.copy ins([[BIG]]
// CHECK: linalg.generic {{.*}} ins([[BIG]]
// CHECK: linalg.copy ins([[PARKED]] : memref<?x8xf32>) outs([[BACK:%.+]] : memref<?x8xf32>)
// CHECK-NEXT: [[SUB:%.+]] = memref.subview [[BACK]]
// CHECK-NEXT: linalg.generic {{.*}} ins([[SUB]], %{{.+}} : memref<?x8xf32, strided<[8, 1]>>, memref<?x8xf32>)
// CHECK: memref.copy

// Without offload nothing moves.
// OFF-LABEL: func.func @idle
// OFF-SAME: ([[X:%[^:]+]]: memref<?x8xf32>, [[OUT:%[^:]+]]: memref<?x8xf32>, [[ARENA:%[^:]+]]: memref<?xi8> {lowmem.arena})
// OFF-SAME: lowmem.arena_size = {{\[\[}}256, [0, 0]]]
// OFF-NOT: host_arena
// OFF-NOT: linalg.copy

#id = affine_map<(d0, d1) -> (d0, d1)>
#row = affine_map<(d0, d1) -> (d0, 0)>

func.func @idle(%x: memref<?x8xf32>, %out: memref<?x8xf32>) {
  %c0 = arith.constant 0 : index
  %cst = arith.constant 1.0 : f32
  %n = memref.dim %x, %c0 : memref<?x8xf32>
  %a = memref.alloc(%n) : memref<?x8xf32>
  linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%x : memref<?x8xf32>) outs(%a : memref<?x8xf32>) {
  ^bb0(%i: f32, %o: f32):
    %r = arith.maximumf %i, %cst : f32
    linalg.yield %r : f32
  }
  %av = memref.subview %a[0, 0] [%n, 8] [1, 1] : memref<?x8xf32> to memref<?x8xf32, strided<[8, 1]>>
  %big = memref.alloc(%n) : memref<?x32xf32>
  linalg.fill ins(%cst : f32) outs(%big : memref<?x32xf32>)
  %b = memref.alloc(%n) : memref<?x8xf32>
  linalg.generic {indexing_maps = [#row, #id], iterator_types = ["parallel", "parallel"]}
      ins(%big : memref<?x32xf32>) outs(%b : memref<?x8xf32>) {
  ^bb0(%i: f32, %o: f32):
    %r = arith.addf %i, %i : f32
    linalg.yield %r : f32
  }
  %c = memref.alloc(%n) : memref<?x8xf32>
  linalg.generic {indexing_maps = [#id, #id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%av, %b : memref<?x8xf32, strided<[8, 1]>>, memref<?x8xf32>) outs(%c : memref<?x8xf32>) {
  ^bb0(%i: f32, %j: f32, %o: f32):
    %r = arith.addf %i, %j : f32
    linalg.yield %r : f32
  }
  memref.copy %c, %out : memref<?x8xf32> to memref<?x8xf32>
  return
}

// -----

// A returned buffer never moves, nor does a gradient (read by an update of
// a trainable argument): only activations are offloaded. %a and %g1 are
// idle while %big and %g2 are live.
// CHECK-LABEL: func.func @kept
// CHECK-SAME: lowmem.arena_gradients_size = {{\[\[}}128]]
// CHECK-NOT: host_arena
// CHECK-NOT: linalg.copy
// CHECK: return
#id1 = affine_map<(d0) -> (d0)>
func.func @kept(%x: memref<?x8xf32>, %w: memref<8xf32> {lowmem.trainable}) -> memref<?x8xf32> {
  %c0 = arith.constant 0 : index
  %cst = arith.constant 1.0 : f32
  %n = memref.dim %x, %c0 : memref<?x8xf32>
  %a = memref.alloc(%n) : memref<?x8xf32>
  linalg.fill ins(%cst : f32) outs(%a : memref<?x8xf32>)
  %g1 = memref.alloc() : memref<8xf32>
  linalg.fill ins(%cst : f32) outs(%g1 : memref<8xf32>)
  %big = memref.alloc(%n) : memref<?x32xf32>
  linalg.fill ins(%cst : f32) outs(%big : memref<?x32xf32>)
  linalg.fill ins(%cst : f32) outs(%big : memref<?x32xf32>)
  %g2 = memref.alloc() : memref<8xf32>
  linalg.fill ins(%cst : f32) outs(%g2 : memref<8xf32>)
  linalg.generic {indexing_maps = [#id1, #id1], iterator_types = ["parallel"]}
      ins(%g2 : memref<8xf32>) outs(%w : memref<8xf32>) {
  ^bb0(%i: f32, %o: f32):
    %r = arith.subf %o, %i : f32
    linalg.yield %r : f32
  }
  linalg.generic {indexing_maps = [#id1, #id1], iterator_types = ["parallel"]}
      ins(%g1 : memref<8xf32>) outs(%w : memref<8xf32>) {
  ^bb0(%i: f32, %o: f32):
    %r = arith.subf %o, %i : f32
    linalg.yield %r : f32
  }
  linalg.fill ins(%cst : f32) outs(%a : memref<?x8xf32>)
  return %a : memref<?x8xf32>
}
