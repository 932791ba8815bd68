// RUN: lowmem-opt %s -split-input-file --convert-lowmem-to-linalg --mlir-print-local-scope | FileCheck %s

// Errors of the conversion are in lowmem-to-linalg-invalid.mlir.

// linear without epilogue: a zero-filled accumulator and one generic over
// (rows, n, k) computing acc[m, n] += x[m, k] * w[n, k].

// CHECK-LABEL: func.func @linear
// CHECK-SAME: ([[X:%[^:]+]]: tensor<?x8xf32>, [[W:%[^:]+]]: tensor<4x8xf32>) -> tensor<?x4xf32>
// CHECK-DAG: [[ZERO:%.+]] = arith.constant 0.000000e+00 : f32
// CHECK-DAG: [[C0:%.+]] = arith.constant 0 : index
// CHECK: [[DIM:%.+]] = tensor.dim [[X]], [[C0]] : tensor<?x8xf32>
// CHECK: [[EMPTY:%.+]] = tensor.empty([[DIM]]) : tensor<?x4xf32>
// CHECK: [[ACC:%.+]] = linalg.fill ins([[ZERO]] : f32) outs([[EMPTY]] : tensor<?x4xf32>) -> tensor<?x4xf32>
// CHECK: [[Y:%.+]] = linalg.generic
// CHECK-SAME: indexing_maps = [affine_map<(d0, d1, d2) -> (d0, d2)>, affine_map<(d0, d1, d2) -> (d1, d2)>, affine_map<(d0, d1, d2) -> (d0, d1)>]
// CHECK-SAME: iterator_types = ["parallel", "parallel", "reduction"]
// CHECK-SAME: ins([[X]], [[W]] : tensor<?x8xf32>, tensor<4x8xf32>) outs([[ACC]] : tensor<?x4xf32>)
// CHECK-NEXT: ^bb0([[IN:%.+]]: f32, [[WIN:%.+]]: f32, [[OUT:%.+]]: f32):
// CHECK-NEXT: [[P:%.+]] = arith.mulf [[IN]], [[WIN]] : f32
// CHECK-NEXT: [[S:%.+]] = arith.addf [[OUT]], [[P]] : f32
// CHECK-NEXT: linalg.yield [[S]] : f32
// CHECK-NEXT: } -> tensor<?x4xf32>
// CHECK-NOT: linalg.generic
// CHECK: return [[Y]]
func.func @linear(%x: tensor<?x8xf32>, %w: tensor<4x8xf32>) -> tensor<?x4xf32> {
  %0 = lowmem.linear %x, %w : tensor<?x8xf32>, tensor<4x8xf32> -> tensor<?x4xf32>
  return %0 : tensor<?x4xf32>
}

// -----

// The bias initializes the accumulator (broadcast over the rows); relu and
// the residual are a second elementwise generic, relu first.

// CHECK-LABEL: func.func @linear_epilogue
// CHECK-SAME: ([[X:%[^:]+]]: tensor<?x8xf32>, [[W:%[^:]+]]: tensor<4x8xf32>, [[B:%[^:]+]]: tensor<4xf32>, [[R:%[^:]+]]: tensor<?x4xf32>)
// CHECK-DAG: [[ZERO:%.+]] = arith.constant 0.000000e+00 : f32
// CHECK: [[EMPTY:%.+]] = tensor.empty(%{{.+}}) : tensor<?x4xf32>
// CHECK: [[ACC:%.+]] = linalg.generic
// CHECK-SAME: indexing_maps = [affine_map<(d0, d1) -> (d1)>, affine_map<(d0, d1) -> (d0, d1)>]
// CHECK-SAME: iterator_types = ["parallel", "parallel"]
// CHECK-SAME: ins([[B]] : tensor<4xf32>) outs([[EMPTY]] : tensor<?x4xf32>)
// CHECK-NEXT: ^bb0([[BIN:%.+]]: f32, %{{.+}}: f32):
// CHECK-NEXT: linalg.yield [[BIN]] : f32
// CHECK: [[PROD:%.+]] = linalg.generic
// CHECK-SAME: iterator_types = ["parallel", "parallel", "reduction"]
// CHECK-SAME: ins([[X]], [[W]] : tensor<?x8xf32>, tensor<4x8xf32>) outs([[ACC]] : tensor<?x4xf32>)
// The epilogue is written over the product: no second buffer.
// CHECK-NOT: tensor.empty
// CHECK: [[Y:%.+]] = linalg.generic
// CHECK-SAME: indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>]
// CHECK-SAME: iterator_types = ["parallel", "parallel"]
// CHECK-SAME: ins([[R]] : tensor<?x4xf32>) outs([[PROD]] : tensor<?x4xf32>)
// CHECK-NEXT: ^bb0([[RIN:%.+]]: f32, [[V:%.+]]: f32):
// CHECK-NEXT: [[RELU:%.+]] = arith.maximumf [[V]], [[ZERO]] : f32
// CHECK-NEXT: [[SUM:%.+]] = arith.addf [[RELU]], [[RIN]] : f32
// CHECK-NEXT: linalg.yield [[SUM]] : f32
// CHECK: return [[Y]]
func.func @linear_epilogue(%x: tensor<?x8xf32>, %w: tensor<4x8xf32>, %b: tensor<4xf32>, %r: tensor<?x4xf32>) -> tensor<?x4xf32> {
  %0 = lowmem.linear %x, %w bias(%b : tensor<4xf32>) residual(%r : tensor<?x4xf32>) activation <relu> : tensor<?x8xf32>, tensor<4x8xf32> -> tensor<?x4xf32>
  return %0 : tensor<?x4xf32>
}

