//===- TransformerToLinalg.cpp - transformer layers to linalg and loops ---===//
//
// Part of the lowmem project.
//
//===----------------------------------------------------------------------===//
//
// Lowers the transformer ops: embedding, rms_norm, rope and swiglu to linalg
// generics on tensors; attention to loops over buffers, one query row per
// parallel iteration, with an online softmax that streams the keys and
// accumulates in the output row itself, so no score matrix and no scratch
// buffer exist.
//
//===----------------------------------------------------------------------===//

#include "lowmem/Conversion/Passes.h"
#include "lowmem/Dialect/LowMem/IR/LowMemOps.h"

#include "mlir/IR/PatternMatch.h"

#include <limits>

using namespace mlir;
using namespace mlir::lowmem;

namespace {

using utils::IteratorType;

Value f32Const(OpBuilder &b, Location loc, float v) {
  return arith::ConstantOp::create(b, loc, b.getF32FloatAttr(v));
}

Value indexConst(OpBuilder &b, Location loc, int64_t v) {
  return arith::ConstantIndexOp::create(b, loc, v);
}

/// `tensor.empty` of `type` whose dynamic sizes are those of `like`'s
/// leading dimensions.
Value emptyLike(OpBuilder &b, Location loc, RankedTensorType type, Value like) {
  SmallVector<Value> sizes;
  for (int64_t i = 0; i < type.getRank(); ++i)
    if (type.isDynamicDim(i))
      sizes.push_back(tensor::DimOp::create(b, loc, like, i));
  return tensor::EmptyOp::create(b, loc, type.getShape(), type.getElementType(),
                                 sizes);
}

LogicalResult checkF32(PatternRewriter &rewriter, Operation *op, Type type) {
  if (getElementTypeOrSelf(type).isF32())
    return success();
  return rewriter.notifyMatchFailure(op, "only f32 compute is supported");
}

/// A generic over `type`'s elements, reading `inputs` through `maps` (one per
/// input; the output's map is the identity).
Value elementwise(OpBuilder &b, Location loc, RankedTensorType type, Value like,
                  ValueRange inputs, ArrayRef<AffineMap> maps,
                  function_ref<Value(OpBuilder &, Location, ValueRange)> body) {
  unsigned rank = type.getRank();
  SmallVector<AffineMap> allMaps(maps);
  allMaps.push_back(AffineMap::getMultiDimIdentityMap(rank, b.getContext()));
  return linalg::GenericOp::create(
             b, loc, TypeRange{type}, inputs,
             ValueRange{emptyLike(b, loc, type, like)}, allMaps,
             SmallVector<IteratorType>(rank, IteratorType::parallel),
             [&](OpBuilder &nb, Location l, ValueRange args) {
               linalg::YieldOp::create(nb, l, body(nb, l, args));
             })
      .getResult(0);
}

/// embedding: result[i..., h] = table[clamp(ids[i...]), h]. Ids are checked
/// by the runtime; the clamp keeps a bad id from reading outside the table.
struct EmbeddingLowering : public OpRewritePattern<EmbeddingOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(EmbeddingOp op,
                                PatternRewriter &rewriter) const override {
    RankedTensorType type = op.getType();
    if (failed(checkF32(rewriter, op, type)))
      return failure();
    Location loc = op.getLoc();
    MLIRContext *ctx = rewriter.getContext();
    unsigned rank = type.getRank();
    Value table = op.getTable();
    int64_t vocab = op.getTable().getType().getDimSize(0);
    SmallVector<AffineExpr> idExprs;
    for (unsigned i = 0; i + 1 < rank; ++i)
      idExprs.push_back(getAffineDimExpr(i, ctx));
    AffineMap idMap = AffineMap::get(rank, 0, idExprs, ctx);
    Value result = elementwise(
        rewriter, loc, type, op.getIds(), ValueRange{op.getIds()}, {idMap},
        [&](OpBuilder &b, Location l, ValueRange args) {
          Value id =
              arith::IndexCastOp::create(b, l, b.getIndexType(), args[0]);
          id = arith::MaxSIOp::create(b, l, id, indexConst(b, l, 0));
          id = arith::MinSIOp::create(b, l, id, indexConst(b, l, vocab - 1));
          Value h = linalg::IndexOp::create(b, l, rank - 1);
          return tensor::ExtractOp::create(b, l, table, ValueRange{id, h})
              .getResult();
        });
    rewriter.replaceOp(op, result);
    return success();
  }
};

