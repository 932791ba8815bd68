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

#include "lowmem/Conversion/BuildUtils.h"
#include "lowmem/Conversion/Passes.h"
#include "lowmem/Conversion/WeightDecoder.h"
#include "lowmem/Dialect/LowMem/IR/LowMemOps.h"

#include "mlir/IR/PatternMatch.h"

#include <limits>

using namespace mlir;
using namespace mlir::lowmem;

namespace {

using utils::IteratorType;

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

/// Reads element [v, k] of a weight that is a float tensor or a quantized
/// weight (decoded from its storage parts as it is read).
class WeightReader {
public:
  /// Fails (a match failure) when a quantized weight's storage is not
  /// explicit. With `asBuffers`, a float weight and the parts are read
  /// through memrefs (loops over buffers), otherwise as tensors (linalg
  /// bodies).
  static FailureOr<WeightReader> create(PatternRewriter &rewriter,
                                        Operation *op, Value weight,
                                        bool tablesInRegisters,
                                        bool asBuffers) {
    Location loc = op->getLoc();
    WeightReader reader;
    auto quantized = dyn_cast<QTensorType>(weight.getType());
    if (!quantized) {
      reader.source = asBuffers ? readBuffer(rewriter, loc, weight) : weight;
      return reader;
    }
    auto storage = weight.getDefiningOp<AssembleOp>();
    if (!storage)
      return rewriter.notifyMatchFailure(op,
                                         "weight storage is not explicit (run "
                                         "lowmem-materialize-storage first)");
    SmallVector<Value> parts;
    for (Value part : storage.getParts())
      parts.push_back(asBuffers ? readBuffer(rewriter, loc, part) : part);
    reader.decoder = WeightDecoder::create(rewriter, loc, quantized, parts,
                                           tablesInRegisters);
    return reader;
  }

