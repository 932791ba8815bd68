// Launches whose threads run together (warp shuffles, shared memory and
// barriers) run as host loops, in MLIR's JIT, and give what a GPU gives.
//
// RUN: lowmem-opt %s --lowmem-emulate-launches %lower-tensors-to-llvm | %mlir-runner | FileCheck %s

func.func private @printMemrefF32(memref<*xf32>)

// Two blocks of two warps. Thread t of block b holds x = 100 b + t. Each
// warp sums its x by xor shuffles; lane 0 of each warp puts the sum in
// shared memory; after a barrier, thread 0 adds the two into sums[b].
// Every thread also keeps the sum its warp's shuffles gave it in all[b, t].
func.func @block_sum(%sums: memref<2xf32>, %all: memref<2x64xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c2 = arith.constant 2 : index
  %c32 = arith.constant 32 : index
  %c64 = arith.constant 64 : index
  %w = arith.constant 32 : i32
  gpu.launch blocks(%b, %by, %bz) in (%gx = %c2, %gy = %c1, %gz = %c1)
             threads(%t, %ty, %tz) in (%bx = %c64, %sby = %c1, %sbz = %c1)
             workgroup(%partial : memref<2xf32, #gpu.address_space<workgroup>>) {
    %base = arith.muli %b, %c64 : index
    %base2 = arith.addi %base, %base : index
    %flat = arith.addi %base2, %t : index
    %hundreds = arith.muli %b, %c32 : index
    %hb = arith.addi %hundreds, %hundreds : index
    %xi = arith.addi %flat, %hb : index
    %xi2 = arith.subi %xi, %base2 : index
    %xi3 = arith.subi %xi2, %hb : index
    %x0 = arith.index_cast %t : index to i32
    %xf = arith.sitofp %x0 : i32 to f32
    %bi = arith.index_cast %b : index to i32
    %bf = arith.sitofp %bi : i32 to f32
    %hundred = arith.constant 100.0 : f32
    %bh = arith.mulf %bf, %hundred : f32
    %x = arith.addf %xf, %bh : f32
    %o16 = arith.constant 16 : i32
    %o8 = arith.constant 8 : i32
    %o4 = arith.constant 4 : i32
    %o2 = arith.constant 2 : i32
    %o1 = arith.constant 1 : i32
    %s16, %v16 = gpu.shuffle xor %x, %o16, %w : f32
    %a16 = arith.addf %x, %s16 : f32
    %s8, %v8 = gpu.shuffle xor %a16, %o8, %w : f32
    %a8 = arith.addf %a16, %s8 : f32
    %s4, %v4 = gpu.shuffle xor %a8, %o4, %w : f32
    %a4 = arith.addf %a8, %s4 : f32
    %s2, %v2 = gpu.shuffle xor %a4, %o2, %w : f32
    %a2 = arith.addf %a4, %s2 : f32
    %s1, %v1 = gpu.shuffle xor %a2, %o1, %w : f32
    %sum = arith.addf %a2, %s1 : f32
    memref.store %sum, %all[%b, %t] : memref<2x64xf32>
    %lane = arith.remui %t, %c32 : index
    %warp = arith.divui %t, %c32 : index
    %leader = arith.cmpi eq, %lane, %c0 : index
    scf.if %leader {
      memref.store %sum, %partial[%warp] : memref<2xf32, #gpu.address_space<workgroup>>
    }
    gpu.barrier
    %first = arith.cmpi eq, %t, %c0 : index
    scf.if %first {
      %p0 = memref.load %partial[%c0] : memref<2xf32, #gpu.address_space<workgroup>>
      %p1 = memref.load %partial[%c1] : memref<2xf32, #gpu.address_space<workgroup>>
      %total = arith.addf %p0, %p1 : f32
      memref.store %total, %sums[%b] : memref<2xf32>
    }
    gpu.terminator
  }
  return
}

