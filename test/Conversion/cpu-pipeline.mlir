// RUN: lowmem-opt %s --lowmem-cpu-pipeline="format=nf4 double-quant" | FileCheck %s
// RUN: lowmem-opt %s --lowmem-cpu-pipeline="format=nf4 double-quant" | FileCheck %s --check-prefix=NOT
// RUN: lowmem-opt %s --lowmem-cpu-pipeline="format=nf4 double-quant" --mlir-print-op-generic | FileCheck %s --check-prefix=GENERIC
// RUN: lowmem-opt %s --lowmem-graph-pipeline="format=nf4 double-quant" --lowmem-cpu-bufferize-pipeline | FileCheck %s --check-prefix=BUF

// Every format reaches the LLVM dialect.
// RUN: lowmem-opt %s --lowmem-cpu-pipeline --mlir-print-op-generic | FileCheck %s --check-prefix=GENERIC
// RUN: lowmem-opt %s --lowmem-cpu-pipeline="format=f16" --mlir-print-op-generic | FileCheck %s --check-prefix=GENERIC
// RUN: lowmem-opt %s --lowmem-cpu-pipeline="format=bf16" --mlir-print-op-generic | FileCheck %s --check-prefix=GENERIC
// RUN: lowmem-opt %s --lowmem-cpu-pipeline="format=int4 block-size=32" --mlir-print-op-generic | FileCheck %s --check-prefix=GENERIC
// RUN: lowmem-opt %s --lowmem-cpu-pipeline="format=nf4" --mlir-print-op-generic | FileCheck %s --check-prefix=GENERIC
// RUN: lowmem-opt %s --lowmem-cpu-pipeline="format=fp4 double-quant" --mlir-print-op-generic | FileCheck %s --check-prefix=GENERIC
// RUN: lowmem-opt %s --lowmem-cpu-pipeline="format=int8" --mlir-print-op-generic | FileCheck %s --check-prefix=GENERIC

// The whole CPU pipeline on a small model: linear + relu, a LayerNorm, and a
// linear with a residual, weights in nf4 with double quantization. The result
// is in the LLVM dialect only.

// The runtime's allocation hook (bufferization asks for 64-byte aligned
// buffers, so it is the aligned variant) and the two code books: the
// 256-entry dynamic map of the double quantization and the NF4 table.
// CHECK-DAG: llvm.func @_mlir_memref_to_llvm_{{(aligned_)?}}alloc(
// CHECK-DAG: llvm.mlir.global private constant @{{.+}} : !llvm.array<256 x f32>
// CHECK-DAG: llvm.mlir.global private constant @{{.+}}(dense<[-1.000000e+00, -0.6961928, {{.+}}, 1.000000e+00]> : tensor<16xf32>) {{.*}} : !llvm.array<16 x f32>
// CHECK-LABEL: llvm.func @forward(
// The temporaries are planned in the arena (four 64-byte units a row), only
// the result is heap allocated (32 bytes a row, which the allocator rounds
// up to its 64-byte alignment: the runtime rounds the evaluated size).
// CHECK-SAME: attributes {lowmem.arena_gradients_size = [], lowmem.arena_size = {{\[\[}}256, [0, 0]]], lowmem.heap_alignment = [64], lowmem.heap_size = {{\[\[}}32, [0, 0]]]}
// The relu epilogue, the LayerNorm's square root, then the single heap
// allocation: the returned buffer.
// CHECK: llvm.intr.maximum
// CHECK: llvm.intr.sqrt
// CHECK: llvm.call @_mlir_memref_to_llvm_{{(aligned_)?}}alloc(
// CHECK-NOT: llvm.call
// CHECK: llvm.return %{{.+}} : !llvm.struct<(ptr, ptr, i64, array<2 x i64>, array<2 x i64>)>

