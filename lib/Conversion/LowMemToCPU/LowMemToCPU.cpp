//===- LowMemToCPU.cpp - lowmem matrix products as CPU loop nests ---------===//
//
// Part of the lowmem project.
//
//===----------------------------------------------------------------------===//
//
// Lowers `lowmem.linear` and `lowmem.qlinear` (inputs of any rank >= 2, the
// leading dimensions being rows; transposed or not) to loop nests built for
// a CPU's vector registers, at the tensor level like convert-lowmem-to-gpu:
// the operands are read through `bufferization.to_buffer` (slices in place),
// the result is a fresh `memref.alloc` returned by a restricted
// `bufferization.to_tensor`.
//
// y = act(x · Wᵀ + bias) + residual is computed a panel of W at a time: the
// weights of kPanelCols output features and `panel-depth` inputs are decoded
// once (runs of 8 from one vector load where the layout allows it) into a
// small f32 scratch laid out [depth][feature] (16 KB on the stack, one a
// function), then every row of x takes the
// panel: kTileRows rows at a time, each step along k broadcasting one input
// of each row against the panel's two 8-wide vectors of weights, so a tile
// keeps kTileRows × 2 vector accumulators in registers. A weight is decoded
// once for all the rows, not once per row as the generic lowering does, and
// the scratch is the only decoded copy: kPanelCols × panel-depth values.
//
// Below kTileRows rows (a decode step), a product whose weight is not
// transposed and whose rows hold whole runs skips the panel: each row of W
// is decoded straight into a vector accumulator of its dot product with
// each row of x. Either way, groups of kPanelCols features are the
// iterations of an `scf.parallel` that lowmem-cpu-threads gives to threads.
//
//===----------------------------------------------------------------------===//

#include "lowmem/Conversion/BuildUtils.h"
#include "lowmem/Conversion/MatrixProducts.h"
#include "lowmem/Conversion/Passes.h"
#include "lowmem/Dialect/LowMem/IR/LowMemOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/PatternMatch.h"

namespace mlir::lowmem {
#define GEN_PASS_DEF_CONVERTLOWMEMTOCPU
#include "lowmem/Conversion/Passes.h.inc"
} // namespace mlir::lowmem

using namespace mlir;
using namespace mlir::lowmem;

namespace {

/// Lanes of a vector of the micro-kernel, and of a decoded run.
constexpr int64_t kLanes = 8;
/// Output features of a panel: two vectors.
constexpr int64_t kPanelCols = 2 * kLanes;
/// Rows of x a tile of the micro-kernel takes together.
constexpr int64_t kTileRows = 4;

/// Calls `body(b, loc, i, j)` for i in [outer.first, outer.second) and,
/// inside, j in [inner.first, inner.second): two nested loops of step 1.
void forEachPair(OpBuilder &b, Location loc, std::pair<Value, Value> outer,
                 std::pair<Value, Value> inner,
                 function_ref<void(OpBuilder &, Location, Value, Value)> body) {
  Value one = indexConst(b, loc, 1);
  scf::ForOp::create(b, loc, outer.first, outer.second, one, ValueRange{},
                     [&](OpBuilder &ib, Location il, Value i, ValueRange) {
                       scf::ForOp::create(ib, il, inner.first, inner.second,
                                          one, ValueRange{},
                                          [&](OpBuilder &jb, Location jl,
                                              Value j, ValueRange) {
                                            body(jb, jl, i, j);
                                            scf::YieldOp::create(jb, jl);
                                          });
                       scf::YieldOp::create(ib, il);
                     });
}

/// What one product's loops are built from.
struct CPUProduct {
  const LinearOperands &ops;
  const LinearBuffers &buffers;
  std::optional<WeightDecoder> decoder;
  Value panel;      // memref<depth x kPanelCols x f32>
  int64_t depth;    // panel-depth
  bool runs;        // the panel decodes runs of kLanes from vector loads
  bool partialCols; // n is not a multiple of kPanelCols

  VectorType vectorType(OpBuilder &b) const {
    return VectorType::get({kLanes}, b.getF32Type());
  }

