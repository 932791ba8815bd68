// RUN: lowmem-opt %s --lowmem-dedup-kernels | FileCheck %s

// Two layers' identical kernels are one: the second module goes and its
// launch runs the first's kernel. A kernel that differs (another constant)
// stays, as does the launch of it.
// CHECK-LABEL: func.func @layers(
// CHECK: gpu.launch_func @step_kernel::@step_kernel
// CHECK: gpu.launch_func @step_kernel::@step_kernel
// CHECK: gpu.launch_func @step_kernel_1::@step_kernel_1
// CHECK: gpu.module @step_kernel
// CHECK-NOT: gpu.module @step_kernel_0
// CHECK: gpu.module @step_kernel_1
// CHECK: arith.constant 3.000000e+00
module attributes {gpu.container_module} {
  func.func @layers(%x: memref<16xf32>, %y: memref<16xf32>) {
    %c1 = arith.constant 1 : index
    %c16 = arith.constant 16 : index
    gpu.launch_func @step_kernel::@step_kernel blocks in (%c1, %c1, %c1) threads in (%c16, %c1, %c1) args(%x : memref<16xf32>)
    gpu.launch_func @step_kernel_0::@step_kernel_0 blocks in (%c1, %c1, %c1) threads in (%c16, %c1, %c1) args(%y : memref<16xf32>)
    gpu.launch_func @step_kernel_1::@step_kernel_1 blocks in (%c1, %c1, %c1) threads in (%c16, %c1, %c1) args(%y : memref<16xf32>)
    return
  }
  gpu.module @step_kernel {
    gpu.func @step_kernel(%a: memref<16xf32>) kernel {
      %t = gpu.thread_id x
      %v = memref.load %a[%t] : memref<16xf32>
      %c = arith.constant 2.0 : f32
      %w = arith.mulf %v, %c : f32
      memref.store %w, %a[%t] : memref<16xf32>
      gpu.return
    }
  }
  gpu.module @step_kernel_0 {
    gpu.func @step_kernel_0(%a: memref<16xf32>) kernel {
      %t = gpu.thread_id x
      %v = memref.load %a[%t] : memref<16xf32>
      %c = arith.constant 2.0 : f32
      %w = arith.mulf %v, %c : f32
      memref.store %w, %a[%t] : memref<16xf32>
      gpu.return
    }
  }
  gpu.module @step_kernel_1 {
    gpu.func @step_kernel_1(%a: memref<16xf32>) kernel {
      %t = gpu.thread_id x
      %v = memref.load %a[%t] : memref<16xf32>
      %c = arith.constant 3.0 : f32
      %w = arith.mulf %v, %c : f32
      memref.store %w, %a[%t] : memref<16xf32>
      gpu.return
    }
  }
}
