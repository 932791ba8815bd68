//===- QuantizeWeights.cpp - store linear weights quantized ---------------===//
//
// Part of the lowmem project.
//
//===----------------------------------------------------------------------===//

#include "lowmem/Dialect/LowMem/Transforms/Passes.h"
#include "lowmem/Quant/Quant.h"

#include "mlir/IR/Builders.h"

namespace mlir::lowmem {
#define GEN_PASS_DEF_LOWMEMQUANTIZEWEIGHTS
#include "lowmem/Dialect/LowMem/Transforms/Passes.h.inc"
} // namespace mlir::lowmem

using namespace mlir;
using namespace mlir::lowmem;

namespace {

/// Rewrites `op` into a `qlinear` whose weight is `weight`.
void replaceWithQLinear(LinearOp op, Value weight) {
  OpBuilder b(op);
  auto qlinear =
      QLinearOp::create(b, op.getLoc(), op.getType(), op.getInput(), weight,
                        op.getBias(), op.getResidual(), op.getActivationAttr(),
                        op.getTransposeWeightAttr());
  op.replaceAllUsesWith(qlinear.getResult());
  op.erase();
}

struct QuantizeWeightsPass
    : public mlir::lowmem::impl::LowMemQuantizeWeightsBase<
          QuantizeWeightsPass> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    std::optional<QuantFormat> fmt = symbolizeQuantFormat(format);
    if (!fmt) {
      module.emitError() << "unknown weight format '" << format
                         << "'; expected one of f16, bf16, int4, nf4, fp4, "
                            "int8";
      return signalPassFailure();
    }
    ::lowmem::quant::Format libFormat = toQuantLibFormat(*fmt);
    int64_t block = blockSize != 0
                        ? blockSize
                        : ::lowmem::quant::defaultBlockSize(libFormat);
    std::string problem =
        ::lowmem::quant::checkOptions(libFormat, block, doubleQuant);
    if (!problem.empty()) {
      module.emitError() << problem;
      return signalPassFailure();
    }

    auto makeType = [&](RankedTensorType type) {
      return QTensorType::get(type.getShape(), type.getElementType(), *fmt,
                              block, doubleQuant);
    };

    for (auto func : module.getOps<func::FuncOp>()) {
      if (func.isExternal())
        continue;
      for (BlockArgument arg : func.getArguments()) {
        unsigned idx = arg.getArgNumber();
        auto name = func.getArgAttrOfType<StringAttr>(
            idx, LowMemDialect::kParamAttrName);
        if (!name || func.getArgAttr(idx, LowMemDialect::kTrainableAttrName) ||
            matchesNameList(name.getValue(), skip))
          continue;
        auto type = dyn_cast<RankedTensorType>(arg.getType());
        if (!type || !type.hasStaticShape() || type.getRank() != 2 ||
            arg.use_empty())
          continue;
        // Only weights consumed exclusively as the weight of linear layers.
        bool onlyLinearWeights =
            llvm::all_of(arg.getUses(), [](OpOperand &use) {
              auto linear = dyn_cast<LinearOp>(use.getOwner());
              return linear && use.getOperandNumber() ==
                                   linear.getWeightMutable().getOperandNumber();
            });
        if (!onlyLinearWeights)
          continue;
        arg.setType(makeType(type));
        for (Operation *user : llvm::make_early_inc_range(arg.getUsers()))
          replaceWithQLinear(cast<LinearOp>(user), arg);
      }
      func.setType(FunctionType::get(&getContext(),
                                     func.getBody().getArgumentTypes(),
                                     func.getResultTypes()));

      // Constant weights are quantized in the IR; materialize-storage folds
      // the quantize at compile time.
      func.walk([&](LinearOp op) {
        auto weight = op.getWeight();
        if (!weight.getDefiningOp<arith::ConstantOp>())
          return;
        auto type = cast<RankedTensorType>(weight.getType());
        OpBuilder b(op);
        Value q = QuantizeOp::create(b, op.getLoc(), makeType(type), weight);
        replaceWithQLinear(op, q);
      });
    }
  }
};

} // namespace

bool mlir::lowmem::matchesNameList(StringRef name,
                                   ArrayRef<std::string> patterns) {
  return llvm::any_of(patterns, [&](const std::string &entry) {
    StringRef pattern(entry);
    return name == pattern ||
           (pattern.ends_with(".") && name.starts_with(pattern));
  });
}