// One warp; lane l holds l. down 1, up 3 and idx 5: out of range, a lane
// keeps its own value and valid is false.
func.func @modes(%out: memref<4x32xf32>) {
  %c1 = arith.constant 1 : index
  %c32 = arith.constant 32 : index
  %c0 = arith.constant 0 : index
  %c2 = arith.constant 2 : index
  %c3 = arith.constant 3 : index
  %c4 = arith.constant 4 : index
  %w = arith.constant 32 : i32
  %one = arith.constant 1 : i32
  %three = arith.constant 3 : i32
  %five = arith.constant 5 : i32
  %f1 = arith.constant 1.0 : f32
  %f0 = arith.constant 0.0 : f32
  gpu.launch blocks(%b, %by, %bz) in (%gx = %c1, %gy = %c1, %gz = %c1)
             threads(%t, %ty, %tz) in (%bx = %c32, %sby = %c1, %sbz = %c1) {
    %ti = arith.index_cast %t : index to i32
    %x = arith.sitofp %ti : i32 to f32
    %d, %dv = gpu.shuffle down %x, %one, %w : f32
    %u, %uv = gpu.shuffle up %x, %three, %w : f32
    %i, %iv = gpu.shuffle idx %x, %five, %w : f32
    memref.store %d, %out[%c0, %t] : memref<4x32xf32>
    memref.store %u, %out[%c1, %t] : memref<4x32xf32>
    memref.store %i, %out[%c2, %t] : memref<4x32xf32>
    %both = arith.andi %dv, %uv : i1
    %bothf = arith.select %both, %f1, %f0 : f32
    memref.store %bothf, %out[%c3, %t] : memref<4x32xf32>
    gpu.terminator
  }
  return
}

// Shuffles inside a loop and a branch that each warp takes as one: two
// warps, the loop runs (warp + 2) times, each time adding the next lane's
// running value (down 1) to a lane's own; only warp 1 then takes the
// branch, which broadcasts lane 0's value (idx 0) and yields it.
func.func @control(%out: memref<64xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c2 = arith.constant 2 : index
  %c32 = arith.constant 32 : index
  %c64 = arith.constant 64 : index
  %w = arith.constant 32 : i32
  %one = arith.constant 1 : i32
  %zero = arith.constant 0 : i32
  %f1 = arith.constant 1.0 : f32
  gpu.launch blocks(%b, %by, %bz) in (%gx = %c1, %gy = %c1, %gz = %c1)
             threads(%t, %ty, %tz) in (%bx = %c64, %sby = %c1, %sbz = %c1) {
    %warp = arith.divui %t, %c32 : index
    %trips = arith.addi %warp, %c2 : index
    %lane = arith.remui %t, %c32 : index
    %li = arith.index_cast %lane : index to i32
    %x = arith.sitofp %li : i32 to f32
    %acc = scf.for %k = %c0 to %trips step %c1 iter_args(%a = %x) -> (f32) {
      %n, %nv = gpu.shuffle down %a, %one, %w : f32
      %next = arith.addf %a, %n : f32
      scf.yield %next : f32
    }
    %second = arith.cmpi eq, %warp, %c1 : index
    %r = scf.if %second -> (f32) {
      %s, %sv = gpu.shuffle idx %acc, %zero, %w : f32
      scf.yield %s : f32
    } else {
      scf.yield %acc : f32
    }
    memref.store %r, %out[%t] : memref<64xf32>
    gpu.terminator
  }
  return
}

// Barriers inside a loop and a branch that the whole block takes: a block
// of 64 threads scans 0..63 through shared memory by doubling steps
// (Hillis-Steele): 8 trips, the last 2 past the block (d >= 64) keeping
// their values; each step's reads and writes are separated by barriers.
// Then, %scan being set, thread t writes its sum plus 1000 after one more
// barrier.
func.func @scan(%out: memref<64xf32>, %scan: i1) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c2 = arith.constant 2 : index
  %c8 = arith.constant 8 : index
  %c64 = arith.constant 64 : index
  %f1000 = arith.constant 1000.0 : f32
  %zero = arith.constant 0.0 : f32
  gpu.launch blocks(%b, %by, %bz) in (%gx = %c1, %gy = %c1, %gz = %c1)
             threads(%t, %ty, %tz) in (%bx = %c64, %sby = %c1, %sbz = %c1)
             workgroup(%buf : memref<64xf32, #gpu.address_space<workgroup>>) {
    %ti = arith.index_cast %t : index to i32
    %x = arith.sitofp %ti : i32 to f32
    memref.store %x, %buf[%t] : memref<64xf32, #gpu.address_space<workgroup>>
    gpu.barrier
    %last = scf.for %step = %c0 to %c8 step %c1 iter_args(%d = %c1) -> (index) {
      %more = arith.cmpi ult, %d, %c64 : index
      %from = arith.subi %t, %d : index
      %has = arith.cmpi uge, %t, %d : index
      %own = memref.load %buf[%t] : memref<64xf32, #gpu.address_space<workgroup>>
      %add = scf.if %has -> (f32) {
        %v = memref.load %buf[%from] : memref<64xf32, #gpu.address_space<workgroup>>
        scf.yield %v : f32
      } else {
        scf.yield %zero : f32
      }
      %sum = arith.addf %own, %add : f32
      gpu.barrier
      %keep = arith.select %more, %sum, %own : f32
      memref.store %keep, %buf[%t] : memref<64xf32, #gpu.address_space<workgroup>>
      gpu.barrier
      %next = arith.muli %d, %c2 : index
      scf.yield %next : index
    }
    scf.if %scan {
      gpu.barrier
      %v = memref.load %buf[%t] : memref<64xf32, #gpu.address_space<workgroup>>
      %w = arith.addf %v, %f1000 : f32
      memref.store %w, %out[%t] : memref<64xf32>
    }
    gpu.terminator
  }
  return
}

