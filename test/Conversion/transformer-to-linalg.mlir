// RUN: lowmem-opt %s --split-input-file --convert-lowmem-to-linalg | FileCheck %s

// Embedding: one generic over the result gathering table rows; the id is
// clamped into the table (the runtime reports bad ids before running).
// CHECK-LABEL: func.func @embedding
// CHECK: linalg.generic
// CHECK: arith.index_cast
// CHECK: arith.maxsi
// CHECK: arith.minsi %{{.+}}, %c999
// CHECK: tensor.extract %{{.+}}[%{{.+}}, %{{.+}}] : tensor<1000x64xf32>
func.func @embedding(%ids: tensor<?x?xi64>, %t: tensor<1000x64xf32>) -> tensor<?x?x64xf32> {
  %0 = lowmem.embedding %ids, %t : tensor<?x?xi64>, tensor<1000x64xf32> -> tensor<?x?x64xf32>
  return %0 : tensor<?x?x64xf32>
}

// -----

// RMSNorm: a sum of squares per row, then x / sqrt(mean + eps) * w.
// CHECK-LABEL: func.func @rms_norm
// CHECK: linalg.generic {{.*}}iterator_types = ["parallel", "parallel", "reduction"]
// CHECK: arith.mulf
// CHECK: arith.addf
// CHECK: linalg.generic {{.*}}iterator_types = ["parallel", "parallel", "parallel"]
// CHECK: math.sqrt
// CHECK: arith.divf
func.func @rms_norm(%x: tensor<?x?x64xf32>, %w: tensor<64xf32>) -> tensor<?x?x64xf32> {
  %0 = lowmem.rms_norm %x, %w {epsilon = 1.0e-06 : f64} : tensor<?x?x64xf32>, tensor<64xf32> -> tensor<?x?x64xf32>
  return %0 : tensor<?x?x64xf32>
}

// -----

// RoPE: each element reads its partner half a head away and rotates by
// position x frequency, the position shifted by the offset.
// CHECK-LABEL: func.func @rope
// CHECK: linalg.generic
// CHECK: arith.remui %{{.+}}, %c16
// CHECK: arith.cmpi ult
// CHECK: tensor.extract %{{.+}}[%{{.+}}, %{{.+}}, %{{.+}}] : tensor<?x?x64xf32>
// CHECK: arith.addi %{{.+}}, %c3
// CHECK: math.cos
// CHECK: math.sin
func.func @rope(%x: tensor<?x?x64xf32>, %f: tensor<8xf32>) -> tensor<?x?x64xf32> {
  %0 = lowmem.rope %x, %f {head_dim = 16 : i64, position_offset = 3 : i64} : tensor<?x?x64xf32>, tensor<8xf32> -> tensor<?x?x64xf32>
  return %0 : tensor<?x?x64xf32>
}

// -----

// CHECK-LABEL: func.func @swiglu
// CHECK: linalg.generic
// CHECK: arith.negf
// CHECK: math.exp
// CHECK: arith.divf
// CHECK: arith.mulf
func.func @swiglu(%g: tensor<?x?x128xf32>, %u: tensor<?x?x128xf32>) -> tensor<?x?x128xf32> {
  %0 = lowmem.swiglu %g, %u : tensor<?x?x128xf32>
  return %0 : tensor<?x?x128xf32>
}

// -----

// Attention: the only buffer is the output; a parallel loop over (batch,
// head, query) streams the keys up to the causal limit with the running max
// and sum as loop-carried values, rescaling the output row.
// CHECK-LABEL: func.func @attention
// CHECK-COUNT-3: bufferization.to_buffer
// CHECK: %[[OUT:.+]] = memref.alloc(%{{.+}}, %{{.+}}) {alignment = 64 : i64} : memref<?x?x64xf32>
// CHECK-NOT: memref.alloc
// CHECK: scf.parallel (%[[B:.+]], %[[H:.+]], %[[S:.+]]) =
// CHECK: arith.divui %[[H]], %c2
// CHECK: arith.maxsi
// CHECK: arith.minsi
// CHECK: scf.for %{{.+}} = %{{.+}} to %{{.+}} step %{{.+}} iter_args(%[[M:.+]] = %cst{{.*}}, %[[L:.+]] = %cst{{.*}}) -> (f32, f32)
// CHECK: arith.maximumf %[[M]]
// CHECK: math.exp
// CHECK: math.exp
// CHECK: memref.store %{{.+}}, %[[OUT]]
// CHECK: bufferization.to_tensor %[[OUT]] restrict writable
func.func @attention(%q: tensor<?x?x64xf32>, %k: tensor<?x?x32xf32>, %v: tensor<?x?x32xf32>) -> tensor<?x?x64xf32> {
  %0 = lowmem.attention %q, %k, %v {causal, num_heads = 4 : i64, num_kv_heads = 2 : i64, scale = 0.25 : f64} : tensor<?x?x64xf32>, tensor<?x?x32xf32>, tensor<?x?x32xf32> -> tensor<?x?x64xf32>
  return %0 : tensor<?x?x64xf32>
}

