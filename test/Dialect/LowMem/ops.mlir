// RUN: lowmem-opt %s | lowmem-opt | FileCheck %s
// RUN: lowmem-opt %s --mlir-print-op-generic | lowmem-opt | FileCheck %s

// Round trip of every lowmem op and of !lowmem.qtensor in every format.

//===----------------------------------------------------------------------===//
// !lowmem.qtensor
//===----------------------------------------------------------------------===//

// Default block sizes are filled in by the parser and always printed for the
// block formats; the non-block formats print none.

// CHECK-LABEL: func.func private @qtensor_defaults
// CHECK-SAME: !lowmem.qtensor<16x32xf32, f16>
// CHECK-SAME: !lowmem.qtensor<16x32xf32, bf16>
// CHECK-SAME: !lowmem.qtensor<16x32xf32, int4, block = 16>
// CHECK-SAME: !lowmem.qtensor<16x32xf32, nf4, block = 64>
// CHECK-SAME: !lowmem.qtensor<16x32xf32, fp4, block = 64>
// CHECK-SAME: !lowmem.qtensor<16x32xf32, int8>
func.func private @qtensor_defaults(
    !lowmem.qtensor<16x32xf32, f16>,
    !lowmem.qtensor<16x32xf32, bf16>,
    !lowmem.qtensor<16x32xf32, int4>,
    !lowmem.qtensor<16x32xf32, nf4>,
    !lowmem.qtensor<16x32xf32, fp4>,
    !lowmem.qtensor<16x32xf32, int8>)

// Explicit options, in either order; double_quant is printed last.

// CHECK-LABEL: func.func private @qtensor_options
// CHECK-SAME: !lowmem.qtensor<16x32xf32, int4, block = 2>
// CHECK-SAME: !lowmem.qtensor<16x32xf32, int4, block = 4096>
// CHECK-SAME: !lowmem.qtensor<16x32xf32, nf4, block = 32>
// CHECK-SAME: !lowmem.qtensor<16x32xf32, nf4, block = 4096>
// CHECK-SAME: !lowmem.qtensor<16x32xf32, nf4, block = 64, double_quant>
// CHECK-SAME: !lowmem.qtensor<16x32xf32, nf4, block = 128, double_quant>
// CHECK-SAME: !lowmem.qtensor<16x32xf32, fp4, block = 256, double_quant>
// CHECK-SAME: !lowmem.qtensor<16x32xf32, int4, block = 16>
// CHECK-SAME: !lowmem.qtensor<16x32xf32, f16>)
func.func private @qtensor_options(
    !lowmem.qtensor<16x32xf32, int4, block = 2>,
    !lowmem.qtensor<16x32xf32, int4, block = 4096>,
    !lowmem.qtensor<16x32xf32, nf4, block = 32>,
    !lowmem.qtensor<16x32xf32, nf4, block = 4096>,
    !lowmem.qtensor<16x32xf32, nf4, double_quant>,
    !lowmem.qtensor<16x32xf32, nf4, double_quant, block = 128>,
    !lowmem.qtensor<16x32xf32, fp4, block = 256, double_quant>,
    !lowmem.qtensor<16x32xf32, int4, block = 16>,
    !lowmem.qtensor<16x32xf32, f16, block = 0>)

// Other element types and ranks.

// CHECK-LABEL: func.func private @qtensor_shapes
// CHECK-SAME: !lowmem.qtensor<64xf32, nf4, block = 64>
// CHECK-SAME: !lowmem.qtensor<2x3x4xf16, int8>
// CHECK-SAME: !lowmem.qtensor<7x5xbf16, int4, block = 16>
// CHECK-SAME: !lowmem.qtensor<1x1xf32, fp4, block = 64, double_quant>
func.func private @qtensor_shapes(
    !lowmem.qtensor<64xf32, nf4>,
    !lowmem.qtensor<2x3x4xf16, int8>,
    !lowmem.qtensor<7x5xbf16, int4>,
    !lowmem.qtensor<1x1xf32, fp4, double_quant>)

//===----------------------------------------------------------------------===//
// lowmem.linear
//===----------------------------------------------------------------------===//

