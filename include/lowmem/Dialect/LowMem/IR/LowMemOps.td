//===- LowMemOps.td - lowmem operations --------------------*- tablegen -*-===//
//
// Part of the lowmem project.
//
//===----------------------------------------------------------------------===//

#ifndef LOWMEM_DIALECT_LOWMEM_IR_LOWMEMOPS_TD
#define LOWMEM_DIALECT_LOWMEM_IR_LOWMEMOPS_TD

include "lowmem/Dialect/LowMem/IR/LowMemDialect.td"
include "lowmem/Dialect/LowMem/IR/LowMemAttrs.td"
include "lowmem/Dialect/LowMem/IR/LowMemTypes.td"
include "mlir/IR/OpBase.td"
include "mlir/Interfaces/InferTypeOpInterface.td"
include "mlir/Interfaces/SideEffectInterfaces.td"
include "mlir/IR/CommonAttrConstraints.td"
include "mlir/IR/CommonTypeConstraints.td"

class LowMem_Op<string mnemonic, list<Trait> traits = []>
    : Op<LowMem_Dialect, mnemonic, traits>;

def LowMem_FloatTensor : RankedTensorOf<[F16, BF16, F32]>;
/// Keys and values as a KV cache may store them: floats, or int8 codes with
/// scales beside them.
def LowMem_CacheTensor : RankedTensorOf<[F16, BF16, F32, I8]>;
def LowMem_QTensor : Type<CPred<"::llvm::isa<::mlir::lowmem::QTensorType>($_self)">,
                          "quantized tensor", "::mlir::lowmem::QTensorType">;

//===----------------------------------------------------------------------===//
// Linear layers
//===----------------------------------------------------------------------===//

class LowMem_LinearLikeOp<string mnemonic, Type weightType>
    : LowMem_Op<mnemonic, [Pure, AttrSizedOperandSegments]> {
  let arguments = (ins
    LowMem_FloatTensor:$input,
    weightType:$weight,
    Optional<LowMem_FloatTensor>:$bias,
    Optional<LowMem_FloatTensor>:$residual,
    DefaultValuedAttr<LowMem_ActivationAttr,
                      "::mlir::lowmem::Activation::none">:$activation,
    UnitAttr:$transpose_weight
  );
  let results = (outs LowMem_FloatTensor:$result);
  let assemblyFormat = [{
    $input `,` $weight (`transposed` $transpose_weight^)?
    (`bias` `(` $bias^ `:` type($bias) `)`)?
    (`residual` `(` $residual^ `:` type($residual) `)`)?
    (`activation` $activation^)?
    attr-dict `:` type($input) `,` type($weight) `->` type($result)
  }];
  let hasVerifier = 1;
}

