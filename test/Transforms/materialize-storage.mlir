// RUN: lowmem-opt %s -split-input-file --lowmem-materialize-storage | FileCheck %s
// RUN: lowmem-opt %s -split-input-file --lowmem-materialize-storage | FileCheck %s --check-prefix=NOQ

// No function argument keeps a quantized type, and no quantize survives.
// NOQ-NOT: {{%arg[0-9]+}}: !lowmem.qtensor
// NOQ-NOT: lowmem.quantize

// Errors of the pass are in materialize-storage-invalid.mlir.

// Every !lowmem.qtensor argument is replaced by its storage parts, in the
// canonical order of its format. Each part keeps the argument's attributes
// and gets lowmem.part and lowmem.qtype; a lowmem.assemble at the top of the
// body rebuilds the quantized value for the old users.

// CHECK-LABEL: func.func @arguments
// CHECK-SAME: ([[X:%[^:]+]]: tensor<?x8xf32> {lowmem.input = "x"},
// nf4, 16x8 = 128 elements: 64 bytes of codes, 2 blocks of 64.
// CHECK-SAME: [[NF4C:%[^:]+]]: tensor<64xi8> {lowmem.param = "a.weight", lowmem.part = "codes", lowmem.qtype = !lowmem.qtensor<16x8xf32, nf4, block = 64>},
// CHECK-SAME: [[NF4M:%[^:]+]]: tensor<2xf32> {lowmem.param = "a.weight", lowmem.part = "absmax", lowmem.qtype = !lowmem.qtensor<16x8xf32, nf4, block = 64>},
// CHECK-SAME: [[B:%[^:]+]]: tensor<16xf32> {lowmem.param = "a.bias"},
// nf4 with double quantization: 8-bit block scale codes, nested absmax, offset.
// CHECK-SAME: [[DQC:%[^:]+]]: tensor<64xi8> {lowmem.param = "b.weight", lowmem.part = "codes", lowmem.qtype = !lowmem.qtensor<8x16xf32, nf4, block = 32, double_quant>},
// CHECK-SAME: [[DQM:%[^:]+]]: tensor<4xi8> {lowmem.param = "b.weight", lowmem.part = "absmax", lowmem.qtype = !lowmem.qtensor<8x16xf32, nf4, block = 32, double_quant>},
// CHECK-SAME: [[DQN:%[^:]+]]: tensor<1xf32> {lowmem.param = "b.weight", lowmem.part = "nested_absmax", lowmem.qtype = !lowmem.qtensor<8x16xf32, nf4, block = 32, double_quant>},
// CHECK-SAME: [[DQO:%[^:]+]]: tensor<1xf32> {lowmem.param = "b.weight", lowmem.part = "nested_offset", lowmem.qtype = !lowmem.qtensor<8x16xf32, nf4, block = 32, double_quant>},
// int4: f16 block scales.
// CHECK-SAME: [[I4C:%[^:]+]]: tensor<32xi8> {lowmem.param = "c.weight", lowmem.part = "codes", lowmem.qtype = !lowmem.qtensor<8x8xf32, int4, block = 16>},
// CHECK-SAME: [[I4M:%[^:]+]]: tensor<4xf16> {lowmem.param = "c.weight", lowmem.part = "absmax", lowmem.qtype = !lowmem.qtensor<8x8xf32, int4, block = 16>},
// int8: one byte per element and one scale per row.
// CHECK-SAME: [[I8C:%[^:]+]]: tensor<64xi8> {lowmem.param = "d.weight", lowmem.part = "codes", lowmem.qtype = !lowmem.qtensor<8x8xf32, int8>},
// CHECK-SAME: [[I8M:%[^:]+]]: tensor<8xf32> {lowmem.param = "d.weight", lowmem.part = "absmax", lowmem.qtype = !lowmem.qtensor<8x8xf32, int8>},
// f16: the data in the logical shape.
// CHECK-SAME: [[F16:%[^:]+]]: tensor<8x8xf16> {lowmem.param = "e.weight", lowmem.part = "data", lowmem.qtype = !lowmem.qtensor<8x8xf32, f16>})
// CHECK-SAME: -> tensor<?x8xf32>
// CHECK-DAG: [[A:%.+]] = lowmem.assemble [[NF4C]], [[NF4M]] : tensor<64xi8>, tensor<2xf32> -> <16x8xf32, nf4, block = 64>
// CHECK-DAG: [[BQ:%.+]] = lowmem.assemble [[DQC]], [[DQM]], [[DQN]], [[DQO]] : tensor<64xi8>, tensor<4xi8>, tensor<1xf32>, tensor<1xf32> -> <8x16xf32, nf4, block = 32, double_quant>
// CHECK-DAG: [[C:%.+]] = lowmem.assemble [[I4C]], [[I4M]] : tensor<32xi8>, tensor<4xf16> -> <8x8xf32, int4, block = 16>
// CHECK-DAG: [[D:%.+]] = lowmem.assemble [[I8C]], [[I8M]] : tensor<64xi8>, tensor<8xf32> -> <8x8xf32, int8>
// CHECK-DAG: [[E:%.+]] = lowmem.assemble [[F16]] : tensor<8x8xf16> -> <8x8xf32, f16>
// CHECK: [[Y0:%.+]] = lowmem.qlinear [[X]], [[A]] bias([[B]] : tensor<16xf32>)
// CHECK: [[Y1:%.+]] = lowmem.qlinear [[Y0]], [[BQ]] :
// CHECK: [[Y2:%.+]] = lowmem.qlinear [[Y1]], [[C]] :
// CHECK: [[Y3:%.+]] = lowmem.qlinear [[Y2]], [[D]] :
// CHECK: [[Y4:%.+]] = lowmem.qlinear [[Y3]], [[E]] :
// CHECK: return [[Y4]]
func.func @arguments(%x: tensor<?x8xf32> {lowmem.input = "x"},
    %a: !lowmem.qtensor<16x8xf32, nf4> {lowmem.param = "a.weight"},
    %b: tensor<16xf32> {lowmem.param = "a.bias"},
    %bq: !lowmem.qtensor<8x16xf32, nf4, block = 32, double_quant> {lowmem.param = "b.weight"},
    %c: !lowmem.qtensor<8x8xf32, int4> {lowmem.param = "c.weight"},
    %d: !lowmem.qtensor<8x8xf32, int8> {lowmem.param = "d.weight"},
    %e: !lowmem.qtensor<8x8xf32, f16> {lowmem.param = "e.weight"}) -> tensor<?x8xf32> {
  %0 = lowmem.qlinear %x, %a bias(%b : tensor<16xf32>) : tensor<?x8xf32>, !lowmem.qtensor<16x8xf32, nf4> -> tensor<?x16xf32>
  %1 = lowmem.qlinear %0, %bq : tensor<?x16xf32>, !lowmem.qtensor<8x16xf32, nf4, block = 32, double_quant> -> tensor<?x8xf32>
  %2 = lowmem.qlinear %1, %c : tensor<?x8xf32>, !lowmem.qtensor<8x8xf32, int4> -> tensor<?x8xf32>
  %3 = lowmem.qlinear %2, %d : tensor<?x8xf32>, !lowmem.qtensor<8x8xf32, int8> -> tensor<?x8xf32>
  %4 = lowmem.qlinear %3, %e : tensor<?x8xf32>, !lowmem.qtensor<8x8xf32, f16> -> tensor<?x8xf32>
  return %4 : tensor<?x8xf32>
}