  Value read(OpBuilder &b, Location l, Value v, Value k) const {
    if (decoder)
      return decoder->decode(b, l, ValueRange{v, k});
    return readElement(b, l, source, ValueRange{v, k});
  }

private:
  Value source;
  std::optional<WeightDecoder> decoder;
};

/// embedding: result[i..., h] = table[clamp(ids[i...]), h]. Ids are checked
/// by the runtime; the clamp keeps a bad id from reading outside the table.
struct EmbeddingLowering : public OpRewritePattern<EmbeddingOp> {
  EmbeddingLowering(MLIRContext *ctx, bool tablesInRegisters)
      : OpRewritePattern(ctx), tablesInRegisters(tablesInRegisters) {}
  bool tablesInRegisters;
  LogicalResult matchAndRewrite(EmbeddingOp op,
                                PatternRewriter &rewriter) const override {
    RankedTensorType type = op.getType();
    if (failed(checkF32(rewriter, op, type)))
      return failure();
    Location loc = op.getLoc();
    MLIRContext *ctx = rewriter.getContext();
    unsigned rank = type.getRank();
    FailureOr<WeightReader> table =
        WeightReader::create(rewriter, op, op.getTable(), tablesInRegisters,
                             /*asBuffers=*/false);
    if (failed(table))
      return failure();
    int64_t vocab = logicalTensorType(op.getTable().getType()).getDimSize(0);
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
          return table->read(b, l, id, h);
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
    Value offset =
        indexConst(rewriter, loc, static_cast<int64_t>(op.getPositionOffset()));
    if (Value dynamic = op.getOffset())
      offset = arith::AddIOp::create(rewriter, loc, offset, dynamic);
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
          Value pos = arith::IndexCastOp::create(
              b, l, b.getI64Type(), arith::AddIOp::create(b, l, s, offset));
          // A left-padded row's positions start at its first token (its
          // padding's are negative).
          if (Value starts = op.getRowStarts())
            pos = arith::SubIOp::create(
                b, l, pos, tensor::ExtractOp::create(b, l, starts, bi));
          Value posF = arith::SIToFPOp::create(b, l, b.getF32Type(), pos);
          Value freq = tensor::ExtractOp::create(b, l, invFreq, ValueRange{i});
          Value theta = arith::MulFOp::create(b, l, posF, freq);
          Value cos = math::CosOp::create(b, l, theta);
          Value sin = math::SinOp::create(b, l, theta);
          // The inverse rotation is by -theta.
          if (op.getInverse())
            sin = arith::NegFOp::create(b, l, sin);
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

/// rms_norm_grad: per row, the sums of x² and of dy·w·x (one generic with
/// two outputs), then r·dy·w − x·r³·mean(dy·w·x).
struct RmsNormGradLowering : public OpRewritePattern<RmsNormGradOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(RmsNormGradOp op,
                                PatternRewriter &rewriter) const override {
    RankedTensorType type = op.getGradInput().getType();
    if (failed(checkF32(rewriter, op, type)))
      return failure();
    Location loc = op.getLoc();
    MLIRContext *ctx = rewriter.getContext();
    unsigned rank = type.getRank(), lead = rank - 1;
    Value x = op.getInput(), dy = op.getGradOut(), w = op.getWeight();
    auto rowType = RankedTensorType::get(type.getShape().drop_back(),
                                         type.getElementType());
    SmallVector<AffineExpr> rowExprs;
    for (unsigned i = 0; i < lead; ++i)
      rowExprs.push_back(getAffineDimExpr(i, ctx));
    AffineMap rowMap = AffineMap::get(rank, 0, rowExprs, ctx);
    AffineMap id = AffineMap::getMultiDimIdentityMap(rank, ctx);
    AffineMap featureMap = AffineMap::get(rank, 0, getAffineDimExpr(lead, ctx));
    // One accumulator each: a shared init would need a copy.
    auto zeros = [&]() {
      return linalg::FillOp::create(rewriter, loc,
                                    f32Const(rewriter, loc, 0.0f),
                                    emptyLike(rewriter, loc, rowType, x))
          .getResult(0);
    };
    SmallVector<IteratorType> iters(lead, IteratorType::parallel);
    iters.push_back(IteratorType::reduction);
    auto sums = linalg::GenericOp::create(
        rewriter, loc, TypeRange{rowType, rowType}, ValueRange{x, dy, w},
        ValueRange{zeros(), zeros()},
        SmallVector<AffineMap>{id, id, featureMap, rowMap, rowMap}, iters,
        [](OpBuilder &b, Location l, ValueRange args) {
          Value sq = arith::MulFOp::create(b, l, args[0], args[0]);
          Value g = arith::MulFOp::create(b, l, args[1], args[2]);
          Value gx = arith::MulFOp::create(b, l, g, args[0]);
          linalg::YieldOp::create(
              b, l,
              ValueRange{arith::AddFOp::create(b, l, args[3], sq),
                         arith::AddFOp::create(b, l, args[4], gx)});
        });
    float invCount = 1.0f / static_cast<float>(type.getShape().back());
    float eps = static_cast<float>(op.getEpsilon().convertToDouble());
    Value result = elementwise(
        rewriter, loc, type, x,
        ValueRange{x, dy, w, sums.getResult(0), sums.getResult(1)},
        {id, id, featureMap, rowMap, rowMap},
        [&](OpBuilder &b, Location l, ValueRange args) {
          Value c = f32Const(b, l, invCount);
          Value mean = arith::MulFOp::create(b, l, args[3], c);
          Value root = math::SqrtOp::create(
              b, l, arith::AddFOp::create(b, l, mean, f32Const(b, l, eps)));
          Value r = arith::DivFOp::create(b, l, f32Const(b, l, 1.0f), root);
          Value g = arith::MulFOp::create(b, l, args[1], args[2]);
          Value r3 =
              arith::MulFOp::create(b, l, r, arith::MulFOp::create(b, l, r, r));
          Value meanGx = arith::MulFOp::create(b, l, args[4], c);
          Value term = arith::MulFOp::create(
              b, l, args[0], arith::MulFOp::create(b, l, r3, meanGx));
          return arith::SubFOp::create(b, l, arith::MulFOp::create(b, l, r, g),
                                       term)
              .getResult();
        });
    rewriter.replaceOp(op, result);
    return success();
  }
};

/// swiglu_grad: both gradients from one generic with two outputs.
struct SwiGluGradLowering : public OpRewritePattern<SwiGluGradOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(SwiGluGradOp op,
                                PatternRewriter &rewriter) const override {
    auto type = cast<RankedTensorType>(op.getGradOut().getType());
    if (failed(checkF32(rewriter, op, type)))
      return failure();
    Location loc = op.getLoc();
    unsigned rank = type.getRank();
    AffineMap id =
        AffineMap::getMultiDimIdentityMap(rank, rewriter.getContext());
    Value like = op.getGradOut();
    auto generic = linalg::GenericOp::create(
        rewriter, loc, TypeRange{type, type},
        ValueRange{op.getGradOut(), op.getGate(), op.getUp()},
        ValueRange{emptyLike(rewriter, loc, type, like),
                   emptyLike(rewriter, loc, type, like)},
        SmallVector<AffineMap>(5, id),
        SmallVector<IteratorType>(rank, IteratorType::parallel),
        [](OpBuilder &b, Location l, ValueRange args) {
          Value dy = args[0], g = args[1], u = args[2];
          Value one = f32Const(b, l, 1.0f);
          Value e = math::ExpOp::create(b, l, arith::NegFOp::create(b, l, g));
          Value sigma = arith::DivFOp::create(
              b, l, one, arith::AddFOp::create(b, l, one, e));
          Value silu = arith::MulFOp::create(b, l, g, sigma);
          // silu'(g) = sigma (1 + g (1 - sigma))
          Value slope = arith::MulFOp::create(
              b, l, sigma,
              arith::AddFOp::create(
                  b, l, one,
                  arith::MulFOp::create(
                      b, l, g, arith::SubFOp::create(b, l, one, sigma))));
          Value dyu = arith::MulFOp::create(b, l, dy, u);
          linalg::YieldOp::create(
              b, l,
              ValueRange{arith::MulFOp::create(b, l, dyu, slope),
                         arith::MulFOp::create(b, l, dy, silu)});
        });
    rewriter.replaceOp(op, generic.getResults());
    return success();
  }
};

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
    Value k = readInPlace(rewriter, loc, op.getKey());
    Value v = readInPlace(rewriter, loc, op.getValue());
    // Left padding: row b's keys start at keyStarts[b].
    Value keyStarts;
    if (op.getKeyStarts())
      keyStarts = readBuffer(rewriter, loc, op.getKeyStarts());
    // int8 keys and values: the scales of their heads.
    Value kScales, vScales;
    if (op.getKeyScales()) {
      kScales = readInPlace(rewriter, loc, op.getKeyScales());
      vScales = readInPlace(rewriter, loc, op.getValueScales());
    }
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
    threadedParallel(
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
            tEnd = causalEnd(b, l, keys, s, shift);
          Value tBegin = d0;
          if (keyStarts)
            tBegin = arith::MaxSIOp::create(
                b, l, d0,
                arith::IndexCastOp::create(
                    b, l, b.getIndexType(),
                    memref::LoadOp::create(b, l, keyStarts, ValueRange{bi})));
          Value negInf =
              f32Const(b, l, -std::numeric_limits<float>::infinity());
          auto stream = scf::ForOp::create(
              b, l, tBegin, tEnd, d1, ValueRange{negInf, f32Const(b, l, 0.0f)},
              [&](OpBuilder &tb, Location tl, Value t, ValueRange carried) {
                Value m = carried[0], sum = carried[1];
                auto dot = scf::ForOp::create(
                    tb, tl, d0, dEnd, d1, ValueRange{f32Const(tb, tl, 0.0f)},
                    [&](OpBuilder &db, Location dl, Value d, ValueRange acc) {
                      Value qc = arith::AddIOp::create(db, dl, qBase, d);
                      Value kc = arith::AddIOp::create(db, dl, kvBase, d);
                      Value qv = memref::LoadOp::create(db, dl, q,
                                                        ValueRange{bi, s, qc});
                      Value kv =
                          widenToF32(db, dl,
                                     memref::LoadOp::create(
                                         db, dl, k, ValueRange{bi, t, kc}));
                      Value prod = arith::MulFOp::create(db, dl, qv, kv);
                      scf::YieldOp::create(db, dl,
                                           ValueRange{arith::AddFOp::create(
                                               db, dl, acc[0], prod)});
                    });
                // An int8 key's scale multiplies its dot product; a value's
                // the weight of its row.
                Value kScale, vScale;
                if (kScales) {
                  SmallVector<Value, 3> at{bi, t, kvHead};
                  kScale = memref::LoadOp::create(tb, tl, kScales, at);
                  vScale = memref::LoadOp::create(tb, tl, vScales, at);
                }
                OnlineSoftmaxStep step = onlineSoftmaxStep(
                    tb, tl, dot.getResult(0), scale, m, kScale, vScale);
                Value alpha = step.rescale, p = step.weight,
                      pv = step.valueWeight;
                scf::ForOp::create(
                    tb, tl, d0, dEnd, d1, ValueRange{},
                    [&](OpBuilder &db, Location dl, Value d, ValueRange) {
                      Value oc = arith::AddIOp::create(db, dl, qBase, d);
                      Value vc = arith::AddIOp::create(db, dl, kvBase, d);
                      Value o = memref::LoadOp::create(db, dl, out,
                                                       ValueRange{bi, s, oc});
                      Value vv =
                          widenToF32(db, dl,
                                     memref::LoadOp::create(
                                         db, dl, v, ValueRange{bi, t, vc}));
                      Value updated = arith::AddFOp::create(
                          db, dl, arith::MulFOp::create(db, dl, o, alpha),
                          arith::MulFOp::create(db, dl, pv, vv));
                      memref::StoreOp::create(db, dl, updated, out,
                                              ValueRange{bi, s, oc});
                      scf::YieldOp::create(db, dl);
                    });
                Value newSum = arith::AddFOp::create(
                    tb, tl, arith::MulFOp::create(tb, tl, sum, alpha), p);
                scf::YieldOp::create(tb, tl, ValueRange{step.maximum, newSum});
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

/// cache_update: the rows, rounded to the cache's element type, written
/// into the slice [0, position, 0] of the cache they replace (destination
/// passing: bufferization writes them in place, with no staging copy).
struct CacheUpdateLowering : public OpRewritePattern<CacheUpdateOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(CacheUpdateOp op,
                                PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    Value rows = op.getRows();
    auto rowsType = cast<RankedTensorType>(rows.getType());
    RankedTensorType cacheType = op.getCache().getType();
    Type element = cacheType.getElementType();
    SmallVector<OpFoldResult> offsets{
        rewriter.getIndexAttr(0), op.getPosition(), rewriter.getIndexAttr(0)};
    SmallVector<OpFoldResult> sizes =
        tensor::getMixedSizes(rewriter, loc, rows);
    SmallVector<OpFoldResult> strides(3, rewriter.getIndexAttr(1));
    auto sliceType = RankedTensorType::get(rowsType.getShape(), element);
    Value slice = tensor::ExtractSliceOp::create(
        rewriter, loc, sliceType, op.getCache(), offsets, sizes, strides);
    auto identity = AffineMap::getMultiDimIdentityMap(3, rewriter.getContext());
    // An f32 cache takes the rows as they are (a generic that only yields
    // its input would fold away, leaving a strided memref.copy).
    Value written =
        element == rowsType.getElementType()
            ? linalg::CopyOp::create(rewriter, loc, ValueRange{rows},
                                     ValueRange{slice})
                  .getResult(0)
            : linalg::GenericOp::create(
                  rewriter, loc, TypeRange{sliceType}, ValueRange{rows},
                  ValueRange{slice}, ArrayRef<AffineMap>{identity, identity},
                  SmallVector<IteratorType>(3, IteratorType::parallel),
                  [&](OpBuilder &b, Location l, ValueRange args) {
                    // Through f32: f16 and bf16 are the same width.
                    Value x = args[0];
                    if (!x.getType().isF32())
                      x = arith::ExtFOp::create(b, l, b.getF32Type(), x);
                    if (!element.isF32())
                      x = arith::TruncFOp::create(b, l, element, x);
                    linalg::YieldOp::create(b, l, x);
                  })
                  .getResult(0);
    rewriter.replaceOpWithNewOp<tensor::InsertSliceOp>(
        op, written, op.getCache(), offsets, sizes, strides);
    return success();
  }
};

/// quantize_groups: the scales, a max-reduction of |x| over each group
/// divided by 127, then the codes, x / max|x| · 127 rounded half away from
/// zero (0 for an all-zero group).
struct QuantizeGroupsLowering : public OpRewritePattern<QuantizeGroupsOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(QuantizeGroupsOp op,
                                PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    Value input = op.getInput();
    auto inputType = cast<RankedTensorType>(input.getType());
    if (failed(checkF32(rewriter, op, inputType)))
      return failure();
    MLIRContext *ctx = rewriter.getContext();
    unsigned rank = inputType.getRank();
    int64_t group = op.getGroupSize();
    RankedTensorType scalesType = op.getScales().getType();
    RankedTensorType codesType = op.getCodes().getType();
    // Element [..., f] belongs to group f / group_size.
    SmallVector<AffineExpr> grouped;
    for (unsigned i = 0; i + 1 < rank; ++i)
      grouped.push_back(getAffineDimExpr(i, ctx));
    grouped.push_back(getAffineDimExpr(rank - 1, ctx).floorDiv(group));
    AffineMap groupMap = AffineMap::get(rank, 0, grouped, ctx);
    AffineMap identity = AffineMap::getMultiDimIdentityMap(rank, ctx);
    Value zeros =
        linalg::FillOp::create(rewriter, loc, f32Const(rewriter, loc, 0.0f),
                               emptyLike(rewriter, loc, scalesType, input))
            .getResult(0);
    SmallVector<IteratorType> iterators(rank, IteratorType::parallel);
    iterators.back() = IteratorType::reduction;
    Value absmax =
        linalg::GenericOp::create(
            rewriter, loc, TypeRange{scalesType}, ValueRange{input},
            ValueRange{zeros}, ArrayRef<AffineMap>{identity, groupMap},
            iterators,
            [&](OpBuilder &b, Location l, ValueRange args) {
              Value magnitude = math::AbsFOp::create(b, l, args[0]);
              linalg::YieldOp::create(b, l,
                                      ValueRange{arith::MaximumFOp::create(
                                          b, l, args[1], magnitude)});
            })
            .getResult(0);
    Value scales = elementwise(
        rewriter, loc, scalesType, input, ValueRange{absmax},
        {AffineMap::getMultiDimIdentityMap(rank, ctx)},
        [&](OpBuilder &b, Location l, ValueRange args) -> Value {
          return arith::DivFOp::create(b, l, args[0], f32Const(b, l, 127.0f));
        });
    Value codes = elementwise(
        rewriter, loc, codesType, input, ValueRange{input, absmax},
        {identity, groupMap},
        [&](OpBuilder &b, Location l, ValueRange args) -> Value {
          // y = x / max|x| * 127 lies in [-127, 127] (0 for a zero group);
          // rounded half away from zero from its exact fractional part.
          Value m = args[1];
          Value zero = f32Const(b, l, 0.0f);
          Value positive =
              arith::CmpFOp::create(b, l, arith::CmpFPredicate::OGT, m, zero);
          Value y = arith::SelectOp::create(
              b, l, positive,
              arith::MulFOp::create(b, l,
                                    arith::DivFOp::create(b, l, args[0], m),
                                    f32Const(b, l, 127.0f)),
              zero);
          Value whole = math::TruncOp::create(b, l, y);
          Value frac = arith::SubFOp::create(b, l, y, whole);
          Value up = arith::CmpFOp::create(b, l, arith::CmpFPredicate::OGE,
                                           frac, f32Const(b, l, 0.5f));
          Value down = arith::CmpFOp::create(b, l, arith::CmpFPredicate::OLE,
                                             frac, f32Const(b, l, -0.5f));
          Value rounded = arith::SelectOp::create(
              b, l, up,
              arith::AddFOp::create(b, l, whole, f32Const(b, l, 1.0f)),
              arith::SelectOp::create(
                  b, l, down,
                  arith::SubFOp::create(b, l, whole, f32Const(b, l, 1.0f)),
                  whole));
          return arith::FPToSIOp::create(b, l, b.getI8Type(), rounded);
        });
    rewriter.replaceOp(op, {codes, scales});
    return success();
  }
};

/// argmax: a reduction over the last dimension carrying the best value and
/// its index; a later element wins only if strictly larger (the first of
/// ties), and a NaN wins over any number (numpy's rule).
struct ArgmaxLowering : public OpRewritePattern<ArgmaxOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(ArgmaxOp op,
                                PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    Value input = op.getInput();
    auto inputType = cast<RankedTensorType>(input.getType());
    RankedTensorType type = op.getType();
    unsigned rank = inputType.getRank();
    Type element = inputType.getElementType();
    MLIRContext *ctx = rewriter.getContext();
    auto bestType = RankedTensorType::get(type.getShape(), element);
    Value lowest = arith::ConstantOp::create(
        rewriter, loc, element,
        rewriter.getFloatAttr(element,
                              -std::numeric_limits<double>::infinity()));
    Value best =
        linalg::FillOp::create(rewriter, loc, lowest,
                               emptyLike(rewriter, loc, bestType, input))
            .getResult(0);
    Value index =
        linalg::FillOp::create(rewriter, loc,
                               arith::ConstantOp::create(
                                   rewriter, loc, rewriter.getI64IntegerAttr(0))
                                   .getResult(),
                               emptyLike(rewriter, loc, type, input))
            .getResult(0);
    SmallVector<AffineExpr> kept;
    for (unsigned i = 0; i + 1 < rank; ++i)
      kept.push_back(getAffineDimExpr(i, ctx));
    AffineMap reduced = AffineMap::get(rank, 0, kept, ctx);
    SmallVector<IteratorType> iterators(rank - 1, IteratorType::parallel);
    iterators.push_back(IteratorType::reduction);
    auto generic = linalg::GenericOp::create(
        rewriter, loc, TypeRange{bestType, type}, ValueRange{input},
        ValueRange{best, index},
        {AffineMap::getMultiDimIdentityMap(rank, ctx), reduced, reduced},
        iterators, [&](OpBuilder &b, Location l, ValueRange args) {
          Value at = arith::IndexCastOp::create(
              b, l, b.getI64Type(), linalg::IndexOp::create(b, l, rank - 1));
          // The scan keeps the first of equals, and takes a NaN over any
          // number: the same rule as the GPU's reduction tree.
          auto [value, index] = betterOf(b, l, args[0], at, args[1], args[2]);
          linalg::YieldOp::create(b, l, ValueRange{value, index});
        });
    rewriter.replaceOp(op, generic.getResult(1));
    return success();
  }
};

/// A counted loop [lb, ub) carrying `init`; `body` returns the next values.
SmallVector<Value> countedLoop(
    OpBuilder &b, Location l, Value lb, Value ub, ValueRange init,
    function_ref<SmallVector<Value>(OpBuilder &, Location, Value, ValueRange)>
        body) {
  auto loop = scf::ForOp::create(
      b, l, lb, ub, indexConst(b, l, 1), init,
      [&](OpBuilder &nb, Location nl, Value iv, ValueRange carried) {
        SmallVector<Value> next = body(nb, nl, iv, carried);
        scf::YieldOp::create(nb, nl, next);
      });
  return SmallVector<Value>(loop.getResults());
}

/// attention_grad in three race-free loop nests, recomputing the scores a
/// row at a time:
///  1. per (batch, head, query): the row's logsumexp over the visible keys
///     and D = dO · O, kept in a [B, heads, S, 2] buffer;
///  2. per (batch, head, query): dq = scale Σ_t p (dO·v_t − D) k_t;
///  3. per (batch, kv head, key): dk = scale Σ p (dO·v − D) q and
///     dv = Σ p dO over the query heads of the group and the queries that
///     see the key.
struct AttentionGradLowering : public OpRewritePattern<AttentionGradOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(AttentionGradOp op,
                                PatternRewriter &rewriter) const override {
    RankedTensorType qType = op.getQuery().getType();
    RankedTensorType kType = op.getKey().getType();
    if (failed(checkF32(rewriter, op, qType)))
      return failure();
    Location loc = op.getLoc();
    Value dO = readBuffer(rewriter, loc, op.getGradOut());
    Value q = readBuffer(rewriter, loc, op.getQuery());
    Value k = readBuffer(rewriter, loc, op.getKey());
    Value v = readBuffer(rewriter, loc, op.getValue());
    Value o = readBuffer(rewriter, loc, op.getOutput());
    Value batch = dimOf(rewriter, loc, op.getQuery(), 0);
    Value queries = dimOf(rewriter, loc, op.getQuery(), 1);
    Value keys = dimOf(rewriter, loc, op.getKey(), 1);
    auto alloc = [&](RankedTensorType type, Value tensor) {
      SmallVector<Value> sizes;
      for (int64_t i = 0; i < type.getRank(); ++i)
        if (type.isDynamicDim(i))
          sizes.push_back(dimOf(rewriter, loc, tensor, i));
      return memref::AllocOp::create(
                 rewriter, loc,
                 MemRefType::get(type.getShape(), type.getElementType()), sizes,
                 rewriter.getI64IntegerAttr(64))
          .getResult();
    };
    Value dq = alloc(qType, op.getQuery());
    Value dk = alloc(kType, op.getKey());
    Value dv = alloc(kType, op.getKey());
    int64_t heads = op.getNumHeads(), kvHeads = op.getNumKvHeads();
    SmallVector<int64_t> statShape{qType.getDimSize(0), heads,
                                   qType.getDimSize(1), 2};
    SmallVector<Value> statSizes;
    if (qType.isDynamicDim(0))
      statSizes.push_back(batch);
    if (qType.isDynamicDim(1))
      statSizes.push_back(queries);
    Value stats = memref::AllocOp::create(
        rewriter, loc, MemRefType::get(statShape, rewriter.getF32Type()),
        statSizes, rewriter.getI64IntegerAttr(64));

    int64_t headDim = qType.getDimSize(2) / heads, group = heads / kvHeads;
    bool causal = op.getCausal();
    float scale = static_cast<float>(op.getScale().convertToDouble());
    Value zero = indexConst(rewriter, loc, 0),
          one = indexConst(rewriter, loc, 1);
    Value shift = arith::SubIOp::create(rewriter, loc, keys, queries);

    // Σ_d a[b, i, aBase + d] · c[b, j, cBase + d]
    auto dot = [&](OpBuilder &b, Location l, Value a, Value bi, Value i,
                   Value aBase, Value c, Value j, Value cBase) {
      return countedLoop(
                 b, l, indexConst(b, l, 0), indexConst(b, l, headDim),
                 ValueRange{f32Const(b, l, 0.0f)},
                 [&](OpBuilder &db, Location dl, Value d,
                     ValueRange acc) -> SmallVector<Value> {
                   Value x = memref::LoadOp::create(
                       db, dl, a,
                       ValueRange{bi, i,
                                  arith::AddIOp::create(db, dl, aBase, d)});
                   Value y = memref::LoadOp::create(
                       db, dl, c,
                       ValueRange{bi, j,
                                  arith::AddIOp::create(db, dl, cBase, d)});
                   return SmallVector<Value>{arith::AddFOp::create(
                       db, dl, acc[0], arith::MulFOp::create(db, dl, x, y))};
                 })
          .front();
    };
    // for d: buf[b, i, base + d] = f(d, old value)
    auto update =
        [&](OpBuilder &b, Location l, Value buf, Value bi, Value i, Value base,
            function_ref<Value(OpBuilder &, Location, Value, Value)> f) {
          countedLoop(b, l, indexConst(b, l, 0), indexConst(b, l, headDim),
                      ValueRange{},
                      [&](OpBuilder &db, Location dl, Value d,
                          ValueRange) -> SmallVector<Value> {
                        Value c = arith::AddIOp::create(db, dl, base, d);
                        Value old = memref::LoadOp::create(
                            db, dl, buf, ValueRange{bi, i, c});
                        memref::StoreOp::create(db, dl, f(db, dl, d, old), buf,
                                                ValueRange{bi, i, c});
                        return SmallVector<Value>{};
                      });
        };
    auto scaled = [&](OpBuilder &b, Location l, Value x) {
      return arith::MulFOp::create(b, l, x, f32Const(b, l, scale)).getResult();
    };
    // Keys visible from query s: [0, tEnd).
    auto keyEnd = [&](OpBuilder &b, Location l, Value s) -> Value {
      return causal ? causalEnd(b, l, keys, s, shift) : keys;
    };
    auto headBase = [&](OpBuilder &b, Location l, Value h) {
      return arith::MulIOp::create(b, l, h, indexConst(b, l, headDim))
          .getResult();
    };
    auto kvBaseOf = [&](OpBuilder &b, Location l, Value h) {
      return headBase(b, l,
                      arith::DivUIOp::create(b, l, h, indexConst(b, l, group)));
    };

    // 1. Row statistics.
    threadedParallel(
        rewriter, loc, ValueRange{zero, zero, zero},
        ValueRange{batch, indexConst(rewriter, loc, heads), queries},
        ValueRange{one, one, one},
        [&](OpBuilder &b, Location l, ValueRange ivs) {
          Value bi = ivs[0], h = ivs[1], s = ivs[2];
          Value qBase = headBase(b, l, h), kvBase = kvBaseOf(b, l, h);
          SmallVector<Value> ml = countedLoop(
              b, l, indexConst(b, l, 0), keyEnd(b, l, s),
              ValueRange{
                  f32Const(b, l, -std::numeric_limits<float>::infinity()),
                  f32Const(b, l, 0.0f)},
              [&](OpBuilder &tb, Location tl, Value t,
                  ValueRange carried) -> SmallVector<Value> {
                Value x =
                    scaled(tb, tl, dot(tb, tl, q, bi, s, qBase, k, t, kvBase));
                Value mNew = arith::MaximumFOp::create(tb, tl, carried[0], x);
                Value alpha = math::ExpOp::create(
                    tb, tl, arith::SubFOp::create(tb, tl, carried[0], mNew));
                Value p = math::ExpOp::create(
                    tb, tl, arith::SubFOp::create(tb, tl, x, mNew));
                return SmallVector<Value>{
                    mNew,
                    arith::AddFOp::create(
                        tb, tl,
                        arith::MulFOp::create(tb, tl, carried[1], alpha), p)};
              });
          Value lse = logSumExp(b, l, ml[0], ml[1]);
          Value dsum = dot(b, l, dO, bi, s, qBase, o, s, qBase);
          memref::StoreOp::create(b, l, lse, stats,
                                  ValueRange{bi, h, s, indexConst(b, l, 0)});
          memref::StoreOp::create(b, l, dsum, stats,
                                  ValueRange{bi, h, s, indexConst(b, l, 1)});
        });

    // p and ds of (query s of head h, key t).
    auto probability = [&](OpBuilder &b, Location l, Value bi, Value h, Value s,
                           Value t, Value qBase,
                           Value kvBase) -> std::pair<Value, Value> {
      Value x = scaled(b, l, dot(b, l, q, bi, s, qBase, k, t, kvBase));
      Value lse = memref::LoadOp::create(
          b, l, stats, ValueRange{bi, h, s, indexConst(b, l, 0)});
      Value dsum = memref::LoadOp::create(
          b, l, stats, ValueRange{bi, h, s, indexConst(b, l, 1)});
      Value p = math::ExpOp::create(b, l, arith::SubFOp::create(b, l, x, lse));
      Value dp = dot(b, l, dO, bi, s, qBase, v, t, kvBase);
      Value ds =
          arith::MulFOp::create(b, l, p, arith::SubFOp::create(b, l, dp, dsum));
      return {p, ds};
    };

    // 2. dq per query row.
    threadedParallel(
        rewriter, loc, ValueRange{zero, zero, zero},
        ValueRange{batch, indexConst(rewriter, loc, heads), queries},
        ValueRange{one, one, one},
        [&](OpBuilder &b, Location l, ValueRange ivs) {
          Value bi = ivs[0], h = ivs[1], s = ivs[2];
          Value qBase = headBase(b, l, h), kvBase = kvBaseOf(b, l, h);
          update(b, l, dq, bi, s, qBase,
                 [](OpBuilder &db, Location dl, Value, Value) {
                   return f32Const(db, dl, 0.0f);
                 });
          countedLoop(
              b, l, indexConst(b, l, 0), keyEnd(b, l, s), ValueRange{},
              [&](OpBuilder &tb, Location tl, Value t,
                  ValueRange) -> SmallVector<Value> {
                Value ds = scaled(
                    tb, tl,
                    probability(tb, tl, bi, h, s, t, qBase, kvBase).second);
                update(
                    tb, tl, dq, bi, s, qBase,
                    [&](OpBuilder &db, Location dl, Value d,
                        Value old) -> Value {
                      Value kv = memref::LoadOp::create(
                          db, dl, k,
                          ValueRange{bi, t,
                                     arith::AddIOp::create(db, dl, kvBase, d)});
                      return arith::AddFOp::create(
                                 db, dl, old,
                                 arith::MulFOp::create(db, dl, ds, kv))
                          .getResult();
                    });
                return SmallVector<Value>{};
              });
        });

    // 3. dk and dv per key row of each kv head.
    threadedParallel(
        rewriter, loc, ValueRange{zero, zero, zero},
        ValueRange{batch, indexConst(rewriter, loc, kvHeads), keys},
        ValueRange{one, one, one},
        [&](OpBuilder &b, Location l, ValueRange ivs) {
          Value bi = ivs[0], kvh = ivs[1], t = ivs[2];
          Value kvBase = headBase(b, l, kvh);
          for (Value buf : {dk, dv})
            update(b, l, buf, bi, t, kvBase,
                   [](OpBuilder &db, Location dl, Value, Value) {
                     return f32Const(db, dl, 0.0f);
                   });
          // The first query that sees key t: max(0, t - shift).
          Value sStart = zero;
          if (causal) {
            Value late = arith::CmpIOp::create(b, l, arith::CmpIPredicate::sgt,
                                               t, shift);
            sStart = arith::SelectOp::create(
                b, l, late, arith::SubIOp::create(b, l, t, shift),
                indexConst(b, l, 0));
          }
          Value hFirst =
              arith::MulIOp::create(b, l, kvh, indexConst(b, l, group));
          Value hEnd =
              arith::AddIOp::create(b, l, hFirst, indexConst(b, l, group));
          countedLoop(
              b, l, hFirst, hEnd, ValueRange{},
              [&](OpBuilder &hb, Location hl, Value h,
                  ValueRange) -> SmallVector<Value> {
                Value qBase = headBase(hb, hl, h);
                countedLoop(
                    hb, hl, sStart, queries, ValueRange{},
                    [&](OpBuilder &sb, Location sl, Value s,
                        ValueRange) -> SmallVector<Value> {
                      std::pair<Value, Value> pds =
                          probability(sb, sl, bi, h, s, t, qBase, kvBase);
                      Value p = pds.first;
                      Value dsScaled = scaled(sb, sl, pds.second);
                      update(sb, sl, dk, bi, t, kvBase,
                             [&](OpBuilder &db, Location dl, Value d,
                                 Value old) -> Value {
                               Value qv = memref::LoadOp::create(
                                   db, dl, q,
                                   ValueRange{bi, s,
                                              arith::AddIOp::create(db, dl,
                                                                    qBase, d)});
                               return arith::AddFOp::create(
                                          db, dl, old,
                                          arith::MulFOp::create(db, dl,
                                                                dsScaled, qv))
                                   .getResult();
                             });
                      update(sb, sl, dv, bi, t, kvBase,
                             [&](OpBuilder &db, Location dl, Value d,
                                 Value old) -> Value {
                               Value g = memref::LoadOp::create(
                                   db, dl, dO,
                                   ValueRange{bi, s,
                                              arith::AddIOp::create(db, dl,
                                                                    qBase, d)});
                               return arith::AddFOp::create(
                                          db, dl, old,
                                          arith::MulFOp::create(db, dl, p, g))
                                   .getResult();
                             });
                      return SmallVector<Value>{};
                    });
                return SmallVector<Value>{};
              });
        });

    auto asTensor = [&](Value buf, RankedTensorType type) {
      return bufferization::ToTensorOp::create(rewriter, loc, type, buf,
                                               rewriter.getUnitAttr(),
                                               rewriter.getUnitAttr())
          .getResult();
    };
    rewriter.replaceOp(op, ValueRange{asTensor(dq, qType), asTensor(dk, kType),
                                      asTensor(dv, kType)});
    return success();
  }
};

