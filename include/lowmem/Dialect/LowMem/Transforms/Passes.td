//===- Passes.td - lowmem graph passes ---------------------*- tablegen -*-===//
//
// Part of the lowmem project.
//
//===----------------------------------------------------------------------===//

#ifndef LOWMEM_DIALECT_LOWMEM_TRANSFORMS_PASSES_TD
#define LOWMEM_DIALECT_LOWMEM_TRANSFORMS_PASSES_TD

include "mlir/Pass/PassBase.td"

def LowMemAttachLora : Pass<"lowmem-attach-lora", "ModuleOp"> {
  let summary = "Add trainable low-rank adapters to linear layers";
  let description = [{
    For every `lowmem.linear` or `lowmem.qlinear` whose weight is a function
    argument marked `lowmem.param = "P.weight"` (and, when `targets` is
    given, whose layer `P` is listed there), adds two trainable arguments,
    `P.lora_A.weight : [r, in]` and `P.lora_B.weight : [out, r]` (PEFT's
    names without its `base_model.model.` prefix), and adds the adapter
    branch `lowmem.lora` to the layer's output before its activation and
    residual. The base weights are left as they are: frozen, in whatever
    format they have or will get.

    Example: `lowmem-opt --lowmem-attach-lora="rank=8 alpha=16 rslora"`
  }];
  let options = [
    Option<"rank", "rank", "int64_t", /*default=*/"8",
           "Adapter rank r (positive)">,
    Option<"alpha", "alpha", "double", /*default=*/"8.0",
           "Scaling numerator: s = alpha / r (alpha / sqrt(r) with rslora)">,
    Option<"rslora", "rslora", "bool", /*default=*/"false",
           "Rank-stabilized scaling alpha / sqrt(r)">,
    Option<"dropout", "dropout", "double", /*default=*/"0.0",
           "Dropout probability on the adapter's input when training">,
    ListOption<"targets", "targets", "std::string",
               "Layers to adapt (exact names such as model.0.model.2, or "
               "prefixes ending in '.'); default: every linear layer">
  ];
  let dependentDialects = ["::mlir::lowmem::LowMemDialect"];
}

def LowMemQuantizeWeights : Pass<"lowmem-quantize-weights", "ModuleOp"> {
  let summary = "Store the weights of linear layers in a quantized format";
  let description = [{
    Every function argument marked `lowmem.param` whose only users are
    `lowmem.linear` ops (as their weight) or a language model's fused head
    and loss (`lowmem.linear_cross_entropy` and its gradient, as their
    weight), and that is not trainable, becomes a `!lowmem.qtensor` of the
    chosen format; linear users become `lowmem.qlinear`, the fused head
    reads the quantized weight as it is. Weights that are not function
    arguments are wrapped in `lowmem.quantize`. Parameters named in `skip`
    (exact names, or prefixes ending in `.`) keep full precision. A weight
    a half-precision checkpoint stores (the importer's f16 or bf16
    `!lowmem.qtensor`, read by `lowmem.qlinear`) is re-stored the same way
    (the runtime converts it while loading); one the checkpoint stores in a
    4-bit or int8 format keeps that format.

    `override` entries `NAME=FORMAT` give the parameters they name (exact
    names, or prefixes ending in `.`; the first entry that matches wins) a
    format of their own, with that format's default block size and double
    quantization where the format has it and `double-quant` is set; `f32`
    keeps full precision. Only an override stores an embedding table
    (`lowmem.embedding`) in another format, as bitsandbytes leaves
    embeddings alone.

    Example: `lowmem-opt --lowmem-quantize-weights="format=nf4 double-quant"`
  }];
  let options = [
    Option<"format", "format", "std::string", /*default=*/"\"nf4\"",
           "Storage format: f16, bf16, int4, nf4, fp4 or int8">,
    Option<"blockSize", "block-size", "int64_t", /*default=*/"0",
           "Block size of block formats (0: the format's default)">,
    Option<"doubleQuant", "double-quant", "bool", /*default=*/"false",
           "Quantize the block scales too (nf4 and fp4)">,
    ListOption<"skip", "skip", "std::string",
               "Parameters (exact names or prefixes ending in '.') to keep "
               "in full precision">,
    ListOption<"overrides", "override", "std::string",
               "Per-parameter formats: NAME=FORMAT (NAME exact or a prefix "
               "ending in '.'; FORMAT f32 keeps full precision)">
  ];
  let dependentDialects = ["::mlir::lowmem::LowMemDialect"];
}

