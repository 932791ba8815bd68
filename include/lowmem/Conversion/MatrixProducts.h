//===- MatrixProducts.h - operands and weight runs of products --*- C++ -*-===//
//
// Part of the lowmem project.
//
//===----------------------------------------------------------------------===//
//
// What the hand-structured matrix products of both backends share: the
// operands of a `lowmem.linear` or `lowmem.qlinear` (y = act(x · Wᵀ + bias)
// + residual, or x · W when transposed), their buffers read where they lie,
// the constant code tables of a quantized weight, and runs of consecutive
// weights decoded from one vector load. The GPU kernels
// (convert-lowmem-to-gpu) and the CPU loops (convert-lowmem-to-cpu) are
// built from these.
//
//===----------------------------------------------------------------------===//

#ifndef LOWMEM_CONVERSION_MATRIXPRODUCTS_H
#define LOWMEM_CONVERSION_MATRIXPRODUCTS_H

#include "lowmem/Conversion/WeightDecoder.h"
#include "lowmem/Dialect/LowMem/IR/LowMemOps.h"

#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"

#include <optional>

namespace mlir::lowmem {

/// A private constant global of the module holding `values`, created once
/// by name; GPU kernel outlining copies it into each kernel's module.
memref::GlobalOp tableGlobal(ModuleOp module, StringRef name,
                             ArrayRef<float> values);

/// Whether the rows (the last dimension) of `tensor`, read in place, are
/// whole rows of its buffer: not a slice that cuts the last dimension.
bool wholeRows(Value tensor);

/// The rows of a tensor: its leading dimensions (all but the last), whose
/// product a kernel's blocks, warps or loops count through.
struct Rows {
  SmallVector<Value> sizes;        // each leading dimension
  SmallVector<Value> dynamicSizes; // the dynamic ones, for an allocation
  Value count;                     // their product

  static Rows of(OpBuilder &b, Location loc, Value tensor);

  /// The indices of row `flat` in the leading dimensions.
  SmallVector<Value> indices(OpBuilder &b, Location loc, Value flat) const;
};

/// The operands of a matrix product, as tensors.
struct LinearOperands {
  Value input, denseWeight, bias, residual;
  Activation activation = Activation::none;
  std::optional<QTensorType> quantType; // with its storage parts
  SmallVector<Value> parts;
  // The input's last dimension (k) and the result's (n); W is [n, k], or
  // [k, n] when transposed.
  int64_t n = 0, k = 0;
  bool transposed = false;
};

/// Collects the operands of an f32 matrix product (an input of rank 2 or
/// more, static k and n) with f32 weights, or quantized weights whose
/// storage is explicit, transposed (input gradients) or not.
LogicalResult collectLinear(LinearOp op, LinearOperands &ops);
LogicalResult collectLinear(QLinearOp op, LinearOperands &ops);

/// Bits of one weight of a matrix product as stored: 32 (f32 weights), 16
/// (f16, bf16), 8 (int8) or 4.
int64_t weightBits(const LinearOperands &ops);

/// Whether a 4-bit weight's blocks, if \p ops has one, hold whole runs of
/// \p run weights, which decodeRun takes.
bool blocksHoldRuns(const LinearOperands &ops, int64_t run);

/// The constant globals a matrix product's quantized weight is decoded
/// with: the NF4 or FP4 code table, and the double quantization's dynamic
/// map; null where the format has none.
struct DecoderTables {
  memref::GlobalOp codes, dynamicMap;

  static DecoderTables of(ModuleOp module, const LinearOperands &ops);

  /// A decoder of \p ops' quantized weight (none for f32 weights) that
  /// reads the tables from the constant globals.
  std::optional<WeightDecoder> decoder(OpBuilder &b, Location loc,
                                       const LinearOperands &ops,
                                       ArrayRef<Value> parts) const;

  /// GPU kernels: the sizes of the workgroup buffers a kernel stages the
  /// tables in (the code table first).
  SmallVector<int64_t> sharedSizes() const;

  /// GPU kernels: copies the tables into the kernel's workgroup buffers
  /// `shared` (laid out as sharedSizes() says), spread over the block's
  /// `numThreads` threads, then a barrier: every thread of the block must
  /// reach it.
  void stage(OpBuilder &b, Location loc, ArrayRef<BlockArgument> shared,
             Value tid, int64_t numThreads) const;

  /// GPU kernels: a decoder of \p ops' quantized weight (none for f32
  /// weights) that reads the tables a kernel staged in `shared`.
  std::optional<WeightDecoder>
  sharedDecoder(const LinearOperands &ops, ArrayRef<Value> parts,
                ArrayRef<BlockArgument> shared) const;
};

/// The elements of the 1-D vector \p vector.
SmallVector<Value> elementsOf(OpBuilder &b, Location loc, Value vector);

/// \p count consecutive elements of \p buffer from \p at, read by one
/// vector load aligned to \p align bytes.
SmallVector<Value> loadRun(OpBuilder &b, Location loc, Value buffer,
                           ValueRange at, int64_t count, int64_t align);

/// Decodes `count` consecutive weights of row `row` of a matrix product's
/// weight from column `col0`, out of one vector load aligned to its size:
/// f32 values (`w`), f16/bf16 values widened, int8 codes times the row's
/// scale, or 4-bit codes (the first element in the high nibble for nf4 and
/// fp4, the low one for int4) times their blocks' scales. `flatRow` is
/// `row` times the row's length. The run must not straddle a 4-bit block
/// unless it holds whole blocks.
SmallVector<Value> decodeRun(OpBuilder &cb, Location cl,
                             const LinearOperands &ops,
                             const std::optional<WeightDecoder> &decoder,
                             Value w, ArrayRef<Value> parts, Value row,
                             Value col0, Value flatRow, int64_t count);

/// The buffers of a matrix product, read on the host: the weight (or its
/// storage parts) and the bias; the input and the residual where they lie,
/// through strided views, never copied (the leading dimensions, [batch,
/// seq] of a transformer's activations, are the rows); the fresh result.
struct LinearBuffers {
  Value w, bias, x, residual, out;
  SmallVector<Value> parts;
  Rows rows;
  MemRefType outType;

  static LinearBuffers read(OpBuilder &b, Location loc,
                            const LinearOperands &ops);

  /// The indices in x of rows m0, m0 + 1, ... (`count` of them), clamped to
  /// the last row, so that a partial tile reads valid memory (its extra
  /// sums are discarded).
  SmallVector<SmallVector<Value>> tileRows(OpBuilder &b, Location loc, Value m0,
                                           int64_t count) const;

  /// Calls `body(builder, t, indices)` for each row m0 + t (t < `count`)
  /// that exists, with the row's indices in x (the leading dimensions).
  void forValidRows(
      OpBuilder &b, Location loc, Value m0, int64_t count,
      function_ref<void(OpBuilder &, Location, int64_t, SmallVector<Value>)>
          body) const;

  /// Stores the sum `v` at `at` in the result after the epilogue: plus
  /// `biasValue` (if any), the activation, plus the residual at `at`.
  void store(OpBuilder &b, Location loc, const LinearOperands &ops, Value v,
             Value biasValue, ValueRange at) const;

  /// store() of `v` at `at`, whose last index is the output feature, with
  /// that feature's bias.
  void storeFeature(OpBuilder &b, Location loc, const LinearOperands &ops,
                    Value v, ValueRange at) const;

  /// The result, as a tensor.
  Value result(OpBuilder &b, Location loc) const;
};

} // namespace mlir::lowmem

#endif // LOWMEM_CONVERSION_MATRIXPRODUCTS_H
