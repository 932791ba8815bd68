//===- Differentiate.cpp - reverse mode over lowmem graphs ----------------===//
//
// Part of the lowmem project.
//
//===----------------------------------------------------------------------===//
//
// Builds a training step from a model function: forward, loss, a reverse
// sweep over the lowmem ops restricted to the values that depend on a
// trainable parameter, and the optimizer update of every trainable
// parameter.
//
//===----------------------------------------------------------------------===//

#include "lowmem/Dialect/LowMem/Transforms/Passes.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "llvm/ADT/SetVector.h"

namespace mlir::lowmem {
#define GEN_PASS_DEF_LOWMEMDIFFERENTIATE
#include "lowmem/Dialect/LowMem/Transforms/Passes.h.inc"
} // namespace mlir::lowmem

using namespace mlir;
using namespace mlir::lowmem;

namespace {

/// The reverse sweep: adjoints of the active values of one block, built at
/// the builder's insertion point.
class ReverseSweep {
public:
  ReverseSweep(OpBuilder &b, const DenseSet<Value> &active)
      : b(b), active(active) {}

  /// Adds `grad` to the adjoint of `value` if `value` is active.
  void accumulate(Value value, Value grad) {
    if (!active.contains(value))
      return;
    Value &slot = adjoints[value];
    slot =
        slot ? AddOp::create(b, grad.getLoc(), slot, grad).getResult() : grad;
  }

  Value adjoint(Value value) const { return adjoints.lookup(value); }