  /// Lanes of vector `h` of the panel at features [n0, n0 + kPanelCols)
  /// that are features of the result: a mask, or null when all are.
  Value laneMask(OpBuilder &b, Location loc, Value n0, int64_t h) const {
    if (!partialCols)
      return Value();
    Value first =
        arith::AddIOp::create(b, loc, n0, indexConst(b, loc, h * kLanes));
    Value left = arith::SubIOp::create(
        b, loc, indexConst(b, loc, ops.n),
        arith::MinUIOp::create(b, loc, first, indexConst(b, loc, ops.n)));
    Value count =
        arith::MinUIOp::create(b, loc, left, indexConst(b, loc, kLanes));
    return vector::CreateMaskOp::create(
        b, loc, VectorType::get({kLanes}, b.getI1Type()), ValueRange{count});
  }

  /// Reads kLanes f32 values of the 1-D buffer `buffer` from `at` (the
  /// lanes under `mask`, zero elsewhere).
  Value readLanes(OpBuilder &b, Location loc, Value buffer, ValueRange at,
                  Value mask) const {
    if (!mask)
      return vector::LoadOp::create(b, loc, vectorType(b), buffer, at);
    Value zero = arith::ConstantOp::create(
        b, loc, DenseElementsAttr::get(vectorType(b), 0.0f));
    return vector::MaskedLoadOp::create(b, loc, vectorType(b), buffer, at, mask,
                                        zero);
  }

  /// Writes the lanes of `value` under `mask` (all, if null) at `at`.
  void writeLanes(OpBuilder &b, Location loc, Value value, Value buffer,
                  ValueRange at, Value mask) const {
    if (!mask)
      vector::StoreOp::create(b, loc, value, buffer, at);
    else
      vector::MaskedStoreOp::create(b, loc, buffer, at, mask, value);
  }

  /// decodeRun's kLanes weights as one vector. int8 codes are widened,
  /// scaled and divided as vectors (the same IEEE operations, so the same
  /// values, as the scalar decoder's, at a vector division's cost).
  Value runVector(OpBuilder &b, Location loc, Value row, Value col0,
                  Value flatRow) const {
    if (ops.quantType && ops.quantType->getFormat() == QuantFormat::int8) {
      Value flat = arith::AddIOp::create(b, loc, flatRow, col0);
      Value codes = vector::LoadOp::create(
          b, loc, VectorType::get({kLanes}, b.getI8Type()), buffers.parts[0],
          ValueRange{flat}, /*nontemporal=*/false, llvm::MaybeAlign(kLanes));
      Value scale = vector::BroadcastOp::create(
          b, loc, vectorType(b),
          memref::LoadOp::create(b, loc, buffers.parts[1], ValueRange{row}));
      Value q = arith::SIToFPOp::create(b, loc, vectorType(b), codes);
      Value prod = arith::MulFOp::create(b, loc, q, scale);
      Value divisor = arith::ConstantOp::create(
          b, loc, DenseElementsAttr::get(vectorType(b), 127.0f));
      return arith::DivFOp::create(b, loc, prod, divisor);
    }
    if (ops.quantType && ops.quantType->getFormat() == QuantFormat::int4)
      return int4Run(b, loc, col0, flatRow);
    return vector::FromElementsOp::create(
        b, loc, vectorType(b),
        decodeRun(b, loc, ops, decoder, buffers.w, buffers.parts, row, col0,
                  flatRow, kLanes));
  }

