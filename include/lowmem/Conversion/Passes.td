//===- Passes.td - lowmem conversion passes ----------------*- tablegen -*-===//
//
// Part of the lowmem project.
//
//===----------------------------------------------------------------------===//

#ifndef LOWMEM_CONVERSION_PASSES_TD
#define LOWMEM_CONVERSION_PASSES_TD

include "mlir/Pass/PassBase.td"

def ConvertLowMemToLinalg
    : Pass<"convert-lowmem-to-linalg", "::mlir::func::FuncOp"> {
  let summary = "Lower lowmem ops to linalg on tensors";
  let description = [{
    Lowers every lowmem op to `linalg.generic` ops on tensors. A `qlinear`
    becomes one matrix-product generic whose body decodes the packed weight
    codes and scales from the storage of a `lowmem.assemble` (run
    `lowmem-materialize-storage` first), so the dequantized weight never
    exists as a tensor; its epilogue (bias, activation, residual) is a second
    elementwise generic. The transformer ops (embedding, rms_norm, rope,
    swiglu) become generics too; `attention` becomes loops over buffers (a
    parallel loop over batch, head and query, the keys streamed with an
    online softmax into the output row), so no score matrix exists.
  }];
  let options = [
    Option<"tablesInRegisters", "tables-in-registers", "bool",
           /*default=*/"false",
           "Keep the code tables (NF4, FP4, the dynamic map) in vector "
           "constants instead of constant tensors (the pipelines use "
           "constant tensors, whose globals lowmem-sink-globals gives to "
           "the kernels that read them: a vector read at a varying index "
           "lives in each thread's local memory)">
  ];
  let dependentDialects = ["::mlir::linalg::LinalgDialect",
                           "::mlir::tensor::TensorDialect",
                           "::mlir::vector::VectorDialect",
                           "::mlir::arith::ArithDialect",
                           "::mlir::math::MathDialect",
                           "::mlir::bufferization::BufferizationDialect",
                           "::mlir::memref::MemRefDialect",
                           "::mlir::scf::SCFDialect"];
}

def ConvertLowMemToCPU : Pass<"convert-lowmem-to-cpu", "::mlir::ModuleOp"> {
  let summary = "Lower lowmem matrix products to loop nests for a CPU's "
                "vector registers";
  let description = [{
    Replaces `lowmem.linear` and `lowmem.qlinear` (whose storage is explicit:
    run `lowmem-materialize-storage` first) on f32 inputs of rank 2 or more,
    transposed or not, by loops over buffers at the tensor level, as
    `convert-lowmem-to-gpu` does: the operands are read through
    `bufferization.to_buffer` (slices in place), the result is a fresh
    `memref.alloc` returned by a restricted `bufferization.to_tensor`. Other
    ops, and these on other shapes (a dynamic k or n), are left to
    `convert-lowmem-to-linalg`.

    The weight is taken one panel at a time: 16 output features by
    `panel-depth` inputs, decoded into an f32 scratch of that size (runs of
    8 weights from one vector load where a stored row of W holds whole runs;
    one weight at a time otherwise). Every row of x then takes the panel, 4
    rows together: each step along k broadcasts one input of each row
    against two 8-wide vectors of the panel's weights, into 4 × 2 vector
    accumulators that live in registers (`vector.fma`). A sum starts from
    the bias at the first panel and from the result at the others; the last
    applies the activation and adds the residual. A weight is decoded once
    for all the rows of x, where the generic lowering decodes it once per
    row, and the scratch is the only decoded copy of the weight: 16 ×
    `panel-depth` f32 values on the stack (16 KB by default), one buffer at
    the entry of each function that the products of the function share.

    Below 4 rows of x (a decode step; chosen on the host when the rows are
    dynamic), a product whose weight is not transposed and whose rows hold
    whole runs skips the panel: each row of W is decoded, 8 weights from one
    vector load at a time, straight into a vector accumulator of its dot
    product with each row of x, which is then summed and stored with the
    epilogue.

    The panels (and the groups of 16 features of the dot products) are the
    iterations of an `scf.parallel` marked `lowmem.cpu_threads`, which
    `lowmem-cpu-threads` gives to the runtime's threads; without it they
    run in order.

    Example: `lowmem-opt --lowmem-materialize-storage --convert-lowmem-to-cpu
    --convert-lowmem-to-linalg`.
  }];
  let options = [
    Option<"panelDepth", "panel-depth", "int64_t", /*default=*/"256",
           "Inputs of a decoded panel of the weight (a multiple of 8)">
  ];
  let dependentDialects = ["::mlir::bufferization::BufferizationDialect",
                           "::mlir::memref::MemRefDialect",
                           "::mlir::scf::SCFDialect",
                           "::mlir::vector::VectorDialect",
                           "::mlir::arith::ArithDialect"];
}

