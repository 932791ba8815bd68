// RUN: lowmem-opt %s --split-input-file --verify-diagnostics --pass-pipeline='builtin.module(gpu.module(lowmem-gpu-math))' | FileCheck %s
// The NVVM lowering then has nothing to send to libdevice, and accepts all.
// RUN: lowmem-opt %s --split-input-file --verify-diagnostics --pass-pipeline='builtin.module(gpu.module(lowmem-gpu-math,convert-gpu-to-nvvm))' | FileCheck %s --check-prefix=NVVM
// NVVM-NOT: __nv_
// NVVM: llvm.func @exact
// NVVM-NOT: __nv_

// Square roots, floors and ceilings become PTX's correctly rounded
// instructions (NVVM intrinsics), f16 through f32; abs, fma and copysign
// generic LLVM intrinsics; exp and log polynomials in arith. Nothing is left
// for libdevice.
// CHECK-LABEL: gpu.module @kernels
// CHECK-LABEL: gpu.func @exact
// CHECK: %[[ONE:.*]] = arith.constant 1.000000e+00 : f32
// CHECK: llvm.call_intrinsic "llvm.nvvm.sqrt.rn.f"(%{{.*}}) : (f32) -> f32
// CHECK: llvm.call_intrinsic "llvm.nvvm.sqrt.rn.d"(%{{.*}}) : (f64) -> f64
// CHECK: %[[EXT:.*]] = arith.extf %{{.*}} : f16 to f32
// CHECK: %[[ROOT:.*]] = llvm.call_intrinsic "llvm.nvvm.sqrt.rn.f"(%[[EXT]])
// CHECK: arith.truncf %[[ROOT]] : f32 to f16
// CHECK: %[[R:.*]] = llvm.call_intrinsic "llvm.nvvm.sqrt.rn.f"
// CHECK: arith.divf %[[ONE]], %[[R]] : f32
// CHECK: llvm.call_intrinsic "llvm.nvvm.floor.f"
// CHECK: llvm.call_intrinsic "llvm.nvvm.ceil.f"
// CHECK: %[[AB:.*]] = arith.bitcast %{{.*}} : f32 to i32
// CHECK: %[[AM:.*]] = arith.andi %[[AB]], %{{.*}} : i32
// CHECK: arith.bitcast %[[AM]] : i32 to f32
// CHECK: llvm.intr.fma
// CHECK: arith.andi
// CHECK: arith.andi
// CHECK: arith.ori
// CHECK: arith.cmpf uno
// CHECK: arith.cmpf oeq
// CHECK: arith.cmpf one
// CHECK: arith.cmpi slt
// CHECK: arith.select
// CHECK-NOT: math.
// CHECK: gpu.return
// CHECK-LABEL: gpu.func @transcendental
// CHECK-NOT: math.exp
// CHECK-NOT: math.log
// CHECK: arith.mulf
// CHECK-NOT: math.
// CHECK: gpu.return
gpu.module @kernels {
  gpu.func @exact(%a: f32, %b: f64, %c: f16, %out: memref<9xf32>, %d: memref<f64>, %h: memref<f16>, %flags: memref<3xi1>, %iout: memref<i32>) kernel {
    %0 = math.sqrt %a : f32
    %1 = math.sqrt %b : f64
    %2 = math.sqrt %c : f16
    %3 = math.rsqrt %a : f32
    %4 = math.floor %a : f32
    %5 = math.ceil %a : f32
    %6 = math.absf %a : f32
    %7 = math.fma %a, %a, %a : f32
    %8 = math.copysign %a, %a : f32
    %n = math.isnan %a : f32
    %inf = math.isinf %a : f32
    %fin = math.isfinite %a : f32
    %ai = arith.fptosi %a : f32 to i32
    %abs = math.absi %ai : i32
    %i0 = arith.constant 0 : index
    %i1 = arith.constant 1 : index
    %i2 = arith.constant 2 : index
    %i3 = arith.constant 3 : index
    %i4 = arith.constant 4 : index
    %i5 = arith.constant 5 : index
    %i6 = arith.constant 6 : index
    memref.store %0, %out[%i0] : memref<9xf32>
    memref.store %3, %out[%i1] : memref<9xf32>
    memref.store %4, %out[%i2] : memref<9xf32>
    memref.store %5, %out[%i3] : memref<9xf32>
    memref.store %6, %out[%i4] : memref<9xf32>
    memref.store %7, %out[%i5] : memref<9xf32>
    memref.store %8, %out[%i6] : memref<9xf32>
    memref.store %1, %d[] : memref<f64>
    memref.store %2, %h[] : memref<f16>
    memref.store %n, %flags[%i0] : memref<3xi1>
    memref.store %inf, %flags[%i1] : memref<3xi1>
    memref.store %fin, %flags[%i2] : memref<3xi1>
    memref.store %abs, %iout[] : memref<i32>
    gpu.return
  }
  gpu.func @transcendental(%a: f32, %c: f16, %out: memref<5xf32>, %h: memref<f16>) kernel {
    %0 = math.exp %a : f32
    %1 = math.log %a : f32
    %2 = math.exp %c : f16
    %3 = math.sin %a : f32
    %4 = math.tanh %a : f32
    %5 = math.powf %a, %a : f32
    %i0 = arith.constant 0 : index
    %i1 = arith.constant 1 : index
    %i2 = arith.constant 2 : index
    %i3 = arith.constant 3 : index
    %i4 = arith.constant 4 : index
    memref.store %0, %out[%i0] : memref<5xf32>
    memref.store %1, %out[%i1] : memref<5xf32>
    memref.store %3, %out[%i2] : memref<5xf32>
    memref.store %4, %out[%i3] : memref<5xf32>
    memref.store %5, %out[%i4] : memref<5xf32>
    memref.store %2, %h[] : memref<f16>
    gpu.return
  }
}

// -----

// A function MLIR does not approximate in f64 would need libdevice; so
// would arith.remf.
gpu.module @f64_exp {
  gpu.func @k(%a: f64, %out: memref<f64>) kernel {
    // expected-error @+1 {{'math.exp' has no lowering in GPU kernels without CUDA's libdevice}}
    %0 = math.exp %a : f64
    memref.store %0, %out[] : memref<f64>
    gpu.return
  }
}

// -----

gpu.module @remf {
  gpu.func @k(%a: f32, %out: memref<f32>) kernel {
    // expected-error @+1 {{'arith.remf' has no lowering in GPU kernels without CUDA's libdevice}}
    %0 = arith.remf %a, %a : f32
    memref.store %0, %out[] : memref<f32>
    gpu.return
  }
}

// -----

// Bit counts never call libdevice: they are left to the NVVM lowering.
// CHECK-LABEL: gpu.module @integer
// CHECK: math.ctpop
gpu.module @integer {
  gpu.func @k(%a: i32, %out: memref<i32>) kernel {
    %0 = math.ctpop %a : i32
    memref.store %0, %out[] : memref<i32>
    gpu.return
  }
}