  /// kLanes int4 codes from one 4-byte load, split into nibbles and
  /// interleaved (the first code in the low nibble) as vectors, then mapped
  /// as the scalar decoder maps them, lane by lane, with the run's block
  /// scale (a run never straddles a block). nf4 and fp4 keep the scalar
  /// table lookups: a gather of the 16-entry table was slower (4.7 against
  /// 3.9 ms for BigNet at batch 1).
  Value int4Run(OpBuilder &b, Location loc, Value col0, Value flatRow) const {
    MLIRContext *ctx = b.getContext();
    int64_t half = kLanes / 2;
    auto i32Splat = [&](int32_t v) {
      return arith::ConstantOp::create(
          b, loc,
          DenseElementsAttr::get(VectorType::get({half}, b.getI32Type()), v));
    };
    auto f32Splat = [&](float v) {
      return arith::ConstantOp::create(
          b, loc, DenseElementsAttr::get(vectorType(b), v));
    };
    Value flat = arith::AddIOp::create(b, loc, flatRow, col0);
    Value bytes = vector::LoadOp::create(
        b, loc, VectorType::get({half}, b.getI8Type()), buffers.parts[0],
        ValueRange{arith::DivUIOp::create(b, loc, flat, indexConst(b, loc, 2))},
        /*nontemporal=*/false, llvm::MaybeAlign(half));
    Value wide = arith::ExtUIOp::create(
        b, loc, VectorType::get({half}, b.getI32Type()), bytes);
    Value mask = i32Splat(15);
    Value high = arith::AndIOp::create(
        b, loc, arith::ShRUIOp::create(b, loc, wide, i32Splat(4)), mask);
    Value low = arith::AndIOp::create(b, loc, wide, mask);
    SmallVector<int64_t> order;
    for (int64_t i = 0; i < half; ++i) {
      order.push_back(i);
      order.push_back(i + half);
    }
    Value codes = vector::ShuffleOp::create(b, loc, low, high,
                                            DenseI64ArrayAttr::get(ctx, order));
    Value block = arith::DivUIOp::create(
        b, loc, flat, indexConst(b, loc, ops.quantType->getBlockSize()));
    Value scale = vector::BroadcastOp::create(
        b, loc, vectorType(b), decoder->blockScale(b, loc, block));
    // ((q / 15) * 2) * m - m.
    Value q = arith::UIToFPOp::create(b, loc, vectorType(b), codes);
    Value norm = arith::DivFOp::create(b, loc, q, f32Splat(15.0f));
    Value twice = arith::MulFOp::create(b, loc, norm, f32Splat(2.0f));
    return arith::SubFOp::create(
        b, loc, arith::MulFOp::create(b, loc, twice, scale), scale);
  }

  /// W's value at output feature `feature` and input `input`, decoded alone.
  Value weightAt(OpBuilder &b, Location loc, Value feature, Value input) const {
    SmallVector<Value> at = ops.transposed ? SmallVector<Value>{input, feature}
                                           : SmallVector<Value>{feature, input};
    if (decoder)
      return decoder->decode(b, loc, at);
    return memref::LoadOp::create(b, loc, buffers.w, at);
  }

  /// Decodes W's features [n0, n0 + kPanelCols) ∩ [0, n) at inputs [k0, k0
  /// + kc) into the panel, at [input - k0][feature - n0].
  void fillPanel(OpBuilder &b, Location loc, Value n0, Value k0,
                 Value kc) const {
    Value zero = indexConst(b, loc, 0);
    Value lanes = indexConst(b, loc, kLanes);
    Value cols = arith::MinUIOp::create(
        b, loc, indexConst(b, loc, kPanelCols),
        arith::SubIOp::create(b, loc, indexConst(b, loc, ops.n), n0));
    if (partialCols) {
      // The last panel's features past n hold zeros: their lanes are never
      // stored, but stale or uninitialized values would be multiplied.
      forEachPair(b, loc, {zero, kc}, {cols, indexConst(b, loc, kPanelCols)},
                  [&](OpBuilder &jb, Location jl, Value kk, Value j) {
                    memref::StoreOp::create(jb, jl, f32Const(jb, jl, 0.0f),
                                            panel, ValueRange{kk, j});
                  });
    }
    if (!runs) {
      // One weight at a time: layouts whose runs a vector load cannot take.
      forEachPair(b, loc, {zero, kc}, {zero, cols},
                  [&](OpBuilder &jb, Location jl, Value kk, Value j) {
                    Value input = arith::AddIOp::create(jb, jl, k0, kk);
                    Value feature = arith::AddIOp::create(jb, jl, n0, j);
                    memref::StoreOp::create(jb, jl,
                                            weightAt(jb, jl, feature, input),
                                            panel, ValueRange{kk, j});
                  });
      return;
    }
    if (ops.transposed) {
      // W is [k, n]: a run is kLanes features of one input, one vector of
      // the panel's row.
      forEachPair(
          b, loc, {zero, kc},
          {zero, arith::DivUIOp::create(b, loc, cols, lanes)},
          [&](OpBuilder &rb, Location rl, Value kk, Value h) {
            Value input = arith::AddIOp::create(rb, rl, k0, kk);
            Value col = arith::MulIOp::create(rb, rl, h, lanes);
            Value vec =
                runVector(rb, rl, input, arith::AddIOp::create(rb, rl, n0, col),
                          arith::MulIOp::create(rb, rl, input,
                                                indexConst(rb, rl, ops.n)));
            vector::StoreOp::create(rb, rl, vec, panel, ValueRange{kk, col});
          });
      return;
    }
    // W is [n, k]: a run is kLanes inputs of one feature, a column of the
    // panel.
    forEachPair(
        b, loc, {zero, cols}, {zero, arith::DivUIOp::create(b, loc, kc, lanes)},
        [&](OpBuilder &rb, Location rl, Value j, Value r) {
          Value feature = arith::AddIOp::create(rb, rl, n0, j);
          Value kk = arith::MulIOp::create(rb, rl, r, lanes);
          SmallVector<Value> run = elementsOf(
              rb, rl,
              runVector(rb, rl, feature, arith::AddIOp::create(rb, rl, k0, kk),
                        arith::MulIOp::create(rb, rl, feature,
                                              indexConst(rb, rl, ops.k))));
          for (int64_t e = 0; e < kLanes; ++e)
            memref::StoreOp::create(
                rb, rl, run[e], panel,
                ValueRange{
                    arith::AddIOp::create(rb, rl, kk, indexConst(rb, rl, e)),
                    j});
        });
  }