// CHECK-LABEL: func.func @linear
// CHECK-SAME: ([[X:%.+]]: tensor<?x8xf32>, [[W:%.+]]: tensor<16x8xf32>, [[B:%.+]]: tensor<16xf32>, [[R:%.+]]: tensor<?x16xf32>)
func.func @linear(%x: tensor<?x8xf32>, %w: tensor<16x8xf32>, %b: tensor<16xf32>,
                  %r: tensor<?x16xf32>) -> tensor<?x16xf32> {
  // CHECK: [[L0:%.+]] = lowmem.linear [[X]], [[W]] : tensor<?x8xf32>, tensor<16x8xf32> -> tensor<?x16xf32>
  %0 = lowmem.linear %x, %w : tensor<?x8xf32>, tensor<16x8xf32> -> tensor<?x16xf32>
  // CHECK: [[L1:%.+]] = lowmem.linear [[X]], [[W]] bias([[B]] : tensor<16xf32>) : tensor<?x8xf32>, tensor<16x8xf32> -> tensor<?x16xf32>
  %1 = lowmem.linear %x, %w bias(%b : tensor<16xf32>) : tensor<?x8xf32>, tensor<16x8xf32> -> tensor<?x16xf32>
  // CHECK: [[L2:%.+]] = lowmem.linear [[X]], [[W]] residual([[L0]] : tensor<?x16xf32>) : tensor<?x8xf32>, tensor<16x8xf32> -> tensor<?x16xf32>
  %2 = lowmem.linear %x, %w residual(%0 : tensor<?x16xf32>) : tensor<?x8xf32>, tensor<16x8xf32> -> tensor<?x16xf32>
  // CHECK: [[L3:%.+]] = lowmem.linear [[X]], [[W]] activation <relu> : tensor<?x8xf32>, tensor<16x8xf32> -> tensor<?x16xf32>
  %3 = lowmem.linear %x, %w activation <relu> : tensor<?x8xf32>, tensor<16x8xf32> -> tensor<?x16xf32>
  // CHECK: [[L4:%.+]] = lowmem.linear [[X]], [[W]] bias([[B]] : tensor<16xf32>) residual([[R]] : tensor<?x16xf32>) activation <relu> : tensor<?x8xf32>, tensor<16x8xf32> -> tensor<?x16xf32>
  %4 = lowmem.linear %x, %w bias(%b : tensor<16xf32>) residual(%r : tensor<?x16xf32>) activation <relu> : tensor<?x8xf32>, tensor<16x8xf32> -> tensor<?x16xf32>
  // The default activation is not printed.
  // CHECK: [[L5:%.+]] = lowmem.linear [[X]], [[W]] : tensor<?x8xf32>, tensor<16x8xf32> -> tensor<?x16xf32>
  %5 = lowmem.linear %x, %w activation <none> : tensor<?x8xf32>, tensor<16x8xf32> -> tensor<?x16xf32>
  // CHECK: [[S0:%.+]] = lowmem.add [[L1]], [[L2]] : tensor<?x16xf32>
  // CHECK: [[S1:%.+]] = lowmem.add [[L3]], [[L4]] : tensor<?x16xf32>
  // CHECK: [[S2:%.+]] = lowmem.add [[S0]], [[S1]] : tensor<?x16xf32>
  // CHECK: [[S3:%.+]] = lowmem.add [[S2]], [[L5]] : tensor<?x16xf32>
  // CHECK: return [[S3]] : tensor<?x16xf32>
  %s0 = lowmem.add %1, %2 : tensor<?x16xf32>
  %s1 = lowmem.add %3, %4 : tensor<?x16xf32>
  %s2 = lowmem.add %s0, %s1 : tensor<?x16xf32>
  %s3 = lowmem.add %s2, %5 : tensor<?x16xf32>
  return %s3 : tensor<?x16xf32>
}

// The transposed product (input gradient): [?, 16] · [16, 8] -> [?, 8],
// bias over in_features; on a quantized weight too.

// CHECK-LABEL: func.func @linear_transposed
func.func @linear_transposed(%dy: tensor<?x16xf32>, %w: tensor<16x8xf32>,
                             %b: tensor<8xf32>,
                             %q: !lowmem.qtensor<16x8xf32, nf4, block = 64>)
    -> tensor<?x8xf32> {
  // CHECK: lowmem.linear %{{.+}}, %{{.+}} transposed bias(%{{.+}} : tensor<8xf32>) : tensor<?x16xf32>, tensor<16x8xf32> -> tensor<?x8xf32>
  %0 = lowmem.linear %dy, %w transposed bias(%b : tensor<8xf32>) : tensor<?x16xf32>, tensor<16x8xf32> -> tensor<?x8xf32>
  // CHECK: lowmem.qlinear %{{.+}}, %{{.+}} transposed residual(
  %1 = lowmem.qlinear %dy, %q transposed residual(%0 : tensor<?x8xf32>) : tensor<?x16xf32>, !lowmem.qtensor<16x8xf32, nf4, block = 64> -> tensor<?x8xf32>
  return %1 : tensor<?x8xf32>
}

// Static and rank-3 inputs, f16 and bf16 compute.

// CHECK-LABEL: func.func @linear_shapes
func.func @linear_shapes(%x: tensor<2x3x8xf16>, %w: tensor<4x8xf16>,
                         %y: tensor<8xbf16>, %v: tensor<4x8xbf16>)
    -> (tensor<2x3x4xf16>, tensor<4xbf16>) {
  // CHECK: lowmem.linear %{{.+}}, %{{.+}} : tensor<2x3x8xf16>, tensor<4x8xf16> -> tensor<2x3x4xf16>
  %0 = lowmem.linear %x, %w : tensor<2x3x8xf16>, tensor<4x8xf16> -> tensor<2x3x4xf16>
  // CHECK: lowmem.linear %{{.+}}, %{{.+}} : tensor<8xbf16>, tensor<4x8xbf16> -> tensor<4xbf16>
  %1 = lowmem.linear %y, %v : tensor<8xbf16>, tensor<4x8xbf16> -> tensor<4xbf16>
  return %0, %1 : tensor<2x3x4xf16>, tensor<4xbf16>
}

//===----------------------------------------------------------------------===//
// lowmem.qlinear
//===----------------------------------------------------------------------===//

// The quantized weight type is printed without the dialect prefix in the
// op's type list (the operand is constrained to !lowmem.qtensor).