// -----

// bf16 and fp4 (with and without double quantization), a weight used twice,
// an argument without lowmem.param, and a declaration, which keeps its
// quantized signature.

// CHECK-LABEL: func.func private @declaration(!lowmem.qtensor<8x8xf32, nf4, block = 64>)
func.func private @declaration(!lowmem.qtensor<8x8xf32, nf4>)

// CHECK-LABEL: func.func @more_formats
// CHECK-SAME: ([[X:%[^:]+]]: tensor<?x8xf32>,
// CHECK-SAME: [[BF:%[^:]+]]: tensor<8x8xbf16> {lowmem.param = "bf.weight", lowmem.part = "data", lowmem.qtype = !lowmem.qtensor<8x8xf32, bf16>, lowmem.trainable},
// CHECK-SAME: [[FC:%[^:]+]]: tensor<32xi8> {lowmem.part = "codes", lowmem.qtype = !lowmem.qtensor<8x8xf32, fp4, block = 32>},
// CHECK-SAME: [[FM:%[^:]+]]: tensor<2xf32> {lowmem.part = "absmax", lowmem.qtype = !lowmem.qtensor<8x8xf32, fp4, block = 32>},
// CHECK-SAME: [[GC:%[^:]+]]: tensor<32xi8> {lowmem.param = "g.weight", lowmem.part = "codes", lowmem.qtype = !lowmem.qtensor<8x8xf32, fp4, block = 64, double_quant>},
// CHECK-SAME: [[GM:%[^:]+]]: tensor<1xi8> {lowmem.param = "g.weight", lowmem.part = "absmax", lowmem.qtype = !lowmem.qtensor<8x8xf32, fp4, block = 64, double_quant>},
// CHECK-SAME: [[GN:%[^:]+]]: tensor<1xf32> {lowmem.param = "g.weight", lowmem.part = "nested_absmax", lowmem.qtype = !lowmem.qtensor<8x8xf32, fp4, block = 64, double_quant>},
// CHECK-SAME: [[GO:%[^:]+]]: tensor<1xf32> {lowmem.param = "g.weight", lowmem.part = "nested_offset", lowmem.qtype = !lowmem.qtensor<8x8xf32, fp4, block = 64, double_quant>})
// CHECK-DAG: [[BQ:%.+]] = lowmem.assemble [[BF]] : tensor<8x8xbf16> -> <8x8xf32, bf16>
// CHECK-DAG: [[FQ:%.+]] = lowmem.assemble [[FC]], [[FM]] : tensor<32xi8>, tensor<2xf32> -> <8x8xf32, fp4, block = 32>
// CHECK-DAG: [[GQ:%.+]] = lowmem.assemble [[GC]], [[GM]], [[GN]], [[GO]] : tensor<32xi8>, tensor<1xi8>, tensor<1xf32>, tensor<1xf32> -> <8x8xf32, fp4, block = 64, double_quant>
// CHECK: [[Y0:%.+]] = lowmem.qlinear [[X]], [[BQ]] :
// CHECK: [[Y1:%.+]] = lowmem.qlinear [[Y0]], [[FQ]] :
// CHECK: [[Y2:%.+]] = lowmem.qlinear [[Y1]], [[GQ]] :
// CHECK: [[Y3:%.+]] = lowmem.qlinear [[Y2]], [[GQ]] :
// CHECK: return [[Y3]]
func.func @more_formats(%x: tensor<?x8xf32>,
    %bf: !lowmem.qtensor<8x8xf32, bf16> {lowmem.param = "bf.weight", lowmem.trainable},
    %f: !lowmem.qtensor<8x8xf32, fp4, block = 32>,
    %g: !lowmem.qtensor<8x8xf32, fp4, double_quant> {lowmem.param = "g.weight"}) -> tensor<?x8xf32> {
  %0 = lowmem.qlinear %x, %bf : tensor<?x8xf32>, !lowmem.qtensor<8x8xf32, bf16> -> tensor<?x8xf32>
  %1 = lowmem.qlinear %0, %f : tensor<?x8xf32>, !lowmem.qtensor<8x8xf32, fp4, block = 32> -> tensor<?x8xf32>
  %2 = lowmem.qlinear %1, %g : tensor<?x8xf32>, !lowmem.qtensor<8x8xf32, fp4, double_quant> -> tensor<?x8xf32>
  %3 = lowmem.qlinear %2, %g : tensor<?x8xf32>, !lowmem.qtensor<8x8xf32, fp4, double_quant> -> tensor<?x8xf32>
  return %3 : tensor<?x8xf32>
}

