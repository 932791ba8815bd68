// The generation ops lowered to linalg and run in MLIR's JIT, on values
// worked out by hand.
//
// RUN: lowmem-opt %s --convert-lowmem-to-linalg %lower-tensors-to-llvm | %mlir-runner | FileCheck %s
// RUN: lowmem-opt %s --convert-lowmem-to-linalg %emulate-cuda-to-llvm | %mlir-runner | FileCheck %s
// RUN: lowmem-opt %s --convert-lowmem-to-gpu --convert-lowmem-to-linalg %emulate-cuda-to-llvm | %mlir-runner | FileCheck %s

func.func private @printMemrefF32(tensor<*xf32>)
func.func private @printMemrefI64(tensor<*xi64>)

#id = affine_map<(d0, d1, d2) -> (d0, d1, d2)>

func.func @main() {
  // quantize_groups, groups of 2: scale = max|x| / 127, code = x / scale
  // rounded half away from zero.
  //   (1, -2):     scale 2/127,   codes (63.5 -> 64, -127)
  //   (0.5, 0.25): scale 0.5/127, codes (127, 63.5 -> 64)
  //   (0, 0):      scale 0,       codes (0, 0)
  //   (-3, 1):     scale 3/127,   codes (-127, 42.33 -> 42)
  %x = arith.constant dense<[[[1.0, -2.0, 0.5, 0.25], [0.0, 0.0, -3.0, 1.0]]]> : tensor<1x2x4xf32>
  %codes, %scales = lowmem.quantize_groups %x {group_size = 2 : i64} : tensor<1x2x4xf32> -> tensor<1x2x4xi8>, tensor<1x2x2xf32>
  %e = tensor.empty() : tensor<1x2x4xf32>
  %codes_f = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel", "parallel"]} ins(%codes : tensor<1x2x4xi8>) outs(%e : tensor<1x2x4xf32>) {
  ^bb0(%c: i8, %o: f32):
    %f = arith.sitofp %c : i8 to f32
    linalg.yield %f : f32
  } -> tensor<1x2x4xf32>
  %codes_u = tensor.cast %codes_f : tensor<1x2x4xf32> to tensor<*xf32>
  call @printMemrefF32(%codes_u) : (tensor<*xf32>) -> ()
  // CHECK: sizes = [1, 2, 4]
  // CHECK-NEXT: {{\[\[\[}}64, -127, 127, 64],
  // CHECK-NEXT: [0, 0, -127, 42]]]
  %scales_u = tensor.cast %scales : tensor<1x2x2xf32> to tensor<*xf32>
  call @printMemrefF32(%scales_u) : (tensor<*xf32>) -> ()
  // CHECK: sizes = [1, 2, 2]
  // CHECK-NEXT: {{\[\[\[}}0.015748, 0.00393701],
  // CHECK-NEXT: [0, 0.023622]]]

  // argmax: the first of ties; a NaN wins; all -inf gives 0.
  %nan = arith.constant 0x7FC00000 : f32
  %l = arith.constant dense<[[1.0, 3.0, 3.0, 2.0], [4.0, 5.0, 7.0, 1.0], [0xFF800000, 0xFF800000, 0xFF800000, 0xFF800000]]> : tensor<3x4xf32>
  %c1 = arith.constant 1 : index
  %c2 = arith.constant 2 : index
  %ln = tensor.insert %nan into %l[%c1, %c2] : tensor<3x4xf32>
  %n = lowmem.argmax %ln : tensor<3x4xf32> -> tensor<3xi64>
  %n_u = tensor.cast %n : tensor<3xi64> to tensor<*xi64>
  call @printMemrefI64(%n_u) : (tensor<*xi64>) -> ()
  // CHECK: sizes = [3]
  // CHECK-NEXT: [1, 2, 0]

  // cache_update: two f32 rows written at position 1 of an f16 cache of 4,
  // rounded to f16 (1/3 -> 0.333252); the other positions unchanged.
  %cache = arith.constant dense<[[[9.0], [9.0], [9.0], [9.0]]]> : tensor<1x4x1xf16>
  %rows = arith.constant dense<[[[0.333333343], [2.0]]]> : tensor<1x2x1xf32>
  %w = lowmem.cache_update %rows into %cache[%c1] : tensor<1x2x1xf32> into tensor<1x4x1xf16>
  %e2 = tensor.empty() : tensor<1x4x1xf32>
  %w_f = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel", "parallel"]} ins(%w : tensor<1x4x1xf16>) outs(%e2 : tensor<1x4x1xf32>) {
  ^bb0(%h: f16, %o: f32):
    %f = arith.extf %h : f16 to f32
    linalg.yield %f : f32
  } -> tensor<1x4x1xf32>
  %w_u = tensor.cast %w_f : tensor<1x4x1xf32> to tensor<*xf32>
  call @printMemrefF32(%w_u) : (tensor<*xf32>) -> ()
  // CHECK: sizes = [1, 4, 1]
  // CHECK-NEXT: {{\[\[\[}}9],
  // CHECK-NEXT: [0.333252],
  // CHECK-NEXT: [2],
  // CHECK-NEXT: [9]]]

  // f16 rows into a bf16 cache (the same width) go through f32:
  // 0.333252 -> 0.333984.
  %bcache = arith.constant dense<[[[1.0]]]> : tensor<1x1x1xbf16>
  %hrows = arith.constant dense<[[[0.333252]]]> : tensor<1x1x1xf16>
  %c0 = arith.constant 0 : index
  %bw = lowmem.cache_update %hrows into %bcache[%c0] : tensor<1x1x1xf16> into tensor<1x1x1xbf16>
  %e3 = tensor.empty() : tensor<1x1x1xf32>
  %bw_f = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel", "parallel"]} ins(%bw : tensor<1x1x1xbf16>) outs(%e3 : tensor<1x1x1xf32>) {
  ^bb0(%h: bf16, %o: f32):
    %f = arith.extf %h : bf16 to f32
    linalg.yield %f : f32
  } -> tensor<1x1x1xf32>
  %bw_u = tensor.cast %bw_f : tensor<1x1x1xf32> to tensor<*xf32>
  call @printMemrefF32(%bw_u) : (tensor<*xf32>) -> ()
  // CHECK: sizes = [1, 1, 1]
  // CHECK-NEXT: {{\[\[\[}}0.333984]]]
  return
}
