//===- LowMemToLinalg.cpp - lower lowmem ops to linalg on tensors ---------===//
//
// Part of the lowmem project.
//
//===----------------------------------------------------------------------===//

#include "lowmem/Conversion/BuildUtils.h"
#include "lowmem/Conversion/Passes.h"
#include "lowmem/Conversion/WeightDecoder.h"
#include "lowmem/Dialect/LowMem/IR/LowMemOps.h"

#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

#include <limits>

namespace mlir::lowmem {
#define GEN_PASS_DEF_CONVERTLOWMEMTOLINALG
#include "lowmem/Conversion/Passes.h.inc"
} // namespace mlir::lowmem

using namespace mlir;
using namespace mlir::lowmem;

namespace {

using utils::IteratorType;

/// Identity map over `rank` dims keeping `dims` results.
AffineMap selectDims(MLIRContext *ctx, unsigned numDims,
                     ArrayRef<unsigned> dims) {
  SmallVector<AffineExpr> exprs;
  for (unsigned d : dims)
    exprs.push_back(getAffineDimExpr(d, ctx));
  return AffineMap::get(numDims, 0, exprs, ctx);
}

SmallVector<unsigned> range(unsigned begin, unsigned end) {
  SmallVector<unsigned> out;
  for (unsigned i = begin; i < end; ++i)
    out.push_back(i);
  return out;
}

/// Emits `activation(input · Wᵀ + bias) + residual` (`input · W` when the op
/// is transposed) where `weightAt(b, loc, n, k)` yields W[n, k] inside the
/// reduction body (from a dense operand or decoded from quantized storage).
template <typename LinearLikeOp>
Value emitLinear(
    PatternRewriter &rewriter, LinearLikeOp op,
    function_ref<Value(OpBuilder &, Location, Value, Value, ValueRange)>
        weightAt,
    Value denseWeight) {
  Location loc = op.getLoc();
  MLIRContext *ctx = rewriter.getContext();
  RankedTensorType resultType = op.getType();
  unsigned rank = resultType.getRank();
  unsigned lead = rank - 1;
  Value init = emptyLike(rewriter, loc, resultType, op.getInput());

  // Initialize the accumulator with the broadcast bias, or zero.
  Value acc;
  if (Value bias = op.getBias()) {
    SmallVector<AffineMap> maps{selectDims(ctx, rank, {lead}),
                                AffineMap::getMultiDimIdentityMap(rank, ctx)};
    SmallVector<IteratorType> iters(rank, IteratorType::parallel);
    acc = linalg::GenericOp::create(
              rewriter, loc, TypeRange{resultType}, ValueRange{bias},
              ValueRange{init}, maps, iters,
              [](OpBuilder &b, Location l, ValueRange args) {
                linalg::YieldOp::create(b, l, args[0]);
              })
              .getResult(0);
  } else {
    Value zero = f32Const(rewriter, loc, 0.0f);
    acc = linalg::FillOp::create(rewriter, loc, zero, init).getResult(0);
  }

  // The product: loops (lead..., n, k).
  unsigned numLoops = rank + 1;
  SmallVector<unsigned> inputDims = range(0, lead);
  inputDims.push_back(rank);
  SmallVector<unsigned> outDims = range(0, rank);
  SmallVector<Value> inputs{op.getInput()};
  SmallVector<AffineMap> maps{selectDims(ctx, numLoops, inputDims)};
  // W[n, k], or W[k, n] for the transposed product.
  bool transposed = op.getTransposeWeight();
  if (denseWeight) {
    inputs.push_back(denseWeight);
    maps.push_back(selectDims(ctx, numLoops,
                              transposed ? ArrayRef<unsigned>{rank, lead}
                                         : ArrayRef<unsigned>{lead, rank}));
  }
  maps.push_back(selectDims(ctx, numLoops, outDims));
  SmallVector<IteratorType> iters(rank, IteratorType::parallel);
  iters.push_back(IteratorType::reduction);
  Value product =
      linalg::GenericOp::create(
          rewriter, loc, TypeRange{resultType}, inputs, ValueRange{acc}, maps,
          iters,
          [&](OpBuilder &b, Location l, ValueRange args) {
            Value n = linalg::IndexOp::create(b, l, lead);
            Value k = linalg::IndexOp::create(b, l, rank);
            Value w = transposed ? weightAt(b, l, k, n, args)
                                 : weightAt(b, l, n, k, args);
            Value prod = arith::MulFOp::create(b, l, args[0], w);
            linalg::YieldOp::create(
                b, l,
                ValueRange{arith::AddFOp::create(b, l, args.back(), prod)});
          })
          .getResult(0);

  // Epilogue: activation, then residual, written over the product (no
  // second buffer of the result's size).
  Value residual = op.getResidual();
  if (op.getActivation() == Activation::none && !residual)
    return product;
  SmallVector<Value> epilogueInputs;
  if (residual)
    epilogueInputs.push_back(residual);
  SmallVector<AffineMap> epilogueMaps(
      epilogueInputs.size() + 1, AffineMap::getMultiDimIdentityMap(rank, ctx));
  Activation activation = op.getActivation();
  return linalg::GenericOp::create(
             rewriter, loc, TypeRange{resultType}, epilogueInputs,
             ValueRange{product}, epilogueMaps,
             SmallVector<IteratorType>(rank, IteratorType::parallel),
             [&](OpBuilder &b, Location l, ValueRange args) {
               Value v = args.back();
               if (activation == Activation::relu)
                 v = arith::MaximumFOp::create(b, l, v, f32Const(b, l, 0.0f));
               if (residual)
                 v = arith::AddFOp::create(b, l, v, args[0]);
               linalg::YieldOp::create(b, l, v);
             })
      .getResult(0);
}

struct LinearLowering : public OpRewritePattern<LinearOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(LinearOp op,
                                PatternRewriter &rewriter) const override {
    if (failed(checkF32(rewriter, op, op.getType())))
      return failure();
    Value result = emitLinear(
        rewriter, op,
        [](OpBuilder &, Location, Value, Value, ValueRange args) {
          return args[1];
        },
        op.getWeight());
    rewriter.replaceOp(op, result);
    return success();
  }
};

struct QLinearLowering : public OpRewritePattern<QLinearOp> {
  QLinearLowering(MLIRContext *ctx, bool tablesInRegisters)
      : OpRewritePattern(ctx), tablesInRegisters(tablesInRegisters) {}
  bool tablesInRegisters;
  LogicalResult matchAndRewrite(QLinearOp op,
                                PatternRewriter &rewriter) const override {
    if (failed(checkF32(rewriter, op, op.getType())))
      return failure();
    auto storage = op.getWeight().getDefiningOp<AssembleOp>();
    if (!storage)
      return rewriter.notifyMatchFailure(op,
                                         "weight storage is not explicit (run "
                                         "lowmem-materialize-storage first)");
    WeightDecoder decoder =
        WeightDecoder::create(rewriter, op.getLoc(), op.getWeight().getType(),
                              storage.getParts(), tablesInRegisters);
    Value result = emitLinear(
        rewriter, op,
        [&](OpBuilder &b, Location l, Value n, Value k, ValueRange) {
          return decoder.decode(b, l, ValueRange{n, k});
        },
        Value());
    rewriter.replaceOp(op, result);
    return success();
  }
};