// CHECK-LABEL: func.func @qlinear_formats
// CHECK-SAME: ([[X:%.+]]: tensor<?x32xf32>, [[B:%.+]]: tensor<16xf32>, [[QF16:%[^:]+]]: !lowmem.qtensor<16x32xf32, f16>, [[QBF16:%[^:]+]]: !lowmem.qtensor<16x32xf32, bf16>, [[QINT4:%[^:]+]]: !lowmem.qtensor<16x32xf32, int4, block = 16>, [[QNF4:%[^:]+]]: !lowmem.qtensor<16x32xf32, nf4, block = 64>, [[QNF4DQ:%[^:]+]]: !lowmem.qtensor<16x32xf32, nf4, block = 64, double_quant>, [[QFP4:%[^:]+]]: !lowmem.qtensor<16x32xf32, fp4, block = 128>, [[QFP4DQ:%[^:]+]]: !lowmem.qtensor<16x32xf32, fp4, block = 32, double_quant>, [[QINT8:%[^:]+]]: !lowmem.qtensor<16x32xf32, int8>)
func.func @qlinear_formats(%x: tensor<?x32xf32>, %b: tensor<16xf32>,
    %qf16: !lowmem.qtensor<16x32xf32, f16>,
    %qbf16: !lowmem.qtensor<16x32xf32, bf16>,
    %qint4: !lowmem.qtensor<16x32xf32, int4>,
    %qnf4: !lowmem.qtensor<16x32xf32, nf4>,
    %qnf4dq: !lowmem.qtensor<16x32xf32, nf4, double_quant>,
    %qfp4: !lowmem.qtensor<16x32xf32, fp4, block = 128>,
    %qfp4dq: !lowmem.qtensor<16x32xf32, fp4, block = 32, double_quant>,
    %qint8: !lowmem.qtensor<16x32xf32, int8>) -> tensor<?x16xf32> {
  // CHECK: [[Q0:%.+]] = lowmem.qlinear [[X]], [[QF16]] : tensor<?x32xf32>, <16x32xf32, f16> -> tensor<?x16xf32>
  %0 = lowmem.qlinear %x, %qf16 : tensor<?x32xf32>, !lowmem.qtensor<16x32xf32, f16> -> tensor<?x16xf32>
  // CHECK: [[Q1:%.+]] = lowmem.qlinear [[X]], [[QBF16]] bias([[B]] : tensor<16xf32>) : tensor<?x32xf32>, <16x32xf32, bf16> -> tensor<?x16xf32>
  %1 = lowmem.qlinear %x, %qbf16 bias(%b : tensor<16xf32>) : tensor<?x32xf32>, !lowmem.qtensor<16x32xf32, bf16> -> tensor<?x16xf32>
  // CHECK: [[Q2:%.+]] = lowmem.qlinear [[X]], [[QINT4]] residual([[Q1]] : tensor<?x16xf32>) : tensor<?x32xf32>, <16x32xf32, int4, block = 16> -> tensor<?x16xf32>
  %2 = lowmem.qlinear %x, %qint4 residual(%1 : tensor<?x16xf32>) : tensor<?x32xf32>, !lowmem.qtensor<16x32xf32, int4> -> tensor<?x16xf32>
  // CHECK: [[Q3:%.+]] = lowmem.qlinear [[X]], [[QNF4]] activation <relu> : tensor<?x32xf32>, <16x32xf32, nf4, block = 64> -> tensor<?x16xf32>
  %3 = lowmem.qlinear %x, %qnf4 activation <relu> : tensor<?x32xf32>, !lowmem.qtensor<16x32xf32, nf4> -> tensor<?x16xf32>
  // CHECK: [[Q4:%.+]] = lowmem.qlinear [[X]], [[QNF4DQ]] bias([[B]] : tensor<16xf32>) residual([[Q3]] : tensor<?x16xf32>) activation <relu> : tensor<?x32xf32>, <16x32xf32, nf4, block = 64, double_quant> -> tensor<?x16xf32>
  %4 = lowmem.qlinear %x, %qnf4dq bias(%b : tensor<16xf32>) residual(%3 : tensor<?x16xf32>) activation <relu> : tensor<?x32xf32>, !lowmem.qtensor<16x32xf32, nf4, block = 64, double_quant> -> tensor<?x16xf32>
  // CHECK: [[Q5:%.+]] = lowmem.qlinear [[X]], [[QFP4]] : tensor<?x32xf32>, <16x32xf32, fp4, block = 128> -> tensor<?x16xf32>
  %5 = lowmem.qlinear %x, %qfp4 : tensor<?x32xf32>, !lowmem.qtensor<16x32xf32, fp4, block = 128> -> tensor<?x16xf32>
  // The stripped spelling of the weight type parses too.
  // CHECK: [[Q6:%.+]] = lowmem.qlinear [[X]], [[QFP4DQ]] : tensor<?x32xf32>, <16x32xf32, fp4, block = 32, double_quant> -> tensor<?x16xf32>
  %6 = lowmem.qlinear %x, %qfp4dq : tensor<?x32xf32>, <16x32xf32, fp4, double_quant, block = 32> -> tensor<?x16xf32>
  // CHECK: [[Q7:%.+]] = lowmem.qlinear [[X]], [[QINT8]] bias([[B]] : tensor<16xf32>) : tensor<?x32xf32>, <16x32xf32, int8> -> tensor<?x16xf32>
  %7 = lowmem.qlinear %x, %qint8 bias(%b : tensor<16xf32>) : tensor<?x32xf32>, !lowmem.qtensor<16x32xf32, int8> -> tensor<?x16xf32>
  %s0 = lowmem.add %0, %2 : tensor<?x16xf32>
  %s1 = lowmem.add %s0, %4 : tensor<?x16xf32>
  %s2 = lowmem.add %s1, %5 : tensor<?x16xf32>
  %s3 = lowmem.add %s2, %6 : tensor<?x16xf32>
  %s4 = lowmem.add %s3, %7 : tensor<?x16xf32>
  return %s4 : tensor<?x16xf32>
}

//===----------------------------------------------------------------------===//
// lowmem.lora
//===----------------------------------------------------------------------===//

