//===- HostCode.cpp - keep device memory out of host code ----------------===//
//
// Part of the lowmem project.
//
//===----------------------------------------------------------------------===//
//
// On the GPU every buffer of a step lives in device memory, which the host
// cannot read. Two passes keep the host away from it:
//
// - lowmem-sink-scalar-reads (on tensors): a scalar read out of a tensor
//   for use inside generics or parallel loops is cloned into their bodies.
// - lowmem-host-loops-to-gpu (on loops): serial loops and scalar code that
//   read or write buffers are wrapped in a one-iteration scf.parallel, which
//   becomes a one-thread kernel; a read whose value host code itself needs
//   is an error.
//
//===----------------------------------------------------------------------===//

#include "lowmem/Conversion/Passes.h"

#include "mlir/IR/IRMapping.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "mlir/Transforms/RegionUtils.h"
#include "llvm/ADT/SetVector.h"

namespace mlir::lowmem {
#define GEN_PASS_DEF_LOWMEMSINKSCALARREADS
#define GEN_PASS_DEF_LOWMEMHOSTLOOPSTOGPU
#include "lowmem/Conversion/Passes.h.inc"
} // namespace mlir::lowmem

using namespace mlir;

namespace {

//===----------------------------------------------------------------------===//
// lowmem-sink-scalar-reads
//===----------------------------------------------------------------------===//

/// Ops a kernel body can recompute: a read of a tensor's element, and
/// scalar arithmetic without memory effects.
bool isSinkable(Operation *op) {
  if (isa<tensor::ExtractOp>(op))
    return true;
  return op->getNumRegions() == 0 && op->getNumResults() > 0 &&
         isMemoryEffectFree(op) &&
         llvm::all_of(op->getResultTypes(),
                      [](Type t) { return t.isIntOrIndexOrFloat(); });
}

/// Whether \p value is computed (by sinkable ops) from a tensor's element.
bool readsTensor(Value value, DenseMap<Value, bool> &memo) {
  auto it = memo.find(value);
  if (it != memo.end())
    return it->second;
  Operation *def = value.getDefiningOp();
  bool reads = false;
  if (def && isSinkable(def))
    reads = isa<tensor::ExtractOp>(def) ||
            llvm::any_of(def->getOperands(),
                         [&](Value v) { return readsTensor(v, memo); });
  return memo[value] = reads;
}

/// Appends the sinkable ops \p value depends on, then its own, in order.
void collectChain(Value value, llvm::SetVector<Operation *> &chain) {
  Operation *def = value.getDefiningOp();
  if (!def || !isSinkable(def) || chain.contains(def))
    return;
  for (Value operand : def->getOperands())
    collectChain(operand, chain);
  chain.insert(def);
}

struct SinkScalarReadsPass
    : public mlir::lowmem::impl::LowMemSinkScalarReadsBase<
          SinkScalarReadsPass> {
  void runOnOperation() override {
    DenseMap<Value, bool> memo;
    llvm::SetVector<Operation *> moved;
    getOperation().walk([&](Operation *holder) {
      if (!isa<linalg::GenericOp, scf::ParallelOp, gpu::LaunchOp>(holder))
        return;
      Region &body = holder->getRegion(0);
      llvm::SetVector<Value> above;
      getUsedValuesDefinedAbove(body, above);
      llvm::SetVector<Operation *> chain;
      for (Value value : above)
        if (readsTensor(value, memo))
          collectChain(value, chain);
      if (chain.empty())
        return;
      OpBuilder b = OpBuilder::atBlockBegin(&body.front());
      IRMapping map;
      for (Operation *op : chain)
        b.clone(*op, map);
      for (Value value : above)
        if (Value copy = map.lookupOrNull(value))
          value.replaceUsesWithIf(copy, [&](OpOperand &use) {
            return holder->isProperAncestor(use.getOwner());
          });
      moved.insert(chain.begin(), chain.end());
    });
    // The originals left without users, last first.
    SmallVector<Operation *> originals = moved.takeVector();
    for (Operation *op : llvm::reverse(originals))
      if (op->use_empty())
        op->erase();
  }
};

//===----------------------------------------------------------------------===//
// lowmem-host-loops-to-gpu
//===----------------------------------------------------------------------===//

bool isKernel(Operation *op) { return isa<scf::ParallelOp, gpu::LaunchOp>(op); }

bool containsKernel(Operation *op) {
  return op
      ->walk([](Operation *nested) {
        return isKernel(nested) ? WalkResult::interrupt()
                                : WalkResult::advance();
      })
      .wasInterrupted();
}

/// What an op of host code is to this pass.
enum class Kind {
  Barrier, // ends a run: kernels, allocation, calls, copies, terminators
  Pure,    // no memory effects
  Access,  // reads or writes buffers by loads and stores only
};

/// Whether \p memref lives on the host's stack (memref.alloca): host code
/// may touch it, and a kernel may not.
bool isHostLocal(Value memref) {
  return memref.getDefiningOp<memref::AllocaOp>() != nullptr;
}

Kind classify(Operation *op) {
  if (op->hasTrait<OpTrait::IsTerminator>() || isKernel(op) ||
      containsKernel(op))
    return Kind::Barrier;
  bool access = false, other = false;
  op->walk([&](Operation *nested) {
    if (auto load = dyn_cast<memref::LoadOp>(nested))
      (isHostLocal(load.getMemRef()) ? other : access) = true;
    else if (auto store = dyn_cast<memref::StoreOp>(nested))
      (isHostLocal(store.getMemRef()) ? other : access) = true;
    else if (!nested->hasTrait<OpTrait::HasRecursiveMemoryEffects>() &&
             !isMemoryEffectFree(nested))
      other = true;
  });
  if (other)
    return Kind::Barrier;
  return access ? Kind::Access : Kind::Pure;
}

/// Whether \p op (or an op nested in it) uses a result of an op of \p run.
bool usesAny(Operation *op, Block *block,
             const llvm::SetVector<Operation *> &run) {
  return op
      ->walk([&](Operation *nested) {
        for (Value operand : nested->getOperands()) {
          Operation *def = operand.getDefiningOp();
          if (def && def->getBlock() == block && run.contains(def))
            return WalkResult::interrupt();
        }
        return WalkResult::advance();
      })
      .wasInterrupted();
}

/// A one-iteration scf.parallel at \p b's insertion point: one thread, once
/// mapped.
scf::ParallelOp oneIteration(OpBuilder &b, Location loc) {
  Value zero = arith::ConstantIndexOp::create(b, loc, 0);
  Value one = arith::ConstantIndexOp::create(b, loc, 1);
  return scf::ParallelOp::create(b, loc, ValueRange{zero}, ValueRange{one},
                                 ValueRange{one});
}

/// A run of host code between barriers: each op with its kind.
using Run = SmallVector<std::pair<Operation *, Kind>>;

/// Moves the accesses of \p run, and the code that depends on them, into a
/// one-iteration scf.parallel placed after the last of them.
LogicalResult wrapRun(const Run &run) {
  if (run.empty())
    return success();
  Block *block = run.front().first->getBlock();
  llvm::SetVector<Operation *> moving;
  for (auto [op, kind] : run)
    if (kind == Kind::Access || usesAny(op, block, moving))
      moving.insert(op);
  if (moving.empty())
    return success();
  for (Operation *op : moving)
    for (OpOperand &use : op->getUses()) {
      Operation *user = block->findAncestorOpInBlock(*use.getOwner());
      if (user && moving.contains(user))
        continue;
      InFlightDiagnostic diag =
          op->emitError("host code needs this value, computed from device "
                        "memory; it cannot run in a kernel ('")
          << op->getName() << "')";
      diag.attachNote(use.getOwner()->getLoc())
          << "used here, by '" << use.getOwner()->getName() << "'";
      return failure();
    }
  Operation *last = moving.back();
  OpBuilder b(last->getContext());
  b.setInsertionPointAfter(last);
  scf::ParallelOp serial = oneIteration(b, moving.front()->getLoc());
  Operation *end = serial.getBody()->getTerminator();
  for (Operation *op : moving)
    op->moveBefore(end);
  return success();
}

/// Wraps the runs of host code between barriers in \p block, and those of
/// the blocks of barriers that hold kernels (a loop over chunks).
LogicalResult wrapBlock(Block &block) {
  Run run;
  for (Operation &op : llvm::make_early_inc_range(block)) {
    Kind kind = classify(&op);
    if (kind != Kind::Barrier) {
      run.emplace_back(&op, kind);
      continue;
    }
    if (failed(wrapRun(run)))
      return failure();
    run.clear();
    if (isKernel(&op))
      continue;
    for (Region &region : op.getRegions())
      for (Block &nested : region)
        if (failed(wrapBlock(nested)))
          return failure();
  }
  return wrapRun(run);
}

/// Rewrites a host memref.copy (which would become a host memcpy of device
/// memory) into a parallel loop of loads and stores: a kernel.
void copyByLoop(memref::CopyOp copy) {
  OpBuilder b(copy);
  Location loc = copy.getLoc();
  Value source = copy.getSource(), target = copy.getTarget();
  auto type = cast<MemRefType>(target.getType());
  if (type.getRank() == 0) {
    scf::ParallelOp serial = oneIteration(b, loc);
    b.setInsertionPoint(serial.getBody()->getTerminator());
    memref::StoreOp::create(b, loc, memref::LoadOp::create(b, loc, source),
                            target);
  } else {
    Value zero = arith::ConstantIndexOp::create(b, loc, 0);
    Value one = arith::ConstantIndexOp::create(b, loc, 1);
    SmallVector<Value> lower(type.getRank(), zero), steps(type.getRank(), one);
    SmallVector<Value> upper;
    for (int64_t d = 0; d < type.getRank(); ++d)
      upper.push_back(memref::DimOp::create(b, loc, target, d));
    auto loop = scf::ParallelOp::create(b, loc, lower, upper, steps);
    b.setInsertionPoint(loop.getBody()->getTerminator());
    SmallVector<Value> at(loop.getInductionVars());
    memref::StoreOp::create(b, loc, memref::LoadOp::create(b, loc, source, at),
                            target, at);
  }
  copy.erase();
}

/// The first buffer operand of \p op, an op of host code, that it reads or
/// writes (or may: an op that declares no effects, or an effect on no value
/// in particular) and that is not on the host's stack; null if none. Calls
/// pass buffers on: a callee of the module has its own host code checked,
/// and an external one is the runtime's, which takes device buffers.
Value deviceBufferTouched(Operation *op) {
  if (isa<CallOpInterface>(op) ||
      op->hasTrait<OpTrait::HasRecursiveMemoryEffects>())
    return Value();
  auto isDeviceBuffer = [](Value v) {
    return isa<MemRefType>(v.getType()) && !isHostLocal(v);
  };
  auto anyOperand = [&]() -> Value {
    for (Value operand : op->getOperands())
      if (isDeviceBuffer(operand))
        return operand;
    return Value();
  };
  auto effects = dyn_cast<MemoryEffectOpInterface>(op);
  if (!effects)
    return anyOperand();
  SmallVector<MemoryEffects::EffectInstance> instances;
  effects.getEffects(instances);
  for (const MemoryEffects::EffectInstance &effect : instances) {
    if (!isa<MemoryEffects::Read, MemoryEffects::Write>(effect.getEffect()))
      continue;
    Value value = effect.getValue() ? effect.getValue() : anyOperand();
    if (value && isDeviceBuffer(value))
      return value;
  }
  return Value();
}

struct HostLoopsToGPUPass
    : public mlir::lowmem::impl::LowMemHostLoopsToGPUBase<HostLoopsToGPUPass> {
  void runOnOperation() override {
    SmallVector<memref::CopyOp> copies;
    getOperation().walk([&](memref::CopyOp copy) {
      if (!copy->getParentOfType<scf::ParallelOp>() &&
          !copy->getParentOfType<gpu::LaunchOp>() &&
          !isHostLocal(copy.getSource()) && !isHostLocal(copy.getTarget()))
        copies.push_back(copy);
    });
    for (memref::CopyOp copy : copies)
      copyByLoop(copy);
    for (Block &block : getOperation().getBody())
      if (failed(wrapBlock(block)))
        return signalPassFailure();
    // What is left on the host must not touch device memory: an op this
    // pass cannot move into a kernel (an atomic, a vector transfer) is
    // reported, not compiled into a host access that faults.
    WalkResult left =
        getOperation().walk<WalkOrder::PreOrder>([&](Operation *op) {
          // Kernels, and the loops that become kernels, are not host code.
          if (isa<scf::ParallelOp, gpu::LaunchOp>(op))
            return WalkResult::skip();
          Value buffer = deviceBufferTouched(op);
          if (!buffer)
            return WalkResult::advance();
          op->emitError("this op reads or writes device memory on the host, "
                        "and cannot run in a kernel ('")
              << op->getName() << "')";
          return WalkResult::interrupt();
        });
    if (left.wasInterrupted())
      return signalPassFailure();
  }
};

} // namespace