struct DequantizeLowering : public OpRewritePattern<DequantizeOp> {
  DequantizeLowering(MLIRContext *ctx, bool tablesInRegisters)
      : OpRewritePattern(ctx), tablesInRegisters(tablesInRegisters) {}
  bool tablesInRegisters;
  LogicalResult matchAndRewrite(DequantizeOp op,
                                PatternRewriter &rewriter) const override {
    if (failed(checkF32(rewriter, op, op.getType())))
      return failure();
    auto storage = op.getInput().getDefiningOp<AssembleOp>();
    if (!storage)
      return rewriter.notifyMatchFailure(op, "storage is not explicit");
    Location loc = op.getLoc();
    RankedTensorType type = op.getType();
    unsigned rank = type.getRank();
    WeightDecoder decoder =
        WeightDecoder::create(rewriter, loc, op.getInput().getType(),
                              storage.getParts(), tablesInRegisters);
    Value init = tensor::EmptyOp::create(rewriter, loc, type.getShape(),
                                         type.getElementType());
    auto generic = linalg::GenericOp::create(
        rewriter, loc, TypeRange{type}, ValueRange{}, ValueRange{init},
        SmallVector<AffineMap>{
            AffineMap::getMultiDimIdentityMap(rank, getContext())},
        SmallVector<IteratorType>(rank, IteratorType::parallel),
        [&](OpBuilder &b, Location l, ValueRange) {
          SmallVector<Value> indices;
          for (unsigned i = 0; i < rank; ++i)
            indices.push_back(linalg::IndexOp::create(b, l, i));
          linalg::YieldOp::create(b, l, decoder.decode(b, l, indices));
        });
    rewriter.replaceOp(op, generic.getResult(0));
    return success();
  }
};

/// Elementwise ops over operands of the result's type.
template <typename SourceOp>
struct ElementwiseLowering : public OpRewritePattern<SourceOp> {
  using OpRewritePattern<SourceOp>::OpRewritePattern;
  LogicalResult matchAndRewrite(SourceOp op,
                                PatternRewriter &rewriter) const override {
    auto type = cast<RankedTensorType>(op.getType());
    if (failed(checkF32(rewriter, op, type)))
      return failure();
    Location loc = op.getLoc();
    unsigned rank = type.getRank();
    Value init = emptyLike(rewriter, loc, type, op->getOperand(0));
    SmallVector<AffineMap> maps(
        op->getNumOperands() + 1,
        AffineMap::getMultiDimIdentityMap(rank, rewriter.getContext()));
    auto generic = linalg::GenericOp::create(
        rewriter, loc, TypeRange{type}, op->getOperands(), ValueRange{init},
        maps, SmallVector<IteratorType>(rank, IteratorType::parallel),
        [&](OpBuilder &b, Location l, ValueRange args) {
          Value v;
          if constexpr (std::is_same_v<SourceOp, ReluOp>) {
            v = arith::MaximumFOp::create(b, l, args[0], f32Const(b, l, 0.0f));
          } else if constexpr (std::is_same_v<SourceOp, ScaleOp>) {
            float factor = static_cast<float>(op.getFactor().convertToDouble());
            v = arith::MulFOp::create(b, l, args[0], f32Const(b, l, factor));
          } else if constexpr (std::is_same_v<SourceOp, ReluGradOp>) {
            // dy where the output is positive (0 at 0, as PyTorch).
            Value zero = f32Const(b, l, 0.0f);
            Value positive = arith::CmpFOp::create(
                b, l, arith::CmpFPredicate::OGT, args[1], zero);
            v = arith::SelectOp::create(b, l, positive, args[0], zero);
          } else {
            v = arith::AddFOp::create(b, l, args[0], args[1]);
          }
          linalg::YieldOp::create(b, l, v);
        });
    rewriter.replaceOp(op, generic.getResult(0));
    return success();
  }
};

/// Per-group statistics of `x` ([lead..., C] in groups of C / groups
/// consecutive features): the sum and the sum of squared deviations from the
/// mean (two passes for accuracy), of shape [lead..., groups], and the map
/// from the loops (lead..., c) to them.
struct GroupStats {
  Value sum, sqSum;
  RankedTensorType statType;
  AffineMap statMap;
  Value invCount;

  /// Zeros of the statistics' shape (dynamic sizes from `like`).
  Value zeros(OpBuilder &b, Location loc, Value like) const {
    Value empty = emptyLike(b, loc, statType, like);
    return linalg::FillOp::create(b, loc, f32Const(b, loc, 0.0f), empty)
        .getResult(0);
  }

  /// mean and sqrt(var + eps) inside a body, from the statistics.
  std::pair<Value, Value> meanStd(OpBuilder &b, Location l, Value sumV,
                                  Value sqSumV, Value eps) const {
    Value mean = arith::MulFOp::create(b, l, sumV, invCount);
    Value var = arith::MulFOp::create(b, l, sqSumV, invCount);
    Value std =
        math::SqrtOp::create(b, l, arith::AddFOp::create(b, l, var, eps));
    return {mean, std};
  }

  /// The normalized x̂ = (x - mean) · rstd and rstd inside a body.
  std::pair<Value, Value> normalized(OpBuilder &b, Location l, Value x,
                                     Value sumV, Value sqSumV,
                                     Value eps) const {
    auto [mean, std] = meanStd(b, l, sumV, sqSumV, eps);
    Value one = arith::ConstantOp::create(b, l, b.getF32FloatAttr(1.0f));
    Value rstd = arith::DivFOp::create(b, l, one, std);
    Value xhat =
        arith::MulFOp::create(b, l, arith::SubFOp::create(b, l, x, mean), rstd);
    return {xhat, rstd};
  }
};