def LowMem_LinearOp : LowMem_LinearLikeOp<"linear", LowMem_FloatTensor> {
  let summary = "fully connected layer with an optional fused epilogue";
  let description = [{
    Computes `activation(input · weightᵀ + bias) + residual` where `input` is
    `[..., K]`, `weight` is `[N, K]` (PyTorch's `nn.Linear` layout), `bias`
    is `[N]` and `residual` has the result's type `[..., N]`. `bias`,
    `residual` and `activation` are optional; the fuse pass folds a following
    `relu` and `add` into them.

    With `transposed`, the product is `input · weight` instead: `input` is
    `[..., N]`, the result and `bias` are `[..., K]` and `[K]`. This is the
    input gradient of a linear layer (`dx = dy · W`), which reads the same
    weight, quantized or not, without a transposed copy.

    Example:

    ```mlir
    %y = lowmem.linear %x, %w bias(%b : tensor<1024xf32>) activation <relu>
        : tensor<?x1024xf32>, tensor<1024x1024xf32> -> tensor<?x1024xf32>
    %dx = lowmem.linear %dy, %w transposed
        : tensor<?x1024xf32>, tensor<1024x1024xf32> -> tensor<?x1024xf32>
    ```
  }];
}

def LowMem_QLinearOp : LowMem_LinearLikeOp<"qlinear", LowMem_QTensor> {
  let summary = "fully connected layer with a quantized weight";
  let description = [{
    The same computation as `lowmem.linear`, with `weight` a
    `!lowmem.qtensor` that is dequantized on the fly inside the matrix
    product: no full-precision copy of the weight is ever materialized.

    Example:

    ```mlir
    %y = lowmem.qlinear %x, %q bias(%b : tensor<1024xf32>)
        residual(%x : tensor<?x1024xf32>)
        : tensor<?x1024xf32>, !lowmem.qtensor<1024x1024xf32, nf4, block = 64>
          -> tensor<?x1024xf32>
    ```
  }];
}

def LowMem_LoraOp : LowMem_Op<"lora", [Pure]> {
  let summary = "low-rank adapter branch";
  let description = [{
    Computes the LoRA branch `s · (dropout(input) · Aᵀ) · Bᵀ` with `A` of
    shape `[r, K]`, `B` of shape `[N, r]` and `s = alpha / r` (`standard`) or
    `alpha / sqrt(r)` (`rslora`). Dropout is only applied when training
    (lowmem-differentiate puts a `lowmem.dropout` on the branch's input); the
    inference lowering ignores it.

    Example:

    ```mlir
    %d = lowmem.lora %x, %a, %b {alpha = 16.0 : f64, dropout = 0.0 : f64,
                                 scaling = #lowmem.lora_scaling<standard>}
        : tensor<?x1024xf32>, tensor<8x1024xf32>, tensor<1024x8xf32>
          -> tensor<?x1024xf32>
    ```
  }];
  let arguments = (ins
    LowMem_FloatTensor:$input,
    LowMem_FloatTensor:$lora_a,
    LowMem_FloatTensor:$lora_b,
    F64Attr:$alpha,
    DefaultValuedAttr<F64Attr, "0.0">:$dropout,
    DefaultValuedAttr<LowMem_LoraScalingAttr,
                      "::mlir::lowmem::LoraScaling::standard">:$scaling
  );
  let results = (outs LowMem_FloatTensor:$result);
  let assemblyFormat = [{
    $input `,` $lora_a `,` $lora_b attr-dict `:` type($input) `,`
    type($lora_a) `,` type($lora_b) `->` type($result)
  }];
  let extraClassDeclaration = [{
    /// The rank r of the adapter.
    int64_t getRank();
    /// The scale s applied to the branch.
    double getScale();
  }];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Quantization
//===----------------------------------------------------------------------===//

def LowMem_QuantizeOp : LowMem_Op<"quantize", [Pure]> {
  let summary = "quantize a full-precision tensor";
  let description = [{
    Encodes `input` in the storage format of the result type. The logical
    shape and element type of the result must equal the input's.

    Example:

    ```mlir
    %q = lowmem.quantize %w : tensor<1024x1024xf32>
        -> !lowmem.qtensor<1024x1024xf32, nf4, block = 64, double_quant>
    ```
  }];
  let arguments = (ins LowMem_FloatTensor:$input);
  let results = (outs LowMem_QTensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($input) `->` type($result)";
  let hasVerifier = 1;
}

def LowMem_DequantizeOp : LowMem_Op<"dequantize", [Pure]> {
  let summary = "decode a quantized tensor to full precision";
  let description = [{
    Materializes the full-precision value of a quantized tensor. The fuse
    pass removes every `dequantize` whose users can consume the quantized
    weight directly (`linear` becomes `qlinear`).

    Example:

    ```mlir
    %w = lowmem.dequantize %q
        : !lowmem.qtensor<1024x1024xf32, nf4, block = 64> -> tensor<1024x1024xf32>
    ```
  }];
  let arguments = (ins LowMem_QTensor:$input);
  let results = (outs LowMem_FloatTensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($input) `->` type($result)";
  let hasVerifier = 1;
}

def LowMem_AssembleOp : LowMem_Op<"assemble", [Pure]> {
  let summary = "view explicit storage tensors as a quantized tensor";
  let description = [{
    Makes the storage of a quantized weight explicit: `parts` are the
    tensors that hold it, in the canonical order of the format
    (`f16`/`bf16`: data; `int4`: codes, f16 absmax; `nf4`/`fp4`: codes,
    f32 absmax; with double quantization: codes, 8-bit absmax codes,
    nested f32 absmax, f32 offset; `int8`: codes, f32 row absmax). Packed
    4-bit codes are `i8` tensors of `ceil(n / 2)` bytes.

    Example:

    ```mlir
    %q = lowmem.assemble %codes, %absmax : tensor<524288xi8>, tensor<16384xf32>
        -> !lowmem.qtensor<1024x1024xf32, nf4, block = 64>
    ```
  }];
  let arguments = (ins Variadic<AnyRankedTensor>:$parts);
  let results = (outs LowMem_QTensor:$result);
  let assemblyFormat =
      "$parts attr-dict `:` type($parts) `->` type($result)";
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Elementwise and normalization
//===----------------------------------------------------------------------===//

def LowMem_ReluOp : LowMem_Op<"relu", [Pure, SameOperandsAndResultType]> {
  let summary = "rectified linear unit";
  let description = [{
    `max(x, 0)` elementwise.

    Example:

    ```mlir
    %y = lowmem.relu %x : tensor<?x1024xf32>
    ```
  }];
  let arguments = (ins LowMem_FloatTensor:$input);
  let results = (outs LowMem_FloatTensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($result)";
}

def LowMem_AddOp : LowMem_Op<"add", [Pure, Commutative,
                                     SameOperandsAndResultType]> {
  let summary = "elementwise addition";
  let description = [{
    Adds two tensors of the same type elementwise.

    Example:

    ```mlir
    %y = lowmem.add %a, %b : tensor<?x1024xf32>
    ```
  }];
  let arguments = (ins LowMem_FloatTensor:$lhs, LowMem_FloatTensor:$rhs);
  let results = (outs LowMem_FloatTensor:$result);
  let assemblyFormat = "$lhs `,` $rhs attr-dict `:` type($result)";
}

def LowMem_GroupNormOp : LowMem_Op<"group_norm", [Pure]> {
  let summary = "group normalization over the last dimension";
  let description = [{
    Splits the last dimension `C` of `input` into `num_groups` groups of
    `C / num_groups` consecutive features and normalizes each group of each
    row to zero mean and unit (biased) variance, then applies the per-feature
    affine `gamma`, `beta` of shape `[C]`:
    `(x - mean) / sqrt(var + epsilon) * gamma + beta`. With one group this is
    a LayerNorm over the features (BigNet's normalization).

    Example:

    ```mlir
    %y = lowmem.group_norm %x, %g, %b {epsilon = 1.0e-05 : f64, num_groups = 1 : i64}
        : tensor<?x1024xf32>, tensor<1024xf32>, tensor<1024xf32> -> tensor<?x1024xf32>
    ```
  }];
  let arguments = (ins
    LowMem_FloatTensor:$input,
    LowMem_FloatTensor:$gamma,
    LowMem_FloatTensor:$beta,
    ConfinedAttr<I64Attr, [IntPositive]>:$num_groups,
    F64Attr:$epsilon
  );
  let results = (outs LowMem_FloatTensor:$result);
  let assemblyFormat = [{
    $input `,` $gamma `,` $beta attr-dict `:` type($input) `,` type($gamma)
    `,` type($beta) `->` type($result)
  }];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Transformer layers
//===----------------------------------------------------------------------===//

def LowMem_EmbeddingOp : LowMem_Op<"embedding", [Pure]> {
  let summary = "token embedding lookup";
  let description = [{
    Gathers the rows of `table` (`[V, H]`, PyTorch's `nn.Embedding` layout)
    named by the token ids in `ids` (`[...]`, i64): the result is
    `[..., H]`. An id outside `[0, V)` is the caller's error; compiled models
    check every id before running. The table may be stored in any weight
    format (`!lowmem.qtensor`): the rows gathered are decoded as they are
    read, the table is never dequantized whole.

    Example:

    ```mlir
    %h = lowmem.embedding %ids, %table
        : tensor<?x?xi64>, tensor<1000x64xf32> -> tensor<?x?x64xf32>
    ```
  }];
  let arguments = (ins RankedTensorOf<[I64]>:$ids,
                       AnyTypeOf<[LowMem_FloatTensor, LowMem_QTensor]>:$table);
  let results = (outs LowMem_FloatTensor:$result);
  let assemblyFormat = [{
    $ids `,` $table attr-dict `:` type($ids) `,` type($table) `->`
    type($result)
  }];
  let hasVerifier = 1;
}

def LowMem_RmsNormOp : LowMem_Op<"rms_norm", [Pure]> {
  let summary = "root-mean-square normalization over the last dimension";
  let description = [{
    `x / sqrt(mean(x²) + epsilon) * weight` over the last dimension `H` of
    `input`, `weight` of shape `[H]`, as LLaMA's and Qwen2's RMSNorm
    (computed in f32).

    Example:

    ```mlir
    %y = lowmem.rms_norm %x, %w {epsilon = 1.0e-06 : f64}
        : tensor<?x?x64xf32>, tensor<64xf32> -> tensor<?x?x64xf32>
    ```
  }];
  let arguments = (ins LowMem_FloatTensor:$input, LowMem_FloatTensor:$weight,
                   F64Attr:$epsilon);
  let results = (outs LowMem_FloatTensor:$result);
  let assemblyFormat = [{
    $input `,` $weight attr-dict `:` type($input) `,` type($weight) `->`
    type($result)
  }];
  let hasVerifier = 1;
}

def LowMem_RopeOp : LowMem_Op<"rope", [Pure, AttrSizedOperandSegments]> {
  let summary = "rotary position embedding of attention heads";
  let description = [{
    Rotates each head of `input` (`[B, S, heads × D]`) by its position, in
    the "rotate half" convention of LLaMA and Qwen2: for `i < D/2` and the
    token at position `p = position_offset + s`, with `θ = p · inv_freq[i]`,

    ```
    y[i]       = x[i] cos θ − x[i + D/2] sin θ
    y[i + D/2] = x[i + D/2] cos θ + x[i] sin θ
    ```

    `inv_freq` (`[D/2]`) holds the frequencies the model's configuration
    defines (`theta^(-2i/D)`, and its scaling, if any): the importer computes
    them, so every scaling scheme lowers the same way.

    The optional `offset` operand (an `index`) adds a position known only at
    run time, such as the number of tokens already in a KV cache when a
    generation step starts: `p = position_offset + offset + s`. The optional
    `row_starts` (`[B]`, i64) subtracts from each batch row's positions where
    that row begins: in a batch of left-padded prompts, each prompt's first
    token is at position 0, as if it ran alone (the padding's positions are
    negative; attention masks it out).

    With `inverse`, the rotation is by `−θ`: the transpose of the forward
    rotation, which is its gradient.

    Example:

    ```mlir
    %q2 = lowmem.rope %q, %inv_freq {head_dim = 16 : i64, position_offset = 0 : i64}
        : tensor<?x?x64xf32>, tensor<8xf32> -> tensor<?x?x64xf32>
    %k2 = lowmem.rope %k, %inv_freq offset(%past)
        row_starts(%starts : tensor<?xi64>) {head_dim = 16 : i64}
        : tensor<?x?x32xf32>, tensor<8xf32> -> tensor<?x?x32xf32>
    ```
  }];
  let arguments = (ins LowMem_FloatTensor:$input, LowMem_FloatTensor:$inv_freq,
                   Optional<Index>:$offset,
                   Optional<RankedTensorOf<[I64]>>:$row_starts,
                   ConfinedAttr<I64Attr, [IntPositive]>:$head_dim,
                   DefaultValuedAttr<I64Attr, "0">:$position_offset,
                   UnitAttr:$inverse);
  let results = (outs LowMem_FloatTensor:$result);
  let assemblyFormat = [{
    $input `,` $inv_freq (`offset` `(` $offset^ `)`)?
    (`row_starts` `(` $row_starts^ `:` type($row_starts) `)`)? attr-dict `:`
    type($input) `,` type($inv_freq) `->` type($result)
  }];
  let hasVerifier = 1;
}

def LowMem_AttentionOp : LowMem_Op<"attention",
    [Pure, AttrSizedOperandSegments]> {
  let summary = "grouped-query scaled dot-product attention";
  let description = [{
    Multi-head attention over `query` (`[B, S, num_heads × D]`) with `key`
    and `value` (`[B, T, num_kv_heads × D]`): query head `h` attends with kv
    head `h / (num_heads / num_kv_heads)` (grouped-query attention),
    `softmax(scale · q kᵀ) v` per head, the result `[B, S, num_heads × D]`.
    With `causal`, query `s` sees keys `t ≤ s + (T − S)` (the queries are
    the last `S` of `T` positions).

    The lowering never forms the `S × T` score matrix: each query row keeps a
    running maximum and sum and rescales its output row as keys stream past
    (online softmax).

    Keys and values may be stored in another type than the query (both
    the same): a KV cache's f16 or bf16 entries are widened to f32 as they
    are read; int8 codes (`lowmem.quantize_groups`) come with `scales`, the f32
    scales of the keys' and of the values' heads (`[B, T, num_kv_heads]`),
    and are read as `code × scale`.

    With `key_starts` (`[B]`, i64), the queries of batch row `b` see no key
    before `key_starts[b]`: the left padding of a batch of prompts of
    different lengths. A query that sees no key at all gets zeros.

    Example:

    ```mlir
    %o = lowmem.attention %q, %k, %v {causal, num_heads = 4 : i64,
                                      num_kv_heads = 2 : i64, scale = 0.25 : f64}
        : tensor<?x?x64xf32>, tensor<?x?x32xf32>, tensor<?x?x32xf32>
          -> tensor<?x?x64xf32>
    ```
  }];
  let arguments = (ins LowMem_FloatTensor:$query, LowMem_CacheTensor:$key,
                   LowMem_CacheTensor:$value,
                   Optional<RankedTensorOf<[F32]>>:$key_scales,
                   Optional<RankedTensorOf<[F32]>>:$value_scales,
                   Optional<RankedTensorOf<[I64]>>:$key_starts,
                   ConfinedAttr<I64Attr, [IntPositive]>:$num_heads,
                   ConfinedAttr<I64Attr, [IntPositive]>:$num_kv_heads,
                   F64Attr:$scale, UnitAttr:$causal);
  let results = (outs LowMem_FloatTensor:$result);
  let assemblyFormat = [{
    $query `,` $key `,` $value
    (`scales` `(` $key_scales^ `,` $value_scales `:` type($key_scales) `,`
     type($value_scales) `)`)?
    (`key_starts` `(` $key_starts^ `:` type($key_starts) `)`)?
    attr-dict `:` type($query) `,` type($key) `,` type($value) `->`
    type($result)
  }];
  let extraClassDeclaration = [{
    /// The size D of one head.
    int64_t getHeadDim();
  }];
  let hasVerifier = 1;
}

def LowMem_CacheUpdateOp : LowMem_Op<"cache_update",
    [Pure, AllTypesMatch<["cache", "result"]>]> {
  let summary = "write a generation step's keys or values into a KV cache";
  let description = [{
    The cache `cache` (`[B, T, F]`) with its positions
    `[position, position + S)` replaced by `rows` (`[B, S, F]`), each element
    rounded to the cache's element type (f32, f16 or bf16; int8 codes and
    their scales, from `lowmem.quantize_groups`, are written as they are,
    each into a cache of its own): the keys or
    values of the `S` tokens a prefill or decode step computes, appended
    after the `position` tokens the cache holds. `position + S ≤ T` is the
    caller's to ensure; compiled generators size their caches for every
    step and check each step against them.

    The result is meant to be written over the cache: `lowmem-kv-cache`
    returns it as the update of the cache argument, and bufferization writes
    the rows in place.

    Example:

    ```mlir
    %k1 = lowmem.cache_update %k into %cache[%past]
        : tensor<?x?x32xf32> into tensor<?x?x32xf16>
    ```
  }];
  let arguments = (ins LowMem_CacheTensor:$rows, LowMem_CacheTensor:$cache,
                   Index:$position);
  let results = (outs LowMem_CacheTensor:$result);
  let assemblyFormat = [{
    $rows `into` $cache `[` $position `]` attr-dict `:` type($rows) `into`
    type($cache)
  }];
  let hasVerifier = 1;
}

def LowMem_QuantizeGroupsOp : LowMem_Op<"quantize_groups", [Pure]> {
  let summary = "int8 absmax quantization of groups of consecutive features";
  let description = [{
    Splits the last dimension of `input` (`[..., F]`) into groups of
    `group_size` consecutive elements and quantizes each group
    symmetrically: `scale = max |x| / 127` (`scales`, f32, `[..., F /
    group_size]`) and `code = round(x / scale)` (`codes`, i8, `[..., F]`;
    halves away from zero; all zero where the scale is zero), so that
    `x ≈ code × scale`. An 8-bit KV cache stores keys and values this way,
    one scale per token and head.

    Example:

    ```mlir
    %codes, %scales = lowmem.quantize_groups %k {group_size = 16 : i64}
        : tensor<?x?x32xf32> -> tensor<?x?x32xi8>, tensor<?x?x2xf32>
    ```
  }];
  let arguments = (ins LowMem_FloatTensor:$input,
                   ConfinedAttr<I64Attr, [IntPositive]>:$group_size);
  let results = (outs RankedTensorOf<[I8]>:$codes,
                      RankedTensorOf<[F32]>:$scales);
  let assemblyFormat = [{
    $input attr-dict `:` type($input) `->` type($codes) `,` type($scales)
  }];
  let hasVerifier = 1;
}

def LowMem_ArgmaxOp : LowMem_Op<"argmax", [Pure]> {
  let summary = "index of the largest element of each row (greedy sampling)";
  let description = [{
    For each row of `input` (`[..., V]`), the index in `[0, V)` of its
    largest element, as i64 (`[...]`): greedy sampling of a language model's
    next token from its logits. Ties go to the smallest index and a NaN
    counts as larger than any number, as `numpy.argmax`.

    Example:

    ```mlir
    %next = lowmem.argmax %logits : tensor<?x1x1000xf32> -> tensor<?x1xi64>
    ```
  }];
  let arguments = (ins LowMem_FloatTensor:$input);
  let results = (outs RankedTensorOf<[I64]>:$result);
  let assemblyFormat = [{
    $input attr-dict `:` type($input) `->` type($result)
  }];
  let hasVerifier = 1;
}

def LowMem_SwiGluOp : LowMem_Op<"swiglu", [Pure, SameOperandsAndResultType]> {
  let summary = "SiLU-gated linear unit";
  let description = [{
    `silu(gate) · up` elementwise, `silu(x) = x / (1 + exp(−x))`: the
    activation of LLaMA's and Qwen2's MLP between its gate/up projections
    and its down projection.

    Example:

    ```mlir
    %a = lowmem.swiglu %gate, %up : tensor<?x?x128xf32>
    ```
  }];
  let arguments = (ins LowMem_FloatTensor:$gate, LowMem_FloatTensor:$up);
  let results = (outs LowMem_FloatTensor:$result);
  let assemblyFormat = "$gate `,` $up attr-dict `:` type($result)";
}

def LowMem_RmsNormGradOp : LowMem_Op<"rms_norm_grad", [Pure]> {
  let summary = "input gradient of an RMS normalization";
  let description = [{
    The gradient of `y = rms_norm(input, weight)` with respect to `input`
    given `grad_out` (dy): with `r = 1 / sqrt(mean(x²) + epsilon)` of each row
    of `H` features and `g = dy · weight`,
    `grad_input = r · g − x · r³ · mean(g · x)`. The statistics are
    recomputed from `input`.

    Example:

    ```mlir
    %dx = lowmem.rms_norm_grad %dy, %x, %w {epsilon = 1.0e-06 : f64}
        : tensor<?x?x64xf32>, tensor<?x?x64xf32>, tensor<64xf32>
          -> tensor<?x?x64xf32>
    ```
  }];
  let arguments = (ins LowMem_FloatTensor:$grad_out, LowMem_FloatTensor:$input,
                   LowMem_FloatTensor:$weight, F64Attr:$epsilon);
  let results = (outs LowMem_FloatTensor:$grad_input);
  let assemblyFormat = [{
    $grad_out `,` $input `,` $weight attr-dict `:` type($grad_out) `,`
    type($input) `,` type($weight) `->` type($grad_input)
  }];
  let hasVerifier = 1;
}

def LowMem_SwiGluGradOp : LowMem_Op<"swiglu_grad", [Pure,
    AllTypesMatch<["grad_out", "gate", "up", "grad_gate", "grad_up"]>]> {
  let summary = "gradients of a SiLU-gated linear unit";
  let description = [{
    The gradients of `y = silu(gate) · up` given `grad_out` (dy): with
    `σ = 1 / (1 + exp(−gate))`,
    `grad_gate = dy · up · σ · (1 + gate · (1 − σ))` and
    `grad_up = dy · gate · σ`.

    Example:

    ```mlir
    %dg, %du = lowmem.swiglu_grad %dy, %g, %u : tensor<?x?x128xf32>
    ```
  }];
  let arguments = (ins LowMem_FloatTensor:$grad_out, LowMem_FloatTensor:$gate,
                   LowMem_FloatTensor:$up);
  let results = (outs LowMem_FloatTensor:$grad_gate,
                      LowMem_FloatTensor:$grad_up);
  let assemblyFormat = [{
    $grad_out `,` $gate `,` $up attr-dict `:` type($grad_out)
  }];
}

def LowMem_AttentionGradOp : LowMem_Op<"attention_grad", [Pure]> {
  let summary = "gradients of grouped-query attention";
  let description = [{
    The gradients of `output = attention(query, key, value)` (same
    attributes) given `grad_out` (dO): per head, with `P = softmax(scale ·
    q kᵀ)` and `Dᵢ = Σ dOᵢ · outputᵢ`,
    `dS = P ∘ (dO vᵀ − D)`, `grad_query = scale · dS k`,
    `grad_key = scale · dSᵀ q` and `grad_value = Pᵀ dO`, the key and value
    gradients summed over the query heads that share a kv head.

    The lowering recomputes `P` a row at a time from the row's logsumexp
    (kept, with `D`, in a `[B, heads, S, 2]` buffer): no score matrix exists.

    Example:

    ```mlir
    %dq, %dk, %dv = lowmem.attention_grad %do, %q, %k, %v, %o
        {causal, num_heads = 4 : i64, num_kv_heads = 2 : i64, scale = 0.25 : f64}
        : tensor<?x?x64xf32>, tensor<?x?x64xf32>, tensor<?x?x32xf32>,
          tensor<?x?x32xf32>, tensor<?x?x64xf32>
          -> tensor<?x?x64xf32>, tensor<?x?x32xf32>, tensor<?x?x32xf32>
    ```
  }];
  let arguments = (ins LowMem_FloatTensor:$grad_out, LowMem_FloatTensor:$query,
                   LowMem_FloatTensor:$key, LowMem_FloatTensor:$value,
                   LowMem_FloatTensor:$output,
                   ConfinedAttr<I64Attr, [IntPositive]>:$num_heads,
                   ConfinedAttr<I64Attr, [IntPositive]>:$num_kv_heads,
                   F64Attr:$scale, UnitAttr:$causal);
  let results = (outs LowMem_FloatTensor:$grad_query,
                      LowMem_FloatTensor:$grad_key,
                      LowMem_FloatTensor:$grad_value);
  let assemblyFormat = [{
    $grad_out `,` $query `,` $key `,` $value `,` $output attr-dict `:`
    type($grad_out) `,` type($query) `,` type($key) `,` type($value) `,`
    type($output) `->` type($grad_query) `,` type($grad_key) `,`
    type($grad_value)
  }];
  let hasVerifier = 1;
}

def LowMem_LinearCrossEntropyOp
    : LowMem_Op<"linear_cross_entropy", [Pure]> {
  let summary = "cross-entropy of a linear layer's logits, never storing them";
  let description = [{
    The mean cross-entropy of the logits `input · weightᵀ` (`input`
    `[..., H]`, `weight` `[V, H]`, as a language model's head) against
    `labels` (`[...]`, i64, `ignore_index` rows skipped), as
    `cross_entropy_loss(linear(input, weight), labels)`, and each row's
    `logsumexp` (`lse`, `[...]`), which the gradient reuses. The lowering
    streams over the vocabulary row by row with an online logsumexp: the
    `[..., V]` logits never exist. The weight may be stored in any weight
    format (`!lowmem.qtensor`), decoded element by element as it is read.

    Example:

    ```mlir
    %loss, %lse = lowmem.linear_cross_entropy %h, %w, %labels
        : tensor<?x?x64xf32>, tensor<1000x64xf32>, tensor<?x?xi64>
          -> tensor<f32>, tensor<?x?xf32>
    ```
  }];
  let arguments = (ins LowMem_FloatTensor:$input,
                   AnyTypeOf<[LowMem_FloatTensor, LowMem_QTensor]>:$weight,
                   RankedTensorOf<[I64]>:$labels,
                   DefaultValuedAttr<I64Attr, "-100">:$ignore_index);
  let results = (outs 0DTensorOf<[F32]>:$loss, LowMem_FloatTensor:$lse);
  let assemblyFormat = [{
    $input `,` $weight `,` $labels attr-dict `:` type($input) `,`
    type($weight) `,` type($labels) `->` type($loss) `,` type($lse)
  }];
  let hasVerifier = 1;
}

def LowMem_LinearCrossEntropyGradOp
    : LowMem_Op<"linear_cross_entropy_grad", [Pure]> {
  let summary = "input gradient of a fused linear cross-entropy";
  let description = [{
    The gradient of `linear_cross_entropy(input, weight, labels)` with
    respect to `input`: for each counted row,
    `(softmax(logits) − onehot(label)) · weight / count`, the logits
    recomputed a vocabulary entry at a time from the row's `lse`. The weight
    may be quantized, as in `linear_cross_entropy`.

    Example:

    ```mlir
    %dh = lowmem.linear_cross_entropy_grad %h, %w, %labels, %lse
        : tensor<?x?x64xf32>, tensor<1000x64xf32>, tensor<?x?xi64>,
          tensor<?x?xf32> -> tensor<?x?x64xf32>
    ```
  }];
  let arguments = (ins LowMem_FloatTensor:$input,
                   AnyTypeOf<[LowMem_FloatTensor, LowMem_QTensor]>:$weight,
                   RankedTensorOf<[I64]>:$labels, LowMem_FloatTensor:$lse,
                   DefaultValuedAttr<I64Attr, "-100">:$ignore_index);
  let results = (outs LowMem_FloatTensor:$grad_input);
  let assemblyFormat = [{
    $input `,` $weight `,` $labels `,` $lse attr-dict `:` type($input) `,`
    type($weight) `,` type($labels) `,` type($lse) `->` type($grad_input)
  }];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Gradients and losses
//===----------------------------------------------------------------------===//

def LowMem_WeightGradOp : LowMem_Op<"weight_grad", [Pure]> {
  let summary = "gradient of a linear layer's weight";
  let description = [{
    Computes `scale · grad_outᵀ · input` summed over every leading
    dimension: with `grad_out` of shape `[..., N]` and `input` `[..., K]`
    (the same leading dimensions), the result is `[N, K]`, the gradient of
    the weight of `linear(input, W)`. LoRA's adapter gradients are this op
    too (`dB = s · dyᵀ · (x · Aᵀ)`).

    Example:

    ```mlir
    %dw = lowmem.weight_grad %dy, %x {scale = 1.0 : f64}
        : tensor<?x1024xf32>, tensor<?x1024xf32> -> tensor<1024x1024xf32>
    ```
  }];
  let arguments = (ins
    LowMem_FloatTensor:$grad_out,
    LowMem_FloatTensor:$input,
    DefaultValuedAttr<F64Attr, "1.0">:$scale
  );
  let results = (outs LowMem_FloatTensor:$result);
  let assemblyFormat = [{
    $grad_out `,` $input attr-dict `:` type($grad_out) `,` type($input) `->`
    type($result)
  }];
  let hasVerifier = 1;
}

def LowMem_ReluGradOp : LowMem_Op<"relu_grad",
                                  [Pure, SameOperandsAndResultType]> {
  let summary = "gradient through a rectified linear unit";
  let description = [{
    `grad_out` where the ReLU's `output` is positive, 0 elsewhere (the
    subgradient 0 at 0, as PyTorch takes it). It reads the ReLU's output, so
    the backward needs no copy of its input.

    Example:

    ```mlir
    %dx = lowmem.relu_grad %dy, %y : tensor<?x1024xf32>
    ```
  }];
  let arguments = (ins LowMem_FloatTensor:$grad_out,
                       LowMem_FloatTensor:$output);
  let results = (outs LowMem_FloatTensor:$result);
  let assemblyFormat = "$grad_out `,` $output attr-dict `:` type($result)";
}

def LowMem_MseLossOp : LowMem_Op<"mse_loss", [Pure,
    AllTypesMatch<["prediction", "target"]>]> {
  let summary = "mean squared error";
  let description = [{
    `mean((prediction - target)²)` over every element, as a rank-0 tensor
    (PyTorch's `MSELoss` with `reduction='mean'`). An empty batch gives 0.

    Example:

    ```mlir
    %l = lowmem.mse_loss %y, %t : tensor<?x1024xf32> -> tensor<f32>
    ```
  }];
  let arguments = (ins LowMem_FloatTensor:$prediction,
                       LowMem_FloatTensor:$target);
  let results = (outs 0DTensorOf<[F32]>:$result);
  let assemblyFormat = [{
    $prediction `,` $target attr-dict `:` type($prediction) `->` type($result)
  }];
  let hasVerifier = 1;
}

def LowMem_MseLossGradOp : LowMem_Op<"mse_loss_grad", [Pure,
    AllTypesMatch<["prediction", "target", "result"]>]> {
  let summary = "gradient of the mean squared error";
  let description = [{
    The gradient of `mse_loss(prediction, target)` with respect to the
    prediction: `2 · (prediction - target) / numel`.

    Example:

    ```mlir
    %dy = lowmem.mse_loss_grad %y, %t : tensor<?x1024xf32>
    ```
  }];
  let arguments = (ins LowMem_FloatTensor:$prediction,
                       LowMem_FloatTensor:$target);
  let results = (outs LowMem_FloatTensor:$result);
  let assemblyFormat = "$prediction `,` $target attr-dict `:` type($result)";
}

def LowMem_CrossEntropyLossOp : LowMem_Op<"cross_entropy_loss", [Pure]> {
  let summary = "mean cross-entropy of logits against class labels";
  let description = [{
    `logits` holds one row of class scores per leading index
    (`[..., classes]`), `labels` the class of each row (`[...]`, i64). The
    loss is the mean, over the rows whose label is not `ignore_index`, of
    `logsumexp(row) - row[label]` (PyTorch's `CrossEntropyLoss` with
    `reduction='mean'`; NaN when every row is ignored, as in PyTorch). A
    label outside `[0, classes)` other than `ignore_index` is undefined
    behaviour; the runtime checks the labels it reads.

    Example:

    ```mlir
    %l = lowmem.cross_entropy_loss %logits, %labels
        : tensor<?x10xf32>, tensor<?xi64> -> tensor<f32>
    ```
  }];
  let arguments = (ins LowMem_FloatTensor:$logits,
                       RankedTensorOf<[I64]>:$labels,
                       DefaultValuedAttr<I64Attr, "-100">:$ignore_index);
  let results = (outs 0DTensorOf<[F32]>:$result);
  let assemblyFormat = [{
    $logits `,` $labels attr-dict `:` type($logits) `,` type($labels) `->`
    type($result)
  }];
  let hasVerifier = 1;
}

def LowMem_CrossEntropyLossGradOp
    : LowMem_Op<"cross_entropy_loss_grad",
                [Pure, AllTypesMatch<["logits", "result"]>]> {
  let summary = "gradient of the mean cross-entropy";
  let description = [{
    The gradient of `cross_entropy_loss(logits, labels)` with respect to the
    logits: `(softmax(row) - onehot(label)) / n` for a counted row, `n` the
    number of counted rows, and 0 for a row whose label is `ignore_index`.

    Example:

    ```mlir
    %dy = lowmem.cross_entropy_loss_grad %logits, %labels
        : tensor<?x10xf32>, tensor<?xi64>
    ```
  }];
  let arguments = (ins LowMem_FloatTensor:$logits,
                       RankedTensorOf<[I64]>:$labels,
                       DefaultValuedAttr<I64Attr, "-100">:$ignore_index);
  let results = (outs LowMem_FloatTensor:$result);
  let assemblyFormat = [{
    $logits `,` $labels attr-dict `:` type($logits) `,` type($labels)
  }];
  let hasVerifier = 1;
}

def LowMem_GroupNormGradOp : LowMem_Op<"group_norm_grad", [Pure]> {
  let summary = "gradients of a group normalization";
  let description = [{
    The gradients of `y = group_norm(input, gamma, beta)` given `grad_out`
    (dy): with `x̂` the normalized input and `rstd = 1 / sqrt(var + epsilon)`
    of each group of `G` features, and `g = dy · gamma`,

    - `grad_input  = rstd · (g - mean(g) - x̂ · mean(g · x̂))` (means over the
      group),
    - `grad_gamma  = Σ dy · x̂` and `grad_beta = Σ dy` over every leading
      dimension.

    The group statistics are recomputed from `input`, so the forward saves
    nothing but its input. A result that is not used costs nothing.

    Example:

    ```mlir
    %dx, %dg, %db = lowmem.group_norm_grad %dy, %x, %g
        {epsilon = 1.0e-05 : f64, num_groups = 1 : i64}
        : tensor<?x1024xf32>, tensor<?x1024xf32>, tensor<1024xf32>
          -> tensor<?x1024xf32>, tensor<1024xf32>, tensor<1024xf32>
    ```
  }];
  let arguments = (ins
    LowMem_FloatTensor:$grad_out,
    LowMem_FloatTensor:$input,
    LowMem_FloatTensor:$gamma,
    ConfinedAttr<I64Attr, [IntPositive]>:$num_groups,
    F64Attr:$epsilon
  );
  let results = (outs LowMem_FloatTensor:$grad_input,
                      LowMem_FloatTensor:$grad_gamma,
                      LowMem_FloatTensor:$grad_beta);
  let assemblyFormat = [{
    $grad_out `,` $input `,` $gamma attr-dict `:` type($grad_out) `,`
    type($input) `,` type($gamma) `->` type($grad_input) `,`
    type($grad_gamma) `,` type($grad_beta)
  }];
  let hasVerifier = 1;
}

def LowMem_BiasGradOp : LowMem_Op<"bias_grad", [Pure]> {
  let summary = "gradient of a bias: sum over the leading dimensions";
  let description = [{
    Sums `grad_out` of shape `[..., N]` over every leading dimension into
    `[N]`, the gradient of a bias added along the last dimension.

    Example:

    ```mlir
    %db = lowmem.bias_grad %dy : tensor<?x1024xf32> -> tensor<1024xf32>
    ```
  }];
  let arguments = (ins LowMem_FloatTensor:$grad_out);
  let results = (outs LowMem_FloatTensor:$result);
  let assemblyFormat = [{
    $grad_out attr-dict `:` type($grad_out) `->` type($result)
  }];
  let hasVerifier = 1;
}

def LowMem_ScaleOp : LowMem_Op<"scale", [Pure, SameOperandsAndResultType]> {
  let summary = "multiply by a constant";
  let description = [{
    `factor · input`, elementwise. The backward of a LoRA branch scales the
    gradient reaching its input by the adapter's scale.

    Example:

    ```mlir
    %y = lowmem.scale %x {factor = 2.0 : f64} : tensor<?x8xf32>
    ```
  }];
  let arguments = (ins LowMem_FloatTensor:$input, F64Attr:$factor);
  let results = (outs LowMem_FloatTensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($result)";
}

//===----------------------------------------------------------------------===//
// Optimizers
//===----------------------------------------------------------------------===//

def LowMem_HyperTensor : Type<
    CPred<"$_self == ::mlir::RankedTensorType::get({4}, "
          "::mlir::Float32Type::get($_self.getContext()))">,
    "tensor<4xf32> of run-time hyperparameters", "::mlir::RankedTensorType">,
    BuildableType<"::mlir::RankedTensorType::get({4}, $_builder.getF32Type())">;
def LowMem_LossTensor : Type<
    CPred<"$_self == ::mlir::RankedTensorType::get({}, "
          "::mlir::Float32Type::get($_self.getContext()))">,
    "0-d f32 tensor", "::mlir::RankedTensorType">,
    BuildableType<"::mlir::RankedTensorType::get({}, $_builder.getF32Type())">;

def LowMem_DropoutOp : LowMem_Op<"dropout",
    [Pure, AllTypesMatch<["input", "result"]>]> {
  let summary = "inverted dropout with a counter-based mask";
  let description = [{
    Zeroes each element with probability `probability` and scales the others
    by `1 / (1 - probability)`. The mask is a function of the element's
    row-major index `i`, the op's `stream` and the step number `t =
    hyper[3]` (see `lowmem.sgd`), so the backward regenerates it instead of
    storing it, and a resumed run draws the same masks: with `u32` wrapping
    arithmetic, `h = i ^ (stream · 0x9E3779B9) ^ (t · 0x85EBCA6B)`, then
    `h ^= h >> 16; h *= 0x7FEB352D; h ^= h >> 15; h *= 0x846CA68B;
    h ^= h >> 16`, and the element is kept when `(h >> 8) · 2⁻²⁴ ≥
    probability`. Dropout is linear: its gradient is the same op applied to
    the output gradient.

    Example:

    ```mlir
    %d = lowmem.dropout %x, %hyper {probability = 0.1 : f64, stream = 3 : i64}
        : tensor<?x1024xf32>
    ```
  }];
  let arguments = (ins LowMem_FloatTensor:$input,
                       LowMem_HyperTensor:$hyper,
                       F64Attr:$probability,
                       I64Attr:$stream);
  let results = (outs LowMem_FloatTensor:$result);
  let assemblyFormat = "$input `,` $hyper attr-dict `:` type($input)";
  let hasVerifier = 1;
}

class LowMem_OptimizerOp<string mnemonic, list<Trait> traits = []>
    : LowMem_Op<mnemonic, !listconcat([Pure], traits)> {
  code commonDescription = [{
    The run-time hyperparameters come in `hyper`, a `tensor<4xf32>` the host
    fills before each step: `[lr, 1 - beta1^t, 1 - beta2^t, t]` with `t` the
    1-based step number (the bias corrections are unused by SGD). The step is
    skipped, every result equal to its operand, when `loss` is not finite,
    so that a diverging step never corrupts the parameters or the state.

    The results are meant to be written over their operands: the
    differentiate pass returns them from the training step and bufferization
    places them in the operands' buffers.
  }];
}

def LowMem_SgdOp : LowMem_OptimizerOp<"sgd",
    [AllTypesMatch<["param", "grad", "new_param"]>]> {
  let summary = "stochastic gradient descent step, with optional momentum";
  let description = commonDescription # [{

    With `d = grad + weight_decay · param`: without momentum
    `param -= lr · d`; with momentum `buf = momentum · buf + d` and
    `param -= lr · buf` (PyTorch's `SGD` without dampening or Nesterov; its
    first step, `buf = d`, is the same from a zero buffer).
    `momentum_buffer` is given exactly when `momentum` is not zero.

    Example:

    ```mlir
    %p2, %m2 = lowmem.sgd %p, %g, %hyper, %loss
        momentum_buffer(%m : tensor<8x1024xf32>)
        {momentum = 0.9 : f64, weight_decay = 0.0 : f64}
        : tensor<8x1024xf32>, tensor<8x1024xf32>
    ```
  }];
  let arguments = (ins
    LowMem_FloatTensor:$param,
    LowMem_FloatTensor:$grad,
    LowMem_HyperTensor:$hyper,
    LowMem_LossTensor:$loss,
    Optional<LowMem_FloatTensor>:$momentum_buffer,
    DefaultValuedAttr<F64Attr, "0.0">:$momentum,
    DefaultValuedAttr<F64Attr, "0.0">:$weight_decay
  );
  let results = (outs LowMem_FloatTensor:$new_param,
                      Optional<LowMem_FloatTensor>:$new_momentum_buffer);
  let assemblyFormat = [{
    $param `,` $grad `,` $hyper `,` $loss
    (`momentum_buffer` `(` $momentum_buffer^ `:` type($momentum_buffer) `)`)?
    attr-dict `:` type($param) (`,` type($new_momentum_buffer)^)?
  }];
  let hasVerifier = 1;
}

def LowMem_AdamWOp : LowMem_OptimizerOp<"adamw",
    [AllTypesMatch<["param", "grad", "exp_avg", "exp_avg_sq", "new_param",
                    "new_exp_avg", "new_exp_avg_sq"]>]> {
  let summary = "AdamW step (decoupled weight decay)";
  let description = commonDescription # [{

    PyTorch's `AdamW`: `param -= lr · weight_decay · param`,
    `exp_avg = beta1 · exp_avg + (1 - beta1) · grad`,
    `exp_avg_sq = beta2 · exp_avg_sq + (1 - beta2) · grad²`,
    `param -= lr / (1 - beta1^t) · exp_avg /
              (sqrt(exp_avg_sq) / sqrt(1 - beta2^t) + epsilon)`.

    Example:

    ```mlir
    %p2, %m2, %v2 = lowmem.adamw %p, %g, %m, %v, %hyper, %loss
        {beta1 = 0.9 : f64, beta2 = 0.999 : f64, epsilon = 1.0e-08 : f64,
         weight_decay = 0.01 : f64} : tensor<8x1024xf32>
    ```
  }];
  let arguments = (ins
    LowMem_FloatTensor:$param,
    LowMem_FloatTensor:$grad,
    LowMem_FloatTensor:$exp_avg,
    LowMem_FloatTensor:$exp_avg_sq,
    LowMem_HyperTensor:$hyper,
    LowMem_LossTensor:$loss,
    DefaultValuedAttr<F64Attr, "0.9">:$beta1,
    DefaultValuedAttr<F64Attr, "0.999">:$beta2,
    DefaultValuedAttr<F64Attr, "1.0e-08">:$epsilon,
    DefaultValuedAttr<F64Attr, "0.01">:$weight_decay
  );
  let results = (outs LowMem_FloatTensor:$new_param,
                      LowMem_FloatTensor:$new_exp_avg,
                      LowMem_FloatTensor:$new_exp_avg_sq);
  let assemblyFormat = [{
    $param `,` $grad `,` $exp_avg `,` $exp_avg_sq `,` $hyper `,` $loss
    attr-dict `:` type($param)
  }];
  let hasVerifier = 1;
}

#endif // LOWMEM_DIALECT_LOWMEM_IR_LOWMEMOPS_TD