// -----

// lowmem.quantize of a dense f32 constant is evaluated with the quantization
// library: the storage becomes arith.constant parts and a lowmem.assemble.
// The weight (2x8, absmax 4 in row 0 and 8 in row 1 and overall):
//   [1, -2, 0.5, 0, 4, -4, 3, 1.5], [0.25, 0.75, -1, 2, -3, 1, 0, 8]

// CHECK-LABEL: func.func @fold_constant
// CHECK-SAME: ([[X:%[^:]+]]: tensor<?x8xf32>)
// CHECK-NOT: lowmem.quantize

// nf4: first element in the high nibble: 0.125 -> code 9, -0.25 -> code 4,
// so the first byte is 0x94 = -108.
// CHECK: [[NF4C:%.+]] = arith.constant dense<[-108, -121, -62, -71, 120, 106, 57, 127]> : tensor<8xi8>
// CHECK: [[NF4M:%.+]] = arith.constant dense<8.000000e+00> : tensor<1xf32>
// CHECK: [[NF4:%.+]] = lowmem.assemble [[NF4C]], [[NF4M]] : tensor<8xi8>, tensor<1xf32> -> <2x8xf32, nf4, block = 64>

// fp4.
// CHECK: [[FP4C:%.+]] = arith.constant dense<[111, 16, 93, 70, 22, -25, -58, 3]> : tensor<8xi8>
// CHECK: [[FP4M:%.+]] = arith.constant dense<8.000000e+00> : tensor<1xf32>
// CHECK: [[FP4:%.+]] = lowmem.assemble [[FP4C]], [[FP4M]] : tensor<8xi8>, tensor<1xf32> -> <2x8xf32, fp4, block = 64>