def LowMemCPUThreads : Pass<"lowmem-cpu-threads", "::mlir::ModuleOp"> {
  let summary = "Run convert-lowmem-to-cpu's parallel loops on the runtime's "
                "threads";
  let description = [{
    Outlines each `scf.parallel` marked `lowmem.cpu_threads` (a matrix
    product's loop over panels of output features; the CPU lowering's
    loops over the rows of attention, its gradient and the fused head and
    loss: loops whose iterations write disjoint parts of their buffers) into
    a private task function `@<function>_task<N>(context: !llvm.ptr, begin:
    index, end: index)` that runs the iterations numbered [begin, end) in
    row-major order (each number turned back into the induction variables,
    the last dimension fastest), and replaces the loop by a call of the
    runtime's `lowmem_parallel_for(task, context, 0, iterations, 1)`. The
    runtime splits the numbers into contiguous ranges, one for each thread
    of its pool (LOWMEM_NUM_THREADS, or one per core), the caller taking the
    first, and returns when all have run; each iteration runs on one thread
    in the order it had, so the results do not depend on the number of
    threads.

    The values the body uses from above travel in a context struct
    allocated on the caller's stack at the function's entry: a memref as
    its LLVM descriptor, an index as i64, anything else as its LLVM type.
    Constants and module globals are cloned into the task, and a stack
    buffer (the panel scratch) is allocated again in the task, so that each
    thread decodes into its own.

    Run it on bufferized IR, before the lowering to LLVM (the CPU pipeline
    runs it first in `lowmem-cpu-to-llvm-pipeline`). Without it, the loops
    run in order on the calling thread.
  }];
  let dependentDialects = ["::mlir::LLVM::LLVMDialect",
                           "::mlir::func::FuncDialect",
                           "::mlir::scf::SCFDialect",
                           "::mlir::arith::ArithDialect"];
}

