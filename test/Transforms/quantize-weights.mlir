// RUN: lowmem-opt %s -split-input-file --lowmem-quantize-weights | FileCheck %s -DFMT="nf4, block = 64"
// RUN: lowmem-opt %s -split-input-file --lowmem-quantize-weights="format=nf4 double-quant" | FileCheck %s -DFMT="nf4, block = 64, double_quant"
// RUN: lowmem-opt %s -split-input-file --lowmem-quantize-weights="format=nf4 block-size=128 double-quant" | FileCheck %s -DFMT="nf4, block = 128, double_quant"
// RUN: lowmem-opt %s -split-input-file --lowmem-quantize-weights="format=fp4" | FileCheck %s -DFMT="fp4, block = 64"
// RUN: lowmem-opt %s -split-input-file --lowmem-quantize-weights="format=fp4 block-size=32 double-quant" | FileCheck %s -DFMT="fp4, block = 32, double_quant"
// RUN: lowmem-opt %s -split-input-file --lowmem-quantize-weights="format=int4" | FileCheck %s -DFMT="int4, block = 16"
// RUN: lowmem-opt %s -split-input-file --lowmem-quantize-weights="format=int4 block-size=32" | FileCheck %s -DFMT="int4, block = 32"
// RUN: lowmem-opt %s -split-input-file --lowmem-quantize-weights="format=int8" | FileCheck %s -DFMT="int8"
// RUN: lowmem-opt %s -split-input-file --lowmem-quantize-weights="format=f16" | FileCheck %s -DFMT="f16"
// RUN: lowmem-opt %s -split-input-file --lowmem-quantize-weights="format=bf16" | FileCheck %s -DFMT="bf16"

// Skip lists: exact names, and prefixes ending in '.'.
// RUN: lowmem-opt %s -split-input-file --lowmem-quantize-weights="skip=head.weight,encoder.,decoder" | FileCheck %s --check-prefix=SKIP

// Invalid options are reported by the pass.
// RUN: not lowmem-opt %s -split-input-file --lowmem-quantize-weights="format=nf5" 2>&1 | FileCheck %s --check-prefix=ERR-FORMAT
// RUN: lowmem-opt %s -split-input-file --lowmem-quantize-weights="format=f32" | FileCheck %s --check-prefix=F32
// RUN: not lowmem-opt %s -split-input-file --lowmem-quantize-weights="format=nf4 block-size=48" 2>&1 | FileCheck %s --check-prefix=ERR-NF4-BLOCK
// RUN: not lowmem-opt %s -split-input-file --lowmem-quantize-weights="format=fp4 block-size=8192" 2>&1 | FileCheck %s --check-prefix=ERR-FP4-BLOCK
// RUN: not lowmem-opt %s -split-input-file --lowmem-quantize-weights="format=int4 block-size=7" 2>&1 | FileCheck %s --check-prefix=ERR-INT4-BLOCK
// RUN: not lowmem-opt %s -split-input-file --lowmem-quantize-weights="format=int8 block-size=64" 2>&1 | FileCheck %s --check-prefix=ERR-INT8-BLOCK
// RUN: not lowmem-opt %s -split-input-file --lowmem-quantize-weights="format=int8 double-quant" 2>&1 | FileCheck %s --check-prefix=ERR-DQ

// ERR-FORMAT: error: unknown weight format 'nf5'; expected one of f32, f16, bf16, int4, nf4, fp4, int8
// format=f32 stores nothing otherwise (only overrides would).
// F32-NOT: qtensor
// F32-NOT: qlinear
// ERR-NF4-BLOCK: error: block size 48 for nf4 must be a power of two in [32, 4096]
// ERR-FP4-BLOCK: error: block size 8192 for fp4 must be a power of two in [32, 4096]
// ERR-INT4-BLOCK: error: block size 7 for int4 must be even and in [2, 4096]
// ERR-INT8-BLOCK: error: block size 64 for int8 must be 0 (int8 is not a block format)
// ERR-DQ: error: double quantization applies only to nf4 and fp4, not int8

// A two-layer model: both weights become quantized tensors, the function
// type follows, and the linear layers become qlinear with their bias,
// residual and activation kept. Biases and inputs keep full precision.

