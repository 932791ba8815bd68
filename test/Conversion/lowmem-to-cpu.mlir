// RUN: lowmem-opt %s --split-input-file --lowmem-materialize-storage --convert-lowmem-to-cpu --canonicalize | FileCheck %s
// RUN: not lowmem-opt %s --split-input-file --convert-lowmem-to-cpu="panel-depth=12" 2>&1 | FileCheck %s --check-prefix=BAD
// RUN: not lowmem-opt %s --split-input-file --convert-lowmem-to-cpu="panel-depth=0" 2>&1 | FileCheck %s --check-prefix=BAD0

// BAD: convert-lowmem-to-cpu: panel-depth must be a positive multiple of 8, got 12
// BAD0: convert-lowmem-to-cpu: panel-depth must be a positive multiple of 8, got 0

// Two products in a function share one panel on the stack, at the entry.
// Panels of features are the iterations of a parallel loop, marked for
// lowmem-cpu-threads.
// The NF4 product (double quantization, bias, relu, residual) decodes its
// 16 features × 64 inputs into the panel, 8 codes from one 4-byte load at a
// time (the tables are module constants); then each tile of 4 rows starts
// from the bias and broadcasts one input of each row against the panel's
// two vectors, 4 × 2 accumulators in a loop over k; relu and the residual
// end the sums before the stores. Rows past the last whole tile go one at
// a time. The f32 product that follows reads its panel the same way.
// CHECK-DAG: memref.global "private" constant @__lowmem_nf4_table : memref<16xf32>
// CHECK-DAG: memref.global "private" constant @__lowmem_dynamic_map : memref<256xf32>
// CHECK-LABEL: func.func @two_products(
// CHECK: [[PANEL:%.+]] = memref.alloca() {alignment = 64 : i64} : memref<256x16xf32>
// CHECK-NOT: memref.alloca
// CHECK-NOT: lowmem.qlinear
// CHECK: [[OUT:%.+]] = memref.alloc([[M:%.+]]) {alignment = 64 : i64} : memref<?x32xf32>
// Below 4 rows (chosen on the host), each row of W is decoded straight into
// the dot product with each row of x: one vector accumulator, summed, then
// the epilogue and a scalar store.
// CHECK: [[FEW:%.+]] = arith.cmpi ult, [[M]], %c4 : index
// CHECK: scf.if [[FEW]] {
// CHECK: scf.parallel (%{{.+}}) = (%c0) to (%c32) step (%c16) {
// CHECK: vector.load %{{.+}}[%{{.+}}] {alignment = 4 : i64} : memref<1024xi8>, vector<4xi8>
// CHECK: vector.load %{{.+}}[%{{.+}}, %{{.+}}] : memref<?x64xf32>, vector<8xf32>
// CHECK: vector.fma
// CHECK-NOT: vector.fma
// CHECK: vector.reduction <add>, %{{.+}} : vector<8xf32> into f32
// CHECK: arith.maximumf
// CHECK: memref.store %{{.+}}, [[OUT]][%{{.+}}, %{{.+}}] : memref<?x32xf32>
// CHECK: } {lowmem.cpu_threads}
// CHECK: } else {
// CHECK: scf.parallel ([[N0:%.+]]) = (%c0) to (%c32) step (%c16) {
// CHECK: vector.load %{{.+}}[%{{.+}}] {alignment = 4 : i64} : memref<1024xi8>, vector<4xi8>
// CHECK: memref.load %{{.+}} : memref<256xf32>
// CHECK: memref.load %{{.+}} : memref<16xf32>
// CHECK: memref.store %{{.+}}, [[PANEL]][%{{.+}}, %{{.+}}] : memref<256x16xf32>
// CHECK: scf.for [[M0:%.+]] = %c0 to %{{.+}} step %c4 {
// CHECK: vector.load %{{.+}}{{\[}}[[N0]]] : memref<32xf32>, vector<8xf32>
// CHECK: scf.for %{{.+}} = %c0 to %c64 step %c1 iter_args({{.*}}) -> (vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>) {
// CHECK: vector.load [[PANEL]][%{{.+}}, %c0] : memref<256x16xf32>, vector<8xf32>
// CHECK: vector.load [[PANEL]][%{{.+}}, %c8] : memref<256x16xf32>, vector<8xf32>
// CHECK: vector.broadcast %{{.+}} : f32 to vector<8xf32>
// CHECK-COUNT-8: vector.fma
// CHECK: scf.yield
// CHECK: arith.maximumf %{{.+}}, %{{.+}} : vector<8xf32>
// CHECK: arith.addf %{{.+}}, %{{.+}} : vector<8xf32>
// CHECK: vector.store %{{.+}}, [[OUT]]{{\[}}[[M0]], [[N0]]] : memref<?x32xf32>, vector<8xf32>
// CHECK: scf.for %{{.+}} = %{{.+}} to %{{.+}} step %c1 {
// CHECK-COUNT-2: vector.fma
// The f32 product: 40 features, the last panel's 8 past n masked.
// CHECK: memref.alloc(%{{.+}}) {alignment = 64 : i64} : memref<?x40xf32>
// CHECK: scf.parallel (%{{.+}}) = (%c0) to (%c40) step (%c16) {
// CHECK: vector.load %{{.+}} {alignment = 32 : i64} : memref<40x32xf32>, vector<8xf32>
// CHECK: vector.create_mask
// CHECK: vector.maskedstore
// CHECK: bufferization.to_tensor %{{.+}} restrict writable : memref<?x40xf32> to tensor<?x40xf32>
// CHECK-NOT: lowmem.linear
func.func @two_products(%x: tensor<?x64xf32>,
    %w: !lowmem.qtensor<32x64xf32, nf4, block = 64, double_quant> {lowmem.param = "w"},
    %b: tensor<32xf32>, %r: tensor<?x32xf32>, %w2: tensor<40x32xf32>) -> tensor<?x40xf32> {
  %0 = lowmem.qlinear %x, %w bias(%b : tensor<32xf32>) residual(%r : tensor<?x32xf32>) {activation = #lowmem.activation<relu>} : tensor<?x64xf32>, !lowmem.qtensor<32x64xf32, nf4, block = 64, double_quant> -> tensor<?x32xf32>
  %1 = lowmem.linear %0, %w2 : tensor<?x32xf32>, tensor<40x32xf32> -> tensor<?x40xf32>
  return %1 : tensor<?x40xf32>
}

// -----

// A transposed product (an input gradient, x · W with W of shape [k, n])
// decodes runs of 8 features of one input: one vector store into the panel.
// int8 codes are widened, scaled and divided by 127 as vectors.
// CHECK-LABEL: func.func @transposed(
// CHECK: memref.alloca() {alignment = 64 : i64} : memref<256x16xf32>
// CHECK: vector.load %{{.+}} {alignment = 8 : i64} : memref<2048xi8>, vector<8xi8>
// CHECK: vector.broadcast %{{.+}} : f32 to vector<8xf32>
// CHECK: arith.sitofp %{{.+}} : vector<8xi8> to vector<8xf32>
// CHECK: arith.mulf %{{.+}}, %{{.+}} : vector<8xf32>
// CHECK: arith.divf %{{.+}}, %{{.+}} : vector<8xf32>
// CHECK: vector.store %{{.+}}, %alloca[%{{.+}}, %{{.+}}] : memref<256x16xf32>, vector<8xf32>
// CHECK-COUNT-8: vector.fma
func.func @transposed(%dy: tensor<5x64xf32>,
    %w: !lowmem.qtensor<64x32xf32, int8> {lowmem.param = "w"}) -> tensor<5x32xf32> {
  %0 = lowmem.qlinear %dy, %w transposed : tensor<5x64xf32>, !lowmem.qtensor<64x32xf32, int8> -> tensor<5x32xf32>
  return %0 : tensor<5x32xf32>
}


// -----

// int4 (the seed's, block 16): 8 codes from one 4-byte load, the low
// nibbles first, interleaved and mapped ((q / 15) * 2) * m - m as vectors.
// CHECK-LABEL: func.func @int4_runs(
// CHECK: vector.load %{{.+}}[%{{.+}}] {alignment = 4 : i64} : memref<1024xi8>, vector<4xi8>
// CHECK: arith.extui %{{.+}} : vector<4xi8> to vector<4xi32>
// CHECK: [[HIGH:%.+]] = arith.andi %{{.+}}, %{{.+}} : vector<4xi32>
// CHECK: [[LOW:%.+]] = arith.andi %{{.+}}, %{{.+}} : vector<4xi32>
// CHECK: vector.interleave [[LOW]], [[HIGH]] : vector<4xi32> -> vector<8xi32>
// CHECK: arith.uitofp %{{.+}} : vector<8xi32> to vector<8xf32>
// CHECK: arith.divf %{{.+}}, %{{.+}} : vector<8xf32>
// CHECK: arith.subf %{{.+}}, %{{.+}} : vector<8xf32>
// CHECK: vector.fma
func.func @int4_runs(%x: tensor<1x64xf32>,
    %w: !lowmem.qtensor<32x64xf32, int4, block = 16> {lowmem.param = "w"}) -> tensor<1x32xf32> {
  %0 = lowmem.qlinear %x, %w : tensor<1x64xf32>, !lowmem.qtensor<32x64xf32, int4, block = 16> -> tensor<1x32xf32>
  return %0 : tensor<1x32xf32>
}