// -----

// A rank-3 input keeps its leading dimensions: loops (d0, d1, n, k).

// CHECK-LABEL: func.func @linear_rank3
// CHECK: linalg.generic
// CHECK-SAME: indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d1, d3)>, affine_map<(d0, d1, d2, d3) -> (d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>]
// CHECK-SAME: iterator_types = ["parallel", "parallel", "parallel", "reduction"]
// CHECK-SAME: outs(%{{.+}} : tensor<2x?x4xf32>)
func.func @linear_rank3(%x: tensor<2x?x8xf32>, %w: tensor<4x8xf32>) -> tensor<2x?x4xf32> {
  %0 = lowmem.linear %x, %w : tensor<2x?x8xf32>, tensor<4x8xf32> -> tensor<2x?x4xf32>
  return %0 : tensor<2x?x4xf32>
}

// -----

// qlinear nf4: the weight is never materialized. The product generic only
// reads the input; its body computes the flat index n * 8 + k of the weight
// element, extracts the byte at flat / 2 from the codes, shifts it right by
// (1 - flat % 2) * 4 (the first element is in the high nibble), masks with
// 15, looks the code up in the 16-entry NF4 table and multiplies by the
// absmax of block flat / 64.

// CHECK-LABEL: func.func @qlinear_nf4
// CHECK-SAME: ([[X:%[^:]+]]: tensor<?x8xf32>, [[CODES:%[^:]+]]: tensor<64xi8>, [[ABSMAX:%[^:]+]]: tensor<2xf32>, [[B:%[^:]+]]: tensor<16xf32>)
// CHECK-NOT: tensor<16x8xf32>
// CHECK-DAG: [[C64:%.+]] = arith.constant 64 : index
// CHECK-DAG: [[C15:%.+]] = arith.constant 15 : i32
// CHECK-DAG: [[C4:%.+]] = arith.constant 4 : index
// CHECK-DAG: [[C1:%.+]] = arith.constant 1 : index
// CHECK-DAG: [[C2:%.+]] = arith.constant 2 : index
// CHECK-DAG: [[C8:%.+]] = arith.constant 8 : index
// CHECK-DAG: [[TABLE:%.+]] = arith.constant dense<[-1.000000e+00, -0.6961928, -0.525073051, -0.394917488, -0.284441382, -0.18477343, -0.0910500362, 0.000000e+00, 0.0795802995, 0.160930201, 0.246112302, 0.337915242, 0.440709829, 5.626170e-01, 0.722956836, 1.000000e+00]> : tensor<16xf32>
// CHECK-NOT: tensor<16x8xf32>
// CHECK: [[ACC:%.+]] = linalg.generic
// CHECK-SAME: ins([[B]] : tensor<16xf32>)
// CHECK-NOT: tensor<16x8xf32>
// CHECK: linalg.generic
// CHECK-SAME: indexing_maps = [affine_map<(d0, d1, d2) -> (d0, d2)>, affine_map<(d0, d1, d2) -> (d0, d1)>]
// CHECK-SAME: iterator_types = ["parallel", "parallel", "reduction"]
// CHECK-SAME: ins([[X]] : tensor<?x8xf32>) outs([[ACC]] : tensor<?x16xf32>)
// CHECK-NEXT: ^bb0([[IN:%.+]]: f32, [[OUT:%.+]]: f32):
// CHECK-NEXT: [[N:%.+]] = linalg.index 1 : index
// CHECK-NEXT: [[K:%.+]] = linalg.index 2 : index
// CHECK-NEXT: [[ROW:%.+]] = arith.muli [[N]], [[C8]] : index
// CHECK-NEXT: [[FLAT:%.+]] = arith.addi [[ROW]], [[K]] : index
// CHECK-NEXT: [[BYTEIDX:%.+]] = arith.divui [[FLAT]], [[C2]] : index
// CHECK-NEXT: [[PARITY:%.+]] = arith.remui [[FLAT]], [[C2]] : index
// CHECK-NEXT: [[BYTE:%.+]] = tensor.extract [[CODES]][[[BYTEIDX]]] : tensor<64xi8>
// CHECK-NEXT: [[WIDE:%.+]] = arith.extui [[BYTE]] : i8 to i32
// CHECK-NEXT: [[SEL:%.+]] = arith.subi [[C1]], [[PARITY]] : index
// CHECK-NEXT: [[SHIFTIDX:%.+]] = arith.muli [[SEL]], [[C4]] : index
// CHECK-NEXT: [[SHIFT:%.+]] = arith.index_cast [[SHIFTIDX]] : index to i32
// CHECK-NEXT: [[SHR:%.+]] = arith.shrui [[WIDE]], [[SHIFT]] : i32
// CHECK-NEXT: [[CODE:%.+]] = arith.andi [[SHR]], [[C15]] : i32
// CHECK-NEXT: [[BLOCK:%.+]] = arith.divui [[FLAT]], [[C64]] : index
// CHECK-NEXT: [[SCALE:%.+]] = tensor.extract [[ABSMAX]][[[BLOCK]]] : tensor<2xf32>
// CHECK-NEXT: [[CODEIDX:%.+]] = arith.index_cast [[CODE]] : i32 to index
// CHECK-NEXT: [[VALUE:%.+]] = tensor.extract [[TABLE]][[[CODEIDX]]] : tensor<16xf32>
// CHECK-NEXT: [[WV:%.+]] = arith.mulf [[VALUE]], [[SCALE]] : f32
// CHECK-NEXT: [[P:%.+]] = arith.mulf [[IN]], [[WV]] : f32
// CHECK-NEXT: [[S:%.+]] = arith.addf [[OUT]], [[P]] : f32
// CHECK-NEXT: linalg.yield [[S]] : f32
// CHECK-NEXT: } -> tensor<?x16xf32>
// CHECK-NOT: tensor<16x8xf32>
// CHECK-NOT: lowmem.
// CHECK: return
func.func @qlinear_nf4(%x: tensor<?x8xf32>, %codes: tensor<64xi8>, %absmax: tensor<2xf32>, %b: tensor<16xf32>) -> tensor<?x16xf32> {
  %q = lowmem.assemble %codes, %absmax : tensor<64xi8>, tensor<2xf32> -> !lowmem.qtensor<16x8xf32, nf4>
  %0 = lowmem.qlinear %x, %q bias(%b : tensor<16xf32>) : tensor<?x8xf32>, !lowmem.qtensor<16x8xf32, nf4> -> tensor<?x16xf32>
  return %0 : tensor<?x16xf32>
}

