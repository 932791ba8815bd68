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
// CHECK: scf.for %[[J:.*]] = %{{.*}} to %[[BX]] step %[[ONET:[^ ]*]] {
// CHECK: %[[LASTT:.*]] = arith.subi %[[BX]], %[[ONET]]
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

// Threads that run together: the body is cut at the barrier and at each
// shuffle. Before the block loop: the stack pointer, one slot a thread for
// each value that crosses a cut, the shared buffer. In each block: the
// shared buffer filled with NaN; then, for each warp (counted down), the
// lanes up to the shuffle, the shuffle reading the partner's slot, and the
// lanes up to the barrier; then, for each warp, the lanes after it.

// CHECK-LABEL: func.func @together
// CHECK-SAME: (%[[OUT:.*]]: memref<64xf32>)
// CHECK-NOT: gpu.launch
// CHECK: %[[SP:.*]] = llvm.intr.stacksave : !llvm.ptr
// CHECK-DAG: %[[XS:.*]] = memref.alloca() {alignment = 16 : i64} : memref<64xf32>
// CHECK-DAG: %[[SHS:.*]] = memref.alloca() {alignment = 16 : i64} : memref<64xf32>
// CHECK-DAG: %[[SHARED:.*]] = memref.alloca() {alignment = 16 : i64} : memref<2xf32>
// CHECK: scf.for
// CHECK: memref.store %{{.*}}, %[[SHARED]]
// CHECK: scf.for %[[W:.*]] =
// CHECK: %[[BASE:.*]] = arith.muli
// CHECK: scf.for
// CHECK: %[[TID:.*]] = arith.addi %[[BASE]]
// CHECK: memref.store %{{.*}}, %[[XS]][%[[TID]]]
// CHECK: scf.for
// CHECK: arith.xori
// CHECK: %[[FROM:.*]] = arith.addi %[[BASE]], %{{.*}} : index
// CHECK: %[[V:.*]] = memref.load %[[XS]][%[[FROM]]]
// CHECK: memref.store %[[V]], %[[SHS]]
// CHECK: scf.for
// CHECK: memref.load %[[SHS]]
// CHECK: memref.store %{{.*}}, %[[SHARED]]
// CHECK: scf.for
// CHECK: scf.for
// CHECK: memref.load %[[SHARED]]
// CHECK: memref.store %{{.*}}, %[[OUT]]
// CHECK: llvm.intr.stackrestore %[[SP]] : !llvm.ptr
func.func @together(%out: memref<64xf32>) {
  %c1 = arith.constant 1 : index
  %c32 = arith.constant 32 : index
  %c64 = arith.constant 64 : index
  %o = arith.constant 1 : i32
  %w = arith.constant 32 : i32
  gpu.launch blocks(%b, %by, %bz) in (%gx = %c1, %gy = %c1, %gz = %c1)
             threads(%t, %ty, %tz) in (%bx = %c64, %sby = %c1, %sbz = %c1)
             workgroup(%tile : memref<2xf32, #gpu.address_space<workgroup>>) {
    %i = arith.index_cast %t : index to i32
    %x = arith.sitofp %i : i32 to f32
    %s, %ok = gpu.shuffle xor %x, %o, %w : f32
    %warp = arith.divui %t, %c32 : index
    memref.store %s, %tile[%warp] : memref<2xf32, #gpu.address_space<workgroup>>
    gpu.barrier
    %other = arith.subi %c1, %warp : index
    %v = memref.load %tile[%other] : memref<2xf32, #gpu.address_space<workgroup>>
    memref.store %v, %out[%t] : memref<64xf32>
    gpu.terminator
  }
  return
}

// -----

// What the emulation does not run is reported.

func.func @odd_block(%out: memref<8xf32>) {
  %c1 = arith.constant 1 : index
  // expected-error @below {{cannot run this kernel as loops on the host: its threads run together, which is emulated only for a 1-D block of whole warps of constant size}}
  gpu.launch blocks(%b, %by, %bz) in (%gx = %c1, %gy = %c1, %gz = %c1)
             threads(%t, %ty, %tz) in (%bx = %c1, %sby = %c1, %sbz = %c1) {
    gpu.barrier
    gpu.terminator
  }
  return
}

// -----

func.func @shuffle_in_region(%out: memref<32xf32>, %v: f32) {
  %c1 = arith.constant 1 : index
  %c32 = arith.constant 32 : index
  %o = arith.constant 1 : i32
  %w = arith.constant 32 : i32
  // expected-error @below {{cannot run this kernel as loops on the host: a barrier or shuffle is inside 'scf.execute_region', which is emulated only in scf.for and scf.if}}
  gpu.launch blocks(%b, %by, %bz) in (%gx = %c1, %gy = %c1, %gz = %c1)
             threads(%t, %ty, %tz) in (%bx = %c32, %sby = %c1, %sbz = %c1) {
    %r = scf.execute_region -> f32 {
      %s, %ok = gpu.shuffle xor %v, %o, %w : f32
      scf.yield %s : f32
    }
    memref.store %r, %out[%t] : memref<32xf32>
    gpu.terminator
  }
  return
}

