// RUN: lowmem-opt %s --split-input-file --lowmem-check-kernel-bounds | FileCheck %s

// Each access inside a launch gets an assertion over the dimensions it is
// not statically inside: 0 <= index and index + elements <= size, a vector
// covering its length from its index. The message names the kernel (its
// `function`) and the access's location.
// CHECK-LABEL: func.func @accesses(
// CHECK-SAME: %[[A:[^:]+]]: memref<?x64xf32>, %[[V:[^:]+]]: memref<?xi8>
// CHECK: gpu.launch blocks(%[[B:[^,]+]], {{.*}} threads(%[[T:[^,]+]],
// CHECK: %[[ROWS:.+]] = memref.dim %[[A]], %{{.+}} : memref<?x64xf32>
// CHECK: %[[END:.+]] = arith.addi %[[B]], %{{.+}} : index
// CHECK: %[[LOW:.+]] = arith.cmpi sge, %[[B]], %{{.+}} : index
// CHECK: %[[HIGH:.+]] = arith.cmpi sle, %[[END]], %[[ROWS]] : index
// CHECK: %[[ROW:.+]] = arith.andi %[[LOW]], %[[HIGH]] : i1
// CHECK: %[[TEND:.+]] = arith.addi %[[T]], %{{.+}} : index
// CHECK: arith.cmpi sge, %[[T]]
// CHECK: arith.cmpi sle, %[[TEND]], %c64
// CHECK: %[[BOTH:.+]] = arith.andi %[[ROW]], %{{.+}} : i1
// CHECK: cf.assert %[[BOTH]], "kernel lowmem_scale: out-of-bounds memref.load of memref<?x64xf32> at {{.*}}check-kernel-bounds.mlir:{{[0-9]+}}:{{[0-9]+}}"
// CHECK-NEXT: memref.load %[[A]][%[[B]], %[[T]]]
// A constant column inside the static width is not checked; the rows are.
// CHECK: cf.assert %{{.+}}, "kernel lowmem_scale: out-of-bounds memref.store of memref<?x64xf32>
// CHECK-NEXT: memref.store
// A vector load of 8 bytes must end within the buffer.
// CHECK: %[[BYTES:.+]] = memref.dim %[[V]], %{{.+}} : memref<?xi8>
// CHECK: %[[VEND:.+]] = arith.addi %[[T]], %c8{{.*}} : index
// CHECK: arith.cmpi sle, %[[VEND]], %[[BYTES]] : index
// CHECK: cf.assert %{{.+}}, "kernel lowmem_scale: out-of-bounds vector.load of memref<?xi8>
// CHECK-NEXT: vector.load
// CHECK: cf.assert %{{.+}}, "kernel lowmem_scale: out-of-bounds vector.store of memref<?xi8>
// CHECK-NEXT: vector.store
// CHECK: cf.assert %{{.+}}, "kernel lowmem_scale: out-of-bounds memref.atomic_rmw of memref<?x64xf32>
// CHECK-NEXT: memref.atomic_rmw
// Shared memory is checked too: a thread index may pass its size.
// CHECK: cf.assert %{{.+}}, "kernel lowmem_scale: out-of-bounds memref.store of memref<8xf32, #gpu.address_space<workgroup>>
// CHECK-NEXT: memref.store
// An access inside its static buffer at constant indices is not checked.
// CHECK-NOT: cf.assert
// CHECK: memref.load %{{.+}}[%c0{{.*}}] : memref<8xf32, #gpu.address_space<workgroup>>
// CHECK: gpu.terminator
func.func @accesses(%a: memref<?x64xf32>, %v: memref<?xi8>, %n: index) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c8 = arith.constant 8 : index
  %c32 = arith.constant 32 : index
  %f = arith.constant 2.0 : f32
  gpu.launch blocks(%b, %by, %bz) in (%gx = %n, %gy = %c1, %gz = %c1)
             threads(%t, %ty, %tz) in (%bx = %c32, %sby = %c1, %sbz = %c1)
             workgroup(%s : memref<8xf32, #gpu.address_space<workgroup>>) {
    %x = memref.load %a[%b, %t] : memref<?x64xf32>
    %y = arith.mulf %x, %f : f32
    memref.store %y, %a[%b, %c8] : memref<?x64xf32>
    %w = vector.load %v[%t] : memref<?xi8>, vector<8xi8>
    vector.store %w, %v[%b] : memref<?xi8>, vector<8xi8>
    %old = memref.atomic_rmw addf %f, %a[%b, %t] : (f32, memref<?x64xf32>) -> f32
    memref.store %old, %s[%t] : memref<8xf32, #gpu.address_space<workgroup>>
    %first = memref.load %s[%c0] : memref<8xf32, #gpu.address_space<workgroup>>
    memref.store %first, %a[%c0, %c0] : memref<?x64xf32>
    gpu.terminator
  } {function = @lowmem_scale}
  return
}

// -----

// A launch without a `function` is named as outlining will name it.
// CHECK-LABEL: func.func @unnamed(
// CHECK: cf.assert %{{.+}}, "kernel unnamed_kernel: out-of-bounds memref.store of memref<?xf32>
// Accesses outside launches (host code) are left alone.
// CHECK: gpu.terminator
// CHECK-NOT: cf.assert
// CHECK: return
func.func @unnamed(%out: memref<?xf32>, %n: index) {
  %c1 = arith.constant 1 : index
  %c0 = arith.constant 0 : index
  %z = arith.constant 0.0 : f32
  gpu.launch blocks(%b, %by, %bz) in (%gx = %n, %gy = %c1, %gz = %c1)
             threads(%t, %ty, %tz) in (%bx = %c1, %sby = %c1, %sbz = %c1) {
    memref.store %z, %out[%b] : memref<?xf32>
    gpu.terminator
  }
  memref.store %z, %out[%c0] : memref<?xf32>
  return
}