// int4: first element in the low nibble, f16 scale.
// CHECK: [[I4C:%.+]] = arith.constant dense<[104, -120, 75, -102, -120, -105, -123, -8]> : tensor<8xi8>
// CHECK: [[I4M:%.+]] = arith.constant dense<8.000000e+00> : tensor<1xf16>
// CHECK: [[I4:%.+]] = lowmem.assemble [[I4C]], [[I4M]] : tensor<8xi8>, tensor<1xf16> -> <2x8xf32, int4, block = 16>

// int8: per-row scales 4 and 8.
// CHECK: [[I8C:%.+]] = arith.constant dense<[32, -64, 16, 0, 127, -127, 95, 48, 4, 12, -16, 32, -48, 16, 0, 127]> : tensor<16xi8>
// CHECK: [[I8M:%.+]] = arith.constant dense<[4.000000e+00, 8.000000e+00]> : tensor<2xf32>
// CHECK: [[I8:%.+]] = lowmem.assemble [[I8C]], [[I8M]] : tensor<16xi8>, tensor<2xf32> -> <2x8xf32, int8>

// f16 and bf16: the values themselves.
// CHECK: [[F16C:%.+]] = arith.constant dense<{{\[\[}}1.000000e+00, -2.000000e+00, 5.000000e-01, 0.000000e+00, 4.000000e+00, -4.000000e+00, 3.000000e+00, 1.500000e+00], [2.500000e-01, 7.500000e-01, -1.000000e+00, 2.000000e+00, -3.000000e+00, 1.000000e+00, 0.000000e+00, 8.000000e+00]]> : tensor<2x8xf16>
// CHECK: [[F16:%.+]] = lowmem.assemble [[F16C]] : tensor<2x8xf16> -> <2x8xf32, f16>
// CHECK: [[BF16C:%.+]] = arith.constant dense<{{\[\[}}1.000000e+00, -2.000000e+00, 5.000000e-01, 0.000000e+00, 4.000000e+00, -4.000000e+00, 3.000000e+00, 1.500000e+00], [2.500000e-01, 7.500000e-01, -1.000000e+00, 2.000000e+00, -3.000000e+00, 1.000000e+00, 0.000000e+00, 8.000000e+00]]> : tensor<2x8xbf16>
// CHECK: [[BF16:%.+]] = lowmem.assemble [[BF16C]] : tensor<2x8xbf16> -> <2x8xf32, bf16>