// -----

// Attention's gradient: three result buffers and the [B, heads, S, 2] row
// statistics, three parallel loop nests (statistics; dq per query row; dk
// and dv per key row of each kv head, looping over the heads of its group
// and the queries that see it), and no score matrix.
// CHECK-LABEL: func.func @attention_grad
// CHECK-COUNT-5: bufferization.to_buffer
// CHECK: memref.alloc(%{{.+}}, %{{.+}}) {alignment = 64 : i64} : memref<?x?x64xf32>
// CHECK: memref.alloc(%{{.+}}, %{{.+}}) {alignment = 64 : i64} : memref<?x?x32xf32>
// CHECK: memref.alloc(%{{.+}}, %{{.+}}) {alignment = 64 : i64} : memref<?x?x32xf32>
// CHECK: %[[STATS:.+]] = memref.alloc(%{{.+}}, %{{.+}}) {alignment = 64 : i64} : memref<?x4x?x2xf32>
// CHECK-NOT: memref.alloc
// CHECK: scf.parallel
// CHECK: math.log
// CHECK: memref.store %{{.+}}, %[[STATS]]
// CHECK: scf.parallel
// CHECK: memref.load %[[STATS]]
// CHECK: scf.parallel
// CHECK: arith.cmpi sgt
// CHECK-COUNT-3: bufferization.to_tensor
func.func @attention_grad(%do: tensor<?x?x64xf32>, %q: tensor<?x?x64xf32>, %k: tensor<?x?x32xf32>, %v: tensor<?x?x32xf32>, %o: tensor<?x?x64xf32>) -> (tensor<?x?x64xf32>, tensor<?x?x32xf32>, tensor<?x?x32xf32>) {
  %0:3 = lowmem.attention_grad %do, %q, %k, %v, %o {causal, num_heads = 4 : i64, num_kv_heads = 2 : i64, scale = 0.25 : f64} : tensor<?x?x64xf32>, tensor<?x?x64xf32>, tensor<?x?x32xf32>, tensor<?x?x32xf32>, tensor<?x?x64xf32> -> tensor<?x?x64xf32>, tensor<?x?x32xf32>, tensor<?x?x32xf32>
  return %0#0, %0#1, %0#2 : tensor<?x?x64xf32>, tensor<?x?x32xf32>, tensor<?x?x32xf32>
}

// -----

// CHECK-LABEL: func.func @rms_norm_grad
// CHECK: linalg.generic {{.*}}iterator_types = ["parallel", "parallel", "reduction"]
// CHECK: linalg.generic {{.*}}iterator_types = ["parallel", "parallel", "parallel"]
// CHECK: math.sqrt
func.func @rms_norm_grad(%dy: tensor<?x?x64xf32>, %x: tensor<?x?x64xf32>, %w: tensor<64xf32>) -> tensor<?x?x64xf32> {
  %0 = lowmem.rms_norm_grad %dy, %x, %w {epsilon = 1.0e-06 : f64} : tensor<?x?x64xf32>, tensor<?x?x64xf32>, tensor<64xf32> -> tensor<?x?x64xf32>
  return %0 : tensor<?x?x64xf32>
}

// -----

// CHECK-LABEL: func.func @swiglu_grad
// CHECK: linalg.generic
// CHECK: math.exp
// CHECK: linalg.yield %{{.+}}, %{{.+}} : f32, f32
func.func @swiglu_grad(%dy: tensor<?x?x64xf32>, %g: tensor<?x?x64xf32>, %u: tensor<?x?x64xf32>) -> (tensor<?x?x64xf32>, tensor<?x?x64xf32>) {
  %0:2 = lowmem.swiglu_grad %dy, %g, %u : tensor<?x?x64xf32>
  return %0#0, %0#1 : tensor<?x?x64xf32>, tensor<?x?x64xf32>
}

