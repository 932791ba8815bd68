//===- DropInPlaceUpdates.cpp - results written into their arguments ------===//
//
// Part of the lowmem project.
//
//===----------------------------------------------------------------------===//

#include "lowmem/Dialect/LowMem/Transforms/Passes.h"

#include "llvm/ADT/BitVector.h"

namespace mlir::lowmem {
#define GEN_PASS_DEF_LOWMEMDROPINPLACEUPDATES
#include "lowmem/Dialect/LowMem/Transforms/Passes.h.inc"
} // namespace mlir::lowmem

using namespace mlir;
using namespace mlir::lowmem;

namespace {

/// The name a function argument carries as a parameter, optimizer state or
/// KV cache.
StringAttr argName(func::FuncOp func, unsigned index) {
  if (auto name = func.getArgAttrOfType<StringAttr>(
          index, LowMemDialect::kParamAttrName))
    return name;
  if (auto name = func.getArgAttrOfType<StringAttr>(
          index, LowMemDialect::kStateAttrName))
    return name;
  return func.getArgAttrOfType<StringAttr>(index,
                                           LowMemDialect::kCacheAttrName);
}

struct DropInPlaceUpdatesPass
    : public mlir::lowmem::impl::LowMemDropInPlaceUpdatesBase<
          DropInPlaceUpdatesPass> {
  void runOnOperation() override {
    func::FuncOp func = getOperation();
    if (func.isExternal())
      return;
    llvm::BitVector dropped(func.getNumResults());
    SmallVector<func::ReturnOp> returns;
    func.walk([&](func::ReturnOp ret) { returns.push_back(ret); });
    for (unsigned i = 0; i < func.getNumResults(); ++i) {
      auto name = func.getResultAttrOfType<StringAttr>(
          i, LowMemDialect::kUpdateAttrName);
      if (!name)
        continue;
      for (func::ReturnOp ret : returns) {
        auto arg = dyn_cast<BlockArgument>(ret.getOperand(i));
        if (!arg || arg.getOwner() != &func.getBody().front() ||
            argName(func, arg.getArgNumber()) != name) {
          ret.emitError("the update of '")
              << name.getValue()
              << "' is not written in place into its argument; the step "
                 "would hold a second copy of it";
          return signalPassFailure();
        }
      }
      dropped.set(i);
    }
    for (func::ReturnOp ret : returns)
      ret->eraseOperands(dropped);
    if (failed(func.eraseResults(dropped)))
      return signalPassFailure();
  }
};

} // namespace
