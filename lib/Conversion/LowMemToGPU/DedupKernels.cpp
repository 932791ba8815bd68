//===- DedupKernels.cpp - one GPU module per set of identical kernels -----===//
//
// Part of the lowmem project.
//
//===----------------------------------------------------------------------===//
//
// Outlining gives every gpu.launch its own gpu.module; the layers of a model
// launch identical kernels. Each module is printed with its own name and its
// kernels' names replaced by fixed ones; modules that print the same are one
// kernel, and the launches of the later ones are pointed at the first.
//
//===----------------------------------------------------------------------===//

#include "lowmem/Conversion/Passes.h"

#include "mlir/IR/SymbolTable.h"
#include "llvm/ADT/DenseSet.h"
#include "llvm/ADT/StringMap.h"

namespace mlir::lowmem {
#define GEN_PASS_DEF_LOWMEMDEDUPKERNELS
#include "lowmem/Conversion/Passes.h.inc"
} // namespace mlir::lowmem

using namespace mlir;

namespace {

/// The kernels of `module`, in order.
SmallVector<gpu::GPUFuncOp> kernelsOf(gpu::GPUModuleOp module) {
  SmallVector<gpu::GPUFuncOp> kernels;
  for (auto func : module.getOps<gpu::GPUFuncOp>())
    if (func.isKernel())
      kernels.push_back(func);
  return kernels;
}

/// `module` as it prints with its name and its kernels' names made fixed.
std::string fingerprint(gpu::GPUModuleOp module) {
  auto copy = cast<gpu::GPUModuleOp>(module->clone());
  SymbolTable::setSymbolName(copy, "kernels");
  for (auto [i, func] : llvm::enumerate(kernelsOf(copy)))
    SymbolTable::setSymbolName(func, "kernel" + std::to_string(i));
  std::string text;
  llvm::raw_string_ostream os(text);
  copy->print(os, OpPrintingFlags().printGenericOpForm().assumeVerified());
  copy->erase();
  return text;
}

struct DedupKernelsPass
    : public mlir::lowmem::impl::LowMemDedupKernelsBase<DedupKernelsPass> {
  void runOnOperation() override {
    ModuleOp top = getOperation();
    llvm::StringMap<gpu::GPUModuleOp> firstOf;
    // A duplicate's kernel, @module::@kernel, to the first's.
    DenseMap<Attribute, SymbolRefAttr> replacement;
    SmallVector<gpu::GPUModuleOp> duplicates;
    for (auto module : top.getOps<gpu::GPUModuleOp>()) {
      auto [it, inserted] = firstOf.try_emplace(fingerprint(module), module);
      if (inserted)
        continue;
      gpu::GPUModuleOp first = it->second;
      for (auto [mine, theirs] :
           llvm::zip_equal(kernelsOf(module), kernelsOf(first))) {
        auto symbol = [&](gpu::GPUModuleOp m, gpu::GPUFuncOp f) {
          return SymbolRefAttr::get(m.getNameAttr(),
                                    {FlatSymbolRefAttr::get(f.getNameAttr())});
        };
        replacement[symbol(module, mine)] = symbol(first, theirs);
      }
      duplicates.push_back(module);
    }
    if (duplicates.empty())
      return;
    top.walk([&](gpu::LaunchFuncOp launch) {
      if (SymbolRefAttr to = replacement.lookup(launch.getKernel()))
        launch.setKernelAttr(to);
    });
    // A duplicate still referenced (by anything but a launch) stays. One
    // walk collects what is referenced: a query per module would walk the
    // whole host code once for each.
    llvm::DenseSet<StringAttr> referenced;
    if (std::optional<SymbolTable::UseRange> uses =
            SymbolTable::getSymbolUses(&top.getBodyRegion()))
      for (const SymbolTable::SymbolUse &use : *uses)
        referenced.insert(use.getSymbolRef().getRootReference());
    for (gpu::GPUModuleOp module : duplicates)
      if (!referenced.contains(module.getNameAttr()))
        module.erase();
  }
};

} // namespace
