// Launches run as host loops, in MLIR's JIT: every thread of a 3 x 4 grid
// writes its flat index, and all of them write one cell, whose last writer
// is thread 0 of block 0 (threads run last first, so a race shows).
//
// RUN: lowmem-opt %s --lowmem-emulate-launches %lower-tensors-to-llvm | %mlir-runner | FileCheck %s

func.func private @printMemrefI64(memref<*xi64>)

func.func @main() {
  %c1 = arith.constant 1 : index
  %c3 = arith.constant 3 : index
  %c4 = arith.constant 4 : index
  %c0 = arith.constant 0 : index
  %out = memref.alloc() : memref<12xi64>
  %last = memref.alloc() : memref<1xi64>
  gpu.launch blocks(%b, %by, %bz) in (%gx = %c3, %gy = %c1, %gz = %c1)
             threads(%t, %ty, %tz) in (%bx = %c4, %sby = %c1, %sbz = %c1) {
    %dim = gpu.block_dim x
    %base = arith.muli %b, %dim : index
    %flat = arith.addi %base, %t : index
    %v = arith.index_cast %flat : index to i64
    memref.store %v, %out[%flat] : memref<12xi64>
    memref.store %v, %last[%c0] : memref<1xi64>
    gpu.terminator
  }
  %u = memref.cast %out : memref<12xi64> to memref<*xi64>
  call @printMemrefI64(%u) : (memref<*xi64>) -> ()
  // CHECK: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]
  %l = memref.cast %last : memref<1xi64> to memref<*xi64>
  call @printMemrefI64(%l) : (memref<*xi64>) -> ()
  // CHECK: [0]
  memref.dealloc %out : memref<12xi64>
  memref.dealloc %last : memref<1xi64>
  return
}
