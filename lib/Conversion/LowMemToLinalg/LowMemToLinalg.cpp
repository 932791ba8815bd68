//===- LowMemToLinalg.cpp - lower lowmem ops to linalg on tensors ---------===//
//
// Part of the lowmem project.
//
//===----------------------------------------------------------------------===//

#include "lowmem/Conversion/Passes.h"
#include "lowmem/Conversion/WeightDecoder.h"
#include "lowmem/Dialect/LowMem/IR/LowMemOps.h"
#include "lowmem/Quant/Quant.h"

#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace mlir::lowmem {
#define GEN_PASS_DEF_CONVERTLOWMEMTOLINALG
#include "lowmem/Conversion/Passes.h.inc"
} // namespace mlir::lowmem

using namespace mlir;
using namespace mlir::lowmem;

namespace {

namespace lq = ::lowmem::quant;
using utils::IteratorType;

/// `tensor.empty` of `type`; each dynamic dimension takes the size of the
/// same dimension of `like` (the leading, batch-like dimensions that all
/// lowmem ops carry from their input to their result).
Value emptyLike(OpBuilder &b, Location loc, RankedTensorType type, Value like) {
  SmallVector<Value> sizes;
  for (int64_t i = 0; i < type.getRank(); ++i)
    if (type.isDynamicDim(i))
      sizes.push_back(tensor::DimOp::create(b, loc, like, i));
  return tensor::EmptyOp::create(b, loc, type.getShape(), type.getElementType(),
                                 sizes);
}

Value f32Const(OpBuilder &b, Location loc, float v) {
  return arith::ConstantOp::create(b, loc, b.getF32FloatAttr(v));
}

/// A decoder of `type`'s storage `parts` whose code tables are constant
/// tensors, or vector constants.
WeightDecoder makeDecoder(OpBuilder &b, Location loc, QTensorType type,
                          ValueRange parts, bool tablesInRegisters) {
  Value table, dynamicMap;
  ArrayRef<float> codes = codeTable(type.getFormat());
  if (!codes.empty())
    table = tableConstant(b, loc, codes, tablesInRegisters);
  if (type.getDoubleQuant())
    dynamicMap = tableConstant(b, loc, lq::dynamicMap(), tablesInRegisters);
  return WeightDecoder(type, parts, table, dynamicMap);
}

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

  // Epilogue: activation, then residual.
  Value residual = op.getResidual();
  if (op.getActivation() == Activation::none && !residual)
    return product;
  SmallVector<Value> epilogueInputs{product};
  if (residual)
    epilogueInputs.push_back(residual);
  SmallVector<AffineMap> epilogueMaps(
      epilogueInputs.size() + 1, AffineMap::getMultiDimIdentityMap(rank, ctx));
  Activation activation = op.getActivation();
  Value out = emptyLike(rewriter, loc, resultType, op.getInput());
  return linalg::GenericOp::create(
             rewriter, loc, TypeRange{resultType}, epilogueInputs,
             ValueRange{out}, epilogueMaps,
             SmallVector<IteratorType>(rank, IteratorType::parallel),
             [&](OpBuilder &b, Location l, ValueRange args) {
               Value v = args[0];
               if (activation == Activation::relu)
                 v = arith::MaximumFOp::create(b, l, v, f32Const(b, l, 0.0f));
               if (residual)
                 v = arith::AddFOp::create(b, l, v, args[1]);
               linalg::YieldOp::create(b, l, v);
             })
      .getResult(0);
}

