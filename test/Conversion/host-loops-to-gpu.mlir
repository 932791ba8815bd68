// RUN: lowmem-opt %s --split-input-file --lowmem-host-loops-to-gpu --verify-diagnostics | FileCheck %s
// RUN: lowmem-opt %s --split-input-file --lowmem-host-loops-to-gpu --gpu-map-parallel-loops --convert-parallel-loops-to-gpu --canonicalize --verify-diagnostics | FileCheck %s --check-prefix=GPU

// A loss summed over every token into a 0-d buffer, then divided by the
// count: the fill, the loops and the division all move, in order, into one
// one-iteration loop (one single-thread kernel).
// CHECK-LABEL: func.func @loss_sum(
// CHECK-NEXT: %[[C0:.+]] = arith.constant 0 : index
// CHECK: scf.parallel (%{{.+}}) = (%{{.+}}) to (%{{.+}}) step (%{{.+}}) {
// CHECK-NEXT: memref.store %{{.+}}, %arg1[]
// CHECK-NEXT: scf.for
// CHECK: memref.load %arg0
// CHECK: memref.store %{{.+}}, %arg1[]
// CHECK: %[[SUM:.+]] = memref.load %arg1[]
// CHECK-NEXT: %[[MEAN:.+]] = arith.divf %[[SUM]]
// CHECK-NEXT: memref.store %[[MEAN]], %arg2[]
// CHECK-NEXT: scf.reduce
// CHECK-NEXT: }
// CHECK-NEXT: return
// GPU-LABEL: func.func @loss_sum(
// GPU: %[[ONE:.+]] = arith.constant 1 : index
// GPU: gpu.launch blocks(%{{.+}}, %{{.+}}, %{{.+}}) in (%{{.+}} = %[[ONE]], %{{.+}} = %[[ONE]], %{{.+}} = %[[ONE]]) threads(%{{.+}}, %{{.+}}, %{{.+}}) in (%{{.+}} = %[[ONE]], %{{.+}} = %[[ONE]], %{{.+}} = %[[ONE]])
// GPU: scf.for
// GPU: arith.divf
// GPU: gpu.terminator
func.func @loss_sum(%x: memref<?xf32>, %sum: memref<f32>, %mean: memref<f32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %zero = arith.constant 0.0 : f32
  %n = memref.dim %x, %c0 : memref<?xf32>
  memref.store %zero, %sum[] : memref<f32>
  scf.for %i = %c0 to %n step %c1 {
    %v = memref.load %x[%i] : memref<?xf32>
    %s = memref.load %sum[] : memref<f32>
    %t = arith.addf %s, %v : f32
    memref.store %t, %sum[] : memref<f32>
  }
  %nf = arith.index_cast %n : index to i32
  %count = arith.sitofp %nf : i32 to f32
  %s = memref.load %sum[] : memref<f32>
  %m = arith.divf %s, %count : f32
  memref.store %m, %mean[] : memref<f32>
  return
}

// -----

// A kernel between two pieces of serial code keeps them apart and in order;
// a kernel's own loop is left alone; so is a loop over chunks, whose body
// gets its own wrapping.
// CHECK-LABEL: func.func @between_kernels(
// CHECK: %[[ONE:c1_[0-9]+]] = arith.constant 1 : index
// CHECK-NEXT: scf.parallel (%{{.+}}) = (%{{.+}}) to (%[[ONE]]) step (%[[ONE]]) {
// CHECK-NEXT: memref.store %{{.+}}, %arg1[]
// CHECK-NEXT: scf.reduce
// CHECK: scf.parallel (%{{.+}}) = (%c0) to (%c8) step (%c1) {
// CHECK: scf.for
// CHECK: %[[ONE1:c1_[0-9]+]] = arith.constant 1 : index
// CHECK-NEXT: scf.parallel (%{{.+}}) = (%{{.+}}) to (%[[ONE1]]) step (%[[ONE1]]) {
// CHECK-NEXT: memref.load %arg1[]
// CHECK-NEXT: memref.store
// CHECK-NEXT: scf.reduce
// CHECK: scf.parallel (%{{.+}}) = (%c0) to (%c8) step (%c1) {
// CHECK: %[[ONE2:c1_[0-9]+]] = arith.constant 1 : index
// CHECK-NEXT: scf.parallel (%{{.+}}) = (%{{.+}}) to (%[[ONE2]]) step (%[[ONE2]]) {
// CHECK-NEXT: memref.load %arg0[%c1]
// CHECK-NEXT: memref.store %{{.+}}, %arg1[]
// CHECK-NEXT: scf.reduce
// CHECK-NEXT: }
// CHECK-NEXT: return
func.func @between_kernels(%x: memref<8xf32>, %s: memref<f32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c2 = arith.constant 2 : index
  %c8 = arith.constant 8 : index
  %zero = arith.constant 0.0 : f32
  memref.store %zero, %s[] : memref<f32>
  scf.parallel (%i) = (%c0) to (%c8) step (%c1) {
    memref.store %zero, %x[%i] : memref<8xf32>
    scf.reduce
  }
  scf.for %k = %c0 to %c2 step %c1 {
    %v = memref.load %s[] : memref<f32>
    memref.store %v, %x[%k] : memref<8xf32>
    scf.parallel (%i) = (%c0) to (%c8) step (%c1) {
      memref.store %zero, %x[%i] : memref<8xf32>
      scf.reduce
    }
  }
  %w = memref.load %x[%c1] : memref<8xf32>
  memref.store %w, %s[] : memref<f32>
  return
}

