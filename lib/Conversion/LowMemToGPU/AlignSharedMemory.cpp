//===- AlignSharedMemory.cpp - align kernels' shared memory --------------===//
//
// Part of the lowmem project.
//
//===----------------------------------------------------------------------===//
//
// Gives each workgroup (shared memory) buffer of a kernel an alignment, so
// that the kernels' vector loads from it (16 bytes) are aligned: the NVVM
// lowering declares a buffer without one `.align 4`.
//
//===----------------------------------------------------------------------===//

#include "lowmem/Conversion/Passes.h"

namespace mlir::lowmem {
#define GEN_PASS_DEF_LOWMEMALIGNSHAREDMEMORY
#include "lowmem/Conversion/Passes.h.inc"
} // namespace mlir::lowmem

using namespace mlir;

namespace {

struct AlignSharedMemoryPass
    : mlir::lowmem::impl::LowMemAlignSharedMemoryBase<AlignSharedMemoryPass> {
  using Base::Base;

  void runOnOperation() override {
    if (alignment < 1 || !llvm::isPowerOf2_64(alignment)) {
      getOperation().emitError()
          << "lowmem-align-shared-memory: alignment must be a power of 2, got "
          << static_cast<int64_t>(alignment);
      return signalPassFailure();
    }
    StringRef name = LLVM::LLVMDialect::getAlignAttrName();
    Builder b(&getContext());
    getOperation().walk([&](gpu::GPUFuncOp func) {
      for (unsigned i = 0, e = func.getNumWorkgroupAttributions(); i < e; ++i) {
        auto old = dyn_cast_or_null<IntegerAttr>(
            func.getWorkgroupAttributionAttr(i, name));
        if (old && old.getInt() >= alignment)
          continue;
        func.setWorkgroupAttributionAttr(i, name,
                                         b.getI64IntegerAttr(alignment));
      }
    });
  }
};

} // namespace