// -----

// nf4 with double quantization: the block scale is
// dynamic_map[absmax_code] * nested_absmax[block / 256] + offset[0].

// CHECK-LABEL: func.func @qlinear_nf4_double_quant
// CHECK-SAME: ([[X:%[^:]+]]: tensor<?x8xf32>, [[CODES:%[^:]+]]: tensor<64xi8>, [[ACODES:%[^:]+]]: tensor<4xi8>, [[NESTED:%[^:]+]]: tensor<1xf32>, [[OFFSET:%[^:]+]]: tensor<1xf32>)
// CHECK-NOT: tensor<16x8xf32>
// CHECK-DAG: [[C256:%.+]] = arith.constant 256 : index
// CHECK-DAG: [[C32:%.+]] = arith.constant 32 : index
// CHECK-DAG: [[C0:%.+]] = arith.constant 0 : index
// CHECK-DAG: [[TABLE:%.+]] = arith.constant dense<{{.+}}> : tensor<16xf32>
// CHECK-DAG: [[DMAP:%.+]] = arith.constant dense<{{.+}}> : tensor<256xf32>
// CHECK: linalg.generic
// CHECK-SAME: ins([[X]] : tensor<?x8xf32>)
// CHECK: tensor.extract [[CODES]]
// CHECK: [[BLOCK:%.+]] = arith.divui [[FLAT:%.+]], [[C32]] : index
// CHECK: [[AC:%.+]] = tensor.extract [[ACODES]][[[BLOCK]]] : tensor<4xi8>
// CHECK: [[ACW:%.+]] = arith.extui [[AC]] : i8 to i32
// CHECK: [[ACI:%.+]] = arith.index_cast [[ACW]] : i32 to index
// CHECK: [[GROUP:%.+]] = arith.divui [[BLOCK]], [[C256]] : index
// CHECK: [[NA:%.+]] = tensor.extract [[NESTED]][[[GROUP]]] : tensor<1xf32>
// CHECK: [[OFF:%.+]] = tensor.extract [[OFFSET]][[[C0]]] : tensor<1xf32>
// CHECK: [[DYN:%.+]] = tensor.extract [[DMAP]][[[ACI]]] : tensor<256xf32>
// CHECK: [[M:%.+]] = arith.mulf [[DYN]], [[NA]] : f32
// CHECK: [[SCALE:%.+]] = arith.addf [[M]], [[OFF]] : f32
// CHECK: [[VALUE:%.+]] = tensor.extract [[TABLE]]
// CHECK: [[WV:%.+]] = arith.mulf [[VALUE]], [[SCALE]] : f32
// CHECK: arith.mulf %{{.+}}, [[WV]] : f32
// CHECK-NOT: tensor<16x8xf32>
func.func @qlinear_nf4_double_quant(%x: tensor<?x8xf32>, %codes: tensor<64xi8>, %acodes: tensor<4xi8>, %nested: tensor<1xf32>, %offset: tensor<1xf32>) -> tensor<?x16xf32> {
  %q = lowmem.assemble %codes, %acodes, %nested, %offset : tensor<64xi8>, tensor<4xi8>, tensor<1xf32>, tensor<1xf32> -> !lowmem.qtensor<16x8xf32, nf4, block = 32, double_quant>
  %0 = lowmem.qlinear %x, %q : tensor<?x8xf32>, !lowmem.qtensor<16x8xf32, nf4, block = 32, double_quant> -> tensor<?x16xf32>
  return %0 : tensor<?x16xf32>
}

