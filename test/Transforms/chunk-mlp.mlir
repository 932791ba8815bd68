// RUN: lowmem-opt %s -split-input-file -verify-diagnostics --lowmem-chunk-mlp="rows=4" | FileCheck %s
// RUN: not lowmem-opt %s -split-input-file --lowmem-chunk-mlp="rows=0" 2>&1 | FileCheck %s --check-prefix=ZERO

// ZERO: error: lowmem-chunk-mlp: rows must be positive, got 0

// A gated MLP (intermediate 48 on a 16-wide model) whose intermediate also
// feeds a weight gradient: the ops around the SwiGLU run 4 positions of the
// sequence at a time. %x enters as chunks; the output is written chunk by
// chunk into a full tensor; the gradient is summed over the chunks from
// zero; its reader (the scale) moves after the loop.

// CHECK-LABEL: func.func @mlp
// CHECK-SAME: (%[[X:[^:]+]]: tensor<?x?x16xf32>, %[[WG:[^:]+]]: tensor<48x16xf32>, %[[WU:[^:]+]]: tensor<48x16xf32>, %[[WD:[^:]+]]: tensor<16x48xf32>, %[[DY:[^:]+]]: tensor<?x?x16xf32>)
// CHECK-NOT: lowmem.swiglu
// CHECK-DAG: %[[B:.+]] = tensor.dim %[[X]], %c0
// CHECK-DAG: %[[S:.+]] = tensor.dim %[[X]], %c1
// CHECK-DAG: %[[FOUR:.+]] = arith.constant 4 : index
// CHECK: %[[FULL:.+]] = tensor.empty(%[[B]], %[[S]]) : tensor<?x?x16xf32>
// CHECK: %[[SUMINIT:.+]] = linalg.fill {{.*}} -> tensor<16x48xf32>
// CHECK: %[[LOOP:.+]]:2 = scf.for %[[I:.+]] = %{{.+}} to %[[S]] step %[[FOUR]] iter_args(%[[Y:.+]] = %[[FULL]], %[[ACC:.+]] = %[[SUMINIT]])
// CHECK: %[[LEFT:.+]] = arith.subi %[[S]], %[[I]]
// CHECK: %[[N:.+]] = arith.minsi %[[FOUR]], %[[LEFT]]
// CHECK-DAG: %[[XS:.+]] = tensor.extract_slice %[[X]][0, %[[I]], 0] [%[[B]], %[[N]], 16] [1, 1, 1]
// CHECK-DAG: %[[DYS:.+]] = tensor.extract_slice %[[DY]][0, %[[I]], 0] [%[[B]], %[[N]], 16] [1, 1, 1]
// CHECK: %[[G:.+]] = lowmem.linear %[[XS]], %[[WG]]
// CHECK: %[[U:.+]] = lowmem.linear %[[XS]], %[[WU]]
// CHECK: %[[A:.+]] = lowmem.swiglu %[[G]], %[[U]]
// CHECK: %[[DW:.+]] = lowmem.weight_grad %[[DYS]], %[[A]]
// CHECK: %[[YS:.+]] = lowmem.linear %[[A]], %[[WD]] residual(%[[XS]]
// CHECK: %[[DEST:.+]] = tensor.extract_slice %[[Y]][0, %[[I]], 0] [%[[B]], %[[N]], 16] [1, 1, 1]
// CHECK: %[[W:.+]] = linalg.copy ins(%[[YS]] : tensor<?x?x16xf32>) outs(%[[DEST]] : tensor<?x?x16xf32>)
// CHECK: %[[INS:.+]] = tensor.insert_slice %[[W]] into %[[Y]][0, %[[I]], 0] [%[[B]], %[[N]], 16] [1, 1, 1]
// CHECK: %[[SUM:.+]] = linalg.add ins(%[[ACC]], %[[DW]] : {{.*}}) outs(%[[ACC]] : tensor<16x48xf32>)
// CHECK: scf.yield %[[INS]], %[[SUM]]
// CHECK: %[[SCALED:.+]] = lowmem.scale %[[LOOP]]#1
// CHECK: return %[[LOOP]]#0, %[[SCALED]]
func.func @mlp(%x: tensor<?x?x16xf32>, %wg: tensor<48x16xf32>, %wu: tensor<48x16xf32>, %wd: tensor<16x48xf32>, %dy: tensor<?x?x16xf32>) -> (tensor<?x?x16xf32>, tensor<16x48xf32>) {
  %g = lowmem.linear %x, %wg : tensor<?x?x16xf32>, tensor<48x16xf32> -> tensor<?x?x48xf32>
  %u = lowmem.linear %x, %wu : tensor<?x?x16xf32>, tensor<48x16xf32> -> tensor<?x?x48xf32>
  %a = lowmem.swiglu %g, %u : tensor<?x?x48xf32>
  %dw = lowmem.weight_grad %dy, %a {scale = 1.0 : f64} : tensor<?x?x16xf32>, tensor<?x?x48xf32> -> tensor<16x48xf32>
  %s = lowmem.scale %dw {factor = 2.0 : f64} : tensor<16x48xf32>
  %y = lowmem.linear %a, %wd residual(%x : tensor<?x?x16xf32>) : tensor<?x?x48xf32>, tensor<16x48xf32> -> tensor<?x?x16xf32>
  return %y, %s : tensor<?x?x16xf32>, tensor<16x48xf32>
}