/// rms_norm: the sum of squares of each row, then
/// x · 1/sqrt(sum / H + epsilon) · weight.
struct RmsNormLowering : public OpRewritePattern<RmsNormOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(RmsNormOp op,
                                PatternRewriter &rewriter) const override {
    RankedTensorType type = op.getType();
    if (failed(checkF32(rewriter, op, type)))
      return failure();
    Location loc = op.getLoc();
    MLIRContext *ctx = rewriter.getContext();
    unsigned rank = type.getRank(), lead = rank - 1;
    Value x = op.getInput();
    int64_t features = type.getShape().back();
    auto rowType = RankedTensorType::get(type.getShape().drop_back(),
                                         type.getElementType());
    SmallVector<AffineExpr> rowExprs;
    for (unsigned i = 0; i < lead; ++i)
      rowExprs.push_back(getAffineDimExpr(i, ctx));
    AffineMap rowMap = AffineMap::get(rank, 0, rowExprs, ctx);
    AffineMap id = AffineMap::getMultiDimIdentityMap(rank, ctx);
    Value zeros =
        linalg::FillOp::create(rewriter, loc, f32Const(rewriter, loc, 0.0f),
                               emptyLike(rewriter, loc, rowType, x))
            .getResult(0);
    SmallVector<IteratorType> iters(lead, IteratorType::parallel);
    iters.push_back(IteratorType::reduction);
    Value sumSq =
        linalg::GenericOp::create(
            rewriter, loc, TypeRange{rowType}, ValueRange{x}, ValueRange{zeros},
            SmallVector<AffineMap>{id, rowMap}, iters,
            [](OpBuilder &b, Location l, ValueRange args) {
              Value sq = arith::MulFOp::create(b, l, args[0], args[0]);
              linalg::YieldOp::create(
                  b, l, ValueRange{arith::AddFOp::create(b, l, args[1], sq)});
            })
            .getResult(0);
    float invCount = 1.0f / static_cast<float>(features);
    float eps = static_cast<float>(op.getEpsilon().convertToDouble());
    Value result = elementwise(
        rewriter, loc, type, x, ValueRange{x, sumSq, op.getWeight()},
        {id, rowMap, AffineMap::get(rank, 0, getAffineDimExpr(lead, ctx))},
        [&](OpBuilder &b, Location l, ValueRange args) {
          Value mean =
              arith::MulFOp::create(b, l, args[1], f32Const(b, l, invCount));
          Value root = math::SqrtOp::create(
              b, l, arith::AddFOp::create(b, l, mean, f32Const(b, l, eps)));
          Value inv = arith::DivFOp::create(b, l, f32Const(b, l, 1.0f), root);
          Value norm = arith::MulFOp::create(b, l, args[0], inv);
          return arith::MulFOp::create(b, l, norm, args[2]).getResult();
        });
    rewriter.replaceOp(op, result);
    return success();
  }
};