// -----

// The inverse rotation negates the sine.
// CHECK-LABEL: func.func @rope_inverse
// CHECK: math.sin
// CHECK-NEXT: arith.negf
func.func @rope_inverse(%x: tensor<?x?x64xf32>, %f: tensor<8xf32>) -> tensor<?x?x64xf32> {
  %0 = lowmem.rope %x, %f {head_dim = 16 : i64, inverse} : tensor<?x?x64xf32>, tensor<8xf32> -> tensor<?x?x64xf32>
  return %0 : tensor<?x?x64xf32>
}

// -----

// The fused head and loss: per row whose label is counted (an ignored row
// streams nothing), the vocabulary streamed with an online logsumexp (no
// [.., vocab] buffer: only the row statistics), then the mean over the
// counted rows.
// CHECK-LABEL: func.func @head_and_loss
// CHECK: %[[LSE:.+]] = memref.alloc(%{{.+}}, %{{.+}}) {alignment = 64 : i64} : memref<?x?xf32>
// CHECK: %[[ROW:.+]] = memref.alloc(%{{.+}}, %{{.+}}) {alignment = 64 : i64} : memref<?x?xf32>
// CHECK-NOT: memref.alloc
// CHECK: scf.parallel
// CHECK: %[[COUNTED:.+]] = arith.cmpi ne, %{{.+}}, %c-100
// CHECK: %[[STATS:.+]]:2 = scf.if %[[COUNTED]] -> (f32, f32)
// CHECK: scf.for %{{.+}} = %{{.+}} to %c1000
// CHECK: math.log
// CHECK: } else {
// CHECK: scf.yield %cst{{.*}}, %cst
// CHECK: memref.store %[[STATS]]#0, %[[LSE]]
// CHECK: memref.store %[[STATS]]#1, %[[ROW]]
// CHECK: linalg.generic {{.*}}iterator_types = ["reduction", "reduction"]
// CHECK: arith.divf
func.func @head_and_loss(%h: tensor<?x?x64xf32>, %w: tensor<1000x64xf32>, %labels: tensor<?x?xi64>) -> (tensor<f32>, tensor<?x?xf32>) {
  %loss, %lse = lowmem.linear_cross_entropy %h, %w, %labels : tensor<?x?x64xf32>, tensor<1000x64xf32>, tensor<?x?xi64> -> tensor<f32>, tensor<?x?xf32>
  return %loss, %lse : tensor<f32>, tensor<?x?xf32>
}

// -----

// Its gradient skips the rows whose label is ignored.
// CHECK-LABEL: func.func @head_and_loss_grad
// CHECK: memref.alloc(%{{.+}}, %{{.+}}) {alignment = 64 : i64} : memref<?x?x64xf32>
// CHECK-NOT: memref.alloc
// CHECK: scf.parallel
// CHECK: scf.if
// CHECK: scf.for %{{.+}} = %{{.+}} to %c1000
// CHECK: math.exp
func.func @head_and_loss_grad(%h: tensor<?x?x64xf32>, %w: tensor<1000x64xf32>, %labels: tensor<?x?xi64>, %lse: tensor<?x?xf32>) -> tensor<?x?x64xf32> {
  %dh = lowmem.linear_cross_entropy_grad %h, %w, %labels, %lse : tensor<?x?x64xf32>, tensor<1000x64xf32>, tensor<?x?xi64>, tensor<?x?xf32> -> tensor<?x?x64xf32>
  return %dh : tensor<?x?x64xf32>
}

// -----

// A run-time rope offset is added to the static one.
// CHECK-LABEL: func.func @rope_runtime_offset
// CHECK-SAME: %[[P:[^:]+]]: index
// CHECK: %[[OFF:.+]] = arith.addi %[[P]], %c3
// CHECK: linalg.generic
// CHECK: arith.addi %{{.+}}, %[[OFF]]
func.func @rope_runtime_offset(%x: tensor<?x?x64xf32>, %f: tensor<8xf32>, %p: index) -> tensor<?x?x64xf32> {
  %0 = lowmem.rope %x, %f offset(%p) {head_dim = 16 : i64, position_offset = 3 : i64} : tensor<?x?x64xf32>, tensor<8xf32> -> tensor<?x?x64xf32>
  return %0 : tensor<?x?x64xf32>
}

