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
/// selects as one instruction (fma.rn).
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

/// The integer type of `type`'s bits (element-wise for vectors).
Type bitsType(Type type) {
  Type element = IntegerType::get(
      type.getContext(), getElementTypeOrSelf(type).getIntOrFloatBitWidth());
  if (auto vector = dyn_cast<VectorType>(type))
    return vector.clone(element);
  return element;
}

/// An integer constant of `type` (a splat for vectors).
Value bitsConstant(PatternRewriter &rewriter, Location loc, Type type,
                   const APInt &value) {
  Attribute attr;
  if (auto vector = dyn_cast<VectorType>(type))
    attr = DenseElementsAttr::get(vector, value);
  else
    attr = rewriter.getIntegerAttr(type, value);
  return arith::ConstantOp::create(rewriter, loc, cast<TypedAttr>(attr));
}

/// absf and copysign on the sign bit: the NVVM lowering sends their LLVM
/// intrinsics to libdevice too. Any float width, scalars and vectors.
struct SignBitLowering : RewritePattern {
  SignBitLowering(MLIRContext *context)
      : RewritePattern(MatchAnyOpTypeTag(), /*benefit=*/2, context) {}
  LogicalResult matchAndRewrite(Operation *op,
                                PatternRewriter &rewriter) const override {
    if (!isa<math::AbsFOp, math::CopySignOp>(op))
      return failure();
    Location loc = op->getLoc();
    Type type = op->getResult(0).getType();
    Type bits = bitsType(type);
    unsigned width = getElementTypeOrSelf(type).getIntOrFloatBitWidth();
    APInt signBit = APInt::getSignMask(width);
    Value magnitude = arith::AndIOp::create(
        rewriter, loc,
        arith::BitcastOp::create(rewriter, loc, bits, op->getOperand(0)),
        bitsConstant(rewriter, loc, bits, ~signBit));
    Value result = magnitude;
    if (isa<math::CopySignOp>(op)) {
      Value sign = arith::AndIOp::create(
          rewriter, loc,
          arith::BitcastOp::create(rewriter, loc, bits, op->getOperand(1)),
          bitsConstant(rewriter, loc, bits, signBit));
      result = arith::OrIOp::create(rewriter, loc, magnitude, sign);
    }
    rewriter.replaceOpWithNewOp<arith::BitcastOp>(op, type, result);
    return success();
  }
};

/// Classification and integer abs, which the NVVM lowering sends to
/// libdevice, in arith.
struct ArithLowering : RewritePattern {
  ArithLowering(MLIRContext *context)
      : RewritePattern(MatchAnyOpTypeTag(), /*benefit=*/2, context) {}
  LogicalResult matchAndRewrite(Operation *op,
                                PatternRewriter &rewriter) const override {
    Location loc = op->getLoc();
    if (isa<math::IsNaNOp, math::IsInfOp, math::IsFiniteOp>(op)) {
      Value x = op->getOperand(0);
      Type type = x.getType();
      auto inf = cast<FloatType>(getElementTypeOrSelf(type));
      Attribute infAttr =
          rewriter.getFloatAttr(inf, APFloat::getInf(inf.getFloatSemantics()));
      if (auto vector = dyn_cast<VectorType>(type))
        infAttr = DenseElementsAttr::get(vector, infAttr);
      Value infinity =
          arith::ConstantOp::create(rewriter, loc, cast<TypedAttr>(infAttr));
      Value magnitude = math::AbsFOp::create(rewriter, loc, x);
      Value result;
      if (isa<math::IsNaNOp>(op))
        result = arith::CmpFOp::create(rewriter, loc, arith::CmpFPredicate::UNO,
                                       x, x);
      else if (isa<math::IsInfOp>(op))
        result = arith::CmpFOp::create(rewriter, loc, arith::CmpFPredicate::OEQ,
                                       magnitude, infinity);
      else
        result = arith::CmpFOp::create(rewriter, loc, arith::CmpFPredicate::ONE,
                                       magnitude, infinity);
      rewriter.replaceOp(op, result);
      return success();
    }
    if (auto absi = dyn_cast<math::AbsIOp>(op)) {
      Value x = absi.getOperand();
      Value zero = arith::ConstantOp::create(
          rewriter, loc, cast<TypedAttr>(rewriter.getZeroAttr(x.getType())));
      Value negative = arith::CmpIOp::create(
          rewriter, loc, arith::CmpIPredicate::slt, x, zero);
      rewriter.replaceOpWithNewOp<arith::SelectOp>(
          op, negative, arith::SubIOp::create(rewriter, loc, zero, x), x);
      return success();
    }
    return failure();
  }
};

struct LowMemGPUMathPass
    : mlir::lowmem::impl::LowMemGPUMathBase<LowMemGPUMathPass> {
  void runOnOperation() override {
    MLIRContext *context = &getContext();
    RewritePatternSet patterns(context);
    patterns.add<ToIntrinsic<math::FmaOp, LLVM::FMAOp>, SignBitLowering,
                 ArithLowering, RsqrtToDivision>(context);
    patterns.add<ToNVVMIntrinsic<math::SqrtOp>>(context, "sqrt.rn");
    patterns.add<ToNVVMIntrinsic<math::FloorOp>>(context, "floor");
    patterns.add<ToNVVMIntrinsic<math::CeilOp>>(context, "ceil");
    patterns.add<ToNVVMIntrinsic<math::TruncOp>>(context, "trunc");
    // Every function MLIR approximates, but rsqrt (exact above, and
    // approximated only with x86 intrinsics).
    auto approximated = [](StringRef name) { return name != "math.rsqrt"; };
    // tan, sinh, powf, exp2, log10, ... in terms of the approximated ones.
    math::populateExpansionPatterns(patterns);
    populateMathF32ExpansionPatterns(patterns, approximated);
    populateMathPolynomialApproximationPatterns(patterns, approximated);
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      return signalPassFailure();
    // What is left would call libdevice, but the bit counts, which the NVVM
    // lowering turns into LLVM intrinsics; so would arith.remf (fmod).
    WalkResult leftover = getOperation().walk([](Operation *op) {
      bool libdevice = isa<arith::RemFOp>(op) ||
                       (isa<math::MathDialect>(op->getDialect()) &&
                        !isa<math::CountLeadingZerosOp,
                             math::CountTrailingZerosOp, math::CtPopOp>(op));
      if (libdevice) {
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