// No operation or type of another dialect is left, and nothing is freed.
// ("lowmem." itself stays, in the lowmem.arena_size / lowmem.heap_size
// attributes of the function, so lowmem ops are matched as operations.)
// NOT-NOT: linalg.
// NOT-NOT: memref.
// NOT-NOT: lowmem.{{[a-z_]+}} %
// NOT-NOT: {{^ *(%[^ ]+ = )?(lowmem|linalg|memref|tensor|bufferization|arith|math|scf|cf|affine|func)\.}}
// NOT-NOT: !lowmem.
// NOT-NOT: memref<
// NOT-NOT: unrealized_conversion_cast
// NOT-NOT: _mlir_memref_to_llvm_free
// GENERIC: "builtin.module"
// GENERIC-NOT: "{{(lowmem|linalg|memref|tensor|bufferization|arith|math|scf|cf|affine|func|index|builtin)\.}}
// GENERIC: "llvm.func"
// GENERIC-NOT: "{{(lowmem|linalg|memref|tensor|bufferization|arith|math|scf|cf|affine|func|index|builtin)\.}}

// After bufferization: the weights are passed as their storage, the
// temporaries are views into the arena, and no buffer has the shape of a
// weight (the weights are decoded inside the matrix products).
// BUF-LABEL: func.func @forward(
// BUF-SAME: %{{[^:]+}}: memref<?x8xf32> {lowmem.input = "x"}
// BUF-SAME: %{{[^:]+}}: memref<64xi8> {lowmem.param = "model.0.weight", lowmem.part = "codes"
// BUF-SAME: %{{[^:]+}}: memref<2xi8> {lowmem.param = "model.0.weight", lowmem.part = "absmax"
// BUF-SAME: %{{[^:]+}}: memref<1xf32> {lowmem.param = "model.0.weight", lowmem.part = "nested_absmax"
// BUF-SAME: %{{[^:]+}}: memref<1xf32> {lowmem.param = "model.0.weight", lowmem.part = "nested_offset"
// BUF-SAME: %{{[^:]+}}: memref<16xf32> {lowmem.param = "model.0.bias"}
// BUF-SAME: %{{[^:]+}}: memref<16xf32> {lowmem.param = "model.1.weight"}
// BUF-SAME: %{{[^:]+}}: memref<16xf32> {lowmem.param = "model.1.bias"}
// BUF-SAME: %{{[^:]+}}: memref<64xi8> {lowmem.param = "model.2.weight", lowmem.part = "codes"
// BUF-SAME: [[ARENA:%[^:]+]]: memref<?xi8> {lowmem.arena}
// BUF-SAME: -> memref<?x8xf32>
// BUF-NOT: memref<16x8xf32>
// BUF-NOT: memref<8x16xf32>
// BUF: memref.view [[ARENA]]
// BUF-NOT: memref<16x8xf32>
// BUF-NOT: memref<8x16xf32>
// BUF: [[RESULT:%.+]] = memref.alloc(%{{.+}}) {alignment = 64 : i64} : memref<?x8xf32>
// BUF-NOT: memref.alloc
// BUF: return [[RESULT]] : memref<?x8xf32>
func.func @forward(%x: tensor<?x8xf32> {lowmem.input = "x"},
    %w0: tensor<16x8xf32> {lowmem.param = "model.0.weight"},
    %b0: tensor<16xf32> {lowmem.param = "model.0.bias"},
    %g: tensor<16xf32> {lowmem.param = "model.1.weight"},
    %b: tensor<16xf32> {lowmem.param = "model.1.bias"},
    %w1: tensor<8x16xf32> {lowmem.param = "model.2.weight"}) -> tensor<?x8xf32> {
  %0 = lowmem.linear %x, %w0 bias(%b0 : tensor<16xf32>) : tensor<?x8xf32>, tensor<16x8xf32> -> tensor<?x16xf32>
  %1 = lowmem.relu %0 : tensor<?x16xf32>
  %2 = lowmem.group_norm %1, %g, %b {epsilon = 1.0e-05 : f64, num_groups = 1 : i64} : tensor<?x16xf32>, tensor<16xf32>, tensor<16xf32> -> tensor<?x16xf32>
  %3 = lowmem.linear %2, %w1 : tensor<?x16xf32>, tensor<8x16xf32> -> tensor<?x8xf32>
  %4 = lowmem.add %x, %3 : tensor<?x8xf32>
  return %4 : tensor<?x8xf32>
}
