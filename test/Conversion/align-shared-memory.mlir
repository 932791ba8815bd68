// RUN: lowmem-opt %s --split-input-file --pass-pipeline='builtin.module(gpu.module(lowmem-align-shared-memory))' | FileCheck %s
// RUN: lowmem-opt %s --split-input-file --pass-pipeline='builtin.module(gpu.module(lowmem-align-shared-memory),gpu.module(convert-gpu-to-nvvm))' | FileCheck %s --check-prefix=NVVM
// RUN: not lowmem-opt %s --split-input-file --pass-pipeline='builtin.module(gpu.module(lowmem-align-shared-memory{alignment=12}))' 2>&1 | FileCheck %s --check-prefix=BAD

// Every workgroup buffer gets 16 bytes, unless it has more; the NVVM
// lowering declares the buffers with it.

// CHECK-LABEL: gpu.func @tiles
// CHECK-SAME: workgroup(%{{.*}} : memref<64xf32, #gpu.address_space<workgroup>> {llvm.align = 16 : i64}, %{{.*}} : memref<8xf32, #gpu.address_space<workgroup>> {llvm.align = 32 : i64})
// NVVM: llvm.mlir.global internal @__wg_tiles_0() {addr_space = 3 : i32, alignment = 16 : i64}
// NVVM: llvm.mlir.global internal @__wg_tiles_1() {addr_space = 3 : i32, alignment = 32 : i64}
// BAD: lowmem-align-shared-memory: alignment must be a power of 2, got 12
gpu.module @kernels {
  gpu.func @tiles(%out: memref<64xf32>)
      workgroup(%a : memref<64xf32, #gpu.address_space<workgroup>>,
                %b : memref<8xf32, #gpu.address_space<workgroup>> {llvm.align = 32 : i64})
      kernel {
    %c0 = arith.constant 0 : index
    %v = vector.load %a[%c0] : memref<64xf32, #gpu.address_space<workgroup>>, vector<4xf32>
    %x = memref.load %b[%c0] : memref<8xf32, #gpu.address_space<workgroup>>
    %s = vector.extract %v[0] : f32 from vector<4xf32>
    %y = arith.addf %s, %x : f32
    memref.store %y, %out[%c0] : memref<64xf32>
    gpu.return
  }
}