// CHECK-LABEL: func.func @mlp
// CHECK-SAME: ([[X:%[^:]+]]: tensor<?x8xf32> {lowmem.input = "x"},
// CHECK-SAME: [[W0:%[^:]+]]: !lowmem.qtensor<16x8xf32, [[FMT]]> {lowmem.param = "model.0.weight"},
// CHECK-SAME: [[B0:%[^:]+]]: tensor<16xf32> {lowmem.param = "model.0.bias"},
// CHECK-SAME: [[W1:%[^:]+]]: !lowmem.qtensor<8x16xf32, [[FMT]]> {lowmem.param = "model.2.weight"},
// CHECK-SAME: [[B1:%[^:]+]]: tensor<8xf32> {lowmem.param = "model.2.bias"})
// CHECK-SAME: -> tensor<?x8xf32>
// CHECK-NEXT: [[H:%.+]] = lowmem.qlinear [[X]], [[W0]] bias([[B0]] : tensor<16xf32>) activation <relu> : tensor<?x8xf32>, <16x8xf32, [[FMT]]> -> tensor<?x16xf32>
// CHECK-NEXT: [[Y:%.+]] = lowmem.qlinear [[H]], [[W1]] bias([[B1]] : tensor<8xf32>) residual([[X]] : tensor<?x8xf32>) : tensor<?x16xf32>, <8x16xf32, [[FMT]]> -> tensor<?x8xf32>
// CHECK-NEXT: return [[Y]] : tensor<?x8xf32>
// CHECK-NOT: lowmem.linear
func.func @mlp(%x: tensor<?x8xf32> {lowmem.input = "x"},
    %w0: tensor<16x8xf32> {lowmem.param = "model.0.weight"},
    %b0: tensor<16xf32> {lowmem.param = "model.0.bias"},
    %w1: tensor<8x16xf32> {lowmem.param = "model.2.weight"},
    %b1: tensor<8xf32> {lowmem.param = "model.2.bias"}) -> tensor<?x8xf32> {
  %0 = lowmem.linear %x, %w0 bias(%b0 : tensor<16xf32>) activation <relu> : tensor<?x8xf32>, tensor<16x8xf32> -> tensor<?x16xf32>
  %1 = lowmem.linear %0, %w1 bias(%b1 : tensor<8xf32>) residual(%x : tensor<?x8xf32>) : tensor<?x16xf32>, tensor<8x16xf32> -> tensor<?x8xf32>
  return %1 : tensor<?x8xf32>
}

// -----

// A weight shared by two linear layers is quantized once; both users read
// the quantized argument.

// CHECK-LABEL: func.func @shared_weight
// CHECK-SAME: ([[X:%[^:]+]]: tensor<?x8xf32>, [[W:%[^:]+]]: !lowmem.qtensor<8x8xf32, [[FMT]]> {lowmem.param = "tied.weight"})
// CHECK-NEXT: [[A:%.+]] = lowmem.qlinear [[X]], [[W]] :
// CHECK-NEXT: [[B:%.+]] = lowmem.qlinear [[A]], [[W]] :
// CHECK-NEXT: return [[B]]
func.func @shared_weight(%x: tensor<?x8xf32>, %w: tensor<8x8xf32> {lowmem.param = "tied.weight"}) -> tensor<?x8xf32> {
  %0 = lowmem.linear %x, %w : tensor<?x8xf32>, tensor<8x8xf32> -> tensor<?x8xf32>
  %1 = lowmem.linear %0, %w : tensor<?x8xf32>, tensor<8x8xf32> -> tensor<?x8xf32>
  return %1 : tensor<?x8xf32>
}

// -----

// Arguments that are not frozen weights of linear layers stay untouched:
// trainable parameters, parameters also used by other ops (or as the input
// or the residual of a linear), unused parameters, arguments without
// lowmem.param, and non-2-D parameters.