// The same without the barrier that ends each step: a warp that has stored
// its step's sums goes on to the next step's reads while the other warp has
// not stored yet, a race on a GPU; the emulation runs each warp's end of a
// step and start of the next in one piece, so the race shows.
func.func @scan_racy(%out: memref<64xf32>, %scan: i1) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c2 = arith.constant 2 : index
  %c8 = arith.constant 8 : index
  %c64 = arith.constant 64 : index
  %f1000 = arith.constant 1000.0 : f32
  %zero = arith.constant 0.0 : f32
  gpu.launch blocks(%b, %by, %bz) in (%gx = %c1, %gy = %c1, %gz = %c1)
             threads(%t, %ty, %tz) in (%bx = %c64, %sby = %c1, %sbz = %c1)
             workgroup(%buf : memref<64xf32, #gpu.address_space<workgroup>>) {
    %ti = arith.index_cast %t : index to i32
    %x = arith.sitofp %ti : i32 to f32
    memref.store %x, %buf[%t] : memref<64xf32, #gpu.address_space<workgroup>>
    gpu.barrier
    %last = scf.for %step = %c0 to %c8 step %c1 iter_args(%d = %c1) -> (index) {
      %more = arith.cmpi ult, %d, %c64 : index
      %from = arith.subi %t, %d : index
      %has = arith.cmpi uge, %t, %d : index
      %own = memref.load %buf[%t] : memref<64xf32, #gpu.address_space<workgroup>>
      %add = scf.if %has -> (f32) {
        %v = memref.load %buf[%from] : memref<64xf32, #gpu.address_space<workgroup>>
        scf.yield %v : f32
      } else {
        scf.yield %zero : f32
      }
      %sum = arith.addf %own, %add : f32
      gpu.barrier
      %keep = arith.select %more, %sum, %own : f32
      memref.store %keep, %buf[%t] : memref<64xf32, #gpu.address_space<workgroup>>
      %next = arith.muli %d, %c2 : index
      scf.yield %next : index
    }
    scf.if %scan {
      gpu.barrier
      %v = memref.load %buf[%t] : memref<64xf32, #gpu.address_space<workgroup>>
      %w = arith.addf %v, %f1000 : f32
      memref.store %w, %out[%t] : memref<64xf32>
    }
    gpu.terminator
  }
  return
}