def LowMemFuse : Pass<"lowmem-fuse", "::mlir::func::FuncOp"> {
  let summary = "Fuse dequantization and epilogues into linear layers";
  let description = [{
    Rewrites `linear(x, dequantize(q))` into `qlinear(x, q)` so that no
    full-precision copy of a quantized weight is materialized, and folds a
    single-use linear layer's following `relu` and residual `add` into its
    epilogue. After this pass a `dequantize` remains only where a consumer
    genuinely needs the full-precision tensor.
  }];
  let dependentDialects = ["::mlir::lowmem::LowMemDialect"];
}

def LowMemMaterializeStorage
    : Pass<"lowmem-materialize-storage", "ModuleOp"> {
  let summary = "Make the storage of quantized weights explicit";
  let description = [{
    Replaces every function argument of `!lowmem.qtensor` type by the
    tensors that store it (codes, block scales, nested scales, offset), each
    carrying the parameter's `lowmem.param` name and its `lowmem.part`, and
    rebuilds the quantized value with `lowmem.assemble`. `lowmem.quantize` of
    a constant is evaluated at compile time with the quantization library.
    After this pass the runtime's calling convention is fully visible in the
    function signature.
  }];
  let dependentDialects = ["::mlir::lowmem::LowMemDialect",
                           "::mlir::arith::ArithDialect"];
}

def LowMemPlanMemory : Pass<"lowmem-plan-memory", "::mlir::func::FuncOp"> {
  let summary = "Place temporary buffers in one statically planned arena";
  let description = [{
    Runs on bufferized functions. Computes the live range of every top-level
    `memref.alloc` (through its aliases), then packs the buffers into a
    single arena with a best-fit interval packing, separately for each
    family of sizes (constant, or a constant times the same product of
    dynamic input dimensions). Each planned alloc becomes a `memref.view`
    into a new trailing `memref<?xi8>` argument marked `lowmem.arena`.
    Buffers returned from the function, and buffers that may be aliased
    through an operation that is not a view, stay heap allocations; with
    `results-in-arena` (code whose buffers live in device memory, where the
    compiled code has no allocator), returned buffers are planned in the
    arena too, live until the function returns, and a buffer that cannot
    be planned is an error. The
    Gradients (buffers read by an op that writes a trainable parameter
    argument, the optimizer step) are packed in families of their own at
    the start of the arena. With `lowmem.checkpoint_budget = [bytes, batch]`
    or `[bytes, batch, length]` (see lowmem-checkpoint) an arena larger than
    the budget at those sizes (each argument's k-th dynamic dimension
    taking the k-th size) is an error. The
    predicted arena and heap sizes are attached to the function as
    `lowmem.arena_size` and `lowmem.heap_size` (and the gradients' part of
    the arena as `lowmem.arena_gradients_size`), each a list of terms
    `[coefficient, [arg, dim], ...]` whose sum gives the size in bytes for
    the actual input dimensions. With `offload`, an activation that is live
    but idle (no use) at its family's peak is split around that gap: it is
    copied (`linalg.copy`) into a second trailing argument marked
    `lowmem.host_arena` after its last use before the gap and back into the
    arena before its first use after it, views of it being made again
    there; repeated until nothing live at the peak is idle. The host arena's
    size is attached as `lowmem.host_arena_size`. With `report-peak=N`, a remark on the
    function names, for each family, the point where the most bytes are
    live and the N largest buffers live there, each with its location: what
    to shrink to lower the peak.
  }];
  let options = [
    Option<"alignment", "alignment", "int64_t", /*default=*/"64",
           "Alignment in bytes of every planned buffer">,
    Option<"resultsInArena", "results-in-arena", "bool",
           /*default=*/"false",
           "Plan returned buffers in the arena too, and fail on any buffer "
           "that cannot be planned (no heap allocation is left)">,
    Option<"reportPeak", "report-peak", "int64_t", /*default=*/"0",
           "Emit a remark naming the N largest buffers live at each "
           "family's peak (0: none)">,
    Option<"offload", "offload", "bool", /*default=*/"false",
           "Move activations idle across the arena's peak to a host arena "
           "meanwhile (copied out after their last use before the peak, "
           "back before their first use after it)">
  ];
  let dependentDialects = ["::mlir::memref::MemRefDialect",
                           "::mlir::arith::ArithDialect",
                           "::mlir::linalg::LinalgDialect"];
}