  /// Rows [m0, m0 + count) of the result at features [n0, n0 + kPanelCols)
  /// take the panel's inputs [k0, k0 + kc): the sums start from the result
  /// (from the bias, or zero, at the first panel) and, at the last panel,
  /// end with the activation and the residual.
  void tile(OpBuilder &b, Location loc, Value m0, int64_t count, Value n0,
            Value k0, Value kc, Value first, Value last) const {
    Type vecType = vectorType(b);
    SmallVector<SmallVector<Value>> rowAt;
    for (int64_t t = 0; t < count; ++t)
      rowAt.push_back(buffers.rows.indices(
          b, loc, arith::AddIOp::create(b, loc, m0, indexConst(b, loc, t))));
    SmallVector<Value> masks, cols;
    for (int64_t h = 0; h < 2; ++h) {
      masks.push_back(laneMask(b, loc, n0, h));
      cols.push_back(
          arith::AddIOp::create(b, loc, n0, indexConst(b, loc, h * kLanes)));
    }
    auto at = [&](OpBuilder &, Location, int64_t t, int64_t h) {
      SmallVector<Value> index(rowAt[t]);
      index.push_back(cols[h]);
      return index;
    };
    SmallVector<Type> accTypes(count * 2, vecType);
    auto init = scf::IfOp::create(
        b, loc, first,
        [&](OpBuilder &ib, Location il) {
          SmallVector<Value> values;
          for (int64_t t = 0; t < count; ++t)
            for (int64_t h = 0; h < 2; ++h)
              values.push_back(
                  buffers.bias
                      ? readLanes(ib, il, buffers.bias, cols[h], masks[h])
                      : arith::ConstantOp::create(
                            ib, il,
                            DenseElementsAttr::get(vectorType(ib), 0.0f)));
          scf::YieldOp::create(ib, il, values);
        },
        [&](OpBuilder &eb, Location el) {
          SmallVector<Value> values;
          for (int64_t t = 0; t < count; ++t)
            for (int64_t h = 0; h < 2; ++h)
              values.push_back(
                  readLanes(eb, el, buffers.out, at(eb, el, t, h), masks[h]));
          scf::YieldOp::create(eb, el, values);
        });
    auto steps = scf::ForOp::create(
        b, loc, indexConst(b, loc, 0), kc, indexConst(b, loc, 1),
        init.getResults(),
        [&](OpBuilder &lb, Location ll, Value kk, ValueRange acc) {
          SmallVector<Value> weights;
          for (int64_t h = 0; h < 2; ++h)
            weights.push_back(vector::LoadOp::create(
                lb, ll, vecType, panel,
                ValueRange{kk, indexConst(lb, ll, h * kLanes)}));
          Value input = arith::AddIOp::create(lb, ll, k0, kk);
          SmallVector<Value> next;
          for (int64_t t = 0; t < count; ++t) {
            SmallVector<Value> xAt(rowAt[t]);
            xAt.push_back(input);
            Value xv = vector::BroadcastOp::create(
                lb, ll, vecType,
                memref::LoadOp::create(lb, ll, buffers.x, xAt));
            for (int64_t h = 0; h < 2; ++h)
              next.push_back(vector::FMAOp::create(lb, ll, xv, weights[h],
                                                   acc[t * 2 + h]));
          }
          scf::YieldOp::create(lb, ll, next);
        });
    auto epilogue = scf::IfOp::create(
        b, loc, last,
        [&](OpBuilder &ib, Location il) {
          SmallVector<Value> values;
          for (int64_t t = 0; t < count; ++t)
            for (int64_t h = 0; h < 2; ++h) {
              Value v = steps.getResult(t * 2 + h);
              if (ops.activation == Activation::relu)
                v = arith::MaximumFOp::create(
                    ib, il, v,
                    arith::ConstantOp::create(
                        ib, il, DenseElementsAttr::get(vectorType(ib), 0.0f)));
              if (buffers.residual)
                v = arith::AddFOp::create(
                    ib, il, v, residualLanes(ib, il, at(ib, il, t, h), h));
              values.push_back(v);
            }
          scf::YieldOp::create(ib, il, values);
        },
        [&](OpBuilder &eb, Location el) {
          scf::YieldOp::create(eb, el, steps.getResults());
        });
    for (int64_t t = 0; t < count; ++t)
      for (int64_t h = 0; h < 2; ++h)
        writeLanes(b, loc, epilogue.getResult(t * 2 + h), buffers.out,
                   at(b, loc, t, h), masks[h]);
  }