// -----

// cache_update: the rows rounded into the cache's slice at the position,
// destination-passing, so bufferization writes the cache in place.
// CHECK-LABEL: func.func @cache_update
// CHECK-SAME: %[[R:[^:]+]]: tensor<?x?x32xf32>, %[[C:[^:]+]]: tensor<?x?x32xf16>, %[[P:[^:]+]]: index
// CHECK: %[[SLICE:.+]] = tensor.extract_slice %[[C]][0, %[[P]], 0]
// CHECK: %[[W:.+]] = linalg.generic {{.+}} ins(%[[R]] : tensor<?x?x32xf32>) outs(%[[SLICE]] : tensor<?x?x32xf16>)
// CHECK: arith.truncf %{{.+}} : f32 to f16
// CHECK: tensor.insert_slice %[[W]] into %[[C]][0, %[[P]], 0]
func.func @cache_update(%r: tensor<?x?x32xf32>, %c: tensor<?x?x32xf16>, %p: index) -> tensor<?x?x32xf16> {
  %0 = lowmem.cache_update %r into %c[%p] : tensor<?x?x32xf32> into tensor<?x?x32xf16>
  return %0 : tensor<?x?x32xf16>
}

// -----

// An f32 cache takes the rows by copy.
// CHECK-LABEL: func.func @cache_update_f32
// CHECK: %[[SLICE:.+]] = tensor.extract_slice
// CHECK: %[[W:.+]] = linalg.copy ins(%{{.+}} : tensor<?x?x32xf32>) outs(%[[SLICE]] : tensor<?x?x32xf32>)
// CHECK: tensor.insert_slice %[[W]]
func.func @cache_update_f32(%r: tensor<?x?x32xf32>, %c: tensor<?x?x32xf32>, %p: index) -> tensor<?x?x32xf32> {
  %0 = lowmem.cache_update %r into %c[%p] : tensor<?x?x32xf32> into tensor<?x?x32xf32>
  return %0 : tensor<?x?x32xf32>
}

// -----

// Attention reads an f16 cache's prefix through a strided view and widens
// each key and value.
// CHECK-LABEL: func.func @attention_cached
// CHECK: bufferization.to_buffer %{{.+}} read_only : tensor<?x?x32xf16> to memref<?x?x32xf16, strided<[?, ?, 1], offset: ?>>
// CHECK: memref.load {{.+}} : memref<?x?x32xf16, strided<[?, ?, 1], offset: ?>>
// CHECK-NEXT: arith.extf %{{.+}} : f16 to f32
func.func @attention_cached(%q: tensor<?x?x64xf32>, %c: tensor<?x?x32xf16>, %t: index) -> tensor<?x?x64xf32> {
  %c0 = arith.constant 0 : index
  %b = tensor.dim %q, %c0 : tensor<?x?x64xf32>
  %k = tensor.extract_slice %c[0, 0, 0] [%b, %t, 32] [1, 1, 1] : tensor<?x?x32xf16> to tensor<?x?x32xf16>
  %0 = lowmem.attention %q, %k, %k {causal, num_heads = 4 : i64, num_kv_heads = 2 : i64, scale = 0.25 : f64} : tensor<?x?x64xf32>, tensor<?x?x32xf16>, tensor<?x?x32xf16> -> tensor<?x?x64xf32>
  return %0 : tensor<?x?x64xf32>
}

// -----

// argmax: one reduction carrying the best value and its index; a later
// element wins when strictly greater, or when it is a NaN and the best is not.
// CHECK-LABEL: func.func @argmax
// CHECK: %[[NEG:.+]] = arith.constant 0xFF800000 : f32
// CHECK: linalg.fill ins(%[[NEG]] : f32)
// CHECK: %[[R:.+]]:2 = linalg.generic {{.+}} iterator_types = ["parallel", "parallel", "reduction"]
// CHECK: %[[AT:.+]] = arith.index_cast {{.+}} : index to i64
// CHECK: arith.cmpf uno
// CHECK: arith.cmpf uno
// CHECK: arith.cmpi slt, %[[AT]]
// CHECK: arith.cmpf ogt
// CHECK: arith.cmpf oeq
// CHECK: return %[[R]]#1
func.func @argmax(%x: tensor<?x1x100xf32>) -> tensor<?x1xi64> {
  %0 = lowmem.argmax %x : tensor<?x1x100xf32> -> tensor<?x1xi64>
  return %0 : tensor<?x1xi64>
}