// -----

// fp4 uses its own code book (the E2M1 values divided by 12).

// CHECK-LABEL: func.func @qlinear_fp4
// CHECK-NOT: tensor<16x8xf32>
// CHECK-DAG: [[TABLE:%.+]] = arith.constant dense<[0.000000e+00, 0.00520833349, 0.666666686, 1.000000e+00, 0.333333343, 5.000000e-01, 0.166666672, 2.500000e-01, -0.000000e+00, -0.00520833349, -0.666666686, -1.000000e+00, -0.333333343, -5.000000e-01, -0.166666672, -2.500000e-01]> : tensor<16xf32>
// CHECK: linalg.generic
// CHECK: arith.subi
// CHECK: arith.shrui
// CHECK: tensor.extract [[TABLE]]
// CHECK-NOT: tensor<16x8xf32>
func.func @qlinear_fp4(%x: tensor<?x8xf32>, %codes: tensor<64xi8>, %absmax: tensor<4xf32>) -> tensor<?x16xf32> {
  %q = lowmem.assemble %codes, %absmax : tensor<64xi8>, tensor<4xf32> -> !lowmem.qtensor<16x8xf32, fp4, block = 32>
  %0 = lowmem.qlinear %x, %q : tensor<?x8xf32>, !lowmem.qtensor<16x8xf32, fp4, block = 32> -> tensor<?x16xf32>
  return %0 : tensor<?x16xf32>
}

// -----

// int4: the first element is in the low nibble (shift flat % 2 * 4) and the
// value is ((q / 15) * 2) * m - m with the f16 block maximum m.

// CHECK-LABEL: func.func @qlinear_int4
// CHECK-SAME: ([[X:%[^:]+]]: tensor<?x8xf32>, [[CODES:%[^:]+]]: tensor<64xi8>, [[ABSMAX:%[^:]+]]: tensor<8xf16>)
// CHECK-NOT: tensor<16x8xf32>
// CHECK-DAG: [[C2F:%.+]] = arith.constant 2.000000e+00 : f32
// CHECK-DAG: [[C15F:%.+]] = arith.constant 1.500000e+01 : f32
// CHECK-DAG: [[C16:%.+]] = arith.constant 16 : index
// CHECK-DAG: [[C15:%.+]] = arith.constant 15 : i32
// CHECK-DAG: [[C4:%.+]] = arith.constant 4 : index
// CHECK-DAG: [[C2:%.+]] = arith.constant 2 : index
// CHECK: linalg.generic
// CHECK-SAME: ins([[X]] : tensor<?x8xf32>)
// CHECK: [[PARITY:%.+]] = arith.remui [[FLAT:%.+]], [[C2]] : index
// CHECK: [[BYTE:%.+]] = tensor.extract [[CODES]]
// CHECK: [[WIDE:%.+]] = arith.extui [[BYTE]] : i8 to i32
// CHECK-NOT: arith.subi
// CHECK: [[SHIFTIDX:%.+]] = arith.muli [[PARITY]], [[C4]] : index
// CHECK: [[SHIFT:%.+]] = arith.index_cast [[SHIFTIDX]] : index to i32
// CHECK: [[SHR:%.+]] = arith.shrui [[WIDE]], [[SHIFT]] : i32
// CHECK: [[CODE:%.+]] = arith.andi [[SHR]], [[C15]] : i32
// CHECK: [[BLOCK:%.+]] = arith.divui [[FLAT]], [[C16]] : index
// CHECK: [[MH:%.+]] = tensor.extract [[ABSMAX]][[[BLOCK]]] : tensor<8xf16>
// CHECK: [[M:%.+]] = arith.extf [[MH]] : f16 to f32
// CHECK: [[Q:%.+]] = arith.uitofp [[CODE]] : i32 to f32
// CHECK: [[NORM:%.+]] = arith.divf [[Q]], [[C15F]] : f32
// CHECK: [[TWICE:%.+]] = arith.mulf [[NORM]], [[C2F]] : f32
// CHECK: [[SCALED:%.+]] = arith.mulf [[TWICE]], [[M]] : f32
// CHECK: [[WV:%.+]] = arith.subf [[SCALED]], [[M]] : f32
// CHECK: arith.mulf %{{.+}}, [[WV]] : f32
// CHECK-NOT: tensor<16x8xf32>
func.func @qlinear_int4(%x: tensor<?x8xf32>, %codes: tensor<64xi8>, %absmax: tensor<8xf16>) -> tensor<?x16xf32> {
  %q = lowmem.assemble %codes, %absmax : tensor<64xi8>, tensor<8xf16> -> !lowmem.qtensor<16x8xf32, int4>
  %0 = lowmem.qlinear %x, %q : tensor<?x8xf32>, !lowmem.qtensor<16x8xf32, int4> -> tensor<?x16xf32>
  return %0 : tensor<?x16xf32>
}

// -----

// int8: signed codes, one scale per row n: (q * absmax[n]) / 127.