/// rope: each element reads its rotation partner, half a head away.
struct RopeLowering : public OpRewritePattern<RopeOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(RopeOp op,
                                PatternRewriter &rewriter) const override {
    RankedTensorType type = op.getType();
    if (failed(checkF32(rewriter, op, type)))
      return failure();
    Location loc = op.getLoc();
    MLIRContext *ctx = rewriter.getContext();
    Value x = op.getInput();
    Value invFreq = op.getInvFreq();
    int64_t headDim = op.getHeadDim(), half = headDim / 2;
    auto offset = static_cast<int64_t>(op.getPositionOffset());
    Value result = elementwise(
        rewriter, loc, type, x, ValueRange{x},
        {AffineMap::getMultiDimIdentityMap(3, ctx)},
        [&](OpBuilder &b, Location l, ValueRange args) {
          Value bi = linalg::IndexOp::create(b, l, 0);
          Value s = linalg::IndexOp::create(b, l, 1);
          Value c = linalg::IndexOp::create(b, l, 2);
          Value d = arith::RemUIOp::create(b, l, c, indexConst(b, l, headDim));
          Value first = arith::CmpIOp::create(b, l, arith::CmpIPredicate::ult,
                                              d, indexConst(b, l, half));
          Value i = arith::RemUIOp::create(b, l, d, indexConst(b, l, half));
          Value partner = arith::SelectOp::create(
              b, l, first,
              arith::AddIOp::create(b, l, c, indexConst(b, l, half)),
              arith::SubIOp::create(b, l, c, indexConst(b, l, half)));
          Value other =
              tensor::ExtractOp::create(b, l, x, ValueRange{bi, s, partner});
          Value pos = arith::AddIOp::create(b, l, s, indexConst(b, l, offset));
          Value posF = arith::UIToFPOp::create(
              b, l, b.getF32Type(),
              arith::IndexCastUIOp::create(b, l, b.getI64Type(), pos));
          Value freq = tensor::ExtractOp::create(b, l, invFreq, ValueRange{i});
          Value theta = arith::MulFOp::create(b, l, posF, freq);
          Value cos = math::CosOp::create(b, l, theta);
          Value sin = math::SinOp::create(b, l, theta);
          // First half: x cos - x[i + D/2] sin; second: x cos + x[i] sin.
          Value rotated = arith::MulFOp::create(b, l, other, sin);
          Value signedRot = arith::SelectOp::create(
              b, l, first, arith::NegFOp::create(b, l, rotated), rotated);
          return arith::AddFOp::create(
                     b, l, arith::MulFOp::create(b, l, args[0], cos), signedRot)
              .getResult();
        });
    rewriter.replaceOp(op, result);
    return success();
  }
};

/// swiglu: gate / (1 + exp(-gate)) · up.
struct SwiGluLowering : public OpRewritePattern<SwiGluOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(SwiGluOp op,
                                PatternRewriter &rewriter) const override {
    RankedTensorType type = op.getType();
    if (failed(checkF32(rewriter, op, type)))
      return failure();
    AffineMap id = AffineMap::getMultiDimIdentityMap(type.getRank(),
                                                     rewriter.getContext());
    Value result = elementwise(
        rewriter, op.getLoc(), type, op.getGate(),
        ValueRange{op.getGate(), op.getUp()}, {id, id},
        [&](OpBuilder &b, Location l, ValueRange args) {
          Value e =
              math::ExpOp::create(b, l, arith::NegFOp::create(b, l, args[0]));
          Value denom = arith::AddFOp::create(b, l, f32Const(b, l, 1.0f), e);
          Value silu = arith::DivFOp::create(b, l, args[0], denom);
          return arith::MulFOp::create(b, l, silu, args[1]).getResult();
        });
    rewriter.replaceOp(op, result);
    return success();
  }
};

/// The buffer of a tensor operand, for reading.
Value readBuffer(OpBuilder &b, Location loc, Value tensor) {
  auto type = cast<RankedTensorType>(tensor.getType());
  auto memrefType = MemRefType::get(type.getShape(), type.getElementType());
  return bufferization::ToBufferOp::create(b, loc, memrefType, tensor,
                                           /*read_only=*/true);
}

Value dimOf(OpBuilder &b, Location loc, Value tensor, int64_t i) {
  auto type = cast<RankedTensorType>(tensor.getType());
  if (!type.isDynamicDim(i))
    return indexConst(b, loc, type.getDimSize(i));
  return tensor::DimOp::create(b, loc, tensor, i);
}