// -----

// An op that does not work row by row in the cluster (dropout numbers its
// elements) leaves the MLP whole.
// CHECK-LABEL: func.func @dropout
// CHECK-NOT: scf.for
func.func @dropout(%x: tensor<?x?x16xf32>, %wg: tensor<48x16xf32>, %wu: tensor<48x16xf32>, %wd: tensor<16x48xf32>, %hyper: tensor<4xf32>) -> tensor<?x?x16xf32> {
  %g = lowmem.linear %x, %wg : tensor<?x?x16xf32>, tensor<48x16xf32> -> tensor<?x?x48xf32>
  %u = lowmem.linear %x, %wu : tensor<?x?x16xf32>, tensor<48x16xf32> -> tensor<?x?x48xf32>
  %a = lowmem.swiglu %g, %u : tensor<?x?x48xf32>
  // expected-remark @below {{MLP not chunked: this op does not work row by row}}
  %d = lowmem.dropout %a, %hyper {probability = 0.1 : f64, stream = 1 : i64} : tensor<?x?x48xf32>
  %y = lowmem.linear %d, %wd : tensor<?x?x48xf32>, tensor<16x48xf32> -> tensor<?x?x16xf32>
  return %y : tensor<?x?x16xf32>
}

// -----

// A row sum read inside the cluster needs every chunk first.
// CHECK-LABEL: func.func @sum_inside
// CHECK-NOT: scf.for
func.func @sum_inside(%x: tensor<?x?x16xf32>, %wg: tensor<48x16xf32>, %wu: tensor<48x16xf32>) -> tensor<?x?x16xf32> {
  %g = lowmem.linear %x, %wg : tensor<?x?x16xf32>, tensor<48x16xf32> -> tensor<?x?x48xf32>
  %u = lowmem.linear %x, %wu : tensor<?x?x16xf32>, tensor<48x16xf32> -> tensor<?x?x48xf32>
  %a = lowmem.swiglu %g, %u : tensor<?x?x48xf32>
  %dw = lowmem.weight_grad %x, %a {scale = 1.0 : f64} : tensor<?x?x16xf32>, tensor<?x?x48xf32> -> tensor<16x48xf32>
  // expected-remark @below {{MLP not chunked: a sum over the rows is read inside the MLP}}
  %y = lowmem.linear %a, %dw : tensor<?x?x48xf32>, tensor<16x48xf32> -> tensor<?x?x16xf32>
  return %y : tensor<?x?x16xf32>
}

// -----

// Rows of static length are left alone: the chunks' types would differ.
// CHECK-LABEL: func.func @static_rows
// CHECK-NOT: scf.for
func.func @static_rows(%x: tensor<2x8x16xf32>, %wg: tensor<48x16xf32>, %wu: tensor<48x16xf32>) -> tensor<2x8x48xf32> {
  %g = lowmem.linear %x, %wg : tensor<2x8x16xf32>, tensor<48x16xf32> -> tensor<2x8x48xf32>
  %u = lowmem.linear %x, %wu : tensor<2x8x16xf32>, tensor<48x16xf32> -> tensor<2x8x48xf32>
  // expected-remark @below {{MLP not chunked: its result is not a row tensor of static width}}
  %a = lowmem.swiglu %g, %u : tensor<2x8x48xf32>
  return %a : tensor<2x8x48xf32>
}