GroupStats groupStats(OpBuilder &b, Location loc, Value x, int64_t groups) {
  MLIRContext *ctx = b.getContext();
  auto type = cast<RankedTensorType>(x.getType());
  unsigned rank = type.getRank(), lead = rank - 1;
  int64_t groupSize = type.getShape().back() / groups;
  SmallVector<int64_t> statShape(type.getShape().drop_back());
  statShape.push_back(groups);
  GroupStats stats;
  stats.statType = RankedTensorType::get(statShape, b.getF32Type());
  // Loop (lead..., c): channel c belongs to group c floordiv groupSize.
  SmallVector<AffineExpr> statExprs;
  for (unsigned i = 0; i < lead; ++i)
    statExprs.push_back(getAffineDimExpr(i, ctx));
  statExprs.push_back(groups == 1
                          ? getAffineConstantExpr(0, ctx)
                          : getAffineDimExpr(lead, ctx).floorDiv(groupSize));
  stats.statMap = AffineMap::get(rank, 0, statExprs, ctx);
  AffineMap id = AffineMap::getMultiDimIdentityMap(rank, ctx);
  SmallVector<IteratorType> reduceIters(lead, IteratorType::parallel);
  reduceIters.push_back(IteratorType::reduction);
  stats.invCount = f32Const(b, loc, 1.0f / float(groupSize));
  stats.sum =
      linalg::GenericOp::create(
          b, loc, TypeRange{stats.statType}, ValueRange{x},
          ValueRange{stats.zeros(b, loc, x)},
          SmallVector<AffineMap>{id, stats.statMap}, reduceIters,
          [](OpBuilder &nb, Location l, ValueRange args) {
            linalg::YieldOp::create(
                nb, l,
                ValueRange{arith::AddFOp::create(nb, l, args[1], args[0])});
          })
          .getResult(0);
  stats.sqSum =
      linalg::GenericOp::create(
          b, loc, TypeRange{stats.statType}, ValueRange{x, stats.sum},
          ValueRange{stats.zeros(b, loc, x)},
          SmallVector<AffineMap>{id, stats.statMap, stats.statMap}, reduceIters,
          [&](OpBuilder &nb, Location l, ValueRange args) {
            Value mean = arith::MulFOp::create(nb, l, args[1], stats.invCount);
            Value d = arith::SubFOp::create(nb, l, args[0], mean);
            Value sq = arith::MulFOp::create(nb, l, d, d);
            linalg::YieldOp::create(
                nb, l, ValueRange{arith::AddFOp::create(nb, l, args[2], sq)});
          })
          .getResult(0);
  return stats;
}

/// group_norm: the statistics, then the normalization with the per-feature
/// affine.
struct GroupNormLowering : public OpRewritePattern<GroupNormOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(GroupNormOp op,
                                PatternRewriter &rewriter) const override {
    RankedTensorType type = op.getType();
    if (failed(checkF32(rewriter, op, type)))
      return failure();
    Location loc = op.getLoc();
    MLIRContext *ctx = rewriter.getContext();
    unsigned rank = type.getRank(), lead = rank - 1;
    Value x = op.getInput();
    GroupStats stats = groupStats(rewriter, loc, x, op.getNumGroups());
    Value eps = f32Const(rewriter, loc,
                         static_cast<float>(op.getEpsilon().convertToDouble()));
    AffineMap id = AffineMap::getMultiDimIdentityMap(rank, ctx);
    AffineMap featureMap = selectDims(ctx, rank, {lead});
    Value result =
        linalg::GenericOp::create(
            rewriter, loc, TypeRange{type},
            ValueRange{x, stats.sum, stats.sqSum, op.getGamma(), op.getBeta()},
            ValueRange{emptyLike(rewriter, loc, type, x)},
            SmallVector<AffineMap>{id, stats.statMap, stats.statMap, featureMap,
                                   featureMap, id},
            SmallVector<IteratorType>(rank, IteratorType::parallel),
            [&](OpBuilder &b, Location l, ValueRange args) {
              auto [mean, std] = stats.meanStd(b, l, args[1], args[2], eps);
              Value norm = arith::DivFOp::create(
                  b, l, arith::SubFOp::create(b, l, args[0], mean), std);
              Value scaled = arith::MulFOp::create(b, l, norm, args[3]);
              linalg::YieldOp::create(
                  b, l,
                  ValueRange{arith::AddFOp::create(b, l, scaled, args[4])});
            })
            .getResult(0);
    rewriter.replaceOp(op, result);
    return success();
  }
};

/// Sums `value` [lead..., C] over its leading dimensions into [C], each
/// element first mapped by `body(b, l, args)` where args are the elements of
/// `inputs` (indexed by `maps`, loops (c, lead...)).
Value sumOverLeading(
    OpBuilder &b, Location loc, RankedTensorType resultType, ValueRange inputs,
    ArrayRef<AffineMap> maps,
    function_ref<Value(OpBuilder &, Location, ValueRange)> body) {
  MLIRContext *ctx = b.getContext();
  unsigned numLoops = maps.front().getNumDims();
  Value init = tensor::EmptyOp::create(b, loc, resultType.getShape(),
                                       resultType.getElementType());
  Value acc =
      linalg::FillOp::create(b, loc, f32Const(b, loc, 0.0f), init).getResult(0);
  SmallVector<AffineMap> allMaps(maps);
  allMaps.push_back(selectDims(ctx, numLoops, {0}));
  SmallVector<IteratorType> iters{IteratorType::parallel};
  iters.append(numLoops - 1, IteratorType::reduction);
  return linalg::GenericOp::create(
             b, loc, TypeRange{resultType}, inputs, ValueRange{acc}, allMaps,
             iters,
             [&](OpBuilder &nb, Location l, ValueRange args) {
               Value v = body(nb, l, args.drop_back());
               linalg::YieldOp::create(
                   nb, l,
                   ValueRange{arith::AddFOp::create(nb, l, args.back(), v)});
             })
      .getResult(0);
}

/// Loops (c, lead...) reading a [lead..., C] tensor.
AffineMap channelLastMap(MLIRContext *ctx, unsigned rank) {
  SmallVector<unsigned> dims = range(1, rank);
  dims.push_back(0);
  return selectDims(ctx, rank, dims);
}

/// The plain sum of `value` [lead..., C] over its leading dimensions.
Value sumRows(OpBuilder &b, Location loc, RankedTensorType resultType,
              Value value) {
  unsigned rank = cast<RankedTensorType>(value.getType()).getRank();
  return sumOverLeading(
      b, loc, resultType, ValueRange{value},
      {channelLastMap(b.getContext(), rank)},
      [](OpBuilder &, Location, ValueRange args) { return args[0]; });
}

