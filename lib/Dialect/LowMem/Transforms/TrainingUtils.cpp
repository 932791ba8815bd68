//===- TrainingUtils.cpp - shared helpers of the training passes ----------===//
//
// Part of the lowmem project.
//
//===----------------------------------------------------------------------===//

#include "lowmem/Dialect/LowMem/Transforms/Passes.h"

using namespace mlir;
using namespace mlir::lowmem;

namespace {

/// The operands an optimizer step overwrites: the parameter and its state.
SmallVector<Value> overwrittenOperands(Operation *op) {
  if (auto sgd = dyn_cast<SgdOp>(op)) {
    SmallVector<Value> values{sgd.getParam()};
    if (Value buf = sgd.getMomentumBuffer())
      values.push_back(buf);
    return values;
  }
  auto adamw = cast<AdamWOp>(op);
  return {adamw.getParam(), adamw.getExpAvg(), adamw.getExpAvgSq()};
}

} // namespace

void mlir::lowmem::placeUpdatesEarly(Block &block) {
  SmallVector<Operation *> updates;
  for (Operation &op : block)
    if (isa<SgdOp, AdamWOp>(op))
      updates.push_back(&op);
  for (Operation *update : updates) {
    Operation *latest = nullptr;
    auto consider = [&](Operation *op) {
      op = op ? block.findAncestorOpInBlock(*op) : nullptr;
      if (op && op != update && (!latest || latest->isBeforeInBlock(op)))
        latest = op;
    };
    for (Value operand : update->getOperands())
      consider(operand.getDefiningOp());
    for (Value overwritten : overwrittenOperands(update))
      for (Operation *user : overwritten.getUsers())
        consider(user);
    if (latest)
      update->moveAfter(latest);
    else
      update->moveBefore(&block.front());
  }
}