// -----

// Stack memory of the host is the host's to read.
// CHECK-LABEL: func.func @host_stack(
// CHECK-NOT: scf.parallel
// CHECK: return
func.func @host_stack() -> f32 {
  %one = arith.constant 1.0 : f32
  %a = memref.alloca() : memref<f32>
  memref.store %one, %a[] : memref<f32>
  %v = memref.load %a[] : memref<f32>
  return %v : f32
}

// -----

// A value read from a buffer that host code needs cannot move.
func.func @host_needs_it(%n: memref<index>, %x: memref<?xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %zero = arith.constant 0.0 : f32
  // expected-error @+1 {{host code needs this value, computed from device memory; it cannot run in a kernel}}
  %end = memref.load %n[] : memref<index>
  // expected-note @+1 {{used here}}
  scf.parallel (%i) = (%c0) to (%end) step (%c1) {
    memref.store %zero, %x[%i] : memref<?xf32>
    scf.reduce
  }
  return
}

// -----

// A copy between buffers on the host would be a memcpy of device memory: it
// becomes a parallel loop (a kernel) of loads and stores.
// CHECK-LABEL: func.func @copy(
// CHECK-NOT: memref.copy
// CHECK: %[[D0:.+]] = memref.dim %arg1, %{{.+}}
// CHECK: %[[D1:.+]] = memref.dim %arg1, %{{.+}}
// CHECK: scf.parallel (%[[I:.+]], %[[J:.+]]) = (%{{.+}}, %{{.+}}) to (%[[D0]], %[[D1]])
// CHECK-NEXT: %[[V:.+]] = memref.load %arg0[%[[I]], %[[J]]]
// CHECK-NEXT: memref.store %[[V]], %arg1[%[[I]], %[[J]]]
// CHECK: scf.parallel (%{{.+}}) = (%{{.+}}) to (%{{.+}}) step (%{{.+}}) {
// CHECK-NEXT: %[[S:.+]] = memref.load %arg2[]
// CHECK-NEXT: memref.store %[[S]], %arg3[]
// GPU-LABEL: func.func @copy(
// GPU-COUNT-2: gpu.launch
// GPU-NOT: memref.copy
func.func @copy(%a: memref<?x4xf32>, %b: memref<?x4xf32, strided<[8, 1]>>,
                %s: memref<f32>, %t: memref<f32>) {
  memref.copy %a, %b : memref<?x4xf32> to memref<?x4xf32, strided<[8, 1]>>
  memref.copy %s, %t : memref<f32> to memref<f32>
  return
}

// -----

// Ops with memory effects that cannot move into a kernel are reported,
// rather than left on the host to read or write device memory.
func.func @atomic(%sum: memref<f32>, %v: f32) {
  // expected-error @+1 {{this op reads or writes device memory on the host, and cannot run in a kernel ('memref.atomic_rmw')}}
  %old = memref.atomic_rmw addf %v, %sum[] : (f32, memref<f32>) -> f32
  return
}

// -----

func.func @vector(%a: memref<8xf32>, %v: vector<4xf32>) {
  %c0 = arith.constant 0 : index
  // expected-error @+1 {{('vector.store')}}
  vector.store %v, %a[%c0] : memref<8xf32>, vector<4xf32>
  return
}

// -----

// The host's own stack, a call passing a buffer on (its callee is checked
// where it is defined, or is the runtime's), and allocations are no error.
// CHECK-LABEL: func.func @allowed(
// CHECK: memref.alloca
// CHECK: vector.store
// CHECK: call @callee
func.func private @callee(memref<8xf32>)
func.func @allowed(%a: memref<8xf32>, %v: vector<4xf32>) {
  %c0 = arith.constant 0 : index
  %local = memref.alloca() : memref<8xf32>
  vector.store %v, %local[%c0] : memref<8xf32>, vector<4xf32>
  %heap = memref.alloc() : memref<8xf32>
  call @callee(%a) : (memref<8xf32>) -> ()
  memref.dealloc %heap : memref<8xf32>
  return
}
