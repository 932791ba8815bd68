//===- BuildUtils.h - small IR builders shared by the lowerings -*- C++ -*-===//
//
// Part of the lowmem project.
//
//===----------------------------------------------------------------------===//
//
// Constants, empty tensors and operand buffers that the linalg and GPU
// lowerings of lowmem ops all build.
//
//===----------------------------------------------------------------------===//

#ifndef LOWMEM_CONVERSION_BUILDUTILS_H
#define LOWMEM_CONVERSION_BUILDUTILS_H

#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/PatternMatch.h"

namespace mlir::lowmem {

/// Marks an `scf.parallel` whose iterations write disjoint parts of their
/// buffers and share no scratch, for lowmem-cpu-threads to run on threads.
inline constexpr StringLiteral kCPUThreadsAttr = "lowmem.cpu_threads";

/// An `scf.parallel` marked kCPUThreadsAttr: its iterations must write
/// disjoint parts of their buffers and share no scratch.
scf::ParallelOp
threadedParallel(OpBuilder &b, Location loc, ValueRange lbs, ValueRange ubs,
                 ValueRange steps,
                 function_ref<void(OpBuilder &, Location, ValueRange)> body);

/// An f32 constant.
Value f32Const(OpBuilder &b, Location loc, float v);

/// An index constant.
Value indexConst(OpBuilder &b, Location loc, int64_t v);

/// `tensor.empty` of `type`; each dynamic dimension takes the size of the
/// same dimension of `like` (the leading, batch-like dimensions that all
/// lowmem ops carry from their input to their result).
Value emptyLike(OpBuilder &b, Location loc, RankedTensorType type, Value like);

/// Fails the match of `op` unless `type` (or its elements) is f32.
LogicalResult checkF32(PatternRewriter &rewriter, Operation *op, Type type);

/// The buffer of a tensor operand, for reading
/// (`bufferization.to_buffer read_only`).
Value readBuffer(OpBuilder &b, Location loc, Value tensor);

/// The buffer of a tensor operand, read where it lies: a slice (the filled
/// prefix of a KV cache, the last position of a sequence) through a strided
/// view of its source, so that bufferization copies nothing; anything else
/// as `readBuffer` reads it.
Value readInPlace(OpBuilder &b, Location loc, Value tensor);

/// `value` as f32: a key or value read from an f16 or bf16 cache, or an int8
/// code (whose scale the caller applies).
Value widenToF32(OpBuilder &b, Location loc, Value value);

/// The end of the keys query `s` sees under the causal mask, [0, end):
/// clamp(s + shift + 1, 0, keys), where shift = keys - queries (the queries
/// are the last of the keys' positions).
Value causalEnd(OpBuilder &b, Location l, Value keys, Value s, Value shift);

/// One key of an online softmax over a row's scores. Given the key's dot
/// product with the query, the row's running maximum `m`, and for int8 keys
/// and values their scales (else null): the score x = dot · scale (· the
/// key's scale), the new maximum max(m, x), the factor exp(m - max) that
/// rescales what was summed so far, the key's weight p = exp(x - max) in
/// the sum, and its weight in the output row (p · the value's scale).
struct OnlineSoftmaxStep {
  Value maximum, rescale, weight, valueWeight;
  /// The running sum with this key: `sum` · rescale + weight.
  Value nextSum(OpBuilder &b, Location loc, Value sum) const;
};

/// The logsumexp of an online softmax's row: `maximum` + log(`sum`).
Value logSumExp(OpBuilder &b, Location loc, Value maximum, Value sum);
OnlineSoftmaxStep onlineSoftmaxStep(OpBuilder &b, Location loc, Value dot,
                                    float scale, Value m, Value keyScale,
                                    Value valueScale);

/// The better of two (value, index) candidates of an argmax, as a scan in
/// index order would pick: a NaN over any number, a larger value over a
/// smaller one, and between equals (or two NaNs) the lower index. It is
/// commutative and associative, so a reduction tree (the GPU's) gives the
/// scan's (the CPU's) answer.
std::pair<Value, Value> betterOf(OpBuilder &b, Location loc, Value av, Value ai,
                                 Value bv, Value bi);

/// Sums `f(elements...)` of same-shaped `inputs` over every dimension into a
/// 0-d f32 tensor (a linalg reduction).
Value sumAll(OpBuilder &b, Location loc, ValueRange inputs,
             function_ref<Value(OpBuilder &, Location, ValueRange)> f);

/// The number of `labels` that are not `ignore`, as a 0-d f32 tensor.
Value countLabels(OpBuilder &b, Location loc, Value labels, int64_t ignore);

/// A cross-entropy's mean loss, a 0-d f32 tensor: the sum of the rows'
/// losses `rowLoss` (0 for an ignored row) over the number of labels that are
/// not `ignore`; NaN when every label is ignored, as PyTorch's.
Value meanRowLoss(OpBuilder &b, Location loc, Value rowLoss, Value labels,
                  int64_t ignore);

/// A cross-entropy's gradient with respect to the logit `z` of class `v` of
/// a row: (exp(z − lse) − [v = label]) · invCount, `lse` the row's
/// logsumexp and `invCount` 1 / the number of counted rows.
Value crossEntropyLogitGrad(OpBuilder &b, Location loc, Value z, Value lse,
                            Value v, Value label, Value invCount);

} // namespace mlir::lowmem

#endif // LOWMEM_CONVERSION_BUILDUTILS_H