def LowMemDifferentiate : Pass<"lowmem-differentiate", "ModuleOp"> {
  let summary = "Turn a model function into a compiled training step";
  let description = [{
    Replaces the function `entry`, whose single result is the model's
    prediction, by the training step `step-name`: the forward, the loss
    against a new input `target` (marked `lowmem.input = "target"`), the
    reverse sweep that computes the gradients of the parameters marked
    `lowmem.trainable` (and of nothing else: activity analysis skips every
    value that does not depend on a trainable parameter), and the optimizer
    update.

    A `lowmem.lora` with dropout gets a `lowmem.dropout` on its input whose
    mask is drawn from the step number (`hyper[3]`; the hyperparameters
    argument is added even with `optimizer=none`) and a stream numbered in
    forward order; the backward applies the same dropout to the gradient.

    Frozen weights get no gradient; the input gradient of a linear layer is
    `lowmem.linear`/`lowmem.qlinear` `transposed` on the same weight, so a
    weight quantized later is never dequantized into a stored copy. Values
    the backward needs are read from the forward (ReLU outputs, layer
    inputs); group statistics and the small LoRA intermediates `x · Aᵀ` are
    recomputed.

    With `optimizer=none` the step returns the loss (attribute `lowmem.loss`)
    then the gradients in the order of the trainable arguments (attribute
    `lowmem.grad = "name"`). With `sgd` or `adamw`, the step takes the
    optimizer state (f32, PyTorch's names: `P.momentum_buffer`, or
    `P.exp_avg` and `P.exp_avg_sq`, marked `lowmem.state`) and the run-time
    hyperparameters (`tensor<4xf32>` marked `lowmem.hyper`, see
    `lowmem.sgd`), and returns the loss then the updated parameters and
    state (`lowmem.update = "name"`), which bufferization writes in place.
    Each optimizer step is placed right after the last op that reads the
    parameter it overwrites, so that a gradient is consumed as soon as it is
    final instead of every gradient living until the end of the step.

    Example: `lowmem-opt --lowmem-differentiate="optimizer=adamw"`
  }];
  let options = [
    Option<"entry", "entry", "std::string", /*default=*/"\"forward\"",
           "The model function">,
    Option<"stepName", "step-name", "std::string",
           /*default=*/"\"train_step\"", "Name of the training step">,
    Option<"loss", "loss", "std::string", /*default=*/"\"mse\"",
           "Loss: mse (mean squared error against the target, shaped as "
           "the prediction) or cross_entropy (the prediction holds logits "
           "[..., classes], the target one i64 class a row)">,
    Option<"optimizer", "optimizer", "std::string", /*default=*/"\"adamw\"",
           "none (return the gradients), sgd or adamw">,
    Option<"momentum", "momentum", "double", /*default=*/"0.0",
           "SGD momentum">,
    Option<"weightDecay", "weight-decay", "double", /*default=*/"0.0",
           "Weight decay (SGD: added to the gradient; AdamW: decoupled)">,
    Option<"beta1", "beta1", "double", /*default=*/"0.9", "AdamW beta1">,
    Option<"beta2", "beta2", "double", /*default=*/"0.999", "AdamW beta2">,
    Option<"epsilon", "epsilon", "double", /*default=*/"1.0e-8",
           "AdamW epsilon">
  ];
  let dependentDialects = ["::mlir::lowmem::LowMemDialect",
                           "::mlir::arith::ArithDialect"];
}