// CHECK: lowmem.qlinear [[X]], [[NF4]] :
// CHECK: lowmem.qlinear [[X]], [[FP4]] :
// CHECK: lowmem.qlinear [[X]], [[I4]] :
// CHECK: lowmem.qlinear [[X]], [[I8]] :
// CHECK: lowmem.qlinear [[X]], [[F16]] :
// CHECK: lowmem.qlinear [[X]], [[BF16]] :
// CHECK-NOT: lowmem.quantize
func.func @fold_constant(%x: tensor<?x8xf32>) -> (tensor<?x2xf32>, tensor<?x2xf32>, tensor<?x2xf32>, tensor<?x2xf32>, tensor<?x2xf32>, tensor<?x2xf32>) {
  %w = arith.constant dense<[[1.0, -2.0, 0.5, 0.0, 4.0, -4.0, 3.0, 1.5], [0.25, 0.75, -1.0, 2.0, -3.0, 1.0, 0.0, 8.0]]> : tensor<2x8xf32>
  %q0 = lowmem.quantize %w : tensor<2x8xf32> -> !lowmem.qtensor<2x8xf32, nf4>
  %q1 = lowmem.quantize %w : tensor<2x8xf32> -> !lowmem.qtensor<2x8xf32, fp4>
  %q2 = lowmem.quantize %w : tensor<2x8xf32> -> !lowmem.qtensor<2x8xf32, int4>
  %q3 = lowmem.quantize %w : tensor<2x8xf32> -> !lowmem.qtensor<2x8xf32, int8>
  %q4 = lowmem.quantize %w : tensor<2x8xf32> -> !lowmem.qtensor<2x8xf32, f16>
  %q5 = lowmem.quantize %w : tensor<2x8xf32> -> !lowmem.qtensor<2x8xf32, bf16>
  %0 = lowmem.qlinear %x, %q0 : tensor<?x8xf32>, !lowmem.qtensor<2x8xf32, nf4> -> tensor<?x2xf32>
  %1 = lowmem.qlinear %x, %q1 : tensor<?x8xf32>, !lowmem.qtensor<2x8xf32, fp4> -> tensor<?x2xf32>
  %2 = lowmem.qlinear %x, %q2 : tensor<?x8xf32>, !lowmem.qtensor<2x8xf32, int4> -> tensor<?x2xf32>
  %3 = lowmem.qlinear %x, %q3 : tensor<?x8xf32>, !lowmem.qtensor<2x8xf32, int8> -> tensor<?x2xf32>
  %4 = lowmem.qlinear %x, %q4 : tensor<?x8xf32>, !lowmem.qtensor<2x8xf32, f16> -> tensor<?x2xf32>
  %5 = lowmem.qlinear %x, %q5 : tensor<?x8xf32>, !lowmem.qtensor<2x8xf32, bf16> -> tensor<?x2xf32>
  return %0, %1, %2, %3, %4, %5 : tensor<?x2xf32>, tensor<?x2xf32>, tensor<?x2xf32>, tensor<?x2xf32>, tensor<?x2xf32>, tensor<?x2xf32>
}

// -----

// nf4 with double quantization, two blocks of 32 with absmax 1 and 3: the
// offset is their mean 2, the nested absmax 1, and the centered scales -1
// and +1 get the extreme codes 0 and 255 (-1) of the dynamic map.