func.func @main() {
  %sums = memref.alloc() : memref<2xf32>
  %all = memref.alloc() : memref<2x64xf32>
  call @block_sum(%sums, %all) : (memref<2xf32>, memref<2x64xf32>) -> ()
  %s = memref.cast %sums : memref<2xf32> to memref<*xf32>
  call @printMemrefF32(%s) : (memref<*xf32>) -> ()
  // 0 + ... + 63 = 2016; block 1 adds 64 * 100.
  // CHECK: [2016, 8416]
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c31 = arith.constant 31 : index
  %c32 = arith.constant 32 : index
  %corners = memref.alloc() : memref<4xf32>
  %a0 = memref.load %all[%c0, %c0] : memref<2x64xf32>
  %a1 = memref.load %all[%c0, %c31] : memref<2x64xf32>
  %a2 = memref.load %all[%c0, %c32] : memref<2x64xf32>
  %a3 = memref.load %all[%c1, %c32] : memref<2x64xf32>
  %i0 = arith.constant 0 : index
  %i1 = arith.constant 1 : index
  %i2 = arith.constant 2 : index
  %i3 = arith.constant 3 : index
  memref.store %a0, %corners[%i0] : memref<4xf32>
  memref.store %a1, %corners[%i1] : memref<4xf32>
  memref.store %a2, %corners[%i2] : memref<4xf32>
  memref.store %a3, %corners[%i3] : memref<4xf32>
  %cs = memref.cast %corners : memref<4xf32> to memref<*xf32>
  call @printMemrefF32(%cs) : (memref<*xf32>) -> ()
  // Warps sum 0..31 = 496 and 32..63 = 1520; block 1's second warp 1520 + 3200.
  // CHECK: [496, 496, 1520, 4720]

  %modes = memref.alloc() : memref<4x32xf32>
  call @modes(%modes) : (memref<4x32xf32>) -> ()
  %m = memref.cast %modes : memref<4x32xf32> to memref<*xf32>
  call @printMemrefF32(%m) : (memref<*xf32>) -> ()
  // CHECK: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 31]
  // CHECK: [0, 1, 2, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28]
  // CHECK: [5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5]
  // CHECK: [0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0]

  %ctl = memref.alloc() : memref<64xf32>
  call @control(%ctl) : (memref<64xf32>) -> ()
  %c = memref.cast %ctl : memref<64xf32> to memref<*xf32>
  call @printMemrefF32(%c) : (memref<*xf32>) -> ()
  // Warp 0, two steps: lane l holds l + 2(l+1) + (l+2) = 4l + 4, but the
  // last lanes, past the warp's end, add their own value again. Warp 1,
  // three steps, then every lane gets lane 0's 12.
  // CHECK: [4, 8, 12, 16, 20, 24, 28, 32, 36, 40, 44, 48, 52, 56, 60, 64, 68, 72, 76, 80, 84, 88, 92, 96, 100, 104, 108, 112, 116, 120, 123, 124, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12]
  %sc = memref.alloc() : memref<64xf32>
  %true = arith.constant true
  call @scan(%sc, %true) : (memref<64xf32>, i1) -> ()
  %scu = memref.cast %sc : memref<64xf32> to memref<*xf32>
  call @printMemrefF32(%scu) : (memref<*xf32>) -> ()
  // Thread t: 0 + 1 + ... + t, plus 1000.
  // CHECK: [1000, 1001, 1003, 1006, 1010, 1015, 1021, 1028, 1036, 1045, 1055, 1066, 1078, 1091, 1105, 1120, 1136, 1153, 1171, 1190, 1210, 1231, 1253, 1276, 1300, 1325, 1351, 1378, 1406, 1435, 1465, 1496, 1528, 1561, 1595, 1630, 1666, 1703, 1741, 1780, 1820, 1861, 1903, 1946, 1990, 2035, 2081, 2128, 2176, 2225, 2275, 2326, 2378, 2431, 2485, 2540, 2596, 2653, 2711, 2770, 2830, 2891, 2953, 3016]
  call @scan_racy(%sc, %true) : (memref<64xf32>, i1) -> ()
  call @printMemrefF32(%scu) : (memref<*xf32>) -> ()
  // CHECK-NOT: [1000, 1001, 1003, 1006, 1010, 1015, 1021, 1028, 1036, 1045, 1055, 1066, 1078, 1091, 1105, 1120, 1136, 1153, 1171, 1190, 1210, 1231, 1253, 1276, 1300, 1325, 1351, 1378, 1406, 1435, 1465, 1496, 1528, 1561, 1595, 1630, 1666, 1703, 1741, 1780, 1820, 1861, 1903, 1946, 1990, 2035, 2081, 2128, 2176, 2225, 2275, 2326, 2378, 2431, 2485, 2540, 2596, 2653, 2711, 2770, 2830, 2891, 2953, 3016]
  %end = memref.alloc() : memref<1xf32>
  %c7 = arith.constant 7.0 : f32
  memref.store %c7, %end[%c0] : memref<1xf32>
  %endu = memref.cast %end : memref<1xf32> to memref<*xf32>
  call @printMemrefF32(%endu) : (memref<*xf32>) -> ()
  // CHECK: [7]
  memref.dealloc %end : memref<1xf32>
  memref.dealloc %sc : memref<64xf32>
  memref.dealloc %sums : memref<2xf32>
  memref.dealloc %all : memref<2x64xf32>
  memref.dealloc %corners : memref<4xf32>
  memref.dealloc %modes : memref<4x32xf32>
  memref.dealloc %ctl : memref<64xf32>
  return
}