  /// Propagates the adjoint of `op`'s results to its active operands.
  LogicalResult visit(Operation *op) {
    if (llvm::none_of(op->getOperands(),
                      [&](Value v) { return active.contains(v); }))
      return success();
    if (auto linear = dyn_cast<LinearOp>(op))
      return visitLinear(linear);
    if (auto qlinear = dyn_cast<QLinearOp>(op))
      return visitLinear(qlinear);
    Value dy = op->getNumResults() == 1 ? adjoint(op->getResult(0)) : Value();
    if (op->getNumResults() == 1 && !dy)
      return success(); // The result does not reach the loss.
    Location loc = op->getLoc();
    if (auto relu = dyn_cast<ReluOp>(op)) {
      accumulate(relu.getInput(),
                 ReluGradOp::create(b, loc, dy, relu.getResult()));
      return success();
    }
    if (auto add = dyn_cast<AddOp>(op)) {
      accumulate(add.getLhs(), dy);
      accumulate(add.getRhs(), dy);
      return success();
    }
    if (auto dropout = dyn_cast<DropoutOp>(op)) {
      // Linear: the same mask on the output gradient.
      accumulate(dropout.getInput(),
                 DropoutOp::create(b, loc, dy, dropout.getHyper(),
                                   dropout.getProbabilityAttr(),
                                   dropout.getStreamAttr()));
      return success();
    }
    if (auto scale = dyn_cast<ScaleOp>(op)) {
      accumulate(scale.getInput(),
                 ScaleOp::create(b, loc, dy, scale.getFactorAttr()));
      return success();
    }
    if (auto norm = dyn_cast<GroupNormOp>(op)) {
      auto grads = GroupNormGradOp::create(
          b, loc, norm.getInput().getType(), norm.getGamma().getType(),
          norm.getBeta().getType(), dy, norm.getInput(), norm.getGamma(),
          norm.getNumGroupsAttr(), norm.getEpsilonAttr());
      accumulate(norm.getInput(), grads.getGradInput());
      accumulate(norm.getGamma(), grads.getGradGamma());
      accumulate(norm.getBeta(), grads.getGradBeta());
      return success();
    }
    if (auto lora = dyn_cast<LoraOp>(op))
      return visitLora(lora, dy);
    if (auto norm = dyn_cast<RmsNormOp>(op)) {
      if (active.contains(norm.getWeight()))
        return op->emitOpError("has a trainable weight; only its input "
                               "gradient is implemented");
      accumulate(norm.getInput(),
                 RmsNormGradOp::create(b, loc, norm.getInput().getType(), dy,
                                       norm.getInput(), norm.getWeight(),
                                       norm.getEpsilonAttr()));
      return success();
    }
    if (auto rope = dyn_cast<RopeOp>(op)) {
      // A rotation: its gradient is the inverse rotation.
      accumulate(
          rope.getInput(),
          RopeOp::create(b, loc, rope.getType(), dy, rope.getInvFreq(),
                         rope.getOffset(), rope.getRowStarts(),
                         rope.getHeadDimAttr(), rope.getPositionOffsetAttr(),
                         rope.getInverse() ? UnitAttr() : b.getUnitAttr()));
      return success();
    }
    if (auto swiglu = dyn_cast<SwiGluOp>(op)) {
      auto grads =
          SwiGluGradOp::create(b, loc, dy, swiglu.getGate(), swiglu.getUp());
      accumulate(swiglu.getGate(), grads.getGradGate());
      accumulate(swiglu.getUp(), grads.getGradUp());
      return success();
    }
    if (auto attention = dyn_cast<AttentionOp>(op)) {
      auto grads = AttentionGradOp::create(
          b, loc, attention.getQuery().getType(), attention.getKey().getType(),
          attention.getValue().getType(), dy, attention.getQuery(),
          attention.getKey(), attention.getValue(), attention.getResult(),
          attention.getNumHeadsAttr(), attention.getNumKvHeadsAttr(),
          attention.getScaleAttr(), attention.getCausalAttr());
      accumulate(attention.getQuery(), grads.getGradQuery());
      accumulate(attention.getKey(), grads.getGradKey());
      accumulate(attention.getValue(), grads.getGradValue());
      return success();
    }
    if (isa<EmbeddingOp>(op))
      return op->emitOpError("has a trainable table; train adapters on the "
                             "linear layers instead");
    return op->emitOpError("cannot be differentiated: no gradient rule for "
                           "it yet (it depends on a trainable parameter)");
  }

private:
  /// y = act(x · Wᵀ + b) + residual: with dz = act'(dy), dx = dz · W (the
  /// same weight, transposed product), dW = dzᵀ · x, db = Σ dz,
  /// dresidual = dy.
  template <typename OpTy> LogicalResult visitLinear(OpTy op) {
    Value dy = adjoint(op.getResult());
    if (!dy)
      return success();
    if (op.getTransposeWeight())
      return op.emitOpError("cannot be differentiated when transposed");
    Location loc = op.getLoc();
    Value dz = dy;
    switch (op.getActivation()) {
    case Activation::none:
      break;
    case Activation::relu:
      dz = ReluGradOp::create(b, loc, dy, op.getResult());
      break;
    }
    if (Value residual = op.getResidual())
      accumulate(residual, dy);
    Value x = op.getInput();
    if (active.contains(x))
      accumulate(x, OpTy::create(b, loc, x.getType(), dz, op.getWeight(),
                                 /*bias=*/Value(), /*residual=*/Value(),
                                 Activation::none, /*transpose_weight=*/true));
    if (active.contains(op.getWeight())) {
      if constexpr (std::is_same_v<OpTy, QLinearOp>)
        return op.emitOpError("has a trainable quantized weight; train "
                              "full-precision weights or adapters");
      else
        accumulate(op.getWeight(),
                   WeightGradOp::create(b, loc, op.getWeight().getType(), dz, x,
                                        b.getF64FloatAttr(1.0)));
    }
    if (Value bias = op.getBias(); bias && active.contains(bias))
      accumulate(bias, BiasGradOp::create(b, loc, bias.getType(), dz));
    return success();
  }

  /// y = s · (x · Aᵀ) · Bᵀ: with u = x · Aᵀ (recomputed, [.., r]) and
  /// t = dy · B ([.., r]): dB = s · dyᵀ · u, dA = s · tᵀ · x and
  /// dx = s · t · A.
  LogicalResult visitLora(LoraOp op, Value dy) {
    Location loc = op.getLoc();
    Value x = op.getInput(), a = op.getLoraA(), bw = op.getLoraB();
    auto xType = cast<RankedTensorType>(x.getType());
    SmallVector<int64_t> midShape(xType.getShape().drop_back());
    midShape.push_back(op.getRank());
    auto midType = RankedTensorType::get(midShape, xType.getElementType());
    FloatAttr scale = b.getF64FloatAttr(op.getScale());
    auto product = [&](Value lhs, Value weight, Type type, bool transposed) {
      return LinearOp::create(b, loc, type, lhs, weight, Value(), Value(),
                              Activation::none, transposed)
          .getResult();
    };
    if (active.contains(bw)) {
      Value u = product(x, a, midType, false);
      accumulate(bw, WeightGradOp::create(b, loc, bw.getType(), dy, u, scale));
    }
    if (!active.contains(a) && !active.contains(x))
      return success();
    Value t = product(dy, bw, midType, true);
    if (active.contains(a))
      accumulate(a, WeightGradOp::create(b, loc, a.getType(), t, x, scale));
    if (active.contains(x))
      accumulate(
          x, ScaleOp::create(b, loc, product(t, a, x.getType(), true), scale));
    return success();
  }

