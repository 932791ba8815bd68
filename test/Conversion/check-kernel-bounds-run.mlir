// An emulated kernel that reads past its buffer stops with a message naming
// the kernel, the access and its location; in bounds, it runs to the end.
//
// RUN: lowmem-opt %s --lowmem-check-kernel-bounds --lowmem-emulate-launches %lower-tensors-to-llvm | not --crash %mlir-runner 2>&1 | FileCheck %s
// CHECK: [1, 2, 3, 4, 5, 6, 7, 8]

func.func private @printMemrefF32(memref<*xf32>)

// Each thread t of a block of 32 copies in[t + shift] to out[t], for the
// threads below n.
func.func @shift(%in: memref<?xf32>, %out: memref<?xf32>, %shift: index) {
  %c1 = arith.constant 1 : index
  %c32 = arith.constant 32 : index
  %c0 = arith.constant 0 : index
  %n = memref.dim %out, %c0 : memref<?xf32>
  gpu.launch blocks(%b, %by, %bz) in (%gx = %c1, %gy = %c1, %gz = %c1)
             threads(%t, %ty, %tz) in (%bx = %c32, %sby = %c1, %sbz = %c1) {
    %inside = arith.cmpi ult, %t, %n : index
    %x = scf.if %inside -> f32 {
      %i = arith.addi %t, %shift : index
      // CHECK: emulated kernel lowmem_shift: out-of-bounds memref.load of memref<?xf32> at {{.*}}check-kernel-bounds-run.mlir:[[# @LINE + 1]]:12
      %v = memref.load %in[%i] : memref<?xf32>
      scf.yield %v : f32
    } else {
      %zero = arith.constant 0.0 : f32
      scf.yield %zero : f32
    }
    // A shuffle (of each lane's own value) makes the threads run together:
    // the check stops both kinds of emulation.
    %w = arith.constant 32 : i32
    %own = arith.constant 0 : i32
    %y, %valid = gpu.shuffle xor %x, %own, %w : f32
    scf.if %inside {
      memref.store %y, %out[%t] : memref<?xf32>
    }
    gpu.terminator
  } {function = @lowmem_shift}
  return
}

func.func @main() {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c8 = arith.constant 8 : index
  %c9 = arith.constant 9 : index
  %in = memref.alloc(%c9) : memref<?xf32>
  %out = memref.alloc(%c8) : memref<?xf32>
  scf.for %i = %c0 to %c9 step %c1 {
    %v = arith.index_cast %i : index to i32
    %f = arith.sitofp %v : i32 to f32
    memref.store %f, %in[%i] : memref<?xf32>
  }
  // In bounds: in[1..8].
  call @shift(%in, %out, %c1) : (memref<?xf32>, memref<?xf32>, index) -> ()
  %u = memref.cast %out : memref<?xf32> to memref<*xf32>
  call @printMemrefF32(%u) : (memref<*xf32>) -> ()
  // One past the end: in[2..9].
  %c2 = arith.constant 2 : index
  call @shift(%in, %out, %c2) : (memref<?xf32>, memref<?xf32>, index) -> ()
  call @printMemrefF32(%u) : (memref<*xf32>) -> ()
  // CHECK-NOT: [
  memref.dealloc %in : memref<?xf32>
  memref.dealloc %out : memref<?xf32>
  return
}
