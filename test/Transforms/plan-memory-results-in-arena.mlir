// RUN: lowmem-opt %s -split-input-file -verify-diagnostics --lowmem-plan-memory="results-in-arena" | FileCheck %s
// RUN: lowmem-opt %s -split-input-file --lowmem-plan-memory 2>&1 | FileCheck %s --check-prefix=HEAP

// With results-in-arena (code whose buffers are in device memory), the
// returned buffer is planned too and lives until the return: the scratch
// buffer %t, dead once %r is computed, cannot take %r's place, so the arena
// holds both (64 + 64 bytes a row), and nothing is left on the heap.
// Without the option the result stays a heap allocation.

// CHECK-LABEL: func.func @result
// CHECK-SAME: attributes {lowmem.arena_gradients_size = [], lowmem.arena_size = {{\[\[}}128, [0, 0]]], lowmem.heap_size = []}
// CHECK-NOT: memref.alloc
// CHECK: [[R:%.+]] = memref.view
// CHECK: return [[R]]
// HEAP-LABEL: func.func @result
// HEAP-SAME: attributes {lowmem.arena_gradients_size = [], lowmem.arena_size = {{\[\[}}64, [0, 0]]], lowmem.heap_size = {{\[\[}}32, [0, 0]]]}
// HEAP: memref.alloc
func.func @result(%x: memref<?x8xf32>) -> memref<?x8xf32> {
  %c0 = arith.constant 0 : index
  %n = memref.dim %x, %c0 : memref<?x8xf32>
  %r = memref.alloc(%n) : memref<?x8xf32>
  %t = memref.alloc(%n) : memref<?x8xf32>
  memref.copy %x, %t : memref<?x8xf32> to memref<?x8xf32>
  memref.copy %t, %r : memref<?x8xf32> to memref<?x8xf32>
  return %r : memref<?x8xf32>
}

// -----

// A buffer that cannot be planned is an error: there is no heap.
func.func @unplannable(%x: memref<?x8xf32>, %n: index) -> memref<?x8xf32> {
  // expected-error @+1 {{cannot plan this buffer, and results-in-arena leaves no heap: a dynamic size is not a dimension of a function argument}}
  %r = memref.alloc(%n) : memref<?x8xf32>
  memref.copy %x, %r : memref<?x8xf32> to memref<?x8xf32>
  return %r : memref<?x8xf32>
}

// -----

func.func @aliased(%x: memref<8xf32>, %c: i1) -> memref<8xf32> {
  // expected-error @+1 {{cannot plan this buffer, and results-in-arena leaves no heap: the buffer may be aliased through an operation that is not a view}}
  %r = memref.alloc() : memref<8xf32>
  %s = arith.select %c, %r, %x : memref<8xf32>
  return %s : memref<8xf32>
}
