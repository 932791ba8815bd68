// RUN: lowmem-opt %s -split-input-file -verify-diagnostics --lowmem-plan-memory | FileCheck %s
// RUN: lowmem-opt %s -split-input-file -verify-diagnostics --lowmem-plan-memory --canonicalize --cse | FileCheck %s --check-prefix=CANON
// RUN: not lowmem-opt %s -split-input-file --lowmem-plan-memory="results-in-arena" 2>&1 | FileCheck %s --check-prefix=ARENA

// A chunked loop (lowmem-chunk-mlp) allocates its buffers sized by the
// chunk, min(4, rows left): planned as 4 rows. %g and %h (48 floats a row:
// 768 bytes) and %t (8 floats a row: 128 bytes), written by the op that
// reads them, are live together; %u comes after %g and %h die and takes
// %g's place. The loop's scratch is 1664 bytes; %a's family, 64 bytes a
// row, follows.

// CHECK-LABEL: func.func @chunks
// CHECK-SAME: lowmem.arena_size = {{\[\[}}1664], [64, [0, 0]]]
// CHECK: scf.for
// CHECK-NOT: memref.alloc
// CHECK: }

// CANON-LABEL: func.func @chunks
// CANON-DAG: [[C0:%.+]] = arith.constant 0 : index
// CANON-DAG: [[C768:%.+]] = arith.constant 768 : index
// CANON-DAG: [[C1536:%.+]] = arith.constant 1536 : index
// CANON-DAG: [[C1664:%.+]] = arith.constant 1664 : index
// CANON: memref.view %arg1{{\[}}[[C1664]]]
// CANON: scf.for
// CANON: [[SIZE:%.+]] = arith.minsi
// CANON: [[G:%.+]] = memref.view %arg1{{\[}}[[C0]]]{{\[}}[[SIZE]]] : memref<?xi8> to memref<?x48xf32>
// CANON: [[H:%.+]] = memref.view %arg1{{\[}}[[C768]]]{{\[}}[[SIZE]]] : memref<?xi8> to memref<?x48xf32>
// CANON: [[T:%.+]] = memref.view %arg1{{\[}}[[C1536]]]{{\[}}[[SIZE]]] : memref<?xi8> to memref<?x8xf32>
// CANON: linalg.generic {{.*}} ins([[G]], [[H]] : {{.*}}) outs([[T]] : memref<?x8xf32>)
// %u's view is %g's (CSE merges them).
// CANON: linalg.generic {{.*}} ins([[T]] : memref<?x8xf32>) outs([[G]] : memref<?x48xf32>)

// ARENA: error: cannot plan this buffer, and results-in-arena leaves no heap: a dynamic size is neither a dimension of a function argument nor bounded by a constant

#id = affine_map<(d0, d1) -> (d0, d1)>
#row = affine_map<(d0, d1) -> (d0, 0)>

func.func @chunks(%x: memref<?x8xf32>) {
  %c0 = arith.constant 0 : index
  %c4 = arith.constant 4 : index
  %cst = arith.constant 1.0 : f32
  %n = memref.dim %x, %c0 : memref<?x8xf32>
  %a = memref.alloc(%n) : memref<?x8xf32>
  linalg.fill ins(%cst : f32) outs(%a : memref<?x8xf32>)
  scf.for %i = %c0 to %n step %c4 {
    %left = arith.subi %n, %i : index
    %size = arith.minsi %left, %c4 : index
    %g = memref.alloc(%size) : memref<?x48xf32>
    linalg.fill ins(%cst : f32) outs(%g : memref<?x48xf32>)
    %h = memref.alloc(%size) : memref<?x48xf32>
    linalg.fill ins(%cst : f32) outs(%h : memref<?x48xf32>)
    %t = memref.alloc(%size) : memref<?x8xf32>
    linalg.generic {indexing_maps = [#row, #row, #id], iterator_types = ["parallel", "parallel"]}
        ins(%g, %h : memref<?x48xf32>, memref<?x48xf32>) outs(%t : memref<?x8xf32>) {
    ^bb0(%p: f32, %q: f32, %o: f32):
      %r = arith.addf %p, %q : f32
      linalg.yield %r : f32
    }
    %u = memref.alloc(%size) : memref<?x48xf32>
    linalg.generic {indexing_maps = [#row, #id], iterator_types = ["parallel", "parallel"]}
        ins(%t : memref<?x8xf32>) outs(%u : memref<?x48xf32>) {
    ^bb0(%p: f32, %o: f32):
      linalg.yield %p : f32
    }
    %s = memref.subview %a[%i, 0] [%size, 8] [1, 1] : memref<?x8xf32> to memref<?x8xf32, strided<[8, 1], offset: ?>>
    linalg.copy ins(%t : memref<?x8xf32>) outs(%s : memref<?x8xf32, strided<[8, 1], offset: ?>>)
  }
  return
}

// -----

// A size that is neither an argument's dimension nor bounded stays a
// per-iteration allocation on the CPU (an error with results-in-arena).
// CHECK-LABEL: func.func @unbounded
// CHECK: scf.for
// CHECK: memref.alloc
func.func @unbounded(%x: memref<?x8xf32>) {
  %c0 = arith.constant 0 : index
  %c4 = arith.constant 4 : index
  %cst = arith.constant 1.0 : f32
  %n = memref.dim %x, %c0 : memref<?x8xf32>
  scf.for %i = %c0 to %n step %c4 {
    %left = arith.subi %n, %i : index
    // expected-remark @below {{not planned: a dynamic size is neither a dimension of a function argument nor bounded by a constant}}
    %g = memref.alloc(%left) : memref<?x8xf32>
    linalg.fill ins(%cst : f32) outs(%g : memref<?x8xf32>)
  }
  return
}