  /// The residual's kLanes values from `at` (whose last index is the first
  /// feature), read one at a time (it may be a strided view), zero past n.
  Value residualLanes(OpBuilder &b, Location loc, SmallVector<Value> at,
                      int64_t h) const {
    Value vec = arith::ConstantOp::create(
        b, loc, DenseElementsAttr::get(vectorType(b), 0.0f));
    Value col0 = at.back();
    for (int64_t e = 0; e < kLanes; ++e) {
      at.back() = arith::AddIOp::create(b, loc, col0, indexConst(b, loc, e));
      auto read = [&](OpBuilder &rb, Location rl) {
        Value v = memref::LoadOp::create(rb, rl, buffers.residual, at);
        return vector::InsertOp::create(rb, rl, v, vec, ArrayRef<int64_t>{e})
            .getResult();
      };
      if (!partialCols) {
        vec = read(b, loc);
        continue;
      }
      Value inside =
          arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult, at.back(),
                                indexConst(b, loc, ops.n));
      vec = scf::IfOp::create(
                b, loc, inside,
                [&](OpBuilder &ib, Location il) {
                  scf::YieldOp::create(ib, il, read(ib, il));
                },
                [&](OpBuilder &eb, Location el) {
                  scf::YieldOp::create(eb, el, vec);
                })
                .getResult(0);
    }
    return vec;
  }
};

/// Whether the panel decodes runs of kLanes weights from vector loads: a
/// stored row of W holds whole runs (which 4-bit blocks never split), so
/// every run starts aligned to its size.
bool panelRuns(const LinearOperands &ops) {
  int64_t stored = ops.transposed ? ops.n : ops.k;
  return stored % kLanes == 0 && blocksHoldRuns(ops, kLanes);
}

/// The panel scratch of the products of `func`: one stack buffer of
/// `depth` × kPanelCols f32 at the function's entry, made on first use
/// (the products run one after another; a stack buffer in a loop's body
/// would take new stack each iteration).
Value panelOf(func::FuncOp func, int64_t depth,
              DenseMap<Operation *, Value> &panels) {
  Value &panel = panels[func];
  if (panel)
    return panel;
  OpBuilder b = OpBuilder::atBlockBegin(&func.getBody().front());
  auto type = MemRefType::get({depth, kPanelCols}, b.getF32Type());
  panel = memref::AllocaOp::create(b, func.getLoc(), type, ValueRange{},
                                   b.getI64IntegerAttr(64));
  return panel;
}

void emitPanelLoops(OpBuilder &b, Location loc, const CPUProduct &product);

