// RUN: lowmem-opt %s -split-input-file --lowmem-plan-memory --canonicalize --cse 2>/dev/null | FileCheck %s
// RUN: lowmem-opt %s -split-input-file --lowmem-plan-memory -verify-diagnostics -o /dev/null

// The planner follows aliases made by views. A buffer that flows into any
// other op producing memrefs (select, region results) or into a terminator
// that forwards it may be read through an alias the planner cannot follow:
// it stays a heap allocation, and says so in a remark. Functions with more
// than one block are not planned.

// %a flows through a select: only %b is planned.

// CHECK-LABEL: func.func @select_alias
// CHECK-SAME: lowmem.arena_size = {{\[\[}}64]]
// CHECK: memref.alloc() : memref<16xf32>
// CHECK: memref.view %arg3{{\[}}%{{.+}}][] : memref<?xi8> to memref<16xf32>
func.func @select_alias(%cond: i1, %arg: memref<16xf32>, %out: memref<16xf32>) {
  %one = arith.constant 1.0 : f32
  %two = arith.constant 2.0 : f32
  // expected-remark @+1 {{not planned: the buffer may be aliased through an operation that is not a view}}
  %a = memref.alloc() : memref<16xf32>
  linalg.fill ins(%one : f32) outs(%a : memref<16xf32>)
  %r = arith.select %cond, %a, %arg : memref<16xf32>
  %b = memref.alloc() : memref<16xf32>
  linalg.fill ins(%two : f32) outs(%b : memref<16xf32>)
  linalg.add ins(%r, %b : memref<16xf32>, memref<16xf32>) outs(%out : memref<16xf32>)
  return
}

// -----

// CHECK-LABEL: func.func @if_alias
// CHECK-SAME: lowmem.arena_size = {{\[\[}}64]]
// CHECK: memref.alloc() : memref<16xf32>
func.func @if_alias(%cond: i1, %arg: memref<16xf32>, %out: memref<16xf32>) {
  %one = arith.constant 1.0 : f32
  %two = arith.constant 2.0 : f32
  // expected-remark @+1 {{not planned: the buffer may be aliased through an operation that is not a view}}
  %a = memref.alloc() : memref<16xf32>
  linalg.fill ins(%one : f32) outs(%a : memref<16xf32>)
  %r = scf.if %cond -> memref<16xf32> {
    scf.yield %a : memref<16xf32>
  } else {
    scf.yield %arg : memref<16xf32>
  }
  %b = memref.alloc() : memref<16xf32>
  linalg.fill ins(%two : f32) outs(%b : memref<16xf32>)
  linalg.add ins(%r, %b : memref<16xf32>, memref<16xf32>) outs(%out : memref<16xf32>)
  return
}

// -----

// memref.transpose is not a view the planner follows: the buffer stays on the
// heap, and the heap prediction counts it.

// CHECK-LABEL: func.func @transpose_escapes
// CHECK-SAME: lowmem.arena_size = [], lowmem.heap_size = {{\[\[}}64]]
// CHECK: [[A:%.+]] = memref.alloc() : memref<4x4xf32>
// CHECK: [[T:%.+]] = memref.transpose [[A]]
// CHECK: return [[T]]
func.func @transpose_escapes(%x: memref<4x4xf32>) -> memref<4x4xf32, strided<[1, 4]>> {
  // expected-remark @+1 {{not planned: the buffer may be aliased through an operation that is not a view}}
  %a = memref.alloc() : memref<4x4xf32>
  memref.copy %x, %a : memref<4x4xf32> to memref<4x4xf32>
  %t = memref.transpose %a (i, j) -> (j, i) : memref<4x4xf32> to memref<4x4xf32, strided<[1, 4]>>
  return %t : memref<4x4xf32, strided<[1, 4]>>
}

// -----

// CHECK-LABEL: func.func @use_in_successor_block
// CHECK-NOT: lowmem.arena_size
// CHECK-COUNT-2: memref.alloc()
// CHECK-NOT: memref.view
// expected-remark @+1 {{not planned: the function has more than one block}}
func.func @use_in_successor_block(%out: memref<16xf32>) {
  %one = arith.constant 1.0 : f32
  %a = memref.alloc() : memref<16xf32>
  linalg.fill ins(%one : f32) outs(%a : memref<16xf32>)
  %b = memref.alloc() : memref<16xf32>
  linalg.fill ins(%one : f32) outs(%b : memref<16xf32>)
  cf.br ^bb1
^bb1:
  linalg.add ins(%a, %b : memref<16xf32>, memref<16xf32>) outs(%out : memref<16xf32>)
  return
}