// CHECK-LABEL: func.func @fold_constant_double_quant
// CHECK: [[C:%.+]] = arith.constant dense<[2, 124, -16, 39, -49, 2, 124, -16, 39, -49, 2, 124, -16, 39, -49, 2, 1, 71, -66, -16, 20, 123, -17, 1, 71, -66, -16, 20, 123, -17, 1, 71]> : tensor<32xi8>
// CHECK: [[M:%.+]] = arith.constant dense<[0, -1]> : tensor<2xi8>
// CHECK: [[N:%.+]] = arith.constant dense<1.000000e+00> : tensor<1xf32>
// CHECK: [[O:%.+]] = arith.constant dense<2.000000e+00> : tensor<1xf32>
// CHECK: [[Q:%.+]] = lowmem.assemble [[C]], [[M]], [[N]], [[O]] : tensor<32xi8>, tensor<2xi8>, tensor<1xf32>, tensor<1xf32> -> <2x32xf32, nf4, block = 32, double_quant>
// CHECK: lowmem.qlinear %{{.+}}, [[Q]] :
// CHECK-NOT: lowmem.quantize
func.func @fold_constant_double_quant(%x: tensor<?x32xf32>) -> tensor<?x2xf32> {
  %w = arith.constant dense<[[-1.0, -0.5, 0.0, 0.5, 1.0, -1.0, -0.5, 0.0, 0.5, 1.0, -1.0, -0.5, 0.0, 0.5, 1.0, -1.0, -0.5, 0.0, 0.5, 1.0, -1.0, -0.5, 0.0, 0.5, 1.0, -1.0, -0.5, 0.0, 0.5, 1.0, -1.0, -0.5],
                              [-3.0, -2.0, -1.0, 0.0, 1.0, 2.0, 3.0, -3.0, -2.0, -1.0, 0.0, 1.0, 2.0, 3.0, -3.0, -2.0, -1.0, 0.0, 1.0, 2.0, 3.0, -3.0, -2.0, -1.0, 0.0, 1.0, 2.0, 3.0, -3.0, -2.0, -1.0, 0.0]]> : tensor<2x32xf32>
  %q = lowmem.quantize %w : tensor<2x32xf32> -> !lowmem.qtensor<2x32xf32, nf4, block = 32, double_quant>
  %0 = lowmem.qlinear %x, %q : tensor<?x32xf32>, !lowmem.qtensor<2x32xf32, nf4, block = 32, double_quant> -> tensor<?x2xf32>
  return %0 : tensor<?x2xf32>
}

// -----

// An odd number of elements leaves the high nibble of the last int4 byte
// empty (5 = 0x05); a splat constant works too.

// CHECK-LABEL: func.func @fold_constant_odd_and_splat
// CHECK: [[C:%.+]] = arith.constant dense<[73, 127, -40, -96, 43, 104, -65, 5]> : tensor<8xi8>
// CHECK: [[M:%.+]] = arith.constant dense<2.000000e+00> : tensor<1xf16>
// CHECK: lowmem.assemble [[C]], [[M]] : tensor<8xi8>, tensor<1xf16> -> <3x5xf32, int4, block = 16>
// Every element of a splat 0.5 is its block's absmax: code 15 twice a byte.
// CHECK: [[SC:%.+]] = arith.constant dense<-1> : tensor<16xi8>
// CHECK: [[SM:%.+]] = arith.constant dense<5.000000e-01> : tensor<1xf32>
// CHECK: lowmem.assemble [[SC]], [[SM]] : tensor<16xi8>, tensor<1xf32> -> <4x8xf32, nf4, block = 64>
func.func @fold_constant_odd_and_splat(%unused: tensor<1xf32>) -> (!lowmem.qtensor<3x5xf32, int4>, !lowmem.qtensor<4x8xf32, nf4>) {
  %w = arith.constant dense<[[0.5, -1.0, 2.0, -0.25, 0.0], [1.5, -2.0, 0.75, 1.0, -1.5], [0.25, -0.5, 2.0, 1.0, -0.75]]> : tensor<3x5xf32>
  %q = lowmem.quantize %w : tensor<3x5xf32> -> !lowmem.qtensor<3x5xf32, int4>
  %s = arith.constant dense<0.5> : tensor<4x8xf32>
  %qs = lowmem.quantize %s : tensor<4x8xf32> -> !lowmem.qtensor<4x8xf32, nf4>
  return %q, %qs : !lowmem.qtensor<3x5xf32, int4>, !lowmem.qtensor<4x8xf32, nf4>
}