/// group_norm_grad: with g = dy · gamma, per group the sums of g and of
/// g · x̂, then dx = rstd · (g - mean(g) - x̂ · mean(g · x̂)); grad_gamma and
/// grad_beta are sums over the leading dimensions, built only when used.
struct GroupNormGradLowering : public OpRewritePattern<GroupNormGradOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(GroupNormGradOp op,
                                PatternRewriter &rewriter) const override {
    RankedTensorType type = op.getInput().getType();
    if (failed(checkF32(rewriter, op, type)))
      return failure();
    Location loc = op.getLoc();
    MLIRContext *ctx = rewriter.getContext();
    unsigned rank = type.getRank(), lead = rank - 1;
    Value x = op.getInput(), dy = op.getGradOut(), gamma = op.getGamma();
    GroupStats stats = groupStats(rewriter, loc, x, op.getNumGroups());
    Value eps = f32Const(rewriter, loc,
                         static_cast<float>(op.getEpsilon().convertToDouble()));
    AffineMap id = AffineMap::getMultiDimIdentityMap(rank, ctx);
    AffineMap featureMap = selectDims(ctx, rank, {lead});
    SmallVector<Value> replacements(3);

    if (!op.getGradInput().use_empty()) {
      RankedTensorType statType = stats.statType;
      SmallVector<IteratorType> reduceIters(lead, IteratorType::parallel);
      reduceIters.push_back(IteratorType::reduction);
      // Per group: Σ g and Σ g · x̂.
      auto sums = linalg::GenericOp::create(
          rewriter, loc, TypeRange{statType, statType},
          ValueRange{x, dy, gamma, stats.sum, stats.sqSum},
          ValueRange{stats.zeros(rewriter, loc, x),
                     stats.zeros(rewriter, loc, x)},
          SmallVector<AffineMap>{id, id, featureMap, stats.statMap,
                                 stats.statMap, stats.statMap, stats.statMap},
          reduceIters, [&](OpBuilder &b, Location l, ValueRange args) {
            Value xhat =
                stats.normalized(b, l, args[0], args[3], args[4], eps).first;
            Value g = arith::MulFOp::create(b, l, args[1], args[2]);
            Value gx = arith::MulFOp::create(b, l, g, xhat);
            linalg::YieldOp::create(
                b, l,
                ValueRange{arith::AddFOp::create(b, l, args[5], g),
                           arith::AddFOp::create(b, l, args[6], gx)});
          });
      replacements[0] =
          linalg::GenericOp::create(
              rewriter, loc, TypeRange{type},
              ValueRange{x, dy, gamma, stats.sum, stats.sqSum,
                         sums.getResult(0), sums.getResult(1)},
              ValueRange{emptyLike(rewriter, loc, type, x)},
              SmallVector<AffineMap>{id, id, featureMap, stats.statMap,
                                     stats.statMap, stats.statMap,
                                     stats.statMap, id},
              SmallVector<IteratorType>(rank, IteratorType::parallel),
              [&](OpBuilder &b, Location l, ValueRange args) {
                auto [xhat, rstd] =
                    stats.normalized(b, l, args[0], args[3], args[4], eps);
                Value g = arith::MulFOp::create(b, l, args[1], args[2]);
                Value meanG =
                    arith::MulFOp::create(b, l, args[5], stats.invCount);
                Value meanGx =
                    arith::MulFOp::create(b, l, args[6], stats.invCount);
                Value v = arith::SubFOp::create(
                    b, l, arith::SubFOp::create(b, l, g, meanG),
                    arith::MulFOp::create(b, l, xhat, meanGx));
                linalg::YieldOp::create(
                    b, l, ValueRange{arith::MulFOp::create(b, l, v, rstd)});
              })
              .getResult(0);
    }
    auto vecType = cast<RankedTensorType>(op.getGradGamma().getType());
    AffineMap rowMap = channelLastMap(ctx, rank);
    // The statistics are indexed (lead..., group) from loops (c, lead...).
    AffineMap statRowMap = stats.statMap.compose(rowMap);
    if (!op.getGradGamma().use_empty())
      replacements[1] = sumOverLeading(
          rewriter, loc, vecType, ValueRange{x, dy, stats.sum, stats.sqSum},
          {rowMap, rowMap, statRowMap, statRowMap},
          [&](OpBuilder &b, Location l, ValueRange args) {
            Value xhat =
                stats.normalized(b, l, args[0], args[2], args[3], eps).first;
            return arith::MulFOp::create(b, l, args[1], xhat).getResult();
          });
    if (!op.getGradBeta().use_empty())
      replacements[2] = sumRows(rewriter, loc, vecType, dy);
    // Unused results become empty tensors, which fold away.
    for (unsigned i = 0; i < 3; ++i)
      if (!replacements[i])
        replacements[i] =
            i == 0 ? emptyLike(rewriter, loc, type, x)
                   : tensor::EmptyOp::create(rewriter, loc, vecType.getShape(),
                                             rewriter.getF32Type())
                         .getResult();
    rewriter.replaceOp(op, replacements);
    return success();
  }
};

/// bias_grad: the sum over the leading dimensions.
struct BiasGradLowering : public OpRewritePattern<BiasGradOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(BiasGradOp op,
                                PatternRewriter &rewriter) const override {
    RankedTensorType type = op.getType();
    if (failed(checkF32(rewriter, op, type)))
      return failure();
    rewriter.replaceOp(op,
                       sumRows(rewriter, op.getLoc(), type, op.getGradOut()));
    return success();
  }
};

/// lora: t = x · Aᵀ ([lead..., r]), y = s · (t · Bᵀ).
struct LoraLowering : public OpRewritePattern<LoraOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(LoraOp op,
                                PatternRewriter &rewriter) const override {
    RankedTensorType type = op.getType();
    if (failed(checkF32(rewriter, op, type)))
      return failure();
    Location loc = op.getLoc();
    MLIRContext *ctx = rewriter.getContext();
    unsigned rank = type.getRank(), lead = rank - 1;
    Value x = op.getInput();
    SmallVector<int64_t> midShape(type.getShape().drop_back());
    midShape.push_back(op.getRank());
    auto midType = RankedTensorType::get(midShape, rewriter.getF32Type());
    Value zero = f32Const(rewriter, loc, 0.0f);
    auto matmulT = [&](Value lhs, Value rhs, RankedTensorType outType,
                       float scale) {
      Value init = linalg::FillOp::create(rewriter, loc, zero,
                                          emptyLike(rewriter, loc, outType, x))
                       .getResult(0);
      unsigned numLoops = rank + 1;
      SmallVector<unsigned> lhsDims = range(0, lead);
      lhsDims.push_back(rank);
      SmallVector<AffineMap> maps{selectDims(ctx, numLoops, lhsDims),
                                  selectDims(ctx, numLoops, {lead, rank}),
                                  selectDims(ctx, numLoops, range(0, rank))};
      SmallVector<IteratorType> iters(rank, IteratorType::parallel);
      iters.push_back(IteratorType::reduction);
      Value s = f32Const(rewriter, loc, scale);
      return linalg::GenericOp::create(
                 rewriter, loc, TypeRange{outType}, ValueRange{lhs, rhs},
                 ValueRange{init}, maps, iters,
                 [&](OpBuilder &b, Location l, ValueRange args) {
                   Value prod = arith::MulFOp::create(b, l, args[0], args[1]);
                   if (scale != 1.0f)
                     prod = arith::MulFOp::create(b, l, prod, s);
                   linalg::YieldOp::create(
                       b, l,
                       ValueRange{arith::AddFOp::create(b, l, args[2], prod)});
                 })
          .getResult(0);
    };
    Value t = matmulT(x, op.getLoraA(), midType, 1.0f);
    Value y =
        matmulT(t, op.getLoraB(), type, static_cast<float>(op.getScale()));
    rewriter.replaceOp(op, y);
    return success();
  }
};