// CHECK-LABEL: func.func @untouched
// CHECK-SAME: %{{[^:]+}}: tensor<?x8xf32> {lowmem.input = "x"},
// CHECK-SAME: [[TRAIN:%[^:]+]]: tensor<8x8xf32> {lowmem.param = "lora.weight", lowmem.trainable},
// CHECK-SAME: [[RELU:%[^:]+]]: tensor<8x8xf32> {lowmem.param = "relu.weight"},
// CHECK-SAME: [[ASIN:%[^:]+]]: tensor<8x8xf32> {lowmem.param = "input.weight"},
// CHECK-SAME: [[RES:%[^:]+]]: tensor<8x8xf32> {lowmem.param = "residual.weight"},
// CHECK-SAME: %{{[^:]+}}: tensor<8x8xf32> {lowmem.param = "unused.weight"},
// CHECK-SAME: [[NONAME:%[^:]+]]: tensor<8x8xf32>,
// CHECK-SAME: [[GAMMA:%[^:]+]]: tensor<8xf32> {lowmem.param = "norm.weight"},
// CHECK-SAME: [[BETA:%[^:]+]]: tensor<8xf32> {lowmem.param = "norm.bias"},
// CHECK-SAME: [[Q:%[^:]+]]: !lowmem.qtensor<8x8xf32, [[FMT]]> {lowmem.param = "only.weight"})
// CHECK-NOT: !lowmem.qtensor
// CHECK-SAME: {
// CHECK: lowmem.linear %{{.+}}, [[TRAIN]] :
// CHECK: lowmem.linear %{{.+}}, [[RELU]] :
// CHECK: lowmem.relu [[RELU]]
// CHECK: lowmem.linear [[ASIN]], [[ASIN]] :
// CHECK: lowmem.linear %{{.+}}, [[RES]] residual([[RES]] : tensor<8x8xf32>) :
// CHECK: lowmem.linear %{{.+}}, [[NONAME]] :
// CHECK: lowmem.group_norm %{{.+}}, [[GAMMA]], [[BETA]]
// CHECK: lowmem.qlinear %{{.+}}, [[Q]] :
func.func @untouched(%x: tensor<?x8xf32> {lowmem.input = "x"},
    %train: tensor<8x8xf32> {lowmem.param = "lora.weight", lowmem.trainable},
    %relu: tensor<8x8xf32> {lowmem.param = "relu.weight"},
    %asin: tensor<8x8xf32> {lowmem.param = "input.weight"},
    %res: tensor<8x8xf32> {lowmem.param = "residual.weight"},
    %unused: tensor<8x8xf32> {lowmem.param = "unused.weight"},
    %noname: tensor<8x8xf32>,
    %gamma: tensor<8xf32> {lowmem.param = "norm.weight"},
    %beta: tensor<8xf32> {lowmem.param = "norm.bias"},
    %q: tensor<8x8xf32> {lowmem.param = "only.weight"})
    -> (tensor<?x8xf32>, tensor<8x8xf32>, tensor<8x8xf32>, tensor<8x8xf32>) {
  %0 = lowmem.linear %x, %train : tensor<?x8xf32>, tensor<8x8xf32> -> tensor<?x8xf32>
  %1 = lowmem.linear %0, %relu : tensor<?x8xf32>, tensor<8x8xf32> -> tensor<?x8xf32>
  %2 = lowmem.relu %relu : tensor<8x8xf32>
  %3 = lowmem.linear %asin, %asin : tensor<8x8xf32>, tensor<8x8xf32> -> tensor<8x8xf32>
  %4 = lowmem.linear %3, %res residual(%res : tensor<8x8xf32>) : tensor<8x8xf32>, tensor<8x8xf32> -> tensor<8x8xf32>
  %5 = lowmem.linear %1, %noname : tensor<?x8xf32>, tensor<8x8xf32> -> tensor<?x8xf32>
  %8 = lowmem.group_norm %5, %gamma, %beta {epsilon = 1.0e-05 : f64, num_groups = 1 : i64} : tensor<?x8xf32>, tensor<8xf32>, tensor<8xf32> -> tensor<?x8xf32>
  %9 = lowmem.linear %8, %q : tensor<?x8xf32>, tensor<8x8xf32> -> tensor<?x8xf32>
  return %9, %2, %3, %4 : tensor<?x8xf32>, tensor<8x8xf32>, tensor<8x8xf32>, tensor<8x8xf32>
}

// -----

// Constant weights are wrapped in lowmem.quantize (materialize-storage folds
// it at compile time); constant operands in other positions are not.

// CHECK-LABEL: func.func @constant_weight
// CHECK-SAME: ([[X:%[^:]+]]: tensor<?x8xf32>)
// CHECK-DAG: [[W:%.+]] = arith.constant dense<5.000000e-01> : tensor<4x8xf32>
// CHECK-DAG: [[B:%.+]] = arith.constant dense<1.000000e+00> : tensor<4xf32>
// CHECK: [[Q:%.+]] = lowmem.quantize [[W]] : tensor<4x8xf32> -> <4x8xf32, [[FMT]]>
// CHECK-NEXT: [[Y:%.+]] = lowmem.qlinear [[X]], [[Q]] bias([[B]] : tensor<4xf32>) activation <relu> : tensor<?x8xf32>, <4x8xf32, [[FMT]]> -> tensor<?x4xf32>
// CHECK-NEXT: return [[Y]]
func.func @constant_weight(%x: tensor<?x8xf32>) -> tensor<?x4xf32> {
  %w = arith.constant dense<0.5> : tensor<4x8xf32>
  %b = arith.constant dense<1.0> : tensor<4xf32>
  %0 = lowmem.linear %x, %w bias(%b : tensor<4xf32>) activation <relu> : tensor<?x8xf32>, tensor<4x8xf32> -> tensor<?x4xf32>
  return %0 : tensor<?x4xf32>
}

// -----

// Declarations are left alone; every function with a body is processed.

