// RUN: lowmem-opt %s --lowmem-quantize-weights="format=nf4 double-quant" | FileCheck %s
// RUN: lowmem-opt %s --lowmem-quantize-weights="format=nf4 skip=b.weight" | FileCheck %s --check-prefix=SKIP
// RUN: lowmem-opt %s --lowmem-quantize-weights | FileCheck %s --check-prefix=NONE -DNONE=nf4

// A half-precision checkpoint (Hugging Face ships Qwen2 and LLaMA in bf16)
// is imported as bf16 qtensors read by qlinear: --format re-stores them
// (the runtime converts while loading), as it does f32 weights. Weights a
// checkpoint stores in 4 bits keep their format.

// CHECK-LABEL: func.func @model
// CHECK-SAME: !lowmem.qtensor<16x32xf32, nf4, block = 64, double_quant> {lowmem.param = "a.weight"}
// CHECK-SAME: !lowmem.qtensor<8x16xf32, nf4, block = 64, double_quant> {lowmem.param = "b.weight"}
// CHECK-SAME: !lowmem.qtensor<8x8xf32, fp4, block = 64> {lowmem.param = "c.weight"}
// CHECK: lowmem.qlinear {{.*}} <16x32xf32, nf4, block = 64, double_quant>
// CHECK: lowmem.qlinear {{.*}} <8x16xf32, nf4, block = 64, double_quant>
// CHECK: lowmem.qlinear {{.*}} <8x8xf32, fp4, block = 64>

// Skipped: the checkpoint's own f16.
// SKIP: !lowmem.qtensor<8x16xf32, f16> {lowmem.param = "b.weight"}
// NONE: !lowmem.qtensor<16x32xf32, [[NONE]], block = 64> {lowmem.param = "a.weight"}
func.func @model(%x: tensor<?x32xf32> {lowmem.input = "x"},
                 %a: !lowmem.qtensor<16x32xf32, bf16> {lowmem.param = "a.weight"},
                 %b: !lowmem.qtensor<8x16xf32, f16> {lowmem.param = "b.weight"},
                 %c: !lowmem.qtensor<8x8xf32, fp4, block = 64> {lowmem.param = "c.weight"})
    -> tensor<?x8xf32> {
  %0 = lowmem.qlinear %x, %a : tensor<?x32xf32>, !lowmem.qtensor<16x32xf32, bf16> -> tensor<?x16xf32>
  %1 = lowmem.qlinear %0, %b : tensor<?x16xf32>, !lowmem.qtensor<8x16xf32, f16> -> tensor<?x8xf32>
  %2 = lowmem.qlinear %1, %c : tensor<?x8xf32>, !lowmem.qtensor<8x8xf32, fp4, block = 64> -> tensor<?x8xf32>
  return %2 : tensor<?x8xf32>
}