/// weight_grad: result[n, k] = scale · sum over the leading dims of
/// grad_out[..., n] · input[..., k]. Loops (n, k, leading...).
struct WeightGradLowering : public OpRewritePattern<WeightGradOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(WeightGradOp op,
                                PatternRewriter &rewriter) const override {
    RankedTensorType type = op.getType();
    if (failed(checkF32(rewriter, op, type)))
      return failure();
    Location loc = op.getLoc();
    MLIRContext *ctx = rewriter.getContext();
    unsigned lead = op.getGradOut().getType().getRank() - 1;
    unsigned numLoops = 2 + lead;
    SmallVector<unsigned> dyDims = range(2, numLoops), xDims = dyDims;
    dyDims.push_back(0);
    xDims.push_back(1);
    SmallVector<AffineMap> maps{selectDims(ctx, numLoops, dyDims),
                                selectDims(ctx, numLoops, xDims),
                                selectDims(ctx, numLoops, {0, 1})};
    SmallVector<IteratorType> iters(2, IteratorType::parallel);
    iters.append(lead, IteratorType::reduction);
    Value init = tensor::EmptyOp::create(rewriter, loc, type.getShape(),
                                         type.getElementType());
    Value zero = f32Const(rewriter, loc, 0.0f);
    Value acc = linalg::FillOp::create(rewriter, loc, zero, init).getResult(0);
    float scale = static_cast<float>(op.getScale().convertToDouble());
    auto generic = linalg::GenericOp::create(
        rewriter, loc, TypeRange{type},
        ValueRange{op.getGradOut(), op.getInput()}, ValueRange{acc}, maps,
        iters, [&](OpBuilder &b, Location l, ValueRange args) {
          Value prod = arith::MulFOp::create(b, l, args[0], args[1]);
          if (scale != 1.0f)
            prod = arith::MulFOp::create(b, l, prod, f32Const(b, l, scale));
          linalg::YieldOp::create(
              b, l, ValueRange{arith::AddFOp::create(b, l, args[2], prod)});
        });
    rewriter.replaceOp(op, generic.getResult(0));
    return success();
  }
};

/// The number of elements of `value` as an f32 (at least 1, so that the
/// mean of an empty batch is 0 and not NaN).
Value numelAtLeastOne(OpBuilder &b, Location loc, Value value) {
  auto type = cast<RankedTensorType>(value.getType());
  Value n = arith::ConstantIndexOp::create(b, loc, 1);
  for (int64_t i = 0; i < type.getRank(); ++i)
    n = arith::MulIOp::create(b, loc, n,
                              tensor::DimOp::create(b, loc, value, i));
  n = arith::MaxUIOp::create(b, loc, n,
                             arith::ConstantIndexOp::create(b, loc, 1));
  Value i64 = arith::IndexCastUIOp::create(b, loc, b.getI64Type(), n);
  return arith::UIToFPOp::create(b, loc, b.getF32Type(), i64);
}

/// A rank-0 f32 tensor holding 0, the accumulator of a full reduction.
Value zeroScalar(OpBuilder &b, Location loc) {
  Value empty =
      tensor::EmptyOp::create(b, loc, ArrayRef<int64_t>{}, b.getF32Type());
  return linalg::FillOp::create(b, loc, f32Const(b, loc, 0.0f), empty)
      .getResult(0);
}

/// `sum / divisor` for a rank-0 f32 tensor `sum` and an f32 `divisor`: the
/// mean a loss returns.
Value scalarQuotient(OpBuilder &b, Location loc, Value sum, Value divisor) {
  AffineMap scalar = AffineMap::get(0, 0, {}, b.getContext());
  Value out =
      tensor::EmptyOp::create(b, loc, ArrayRef<int64_t>{}, b.getF32Type());
  return linalg::GenericOp::create(
             b, loc, TypeRange{out.getType()}, ValueRange{sum}, ValueRange{out},
             SmallVector<AffineMap>{scalar, scalar},
             SmallVector<IteratorType>{},
             [&](OpBuilder &nb, Location l, ValueRange args) {
               linalg::YieldOp::create(
                   nb, l,
                   ValueRange{arith::DivFOp::create(nb, l, args[0], divisor)});
             })
      .getResult(0);
}

/// mse_loss: sum of squared differences into a rank-0 tensor, then divided
/// by the element count.
struct MseLossLowering : public OpRewritePattern<MseLossOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(MseLossOp op,
                                PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    MLIRContext *ctx = rewriter.getContext();
    auto inType = op.getPrediction().getType();
    unsigned rank = inType.getRank();
    RankedTensorType type = op.getType();
    Value acc = zeroScalar(rewriter, loc);
    AffineMap id = AffineMap::getMultiDimIdentityMap(rank, ctx);
    SmallVector<AffineMap> maps{id, id, AffineMap::get(rank, 0, {}, ctx)};
    Value sum =
        linalg::GenericOp::create(
            rewriter, loc, TypeRange{type},
            ValueRange{op.getPrediction(), op.getTarget()}, ValueRange{acc},
            maps, SmallVector<IteratorType>(rank, IteratorType::reduction),
            [&](OpBuilder &b, Location l, ValueRange args) {
              Value d = arith::SubFOp::create(b, l, args[0], args[1]);
              Value sq = arith::MulFOp::create(b, l, d, d);
              linalg::YieldOp::create(
                  b, l, ValueRange{arith::AddFOp::create(b, l, args[2], sq)});
            })
            .getResult(0);
    Value n = numelAtLeastOne(rewriter, loc, op.getPrediction());
    Value mean = scalarQuotient(rewriter, loc, sum, n);
    rewriter.replaceOp(op, mean);
    return success();
  }
};

/// mse_loss_grad: 2 · (prediction - target) / numel.
struct MseLossGradLowering : public OpRewritePattern<MseLossGradOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(MseLossGradOp op,
                                PatternRewriter &rewriter) const override {
    RankedTensorType type = op.getType();
    if (failed(checkF32(rewriter, op, type)))
      return failure();
    Location loc = op.getLoc();
    unsigned rank = type.getRank();
    Value n = numelAtLeastOne(rewriter, loc, op.getPrediction());
    Value factor =
        arith::DivFOp::create(rewriter, loc, f32Const(rewriter, loc, 2.0f), n);
    Value init = emptyLike(rewriter, loc, type, op.getPrediction());
    SmallVector<AffineMap> maps(
        3, AffineMap::getMultiDimIdentityMap(rank, rewriter.getContext()));
    auto generic = linalg::GenericOp::create(
        rewriter, loc, TypeRange{type},
        ValueRange{op.getPrediction(), op.getTarget()}, ValueRange{init}, maps,
        SmallVector<IteratorType>(rank, IteratorType::parallel),
        [&](OpBuilder &b, Location l, ValueRange args) {
          Value d = arith::SubFOp::create(b, l, args[0], args[1]);
          linalg::YieldOp::create(
              b, l, ValueRange{arith::MulFOp::create(b, l, d, factor)});
        });
    rewriter.replaceOp(op, generic.getResult(0));
    return success();
  }
};

