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
  auto qlinear = QLinearOp::create(
      b, op.getLoc(), op.getType(), op.getInput(), weight, op.getBias(),
      op.getResidual(), op.getActivationAttr(), op.getTransposeWeightAttr());
  op.replaceAllUsesWith(qlinear.getResult());
  op.erase();
}

struct QuantizeWeightsPass
    : public mlir::lowmem::impl::LowMemQuantizeWeightsBase<
          QuantizeWeightsPass> {
  using Base::Base;

  /// A storage format with its block size and double quantization.
  struct Storage {
    QuantFormat format;
    int64_t block;
    bool doubleQuant;
  };

  /// The storage of `name` in `format` (`block` 0: the format's default;
  /// `dq` where the format has it), or an error on `module`.
  FailureOr<Storage> storageOf(ModuleOp module, StringRef format, int64_t block,
                               bool dq, bool dqIfAny) {
    std::optional<QuantFormat> fmt = symbolizeQuantFormat(format);
    if (!fmt) {
      module.emitError() << "unknown weight format '" << format
                         << "'; expected one of f32, f16, bf16, int4, nf4, "
                            "fp4, int8";
      return failure();
    }
    ::lowmem::quant::Format libFormat = toQuantLibFormat(*fmt);
    if (block == 0)
      block = ::lowmem::quant::defaultBlockSize(libFormat);
    if (dqIfAny)
      dq = ::lowmem::quant::checkOptions(libFormat, block, true).empty();
    std::string problem = ::lowmem::quant::checkOptions(libFormat, block, dq);
    if (!problem.empty()) {
      module.emitError() << problem;
      return failure();
    }
    return Storage{*fmt, block, dq};
  }

  void runOnOperation() override {
    ModuleOp module = getOperation();
    // format=f32: only the overrides quantize.
    std::optional<Storage> global;
    if (format != "f32") {
      FailureOr<Storage> storage =
          storageOf(module, format, blockSize, doubleQuant, /*dqIfAny=*/false);
      if (failed(storage))
        return signalPassFailure();
      global = *storage;
    }
    // NAME=FORMAT entries, in order.
    SmallVector<std::pair<std::string, std::optional<Storage>>> perName;
    for (const std::string &entry : overrides) {
      auto [name, fmt] = StringRef(entry).split('=');
      if (name.empty() || fmt.empty()) {
        module.emitError() << "override '" << entry << "' is not NAME=FORMAT";
        return signalPassFailure();
      }
      if (fmt == "f32") {
        perName.push_back({name.str(), std::nullopt});
        continue;
      }
      FailureOr<Storage> storage =
          storageOf(module, fmt, 0, false, /*dqIfAny=*/doubleQuant);
      if (failed(storage))
        return signalPassFailure();
      perName.push_back({name.str(), *storage});
    }

    auto makeType = [&](RankedTensorType type, const Storage &storage) {
      return QTensorType::get(type.getShape(), type.getElementType(),
                              storage.format, storage.block,
                              storage.doubleQuant);
    };

    for (auto func : module.getOps<func::FuncOp>()) {
      if (func.isExternal())
        continue;
      for (BlockArgument arg : func.getArguments()) {
        unsigned idx = arg.getArgNumber();
        auto name = func.getArgAttrOfType<StringAttr>(
            idx, LowMemDialect::kParamAttrName);
        if (!name || func.getArgAttr(idx, LowMemDialect::kTrainableAttrName))
          continue;
        // A float weight, or one a half-precision checkpoint stores (the
        // importer's f16/bf16 qtensors): both are re-stored as asked.
        // Weights the checkpoint stores quantized keep their format.
        RankedTensorType type;
        if (auto stored = dyn_cast<QTensorType>(arg.getType())) {
          if (stored.getFormat() == QuantFormat::f16 ||
              stored.getFormat() == QuantFormat::bf16)
            type = logicalTensorType(stored);
        } else {
          type = dyn_cast<RankedTensorType>(arg.getType());
        }
        if (!type || !type.hasStaticShape() || type.getRank() != 2 ||
            arg.use_empty())
          continue;
        const auto *named = llvm::find_if(perName, [&](const auto &entry) {
          return matchesNameList(name.getValue(), {entry.first});
        });
        bool overridden = named != perName.end();
        std::optional<Storage> storage = global;
        if (overridden)
          storage = named->second;
        else if (matchesNameList(name.getValue(), skip))
          storage = std::nullopt;
        if (!storage)
          continue;
        // Only weights read where the kernels decode them: linear layers,
        // the fused head, and (when overridden) embedding tables.
        bool decodable = llvm::all_of(arg.getUses(), [&](OpOperand &use) {
          Operation *owner = use.getOwner();
          unsigned n = use.getOperandNumber();
          if (auto linear = dyn_cast<LinearOp>(owner))
            return n == linear.getWeightMutable().getOperandNumber();
          if (auto qlinear = dyn_cast<QLinearOp>(owner))
            return n == qlinear.getWeightMutable().getOperandNumber();
          if (auto head = dyn_cast<LinearCrossEntropyOp>(owner))
            return n == head.getWeightMutable().getOperandNumber();
          if (auto head = dyn_cast<LinearCrossEntropyGradOp>(owner))
            return n == head.getWeightMutable().getOperandNumber();
          if (auto embedding = dyn_cast<EmbeddingOp>(owner))
            return overridden &&
                   n == embedding.getTableMutable().getOperandNumber();
          return false;
        });
        if (!decodable)
          continue;
        arg.setType(makeType(type, *storage));
        for (Operation *user : llvm::make_early_inc_range(arg.getUsers()))
          if (auto linear = dyn_cast<LinearOp>(user))
            replaceWithQLinear(linear, arg);
      }
      func.setType(FunctionType::get(&getContext(),
                                     func.getBody().getArgumentTypes(),
                                     func.getResultTypes()));

      // Constant weights are quantized in the IR; materialize-storage folds
      // the quantize at compile time.
      func.walk([&](LinearOp op) {
        auto weight = op.getWeight();
        if (!global)
          return;
        if (!weight.getDefiningOp<arith::ConstantOp>())
          return;
        auto type = cast<RankedTensorType>(weight.getType());
        OpBuilder b(op);
        Value q =
            QuantizeOp::create(b, op.getLoc(), makeType(type, *global), weight);
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
