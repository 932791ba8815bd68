//===- EmulateLaunches.cpp - run kernel launches as host loops -----------===//
//
// Part of the lowmem project.
//
//===----------------------------------------------------------------------===//
//
// Rewrites each gpu.launch into a nest of scf.for over its blocks and
// threads, so that the CUDA pipeline's loop mapping can run, and be checked
// against the CPU backend, on a machine without a GPU. The threads run one
// after another, last first, so that a kernel whose threads depend on one
// another's writes (a race on a GPU) gives a different answer here than the
// CPU backend's loops, which run first to last.
//
//===----------------------------------------------------------------------===//

#include "lowmem/Conversion/Passes.h"

#include "mlir/IR/IRMapping.h"

namespace mlir::lowmem {
#define GEN_PASS_DEF_LOWMEMEMULATELAUNCHES
#include "lowmem/Conversion/Passes.h.inc"
} // namespace mlir::lowmem

using namespace mlir;

namespace {

/// The launch's value of \p dim in \p dims.
Value pick(const gpu::KernelDim3 &dims, gpu::Dimension dim) {
  switch (dim) {
  case gpu::Dimension::x:
    return dims.x;
  case gpu::Dimension::y:
    return dims.y;
  case gpu::Dimension::z:
    return dims.z;
  }
  llvm_unreachable("a dimension is x, y or z");
}

/// Why \p launch cannot run as host loops, or an empty string.
std::string unsupported(gpu::LaunchOp launch) {
  if (launch.getAsyncToken() || !launch.getAsyncDependencies().empty())
    return "it is asynchronous";
  if (launch.hasClusterSize())
    return "it has thread-block clusters";
  if (launch.getDynamicSharedMemorySize() ||
      !launch.getWorkgroupAttributions().empty() ||
      !launch.getPrivateAttributions().empty())
    return "it has shared or private memory attributions";
  if (!launch.getBody().hasOneBlock())
    return "its body has more than one block";
  std::string why;
  launch.getBody().walk([&](Operation *op) {
    if (isa<gpu::TerminatorOp, gpu::ThreadIdOp, gpu::BlockIdOp, gpu::BlockDimOp,
            gpu::GridDimOp>(op) ||
        op->getDialect() != launch->getDialect())
      return WalkResult::advance();
    why = "it uses '" + op->getName().getStringRef().str() +
          "', which needs its threads running together on a GPU";
    return WalkResult::interrupt();
  });
  return why;
}

/// Rewrites \p launch into loops over its blocks and threads, each
/// dimension counted down.
void emulate(gpu::LaunchOp launch) {
  Location loc = launch.getLoc();
  gpu::KernelDim3 blockIds = launch.getBlockIds();
  gpu::KernelDim3 threadIds = launch.getThreadIds();
  gpu::KernelDim3 gridArgs = launch.getGridSize();
  gpu::KernelDim3 blockArgs = launch.getBlockSize();
  // The id and dimension ops in the body read the launch's arguments.
  launch.getBody().walk([&](Operation *op) {
    Value arg;
    if (auto id = dyn_cast<gpu::ThreadIdOp>(op))
      arg = pick(threadIds, id.getDimension());
    else if (auto id = dyn_cast<gpu::BlockIdOp>(op))
      arg = pick(blockIds, id.getDimension());
    else if (auto dim = dyn_cast<gpu::BlockDimOp>(op))
      arg = pick(blockArgs, dim.getDimension());
    else if (auto dim = dyn_cast<gpu::GridDimOp>(op))
      arg = pick(gridArgs, dim.getDimension());
    if (!arg)
      return;
    op->getResult(0).replaceAllUsesWith(arg);
    op->erase();
  });
  OpBuilder b(launch);
  gpu::KernelDim3 gridSize = launch.getGridSizeOperandValues();
  gpu::KernelDim3 blockSize = launch.getBlockSizeOperandValues();
  Value zero = arith::ConstantIndexOp::create(b, loc, 0);
  Value one = arith::ConstantIndexOp::create(b, loc, 1);
  IRMapping map;
  auto loop = [&](Value extent, Value arg) {
    auto serial = scf::ForOp::create(b, loc, zero, extent, one);
    b.setInsertionPoint(serial.getBody()->getTerminator());
    Value last = arith::SubIOp::create(b, loc, extent, one);
    map.map(arg, arith::SubIOp::create(b, loc, last, serial.getInductionVar())
                     .getResult());
  };
  loop(gridSize.z, blockIds.z);
  loop(gridSize.y, blockIds.y);
  loop(gridSize.x, blockIds.x);
  loop(blockSize.z, threadIds.z);
  loop(blockSize.y, threadIds.y);
  loop(blockSize.x, threadIds.x);
  for (auto [arg, value] :
       llvm::zip_equal(ArrayRef<Value>{gridArgs.x, gridArgs.y, gridArgs.z,
                                       blockArgs.x, blockArgs.y, blockArgs.z},
                       ArrayRef<Value>{gridSize.x, gridSize.y, gridSize.z,
                                       blockSize.x, blockSize.y, blockSize.z}))
    map.map(arg, value);

  // A thread's stack allocations are released at its end (a kernel's
  // private memory): memref.alloca_scope would hold the loops inside, which
  // become blocks, so the stack pointer is saved and restored directly.
  Value stack;
  bool allocates =
      launch.getBody()
          .walk([](memref::AllocaOp) { return WalkResult::interrupt(); })
          .wasInterrupted();
  if (allocates)
    stack = LLVM::StackSaveOp::create(
        b, loc, LLVM::LLVMPointerType::get(b.getContext()));
  for (Operation &op : launch.getBody().front().without_terminator())
    b.clone(op, map);
  if (stack)
    LLVM::StackRestoreOp::create(b, loc, stack);
  launch.erase();
}

struct EmulateLaunchesPass
    : public mlir::lowmem::impl::LowMemEmulateLaunchesBase<
          EmulateLaunchesPass> {
  void runOnOperation() override {
    SmallVector<gpu::LaunchOp> launches;
    bool failed = false;
    getOperation().walk([&](gpu::LaunchOp launch) {
      std::string why = unsupported(launch);
      if (!why.empty()) {
        launch.emitError("cannot run this kernel as loops on the host: ")
            << why;
        failed = true;
      }
      launches.push_back(launch);
    });
    if (failed)
      return signalPassFailure();
    for (gpu::LaunchOp launch : launches)
      emulate(launch);
  }
};

} // namespace
