// RUN: lowmem-opt %s --split-input-file --lowmem-materialize-storage --convert-lowmem-to-gpu | FileCheck %s
// RUN: lowmem-opt %s --split-input-file --lowmem-materialize-storage --convert-lowmem-to-gpu="warps-per-block=2 batch-tile=1" | FileCheck %s --check-prefix=TILE
// RUN: not lowmem-opt %s --split-input-file --convert-lowmem-to-gpu="batch-tile=0" 2>&1 | FileCheck %s --check-prefix=BAD

// BAD: convert-lowmem-to-gpu: warps-per-block must be in [1, 32] and batch-tile in [1, 16], got 4 and 0
// RUN: not lowmem-opt %s --split-input-file --convert-lowmem-to-gpu="tiled-from=-1" 2>&1 | FileCheck %s --check-prefix=BAD-TILED
// BAD-TILED: convert-lowmem-to-gpu: tiled-from must be 0 (never) or a number of rows, got -1

// A quantized linear with the whole epilogue: NF4 codes with double
// quantization. The tables are module constants staged in shared memory;
// the packed codes are read 16 bytes at a time; the decoded values are
// multiplied straight into the accumulators; the warp sums with a butterfly
// of shuffles; lane 0 adds the bias, applies the relu and adds the residual
// before the only store of the result.
// CHECK-DAG: memref.global "private" constant @__lowmem_nf4_table : memref<16xf32> = dense<[-1.000000e+00, -0.6961928
// CHECK-DAG: memref.global "private" constant @__lowmem_dynamic_map : memref<256xf32>
// CHECK-LABEL: func.func @nf4_epilogue(
// CHECK-NOT: lowmem.qlinear
// CHECK-DAG: [[X:%.+]] = bufferization.to_buffer %arg0 read_only : tensor<?x64xf32> to memref<?x64xf32>
// CHECK-DAG: [[CODES:%.+]] = bufferization.to_buffer %arg1 read_only : tensor<1024xi8> to memref<1024xi8>
// CHECK-DAG: [[OUT:%.+]] = memref.alloc(%{{.+}}) {alignment = 64 : i64} : memref<?x32xf32>
// CHECK: gpu.launch blocks({{.*}}) threads({{.*}}) in ({{.*}} = %c128{{.*}}) workgroup(%[[TABLE:.+]] : memref<16xf32, #gpu.address_space<workgroup>>, %[[MAP:.+]] : memref<256xf32, #gpu.address_space<workgroup>>)
// CHECK: memref.get_global @__lowmem_nf4_table
// CHECK: memref.store %{{.+}}, %[[TABLE]]
// CHECK: memref.get_global @__lowmem_dynamic_map
// CHECK: gpu.barrier
// CHECK: scf.for {{.*}} iter_args
// CHECK: vector.load [[CODES]][%{{.+}}] {alignment = 16 : i64} : memref<1024xi8>, vector<16xi8>
// CHECK: memref.load %[[MAP]]
// CHECK: memref.load %[[TABLE]]
// CHECK: vector.load [[X]][%{{.+}}, %{{.+}}] {alignment = 16 : i64} : memref<?x64xf32>, vector<32xf32>
// CHECK: scf.yield
// CHECK: gpu.shuffle xor %{{.+}}, %c16_i32, %c32_i32 : f32
// CHECK: gpu.shuffle xor %{{.+}}, %c1_i32, %c32_i32{{.*}} : f32
// CHECK: scf.if
// CHECK: arith.addf
// CHECK: arith.maximumf
// CHECK: memref.load %{{.+}}[%{{.+}}, %{{.+}}] : memref<?x32xf32>
// CHECK: arith.addf
// CHECK: memref.store %{{.+}}, [[OUT]][%{{.+}}, %{{.+}}] : memref<?x32xf32>
// CHECK: gpu.terminator
// CHECK: bufferization.to_tensor [[OUT]] restrict writable : memref<?x32xf32> to tensor<?x32xf32>
// No buffer or tensor of the weight's shape exists.
// CHECK-NOT: 32x64xf32
// CHECK: return