/// A buffer of `type` whose dynamic sizes are those of `like`'s leading
/// dimensions.
Value allocLike(OpBuilder &b, Location loc, RankedTensorType type, Value like) {
  SmallVector<Value> sizes;
  for (int64_t i = 0; i < type.getRank(); ++i)
    if (type.isDynamicDim(i))
      sizes.push_back(dimOf(b, loc, like, i));
  return memref::AllocOp::create(
             b, loc, MemRefType::get(type.getShape(), type.getElementType()),
             sizes, b.getI64IntegerAttr(64))
      .getResult();
}

/// A parallel loop over the leading dimensions of `like` (all but its last).
void overRows(OpBuilder &b, Location loc, Value like,
              function_ref<void(OpBuilder &, Location, ValueRange)> body) {
  auto type = cast<RankedTensorType>(like.getType());
  SmallVector<Value> lbs, ubs, steps;
  for (int64_t i = 0; i + 1 < type.getRank(); ++i) {
    lbs.push_back(indexConst(b, loc, 0));
    ubs.push_back(dimOf(b, loc, like, i));
    steps.push_back(indexConst(b, loc, 1));
  }
  // Each row's iteration writes that row alone.
  threadedParallel(b, loc, lbs, ubs, steps, body);
}

SmallVector<Value> withIndex(ValueRange ivs, Value last) {
  SmallVector<Value> out(ivs);
  out.push_back(last);
  return out;
}