// CHECK-LABEL: func.func @qlinear_int8
// CHECK-SAME: ([[X:%[^:]+]]: tensor<?x8xf32>, [[CODES:%[^:]+]]: tensor<128xi8>, [[ABSMAX:%[^:]+]]: tensor<16xf32>)
// CHECK-NOT: tensor<16x8xf32>
// CHECK-DAG: [[C127:%.+]] = arith.constant 1.270000e+02 : f32
// CHECK: linalg.generic
// CHECK-SAME: ins([[X]] : tensor<?x8xf32>)
// CHECK: [[N:%.+]] = linalg.index 1 : index
// CHECK: [[K:%.+]] = linalg.index 2 : index
// CHECK: [[FLAT:%.+]] = arith.addi %{{.+}}, [[K]] : index
// CHECK: [[CODE:%.+]] = tensor.extract [[CODES]][[[FLAT]]] : tensor<128xi8>
// CHECK: [[SCALE:%.+]] = tensor.extract [[ABSMAX]][[[N]]] : tensor<16xf32>
// CHECK: [[Q:%.+]] = arith.sitofp [[CODE]] : i8 to f32
// CHECK: [[P:%.+]] = arith.mulf [[Q]], [[SCALE]] : f32
// CHECK: [[WV:%.+]] = arith.divf [[P]], [[C127]] : f32
// CHECK: arith.mulf %{{.+}}, [[WV]] : f32
// CHECK-NOT: tensor<16x8xf32>
func.func @qlinear_int8(%x: tensor<?x8xf32>, %codes: tensor<128xi8>, %absmax: tensor<16xf32>) -> tensor<?x16xf32> {
  %q = lowmem.assemble %codes, %absmax : tensor<128xi8>, tensor<16xf32> -> !lowmem.qtensor<16x8xf32, int8>
  %0 = lowmem.qlinear %x, %q : tensor<?x8xf32>, !lowmem.qtensor<16x8xf32, int8> -> tensor<?x16xf32>
  return %0 : tensor<?x16xf32>
}

// -----

// f16 and bf16: the element at [n, k] of the storage, extended to f32.

// CHECK-LABEL: func.func @qlinear_f16
// CHECK-SAME: ([[X:%[^:]+]]: tensor<?x8xf32>, [[DATA:%[^:]+]]: tensor<16x8xf16>)
// CHECK-NOT: tensor<16x8xf32>
// CHECK: linalg.generic
// CHECK-SAME: ins([[X]] : tensor<?x8xf32>)
// CHECK-NEXT: ^bb0([[IN:%.+]]: f32, [[OUT:%.+]]: f32):
// CHECK-NEXT: [[N:%.+]] = linalg.index 1 : index
// CHECK-NEXT: [[K:%.+]] = linalg.index 2 : index
// CHECK-NEXT: [[H:%.+]] = tensor.extract [[DATA]][[[N]], [[K]]] : tensor<16x8xf16>
// CHECK-NEXT: [[WV:%.+]] = arith.extf [[H]] : f16 to f32
// CHECK-NEXT: [[P:%.+]] = arith.mulf [[IN]], [[WV]] : f32
// CHECK-NEXT: [[S:%.+]] = arith.addf [[OUT]], [[P]] : f32
// CHECK-NEXT: linalg.yield [[S]] : f32
// CHECK-NOT: tensor<16x8xf32>
func.func @qlinear_f16(%x: tensor<?x8xf32>, %data: tensor<16x8xf16>) -> tensor<?x16xf32> {
  %q = lowmem.assemble %data : tensor<16x8xf16> -> !lowmem.qtensor<16x8xf32, f16>
  %0 = lowmem.qlinear %x, %q : tensor<?x8xf32>, !lowmem.qtensor<16x8xf32, f16> -> tensor<?x16xf32>
  return %0 : tensor<?x16xf32>
}

// CHECK-LABEL: func.func @qlinear_bf16
// CHECK-SAME: ([[X:%[^:]+]]: tensor<?x8xf32>, [[DATA:%[^:]+]]: tensor<16x8xbf16>)
// CHECK: [[H:%.+]] = tensor.extract [[DATA]][%{{.+}}, %{{.+}}] : tensor<16x8xbf16>
// CHECK-NEXT: arith.extf [[H]] : bf16 to f32
func.func @qlinear_bf16(%x: tensor<?x8xf32>, %data: tensor<16x8xbf16>) -> tensor<?x16xf32> {
  %q = lowmem.assemble %data : tensor<16x8xbf16> -> !lowmem.qtensor<16x8xf32, bf16>
  %0 = lowmem.qlinear %x, %q : tensor<?x8xf32>, !lowmem.qtensor<16x8xf32, bf16> -> tensor<?x16xf32>
  return %0 : tensor<?x16xf32>
}

// -----

// qlinear with the whole epilogue.