// One output feature per warp: with 2 warps a block, 16 blocks of features;
// with a batch tile of 1, one accumulator.
// TILE-LABEL: func.func @nf4_epilogue(
// TILE: arith.muli %{{.+}}, %c16
// TILE: scf.for {{.*}} iter_args(%{{[^ ]+}} = %cst) -> (f32)
func.func @nf4_epilogue(%x: tensor<?x64xf32>,
    %w: !lowmem.qtensor<32x64xf32, nf4, block = 64, double_quant> {lowmem.param = "w"},
    %b: tensor<32xf32>, %r: tensor<?x32xf32>) -> tensor<?x32xf32> {
  %0 = lowmem.qlinear %x, %w bias(%b : tensor<32xf32>) residual(%r : tensor<?x32xf32>) {activation = #lowmem.activation<relu>} : tensor<?x64xf32>, !lowmem.qtensor<32x64xf32, nf4, block = 64, double_quant> -> tensor<?x32xf32>
  return %0 : tensor<?x32xf32>
}

// -----

// int4 with 16-element blocks: two scales for each 32-element chunk, the
// first element of a byte in its low nibble, decoded arithmetically (no
// table, so no barrier).
// CHECK-LABEL: func.func @int4_small_blocks(
// CHECK: gpu.launch
// CHECK-NOT: gpu.barrier
// CHECK-NOT: workgroup
// CHECK: vector.load %{{.+}}[%{{.+}}] {alignment = 16 : i64} : memref<1024xi8>, vector<16xi8>
// CHECK-COUNT-2: memref.load %{{.+}}[%{{.+}}] : memref<128xf16>
// CHECK: arith.shrui
// CHECK: arith.uitofp
// CHECK: gpu.shuffle xor
func.func @int4_small_blocks(%x: tensor<4x64xf32>,
    %w: !lowmem.qtensor<32x64xf32, int4, block = 16> {lowmem.param = "w"}) -> tensor<4x32xf32> {
  %0 = lowmem.qlinear %x, %w : tensor<4x64xf32>, !lowmem.qtensor<32x64xf32, int4, block = 16> -> tensor<4x32xf32>
  return %0 : tensor<4x32xf32>
}

// -----

// Rows whose length is not a multiple of a 16-byte chunk: one element per
// lane at a time, through the scalar decoder.
// CHECK-LABEL: func.func @odd_rows(
// CHECK: gpu.launch
// CHECK-NOT: vector.load
// CHECK: memref.load %{{.+}}[%{{.+}}] : memref<{{[0-9]+}}xi8>
// CHECK: gpu.shuffle xor
func.func @odd_rows(%x: tensor<?x20xf32>,
    %w: !lowmem.qtensor<8x20xf32, nf4, block = 64> {lowmem.param = "w"}) -> tensor<?x8xf32> {
  %0 = lowmem.qlinear %x, %w : tensor<?x20xf32>, !lowmem.qtensor<8x20xf32, nf4, block = 64> -> tensor<?x8xf32>
  return %0 : tensor<?x8xf32>
}

// -----

// f32 and f16 weights: 4 and 8 values a 16-byte load.
// CHECK-LABEL: func.func @dense(
// CHECK: vector.load %{{.+}} {alignment = 16 : i64} : memref<16x32xf32>, vector<4xf32>
// CHECK: vector.load %{{.+}} {alignment = 16 : i64} : memref<16x32xf16>, vector<8xf16>
// CHECK: arith.extf %{{.+}} : vector<8xf16> to vector<8xf32>
func.func @dense(%x: tensor<?x32xf32>, %w: tensor<16x32xf32>,
    %h: !lowmem.qtensor<16x32xf32, f16> {lowmem.param = "h"}) -> tensor<?x16xf32> {
  %0 = lowmem.linear %x, %w : tensor<?x32xf32>, tensor<16x32xf32> -> tensor<?x16xf32>
  %1 = lowmem.qlinear %x, %h residual(%0 : tensor<?x16xf32>) : tensor<?x32xf32>, !lowmem.qtensor<16x32xf32, f16> -> tensor<?x16xf32>
  return %1 : tensor<?x16xf32>
}

// -----

// Dynamic rows: the host picks the tiled kernel from 32 rows on (64 × 64
// tiles of y, 8 KB of x and 8 KB of decoded W in shared memory, two
// barriers a step of 32 along k), the warp kernel below; both write the
// one result.
// CHECK-LABEL: func.func @tiled(
// CHECK: %[[OUT:.+]] = memref.alloc
// CHECK: %[[MANY:.+]] = arith.cmpi uge, %{{.+}}, %c32 : index
// CHECK: scf.if %[[MANY]] {
// CHECK: gpu.launch {{.*}} threads({{.*}}) in ({{.*}} = %c256{{.*}}) workgroup(%[[XS:.+]] : memref<2048xf32, #gpu.address_space<workgroup>>, %[[WS:.+]] : memref<2048xf32, #gpu.address_space<workgroup>>)
// CHECK: scf.for {{.*}} = %c0{{.*}} to %c96{{.*}} step %c32{{.*}} iter_args(
// CHECK: vector.load %{{.+}} : memref<?x96xf32>, vector<8xf32>
// CHECK: memref.store %{{.+}}, %[[XS]]
// CHECK: vector.load %{{.+}} : memref<3072xi8>, vector<4xi8>
// CHECK: memref.store %{{.+}}, %[[WS]]
// CHECK: gpu.barrier
// CHECK: vector.load %[[XS]]{{.*}} vector<4xf32>
// CHECK: vector.load %[[WS]]{{.*}} vector<4xf32>
// CHECK: gpu.barrier
// CHECK: memref.store %{{.+}}, %[[OUT]]
// CHECK: } else {
// CHECK: gpu.launch
// CHECK: gpu.shuffle xor
// CHECK: memref.store %{{.+}}, %[[OUT]]
// CHECK: bufferization.to_tensor %[[OUT]]
func.func @tiled(%x: tensor<?x96xf32>, %w: !lowmem.qtensor<64x96xf32, nf4, block = 32> {lowmem.param = "w"}) -> tensor<?x64xf32> {
  %0 = lowmem.qlinear %x, %w : tensor<?x96xf32>, !lowmem.qtensor<64x96xf32, nf4, block = 32> -> tensor<?x64xf32>
  return %0 : tensor<?x64xf32>
}

// -----

// group_norm: one block of 256 threads per row and group, two block
// reductions (one partial sum per warp in shared memory), the square root
// (correctly rounded: lowmem-gpu-math makes it sqrt.rn), then the affine
// normalization.
// CHECK-LABEL: func.func @norm(
// CHECK: arith.muli %{{.+}}, %c2 : index
// CHECK: gpu.launch {{.*}} threads({{.*}}) in ({{.*}} = %c256{{.*}}) workgroup(%[[PART:.+]] : memref<8xf32, #gpu.address_space<workgroup>>)
// CHECK: gpu.shuffle xor
// CHECK: memref.store %{{.+}}, %[[PART]]
// CHECK: gpu.barrier
// CHECK: gpu.barrier
// CHECK: gpu.shuffle xor
// CHECK: gpu.barrier
// CHECK: math.sqrt
// CHECK: arith.divf
// CHECK: memref.store
func.func @norm(%x: tensor<?x64xf32>, %g: tensor<64xf32>, %b: tensor<64xf32>) -> tensor<?x64xf32> {
  %0 = lowmem.group_norm %x, %g, %b {epsilon = 1.0e-05 : f64, num_groups = 2 : i64} : tensor<?x64xf32>, tensor<64xf32>, tensor<64xf32> -> tensor<?x64xf32>
  return %0 : tensor<?x64xf32>
}

// -----

// A transposed product (an input gradient, dy · W with W [64, 32]): blocks
// of 256 threads, each thread 4 rows × 8 columns; it walks the 64 rows of
// W, one 4-byte load of 8 codes and one (double-quantized) scale a row, the
// tables read from module constants (no shared memory, no barrier, no
// shuffle), and stores its valid rows after the residual.
// CHECK-LABEL: func.func @transposed(
// CHECK-NOT: lowmem.qlinear
// CHECK: gpu.launch
// CHECK-NOT: gpu.barrier
// CHECK-NOT: workgroup
// CHECK: memref.get_global @__lowmem_nf4_table
// CHECK: memref.get_global @__lowmem_dynamic_map
// CHECK: scf.for %{{.+}} = %{{.+}} to %c64{{.*}} step %{{.+}} iter_args(
// CHECK: vector.load %{{.+}}[%{{.+}}] {alignment = 4 : i64} : memref<1024xi8>, vector<4xi8>
// CHECK-COUNT-32: arith.mulf
// CHECK: scf.yield
// CHECK-NOT: gpu.shuffle
// CHECK: memref.store
// CHECK-NOT: lowmem.qlinear
// A product whose output columns do not come in runs of 8 (a LoRA rank of
// 4) is left to the linalg lowering.
// CHECK: lowmem.linear %{{.+}}, %{{.+}} transposed
func.func @transposed(%dy: tensor<?x64xf32>, %r: tensor<?x32xf32>,
    %w: !lowmem.qtensor<64x32xf32, nf4, block = 64, double_quant> {lowmem.param = "w"},
    %a: tensor<64x4xf32>) -> (tensor<?x32xf32>, tensor<?x4xf32>) {
  %0 = lowmem.qlinear %dy, %w transposed residual(%r : tensor<?x32xf32>) : tensor<?x64xf32>, !lowmem.qtensor<64x32xf32, nf4, block = 64, double_quant> -> tensor<?x32xf32>
  %1 = lowmem.linear %dy, %a transposed : tensor<?x64xf32>, tensor<64x4xf32> -> tensor<?x4xf32>
  return %0, %1 : tensor<?x32xf32>, tensor<?x4xf32>
}

// -----

// Ops without a kernel are left for convert-lowmem-to-linalg.
// CHECK-LABEL: func.func @left_alone(
// CHECK: lowmem.relu
// CHECK-NOT: gpu.launch
func.func @left_alone(%x: tensor<?x64xf32>) -> tensor<?x64xf32> {
  %0 = lowmem.relu %x : tensor<?x64xf32>
  return %0 : tensor<?x64xf32>
}

// -----

// Activations of rank 3 ([batch, seq, features]): the leading dimensions
// are the rows. The result keeps its shape (the plan sizes it by the
// arguments' dimensions); the kernel turns a row number back into its
// (batch, position) indices.
// CHECK-LABEL: func.func @rank3(
// CHECK-DAG: [[X:%.+]] = bufferization.to_buffer %arg0 read_only : tensor<?x?x64xf32> to memref<?x?x64xf32>
// CHECK-DAG: [[D0:%.+]] = tensor.dim %arg0, %c0
// CHECK-DAG: [[D1:%.+]] = tensor.dim %arg0, %c1
// CHECK-DAG: [[OUT:%.+]] = memref.alloc([[D0]], [[D1]]) {alignment = 64 : i64} : memref<?x?x32xf32>
// CHECK: gpu.launch
// CHECK: arith.remui %{{.+}}, [[D1]]
// CHECK: arith.divui %{{.+}}, [[D1]]
// CHECK: vector.load [[X]][%{{.+}}, %{{.+}}, %{{.+}}] {alignment = 16 : i64} : memref<?x?x64xf32>, vector<32xf32>
// CHECK: gpu.shuffle xor
// CHECK: memref.load %{{.+}}[%{{.+}}, %{{.+}}, %{{.+}}] : memref<?x?x32xf32>
// CHECK: memref.store %{{.+}}, [[OUT]][%{{.+}}, %{{.+}}, %{{.+}}] : memref<?x?x32xf32>
// CHECK: bufferization.to_tensor [[OUT]] restrict writable : memref<?x?x32xf32> to tensor<?x?x32xf32>
func.func @rank3(%x: tensor<?x?x64xf32>,
    %w: !lowmem.qtensor<32x64xf32, nf4, block = 64>  {lowmem.param = "w"},
    %r: tensor<?x?x32xf32>) -> tensor<?x?x32xf32> {
  %0 = lowmem.qlinear %x, %w residual(%r : tensor<?x?x32xf32>) : tensor<?x?x64xf32>, !lowmem.qtensor<32x64xf32, nf4, block = 64> -> tensor<?x?x32xf32>
  return %0 : tensor<?x?x32xf32>
}

// -----

// A slice of whole rows (a sequence's last position) is read where it lies,
// through a strided view, with 16-byte loads: nothing copies it.
// CHECK-LABEL: func.func @last_position(
// CHECK: [[X:%.+]] = bufferization.to_buffer %{{.+}} read_only : tensor<?x1x64xf32> to memref<?x1x64xf32, strided<[?, ?, 1], offset: ?>>
// CHECK: vector.load [[X]][%{{.+}}, %{{.+}}, %{{.+}}] {alignment = 16 : i64} : memref<?x1x64xf32, strided<[?, ?, 1], offset: ?>>, vector<32xf32>
func.func @last_position(%x: tensor<?x?x64xf32>, %s: index,
    %w: !lowmem.qtensor<32x64xf32, nf4, block = 64>  {lowmem.param = "w"}) -> tensor<?x1x32xf32> {
  %c0 = arith.constant 0 : index
  %b = tensor.dim %x, %c0 : tensor<?x?x64xf32>
  %last = tensor.extract_slice %x[0, %s, 0] [%b, 1, 64] [1, 1, 1] : tensor<?x?x64xf32> to tensor<?x1x64xf32>
  %0 = lowmem.qlinear %last, %w : tensor<?x1x64xf32>, !lowmem.qtensor<32x64xf32, nf4, block = 64> -> tensor<?x1x32xf32>
  return %0 : tensor<?x1x32xf32>
}

// -----

// A slice that cuts the features may start anywhere: its elements are read
// one at a time.
// CHECK-LABEL: func.func @cut_features(
// CHECK: [[X:%.+]] = bufferization.to_buffer %{{.+}} read_only : tensor<?x64xf32> to memref<?x64xf32, strided<[?, 1], offset: ?>>
// CHECK-NOT: vector.load [[X]]
// CHECK: memref.load [[X]][%{{.+}}, %{{.+}}] : memref<?x64xf32, strided<[?, 1], offset: ?>>
// CHECK-NOT: vector.load [[X]]
// CHECK: return
func.func @cut_features(%x: tensor<?x128xf32>,
    %w: !lowmem.qtensor<32x64xf32, nf4, block = 64>  {lowmem.param = "w"}) -> tensor<?x32xf32> {
  %c0 = arith.constant 0 : index
  %b = tensor.dim %x, %c0 : tensor<?x128xf32>
  %half = tensor.extract_slice %x[0, 4] [%b, 64] [1, 1] : tensor<?x128xf32> to tensor<?x64xf32>
  %0 = lowmem.qlinear %half, %w : tensor<?x64xf32>, !lowmem.qtensor<32x64xf32, nf4, block = 64> -> tensor<?x32xf32>
  return %0 : tensor<?x32xf32>
}

// -----

// Attention, the number of queries dynamic: the host picks the mapping.
// From 8 queries on (prefill, training), one warp a row (8 neighbouring
// rows a block) streams all the row's keys with an online softmax and
// stores its row itself. Below (decode), one block of 8 warps a row: each
// warp streams every 8th key of the causal range, and the warps combine
// their maxima, sums and rows through shared memory. In both the lanes
// hold the head dimension and a key's dot product is a butterfly of
// shuffles; the f16 cache is read in place and widened as it loads.
// CHECK-LABEL: func.func @attention_f16_cache(
// CHECK-DAG: [[K:%.+]] = bufferization.to_buffer %{{.+}} read_only : tensor<?x?x32xf16> to memref<?x?x32xf16, strided<[?, ?, 1], offset: ?>>
// CHECK-DAG: [[OUT:%.+]] = memref.alloc(%{{.+}}, %{{.+}}) {alignment = 64 : i64} : memref<?x?x64xf32>
// CHECK: %[[MANY:.+]] = arith.cmpi uge, %{{.+}}, %c8
// CHECK: scf.if %[[MANY]]
// CHECK: gpu.launch {{.*}} threads({{.*}}) in ({{.*}} = %c256{{.*}}) {
// CHECK: arith.minsi
// CHECK: scf.for %{{.+}} = %{{.+}} to %{{.+}} step %c1{{.*}} iter_args(%{{.+}} = %cst{{.*}}, %{{.+}} = %cst{{.*}}, %{{.+}} = %cst{{.*}}) -> (f32, f32, f32)
// CHECK: memref.load [[K]]
// CHECK: arith.extf %{{.+}} : f16 to f32
// CHECK-COUNT-5: gpu.shuffle xor
// CHECK: math.exp
// CHECK: math.exp
// CHECK: arith.extf %{{.+}} : f16 to f32
// CHECK: scf.yield
// CHECK-NOT: gpu.barrier
// CHECK: memref.store %{{.+}}, [[OUT]]
// CHECK: gpu.terminator
// CHECK: } else {
// CHECK: gpu.launch {{.*}} threads({{.*}}) in ({{.*}} = %c256{{.*}}) workgroup(%[[MAX:.+]] : memref<8xf32, #gpu.address_space<workgroup>>, %[[SUM:.+]] : memref<8xf32, #gpu.address_space<workgroup>>, %[[ROWS:.+]] : memref<128xf32, #gpu.address_space<workgroup>>)
// CHECK: arith.minsi
// CHECK: scf.for %{{.+}} = %{{.+}} to %{{.+}} step %c8{{.*}} iter_args(%{{.+}} = %cst{{.*}}, %{{.+}} = %cst{{.*}}, %{{.+}} = %cst{{.*}}) -> (f32, f32, f32)
// CHECK: memref.load [[K]]
// CHECK: arith.extf %{{.+}} : f16 to f32
// CHECK-COUNT-5: gpu.shuffle xor
// CHECK: math.exp
// CHECK: math.exp
// CHECK: arith.extf %{{.+}} : f16 to f32
// CHECK: scf.yield
// CHECK: memref.store %{{.+}}, %[[MAX]]
// CHECK: memref.store %{{.+}}, %[[SUM]]
// CHECK: memref.store %{{.+}}, %[[ROWS]]
// CHECK: gpu.barrier
// CHECK-COUNT-8: memref.load %[[MAX]]
// CHECK: scf.for
// CHECK-COUNT-8: memref.load %[[ROWS]]
// CHECK: memref.store %{{.+}}, [[OUT]]
// CHECK: gpu.terminator
// CHECK: bufferization.to_tensor [[OUT]] restrict writable
// CHECK-NOT: lowmem.attention
func.func @attention_f16_cache(%q: tensor<?x?x64xf32>, %cache: tensor<?x?x32xf16>, %n: index) -> tensor<?x?x64xf32> {
  %c0 = arith.constant 0 : index
  %b = tensor.dim %q, %c0 : tensor<?x?x64xf32>
  %k = tensor.extract_slice %cache[0, 0, 0] [%b, %n, 32] [1, 1, 1] : tensor<?x?x32xf16> to tensor<?x?x32xf16>
  %o = lowmem.attention %q, %k, %k {causal, num_heads = 4 : i64, num_kv_heads = 2 : i64, scale = 0.25 : f64} : tensor<?x?x64xf32>, tensor<?x?x32xf16>, tensor<?x?x32xf16> -> tensor<?x?x64xf32>
  return %o : tensor<?x?x64xf32>
}

// -----

// int8 keys and values with their scales, left padding (key_starts), and a
// head dimension of 40: lanes 8 to 31 read past the head's end in their
// second slot and weigh it 0, and only lanes in the head store it (the
// second mapping, a block of 8 warps a row, checked).
// CHECK-LABEL: func.func @attention_int8_ragged(
// CHECK: } else {
// CHECK: gpu.launch {{.*}} workgroup({{.*}}memref<8xf32, {{.*}}memref<8xf32, {{.*}} : memref<320xf32, #gpu.address_space<workgroup>>)
// CHECK: arith.cmpi ult, %{{.+}}, %c40
// CHECK: arith.minui %{{.+}}, %c39
// CHECK: arith.index_cast
// CHECK: arith.maxsi
// CHECK: scf.for {{.*}} -> (f32, f32, f32, f32)
// CHECK: arith.sitofp %{{.+}} : i8 to f32
// CHECK: %[[KS:.+]] = memref.load %{{.+}} : memref<?x?x2xf32>
// CHECK: %[[VS:.+]] = memref.load %{{.+}} : memref<?x?x2xf32>
// CHECK: gpu.shuffle xor
// CHECK: %[[X:.+]] = arith.mulf
// CHECK: arith.mulf %[[X]], %[[KS]]
// CHECK: math.exp
// CHECK: %[[P:.+]] = math.exp
// CHECK-NEXT: arith.mulf %[[P]], %[[VS]]
// CHECK: gpu.barrier
func.func @attention_int8_ragged(%q: tensor<?x?x160xf32>, %k: tensor<?x?x80xi8>, %v: tensor<?x?x80xi8>,
    %ks: tensor<?x?x2xf32>, %vs: tensor<?x?x2xf32>, %starts: tensor<?xi64>) -> tensor<?x?x160xf32> {
  %o = lowmem.attention %q, %k, %v scales(%ks, %vs : tensor<?x?x2xf32>, tensor<?x?x2xf32>) key_starts(%starts : tensor<?xi64>) {causal, num_heads = 4 : i64, num_kv_heads = 2 : i64, scale = 0.15 : f64} : tensor<?x?x160xf32>, tensor<?x?x80xi8>, tensor<?x?x80xi8> -> tensor<?x?x160xf32>
  return %o : tensor<?x?x160xf32>
}

// -----

// A head too wide for the warps' rows to fit in 48 KB of shared memory is
// left to the linalg lowering.
// CHECK-LABEL: func.func @attention_wide_head(
// CHECK-NOT: gpu.launch
// CHECK: lowmem.attention
func.func @attention_wide_head(%q: tensor<?x?x1600xf32>, %k: tensor<?x?x1600xf32>) -> tensor<?x?x1600xf32> {
  %o = lowmem.attention %q, %k, %k {num_heads = 1 : i64, num_kv_heads = 1 : i64, scale = 0.025 : f64} : tensor<?x?x1600xf32>, tensor<?x?x1600xf32>, tensor<?x?x1600xf32> -> tensor<?x?x1600xf32>
  return %o : tensor<?x?x1600xf32>
}

// -----

// rms_norm: one block of 256 threads per row ([batch, seq] rows); the
// block sums the squares (shuffles, one partial a warp in shared memory),
// then each thread scales its columns.
// CHECK-LABEL: func.func @rms_norm(
// CHECK-DAG: [[OUT:%.+]] = memref.alloc(%{{.+}}, %{{.+}}) {alignment = 64 : i64} : memref<?x?x64xf32>
// CHECK: gpu.launch {{.*}} threads({{.*}}) in ({{.*}} = %c256{{.*}}) workgroup(%[[PART:.+]] : memref<8xf32, #gpu.address_space<workgroup>>)
// CHECK: arith.remui
// CHECK: scf.for
// CHECK: arith.mulf
// CHECK: gpu.shuffle xor
// CHECK: memref.store %{{.+}}, %[[PART]]
// CHECK: gpu.barrier
// CHECK: math.sqrt
// CHECK: scf.for
// CHECK: memref.store %{{.+}}, [[OUT]][%{{.+}}, %{{.+}}, %{{.+}}] : memref<?x?x64xf32>
// CHECK-NOT: lowmem.rms_norm
func.func @rms_norm(%x: tensor<?x?x64xf32>, %w: tensor<64xf32>) -> tensor<?x?x64xf32> {
  %0 = lowmem.rms_norm %x, %w {epsilon = 1.0e-06 : f64} : tensor<?x?x64xf32>, tensor<64xf32> -> tensor<?x?x64xf32>
  return %0 : tensor<?x?x64xf32>
}

// -----

// argmax: one block per row; each thread scans its columns, then warps
// (value and index shuffled together) and the block (the index's bits in
// a second shared buffer) keep the better candidate; thread 0 stores it.
// CHECK-LABEL: func.func @argmax(
// CHECK-DAG: [[OUT:%.+]] = memref.alloc(%{{.+}}) {alignment = 64 : i64} : memref<?x1xi64>
// CHECK: gpu.launch {{.*}} workgroup(%[[VALS:.+]] : memref<8xf32, #gpu.address_space<workgroup>>, %[[IDX:.+]] : memref<8xf32, #gpu.address_space<workgroup>>)
// CHECK: scf.for {{.*}} -> (f32, i32)
// CHECK: arith.cmpf uno
// CHECK: gpu.shuffle xor %{{.+}}, %c16_i32, %c32_i32 : f32
// CHECK: gpu.shuffle xor %{{.+}}, %c16_i32{{.*}}, %c32_i32{{.*}} : i32
// CHECK: arith.bitcast %{{.+}} : i32 to f32
// CHECK: gpu.barrier
// CHECK: arith.extsi %{{.+}} : i32 to i64
// CHECK: memref.store %{{.+}}, [[OUT]][%{{.+}}, %{{.+}}] : memref<?x1xi64>
func.func @argmax(%logits: tensor<?x1x1000xf32>) -> tensor<?x1xi64> {
  %0 = lowmem.argmax %logits : tensor<?x1x1000xf32> -> tensor<?x1xi64>
  return %0 : tensor<?x1xi64>
}
