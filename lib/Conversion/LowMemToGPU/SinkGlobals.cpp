//===- SinkGlobals.cpp - constant globals read inside GPU kernels ---------===//
//
// Part of the lowmem project.
//
//===----------------------------------------------------------------------===//
//
// A kernel must not receive the host address of a constant global: the
// memref.get_global ops (and the constants) a launch body uses are cloned
// into it, so that outlining copies the global into the GPU module.
//
//===----------------------------------------------------------------------===//

#include "lowmem/Conversion/Passes.h"

#include "mlir/IR/SymbolTable.h"

namespace mlir::lowmem {
#define GEN_PASS_DEF_LOWMEMSINKGLOBALS
#include "lowmem/Conversion/Passes.h.inc"
} // namespace mlir::lowmem

using namespace mlir;

namespace {

/// Clones into \p launch's body the constants and constant-global reads it
/// uses from above, one clone each at the start of the body, walking the
/// body once (a sinking that replaced each value's uses in the region would
/// visit every use of a constant in the function for every kernel).
void sinkInto(gpu::LaunchOp launch, function_ref<bool(Operation *)> sinkable) {
  Region &body = launch.getBody();
  OpBuilder b = OpBuilder::atBlockBegin(&body.front());
  DenseMap<Value, Value> clones;
  body.walk([&](Operation *op) {
    for (OpOperand &operand : op->getOpOperands()) {
      Operation *def = operand.get().getDefiningOp();
      if (!def || body.isAncestor(def->getParentRegion()) || !sinkable(def))
        continue;
      Value &clone = clones[operand.get()];
      if (!clone)
        clone = b.clone(*def)->getResult(
            cast<OpResult>(operand.get()).getResultNumber());
      operand.set(clone);
    }
  });
}

struct SinkGlobalsPass
    : public mlir::lowmem::impl::LowMemSinkGlobalsBase<SinkGlobalsPass> {
  void runOnOperation() override {
    func::FuncOp func = getOperation();
    SymbolTableCollection symbols;
    auto sinkable = [&](Operation *op) {
      if (auto get = dyn_cast<memref::GetGlobalOp>(op)) {
        auto global = symbols.lookupNearestSymbolFrom<memref::GlobalOp>(
            get, get.getNameAttr());
        return global && global.getConstant();
      }
      return isa<arith::ConstantOp>(op);
    };
    func.walk([&](gpu::LaunchOp launch) { sinkInto(launch, sinkable); });
  }
};

} // namespace