  OpBuilder &b;
  const DenseSet<Value> &active;
  DenseMap<Value, Value> adjoints;
};

/// The language-model head whose logits only the cross-entropy reads: a
/// plain linear layer (frozen weight, no bias, residual or activation)
/// whose result is only returned. Null otherwise.
template <typename HeadOp>
HeadOp fusableHeadOf(Value prediction, const DenseSet<Value> &active) {
  auto head = prediction.getDefiningOp<HeadOp>();
  if (!head || head.getBias() || head.getResidual() ||
      head.getActivation() != Activation::none || head.getTransposeWeight() ||
      active.contains(head.getWeight()) || !prediction.hasOneUse() ||
      !isa<func::ReturnOp>(*prediction.getUsers().begin()))
    return nullptr;
  auto type = cast<RankedTensorType>(prediction.getType());
  if (type.getRank() < 2 ||
      !logicalTensorType(head.getWeight().getType()).hasStaticShape())
    return nullptr;
  return head;
}

/// The head `prediction` comes from when the loss can take it in (see
/// fusableHeadOf): a linear, or a qlinear (a checkpoint's f16/bf16 or
/// quantized weights, as imported).
Operation *fusableHead(Value prediction, const DenseSet<Value> &active) {
  if (auto head = fusableHeadOf<LinearOp>(prediction, active))
    return head;
  return fusableHeadOf<QLinearOp>(prediction, active);
}

struct DifferentiatePass
    : public mlir::lowmem::impl::LowMemDifferentiateBase<DifferentiatePass> {
  using Base::Base;

  LogicalResult checkOptions(func::FuncOp func) {
    if (loss != "mse" && loss != "cross_entropy")
      return func.emitError("unsupported loss '")
             << loss << "'; expected mse or cross_entropy";
    if (optimizer != "none" && optimizer != "sgd" && optimizer != "adamw")
      return func.emitError("unknown optimizer '")
             << optimizer << "'; expected none, sgd or adamw";
    if (!(momentum >= 0.0 && momentum < 1.0))
      return func.emitError("momentum must be in [0, 1), got ")
             << static_cast<double>(momentum);
    if (!(weightDecay >= 0.0))
      return func.emitError("weight-decay must be non-negative, got ")
             << static_cast<double>(weightDecay);
    if (!(beta1 >= 0.0 && beta1 < 1.0) || !(beta2 >= 0.0 && beta2 < 1.0))
      return func.emitError("beta1 and beta2 must be in [0, 1), got ")
             << static_cast<double>(beta1) << " and "
             << static_cast<double>(beta2);
    if (!(epsilon > 0.0))
      return func.emitError("epsilon must be positive, got ")
             << static_cast<double>(epsilon);
    return success();
  }

  void runOnOperation() override {
    ModuleOp module = getOperation();
    auto func = module.lookupSymbol<func::FuncOp>(entry);
    if (!func) {
      module.emitError("no function '") << entry << "' to differentiate";
      return signalPassFailure();
    }
    if (failed(checkOptions(func)))
      return signalPassFailure();
    if (stepName != entry && module.lookupSymbol(stepName)) {
      func.emitError("a symbol named '") << stepName << "' already exists";
      return signalPassFailure();
    }
    if (func.isExternal() || !func.getBody().hasOneBlock() ||
        func.getNumResults() != 1) {
      func.emitError("can only differentiate a function with one block and "
                     "one result (the prediction)");
      return signalPassFailure();
    }
    auto predictionType = dyn_cast<RankedTensorType>(func.getResultTypes()[0]);
    if (!predictionType || !predictionType.getElementType().isF32()) {
      func.emitError("the prediction must be an f32 tensor to compute the "
                     "loss, got ")
          << func.getResultTypes()[0];
      return signalPassFailure();
    }
    if (loss == "cross_entropy" && predictionType.getRank() < 2) {
      func.emitError("cross_entropy needs a prediction of logits [..., "
                     "classes], got ")
          << predictionType;
      return signalPassFailure();
    }
    // The target: the prediction's shape for mse; for cross-entropy one
    // i64 class label a row.
    RankedTensorType targetType =
        loss == "mse"
            ? predictionType
            : RankedTensorType::get(predictionType.getShape().drop_back(),
                                    IntegerType::get(&getContext(), 64));

    MLIRContext *ctx = &getContext();
    Block &body = func.getBody().front();
    SmallVector<BlockArgument> trainable;
    for (BlockArgument arg : body.getArguments())
      if (func.getArgAttr(arg.getArgNumber(),
                          LowMemDialect::kTrainableAttrName))
        trainable.push_back(arg);
    if (trainable.empty()) {
      func.emitError("no trainable parameters: attach adapters "
                     "(lowmem-attach-lora, lowmem-compile --lora-rank) or "
                     "mark parameters lowmem.trainable");
      return signalPassFailure();
    }
    for (BlockArgument arg : trainable) {
      if (isa<QTensorType>(arg.getType())) {
        func.emitError("trainable argument #")
            << arg.getArgNumber() << " is quantized (" << arg.getType()
            << "); train full-precision weights or adapters";
        return signalPassFailure();
      }
      auto type = dyn_cast<RankedTensorType>(arg.getType());
      if (!type || !type.getElementType().isF32() || !type.hasStaticShape() ||
          !func.getArgAttrOfType<StringAttr>(arg.getArgNumber(),
                                             LowMemDialect::kParamAttrName)) {
        func.emitError("trainable argument #")
            << arg.getArgNumber()
            << " must be a static f32 tensor named by lowmem.param, got "
            << arg.getType();
        return signalPassFailure();
      }
    }

    // New arguments: the target, then the optimizer's state and the
    // hyperparameters.
    Location loc = func.getLoc();
    auto named = [&](StringRef key, Attribute value) {
      return DictionaryAttr::get(ctx, {NamedAttribute(key, value)});
    };
    unsigned next = func.getNumArguments();
    if (failed(func.insertArgument(next, targetType,
                                   named(LowMemDialect::kInputAttrName,
                                         StringAttr::get(ctx, "target")),
                                   loc)))
      return signalPassFailure();
    Value target = func.getArgument(next++);
    SmallVector<StringRef> stateNames;
    if (optimizer == "sgd" && momentum != 0.0)
      stateNames = {"momentum_buffer"};
    else if (optimizer == "adamw")
      stateNames = {"exp_avg", "exp_avg_sq"};
    // Each parameter's name, then its state arguments and their names.
    SmallVector<StringAttr> names;
    SmallVector<SmallVector<std::pair<Value, StringAttr>>> states(
        trainable.size());
    for (auto [i, param] : llvm::enumerate(trainable)) {
      names.push_back(func.getArgAttrOfType<StringAttr>(
          param.getArgNumber(), LowMemDialect::kParamAttrName));
      for (StringRef state : stateNames) {
        auto stateName =
            StringAttr::get(ctx, names[i].getValue() + "." + state);
        if (failed(func.insertArgument(
                next, param.getType(),
                named(LowMemDialect::kStateAttrName, stateName), loc)))
          return signalPassFailure();
        states[i].push_back({func.getArgument(next++), stateName});
      }
    }
    // LoRA dropout: a lowmem.dropout on each branch's input, its mask drawn
    // from the step number; the branch itself then has none.
    SmallVector<LoraOp> dropped;
    for (Operation &op : body)
      if (auto lora = dyn_cast<LoraOp>(op))
        if (lora.getDropout().convertToDouble() != 0.0)
          dropped.push_back(lora);
    Value hyper;
    if (optimizer != "none" || !dropped.empty()) {
      if (failed(func.insertArgument(
              next, RankedTensorType::get({4}, Float32Type::get(ctx)),
              named(LowMemDialect::kHyperAttrName, UnitAttr::get(ctx)), loc)))
        return signalPassFailure();
      hyper = func.getArgument(next++);
    }
    for (auto [stream, lora] : llvm::enumerate(dropped)) {
      OpBuilder db(lora);
      Value masked = DropoutOp::create(
          db, lora.getLoc(), lora.getInput(), hyper, lora.getDropoutAttr(),
          db.getI64IntegerAttr(static_cast<int64_t>(stream)));
      lora.getInputMutable().assign(masked);
      lora.setDropoutAttr(db.getF64FloatAttr(0.0));
    }

    // Activity: the values that depend on a trainable parameter.
    DenseSet<Value> active(trainable.begin(), trainable.end());
    SmallVector<Operation *> forward;
    for (Operation &op : body.without_terminator()) {
      forward.push_back(&op);
      if (llvm::any_of(op.getOperands(),
                       [&](Value v) { return active.contains(v); }))
        active.insert(op.getResults().begin(), op.getResults().end());
    }

    // Loss and reverse sweep.
    auto ret = cast<func::ReturnOp>(body.getTerminator());
    Value prediction = ret.getOperand(0);
    OpBuilder b(ret);
    auto scalarType = RankedTensorType::get({}, Float32Type::get(ctx));
    Value lossValue, seed, seedValue = prediction;
    if (loss == "mse") {
      lossValue = MseLossOp::create(b, loc, scalarType, prediction, target);
      seed = MseLossGradOp::create(b, loc, prediction, target);
    } else if (Operation *head = fusableHead(prediction, active)) {
      // The head and the loss in one op that never stores the logits; the
      // sweep starts from the head's input.
      auto labelsType = cast<RankedTensorType>(target.getType());
      auto lseType =
          RankedTensorType::get(labelsType.getShape(), Float32Type::get(ctx));
      // Both kinds of head read (input, weight, ...).
      Value input = head->getOperand(0), weight = head->getOperand(1);
      auto fused = LinearCrossEntropyOp::create(b, loc, scalarType, lseType,
                                                input, weight, target,
                                                b.getI64IntegerAttr(-100));
      lossValue = fused.getLoss();
      seedValue = input;
      seed = LinearCrossEntropyGradOp::create(b, loc, input.getType(), input,
                                              weight, target, fused.getLse(),
                                              b.getI64IntegerAttr(-100));
      forward.erase(llvm::find(forward, head));
    } else {
      lossValue =
          CrossEntropyLossOp::create(b, loc, scalarType, prediction, target);
      seed = CrossEntropyLossGradOp::create(b, loc, predictionType, prediction,
                                            target);
    }
    ReverseSweep sweep(b, active);
    sweep.accumulate(seedValue, seed);
    for (Operation *op : llvm::reverse(forward))
      if (failed(sweep.visit(op)))
        return signalPassFailure();

    // Results: the loss, then gradients or updates.
    SmallVector<Value> results{lossValue};
    SmallVector<DictionaryAttr> resultAttrs{
        named(LowMemDialect::kLossAttrName, UnitAttr::get(ctx))};
    SmallVector<std::pair<Value, StringAttr>> updates;
    for (auto [i, param] : llvm::enumerate(trainable)) {
      StringAttr name = names[i];
      Value grad = sweep.adjoint(param);
      if (!grad) // The parameter does not reach the loss.
        grad = arith::ConstantOp::create(
            b, loc,
            DenseElementsAttr::get(cast<RankedTensorType>(param.getType()),
                                   0.0f));
      if (optimizer == "none") {
        results.push_back(grad);
        resultAttrs.push_back(named(LowMemDialect::kGradAttrName, name));
        continue;
      }
      // The new parameter, then the new state in the state arguments' order.
      Operation *update;
      if (optimizer == "sgd") {
        Value buf = states[i].empty() ? Value() : states[i][0].first;
        update = SgdOp::create(b, loc, param.getType(),
                               buf ? buf.getType() : Type(), param, grad, hyper,
                               lossValue, buf, b.getF64FloatAttr(momentum),
                               b.getF64FloatAttr(weightDecay));
      } else {
        update = AdamWOp::create(
            b, loc, param, grad, states[i][0].first, states[i][1].first, hyper,
            lossValue, b.getF64FloatAttr(beta1), b.getF64FloatAttr(beta2),
            b.getF64FloatAttr(epsilon), b.getF64FloatAttr(weightDecay));
      }
      updates.push_back({update->getResult(0), name});
      for (auto [state, result] :
           llvm::zip_equal(states[i], update->getResults().drop_front()))
        updates.push_back({result, state.second});
    }
    for (auto [value, name] : updates) {
      results.push_back(value);
      resultAttrs.push_back(named(LowMemDialect::kUpdateAttrName, name));
    }
    func::ReturnOp::create(b, ret.getLoc(), results);
    ret.erase();
    SmallVector<Type> resultTypes;
    for (Value v : results)
      resultTypes.push_back(v.getType());
    func.setFunctionType(
        FunctionType::get(ctx, body.getArgumentTypes(), resultTypes));
    func.setAllResultAttrs(resultAttrs);
    func.setName(stepName);
    placeUpdatesEarly(body);
  }
};

} // namespace
