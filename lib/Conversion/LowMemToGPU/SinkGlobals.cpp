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

#include "mlir/Dialect/GPU/Utils/GPUUtils.h"
#include "mlir/IR/SymbolTable.h"

namespace mlir::lowmem {
#define GEN_PASS_DEF_LOWMEMSINKGLOBALS
#include "lowmem/Conversion/Passes.h.inc"
} // namespace mlir::lowmem

using namespace mlir;

namespace {

struct SinkGlobalsPass
    : public mlir::lowmem::impl::LowMemSinkGlobalsBase<SinkGlobalsPass> {
  void runOnOperation() override {
    func::FuncOp func = getOperation();
    auto isConstantGlobal = [&](memref::GetGlobalOp get) {
      auto global = SymbolTable::lookupNearestSymbolFrom<memref::GlobalOp>(
          get, get.getNameAttr());
      return global && global.getConstant();
    };
    auto sinkable = [&](Operation *op) {
      if (auto get = dyn_cast<memref::GetGlobalOp>(op))
        return isConstantGlobal(get);
      return isa<arith::ConstantOp>(op);
    };
    WalkResult result = func.walk([&](gpu::LaunchOp launch) {
      if (failed(sinkOperationsIntoLaunchOp(launch, sinkable))) {
        launch.emitError("cannot move the constant globals this kernel reads "
                         "into it");
        return WalkResult::interrupt();
      }
      return WalkResult::advance();
    });
    if (result.wasInterrupted())
      signalPassFailure();
  }
};

} // namespace
