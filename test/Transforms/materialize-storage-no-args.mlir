// RUN: lowmem-opt %s -split-input-file --lowmem-materialize-storage | FileCheck %s

// BUG: expandArguments() in MaterializeStorage.cpp starts its loop at
// `int64_t idx = func.getNumArguments() - 1`, which is computed in unsigned
// arithmetic: for a function without arguments it is 4294967295, not -1, and
// func.getArgument(4294967295) crashes lowmem-opt. Every function without
// arguments is affected, whether or not it contains lowmem ops.

// CHECK-LABEL: func.func @no_arguments()
// CHECK-NEXT: return
func.func @no_arguments() {
  return
}

// -----

// A constant weight in a function without arguments is still folded.

// CHECK-LABEL: func.func @constant_weight_no_arguments()
// CHECK-DAG: [[C:%.+]] = arith.constant dense<-1> : tensor<16xi8>
// CHECK-DAG: [[M:%.+]] = arith.constant dense<5.000000e-01> : tensor<1xf32>
// CHECK: [[Q:%.+]] = lowmem.assemble [[C]], [[M]] : tensor<16xi8>, tensor<1xf32> -> <4x8xf32, nf4, block = 64>
// CHECK: return [[Q]]
func.func @constant_weight_no_arguments() -> !lowmem.qtensor<4x8xf32, nf4> {
  %w = arith.constant dense<0.5> : tensor<4x8xf32>
  %q = lowmem.quantize %w : tensor<4x8xf32> -> !lowmem.qtensor<4x8xf32, nf4>
  return %q : !lowmem.qtensor<4x8xf32, nf4>
}