def LowMemKvCache : Pass<"lowmem-kv-cache", "ModuleOp"> {
  let summary = "Turn a decoder's forward into a generation step with a KV cache";
  let description = [{
    Replaces the function `entry`, a causal decoder's forward from token ids
    (`[B, S]`, the one `lowmem.input`) to logits (`[B, S, V]`), by the
    generation step `step-name`, which runs `S` new tokens after the
    `past` tokens a KV cache already holds: a prefill of the prompt from an
    empty cache (`past = 0`), or a decode step of one token a row.

    - A new argument `past : index` (`lowmem.position`) offsets every
      `lowmem.rope`; another, `row_starts : tensor<[B]xi64>`
      (`lowmem.row_starts`), holds where each row begins in a batch of
      left-padded prompts: rope counts each row's positions from there and
      attention masks the keys before it.
    - Each `lowmem.attention` gets two cache arguments `[B, T, F]` of
      element type `cache-type` (`lowmem.cache = "cache.<i>.key"` and
      `"cache.<i>.value"`, `i` counting attentions in order, `T` the
      capacity). With `int8`, keys and values are quantized per token and
      head (`lowmem.quantize_groups`) and their f32 scales
      (`[B, T, num_kv_heads]`) have caches of their own,
      `"cache.<i>.key_scales"` and `"cache.<i>.value_scales"`. The step's
      keys and values are written at positions
      `[past, past + S)` (`lowmem.cache_update`, returned as
      `lowmem.update`, so bufferization writes them in place) and the
      attention reads positions `[0, past + S)` of the cache.
    - Only the last position's logits are computed: the row-wise ops that
      lead from the last attentions to the logits (linear layers, norms,
      adapters, residual adds) run on that row alone.
    - The step returns the next token of each row, the argmax of those
      logits (`[B, 1]`, i64, `lowmem.output = "next_ids"`: greedy
      sampling), then the logits (`[B, 1, V]`, `lowmem.output = "logits"`).

    The ops of the forward must be ones whose positions are independent
    apart from attention (causal) and rope; any other op is an error, as is
    a forward without attention.

    Example: `lowmem-opt --lowmem-kv-cache="cache-type=f16"`
  }];
  let options = [
    Option<"entry", "entry", "std::string", /*default=*/"\"forward\"",
           "The decoder's forward function">,
    Option<"stepName", "step-name", "std::string",
           /*default=*/"\"generate_step\"", "Name of the generation step">,
    Option<"cacheType", "cache-type", "std::string", /*default=*/"\"f16\"",
           "Element type of the cache: f32, f16, bf16 or int8 (with a "
           "scale per token and head)">
  ];
  let dependentDialects = ["::mlir::lowmem::LowMemDialect",
                           "::mlir::arith::ArithDialect",
                           "::mlir::tensor::TensorDialect"];
}

def LowMemDropInPlaceUpdates
    : Pass<"lowmem-drop-in-place-updates", "::mlir::func::FuncOp"> {
  let summary = "Drop the training step's results that were updated in place";
  let description = [{
    Runs on bufferized functions. A result marked `lowmem.update = "name"`
    must be the function argument of that name (`lowmem.param`,
    `lowmem.state` or `lowmem.cache`): bufferization wrote the update into the argument's
    buffer, and the result is dropped. An update that bufferization could
    not place in its argument's buffer is an error naming it: the compiled
    step would otherwise hold a second copy of the parameter or state.
  }];
}

def LowMemChunkMlp : Pass<"lowmem-chunk-mlp", "::mlir::func::FuncOp"> {
  let summary = "Run gated MLPs a chunk of the sequence at a time";
  let description = [{
    A gated MLP's intermediate values (`[..., seq, I]`, I the intermediate
    size: the gate and up projections, their SwiGLU, and in a training
    step their gradients) are the widest activations of a decoder layer.
    This pass computes them `rows` positions of the sequence at a time, so
    that only a chunk of them ever exists.

    From each `lowmem.swiglu` and `lowmem.swiglu_grad`, the cluster is every
    op that produces or reads a row tensor as wide as its result
    (transitively), plus every op on a path between two of them. Every op
    of the cluster must work row by row (linear, qlinear, lora, swiglu,
    swiglu_grad, scale, add, relu, relu_grad, rms_norm, rms_norm_grad) or
    sum over the rows (weight_grad, bias_grad, whose results must leave the
    cluster), and every row tensor must have the same rank with dynamic
    leading dimensions; otherwise the cluster is left whole, with a remark.

    The cluster becomes an `scf.for` over the second-to-last dimension in
    steps of `rows`: row tensors from outside enter as `tensor.extract_slice`
    chunks, row results used outside are written chunk by chunk into a full
    tensor (`linalg.copy` into a slice of it, in place), and row sums are
    accumulated (`linalg.add` in place, from zero). Ops outside the cluster
    that read its results move after the loop. The sums are added in a
    different order: results agree with the unchunked ones to rounding.

    Example: `lowmem-opt --lowmem-chunk-mlp="rows=1024"`
  }];
  let options = [
    Option<"rows", "rows", "int64_t", /*default=*/"1024",
           "Positions of the sequence a chunk holds (positive)">
  ];
  let dependentDialects = ["::mlir::scf::SCFDialect",
                           "::mlir::tensor::TensorDialect",
                           "::mlir::linalg::LinalgDialect",
                           "::mlir::arith::ArithDialect"];
}