/// Row statistics of logits [lead..., classes]: the maximum and the sum of
/// exp(x - max) of every row, tensors of the leading shape.
std::pair<Value, Value> softmaxStats(OpBuilder &b, Location loc, Value logits) {
  MLIRContext *ctx = b.getContext();
  auto type = cast<RankedTensorType>(logits.getType());
  unsigned rank = type.getRank();
  auto rowType =
      RankedTensorType::get(type.getShape().drop_back(), b.getF32Type());
  AffineMap id = AffineMap::getMultiDimIdentityMap(rank, ctx);
  AffineMap row = selectDims(ctx, rank, range(0, rank - 1));
  SmallVector<IteratorType> iters(rank - 1, IteratorType::parallel);
  iters.push_back(IteratorType::reduction);
  auto reduce =
      [&](ValueRange inputs, ArrayRef<AffineMap> inputMaps, float start,
          function_ref<Value(OpBuilder &, Location, ValueRange)> combine) {
        Value init = linalg::FillOp::create(b, loc, f32Const(b, loc, start),
                                            emptyLike(b, loc, rowType, logits))
                         .getResult(0);
        SmallVector<AffineMap> maps(inputMaps);
        maps.push_back(row);
        return linalg::GenericOp::create(
                   b, loc, TypeRange{rowType}, inputs, ValueRange{init}, maps,
                   iters,
                   [&](OpBuilder &nb, Location l, ValueRange args) {
                     linalg::YieldOp::create(nb, l, combine(nb, l, args));
                   })
            .getResult(0);
      };
  Value max = reduce(
      ValueRange{logits}, {id}, -std::numeric_limits<float>::infinity(),
      [](OpBuilder &nb, Location l, ValueRange args) {
        return arith::MaximumFOp::create(nb, l, args[0], args[1]).getResult();
      });
  Value sum =
      reduce(ValueRange{logits, max}, {id, row}, 0.0f,
             [](OpBuilder &nb, Location l, ValueRange args) {
               Value e = math::ExpOp::create(
                   nb, l, arith::SubFOp::create(nb, l, args[0], args[1]));
               return arith::AddFOp::create(nb, l, args[2], e).getResult();
             });
  return {max, sum};
}

/// Whether a label counts, and the index it selects (0 when ignored).
std::pair<Value, Value> labelIndex(OpBuilder &b, Location loc, Value label,
                                   int64_t ignoreIndex) {
  Value ignored =
      arith::ConstantOp::create(b, loc, b.getI64IntegerAttr(ignoreIndex));
  Value counts =
      arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ne, label, ignored);
  Value zero = arith::ConstantOp::create(b, loc, b.getI64IntegerAttr(0));
  Value safe = arith::SelectOp::create(b, loc, counts, label, zero);
  return {counts, arith::IndexCastOp::create(b, loc, b.getIndexType(), safe)};
}

/// The number of counted rows, as a rank-0 f32 tensor.
Value countedRows(OpBuilder &b, Location loc, Value labels,
                  int64_t ignoreIndex) {
  MLIRContext *ctx = b.getContext();
  auto type = cast<RankedTensorType>(labels.getType());
  unsigned rank = type.getRank();
  auto scalarType = RankedTensorType::get({}, b.getF32Type());
  Value init = zeroScalar(b, loc);
  SmallVector<AffineMap> maps{AffineMap::getMultiDimIdentityMap(rank, ctx),
                              AffineMap::get(rank, 0, {}, ctx)};
  return linalg::GenericOp::create(
             b, loc, TypeRange{scalarType}, ValueRange{labels},
             ValueRange{init}, maps,
             SmallVector<IteratorType>(rank, IteratorType::reduction),
             [&](OpBuilder &nb, Location l, ValueRange args) {
               Value counts = labelIndex(nb, l, args[0], ignoreIndex).first;
               Value one = arith::UIToFPOp::create(
                   nb, l, nb.getF32Type(),
                   arith::ExtUIOp::create(nb, l, nb.getI32Type(), counts));
               linalg::YieldOp::create(
                   nb, l,
                   ValueRange{arith::AddFOp::create(nb, l, args[1], one)});
             })
      .getResult(0);
}

/// cross_entropy_loss: Σ over counted rows of log(sumexp) + max - x[label],
/// divided by the number of counted rows.
struct CrossEntropyLossLowering : public OpRewritePattern<CrossEntropyLossOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(CrossEntropyLossOp op,
                                PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    MLIRContext *ctx = rewriter.getContext();
    Value logits = op.getLogits(), labels = op.getLabels();
    int64_t ignoreIndex = op.getIgnoreIndex();
    auto [max, sumExp] = softmaxStats(rewriter, loc, logits);
    unsigned rank = cast<RankedTensorType>(labels.getType()).getRank();
    RankedTensorType type = op.getType();
    Value init = zeroScalar(rewriter, loc);
    AffineMap id = AffineMap::getMultiDimIdentityMap(rank, ctx);
    SmallVector<AffineMap> maps{id, id, id, AffineMap::get(rank, 0, {}, ctx)};
    Value total =
        linalg::GenericOp::create(
            rewriter, loc, TypeRange{type}, ValueRange{labels, max, sumExp},
            ValueRange{init}, maps,
            SmallVector<IteratorType>(rank, IteratorType::reduction),
            [&](OpBuilder &b, Location l, ValueRange args) {
              auto [counts, index] = labelIndex(b, l, args[0], ignoreIndex);
              SmallVector<Value> at;
              for (unsigned d = 0; d < rank; ++d)
                at.push_back(linalg::IndexOp::create(b, l, d));
              at.push_back(index);
              Value picked = tensor::ExtractOp::create(b, l, logits, at);
              Value logSum = math::LogOp::create(b, l, args[2]);
              Value term = arith::SubFOp::create(
                  b, l, arith::AddFOp::create(b, l, logSum, args[1]), picked);
              term = arith::SelectOp::create(b, l, counts, term,
                                             f32Const(b, l, 0.0f));
              linalg::YieldOp::create(
                  b, l, ValueRange{arith::AddFOp::create(b, l, args[3], term)});
            })
            .getResult(0);
    Value count = countedRows(rewriter, loc, labels, ignoreIndex);
    Value mean = scalarQuotient(
        rewriter, loc, total,
        tensor::ExtractOp::create(rewriter, loc, count, ValueRange{}));
    rewriter.replaceOp(op, mean);
    return success();
  }
};