LogicalResult checkF32(PatternRewriter &rewriter, Operation *op, Type type) {
  if (getElementTypeOrSelf(type).isF32())
    return success();
  return rewriter.notifyMatchFailure(op, "only f32 compute is supported");
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
        makeDecoder(rewriter, op.getLoc(), op.getWeight().getType(),
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
    WeightDecoder decoder = makeDecoder(rewriter, loc, op.getInput().getType(),
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

/// group_norm: per-group mean, then per-group biased variance (two passes
/// for accuracy), then the normalization with the per-feature affine.
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
    int64_t channels = type.getShape().back();
    int64_t groups = op.getNumGroups();
    int64_t groupSize = channels / groups;
    Value x = op.getInput();

    // Statistics have shape [lead..., groups].
    SmallVector<int64_t> statShape(type.getShape().drop_back());
    statShape.push_back(groups);
    auto statType = RankedTensorType::get(statShape, rewriter.getF32Type());
    Value zero = f32Const(rewriter, loc, 0.0f);
    auto zeroStats = [&]() {
      Value empty = emptyLike(rewriter, loc, statType, x);
      return linalg::FillOp::create(rewriter, loc, zero, empty).getResult(0);
    };
    // Loop (lead..., c): channel c belongs to group c floordiv groupSize.
    SmallVector<AffineExpr> statExprs;
    for (unsigned i = 0; i < lead; ++i)
      statExprs.push_back(getAffineDimExpr(i, ctx));
    statExprs.push_back(groups == 1
                            ? getAffineConstantExpr(0, ctx)
                            : getAffineDimExpr(lead, ctx).floorDiv(groupSize));
    AffineMap statMap = AffineMap::get(rank, 0, statExprs, ctx);
    AffineMap id = AffineMap::getMultiDimIdentityMap(rank, ctx);
    SmallVector<IteratorType> reduceIters(lead, IteratorType::parallel);
    reduceIters.push_back(IteratorType::reduction);
    Value invCount = f32Const(rewriter, loc, 1.0f / float(groupSize));

    Value sum =
        linalg::GenericOp::create(
            rewriter, loc, TypeRange{statType}, ValueRange{x},
            ValueRange{zeroStats()}, SmallVector<AffineMap>{id, statMap},
            reduceIters,
            [](OpBuilder &b, Location l, ValueRange args) {
              linalg::YieldOp::create(
                  b, l,
                  ValueRange{arith::AddFOp::create(b, l, args[1], args[0])});
            })
            .getResult(0);
    Value sqSum =
        linalg::GenericOp::create(
            rewriter, loc, TypeRange{statType}, ValueRange{x, sum},
            ValueRange{zeroStats()},
            SmallVector<AffineMap>{id, statMap, statMap}, reduceIters,
            [&](OpBuilder &b, Location l, ValueRange args) {
              Value mean = arith::MulFOp::create(b, l, args[1], invCount);
              Value d = arith::SubFOp::create(b, l, args[0], mean);
              Value sq = arith::MulFOp::create(b, l, d, d);
              linalg::YieldOp::create(
                  b, l, ValueRange{arith::AddFOp::create(b, l, args[2], sq)});
            })
            .getResult(0);
    Value eps = f32Const(rewriter, loc,
                         static_cast<float>(op.getEpsilon().convertToDouble()));
    Value out = emptyLike(rewriter, loc, type, x);
    AffineMap featureMap = selectDims(ctx, rank, {lead});
    Value result =
        linalg::GenericOp::create(
            rewriter, loc, TypeRange{type},
            ValueRange{x, sum, sqSum, op.getGamma(), op.getBeta()},
            ValueRange{out},
            SmallVector<AffineMap>{id, statMap, statMap, featureMap, featureMap,
                                   id},
            SmallVector<IteratorType>(rank, IteratorType::parallel),
            [&](OpBuilder &b, Location l, ValueRange args) {
              Value mean = arith::MulFOp::create(b, l, args[1], invCount);
              Value var = arith::MulFOp::create(b, l, args[2], invCount);
              Value denom = math::SqrtOp::create(
                  b, l, arith::AddFOp::create(b, l, var, eps));
              Value norm = arith::DivFOp::create(
                  b, l, arith::SubFOp::create(b, l, args[0], mean), denom);
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
    Value init = tensor::EmptyOp::create(rewriter, loc, ArrayRef<int64_t>{},
                                         rewriter.getF32Type());
    Value acc = linalg::FillOp::create(rewriter, loc,
                                       f32Const(rewriter, loc, 0.0f), init)
                    .getResult(0);
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
    Value out = tensor::EmptyOp::create(rewriter, loc, ArrayRef<int64_t>{},
                                        rewriter.getF32Type());
    AffineMap scalar = AffineMap::get(0, 0, {}, ctx);
    Value mean =
        linalg::GenericOp::create(
            rewriter, loc, TypeRange{type}, ValueRange{sum}, ValueRange{out},
            SmallVector<AffineMap>{scalar, scalar}, SmallVector<IteratorType>{},
            [&](OpBuilder &b, Location l, ValueRange args) {
              linalg::YieldOp::create(
                  b, l, ValueRange{arith::DivFOp::create(b, l, args[0], n)});
            })
            .getResult(0);
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
               MseLossLowering, MseLossGradLowering>(patterns.getContext());
  patterns.add<QLinearLowering, DequantizeLowering>(patterns.getContext(),
                                                    tablesInRegisters);
}