/// attention: a parallel loop over (batch, head, query); for each query row
/// the keys stream in order, with the running maximum m and sum l of the
/// exponentials as loop-carried scalars and the output row, rescaled by
/// exp(m_old - m_new) at each key, as the accumulator.
struct AttentionLowering : public OpRewritePattern<AttentionOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(AttentionOp op,
                                PatternRewriter &rewriter) const override {
    RankedTensorType type = op.getType();
    if (failed(checkF32(rewriter, op, type)))
      return failure();
    Location loc = op.getLoc();
    Value q = readBuffer(rewriter, loc, op.getQuery());
    Value k = readBuffer(rewriter, loc, op.getKey());
    Value v = readBuffer(rewriter, loc, op.getValue());
    Value batch = dimOf(rewriter, loc, op.getQuery(), 0);
    Value queries = dimOf(rewriter, loc, op.getQuery(), 1);
    Value keys = dimOf(rewriter, loc, op.getKey(), 1);
    SmallVector<Value> dynSizes;
    if (type.isDynamicDim(0))
      dynSizes.push_back(batch);
    if (type.isDynamicDim(1))
      dynSizes.push_back(queries);
    Value out = memref::AllocOp::create(
        rewriter, loc, MemRefType::get(type.getShape(), type.getElementType()),
        dynSizes, rewriter.getI64IntegerAttr(64));

    int64_t headDim = op.getHeadDim();
    int64_t group = op.getNumHeads() / op.getNumKvHeads();
    bool causal = op.getCausal();
    float scale = static_cast<float>(op.getScale().convertToDouble());
    Value zero = indexConst(rewriter, loc, 0);
    Value one = indexConst(rewriter, loc, 1);
    Value heads = indexConst(rewriter, loc, op.getNumHeads());
    // The queries are the last S of T positions.
    Value shift = arith::SubIOp::create(rewriter, loc, keys, queries);
    scf::ParallelOp::create(
        rewriter, loc, ValueRange{zero, zero, zero},
        ValueRange{batch, heads, queries}, ValueRange{one, one, one},
        [&](OpBuilder &b, Location l, ValueRange ivs) {
          Value bi = ivs[0], h = ivs[1], s = ivs[2];
          Value d0 = indexConst(b, l, 0), d1 = indexConst(b, l, 1);
          Value dEnd = indexConst(b, l, headDim);
          Value qBase =
              arith::MulIOp::create(b, l, h, indexConst(b, l, headDim));
          Value kvHead =
              arith::DivUIOp::create(b, l, h, indexConst(b, l, group));
          Value kvBase =
              arith::MulIOp::create(b, l, kvHead, indexConst(b, l, headDim));
          // for d in [0, D): f(offset d)
          auto overHead =
              [&](function_ref<void(OpBuilder &, Location, Value)> body) {
                scf::ForOp::create(
                    b, l, d0, dEnd, d1, ValueRange{},
                    [&](OpBuilder &fb, Location fl, Value d, ValueRange) {
                      body(fb, fl, d);
                      scf::YieldOp::create(fb, fl);
                    });
              };
          overHead([&](OpBuilder &fb, Location fl, Value d) {
            Value c = arith::AddIOp::create(fb, fl, qBase, d);
            memref::StoreOp::create(fb, fl, f32Const(fb, fl, 0.0f), out,
                                    ValueRange{bi, s, c});
          });
          Value tEnd = keys;
          if (causal)
            tEnd = arith::MinUIOp::create(
                b, l, keys,
                arith::AddIOp::create(
                    b, l, arith::AddIOp::create(b, l, s, shift), d1));
          Value negInf =
              f32Const(b, l, -std::numeric_limits<float>::infinity());
          auto stream = scf::ForOp::create(
              b, l, d0, tEnd, d1, ValueRange{negInf, f32Const(b, l, 0.0f)},
              [&](OpBuilder &tb, Location tl, Value t, ValueRange carried) {
                Value m = carried[0], sum = carried[1];
                auto dot = scf::ForOp::create(
                    tb, tl, d0, dEnd, d1, ValueRange{f32Const(tb, tl, 0.0f)},
                    [&](OpBuilder &db, Location dl, Value d, ValueRange acc) {
                      Value qc = arith::AddIOp::create(db, dl, qBase, d);
                      Value kc = arith::AddIOp::create(db, dl, kvBase, d);
                      Value qv = memref::LoadOp::create(db, dl, q,
                                                        ValueRange{bi, s, qc});
                      Value kv = memref::LoadOp::create(db, dl, k,
                                                        ValueRange{bi, t, kc});
                      Value prod = arith::MulFOp::create(db, dl, qv, kv);
                      scf::YieldOp::create(db, dl,
                                           ValueRange{arith::AddFOp::create(
                                               db, dl, acc[0], prod)});
                    });
                Value x = arith::MulFOp::create(tb, tl, dot.getResult(0),
                                                f32Const(tb, tl, scale));
                Value mNew = arith::MaximumFOp::create(tb, tl, m, x);
                Value alpha = math::ExpOp::create(
                    tb, tl, arith::SubFOp::create(tb, tl, m, mNew));
                Value p = math::ExpOp::create(
                    tb, tl, arith::SubFOp::create(tb, tl, x, mNew));
                scf::ForOp::create(
                    tb, tl, d0, dEnd, d1, ValueRange{},
                    [&](OpBuilder &db, Location dl, Value d, ValueRange) {
                      Value oc = arith::AddIOp::create(db, dl, qBase, d);
                      Value vc = arith::AddIOp::create(db, dl, kvBase, d);
                      Value o = memref::LoadOp::create(db, dl, out,
                                                       ValueRange{bi, s, oc});
                      Value vv = memref::LoadOp::create(db, dl, v,
                                                        ValueRange{bi, t, vc});
                      Value updated = arith::AddFOp::create(
                          db, dl, arith::MulFOp::create(db, dl, o, alpha),
                          arith::MulFOp::create(db, dl, p, vv));
                      memref::StoreOp::create(db, dl, updated, out,
                                              ValueRange{bi, s, oc});
                      scf::YieldOp::create(db, dl);
                    });
                Value newSum = arith::AddFOp::create(
                    tb, tl, arith::MulFOp::create(tb, tl, sum, alpha), p);
                scf::YieldOp::create(tb, tl, ValueRange{mNew, newSum});
              });
          // Normalize; a row that saw no key stays zero.
          Value sum = stream.getResult(1);
          Value fzero = f32Const(b, l, 0.0f);
          Value any = arith::CmpFOp::create(b, l, arith::CmpFPredicate::OGT,
                                            sum, fzero);
          Value inv = arith::SelectOp::create(
              b, l, any, arith::DivFOp::create(b, l, f32Const(b, l, 1.0f), sum),
              fzero);
          overHead([&](OpBuilder &fb, Location fl, Value d) {
            Value c = arith::AddIOp::create(fb, fl, qBase, d);
            Value o = memref::LoadOp::create(fb, fl, out, ValueRange{bi, s, c});
            memref::StoreOp::create(fb, fl,
                                    arith::MulFOp::create(fb, fl, o, inv), out,
                                    ValueRange{bi, s, c});
          });
        });
    rewriter.replaceOp(op, bufferization::ToTensorOp::create(
                               rewriter, loc, type, out,
                               /*restrict=*/rewriter.getUnitAttr(),
                               /*writable=*/rewriter.getUnitAttr()));
    return success();
  }
};

} // namespace

void mlir::lowmem::populateTransformerToLinalgPatterns(
    RewritePatternSet &patterns) {
  patterns.add<EmbeddingLowering, RmsNormLowering, RopeLowering, SwiGluLowering,
               AttentionLowering>(patterns.getContext());
}