// -----

func.func @thread_bound(%out: memref<32xf32>, %v: f32) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c32 = arith.constant 32 : index
  %o = arith.constant 1 : i32
  %w = arith.constant 32 : i32
  // expected-error @below {{a branch or loop holding a barrier or shuffle depends on the thread id}}
  gpu.launch blocks(%b, %by, %bz) in (%gx = %c1, %gy = %c1, %gz = %c1)
             threads(%t, %ty, %tz) in (%bx = %c32, %sby = %c1, %sbz = %c1) {
    scf.for %i = %c0 to %t step %c1 {
      %s, %ok = gpu.shuffle xor %v, %o, %w : f32
      memref.store %s, %out[%i] : memref<32xf32>
    }
    gpu.terminator
  }
  return
}

// -----

func.func @buffer_across(%out: memref<64xf32>, %v: f32) {
  %c1 = arith.constant 1 : index
  %c32 = arith.constant 32 : index
  %o = arith.constant 1 : i32
  %w = arith.constant 32 : i32
  // expected-error @below {{a value of type 'memref<32xf32, strided<[1], offset: ?>>' crosses a barrier or shuffle}}
  gpu.launch blocks(%b, %by, %bz) in (%gx = %c1, %gy = %c1, %gz = %c1)
             threads(%t, %ty, %tz) in (%bx = %c32, %sby = %c1, %sbz = %c1) {
    %half = memref.subview %out[%t] [32] [1] : memref<64xf32> to memref<32xf32, strided<[1], offset: ?>>
    %s, %ok = gpu.shuffle xor %v, %o, %w : f32
    memref.store %s, %half[%t] : memref<32xf32, strided<[1], offset: ?>>
    gpu.terminator
  }
  return
}

// -----

func.func @private_with_barrier(%out: memref<32xf32>) {
  %c1 = arith.constant 1 : index
  %c32 = arith.constant 32 : index
  // expected-error @below {{it allocates private memory next to a barrier, a shuffle or shared memory}}
  gpu.launch blocks(%b, %by, %bz) in (%gx = %c1, %gy = %c1, %gz = %c1)
             threads(%t, %ty, %tz) in (%bx = %c32, %sby = %c1, %sbz = %c1) {
    %scratch = memref.alloca() : memref<4xf32>
    gpu.barrier
    gpu.terminator
  }
  return
}

// -----

func.func @narrow_shuffle(%out: memref<32xf32>, %v: f32) {
  %c1 = arith.constant 1 : index
  %c32 = arith.constant 32 : index
  %o = arith.constant 1 : i32
  %w = arith.constant 16 : i32
  // expected-error @below {{a shuffle's width is not the constant 32, the only one emulated}}
  gpu.launch blocks(%b, %by, %bz) in (%gx = %c1, %gy = %c1, %gz = %c1)
             threads(%t, %ty, %tz) in (%bx = %c32, %sby = %c1, %sbz = %c1) {
    %s, %ok = gpu.shuffle xor %v, %o, %w : f32
    memref.store %s, %out[%t] : memref<32xf32>
    gpu.terminator
  }
  return
}

// -----

func.func @lane_id(%out: memref<32xindex>) {
  %c1 = arith.constant 1 : index
  %c32 = arith.constant 32 : index
  // expected-error @below {{it uses 'gpu.lane_id', which the emulation does not run}}
  gpu.launch blocks(%b, %by, %bz) in (%gx = %c1, %gy = %c1, %gz = %c1)
             threads(%t, %ty, %tz) in (%bx = %c32, %sby = %c1, %sbz = %c1) {
    %l = gpu.lane_id
    memref.store %l, %out[%t] : memref<32xindex>
    gpu.terminator
  }
  return
}

// -----

func.func @private_attribution(%out: memref<8xf32>) {
  %c1 = arith.constant 1 : index
  // expected-error @below {{it has private memory attributions}}
  gpu.launch blocks(%b, %by, %bz) in (%gx = %c1, %gy = %c1, %gz = %c1)
             threads(%t, %ty, %tz) in (%bx = %c1, %sby = %c1, %sbz = %c1)
             private(%p : memref<8xf32, #gpu.address_space<private>>) {
    gpu.terminator
  }
  return
}

// -----

func.func @dynamic_shared(%out: memref<8xf32>, %bytes: i32) {
  %c1 = arith.constant 1 : index
  // expected-error @below {{it has dynamic shared memory}}
  gpu.launch blocks(%b, %by, %bz) in (%gx = %c1, %gy = %c1, %gz = %c1)
             threads(%t, %ty, %tz) in (%bx = %c1, %sby = %c1, %sbz = %c1)
             dynamic_shared_memory_size %bytes {
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
