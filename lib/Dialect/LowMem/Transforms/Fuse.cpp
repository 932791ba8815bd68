//===- Fuse.cpp - fuse dequantization and epilogues into linear layers ----===//
//
// Part of the lowmem project.
//
//===----------------------------------------------------------------------===//

#include "lowmem/Dialect/LowMem/Transforms/Passes.h"

#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace mlir::lowmem {
#define GEN_PASS_DEF_LOWMEMFUSE
#include "lowmem/Dialect/LowMem/Transforms/Passes.h.inc"
} // namespace mlir::lowmem

using namespace mlir;
using namespace mlir::lowmem;

namespace {

/// linear(x, dequantize(q)) -> qlinear(x, q).
struct FuseDequantizeIntoLinear : public OpRewritePattern<LinearOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(LinearOp op,
                                PatternRewriter &rewriter) const override {
    auto dequant = op.getWeight().getDefiningOp<DequantizeOp>();
    if (!dequant)
      return rewriter.notifyMatchFailure(op, "weight is not dequantized");
    rewriter.replaceOpWithNewOp<QLinearOp>(
        op, op.getType(), op.getInput(), dequant.getInput(), op.getBias(),
        op.getResidual(), op.getActivationAttr(), op.getTransposeWeightAttr());
    return success();
  }
};

/// Rebuilds a linear-like op with a new residual and/or activation at the
/// position of `anchor`, which it replaces.
template <typename LinearLikeOp>
void rebuildWithEpilogue(PatternRewriter &rewriter, Operation *anchor,
                         LinearLikeOp op, Value residual,
                         Activation activation) {
  rewriter.setInsertionPoint(anchor);
  auto fused = LinearLikeOp::create(
      rewriter, anchor->getLoc(), op.getType(), op.getInput(), op.getWeight(),
      op.getBias(), residual,
      ActivationAttr::get(rewriter.getContext(), activation),
      op.getTransposeWeightAttr());
  rewriter.replaceOp(anchor, fused.getResult());
  rewriter.eraseOp(op);
}

/// relu(linear(...)) -> linear(...) {activation = relu}.
template <typename LinearLikeOp>
struct FuseReluIntoLinear : public OpRewritePattern<ReluOp> {
  using OpRewritePattern<ReluOp>::OpRewritePattern;

  LogicalResult matchAndRewrite(ReluOp relu,
                                PatternRewriter &rewriter) const override {
    auto op = relu.getInput().template getDefiningOp<LinearLikeOp>();
    if (!op || !op->hasOneUse() || op.getResidual() ||
        op.getActivation() != Activation::none)
      return rewriter.notifyMatchFailure(relu, "no fusible producer");
    rebuildWithEpilogue(rewriter, relu, op, Value(), Activation::relu);
    return success();
  }
};

/// add(linear(...), r) -> linear(...) residual(r).
template <typename LinearLikeOp>
struct FuseResidualIntoLinear : public OpRewritePattern<AddOp> {
  using OpRewritePattern<AddOp>::OpRewritePattern;

  LogicalResult matchAndRewrite(AddOp add,
                                PatternRewriter &rewriter) const override {
    for (auto [producer, other] : {std::pair{add.getLhs(), add.getRhs()},
                                   std::pair{add.getRhs(), add.getLhs()}}) {
      auto op = producer.template getDefiningOp<LinearLikeOp>();
      if (!op || !op->hasOneUse() || op.getResidual() || producer == other)
        continue;
      rebuildWithEpilogue(rewriter, add, op, other, op.getActivation());
      return success();
    }
    return rewriter.notifyMatchFailure(add, "no fusible producer");
  }
};

struct FusePass : public mlir::lowmem::impl::LowMemFuseBase<FusePass> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    populateFusePatterns(patterns);
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      return signalPassFailure();
  }
};

} // namespace

void mlir::lowmem::populateFusePatterns(RewritePatternSet &patterns) {
  patterns.add<FuseDequantizeIntoLinear, FuseReluIntoLinear<LinearOp>,
               FuseReluIntoLinear<QLinearOp>, FuseResidualIntoLinear<LinearOp>,
               FuseResidualIntoLinear<QLinearOp>>(patterns.getContext());
}