/// cross_entropy_loss_grad: (exp(x - max) / sumexp - [c == label]) / n on
/// counted rows, 0 on ignored ones.
struct CrossEntropyLossGradLowering
    : public OpRewritePattern<CrossEntropyLossGradOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(CrossEntropyLossGradOp op,
                                PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    MLIRContext *ctx = rewriter.getContext();
    Value logits = op.getLogits(), labels = op.getLabels();
    int64_t ignoreIndex = op.getIgnoreIndex();
    RankedTensorType type = op.getType();
    unsigned rank = type.getRank();
    auto [max, sumExp] = softmaxStats(rewriter, loc, logits);
    Value count = countedRows(rewriter, loc, labels, ignoreIndex);
    AffineMap id = AffineMap::getMultiDimIdentityMap(rank, ctx);
    AffineMap row = selectDims(ctx, rank, range(0, rank - 1));
    SmallVector<AffineMap> maps{
        id, row, row, row, AffineMap::get(rank, 0, {}, ctx), id};
    Value init = emptyLike(rewriter, loc, type, logits);
    auto generic = linalg::GenericOp::create(
        rewriter, loc, TypeRange{type},
        ValueRange{logits, labels, max, sumExp, count}, ValueRange{init}, maps,
        SmallVector<IteratorType>(rank, IteratorType::parallel),
        [&](OpBuilder &b, Location l, ValueRange args) {
          auto [counts, index] = labelIndex(b, l, args[1], ignoreIndex);
          Value p = arith::DivFOp::create(
              b, l,
              math::ExpOp::create(
                  b, l, arith::SubFOp::create(b, l, args[0], args[2])),
              args[3]);
          Value c = linalg::IndexOp::create(b, l, rank - 1);
          Value hit =
              arith::CmpIOp::create(b, l, arith::CmpIPredicate::eq, c, index);
          Value g = arith::SubFOp::create(
              b, l, p,
              arith::SelectOp::create(b, l, hit, f32Const(b, l, 1.0f),
                                      f32Const(b, l, 0.0f)));
          g = arith::DivFOp::create(b, l, g, args[4]);
          g = arith::SelectOp::create(b, l, counts, g, f32Const(b, l, 0.0f));
          linalg::YieldOp::create(b, l, g);
        });
    rewriter.replaceOp(op, generic.getResult(0));
    return success();
  }
};

/// dropout: the counter-based mask of the op's description, recomputed
/// from the element's row-major index, the stream and the step.
struct DropoutLowering : public OpRewritePattern<DropoutOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(DropoutOp op,
                                PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    RankedTensorType type = op.getType();
    unsigned rank = type.getRank();
    double p = op.getProbability().convertToDouble();
    Value input = op.getInput();
    Type i32 = rewriter.getI32Type();
    auto u32 = [&](OpBuilder &b, Location l, uint32_t v) {
      return arith::ConstantOp::create(
                 b, l, b.getIntegerAttr(i32, static_cast<int32_t>(v)))
          .getResult();
    };
    // The step number t = hyper[3], and the stream's contribution.
    Value t = arith::FPToUIOp::create(
        rewriter, loc, i32,
        tensor::ExtractOp::create(
            rewriter, loc, op.getHyper(),
            ValueRange{arith::ConstantIndexOp::create(rewriter, loc, 3)}));
    Value salt = arith::XOrIOp::create(
        rewriter, loc,
        u32(rewriter, loc, static_cast<uint32_t>(op.getStream()) * 0x9E3779B9u),
        arith::MulIOp::create(rewriter, loc, t,
                              u32(rewriter, loc, 0x85EBCA6Bu)));
    SmallVector<Value> dims;
    for (unsigned d = 0; d < rank; ++d)
      dims.push_back(tensor::DimOp::create(rewriter, loc, input, d));
    Value keepScale =
        f32Const(rewriter, loc, static_cast<float>(1.0 / (1.0 - p)));
    Value threshold = f32Const(rewriter, loc, static_cast<float>(p));
    SmallVector<AffineMap> maps(
        2, AffineMap::getMultiDimIdentityMap(rank, rewriter.getContext()));
    auto generic = linalg::GenericOp::create(
        rewriter, loc, TypeRange{type}, ValueRange{input},
        ValueRange{emptyLike(rewriter, loc, type, input)}, maps,
        SmallVector<IteratorType>(rank, IteratorType::parallel),
        [&](OpBuilder &b, Location l, ValueRange args) {
          Value index = arith::ConstantIndexOp::create(b, l, 0);
          for (unsigned d = 0; d < rank; ++d)
            index = arith::AddIOp::create(
                b, l, arith::MulIOp::create(b, l, index, dims[d]),
                linalg::IndexOp::create(b, l, d));
          Value h = arith::XOrIOp::create(
              b, l, arith::IndexCastOp::create(b, l, i32, index), salt);
          auto mix = [&](unsigned shift) {
            h = arith::XOrIOp::create(
                b, l, h, arith::ShRUIOp::create(b, l, h, u32(b, l, shift)));
          };
          mix(16);
          h = arith::MulIOp::create(b, l, h, u32(b, l, 0x7FEB352Du));
          mix(15);
          h = arith::MulIOp::create(b, l, h, u32(b, l, 0x846CA68Bu));
          mix(16);
          Value u = arith::MulFOp::create(
              b, l,
              arith::UIToFPOp::create(
                  b, l, b.getF32Type(),
                  arith::ShRUIOp::create(b, l, h, u32(b, l, 8))),
              f32Const(b, l, 1.0f / 16777216.0f));
          Value keep = arith::CmpFOp::create(b, l, arith::CmpFPredicate::OGE, u,
                                             threshold);
          Value scaled = arith::MulFOp::create(b, l, args[0], keepScale);
          linalg::YieldOp::create(
              b, l,
              ValueRange{arith::SelectOp::create(b, l, keep, scaled,
                                                 f32Const(b, l, 0.0f))});
        });
    rewriter.replaceOp(op, generic.getResult(0));
    return success();
  }
};

/// The scalars of an optimizer step: hyper[i] and whether the loss is
/// finite (ordered and not ±inf).
Value hyperAt(OpBuilder &b, Location loc, Value hyper, int64_t i) {
  return tensor::ExtractOp::create(
      b, loc, hyper, ValueRange{arith::ConstantIndexOp::create(b, loc, i)});
}

Value lossIsFinite(OpBuilder &b, Location loc, Value loss) {
  Value v = tensor::ExtractOp::create(b, loc, loss, ValueRange{});
  Value inf = f32Const(b, loc, std::numeric_limits<float>::infinity());
  return arith::CmpFOp::create(b, loc, arith::CmpFPredicate::ONE,
                               math::AbsFOp::create(b, loc, v), inf);
}

/// One elementwise generic over the parameter whose outputs are the
/// parameter and state tensors themselves, so that bufferization updates
/// them in place; every output keeps its old value when `finite` is false.
SmallVector<Value> emitUpdate(
    OpBuilder &b, Location loc, Value grad, ValueRange state, Value finite,
    function_ref<SmallVector<Value>(OpBuilder &, Location, Value, ValueRange)>
        body) {
  auto type = cast<RankedTensorType>(grad.getType());
  unsigned rank = type.getRank();
  SmallVector<AffineMap> maps(
      state.size() + 1,
      AffineMap::getMultiDimIdentityMap(rank, b.getContext()));
  SmallVector<Type> types(state.size(), type);
  auto generic = linalg::GenericOp::create(
      b, loc, types, ValueRange{grad}, state, maps,
      SmallVector<IteratorType>(rank, IteratorType::parallel),
      [&](OpBuilder &nb, Location l, ValueRange args) {
        ValueRange old = args.drop_front();
        SmallVector<Value> updated = body(nb, l, args[0], old);
        for (auto [i, v] : llvm::enumerate(updated))
          updated[i] = arith::SelectOp::create(nb, l, finite, v, old[i]);
        linalg::YieldOp::create(nb, l, updated);
      });
  return SmallVector<Value>(generic.getResults());
}