// CHECK-LABEL: func.func @qlinear_epilogue
// CHECK-SAME: ([[X:%[^:]+]]: tensor<?x8xf32>, %{{[^:]+}}: tensor<32xi8>, %{{[^:]+}}: tensor<1xf32>, [[B:%[^:]+]]: tensor<8xf32>)
// CHECK: [[ACC:%.+]] = linalg.generic {{.+}} ins([[B]] : tensor<8xf32>)
// CHECK: [[PROD:%.+]] = linalg.generic {{.+}} ins([[X]] : tensor<?x8xf32>) outs([[ACC]] : tensor<?x8xf32>)
// CHECK: linalg.generic {{.+}} ins([[X]] : tensor<?x8xf32>) outs([[PROD]] : tensor<?x8xf32>)
// CHECK: arith.maximumf
// CHECK-NEXT: arith.addf
// CHECK-NOT: tensor<8x8xf32>
func.func @qlinear_epilogue(%x: tensor<?x8xf32>, %codes: tensor<32xi8>, %absmax: tensor<1xf32>, %b: tensor<8xf32>) -> tensor<?x8xf32> {
  %q = lowmem.assemble %codes, %absmax : tensor<32xi8>, tensor<1xf32> -> !lowmem.qtensor<8x8xf32, nf4>
  %0 = lowmem.qlinear %x, %q bias(%b : tensor<8xf32>) residual(%x : tensor<?x8xf32>) activation <relu> : tensor<?x8xf32>, !lowmem.qtensor<8x8xf32, nf4> -> tensor<?x8xf32>
  return %0 : tensor<?x8xf32>
}

// -----

// dequantize materializes the weight with an output-only generic over its
// logical shape, using the same decoding.

// CHECK-LABEL: func.func @dequantize_int4
// CHECK-SAME: ([[CODES:%[^:]+]]: tensor<32xi8>, [[ABSMAX:%[^:]+]]: tensor<4xf16>)
// CHECK: [[EMPTY:%.+]] = tensor.empty() : tensor<8x8xf32>
// CHECK: [[W:%.+]] = linalg.generic
// CHECK-SAME: indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>]
// CHECK-SAME: iterator_types = ["parallel", "parallel"]
// CHECK-SAME: outs([[EMPTY]] : tensor<8x8xf32>)
// CHECK-NEXT: ^bb0(%{{.+}}: f32):
// CHECK-NEXT: [[I:%.+]] = linalg.index 0 : index
// CHECK-NEXT: [[J:%.+]] = linalg.index 1 : index
// CHECK-NEXT: [[ROW:%.+]] = arith.muli [[I]], %{{.+}} : index
// CHECK-NEXT: arith.addi [[ROW]], [[J]] : index
// CHECK: tensor.extract [[CODES]]
// CHECK: tensor.extract [[ABSMAX]]
// CHECK: [[V:%.+]] = arith.subf
// CHECK-NEXT: linalg.yield [[V]] : f32
// CHECK: return [[W]]
func.func @dequantize_int4(%codes: tensor<32xi8>, %absmax: tensor<4xf16>) -> tensor<8x8xf32> {
  %q = lowmem.assemble %codes, %absmax : tensor<32xi8>, tensor<4xf16> -> !lowmem.qtensor<8x8xf32, int4>
  %0 = lowmem.dequantize %q : !lowmem.qtensor<8x8xf32, int4> -> tensor<8x8xf32>
  return %0 : tensor<8x8xf32>
}

// -----

// A lowmem.assemble without users is erased.

// CHECK-LABEL: func.func @dead_assemble
// CHECK-NEXT: return
func.func @dead_assemble(%codes: tensor<32xi8>, %absmax: tensor<1xf32>) {
  %q = lowmem.assemble %codes, %absmax : tensor<32xi8>, tensor<1xf32> -> !lowmem.qtensor<8x8xf32, nf4>
  return
}

// -----

// relu and add are elementwise generics.

// CHECK-LABEL: func.func @elementwise
// CHECK-SAME: ([[X:%[^:]+]]: tensor<?x8xf32>, [[Y:%[^:]+]]: tensor<?x8xf32>)
// CHECK-DAG: [[ZERO:%.+]] = arith.constant 0.000000e+00 : f32
// CHECK: [[E0:%.+]] = tensor.empty(%{{.+}}) : tensor<?x8xf32>
// CHECK: [[R:%.+]] = linalg.generic
// CHECK-SAME: indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>]
// CHECK-SAME: iterator_types = ["parallel", "parallel"]
// CHECK-SAME: ins([[X]] : tensor<?x8xf32>) outs([[E0]] : tensor<?x8xf32>)
// CHECK-NEXT: ^bb0([[IN:%.+]]: f32, %{{.+}}: f32):
// CHECK-NEXT: [[M:%.+]] = arith.maximumf [[IN]], [[ZERO]] : f32
// CHECK-NEXT: linalg.yield [[M]] : f32
// CHECK: [[E1:%.+]] = tensor.empty(%{{.+}}) : tensor<?x8xf32>
// CHECK: [[S:%.+]] = linalg.generic
// CHECK-SAME: indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>]
// CHECK-SAME: ins([[R]], [[Y]] : tensor<?x8xf32>, tensor<?x8xf32>) outs([[E1]] : tensor<?x8xf32>)
// CHECK-NEXT: ^bb0([[A:%.+]]: f32, [[B:%.+]]: f32, %{{.+}}: f32):
// CHECK-NEXT: [[SUM:%.+]] = arith.addf [[A]], [[B]] : f32
// CHECK-NEXT: linalg.yield [[SUM]] : f32
// CHECK: return [[S]]
func.func @elementwise(%x: tensor<?x8xf32>, %y: tensor<?x8xf32>) -> tensor<?x8xf32> {
  %0 = lowmem.relu %x : tensor<?x8xf32>
  %1 = lowmem.add %0, %y : tensor<?x8xf32>
  return %1 : tensor<?x8xf32>
}