def LowMemCheckpoint : Pass<"lowmem-checkpoint", "::mlir::func::FuncOp"> {
  let summary = "Gradient checkpointing: recompute activations in the backward";
  let description = [{
    Runs on training steps (functions with a `lowmem.mse_loss` or a
    `lowmem.cross_entropy_loss`), after the
    graph passes. The forward is the set of ops the loss depends on; an
    activation is saved when an op of the backward reads it. A *boundary* is
    a forward value that is, right after its definition, the only
    activation still needed by the rest of the forward: a residual block's
    input or output. Boundaries kept by the policy stay saved; every other
    activation the backward reads is recomputed from the nearest kept ones,
    by clones of its forward ops (marked `lowmem.recompute`, so CSE never
    merges them with the originals) placed just before the first backward
    op that reads it. The originals then die inside the forward.

    Policies:
    - `none`: everything the backward reads is saved.
    - `blocks`: every boundary is kept; the inside of each block is
      recomputed during its backward.
    - `sqrt`: of the n boundaries, every ceil(sqrt(n))-th and the last are
      kept (Chen et al., 2016): about sqrt(n) segments, each recomputed
      once, at the cost of about one extra forward.
    - `budget`: the policy that recomputes least among none, blocks and
      every k-th boundary (k = 2 .. n) whose activation peak at `batch`
      rows (and, for a decoder, `length` tokens a row) fits in `budget`
      bytes; an error, with the smallest peak any of them reaches, when
      none fits. The peak is estimated as the largest sum of live tensors
      over the step's ops (plan-memory checks the real arena against the
      budget, recorded as `lowmem.checkpoint_budget = [bytes, batch]` or
      `[bytes, batch, length]`). A step whose input has two dynamic sizes
      (a decoder's [batch, seq]) needs `length`.

    Optimizer steps are then placed after the last reader of what they
    overwrite (recomputation reads parameters). The function gets the
    attribute `lowmem.checkpoint`: the policy, the boundaries found and
    kept, the recomputed ops, and the FLOPs of the recomputation and of the
    whole step, each a polynomial in the step's dynamic sizes (the dynamic
    dimensions of its input in order: BigNet's batch, a decoder's batch and
    sequence length, attention's count being quadratic in the latter):
    `[[coefficient, size index, ...], ...]`, e.g. `[[72, 0]]` for 72 FLOPs a
    row of the batch.

    Example: `lowmem-opt --lowmem-checkpoint="policy=budget budget=4000000
    batch=64"`
  }];
  let options = [
    Option<"policy", "policy", "std::string", /*default=*/"\"blocks\"",
           "none, blocks, sqrt or budget">,
    Option<"budget", "budget", "int64_t", /*default=*/"0",
           "With policy=budget: the activation peak allowed, in bytes">,
    Option<"batch", "batch", "int64_t", /*default=*/"1",
           "With policy=budget: the batch size the peak is estimated at "
           "(the input's first dynamic size)">,
    Option<"length", "length", "int64_t", /*default=*/"0",
           "With policy=budget: a decoder's sequence length the peak is "
           "estimated at (its input's second dynamic size); 0 for an input "
           "with one dynamic size">
  ];
  let dependentDialects = ["::mlir::lowmem::LowMemDialect"];
}

#endif // LOWMEM_DIALECT_LOWMEM_TRANSFORMS_PASSES_TD