/// The product of a non-transposed weight whose rows hold whole runs, row
/// by row: for each feature n and row m of x, the dot product of x's row
/// with W's row n, decoded kLanes weights at a time into one vector
/// accumulator, then summed and stored with the epilogue. Features in
/// groups of kPanelCols are the threads' iterations, as in the panel loops.
void emitRowDots(OpBuilder &b, Location loc, const CPUProduct &product) {
  const LinearOperands &ops = product.ops;
  const LinearBuffers &buffers = product.buffers;
  Value zero = indexConst(b, loc, 0), one = indexConst(b, loc, 1);
  threadedParallel(
      b, loc, ValueRange{zero}, ValueRange{indexConst(b, loc, ops.n)},
      ValueRange{indexConst(b, loc, kPanelCols)},
      [&](OpBuilder &gb, Location gl, ValueRange ivs) {
        Value n0 = ivs[0];
        Value cols = arith::MinUIOp::create(
            gb, gl, indexConst(gb, gl, kPanelCols),
            arith::SubIOp::create(gb, gl, indexConst(gb, gl, ops.n), n0));
        scf::ForOp::create(
            gb, gl, zero, cols, one, ValueRange{},
            [&](OpBuilder &fb, Location fl, Value j, ValueRange) {
              Value feature = arith::AddIOp::create(fb, fl, n0, j);
              Value flatRow = arith::MulIOp::create(fb, fl, feature,
                                                    indexConst(fb, fl, ops.k));
              scf::ForOp::create(
                  fb, fl, zero, buffers.rows.count, one, ValueRange{},
                  [&](OpBuilder &rb, Location rl, Value row, ValueRange) {
                    SmallVector<Value> at = buffers.rows.indices(rb, rl, row);
                    Value init = arith::ConstantOp::create(
                        rb, rl,
                        DenseElementsAttr::get(product.vectorType(rb), 0.0f));
                    auto dot = scf::ForOp::create(
                        rb, rl, zero, indexConst(rb, rl, ops.k),
                        indexConst(rb, rl, kLanes), ValueRange{init},
                        [&](OpBuilder &kb, Location kl, Value k0,
                            ValueRange acc) {
                          Value w =
                              product.runVector(kb, kl, feature, k0, flatRow);
                          SmallVector<Value> xAt(at);
                          xAt.push_back(k0);
                          Value xv = vector::LoadOp::create(
                              kb, kl, product.vectorType(kb), buffers.x, xAt);
                          scf::YieldOp::create(kb, kl,
                                               ValueRange{vector::FMAOp::create(
                                                   kb, kl, xv, w, acc[0])});
                        });
                    Value sum = vector::ReductionOp::create(
                        rb, rl, vector::CombiningKind::ADD, dot.getResult(0));
                    at.push_back(feature);
                    buffers.storeFeature(rb, rl, ops, sum, at);
                    scf::YieldOp::create(rb, rl);
                  });
              scf::YieldOp::create(fb, fl);
            });
      });
}

/// Emits the product and returns the result tensor.
Value emitCPUProduct(OpBuilder &b, Location loc, ModuleOp module,
                     const LinearOperands &ops, Value panel, int64_t depth) {
  LinearBuffers buffers = LinearBuffers::read(b, loc, ops);
  DecoderTables tables = DecoderTables::of(module, ops);
  CPUProduct product{ops,
                     buffers,
                     tables.decoder(b, loc, ops, buffers.parts),
                     panel,
                     depth,
                     panelRuns(ops),
                     ops.n % kPanelCols != 0};
  if (ops.transposed || !product.runs) {
    emitPanelLoops(b, loc, product);
    return buffers.result(b, loc);
  }
  // Below a tile of rows (a decode step), nothing would share a decoded
  // panel: each row of W is decoded straight into the dot products.
  Value few =
      arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult,
                            buffers.rows.count, indexConst(b, loc, kTileRows));
  scf::IfOp::create(
      b, loc, few,
      [&](OpBuilder &tb, Location tl) {
        emitRowDots(tb, tl, product);
        scf::YieldOp::create(tb, tl);
      },
      [&](OpBuilder &eb, Location el) {
        emitPanelLoops(eb, el, product);
        scf::YieldOp::create(eb, el);
      });
  return buffers.result(b, loc);
}

