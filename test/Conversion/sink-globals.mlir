// RUN: lowmem-opt %s --lowmem-sink-globals | FileCheck %s
// RUN: lowmem-opt %s --lowmem-sink-globals --gpu-kernel-outlining | FileCheck %s --check-prefix=OUTLINED

// A constant global read outside the launch (a rope's frequencies) is read
// inside it: the kernel must not get the host copy's address.
// CHECK-LABEL: func.func @rope_table(
// CHECK: gpu.launch
// CHECK: memref.get_global @freqs
// CHECK: memref.load
// The kernel's only argument is the output; its module holds its own copy
// of the global.
// OUTLINED: gpu.module @rope_table_kernel
// OUTLINED: gpu.func @rope_table_kernel(%{{.+}}: memref<4xf32>) kernel
// OUTLINED: memref.get_global @freqs
// OUTLINED: memref.global "private" constant @freqs
memref.global "private" constant @freqs : memref<4xf32> = dense<[1.0, 0.5, 0.25, 0.125]>
func.func @rope_table(%out: memref<4xf32>) {
  %c1 = arith.constant 1 : index
  %c4 = arith.constant 4 : index
  %f = memref.get_global @freqs : memref<4xf32>
  gpu.launch blocks(%bx, %by, %bz) in (%x = %c1, %y = %c1, %z = %c1)
             threads(%tx, %ty, %tz) in (%a = %c4, %b = %c1, %c = %c1) {
    %v = memref.load %f[%tx] : memref<4xf32>
    memref.store %v, %out[%tx] : memref<4xf32>
    gpu.terminator
  }
  return
}
