// A shuffle inside a branch that the lanes of a warp do not all take is
// undefined on a GPU; the emulation stops there with a message.
//
// RUN: lowmem-opt %s --lowmem-emulate-launches %lower-tensors-to-llvm | not --crash %mlir-runner 2>&1 | FileCheck %s
// CHECK: emulated kernel: the lanes of a warp disagree on a branch or loop that holds a shuffle

func.func @main() {
  %c1 = arith.constant 1 : index
  %c16 = arith.constant 16 : index
  %c32 = arith.constant 32 : index
  %w = arith.constant 32 : i32
  %one = arith.constant 1 : i32
  %out = memref.alloc() : memref<32xf32>
  %x = arith.constant 1.0 : f32
  gpu.launch blocks(%b, %by, %bz) in (%gx = %c1, %gy = %c1, %gz = %c1)
             threads(%t, %ty, %tz) in (%bx = %c32, %sby = %c1, %sbz = %c1) {
    %low = arith.cmpi ult, %t, %c16 : index
    scf.if %low {
      %s, %v = gpu.shuffle xor %x, %one, %w : f32
      memref.store %s, %out[%t] : memref<32xf32>
    }
    gpu.terminator
  }
  memref.dealloc %out : memref<32xf32>
  return
}