/// sgd: d = g + wd · p; with momentum buf = mu · buf + d, p -= lr · buf;
/// without, p -= lr · d.
struct SgdLowering : public OpRewritePattern<SgdOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(SgdOp op,
                                PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    Value lr = hyperAt(rewriter, loc, op.getHyper(), 0);
    Value finite = lossIsFinite(rewriter, loc, op.getLoss());
    float momentum = static_cast<float>(op.getMomentum().convertToDouble());
    float decay = static_cast<float>(op.getWeightDecay().convertToDouble());
    SmallVector<Value> state{op.getParam()};
    if (Value buf = op.getMomentumBuffer())
      state.push_back(buf);
    SmallVector<Value> results = emitUpdate(
        rewriter, loc, op.getGrad(), state, finite,
        [&](OpBuilder &b, Location l, Value g, ValueRange old) {
          Value d = g;
          if (decay != 0.0f)
            d = arith::AddFOp::create(
                b, l, d,
                arith::MulFOp::create(b, l, old[0], f32Const(b, l, decay)));
          SmallVector<Value> out;
          if (momentum != 0.0f) {
            Value buf = arith::AddFOp::create(
                b, l,
                arith::MulFOp::create(b, l, old[1], f32Const(b, l, momentum)),
                d);
            d = buf;
            out.push_back(buf);
          }
          Value p = arith::SubFOp::create(b, l, old[0],
                                          arith::MulFOp::create(b, l, lr, d));
          out.insert(out.begin(), p);
          return out;
        });
    rewriter.replaceOp(op, results);
    return success();
  }
};

/// adamw, as PyTorch: p *= 1 - lr · wd; m = b1 m + (1 - b1) g;
/// v = b2 v + (1 - b2) g²; p -= lr / bc1 · m / (sqrt(v) / sqrt(bc2) + eps).
struct AdamWLowering : public OpRewritePattern<AdamWOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(AdamWOp op,
                                PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    Value hyper = op.getHyper();
    Value lr = hyperAt(rewriter, loc, hyper, 0);
    Value stepSize = arith::DivFOp::create(rewriter, loc, lr,
                                           hyperAt(rewriter, loc, hyper, 1));
    Value bc2Sqrt =
        math::SqrtOp::create(rewriter, loc, hyperAt(rewriter, loc, hyper, 2));
    Value finite = lossIsFinite(rewriter, loc, op.getLoss());
    auto attr = [](FloatAttr a) {
      return static_cast<float>(a.getValueAsDouble());
    };
    float beta1 = attr(op.getBeta1Attr()), beta2 = attr(op.getBeta2Attr());
    float eps = attr(op.getEpsilonAttr()),
          decay = attr(op.getWeightDecayAttr());
    Value keep = arith::SubFOp::create(
        rewriter, loc, f32Const(rewriter, loc, 1.0f),
        arith::MulFOp::create(rewriter, loc, lr,
                              f32Const(rewriter, loc, decay)));
    SmallVector<Value> results = emitUpdate(
        rewriter, loc, op.getGrad(),
        ValueRange{op.getParam(), op.getExpAvg(), op.getExpAvgSq()}, finite,
        [&](OpBuilder &b, Location l, Value g, ValueRange old) {
          auto mul = [&](Value x, Value y) {
            return arith::MulFOp::create(b, l, x, y).getResult();
          };
          auto add = [&](Value x, Value y) {
            return arith::AddFOp::create(b, l, x, y).getResult();
          };
          Value p = decay != 0.0f ? mul(old[0], keep) : old[0];
          Value m = add(mul(old[1], f32Const(b, l, beta1)),
                        mul(g, f32Const(b, l, 1.0f - beta1)));
          Value v = add(mul(old[2], f32Const(b, l, beta2)),
                        mul(mul(g, g), f32Const(b, l, 1.0f - beta2)));
          Value denom = add(arith::DivFOp::create(
                                b, l, math::SqrtOp::create(b, l, v), bc2Sqrt),
                            f32Const(b, l, eps));
          p = arith::SubFOp::create(
              b, l, p, mul(stepSize, arith::DivFOp::create(b, l, m, denom)));
          return SmallVector<Value>{p, m, v};
        });
    rewriter.replaceOp(op, results);
    return success();
  }
};

struct ConvertLowMemToLinalgPass
    : public mlir::lowmem::impl::ConvertLowMemToLinalgBase<
          ConvertLowMemToLinalgPass> {
  using Base::Base;
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    populateLowMemToLinalgPatterns(patterns, tablesInRegisters);
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      return signalPassFailure();
    // Storage views are dead once their consumers are lowered.
    getOperation().walk([](AssembleOp op) {
      if (op->use_empty())
        op->erase();
    });
    WalkResult result = getOperation().walk([](Operation *op) {
      if (!isa<LowMemDialect>(op->getDialect()))
        return WalkResult::advance();
      if (isa<QLinearOp, DequantizeOp>(op))
        op->emitError("cannot lower '")
            << op->getName()
            << "': the weight's storage is not explicit; run "
               "lowmem-materialize-storage first";
      else if (isa<QuantizeOp>(op))
        op->emitError("cannot lower 'lowmem.quantize' at run time; quantize "
                      "weights ahead of time (lowmem-materialize-storage "
                      "folds constants)");
      else
        op->emitError("cannot lower '")
            << op->getName() << "' to linalg (only f32 compute is supported)";
      return WalkResult::interrupt();
    });
    if (result.wasInterrupted())
      signalPassFailure();
  }
};

} // namespace

void mlir::lowmem::populateLowMemToLinalgPatterns(RewritePatternSet &patterns,
                                                  bool tablesInRegisters) {
  patterns.add<LinearLowering, ElementwiseLowering<ReluOp>,
               ElementwiseLowering<AddOp>, ElementwiseLowering<ReluGradOp>,
               GroupNormLowering, LoraLowering, WeightGradLowering,
               MseLossLowering, MseLossGradLowering, CrossEntropyLossLowering,
               DropoutLowering, CrossEntropyLossGradLowering,
               GroupNormGradLowering, BiasGradLowering,
               ElementwiseLowering<ScaleOp>, SgdLowering, AdamWLowering>(
      patterns.getContext());
  patterns.add<QLinearLowering, DequantizeLowering>(patterns.getContext(),
                                                    tablesInRegisters);
  populateTransformerToLinalgPatterns(patterns, tablesInRegisters);
}