// CHECK-LABEL: func.func @lora
// CHECK-SAME: ([[X:%.+]]: tensor<?x32xf32>, [[A:%.+]]: tensor<4x32xf32>, [[B:%.+]]: tensor<16x4xf32>)
func.func @lora(%x: tensor<?x32xf32>, %a: tensor<4x32xf32>, %b: tensor<16x4xf32>)
    -> (tensor<?x16xf32>, tensor<?x16xf32>, tensor<?x16xf32>) {
  // Default dropout and scaling are not printed.
  // CHECK: lowmem.lora [[X]], [[A]], [[B]] {alpha = 1.600000e+01 : f64} : tensor<?x32xf32>, tensor<4x32xf32>, tensor<16x4xf32> -> tensor<?x16xf32>
  %0 = lowmem.lora %x, %a, %b {alpha = 16.0 : f64} : tensor<?x32xf32>, tensor<4x32xf32>, tensor<16x4xf32> -> tensor<?x16xf32>
  // CHECK: lowmem.lora [[X]], [[A]], [[B]] {alpha = 8.000000e+00 : f64, dropout = 1.000000e-01 : f64, scaling = #lowmem.lora_scaling<rslora>} : tensor<?x32xf32>, tensor<4x32xf32>, tensor<16x4xf32> -> tensor<?x16xf32>
  %1 = lowmem.lora %x, %a, %b {alpha = 8.0 : f64, dropout = 0.1 : f64, scaling = #lowmem.lora_scaling<rslora>} : tensor<?x32xf32>, tensor<4x32xf32>, tensor<16x4xf32> -> tensor<?x16xf32>
  // CHECK: lowmem.lora [[X]], [[A]], [[B]] {alpha = 1.000000e+00 : f64} : tensor<?x32xf32>, tensor<4x32xf32>, tensor<16x4xf32> -> tensor<?x16xf32>
  %2 = lowmem.lora %x, %a, %b {alpha = 1.0 : f64, dropout = 0.0 : f64, scaling = #lowmem.lora_scaling<standard>} : tensor<?x32xf32>, tensor<4x32xf32>, tensor<16x4xf32> -> tensor<?x16xf32>
  return %0, %1, %2 : tensor<?x16xf32>, tensor<?x16xf32>, tensor<?x16xf32>
}

//===----------------------------------------------------------------------===//
// lowmem.quantize / lowmem.dequantize
//===----------------------------------------------------------------------===//

// CHECK-LABEL: func.func @quantize_dequantize
// CHECK-SAME: ([[W:%.+]]: tensor<16x32xf32>)
func.func @quantize_dequantize(%w: tensor<16x32xf32>) -> tensor<16x32xf32> {
  // CHECK: [[Q0:%.+]] = lowmem.quantize [[W]] : tensor<16x32xf32> -> <16x32xf32, f16>
  %q0 = lowmem.quantize %w : tensor<16x32xf32> -> !lowmem.qtensor<16x32xf32, f16>
  // CHECK: [[Q1:%.+]] = lowmem.quantize [[W]] : tensor<16x32xf32> -> <16x32xf32, bf16>
  %q1 = lowmem.quantize %w : tensor<16x32xf32> -> !lowmem.qtensor<16x32xf32, bf16>
  // CHECK: [[Q2:%.+]] = lowmem.quantize [[W]] : tensor<16x32xf32> -> <16x32xf32, int4, block = 16>
  %q2 = lowmem.quantize %w : tensor<16x32xf32> -> !lowmem.qtensor<16x32xf32, int4>
  // CHECK: [[Q3:%.+]] = lowmem.quantize [[W]] : tensor<16x32xf32> -> <16x32xf32, nf4, block = 64>
  %q3 = lowmem.quantize %w : tensor<16x32xf32> -> !lowmem.qtensor<16x32xf32, nf4>
  // CHECK: [[Q4:%.+]] = lowmem.quantize [[W]] : tensor<16x32xf32> -> <16x32xf32, nf4, block = 64, double_quant>
  %q4 = lowmem.quantize %w : tensor<16x32xf32> -> !lowmem.qtensor<16x32xf32, nf4, double_quant>
  // CHECK: [[Q5:%.+]] = lowmem.quantize [[W]] : tensor<16x32xf32> -> <16x32xf32, fp4, block = 64>
  %q5 = lowmem.quantize %w : tensor<16x32xf32> -> !lowmem.qtensor<16x32xf32, fp4>
  // CHECK: [[Q6:%.+]] = lowmem.quantize [[W]] : tensor<16x32xf32> -> <16x32xf32, int8>
  %q6 = lowmem.quantize %w : tensor<16x32xf32> -> !lowmem.qtensor<16x32xf32, int8>
  // CHECK: [[D0:%.+]] = lowmem.dequantize [[Q0]] : <16x32xf32, f16> -> tensor<16x32xf32>
  // CHECK: [[D1:%.+]] = lowmem.dequantize [[Q1]] : <16x32xf32, bf16> -> tensor<16x32xf32>
  // CHECK: [[D2:%.+]] = lowmem.dequantize [[Q2]] : <16x32xf32, int4, block = 16> -> tensor<16x32xf32>
  // CHECK: [[D3:%.+]] = lowmem.dequantize [[Q3]] : <16x32xf32, nf4, block = 64> -> tensor<16x32xf32>
  // CHECK: [[D4:%.+]] = lowmem.dequantize [[Q4]] : <16x32xf32, nf4, block = 64, double_quant> -> tensor<16x32xf32>
  // CHECK: [[D5:%.+]] = lowmem.dequantize [[Q5]] : <16x32xf32, fp4, block = 64> -> tensor<16x32xf32>
  // CHECK: [[D6:%.+]] = lowmem.dequantize [[Q6]] : <16x32xf32, int8> -> tensor<16x32xf32>
  %d0 = lowmem.dequantize %q0 : !lowmem.qtensor<16x32xf32, f16> -> tensor<16x32xf32>
  %d1 = lowmem.dequantize %q1 : !lowmem.qtensor<16x32xf32, bf16> -> tensor<16x32xf32>
  %d2 = lowmem.dequantize %q2 : !lowmem.qtensor<16x32xf32, int4> -> tensor<16x32xf32>
  %d3 = lowmem.dequantize %q3 : !lowmem.qtensor<16x32xf32, nf4> -> tensor<16x32xf32>
  %d4 = lowmem.dequantize %q4 : !lowmem.qtensor<16x32xf32, nf4, double_quant> -> tensor<16x32xf32>
  %d5 = lowmem.dequantize %q5 : !lowmem.qtensor<16x32xf32, fp4> -> tensor<16x32xf32>
  %d6 = lowmem.dequantize %q6 : !lowmem.qtensor<16x32xf32, int8> -> tensor<16x32xf32>
  %s0 = lowmem.add %d0, %d1 : tensor<16x32xf32>
  %s1 = lowmem.add %s0, %d2 : tensor<16x32xf32>
  %s2 = lowmem.add %s1, %d3 : tensor<16x32xf32>
  %s3 = lowmem.add %s2, %d4 : tensor<16x32xf32>
  %s4 = lowmem.add %s3, %d5 : tensor<16x32xf32>
  %s5 = lowmem.add %s4, %d6 : tensor<16x32xf32>
  return %s5 : tensor<16x32xf32>
}

// CHECK-LABEL: func.func @quantize_f16
// CHECK: lowmem.quantize %{{.+}} : tensor<8x8xf16> -> <8x8xf16, nf4, block = 64>
// CHECK: lowmem.dequantize %{{.+}} : <8x8xf16, nf4, block = 64> -> tensor<8x8xf16>
func.func @quantize_f16(%w: tensor<8x8xf16>) -> tensor<8x8xf16> {
  %q = lowmem.quantize %w : tensor<8x8xf16> -> !lowmem.qtensor<8x8xf16, nf4>
  %d = lowmem.dequantize %q : !lowmem.qtensor<8x8xf16, nf4> -> tensor<8x8xf16>
  return %d : tensor<8x8xf16>
}

//===----------------------------------------------------------------------===//
// lowmem.assemble
//===----------------------------------------------------------------------===//

// The storage of a 16x32 weight (512 elements) in every format.

// CHECK-LABEL: func.func @assemble
// CHECK-SAME: ([[F16:%[^:]+]]: tensor<16x32xf16>, [[BF16:%[^:]+]]: tensor<16x32xbf16>, [[C4:%[^:]+]]: tensor<256xi8>, [[M4:%[^:]+]]: tensor<32xf16>, [[MNF4:%[^:]+]]: tensor<8xf32>, [[MCODES:%[^:]+]]: tensor<8xi8>, [[NESTED:%[^:]+]]: tensor<1xf32>, [[OFFSET:%[^:]+]]: tensor<1xf32>, [[C8:%[^:]+]]: tensor<512xi8>, [[M8:%[^:]+]]: tensor<16xf32>, [[MFP4:%[^:]+]]: tensor<16xf32>)
func.func @assemble(%f16: tensor<16x32xf16>, %bf16: tensor<16x32xbf16>,
                    %codes4: tensor<256xi8>, %absmax_int4: tensor<32xf16>,
                    %absmax_nf4: tensor<8xf32>, %absmax_codes: tensor<8xi8>,
                    %nested: tensor<1xf32>, %offset: tensor<1xf32>,
                    %codes8: tensor<512xi8>, %absmax_int8: tensor<16xf32>,
                    %absmax_fp4: tensor<16xf32>)
    -> (!lowmem.qtensor<16x32xf32, f16>, !lowmem.qtensor<16x32xf32, bf16>,
        !lowmem.qtensor<16x32xf32, int4>, !lowmem.qtensor<16x32xf32, nf4>,
        !lowmem.qtensor<16x32xf32, nf4, double_quant>,
        !lowmem.qtensor<16x32xf32, fp4, block = 32>,
        !lowmem.qtensor<16x32xf32, fp4, double_quant>,
        !lowmem.qtensor<16x32xf32, int8>) {
  // CHECK: [[A0:%.+]] = lowmem.assemble [[F16]] : tensor<16x32xf16> -> <16x32xf32, f16>
  %0 = lowmem.assemble %f16 : tensor<16x32xf16> -> !lowmem.qtensor<16x32xf32, f16>
  // CHECK: [[A1:%.+]] = lowmem.assemble [[BF16]] : tensor<16x32xbf16> -> <16x32xf32, bf16>
  %1 = lowmem.assemble %bf16 : tensor<16x32xbf16> -> !lowmem.qtensor<16x32xf32, bf16>
  // CHECK: [[A2:%.+]] = lowmem.assemble [[C4]], [[M4]] : tensor<256xi8>, tensor<32xf16> -> <16x32xf32, int4, block = 16>
  %2 = lowmem.assemble %codes4, %absmax_int4 : tensor<256xi8>, tensor<32xf16> -> !lowmem.qtensor<16x32xf32, int4>
  // CHECK: [[A3:%.+]] = lowmem.assemble [[C4]], [[MNF4]] : tensor<256xi8>, tensor<8xf32> -> <16x32xf32, nf4, block = 64>
  %3 = lowmem.assemble %codes4, %absmax_nf4 : tensor<256xi8>, tensor<8xf32> -> !lowmem.qtensor<16x32xf32, nf4>
  // CHECK: [[A4:%.+]] = lowmem.assemble [[C4]], [[MCODES]], [[NESTED]], [[OFFSET]] : tensor<256xi8>, tensor<8xi8>, tensor<1xf32>, tensor<1xf32> -> <16x32xf32, nf4, block = 64, double_quant>
  %4 = lowmem.assemble %codes4, %absmax_codes, %nested, %offset : tensor<256xi8>, tensor<8xi8>, tensor<1xf32>, tensor<1xf32> -> !lowmem.qtensor<16x32xf32, nf4, double_quant>
  // CHECK: [[A5:%.+]] = lowmem.assemble [[C4]], [[MFP4]] : tensor<256xi8>, tensor<16xf32> -> <16x32xf32, fp4, block = 32>
  %5 = lowmem.assemble %codes4, %absmax_fp4 : tensor<256xi8>, tensor<16xf32> -> !lowmem.qtensor<16x32xf32, fp4, block = 32>
  // CHECK: [[A6:%.+]] = lowmem.assemble [[C4]], [[MCODES]], [[NESTED]], [[OFFSET]] : tensor<256xi8>, tensor<8xi8>, tensor<1xf32>, tensor<1xf32> -> <16x32xf32, fp4, block = 64, double_quant>
  %6 = lowmem.assemble %codes4, %absmax_codes, %nested, %offset : tensor<256xi8>, tensor<8xi8>, tensor<1xf32>, tensor<1xf32> -> !lowmem.qtensor<16x32xf32, fp4, double_quant>
  // CHECK: [[A7:%.+]] = lowmem.assemble [[C8]], [[M8]] : tensor<512xi8>, tensor<16xf32> -> <16x32xf32, int8>
  %7 = lowmem.assemble %codes8, %absmax_int8 : tensor<512xi8>, tensor<16xf32> -> !lowmem.qtensor<16x32xf32, int8>
  // CHECK: return [[A0]], [[A1]], [[A2]], [[A3]], [[A4]], [[A5]], [[A6]], [[A7]]
  return %0, %1, %2, %3, %4, %5, %6, %7
      : !lowmem.qtensor<16x32xf32, f16>, !lowmem.qtensor<16x32xf32, bf16>,
        !lowmem.qtensor<16x32xf32, int4>, !lowmem.qtensor<16x32xf32, nf4>,
        !lowmem.qtensor<16x32xf32, nf4, double_quant>,
        !lowmem.qtensor<16x32xf32, fp4, block = 32>,
        !lowmem.qtensor<16x32xf32, fp4, double_quant>,
        !lowmem.qtensor<16x32xf32, int8>
}

// Odd element counts round the packed codes up, and the nested absmax of
// double quantization covers 256 blocks each: 33x32 = 1056 elements are 528
// bytes of codes and 33 blocks of 32; 300x32 = 9600 elements in blocks of 32
// are 300 blocks, i.e. two nested scales.

// CHECK-LABEL: func.func @assemble_rounding
// CHECK: lowmem.assemble %{{.+}}, %{{.+}} : tensor<8xi8>, tensor<1xf16> -> <3x5xf32, int4, block = 16>
// CHECK: lowmem.assemble %{{.+}}, %{{.+}}, %{{.+}}, %{{.+}} : tensor<4800xi8>, tensor<300xi8>, tensor<2xf32>, tensor<1xf32> -> <300x32xf32, nf4, block = 32, double_quant>
func.func @assemble_rounding(%c: tensor<8xi8>, %m: tensor<1xf16>,
                             %c2: tensor<4800xi8>, %m2: tensor<300xi8>,
                             %n2: tensor<2xf32>, %o2: tensor<1xf32>)
    -> (!lowmem.qtensor<3x5xf32, int4>,
        !lowmem.qtensor<300x32xf32, nf4, block = 32, double_quant>) {
  %0 = lowmem.assemble %c, %m : tensor<8xi8>, tensor<1xf16> -> !lowmem.qtensor<3x5xf32, int4>
  %1 = lowmem.assemble %c2, %m2, %n2, %o2 : tensor<4800xi8>, tensor<300xi8>, tensor<2xf32>, tensor<1xf32> -> !lowmem.qtensor<300x32xf32, nf4, block = 32, double_quant>
  return %0, %1 : !lowmem.qtensor<3x5xf32, int4>, !lowmem.qtensor<300x32xf32, nf4, block = 32, double_quant>
}

//===----------------------------------------------------------------------===//
// lowmem.relu / lowmem.add / lowmem.group_norm
//===----------------------------------------------------------------------===//

// CHECK-LABEL: func.func @elementwise
// CHECK-SAME: ([[X:%.+]]: tensor<?x8xf32>, [[Y:%.+]]: tensor<?x8xf32>, [[H:%.+]]: tensor<4xf16>)
func.func @elementwise(%x: tensor<?x8xf32>, %y: tensor<?x8xf32>, %h: tensor<4xf16>)
    -> (tensor<?x8xf32>, tensor<4xf16>) {
  // CHECK: [[R:%.+]] = lowmem.relu [[X]] : tensor<?x8xf32>
  %0 = lowmem.relu %x : tensor<?x8xf32>
  // CHECK: [[S:%.+]] = lowmem.add [[R]], [[Y]] : tensor<?x8xf32>
  %1 = lowmem.add %0, %y : tensor<?x8xf32>
  // CHECK: [[RH:%.+]] = lowmem.relu [[H]] : tensor<4xf16>
  %2 = lowmem.relu %h : tensor<4xf16>
  // CHECK: [[SH:%.+]] = lowmem.add [[RH]], [[H]] : tensor<4xf16>
  %3 = lowmem.add %2, %h : tensor<4xf16>
  // CHECK: return [[S]], [[SH]]
  return %1, %3 : tensor<?x8xf32>, tensor<4xf16>
}

// CHECK-LABEL: func.func @group_norm
// CHECK-SAME: ([[X:%.+]]: tensor<?x8xf32>, [[G:%.+]]: tensor<8xf32>, [[B:%.+]]: tensor<8xf32>)
func.func @group_norm(%x: tensor<?x8xf32>, %g: tensor<8xf32>, %b: tensor<8xf32>)
    -> (tensor<?x8xf32>, tensor<?x8xf32>) {
  // CHECK: lowmem.group_norm [[X]], [[G]], [[B]] {epsilon = 1.000000e-05 : f64, num_groups = 1 : i64} : tensor<?x8xf32>, tensor<8xf32>, tensor<8xf32> -> tensor<?x8xf32>
  %0 = lowmem.group_norm %x, %g, %b {epsilon = 1.0e-05 : f64, num_groups = 1 : i64} : tensor<?x8xf32>, tensor<8xf32>, tensor<8xf32> -> tensor<?x8xf32>
  // CHECK: lowmem.group_norm [[X]], [[G]], [[B]] {epsilon = 1.000000e-03 : f64, num_groups = 4 : i64} : tensor<?x8xf32>, tensor<8xf32>, tensor<8xf32> -> tensor<?x8xf32>
  %1 = lowmem.group_norm %x, %g, %b {num_groups = 4 : i64, epsilon = 1.0e-03 : f64} : tensor<?x8xf32>, tensor<8xf32>, tensor<8xf32> -> tensor<?x8xf32>
  return %0, %1 : tensor<?x8xf32>, tensor<?x8xf32>
}

// A small model in the form the importer produces.

// CHECK-LABEL: func.func @forward
// CHECK-SAME: ([[X:%.+]]: tensor<?x8xf32> {lowmem.input = "x"}, [[W0:%.+]]: tensor<8x8xf32> {lowmem.param = "model.0.model.0.weight"}, [[B0:%.+]]: tensor<8xf32> {lowmem.param = "model.0.model.0.bias"}, [[Q:%.+]]: !lowmem.qtensor<8x8xf32, nf4, block = 64, double_quant> {lowmem.param = "model.0.model.2.weight", lowmem.trainable})
// CHECK: [[L:%.+]] = lowmem.linear [[X]], [[W0]] bias([[B0]] : tensor<8xf32>)
// CHECK: [[R:%.+]] = lowmem.relu [[L]]
// CHECK: [[Y:%.+]] = lowmem.qlinear [[R]], [[Q]] residual([[X]] : tensor<?x8xf32>)
// CHECK: return [[Y]]
func.func @forward(%x: tensor<?x8xf32> {lowmem.input = "x"},
    %w0: tensor<8x8xf32> {lowmem.param = "model.0.model.0.weight"},
    %b0: tensor<8xf32> {lowmem.param = "model.0.model.0.bias"},
    %q: !lowmem.qtensor<8x8xf32, nf4, double_quant> {lowmem.param = "model.0.model.2.weight", lowmem.trainable}) -> tensor<?x8xf32> {
  %0 = lowmem.linear %x, %w0 bias(%b0 : tensor<8xf32>) : tensor<?x8xf32>, tensor<8x8xf32> -> tensor<?x8xf32>
  %1 = lowmem.relu %0 : tensor<?x8xf32>
  %2 = lowmem.qlinear %1, %q residual(%x : tensor<?x8xf32>) : tensor<?x8xf32>, !lowmem.qtensor<8x8xf32, nf4, double_quant> -> tensor<?x8xf32>
  return %2 : tensor<?x8xf32>
}

//===----------------------------------------------------------------------===//
// Gradients and losses
//===----------------------------------------------------------------------===//

// CHECK-LABEL: func.func @grads
func.func @grads(%dy: tensor<?x16xf32>, %x: tensor<?x8xf32>, %y: tensor<?x16xf32>,
                 %t: tensor<?x16xf32>, %dy3: tensor<2x?x16xf32>, %x3: tensor<2x?x8xf32>)
    -> (tensor<16x8xf32>, tensor<16x8xf32>, tensor<?x16xf32>, tensor<f32>, tensor<?x16xf32>) {
  // CHECK: lowmem.weight_grad %{{.+}}, %{{.+}} : tensor<?x16xf32>, tensor<?x8xf32> -> tensor<16x8xf32>
  %0 = lowmem.weight_grad %dy, %x : tensor<?x16xf32>, tensor<?x8xf32> -> tensor<16x8xf32>
  // CHECK: lowmem.weight_grad %{{.+}}, %{{.+}} {scale = 2.000000e+00 : f64} : tensor<2x?x16xf32>, tensor<2x?x8xf32> -> tensor<16x8xf32>
  %1 = lowmem.weight_grad %dy3, %x3 {scale = 2.0 : f64} : tensor<2x?x16xf32>, tensor<2x?x8xf32> -> tensor<16x8xf32>
  // CHECK: lowmem.relu_grad %{{.+}}, %{{.+}} : tensor<?x16xf32>
  %2 = lowmem.relu_grad %dy, %y : tensor<?x16xf32>
  // CHECK: lowmem.mse_loss %{{.+}}, %{{.+}} : tensor<?x16xf32> -> tensor<f32>
  %3 = lowmem.mse_loss %y, %t : tensor<?x16xf32> -> tensor<f32>
  // CHECK: lowmem.mse_loss_grad %{{.+}}, %{{.+}} : tensor<?x16xf32>
  %4 = lowmem.mse_loss_grad %y, %t : tensor<?x16xf32>
  return %0, %1, %2, %3, %4 : tensor<16x8xf32>, tensor<16x8xf32>, tensor<?x16xf32>, tensor<f32>, tensor<?x16xf32>
}

// CHECK-LABEL: func.func @cross_entropy
func.func @cross_entropy(%logits: tensor<?x10xf32>, %labels: tensor<?xi64>,
                         %seq: tensor<2x?x32xf32>, %tokens: tensor<2x?xi64>)
    -> (tensor<f32>, tensor<?x10xf32>, tensor<f32>) {
  // CHECK: lowmem.cross_entropy_loss %{{.+}}, %{{.+}} : tensor<?x10xf32>, tensor<?xi64> -> tensor<f32>
  %0 = lowmem.cross_entropy_loss %logits, %labels : tensor<?x10xf32>, tensor<?xi64> -> tensor<f32>
  // CHECK: lowmem.cross_entropy_loss_grad %{{.+}}, %{{.+}} : tensor<?x10xf32>, tensor<?xi64>
  %1 = lowmem.cross_entropy_loss_grad %logits, %labels : tensor<?x10xf32>, tensor<?xi64>
  // CHECK: lowmem.cross_entropy_loss %{{.+}}, %{{.+}} {ignore_index = 0 : i64} : tensor<2x?x32xf32>, tensor<2x?xi64> -> tensor<f32>
  %2 = lowmem.cross_entropy_loss %seq, %tokens {ignore_index = 0 : i64} : tensor<2x?x32xf32>, tensor<2x?xi64> -> tensor<f32>
  return %0, %1, %2 : tensor<f32>, tensor<?x10xf32>, tensor<f32>
}

// CHECK-LABEL: func.func @dropout
func.func @dropout(%x: tensor<?x16xf32>, %hyper: tensor<4xf32>) -> tensor<?x16xf32> {
  // CHECK: lowmem.dropout %{{.+}}, %{{.+}} {probability = 1.000000e-01 : f64, stream = 3 : i64} : tensor<?x16xf32>
  %0 = lowmem.dropout %x, %hyper {probability = 0.1 : f64, stream = 3 : i64} : tensor<?x16xf32>
  return %0 : tensor<?x16xf32>
}

// CHECK-LABEL: func.func @more_grads
func.func @more_grads(%dy: tensor<?x8xf32>, %x: tensor<?x8xf32>, %g: tensor<8xf32>)
    -> (tensor<?x8xf32>, tensor<8xf32>, tensor<8xf32>, tensor<8xf32>, tensor<?x8xf32>) {
  // CHECK: lowmem.group_norm_grad %{{.+}}, %{{.+}}, %{{.+}} {epsilon = 1.000000e-05 : f64, num_groups = 2 : i64} : tensor<?x8xf32>, tensor<?x8xf32>, tensor<8xf32> -> tensor<?x8xf32>, tensor<8xf32>, tensor<8xf32>
  %dx, %dg, %db = lowmem.group_norm_grad %dy, %x, %g {epsilon = 1.0e-05 : f64, num_groups = 2 : i64} : tensor<?x8xf32>, tensor<?x8xf32>, tensor<8xf32> -> tensor<?x8xf32>, tensor<8xf32>, tensor<8xf32>
  // CHECK: lowmem.bias_grad %{{.+}} : tensor<?x8xf32> -> tensor<8xf32>
  %0 = lowmem.bias_grad %dy : tensor<?x8xf32> -> tensor<8xf32>
  // CHECK: lowmem.scale %{{.+}} {factor = 2.500000e-01 : f64} : tensor<?x8xf32>
  %1 = lowmem.scale %dy {factor = 0.25 : f64} : tensor<?x8xf32>
  return %dx, %dg, %db, %0, %1 : tensor<?x8xf32>, tensor<8xf32>, tensor<8xf32>, tensor<8xf32>, tensor<?x8xf32>
}

//===----------------------------------------------------------------------===//
// Optimizers
//===----------------------------------------------------------------------===//

// CHECK-LABEL: func.func @optimizers
func.func @optimizers(%p: tensor<4x8xf32>, %g: tensor<4x8xf32>, %m: tensor<4x8xf32>,
                      %v: tensor<4x8xf32>, %h: tensor<4xf32>, %l: tensor<f32>)
    -> (tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>) {
  // CHECK: lowmem.sgd %{{.+}}, %{{.+}}, %{{.+}}, %{{.+}} : tensor<4x8xf32>
  %0 = lowmem.sgd %p, %g, %h, %l : tensor<4x8xf32>
  // CHECK: lowmem.sgd %{{.+}}, %{{.+}}, %{{.+}}, %{{.+}} momentum_buffer(%{{.+}} : tensor<4x8xf32>) {momentum = 9.000000e-01 : f64, weight_decay = 1.000000e-02 : f64} : tensor<4x8xf32>, tensor<4x8xf32>
  %1, %2 = lowmem.sgd %p, %g, %h, %l momentum_buffer(%m : tensor<4x8xf32>) {momentum = 0.9 : f64, weight_decay = 0.01 : f64} : tensor<4x8xf32>, tensor<4x8xf32>
  // CHECK: lowmem.adamw %{{.+}}, %{{.+}}, %{{.+}}, %{{.+}}, %{{.+}}, %{{.+}} {beta1 = 8.000000e-01 : f64} : tensor<4x8xf32>
  %3, %4, %5 = lowmem.adamw %p, %g, %m, %v, %h, %l {beta1 = 0.8 : f64} : tensor<4x8xf32>
  return %0, %1, %2, %3, %4, %5 : tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>
}