// CHECK-LABEL: func.func private @external
// CHECK-SAME: tensor<8x8xf32> {lowmem.param = "ext.weight"}
// CHECK-LABEL: func.func @first
// CHECK-SAME: !lowmem.qtensor<8x8xf32, [[FMT]]> {lowmem.param = "first.weight"}
// CHECK: lowmem.qlinear
// CHECK-LABEL: func.func @second
// CHECK-SAME: !lowmem.qtensor<8x8xf32, [[FMT]]> {lowmem.param = "second.weight"}
// CHECK: lowmem.qlinear
func.func private @external(tensor<?x8xf32>, tensor<8x8xf32> {lowmem.param = "ext.weight"}) -> tensor<?x8xf32>
func.func @first(%x: tensor<?x8xf32>, %w: tensor<8x8xf32> {lowmem.param = "first.weight"}) -> tensor<?x8xf32> {
  %0 = lowmem.linear %x, %w : tensor<?x8xf32>, tensor<8x8xf32> -> tensor<?x8xf32>
  return %0 : tensor<?x8xf32>
}
func.func @second(%x: tensor<?x8xf32>, %w: tensor<8x8xf32> {lowmem.param = "second.weight"}) -> tensor<?x8xf32> {
  %0 = lowmem.linear %x, %w : tensor<?x8xf32>, tensor<8x8xf32> -> tensor<?x8xf32>
  return %0 : tensor<?x8xf32>
}

// -----

// With skip=head.weight,encoder.,decoder: "head.weight" (exact) and
// everything under "encoder." (prefix) keep full precision; "head.weight2"
// is not an exact match and "decoder" has no trailing '.', so it is not a
// prefix of "decoder.0.weight".

// SKIP-LABEL: func.func @skip
// SKIP-SAME: [[HEAD:%[^:]+]]: tensor<8x8xf32> {lowmem.param = "head.weight"},
// SKIP-SAME: [[HEAD2:%[^:]+]]: !lowmem.qtensor<8x8xf32, nf4, block = 64> {lowmem.param = "head.weight2"},
// SKIP-SAME: [[ENC0:%[^:]+]]: tensor<8x8xf32> {lowmem.param = "encoder.0.weight"},
// SKIP-SAME: [[ENC1:%[^:]+]]: tensor<8x8xf32> {lowmem.param = "encoder.layers.1.weight"},
// SKIP-SAME: [[ENCODERX:%[^:]+]]: !lowmem.qtensor<8x8xf32, nf4, block = 64> {lowmem.param = "encoderx.weight"},
// SKIP-SAME: [[DEC:%[^:]+]]: !lowmem.qtensor<8x8xf32, nf4, block = 64> {lowmem.param = "decoder.0.weight"})
// SKIP: lowmem.linear %{{.+}}, [[HEAD]] :
// SKIP: lowmem.qlinear %{{.+}}, [[HEAD2]] :
// SKIP: lowmem.linear %{{.+}}, [[ENC0]] :
// SKIP: lowmem.linear %{{.+}}, [[ENC1]] :
// SKIP: lowmem.qlinear %{{.+}}, [[ENCODERX]] :
// SKIP: lowmem.qlinear %{{.+}}, [[DEC]] :
func.func @skip(%x: tensor<?x8xf32>,
    %head: tensor<8x8xf32> {lowmem.param = "head.weight"},
    %head2: tensor<8x8xf32> {lowmem.param = "head.weight2"},
    %enc0: tensor<8x8xf32> {lowmem.param = "encoder.0.weight"},
    %enc1: tensor<8x8xf32> {lowmem.param = "encoder.layers.1.weight"},
    %encx: tensor<8x8xf32> {lowmem.param = "encoderx.weight"},
    %dec: tensor<8x8xf32> {lowmem.param = "decoder.0.weight"}) -> tensor<?x8xf32> {
  %0 = lowmem.linear %x, %head : tensor<?x8xf32>, tensor<8x8xf32> -> tensor<?x8xf32>
  %1 = lowmem.linear %0, %head2 : tensor<?x8xf32>, tensor<8x8xf32> -> tensor<?x8xf32>
  %2 = lowmem.linear %1, %enc0 : tensor<?x8xf32>, tensor<8x8xf32> -> tensor<?x8xf32>
  %3 = lowmem.linear %2, %enc1 : tensor<?x8xf32>, tensor<8x8xf32> -> tensor<?x8xf32>
  %4 = lowmem.linear %3, %encx : tensor<?x8xf32>, tensor<8x8xf32> -> tensor<?x8xf32>
  %5 = lowmem.linear %4, %dec : tensor<?x8xf32>, tensor<8x8xf32> -> tensor<?x8xf32>
  return %5 : tensor<?x8xf32>
}
