// RUN: lowmem-opt %s --split-input-file --lowmem-cpu-threads | FileCheck %s

// A marked parallel loop becomes a task and a call of the runtime over its
// iterations, numbered 0 to the trip count. The memref, the index and the
// trip count it uses from above travel in the context struct (allocated at
// the function's entry, before the loop around the call); the constants
// are cloned, and the stack scratch allocated again in the task, one for
// each thread. The unmarked loop stays.
// CHECK-LABEL: func.func @scale_columns(
// CHECK-SAME: [[OUT:%[a-z0-9]+]]: memref<4x32xf32>, [[ROWS:%[a-z0-9]+]]: index
// CHECK: [[CTX:%.+]] = llvm.alloca %{{.+}} x !llvm.struct<(struct<(ptr, ptr, i64, array<2 x i64>, array<2 x i64>)>, i64, i64)>
// CHECK: memref.alloca() : memref<16xf32>
// CHECK: scf.for
// CHECK: [[TRIPS:%.+]] = arith.ceildivui %{{.+}}, %c16 : index
// CHECK: [[TOTAL:%.+]] = arith.muli %{{.+}}, [[TRIPS]] : index
// CHECK: [[F0:%.+]] = llvm.getelementptr [[CTX]]{{\[}}0, 0]
// CHECK: [[D:%.+]] = builtin.unrealized_conversion_cast [[OUT]] : memref<4x32xf32> to !llvm.struct<(ptr, ptr, i64, array<2 x i64>, array<2 x i64>)>
// CHECK: llvm.store [[D]], [[F0]]
// CHECK: [[F1:%.+]] = llvm.getelementptr [[CTX]]{{\[}}0, 1]
// CHECK: [[R:%.+]] = arith.index_cast [[ROWS]] : index to i64
// CHECK: llvm.store [[R]], [[F1]] : i64, !llvm.ptr
// CHECK: [[TASK:%.+]] = {{(func\.)?}}constant @scale_columns_task0 : (!llvm.ptr, index, index) -> ()
// CHECK: call @lowmem_parallel_for([[TASK]], [[CTX]], %{{.+}}, [[TOTAL]], %{{.+}}) : ((!llvm.ptr, index, index) -> (), !llvm.ptr, index, index, index) -> ()
// CHECK-NOT: lowmem.cpu_threads
// CHECK: scf.parallel
// CHECK: return
// CHECK-LABEL: func.func private @scale_columns_task0(
// CHECK-SAME: [[C:%[a-z0-9]+]]: !llvm.ptr, [[BEGIN:%[a-z0-9]+]]: index, [[END:%[a-z0-9]+]]: index)
// CHECK-DAG: arith.constant 2.000000e+00 : f32
// CHECK-DAG: [[SCRATCH:%.+]] = memref.alloca() : memref<16xf32>
// CHECK: [[L0:%.+]] = llvm.load %{{.+}} : !llvm.ptr -> !llvm.struct<(ptr, ptr, i64, array<2 x i64>, array<2 x i64>)>
// CHECK: [[M:%.+]] = builtin.unrealized_conversion_cast [[L0]] : !llvm.struct<(ptr, ptr, i64, array<2 x i64>, array<2 x i64>)> to memref<4x32xf32>
// CHECK: [[L1:%.+]] = llvm.load %{{.+}} : !llvm.ptr -> i64
// CHECK: [[N:%.+]] = arith.index_cast [[L1]] : i64 to index
// CHECK: scf.for [[I:%.+]] = [[BEGIN]] to [[END]] step %{{.+}} {
// CHECK: [[OFF:%.+]] = arith.muli [[I]], %c16 : index
// CHECK: [[J:%.+]] = arith.addi %c0, [[OFF]] : index
// CHECK: memref.store %{{.+}}, [[SCRATCH]]
// CHECK: scf.for %{{.+}} = %{{.+}} to [[N]]
// CHECK: memref.store %{{.+}}, [[M]][%{{.+}}, [[J]]]
// CHECK: return
// CHECK: func.func private @lowmem_parallel_for((!llvm.ptr, index, index) -> (), !llvm.ptr, index, index, index)
func.func @scale_columns(%out: memref<4x32xf32>, %rows: index) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c2 = arith.constant 2 : index
  %c16 = arith.constant 16 : index
  %c32 = arith.constant 32 : index
  %two = arith.constant 2.0 : f32
  %scratch = memref.alloca() : memref<16xf32>
  scf.for %rep = %c0 to %c2 step %c1 {
    scf.parallel (%j) = (%c0) to (%c32) step (%c16) {
      memref.store %two, %scratch[%c0] : memref<16xf32>
      %s = memref.load %scratch[%c0] : memref<16xf32>
      scf.for %i = %c0 to %rows step %c1 {
        memref.store %s, %out[%i, %j] : memref<4x32xf32>
      }
      scf.reduce
    } {lowmem.cpu_threads}
  }
  scf.parallel (%j) = (%c0) to (%c32) step (%c16) {
    memref.store %two, %out[%c0, %j] : memref<4x32xf32>
    scf.reduce
  }
  return
}

// -----

// Two dimensions with a dynamic bound and step: the task turns each
// iteration's number back into its induction variables, the last dimension
// fastest (remainder, then quotient, by its trip count).
// CHECK-LABEL: func.func @rows_and_columns(
// CHECK: [[T0:%.+]] = arith.ceildivui %{{.+}}, %c1 : index
// CHECK: [[T1:%.+]] = arith.ceildivui %{{.+}}, %{{.+}} : index
// CHECK: call @lowmem_parallel_for(
// CHECK-LABEL: func.func private @rows_and_columns_task0(
// CHECK: scf.for [[I:%.+]] = %{{.+}} to %{{.+}} step %{{.+}} {
// CHECK: [[COL:%.+]] = arith.remui [[I]], [[TRIP1:%.+]] : index
// CHECK: arith.muli [[COL]], [[STEP:%.+]] : index
// CHECK: [[ROW:%.+]] = arith.divui [[I]], [[TRIP1]] : index
// CHECK: arith.muli [[ROW]], %c1 : index
// CHECK: memref.store
func.func @rows_and_columns(%out: memref<?x32xf32>, %rows: index, %step: index) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c32 = arith.constant 32 : index
  %two = arith.constant 2.0 : f32
  scf.parallel (%i, %j) = (%c0, %c0) to (%rows, %c32) step (%c1, %step) {
    memref.store %two, %out[%i, %j] : memref<?x32xf32>
    scf.reduce
  } {lowmem.cpu_threads}
  return
}