/// x[row] · W[v] over the hidden size.
Value rowDot(OpBuilder &b, Location l, Value x, ValueRange row,
             const WeightReader &w, Value v, int64_t hidden) {
  return countedLoop(
             b, l, indexConst(b, l, 0), indexConst(b, l, hidden),
             ValueRange{f32Const(b, l, 0.0f)},
             [&](OpBuilder &kb, Location kl, Value k,
                 ValueRange acc) -> SmallVector<Value> {
               Value xv = memref::LoadOp::create(kb, kl, x, withIndex(row, k));
               Value wv = w.read(kb, kl, v, k);
               return {arith::AddFOp::create(
                   kb, kl, acc[0], arith::MulFOp::create(kb, kl, xv, wv))};
             })
      .front();
}

/// linear_cross_entropy: per row, the vocabulary streamed with an online
/// logsumexp and the label's logit picked on the way; then the mean over
/// the counted rows.
struct LinearCrossEntropyLowering
    : public OpRewritePattern<LinearCrossEntropyOp> {
  LinearCrossEntropyLowering(MLIRContext *ctx, bool tablesInRegisters)
      : OpRewritePattern(ctx), tablesInRegisters(tablesInRegisters) {}
  bool tablesInRegisters;
  LogicalResult matchAndRewrite(LinearCrossEntropyOp op,
                                PatternRewriter &rewriter) const override {
    RankedTensorType inputType = op.getInput().getType();
    if (failed(checkF32(rewriter, op, inputType)))
      return failure();
    Location loc = op.getLoc();
    Value x = readBuffer(rewriter, loc, op.getInput());
    FailureOr<WeightReader> w =
        WeightReader::create(rewriter, op, op.getWeight(), tablesInRegisters,
                             /*asBuffers=*/true);
    if (failed(w))
      return failure();
    Value labels = readBuffer(rewriter, loc, op.getLabels());
    RankedTensorType lseType = op.getLse().getType();
    Value lse = allocLike(rewriter, loc, lseType, op.getInput());
    Value rowLoss = allocLike(rewriter, loc, lseType, op.getInput());
    int64_t vocab = logicalTensorType(op.getWeight().getType()).getDimSize(0);
    int64_t hidden = inputType.getShape().back();
    int64_t ignore = static_cast<int64_t>(op.getIgnoreIndex());
    overRows(
        rewriter, loc, op.getInput(),
        [&](OpBuilder &b, Location l, ValueRange row) {
          Value label = memref::LoadOp::create(b, l, labels, row);
          Value counted = arith::CmpIOp::create(
              b, l, arith::CmpIPredicate::ne, label,
              arith::ConstantOp::create(b, l, b.getI64IntegerAttr(ignore)));
          // An ignored row streams nothing: its loss and lse are 0 (the
          // gradient skips it too).
          Type f32 = b.getF32Type();
          auto ifOp = scf::IfOp::create(b, l, TypeRange{f32, f32}, counted,
                                        /*withElseRegion=*/true);
          OpBuilder tb = ifOp.getThenBodyBuilder();
          Value labelIndex =
              arith::IndexCastOp::create(tb, l, tb.getIndexType(), label);
          SmallVector<Value> stats = countedLoop(
              tb, l, indexConst(tb, l, 0), indexConst(tb, l, vocab),
              ValueRange{
                  f32Const(tb, l, -std::numeric_limits<float>::infinity()),
                  f32Const(tb, l, 0.0f), f32Const(tb, l, 0.0f)},
              [&](OpBuilder &vb, Location vl, Value v,
                  ValueRange carried) -> SmallVector<Value> {
                Value z = rowDot(vb, vl, x, row, *w, v, hidden);
                Value m = arith::MaximumFOp::create(vb, vl, carried[0], z);
                Value alpha = math::ExpOp::create(
                    vb, vl, arith::SubFOp::create(vb, vl, carried[0], m));
                Value p = math::ExpOp::create(
                    vb, vl, arith::SubFOp::create(vb, vl, z, m));
                Value sum = arith::AddFOp::create(
                    vb, vl, arith::MulFOp::create(vb, vl, carried[1], alpha),
                    p);
                Value isLabel = arith::CmpIOp::create(
                    vb, vl, arith::CmpIPredicate::eq, v, labelIndex);
                Value picked =
                    arith::SelectOp::create(vb, vl, isLabel, z, carried[2]);
                return {m, sum, picked};
              });
          Value rowLse = logSumExp(tb, l, stats[0], stats[1]);
          scf::YieldOp::create(
              tb, l,
              ValueRange{rowLse,
                         arith::SubFOp::create(tb, l, rowLse, stats[2])});
          OpBuilder eb = ifOp.getElseBodyBuilder();
          Value zero = f32Const(eb, l, 0.0f);
          scf::YieldOp::create(eb, l, ValueRange{zero, zero});
          memref::StoreOp::create(b, l, ifOp.getResult(0), lse, row);
          Value value = ifOp.getResult(1);
          memref::StoreOp::create(b, l, value, rowLoss, row);
        });
    auto asTensor = [&](Value buf) {
      return bufferization::ToTensorOp::create(rewriter, loc, lseType, buf,
                                               rewriter.getUnitAttr(),
                                               rewriter.getUnitAttr())
          .getResult();
    };
    Value loss =
        meanRowLoss(rewriter, loc, asTensor(rowLoss), op.getLabels(), ignore);
    rewriter.replaceOp(op, ValueRange{loss, asTensor(lse)});
    return success();
  }
};

