//===- GPUMath.cpp - math in GPU kernels without libdevice ----------------===//
//
// Part of the lowmem project.
//
//===----------------------------------------------------------------------===//
//
// Rewrites the `math` ops of GPU modules before the NVVM lowering, which
// would otherwise call libdevice: ops with an exact LLVM intrinsic become
// that intrinsic, transcendental functions become MLIR's polynomial
// approximations, and any other `math` op is an error.
//
//===----------------------------------------------------------------------===//

#include "lowmem/Conversion/Passes.h"

#include "mlir/Dialect/Math/Transforms/Passes.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace mlir::lowmem {
#define GEN_PASS_DEF_LOWMEMGPUMATH
#include "lowmem/Conversion/Passes.h.inc"
} // namespace mlir::lowmem

using namespace mlir;

namespace {

/// Computes `op` on an f32 or f64 scalar with `emit(x)`; f16 and bf16
/// operands are extended to f32 and the result truncated back.
template <typename MathOp>
LogicalResult rewriteScalar(MathOp op, PatternRewriter &rewriter,
                            function_ref<Value(Value)> emit) {
  Location loc = op.getLoc();
  Type type = op.getType();
  if (!isa<FloatType>(type))
    return rewriter.notifyMatchFailure(op, "not a scalar float");
  Value x = op->getOperand(0);
  if (type.isF16() || type.isBF16())
    x = arith::ExtFOp::create(rewriter, loc, rewriter.getF32Type(), x);
  else if (!type.isF32() && !type.isF64())
    return rewriter.notifyMatchFailure(op, "not f16, bf16, f32 or f64");
  Value y = emit(x);
  if (y.getType() != type)
    y = arith::TruncFOp::create(rewriter, loc, type, y);
  rewriter.replaceOp(op, y);
  return success();
}

/// Calls the NVVM intrinsic `llvm.nvvm.<name>.f` (f32) or `.d` (f64).
Value callNVVM(PatternRewriter &rewriter, Location loc, StringRef name,
               Value x) {
  std::string intrinsic =
      ("llvm.nvvm." + name + (x.getType().isF32() ? ".f" : ".d")).str();
  return LLVM::CallIntrinsicOp::create(rewriter, loc, x.getType(),
                                       rewriter.getStringAttr(intrinsic),
                                       ValueRange{x})
      .getResult(0);
}

/// A math op the NVVM lowering would send to libdevice but PTX computes in
/// one correctly rounded instruction: sqrt.rn, cvt.rmi (floor), cvt.rpi
/// (ceil).
template <typename MathOp> struct ToNVVMIntrinsic : OpRewritePattern<MathOp> {
  // Ahead of the polynomial approximations, which emit floors themselves.
  ToNVVMIntrinsic(MLIRContext *context, StringRef name)
      : OpRewritePattern<MathOp>(context, /*benefit=*/2), name(name) {}
  LogicalResult matchAndRewrite(MathOp op,
                                PatternRewriter &rewriter) const override {
    return rewriteScalar(op, rewriter, [&](Value x) {
      return callNVVM(rewriter, op.getLoc(), name, x);
    });
  }
  std::string name;
};

/// rsqrt(x) = 1 / sqrt(x), both correctly rounded.
struct RsqrtToDivision : OpRewritePattern<math::RsqrtOp> {
  RsqrtToDivision(MLIRContext *context)
      : OpRewritePattern<math::RsqrtOp>(context, /*benefit=*/2) {}
  LogicalResult matchAndRewrite(math::RsqrtOp op,
                                PatternRewriter &rewriter) const override {
    return rewriteScalar(op, rewriter, [&](Value x) {
      Location loc = op.getLoc();
      Value root = callNVVM(rewriter, loc, "sqrt.rn", x);
      Value one = arith::ConstantOp::create(rewriter, loc, x.getType(),
                                            rewriter.getOneAttr(x.getType()));
      return arith::DivFOp::create(rewriter, loc, one, root).getResult();
    });
  }
};

/// A math op whose generic LLVM intrinsic the NVVM lowering keeps and NVPTX
/// selects as one instruction (abs, fma.rn, copysign).
template <typename MathOp, typename IntrinsicOp>
struct ToIntrinsic : OpRewritePattern<MathOp> {
  ToIntrinsic(MLIRContext *context)
      : OpRewritePattern<MathOp>(context, /*benefit=*/2) {}
  LogicalResult matchAndRewrite(MathOp op,
                                PatternRewriter &rewriter) const override {
    rewriter.replaceOpWithNewOp<IntrinsicOp>(op, op->getResultTypes(),
                                             op->getOperands());
    return success();
  }
};

struct LowMemGPUMathPass
    : mlir::lowmem::impl::LowMemGPUMathBase<LowMemGPUMathPass> {
  void runOnOperation() override {
    MLIRContext *context = &getContext();
    RewritePatternSet patterns(context);
    patterns
        .add<ToIntrinsic<math::AbsFOp, LLVM::FAbsOp>,
             ToIntrinsic<math::FmaOp, LLVM::FMAOp>,
             ToIntrinsic<math::CopySignOp, LLVM::CopySignOp>, RsqrtToDivision>(
            context);
    patterns.add<ToNVVMIntrinsic<math::SqrtOp>>(context, "sqrt.rn");
    patterns.add<ToNVVMIntrinsic<math::FloorOp>>(context, "floor");
    patterns.add<ToNVVMIntrinsic<math::CeilOp>>(context, "ceil");
    // Every function MLIR approximates, but rsqrt (exact above, and
    // approximated only with x86 intrinsics).
    auto approximated = [](StringRef name) { return name != "math.rsqrt"; };
    populateMathF32ExpansionPatterns(patterns, approximated);
    populateMathPolynomialApproximationPatterns(patterns, approximated);
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      return signalPassFailure();
    WalkResult leftover = getOperation().walk([](Operation *op) {
      // Integer math (ctlz, ctpop, ...) never goes to libdevice.
      bool floating = llvm::any_of(op->getResultTypes(), [](Type t) {
        return isa<FloatType>(getElementTypeOrSelf(t));
      });
      if (floating && op->getDialect() &&
          op->getDialect()->getNamespace() ==
              math::MathDialect::getDialectNamespace()) {
        op->emitError() << "'" << op->getName()
                        << "' has no lowering in GPU kernels without CUDA's "
                           "libdevice";
        return WalkResult::interrupt();
      }
      return WalkResult::advance();
    });
    if (leftover.wasInterrupted())
      signalPassFailure();
  }
};

} // namespace
