//===- BuildUtils.cpp - small IR builders shared by the lowerings ---------===//
//
// Part of the lowmem project.
//
//===----------------------------------------------------------------------===//

#include "lowmem/Conversion/BuildUtils.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/TypeUtilities.h"

using namespace mlir;

Value mlir::lowmem::f32Const(OpBuilder &b, Location loc, float v) {
  return arith::ConstantOp::create(b, loc, b.getF32FloatAttr(v));
}

scf::ParallelOp mlir::lowmem::threadedParallel(
    OpBuilder &b, Location loc, ValueRange lbs, ValueRange ubs,
    ValueRange steps,
    function_ref<void(OpBuilder &, Location, ValueRange)> body) {
  auto loop = scf::ParallelOp::create(b, loc, lbs, ubs, steps, body);
  loop->setAttr(kCPUThreadsAttr, b.getUnitAttr());
  return loop;
}

Value mlir::lowmem::indexConst(OpBuilder &b, Location loc, int64_t v) {
  return arith::ConstantIndexOp::create(b, loc, v);
}

Value mlir::lowmem::emptyLike(OpBuilder &b, Location loc, RankedTensorType type,
                              Value like) {
  SmallVector<Value> sizes;
  for (int64_t i = 0; i < type.getRank(); ++i)
    if (type.isDynamicDim(i))
      sizes.push_back(tensor::DimOp::create(b, loc, like, i));
  return tensor::EmptyOp::create(b, loc, type.getShape(), type.getElementType(),
                                 sizes);
}

LogicalResult mlir::lowmem::checkF32(PatternRewriter &rewriter, Operation *op,
                                     Type type) {
  if (getElementTypeOrSelf(type).isF32())
    return success();
  return rewriter.notifyMatchFailure(op, "only f32 compute is supported");
}

Value mlir::lowmem::readBuffer(OpBuilder &b, Location loc, Value tensor) {
  auto type = cast<RankedTensorType>(tensor.getType());
  auto memrefType = MemRefType::get(type.getShape(), type.getElementType());
  return bufferization::ToBufferOp::create(b, loc, memrefType, tensor,
                                           /*read_only=*/true);
}

Value mlir::lowmem::readInPlace(OpBuilder &b, Location loc, Value tensor) {
  // Canonicalization may have made some sizes static behind a cast.
  while (auto cast = tensor.getDefiningOp<tensor::CastOp>())
    tensor = cast.getSource();
  if (!tensor.getDefiningOp<tensor::ExtractSliceOp>())
    return readBuffer(b, loc, tensor);
  auto type = cast<RankedTensorType>(tensor.getType());
  SmallVector<int64_t> strides(type.getRank(), ShapedType::kDynamic);
  strides.back() = 1;
  auto layout =
      StridedLayoutAttr::get(b.getContext(), ShapedType::kDynamic, strides);
  return bufferization::ToBufferOp::create(
      b, loc, MemRefType::get(type.getShape(), type.getElementType(), layout),
      tensor, /*read_only=*/true);
}

Value mlir::lowmem::widenToF32(OpBuilder &b, Location loc, Value value) {
  if (value.getType().isF32())
    return value;
  if (value.getType().isInteger(8))
    return arith::SIToFPOp::create(b, loc, b.getF32Type(), value);
  return arith::ExtFOp::create(b, loc, b.getF32Type(), value);
}

// The keys query `s` sees under the causal mask, [0, end):
// clamp(s + shift + 1, 0, keys), in signed arithmetic, since the shift
// T - S is negative when there are more queries than keys.
Value mlir::lowmem::causalEnd(OpBuilder &b, Location l, Value keys, Value s,
                              Value shift) {
  Value end = arith::AddIOp::create(b, l, arith::AddIOp::create(b, l, s, shift),
                                    indexConst(b, l, 1));
  end = arith::MaxSIOp::create(b, l, end, indexConst(b, l, 0));
  return arith::MinSIOp::create(b, l, keys, end);
}

mlir::lowmem::OnlineSoftmaxStep
mlir::lowmem::onlineSoftmaxStep(OpBuilder &b, Location loc, Value dot,
                                float scale, Value m, Value keyScale,
                                Value valueScale) {
  Value x = arith::MulFOp::create(b, loc, dot, f32Const(b, loc, scale));
  if (keyScale)
    x = arith::MulFOp::create(b, loc, x, keyScale);
  OnlineSoftmaxStep step;
  step.maximum = arith::MaximumFOp::create(b, loc, m, x);
  step.rescale = math::ExpOp::create(
      b, loc, arith::SubFOp::create(b, loc, m, step.maximum));
  step.weight = math::ExpOp::create(
      b, loc, arith::SubFOp::create(b, loc, x, step.maximum));
  step.valueWeight =
      valueScale
          ? arith::MulFOp::create(b, loc, step.weight, valueScale).getResult()
          : step.weight;
  return step;
}