/// linear_cross_entropy_grad: per counted row, the vocabulary streamed
/// again, each probability from the row's lse, the row gradient
/// accumulated in place.
struct LinearCrossEntropyGradLowering
    : public OpRewritePattern<LinearCrossEntropyGradOp> {
  LinearCrossEntropyGradLowering(MLIRContext *ctx, bool tablesInRegisters)
      : OpRewritePattern(ctx), tablesInRegisters(tablesInRegisters) {}
  bool tablesInRegisters;
  LogicalResult matchAndRewrite(LinearCrossEntropyGradOp op,
                                PatternRewriter &rewriter) const override {
    RankedTensorType inputType = op.getInput().getType();
    if (failed(checkF32(rewriter, op, inputType)))
      return failure();
    Location loc = op.getLoc();
    int64_t ignore = static_cast<int64_t>(op.getIgnoreIndex());
    Value count = tensor::ExtractOp::create(
        rewriter, loc, countLabels(rewriter, loc, op.getLabels(), ignore),
        ValueRange{});
    Value invCount = arith::DivFOp::create(
        rewriter, loc, f32Const(rewriter, loc, 1.0f), count);
    Value x = readBuffer(rewriter, loc, op.getInput());
    FailureOr<WeightReader> w =
        WeightReader::create(rewriter, op, op.getWeight(), tablesInRegisters,
                             /*asBuffers=*/true);
    if (failed(w))
      return failure();
    Value labels = readBuffer(rewriter, loc, op.getLabels());
    Value lse = readBuffer(rewriter, loc, op.getLse());
    Value dx = allocLike(rewriter, loc, inputType, op.getInput());
    int64_t vocab = logicalTensorType(op.getWeight().getType()).getDimSize(0);
    int64_t hidden = inputType.getShape().back();
    overRows(
        rewriter, loc, op.getInput(),
        [&](OpBuilder &b, Location l, ValueRange row) {
          countedLoop(b, l, indexConst(b, l, 0), indexConst(b, l, hidden),
                      ValueRange{},
                      [&](OpBuilder &kb, Location kl, Value k,
                          ValueRange) -> SmallVector<Value> {
                        memref::StoreOp::create(kb, kl, f32Const(kb, kl, 0.0f),
                                                dx, withIndex(row, k));
                        return {};
                      });
          Value label = memref::LoadOp::create(b, l, labels, row);
          Value counted = arith::CmpIOp::create(
              b, l, arith::CmpIPredicate::ne, label,
              arith::ConstantOp::create(b, l, b.getI64IntegerAttr(ignore)));
          auto ifOp = scf::IfOp::create(b, l, counted, /*withElse=*/false);
          OpBuilder tb = ifOp.getThenBodyBuilder();
          Value labelIndex =
              arith::IndexCastOp::create(tb, l, tb.getIndexType(), label);
          Value rowLse = memref::LoadOp::create(tb, l, lse, row);
          countedLoop(tb, l, indexConst(tb, l, 0), indexConst(tb, l, vocab),
                      ValueRange{},
                      [&](OpBuilder &vb, Location vl, Value v,
                          ValueRange) -> SmallVector<Value> {
                        Value coeff = crossEntropyLogitGrad(
                            vb, vl, rowDot(vb, vl, x, row, *w, v, hidden),
                            rowLse, v, labelIndex, invCount);
                        countedLoop(
                            vb, vl, indexConst(vb, vl, 0),
                            indexConst(vb, vl, hidden), ValueRange{},
                            [&](OpBuilder &kb, Location kl, Value k,
                                ValueRange) -> SmallVector<Value> {
                              SmallVector<Value> at = withIndex(row, k);
                              Value old =
                                  memref::LoadOp::create(kb, kl, dx, at);
                              Value wv = w->read(kb, kl, v, k);
                              memref::StoreOp::create(
                                  kb, kl,
                                  arith::AddFOp::create(
                                      kb, kl, old,
                                      arith::MulFOp::create(kb, kl, coeff, wv)),
                                  dx, at);
                              return {};
                            });
                        return {};
                      });
        });
    rewriter.replaceOp(op, bufferization::ToTensorOp::create(
                               rewriter, loc, inputType, dx,
                               rewriter.getUnitAttr(), rewriter.getUnitAttr())
                               .getResult());
    return success();
  }
};

} // namespace

void mlir::lowmem::populateTransformerToLinalgPatterns(
    RewritePatternSet &patterns, bool tablesInRegisters) {
  patterns.add<RmsNormLowering, RopeLowering, SwiGluLowering, AttentionLowering,
               RmsNormGradLowering, SwiGluGradLowering, AttentionGradLowering,
               CacheUpdateLowering, QuantizeGroupsLowering, ArgmaxLowering>(
      patterns.getContext());
  patterns.add<EmbeddingLowering, LinearCrossEntropyLowering,
               LinearCrossEntropyGradLowering>(patterns.getContext(),
                                               tablesInRegisters);
}
