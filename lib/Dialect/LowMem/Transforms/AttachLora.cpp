//===- AttachLora.cpp - add low-rank adapters to linear layers ------------===//
//
// Part of the lowmem project.
//
//===----------------------------------------------------------------------===//

#include "lowmem/Dialect/LowMem/Transforms/Passes.h"

#include "mlir/IR/Builders.h"
#include "llvm/ADT/StringSet.h"

namespace mlir::lowmem {
#define GEN_PASS_DEF_LOWMEMATTACHLORA
#include "lowmem/Dialect/LowMem/Transforms/Passes.h.inc"
} // namespace mlir::lowmem

using namespace mlir;
using namespace mlir::lowmem;

namespace {

/// One layer to adapt: the op and the PEFT module path of its weight.
struct Target {
  Operation *op;
  std::string layer;
};

/// The layer path of a weight parameter name (`P.weight` -> `P`).
std::string layerOf(StringRef paramName) {
  StringRef layer = paramName;
  layer.consume_back(".weight");
  return layer.str();
}

/// Replaces the linear-like `op` by the same layer without its epilogue's
/// activation and residual, adds `branch`, then applies the activation and
/// the residual again: `act(x·Wᵀ + b + branch) + residual`.
template <typename OpTy> void addBranch(OpTy op, Value branch) {
  OpBuilder b(op);
  Location loc = op.getLoc();
  auto base =
      OpTy::create(b, loc, op.getType(), op.getInput(), op.getWeight(),
                   op.getBias(), /*residual=*/Value(),
                   ActivationAttr::get(b.getContext(), Activation::none));
  Value value = AddOp::create(b, loc, base.getResult(), branch);
  switch (op.getActivation()) {
  case Activation::none:
    break;
  case Activation::relu:
    value = ReluOp::create(b, loc, value);
    break;
  }
  if (Value residual = op.getResidual())
    value = AddOp::create(b, loc, value, residual);
  op.replaceAllUsesWith(value);
  op.erase();
}

struct AttachLoraPass
    : public mlir::lowmem::impl::LowMemAttachLoraBase<AttachLoraPass> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    if (rank < 1) {
      module.emitError() << "attach-lora: rank must be positive, got "
                         << static_cast<int64_t>(rank);
      return signalPassFailure();
    }
    if (!(alpha > 0.0)) {
      module.emitError() << "attach-lora: alpha must be positive, got "
                         << static_cast<double>(alpha);
      return signalPassFailure();
    }
    if (!(dropout >= 0.0 && dropout < 1.0)) {
      module.emitError() << "attach-lora: dropout must be in [0, 1), got "
                         << static_cast<double>(dropout);
      return signalPassFailure();
    }
    llvm::StringSet<> matchedTargets;
    for (auto func : module.getOps<func::FuncOp>())
      if (!func.isExternal() && failed(runOnFunction(func, matchedTargets)))
        return signalPassFailure();
    for (const std::string &target : targets)
      if (!matchedTargets.contains(target)) {
        module.emitError() << "attach-lora: target '" << target
                           << "' names no linear layer with a parameter "
                              "weight";
        return signalPassFailure();
      }
  }

  LogicalResult runOnFunction(func::FuncOp func,
                              llvm::StringSet<> &matchedTargets) {
    MLIRContext *ctx = &getContext();
    SmallVector<Target> found;
    llvm::StringSet<> existing;
    for (unsigned i = 0; i < func.getNumArguments(); ++i)
      if (auto name = func.getArgAttrOfType<StringAttr>(
              i, LowMemDialect::kParamAttrName))
        existing.insert(name.getValue());

    auto consider = [&](Operation *op, Value weight) {
      auto arg = dyn_cast<BlockArgument>(weight);
      if (!arg || arg.getOwner()->getParentOp() != func)
        return;
      auto name = func.getArgAttrOfType<StringAttr>(
          arg.getArgNumber(), LowMemDialect::kParamAttrName);
      if (!name)
        return;
      std::string layer = layerOf(name.getValue());
      if (!targets.empty()) {
        bool listed = false;
        for (const std::string &target : targets)
          if (matchesNameList(layer, {target})) {
            matchedTargets.insert(target);
            listed = true;
          }
        if (!listed)
          return;
      }
      found.push_back({op, layer});
    };
    // Transposed products (gradients) are not layers.
    func.walk([&](Operation *op) {
      if (auto linear = dyn_cast<LinearOp>(op)) {
        if (!linear.getTransposeWeight())
          consider(op, linear.getWeight());
      } else if (auto qlinear = dyn_cast<QLinearOp>(op)) {
        if (!qlinear.getTransposeWeight())
          consider(op, qlinear.getWeight());
      }
    });

    Type f64 = Float64Type::get(ctx);
    for (const Target &target : found) {
      Location loc = target.op->getLoc();
      auto input = cast<RankedTensorType>(target.op->getOperand(0).getType());
      auto result = cast<RankedTensorType>(target.op->getResult(0).getType());
      // The linear ops' verifiers guarantee static feature sizes.
      int64_t in = input.getShape().back(), out = result.getShape().back();
      Type element = input.getElementType();
      auto aType = RankedTensorType::get({rank, in}, element);
      auto bType = RankedTensorType::get({out, rank}, element);
      std::string aName = target.layer + ".lora_A.weight";
      std::string bName = target.layer + ".lora_B.weight";
      if (existing.contains(aName) || existing.contains(bName))
        return target.op->emitOpError("layer '")
               << target.layer << "' already has a LoRA adapter";
      existing.insert(aName);
      existing.insert(bName);

      auto attrs = [&](StringRef name) {
        NamedAttrList list;
        list.set(LowMemDialect::kParamAttrName, StringAttr::get(ctx, name));
        list.set(LowMemDialect::kTrainableAttrName, UnitAttr::get(ctx));
        return list.getDictionary(ctx);
      };
      unsigned index = func.getNumArguments();
      if (failed(func.insertArgument(index, aType, attrs(aName), loc)) ||
          failed(func.insertArgument(index + 1, bType, attrs(bName), loc)))
        return func.emitOpError("cannot add the adapter arguments");
      Value a = func.getArgument(index), b = func.getArgument(index + 1);

      OpBuilder builder(target.op);
      auto lora = LoraOp::create(
          builder, loc, result, target.op->getOperand(0), a, b,
          FloatAttr::get(f64, alpha), FloatAttr::get(f64, dropout),
          LoraScalingAttr::get(ctx, rslora ? LoraScaling::rslora
                                           : LoraScaling::standard));
      if (auto linear = dyn_cast<LinearOp>(target.op))
        addBranch(linear, lora.getResult());
      else
        addBranch(cast<QLinearOp>(target.op), lora.getResult());
    }
    return success();
  }
};

} // namespace