std::pair<Value, Value> mlir::lowmem::betterOf(OpBuilder &b, Location loc,
                                               Value av, Value ai, Value bv,
                                               Value bi) {
  Value aNaN = arith::CmpFOp::create(b, loc, arith::CmpFPredicate::UNO, av, av);
  Value bNaN = arith::CmpFOp::create(b, loc, arith::CmpFPredicate::UNO, bv, bv);
  Value lower =
      arith::CmpIOp::create(b, loc, arith::CmpIPredicate::slt, ai, bi);
  Value greater =
      arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OGT, av, bv);
  Value equal =
      arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OEQ, av, bv);
  // Both numbers: a if greater, or equal with a lower index.
  Value numbers = arith::OrIOp::create(
      b, loc, greater, arith::AndIOp::create(b, loc, equal, lower));
  // A NaN on either side: a if a is NaN and b not, or both with a lower
  // index.
  Value bothNaN = arith::AndIOp::create(b, loc, aNaN, bNaN);
  Value anyNaN = arith::OrIOp::create(b, loc, aNaN, bNaN);
  Value nans = arith::SelectOp::create(b, loc, bothNaN, lower, aNaN);
  Value takeA = arith::SelectOp::create(b, loc, anyNaN, nans, numbers);
  return {arith::SelectOp::create(b, loc, takeA, av, bv),
          arith::SelectOp::create(b, loc, takeA, ai, bi)};
}

Value mlir::lowmem::sumAll(
    OpBuilder &b, Location loc, ValueRange inputs,
    function_ref<Value(OpBuilder &, Location, ValueRange)> f) {
  MLIRContext *ctx = b.getContext();
  auto type = cast<RankedTensorType>(inputs.front().getType());
  unsigned rank = type.getRank();
  auto scalar = RankedTensorType::get({}, b.getF32Type());
  Value init =
      linalg::FillOp::create(
          b, loc, f32Const(b, loc, 0.0f),
          tensor::EmptyOp::create(b, loc, ArrayRef<int64_t>{}, b.getF32Type())
              .getResult())
          .getResult(0);
  SmallVector<AffineMap> maps(inputs.size(),
                              AffineMap::getMultiDimIdentityMap(rank, ctx));
  maps.push_back(AffineMap::get(rank, 0, ctx));
  return linalg::GenericOp::create(
             b, loc, TypeRange{scalar}, inputs, ValueRange{init}, maps,
             SmallVector<utils::IteratorType>(rank,
                                              utils::IteratorType::reduction),
             [&](OpBuilder &nb, Location l, ValueRange args) {
               Value v = f(nb, l, args.drop_back());
               linalg::YieldOp::create(
                   nb, l,
                   ValueRange{arith::AddFOp::create(nb, l, args.back(), v)});
             })
      .getResult(0);
}

Value mlir::lowmem::countLabels(OpBuilder &b, Location loc, Value labels,
                                int64_t ignore) {
  return sumAll(
      b, loc, ValueRange{labels},
      [&](OpBuilder &nb, Location l, ValueRange args) {
        Value skip = arith::CmpIOp::create(
            nb, l, arith::CmpIPredicate::eq, args[0],
            arith::ConstantOp::create(nb, l, nb.getI64IntegerAttr(ignore)));
        return arith::SelectOp::create(nb, l, skip, f32Const(nb, l, 0.0f),
                                       f32Const(nb, l, 1.0f))
            .getResult();
      });
}

Value mlir::lowmem::meanRowLoss(OpBuilder &b, Location loc, Value rowLoss,
                                Value labels, int64_t ignore) {
  Value total =
      sumAll(b, loc, ValueRange{rowLoss},
             [](OpBuilder &, Location, ValueRange args) { return args[0]; });
  Value count = countLabels(b, loc, labels, ignore);
  MLIRContext *ctx = b.getContext();
  auto scalar = RankedTensorType::get({}, b.getF32Type());
  return linalg::GenericOp::create(
             b, loc, TypeRange{scalar}, ValueRange{total, count},
             ValueRange{tensor::EmptyOp::create(b, loc, ArrayRef<int64_t>{},
                                                b.getF32Type())
                            .getResult()},
             SmallVector<AffineMap>(3, AffineMap::get(0, 0, ctx)),
             SmallVector<utils::IteratorType>{},
             [](OpBuilder &nb, Location l, ValueRange args) {
               linalg::YieldOp::create(
                   nb, l,
                   ValueRange{arith::DivFOp::create(nb, l, args[0], args[1])});
             })
      .getResult(0);
}

Value mlir::lowmem::crossEntropyLogitGrad(OpBuilder &b, Location loc, Value z,
                                          Value lse, Value v, Value label,
                                          Value invCount) {
  Value p = math::ExpOp::create(b, loc, arith::SubFOp::create(b, loc, z, lse));
  Value isLabel =
      arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, v, label);
  Value target = arith::SelectOp::create(
      b, loc, isLabel, f32Const(b, loc, 1.0f), f32Const(b, loc, 0.0f));
  return arith::MulFOp::create(b, loc, arith::SubFOp::create(b, loc, p, target),
                               invCount);
}

Value mlir::lowmem::OnlineSoftmaxStep::nextSum(OpBuilder &b, Location loc,
                                               Value sum) const {
  return arith::AddFOp::create(
      b, loc, arith::MulFOp::create(b, loc, sum, rescale), weight);
}

Value mlir::lowmem::logSumExp(OpBuilder &b, Location loc, Value maximum,
                              Value sum) {
  return arith::AddFOp::create(b, loc, maximum,
                               math::LogOp::create(b, loc, sum));
}