// -----

// group_norm with 4 groups of 2 features: a sum over each group, a sum of
// squared deviations from the mean (sum * 1/2), then the normalization with
// the per-feature affine.

// CHECK-LABEL: func.func @group_norm
// CHECK-SAME: ([[X:%[^:]+]]: tensor<?x8xf32>, [[G:%[^:]+]]: tensor<8xf32>, [[B:%[^:]+]]: tensor<8xf32>)
// CHECK-DAG: [[INV:%.+]] = arith.constant 5.000000e-01 : f32
// CHECK-DAG: [[EPS:%.+]] = arith.constant 9.99999974E-6 : f32
// CHECK: [[Z0:%.+]] = linalg.fill {{.+}} -> tensor<?x4xf32>
// CHECK: [[SUM:%.+]] = linalg.generic
// CHECK-SAME: indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1 floordiv 2)>]
// CHECK-SAME: iterator_types = ["parallel", "reduction"]
// CHECK-SAME: ins([[X]] : tensor<?x8xf32>) outs([[Z0]] : tensor<?x4xf32>)
// CHECK: [[Z1:%.+]] = linalg.fill {{.+}} -> tensor<?x4xf32>
// CHECK: [[SQ:%.+]] = linalg.generic
// CHECK-SAME: indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1 floordiv 2)>, affine_map<(d0, d1) -> (d0, d1 floordiv 2)>]
// CHECK-SAME: iterator_types = ["parallel", "reduction"]
// CHECK-SAME: ins([[X]], [[SUM]] : tensor<?x8xf32>, tensor<?x4xf32>) outs([[Z1]] : tensor<?x4xf32>)
// CHECK-NEXT: ^bb0([[XV:%.+]]: f32, [[SV:%.+]]: f32, [[ACC:%.+]]: f32):
// CHECK-NEXT: [[MEAN:%.+]] = arith.mulf [[SV]], [[INV]] : f32
// CHECK-NEXT: [[D:%.+]] = arith.subf [[XV]], [[MEAN]] : f32
// CHECK-NEXT: [[D2:%.+]] = arith.mulf [[D]], [[D]] : f32
// CHECK-NEXT: arith.addf [[ACC]], [[D2]] : f32
// CHECK: [[Y:%.+]] = linalg.generic
// CHECK-SAME: indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1 floordiv 2)>, affine_map<(d0, d1) -> (d0, d1 floordiv 2)>, affine_map<(d0, d1) -> (d1)>, affine_map<(d0, d1) -> (d1)>, affine_map<(d0, d1) -> (d0, d1)>]
// CHECK-SAME: iterator_types = ["parallel", "parallel"]
// CHECK-SAME: ins([[X]], [[SUM]], [[SQ]], [[G]], [[B]] : tensor<?x8xf32>, tensor<?x4xf32>, tensor<?x4xf32>, tensor<8xf32>, tensor<8xf32>)
// CHECK-NEXT: ^bb0([[XV:%.+]]: f32, [[SV:%.+]]: f32, [[QV:%.+]]: f32, [[GV:%.+]]: f32, [[BV:%.+]]: f32, %{{.+}}: f32):
// CHECK-NEXT: [[MEAN:%.+]] = arith.mulf [[SV]], [[INV]] : f32
// CHECK-NEXT: [[VAR:%.+]] = arith.mulf [[QV]], [[INV]] : f32
// CHECK-NEXT: [[VE:%.+]] = arith.addf [[VAR]], [[EPS]] : f32
// CHECK-NEXT: [[SD:%.+]] = math.sqrt [[VE]] : f32
// CHECK-NEXT: [[D:%.+]] = arith.subf [[XV]], [[MEAN]] : f32
// CHECK-NEXT: [[N:%.+]] = arith.divf [[D]], [[SD]] : f32
// CHECK-NEXT: [[S:%.+]] = arith.mulf [[N]], [[GV]] : f32
// CHECK-NEXT: [[O:%.+]] = arith.addf [[S]], [[BV]] : f32
// CHECK-NEXT: linalg.yield [[O]] : f32
// CHECK: return [[Y]]
func.func @group_norm(%x: tensor<?x8xf32>, %g: tensor<8xf32>, %b: tensor<8xf32>) -> tensor<?x8xf32> {
  %0 = lowmem.group_norm %x, %g, %b {epsilon = 1.0e-05 : f64, num_groups = 4 : i64} : tensor<?x8xf32>, tensor<8xf32>, tensor<8xf32> -> tensor<?x8xf32>
  return %0 : tensor<?x8xf32>
}

// With one group (a LayerNorm) the statistics have one column, indexed by
// the constant 0.