// -----

// int8 keys and values: each key's scale multiplies its dot product, each
// value's the weight of its row.
// CHECK-LABEL: func.func @attention_int8
// CHECK: scf.for
// CHECK: arith.sitofp %{{.+}} : i8 to f32
// CHECK: %[[KS:.+]] = memref.load %{{.+}} : memref<?x?x2xf32, strided<[?, ?, 1], offset: ?>>
// CHECK: %[[VS:.+]] = memref.load %{{.+}} : memref<?x?x2xf32, strided<[?, ?, 1], offset: ?>>
// CHECK: %[[X:.+]] = arith.mulf %{{.+}}, %cst
// CHECK: arith.mulf %[[X]], %[[KS]]
// CHECK: math.exp
// CHECK: %[[P:.+]] = math.exp
// CHECK-NEXT: arith.mulf %[[P]], %[[VS]]
func.func @attention_int8(%q: tensor<?x?x64xf32>, %c: tensor<?x?x32xi8>, %s: tensor<?x?x2xf32>, %t: index) -> tensor<?x?x64xf32> {
  %c0 = arith.constant 0 : index
  %b = tensor.dim %q, %c0 : tensor<?x?x64xf32>
  %k = tensor.extract_slice %c[0, 0, 0] [%b, %t, 32] [1, 1, 1] : tensor<?x?x32xi8> to tensor<?x?x32xi8>
  %ks = tensor.extract_slice %s[0, 0, 0] [%b, %t, 2] [1, 1, 1] : tensor<?x?x2xf32> to tensor<?x?x2xf32>
  %0 = lowmem.attention %q, %k, %k scales(%ks, %ks : tensor<?x?x2xf32>, tensor<?x?x2xf32>) {causal, num_heads = 4 : i64, num_kv_heads = 2 : i64, scale = 0.25 : f64} : tensor<?x?x64xf32>, tensor<?x?x32xi8>, tensor<?x?x32xi8> -> tensor<?x?x64xf32>
  return %0 : tensor<?x?x64xf32>
}

// -----

// Left padding: row b's positions count from starts[b] (signed), and its
// queries see keys from starts[b] on.
// CHECK-LABEL: func.func @rope_row_starts
// CHECK: linalg.generic
// CHECK: %[[POS:.+]] = arith.index_cast %{{.+}} : index to i64
// CHECK: %[[START:.+]] = tensor.extract %{{.+}}[%{{.+}}] : tensor<?xi64>
// CHECK: %[[REL:.+]] = arith.subi %[[POS]], %[[START]] : i64
// CHECK: arith.sitofp %[[REL]] : i64 to f32
func.func @rope_row_starts(%x: tensor<?x?x64xf32>, %f: tensor<8xf32>, %p: index, %s: tensor<?xi64>) -> tensor<?x?x64xf32> {
  %0 = lowmem.rope %x, %f offset(%p) row_starts(%s : tensor<?xi64>) {head_dim = 16 : i64} : tensor<?x?x64xf32>, tensor<8xf32> -> tensor<?x?x64xf32>
  return %0 : tensor<?x?x64xf32>
}

// -----

// CHECK-LABEL: func.func @attention_key_starts
// CHECK: scf.parallel
// CHECK: %[[S:.+]] = memref.load %{{.+}}[%{{.+}}] : memref<?xi64>
// CHECK: %[[SI:.+]] = arith.index_cast %[[S]] : i64 to index
// CHECK: %[[LB:.+]] = arith.maxsi %[[SI]], %c0
// CHECK: scf.for %{{.+}} = %[[LB]] to
func.func @attention_key_starts(%q: tensor<?x?x64xf32>, %k: tensor<?x?x32xf32>, %s: tensor<?xi64>) -> tensor<?x?x64xf32> {
  %0 = lowmem.attention %q, %k, %k key_starts(%s : tensor<?xi64>) {causal, num_heads = 4 : i64, num_kv_heads = 2 : i64, scale = 0.25 : f64} : tensor<?x?x64xf32>, tensor<?x?x32xf32>, tensor<?x?x32xf32> -> tensor<?x?x64xf32>
  return %0 : tensor<?x?x64xf32>
}
