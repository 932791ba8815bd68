// RUN: lowmem-opt %s --split-input-file --lowmem-emulate-launches --verify-diagnostics | FileCheck %s

// Blocks and threads become loops, z to x, each counted down; the ids and
// dimensions the body reads are the loops' values and the launch's sizes.

// CHECK-LABEL: func.func @ids
// CHECK-SAME: (%[[OUT:.*]]: memref<?xindex>, %[[GX:.*]]: index, %[[BX:.*]]: index)
// CHECK-NOT: gpu.launch
// CHECK: scf.for
// CHECK: scf.for
// CHECK: scf.for %[[I:.*]] = %{{.*}} to %[[GX]] step %[[ONE:[^ ]*]] {
// CHECK: %[[LASTB:.*]] = arith.subi %[[GX]], %[[ONE]]
// CHECK: %[[B:.*]] = arith.subi %[[LASTB]], %[[I]]
// CHECK: scf.for
// CHECK: scf.for
// CHECK: scf.for %[[J:.*]] = %{{.*}} to %[[BX]] step %[[ONE]] {
// CHECK: %[[LASTT:.*]] = arith.subi %[[BX]], %[[ONE]]
// CHECK: %[[T:.*]] = arith.subi %[[LASTT]], %[[J]]
// CHECK: %[[BASE:.*]] = arith.muli %[[B]], %[[BX]]
// CHECK: %[[FLAT:.*]] = arith.addi %[[BASE]], %[[T]]
// CHECK: %[[DIM:.*]] = arith.muli %[[BX]], %[[GX]]
// CHECK: %[[V:.*]] = arith.addi %[[FLAT]], %[[DIM]]
// CHECK: memref.store %[[V]], %[[OUT]][%[[FLAT]]]
// CHECK-NOT: llvm.intr.stacksave
func.func @ids(%out: memref<?xindex>, %gx: index, %bx: index) {
  %c1 = arith.constant 1 : index
  gpu.launch blocks(%b, %by, %bz) in (%sgx = %gx, %sgy = %c1, %sgz = %c1)
             threads(%t, %ty, %tz) in (%sbx = %bx, %sby = %c1, %sbz = %c1) {
    %base = arith.muli %b, %sbx : index
    %flat = arith.addi %base, %t : index
    %dim = gpu.block_dim x
    %grid = gpu.grid_dim x
    %size = arith.muli %dim, %grid : index
    %v = arith.addi %flat, %size : index
    memref.store %v, %out[%flat] : memref<?xindex>
    gpu.terminator
  }
  return
}

// -----

// A thread's private memory goes with it: the stack pointer is restored
// after each thread.

// CHECK-LABEL: func.func @private
// CHECK: scf.for
// CHECK: %[[SP:.*]] = llvm.intr.stacksave : !llvm.ptr
// CHECK: memref.alloca() : memref<4xf32>
// CHECK: llvm.intr.stackrestore %[[SP]] : !llvm.ptr
func.func @private(%out: memref<8x4xf32>) {
  %c1 = arith.constant 1 : index
  %c8 = arith.constant 8 : index
  %c0 = arith.constant 0 : index
  %f = arith.constant 1.0 : f32
  gpu.launch blocks(%b, %by, %bz) in (%gx = %c1, %gy = %c1, %gz = %c1)
             threads(%t, %ty, %tz) in (%bx = %c8, %sby = %c1, %sbz = %c1) {
    %scratch = memref.alloca() : memref<4xf32>
    memref.store %f, %scratch[%c0] : memref<4xf32>
    %v = memref.load %scratch[%c0] : memref<4xf32>
    memref.store %v, %out[%t, %c0] : memref<8x4xf32>
    gpu.terminator
  }
  return
}

// -----

// Kernels whose threads run together cannot run one thread at a time.

func.func @barrier(%out: memref<8xf32>) {
  %c1 = arith.constant 1 : index
  // expected-error @below {{cannot run this kernel as loops on the host: it uses 'gpu.barrier', which needs its threads running together on a GPU}}
  gpu.launch blocks(%b, %by, %bz) in (%gx = %c1, %gy = %c1, %gz = %c1)
             threads(%t, %ty, %tz) in (%bx = %c1, %sby = %c1, %sbz = %c1) {
    gpu.barrier
    gpu.terminator
  }
  return
}

// -----

func.func @shuffle(%out: memref<32xf32>, %v: f32) {
  %c1 = arith.constant 1 : index
  %c32 = arith.constant 32 : index
  %o = arith.constant 1 : i32
  %w = arith.constant 32 : i32
  // expected-error @below {{it uses 'gpu.shuffle'}}
  gpu.launch blocks(%b, %by, %bz) in (%gx = %c1, %gy = %c1, %gz = %c1)
             threads(%t, %ty, %tz) in (%bx = %c32, %sby = %c1, %sbz = %c1) {
    scf.for %i = %c1 to %c32 step %c1 {
      %s, %ok = gpu.shuffle xor %v, %o, %w : f32
      memref.store %s, %out[%t] : memref<32xf32>
    }
    gpu.terminator
  }
  return
}

// -----

func.func @shared(%out: memref<8xf32>) {
  %c1 = arith.constant 1 : index
  // expected-error @below {{it has shared or private memory attributions}}
  gpu.launch blocks(%b, %by, %bz) in (%gx = %c1, %gy = %c1, %gz = %c1)
             threads(%t, %ty, %tz) in (%bx = %c1, %sby = %c1, %sbz = %c1)
             workgroup(%tile : memref<8xf32, #gpu.address_space<workgroup>>) {
    gpu.terminator
  }
  return
}

// -----

func.func @async(%out: memref<8xf32>) {
  %c1 = arith.constant 1 : index
  // expected-error @below {{it is asynchronous}}
  %token = gpu.launch async
             blocks(%b, %by, %bz) in (%gx = %c1, %gy = %c1, %gz = %c1)
             threads(%t, %ty, %tz) in (%bx = %c1, %sby = %c1, %sbz = %c1) {
    gpu.terminator
  }
  return
}