// CHECK-LABEL: func.func @layer_norm
// CHECK-DAG: arith.constant 1.250000e-01 : f32
// CHECK: linalg.generic
// CHECK-SAME: indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, 0)>]
// CHECK-SAME: outs(%{{.+}} : tensor<?x1xf32>)
func.func @layer_norm(%x: tensor<?x8xf32>, %g: tensor<8xf32>, %b: tensor<8xf32>) -> tensor<?x8xf32> {
  %0 = lowmem.group_norm %x, %g, %b {epsilon = 1.0e-05 : f64, num_groups = 1 : i64} : tensor<?x8xf32>, tensor<8xf32>, tensor<8xf32> -> tensor<?x8xf32>
  return %0 : tensor<?x8xf32>
}

// -----

// lora: t = x A^T ([?, r]), then y = s * (t B^T), s folded into each product
// term: alpha / r = 16 / 2 = 8 (standard), 16 / sqrt(4) = 8 (rslora).

// CHECK-LABEL: func.func @lora
// CHECK-SAME: ([[X:%[^:]+]]: tensor<?x8xf32>, [[A:%[^:]+]]: tensor<2x8xf32>, [[B:%[^:]+]]: tensor<4x2xf32>)
// CHECK-DAG: [[S:%.+]] = arith.constant 8.000000e+00 : f32
// CHECK: [[Z0:%.+]] = linalg.fill {{.+}} -> tensor<?x2xf32>
// CHECK: [[T:%.+]] = linalg.generic
// CHECK-SAME: indexing_maps = [affine_map<(d0, d1, d2) -> (d0, d2)>, affine_map<(d0, d1, d2) -> (d1, d2)>, affine_map<(d0, d1, d2) -> (d0, d1)>]
// CHECK-SAME: iterator_types = ["parallel", "parallel", "reduction"]
// CHECK-SAME: ins([[X]], [[A]] : tensor<?x8xf32>, tensor<2x8xf32>) outs([[Z0]] : tensor<?x2xf32>)
// CHECK-NEXT: ^bb0([[I0:%.+]]: f32, [[I1:%.+]]: f32, [[O:%.+]]: f32):
// CHECK-NEXT: [[P:%.+]] = arith.mulf [[I0]], [[I1]] : f32
// CHECK-NEXT: arith.addf [[O]], [[P]] : f32
// CHECK: [[Z1:%.+]] = linalg.fill {{.+}} -> tensor<?x4xf32>
// CHECK: [[Y:%.+]] = linalg.generic
// CHECK-SAME: ins([[T]], [[B]] : tensor<?x2xf32>, tensor<4x2xf32>) outs([[Z1]] : tensor<?x4xf32>)
// CHECK-NEXT: ^bb0([[I0:%.+]]: f32, [[I1:%.+]]: f32, [[O:%.+]]: f32):
// CHECK-NEXT: [[P:%.+]] = arith.mulf [[I0]], [[I1]] : f32
// CHECK-NEXT: [[PS:%.+]] = arith.mulf [[P]], [[S]] : f32
// CHECK-NEXT: arith.addf [[O]], [[PS]] : f32
// CHECK: return [[Y]]
func.func @lora(%x: tensor<?x8xf32>, %a: tensor<2x8xf32>, %b: tensor<4x2xf32>) -> tensor<?x4xf32> {
  %0 = lowmem.lora %x, %a, %b {alpha = 16.0 : f64, dropout = 0.1 : f64} : tensor<?x8xf32>, tensor<2x8xf32>, tensor<4x2xf32> -> tensor<?x4xf32>
  return %0 : tensor<?x4xf32>
}

// CHECK-LABEL: func.func @lora_rslora
// CHECK-DAG: [[S:%.+]] = arith.constant 8.000000e+00 : f32
// CHECK: linalg.generic
// CHECK: linalg.generic
// CHECK: arith.mulf %{{.+}}, [[S]] : f32
func.func @lora_rslora(%x: tensor<?x8xf32>, %a: tensor<4x8xf32>, %b: tensor<4x4xf32>) -> tensor<?x4xf32> {
  %0 = lowmem.lora %x, %a, %b {alpha = 16.0 : f64, scaling = #lowmem.lora_scaling<rslora>} : tensor<?x8xf32>, tensor<4x8xf32>, tensor<4x4xf32> -> tensor<?x4xf32>
  return %0 : tensor<?x4xf32>
}

// With a scale of 1 there is no extra multiplication.

// CHECK-LABEL: func.func @lora_unit_scale
// CHECK: linalg.generic
// CHECK: linalg.generic
// CHECK-NEXT: ^bb0([[I0:%.+]]: f32, [[I1:%.+]]: f32, [[O:%.+]]: f32):
// CHECK-NEXT: [[P:%.+]] = arith.mulf [[I0]], [[I1]] : f32
// CHECK-NEXT: arith.addf [[O]], [[P]] : f32
func.func @lora_unit_scale(%x: tensor<?x8xf32>, %a: tensor<2x8xf32>, %b: tensor<4x2xf32>) -> tensor<?x4xf32> {
  %0 = lowmem.lora %x, %a, %b {alpha = 2.0 : f64} : tensor<?x8xf32>, tensor<2x8xf32>, tensor<4x2xf32> -> tensor<?x4xf32>
  return %0 : tensor<?x4xf32>
}