/// The product a panel at a time (any number of rows).
void emitPanelLoops(OpBuilder &b, Location loc, const CPUProduct &product) {
  const LinearOperands &ops = product.ops;
  const LinearBuffers &buffers = product.buffers;
  int64_t depth = product.depth;
  Value m = buffers.rows.count;
  Value fullRows = arith::MulIOp::create(
      b, loc, arith::DivUIOp::create(b, loc, m, indexConst(b, loc, kTileRows)),
      indexConst(b, loc, kTileRows));
  // Panels of features write disjoint columns of the result: the runtime's
  // threads take them (lowmem-cpu-threads).
  threadedParallel(
      b, loc, ValueRange{indexConst(b, loc, 0)},
      ValueRange{indexConst(b, loc, ops.n)},
      ValueRange{indexConst(b, loc, kPanelCols)},
      [&](OpBuilder &nb, Location nl, ValueRange ivs) {
        Value n0 = ivs[0];
        scf::ForOp::create(
            nb, nl, indexConst(nb, nl, 0), indexConst(nb, nl, ops.k),
            indexConst(nb, nl, depth), ValueRange{},
            [&](OpBuilder &kb, Location kl, Value k0, ValueRange) {
              Value kc = arith::MinUIOp::create(
                  kb, kl, indexConst(kb, kl, depth),
                  arith::SubIOp::create(kb, kl, indexConst(kb, kl, ops.k), k0));
              Value first = arith::CmpIOp::create(
                  kb, kl, arith::CmpIPredicate::eq, k0, indexConst(kb, kl, 0));
              Value last =
                  arith::CmpIOp::create(kb, kl, arith::CmpIPredicate::uge,
                                        arith::AddIOp::create(kb, kl, k0, kc),
                                        indexConst(kb, kl, ops.k));
              product.fillPanel(kb, kl, n0, k0, kc);
              scf::ForOp::create(
                  kb, kl, indexConst(kb, kl, 0), fullRows,
                  indexConst(kb, kl, kTileRows), ValueRange{},
                  [&](OpBuilder &tb, Location tl, Value m0, ValueRange) {
                    product.tile(tb, tl, m0, kTileRows, n0, k0, kc, first,
                                 last);
                    scf::YieldOp::create(tb, tl);
                  });
              scf::ForOp::create(
                  kb, kl, fullRows, m, indexConst(kb, kl, 1), ValueRange{},
                  [&](OpBuilder &tb, Location tl, Value m0, ValueRange) {
                    product.tile(tb, tl, m0, 1, n0, k0, kc, first, last);
                    scf::YieldOp::create(tb, tl);
                  });
              scf::YieldOp::create(kb, kl);
            });
      });
}

struct ConvertLowMemToCPUPass
    : public mlir::lowmem::impl::ConvertLowMemToCPUBase<
          ConvertLowMemToCPUPass> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    if (panelDepth < kLanes || panelDepth % kLanes != 0) {
      module.emitError() << "convert-lowmem-to-cpu: panel-depth must be a "
                            "positive multiple of "
                         << kLanes << ", got "
                         << static_cast<int64_t>(panelDepth);
      return signalPassFailure();
    }
    SmallVector<Operation *> candidates;
    module.walk([&](Operation *op) {
      if (isa<LinearOp, QLinearOp>(op))
        candidates.push_back(op);
    });
    IRRewriter rewriter(&getContext());
    DenseMap<Operation *, Value> panels;
    for (Operation *op : candidates) {
      LinearOperands operands;
      bool collected = false;
      if (auto linear = dyn_cast<LinearOp>(op))
        collected = succeeded(collectLinear(linear, operands));
      else if (auto qlinear = dyn_cast<QLinearOp>(op))
        collected = succeeded(collectLinear(qlinear, operands));
      // Anything else is left to the linalg lowering.
      if (!collected)
        continue;
      auto func = op->getParentOfType<func::FuncOp>();
      if (!func)
        continue;
      Value panel = panelOf(func, panelDepth, panels);
      rewriter.setInsertionPoint(op);
      rewriter.replaceOp(op, emitCPUProduct(rewriter, op->getLoc(), module,
                                            operands, panel, panelDepth));
    }
  }
};

} // namespace