def ConvertLowMemToGPU : Pass<"convert-lowmem-to-gpu", "::mlir::ModuleOp"> {
  let summary = "Lower lowmem matrix products, norms, attention, the fused "
                "head and cross-entropy (and their gradients) and argmax to "
                "GPU kernels";
  let description = [{
    Replaces `lowmem.linear` and `lowmem.qlinear` (whose storage is explicit:
    run `lowmem-materialize-storage` first) on f32 inputs of rank 2 or more,
    `lowmem.group_norm` on rank-2 f32 operands, and f32 `lowmem.attention`,
    `lowmem.attention_grad`, `lowmem.linear_cross_entropy` and its gradient,
    `lowmem.rms_norm` and `lowmem.argmax` by
    `gpu.launch` kernels, at the tensor level: the operands are read through
    `bufferization.to_buffer` (slices in place, through strided views), the
    result is a fresh `memref.alloc` returned by a restricted
    `bufferization.to_tensor`, so one-shot bufferization and memory planning
    treat it like any other buffer. Other ops, and these on other shapes,
    are left to `convert-lowmem-to-linalg`.

    A matrix product is one kernel: each warp computes one output feature for
    `batch-tile` rows of the input (the leading dimensions of an input of
    higher rank are its rows). Lanes stream the weight row in 16-byte
    vector loads (32 packed 4-bit codes, 16 int8 codes, 8 f16/bf16 or 4 f32
    values), decode them in registers, with the NF4/FP4 table and the double
    quantization's dynamic map staged in shared memory, and accumulate in
    f32; a butterfly of warp shuffles sums the lanes and lane 0 applies the
    bias, the activation and the residual before the only store. No decoded
    weight is written anywhere. From `tiled-from` input rows on (prefill,
    training), a product whose k is a multiple of 32 and whose n is 64 or
    more takes the tiled kernel instead, chosen on the host when the rows
    are dynamic: one block of 256 threads for each 64 × 64 tile of the
    result; at each step of 32 along k, every thread loads a run of 8
    inputs of a row of x and decodes a run of 8 weights of a row of W (one
    vector load) into shared memory, and after a barrier accumulates its 4
    × 4 outputs from the two tiles, so a weight is decoded once for 64 rows
    and each input read once for 64 features; same epilogue. A transposed
    product (`transposed`, the input gradient x · W of a linear layer) is
    one kernel whose threads each compute 4 rows × 8 columns of the result:
    a thread walks the rows of W, decoding its 8 weights of each from one
    vector load (a warp's loads coalesced) for all 4 rows, with the same
    epilogue; its threads share nothing. A group_norm is one kernel with one
    block per row and group and two block reductions (mean, then variance).
    `lowmem-emulate-launches` runs every one of these kernels on the host.
    Each launch names its outlined kernel after what it computes
    (`lowmem_linear`, `lowmem_linear_tiled`, `lowmem_attention_grad_dq`,
    ...), the name PTX, ptxas and the runtime's kernel profile show.

    Attention streams each (batch row, query, head)'s keys with an online
    softmax, its lanes holding the head dimension (coalesced key and value
    loads, widened from a KV cache's f16, bf16 or int8 as they load; the dot
    product a butterfly of shuffles); no score matrix exists. From 8 queries
    on (chosen on the host when the queries are dynamic), one warp streams a
    row and a block holds 8 neighbouring rows, which read the same keys
    together; below (a decode step), a block of 8 warps takes a row, each
    warp every 8th key, and the warps combine their maxima, sums and rows
    through shared memory, so a step still runs 256 threads for each head.
    Its gradient is three kernels of one warp a row, recomputing each score
    as they go: the row's logsumexp and D = dO · O (kept, 8 bytes a row),
    then the keys again for dq, then, one warp per (batch row, kv head,
    key), the queries of the group's heads that see the key for dk and dv;
    no atomics and no shared memory. The fused language model head and
    cross-entropy is one warp for each input row, streaming every row of the
    weight (any format; its lanes decode runs of 8 values, one vector load
    each) with an online logsumexp; its input gradient streams them again,
    each decoded run serving the dot product and then the row's gradient,
    which the lanes hold in registers until the one store. The mean loss
    over the rows is a linalg reduction. rms_norm and argmax run a block
    of 256 threads per row (a block reduction of the squares; of the best
    value and its index, ties to the first index and NaN first, as numpy).

    Example: `lowmem-opt --lowmem-materialize-storage
    --convert-lowmem-to-gpu="batch-tile=2"`.
  }];
  let options = [
    Option<"warpsPerBlock", "warps-per-block", "int64_t", /*default=*/"4",
           "Warps of a matrix-product block, one output feature each "
           "(1 to 32)">,
    Option<"batchTile", "batch-tile", "int64_t", /*default=*/"4",
           "Input rows a warp computes at once (1 to 16)">,
    Option<"tiledFrom", "tiled-from", "int64_t", /*default=*/"32",
           "Input rows from which a matrix product takes the tiled kernel "
           "(64 × 64 tiles of the result through shared memory), the warp "
           "kernel below; 0: never">
  ];
  let dependentDialects = ["::mlir::gpu::GPUDialect",
                           "::mlir::bufferization::BufferizationDialect",
                           "::mlir::linalg::LinalgDialect",
                           "::mlir::math::MathDialect",
                           "::mlir::memref::MemRefDialect",
                           "::mlir::scf::SCFDialect",
                           "::mlir::tensor::TensorDialect",
                           "::mlir::vector::VectorDialect",
                           "::mlir::arith::ArithDialect",
                           "::mlir::LLVM::LLVMDialect"];
}

def LowMemAlignSharedMemory
    : Pass<"lowmem-align-shared-memory", "::mlir::gpu::GPUModuleOp"> {
  let summary = "Align the workgroup memory of outlined kernels";
  let description = [{
    Sets `llvm.align` on every workgroup attribution of the module's
    `gpu.func`s that has a smaller alignment or none, so that the NVVM
    lowering declares the buffer with that alignment (without one it is
    `.align 4`): the tiled matrix product reads its shared tiles 16 bytes at
    a time, which a 4-byte-aligned buffer would make a misaligned access.

    Example: `lowmem-opt --pass-pipeline='builtin.module(gpu.module(lowmem-align-shared-memory))'`.
  }];
  let options = [
    Option<"alignment", "alignment", "int64_t", /*default=*/"16",
           "Bytes, a power of 2">
  ];
}

def LowMemGPUMath : Pass<"lowmem-gpu-math", "::mlir::gpu::GPUModuleOp"> {
  let summary = "Lower math in GPU kernels without libdevice";
  let description = [{
    MLIR's NVVM lowering turns `math` ops into calls to CUDA's libdevice
    (`__nv_sqrtf`, `__nv_expf`, ...), which are linked only when the
    compiler finds a CUDA toolkit at compile time; otherwise the PTX holds
    unresolved calls that the driver rejects at run time. This pass makes
    kernels independent of the toolkit, and their precision independent of
    libdevice's defaults:

    - `math.sqrt`, `math.floor`, `math.ceil` and `math.trunc` become NVVM
      intrinsics, single correctly rounded PTX instructions (`sqrt.rn.f32`,
      `cvt.rmi.f32.f32`, ...); `math.rsqrt` a division by such a square
      root; `math.fma` LLVM's fma (`fma.rn`);
    - `math.absf` and `math.copysign` become operations on the sign bit;
      `math.isnan`, `math.isinf`, `math.isfinite` and `math.absi`
      comparisons and selects;
    - `exp`, `log`, `log1p`, `expm1`, `sin`, `cos`, `tanh`, `erf` and the
      other functions MLIR approximates become polynomial approximations in
      `arith` ops (f16 and bf16 computed in f32).

    A `math` op left over (but the bit counts, which the NVVM lowering
    handles), or an `arith.remf`, has no lowering without libdevice: the
    pass fails and names it.

    Example: `lowmem-opt --pass-pipeline='builtin.module(gpu.module(lowmem-gpu-math))'`.
  }];
  let dependentDialects = ["::mlir::LLVM::LLVMDialect",
                           "::mlir::arith::ArithDialect",
                           "::mlir::vector::VectorDialect"];
}

def LowMemDedupKernels : Pass<"lowmem-dedup-kernels", "::mlir::ModuleOp"> {
  let summary = "Keep one GPU module of each set of identical outlined kernels";
  let description = [{
    Kernel outlining makes one `gpu.module` for each `gpu.launch`, and a
    model repeats the same layer: a decoder's 28 layers launch 28 copies of
    each of its kernels, which the NVVM backend compiles 28 times and the
    binary embeds 28 times. This pass compares the GPU modules as they
    print, their own and their kernels' names aside, keeps the first of
    each set of identical ones, points every `gpu.launch_func` of the others
    at it and erases them. Run it after outlining (and after
    `lowmem-gpu-math`), before the NVVM lowering.

    Example: `lowmem-opt --gpu-kernel-outlining --lowmem-dedup-kernels`.
  }];
}

def LowMemCheckKernelBounds
    : Pass<"lowmem-check-kernel-bounds", "::mlir::func::FuncOp"> {
  let summary = "Check each memory access of a GPU kernel against its "
                "buffer's shape";
  let description = [{
    Puts a `cf.assert` before each `memref.load`, `memref.store`,
    `memref.atomic_rmw`, `vector.load` and `vector.store` inside a
    `gpu.launch`: every index is at least 0 and, with the elements a vector
    access covers from it, within the buffer's size in its dimension. The
    message names the kernel (the launch's `function`, or the
    `<function>_kernel` that outlining names it), the access and its
    location. Accesses that are in bounds statically get no check.

    A kernel that reads or writes outside a buffer makes a GPU fault
    (CUDA error 700, with no hint of which kernel or buffer), or silently
    reads another buffer of the arena. With this pass the kernel traps
    instead (`__assertfail`, which prints the message with the block and
    thread), and the emulation (`lowmem-emulate-launches`) stops the
    program with the message. `lowmem-compile --check-bounds` and the CUDA
    pipeline's `check-bounds` option run it; the emulation always does.

    Example: `lowmem-opt --lowmem-check-kernel-bounds`.
  }];
  let dependentDialects = ["::mlir::cf::ControlFlowDialect",
                           "::mlir::arith::ArithDialect",
                           "::mlir::memref::MemRefDialect"];
}

def LowMemSinkGlobals : Pass<"lowmem-sink-globals", "::mlir::func::FuncOp"> {
  let summary = "Read constant globals inside the GPU kernels that use them";
  let description = [{
    A `memref.get_global` of a constant global (a rope's frequencies, a
    code table) outside a `gpu.launch` whose body reads it would reach the
    kernel as an argument: the address of the host's copy, which the GPU
    cannot read. This pass moves such reads (with the constants they need)
    into each launch body that uses them, so that kernel outlining copies
    the global into the kernel's GPU module. Run it before outlining.

    Example: `lowmem-opt --lowmem-sink-globals --gpu-kernel-outlining`.
  }];
  let dependentDialects = ["::mlir::gpu::GPUDialect",
                           "::mlir::memref::MemRefDialect"];
}

def LowMemSinkScalarReads
    : Pass<"lowmem-sink-scalar-reads", "::mlir::func::FuncOp"> {
  let summary = "Read the scalars of tensors inside the generics that use "
                "them";
  let description = [{
    A `tensor.extract` outside any `linalg.generic` (an optimizer's learning
    rate, the loss it checks, a step number) becomes a host load after
    bufferization; on the GPU that load reads device memory from the host
    and faults. This pass clones each such read, and the scalar arithmetic
    on it, into the body of every `linalg.generic`, `scf.parallel` or
    `gpu.launch` that uses the result, so the kernel reads the scalar
    itself. On tensors
    nothing can change the value in between, so the move is always sound;
    reads with other users stay (`lowmem-host-loops-to-gpu` deals with them
    after bufferization). Run it on tensors, before bufferization.

    Example: `lowmem-opt --lowmem-sink-scalar-reads` turns
    `%lr = tensor.extract %hyper[%c0]` used in a generic's body into the
    same extract at the start of that body.
  }];
  let dependentDialects = ["::mlir::linalg::LinalgDialect",
                           "::mlir::tensor::TensorDialect"];
}

def LowMemHostLoopsToGPU
    : Pass<"lowmem-host-loops-to-gpu", "::mlir::func::FuncOp"> {
  let summary = "Run the serial loops and scalar code that touch buffers "
                "on the GPU";
  let description = [{
    After `convert-linalg-to-parallel-loops`, a reduction to a scalar (a
    loss summed over every token) is a nest of `scf.for` with no
    `scf.parallel` around it, and a generic on 0-d tensors is bare loads and
    stores: neither would become a kernel, and the host would read and
    write device memory. This pass wraps each run of such code (the memory
    operations, the loops that contain them and the arithmetic on what they
    read) in a one-iteration `scf.parallel`, which `gpu-map-parallel-loops`
    and `convert-parallel-loops-to-gpu` turn into a one-thread kernel. A
    `memref.copy` on the host (a memcpy of device memory) becomes a parallel
    loop of loads and stores, that is, a kernel.

    A value read from a buffer that host code itself needs (a loop bound, a
    branch condition, a value passed on) cannot move into a kernel: the
    pass reports it as an error at the read, rather than compiling a binary
    that faults. So is any other op left on the host that reads or writes a
    buffer not on the host's stack (an atomic, a vector load or store); a
    call passes its buffers on (a callee of the module has its own host
    code checked; an external one is the runtime's). Runs of code between
    kernels stay in order.

    Example: `lowmem-opt --convert-linalg-to-parallel-loops
    --lowmem-host-loops-to-gpu --gpu-map-parallel-loops
    --convert-parallel-loops-to-gpu`.
  }];
  let dependentDialects = ["::mlir::scf::SCFDialect"];
}

def LowMemEmulateLaunches
    : Pass<"lowmem-emulate-launches", "::mlir::ModuleOp"> {
  let summary = "Run kernel launches as loops on the host, for testing";
  let description = [{
    Rewrites each `gpu.launch` into host loops, so that the CUDA pipeline's
    kernels (`convert-lowmem-to-gpu`'s hand-written ones and the mapped
    loops of `lowmem-sink-scalar-reads`, `lowmem-host-loops-to-gpu`,
    `lowmem-map-parallel-loops` and the upstream mappers) run, and are
    checked against the CPU backend, on a machine without a GPU: the
    `emulate` option of the CUDA pipeline and `lowmem-compile --target=cuda
    --emulate-gpu` build such host binaries.

    A launch whose threads share nothing becomes a nest of `scf.for` over
    its blocks and threads (z, y, x, each counted down), with the ids and
    dimensions the body reads replaced by the loops' values; a body that
    allocates on the stack (a thread's private memory) saves and restores
    the stack pointer around each thread.

    A launch whose threads run together (`gpu.barrier`, `gpu.shuffle`,
    workgroup memory) must have a 1-D block of whole warps of constant size.
    Its blocks run one after another; each block's body is cut at its
    barriers and at its shuffles. Between two cuts, each warp runs the code
    as a loop over its lanes; a barrier ends the loops over all warps, a
    shuffle the loop over a warp's lanes, and the shuffle then reads every
    lane's value (out of range, a lane keeps its own, as the hardware does).
    An `scf.for` or `scf.if` holding a barrier runs once for the block, one
    holding only shuffles once for each warp: every thread of the block, or
    lane of the warp, must agree on its bounds or condition, which the
    emulated program checks, stopping with a message on standard error if
    not (a barrier or shuffle in divergent code is undefined on a GPU). In
    a loop holding a barrier, each warp runs the end of an iteration (after
    its last barrier) and then the start of the next (up to its first)
    before the next warp runs its end, as a warp may on a GPU: a loop over
    shared tiles that lacks the barrier ending each iteration gives a wrong
    answer here too. A value that one piece computes and another reads
    is kept per thread in a stack buffer of the block. Workgroup memory is a
    stack buffer; a one-dimensional float one is filled with NaN at the
    start of each block so that a read before any write shows. Shuffles
    must have the constant width 32.

    Warps and lanes run last first: a kernel whose threads depend on one
    another's writes without a barrier, a race on a GPU, then gives another
    answer than the CPU backend's loops, which run first to last.

    A `cf.assert` in a launch (`lowmem-check-kernel-bounds` puts one before
    each access) stops the program with its message, prefixed by
    "emulated", on standard error.

    An asynchronous launch, one with clusters, dynamic shared memory or
    private attributions, one using another `gpu` op, or a cooperative
    launch outside the shape above, is reported as an error.

    Example: `lowmem-opt --convert-parallel-loops-to-gpu
    --lowmem-emulate-launches`.
  }];
  let dependentDialects = ["::mlir::scf::SCFDialect",
                           "::mlir::LLVM::LLVMDialect",
                           "::mlir::arith::ArithDialect",
                           "::mlir::memref::MemRefDialect"];
}

def LowMemMapParallelLoops
    : Pass<"lowmem-map-parallel-loops", "::mlir::func::FuncOp"> {
  let summary = "Map parallel loops to GPU blocks of 256 threads";
  let description = [{
    `gpu-map-parallel-loops` maps the first three dimensions of a parallel
    loop to the grid, gives each block one thread, and runs the other
    dimensions serially: an elementwise op over [seq, 8960] used one of a
    warp's 32 lanes, and a rank-4 loop ran its rows one after another.

    This pass flattens each outermost `scf.parallel` (without reductions)
    into blocks of 256 threads, one thread per point of the iteration space,
    the last dimension fastest so that neighbouring threads touch
    neighbouring elements; threads past the end do nothing. Parallel loops
    nested inside run serially in their thread, as `scf.for` nests. Loops it
    leaves (with reductions, or holding one) are mapped by
    `gpu-map-parallel-loops` as before.

    Example: `lowmem-opt --lowmem-map-parallel-loops --gpu-map-parallel-loops
    --convert-parallel-loops-to-gpu`.
  }];
  let dependentDialects = ["::mlir::gpu::GPUDialect",
                           "::mlir::scf::SCFDialect",
                           "::mlir::arith::ArithDialect"];
}

#endif // LOWMEM_CONVERSION_PASSES_TD
