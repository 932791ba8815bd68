// RUN: lowmem-opt %s --lowmem-plan-memory="report-peak=2" -o /dev/null 2>&1 | FileCheck %s
// RUN: lowmem-opt %s --lowmem-plan-memory -o /dev/null 2>&1 | count 0

// report-peak=N names, for each family, the top-level op where the most
// bytes are live and the N largest buffers live there: what to shrink to
// lower the peak. Here three ?x8 buffers (64 bytes a row after alignment)
// and one ?x32 buffer (128 bytes a row): %a, %big and %b are live together
// at op 7 (%b's allocation), 256 bytes a row; %c reuses %a's slot. Notes
// point at the allocations (lines 33 and 26 of this file).

// CHECK: remark: activations per constant: 64 bytes live at op 11 (packed in 64), 1 buffers
// CHECK: report-peak.mlir:49:8: note: 64 bytes, 'memref<16xf32>', live over ops 11..12
// CHECK: remark: activations per arg0.d0: 256 bytes live at op 7 (packed in 256), 3 buffers
// CHECK: report-peak.mlir:33:10: note: 128 bytes, 'memref<?x32xf32>', live over ops 5..8
// CHECK: report-peak.mlir:26:8: note: 64 bytes, 'memref<?x8xf32>', live over ops 3..8
// CHECK-NOT: note: 64 bytes
// CHECK-NOT: remark

#id = affine_map<(d0, d1) -> (d0, d1)>
#row = affine_map<(d0, d1) -> (d0, 0)>

func.func @peak(%x: memref<?x8xf32>, %out: memref<?x8xf32>) {
  %c0 = arith.constant 0 : index
  %cst = arith.constant 0.0 : f32
  %n = memref.dim %x, %c0 : memref<?x8xf32>
  %a = memref.alloc(%n) : memref<?x8xf32>
  linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%x : memref<?x8xf32>) outs(%a : memref<?x8xf32>) {
  ^bb0(%i: f32, %o: f32):
    %r = arith.maximumf %i, %cst : f32
    linalg.yield %r : f32
  }
  %big = memref.alloc(%n) : memref<?x32xf32>
  linalg.fill ins(%cst : f32) outs(%big : memref<?x32xf32>)
  %b = memref.alloc(%n) : memref<?x8xf32>
  linalg.generic {indexing_maps = [#id, #row, #id], iterator_types = ["parallel", "parallel"]}
      ins(%a, %big : memref<?x8xf32>, memref<?x32xf32>) outs(%b : memref<?x8xf32>) {
  ^bb0(%i: f32, %j: f32, %o: f32):
    %r = arith.addf %i, %j : f32
    linalg.yield %r : f32
  }
  %c = memref.alloc(%n) : memref<?x8xf32>
  linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%b : memref<?x8xf32>) outs(%c : memref<?x8xf32>) {
  ^bb0(%i: f32, %o: f32):
    %r = arith.negf %i : f32
    linalg.yield %r : f32
  }
  %t = memref.alloc() : memref<16xf32>
  linalg.fill ins(%cst : f32) outs(%t : memref<16xf32>)
  memref.copy %c, %out : memref<?x8xf32> to memref<?x8xf32>
  return
}
