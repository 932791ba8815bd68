//===- EmulateLaunches.cpp - run kernel launches as host loops -----------===//
//
// Part of the lowmem project.
//
//===----------------------------------------------------------------------===//
//
// Rewrites each gpu.launch into host loops, so that the CUDA pipeline's
// kernels and loop mapping can run, and be checked against the CPU backend,
// on a machine without a GPU.
//
// A launch whose threads share nothing becomes a nest of scf.for over its
// blocks and threads. The threads run one after another, last first, so
// that a kernel whose threads depend on one another's writes (a race on a
// GPU) gives a different answer here than the CPU backend's loops, which
// run first to last.
//
// A launch whose threads run together (barriers, warp shuffles, shared
// memory) is cut at its barriers and shuffles (see TogetherEmulation).
//
//===----------------------------------------------------------------------===//

#include "lowmem/Conversion/Passes.h"

#include "mlir/Dialect/ControlFlow/IR/ControlFlowOps.h"
#include "mlir/Dialect/LLVMIR/FunctionCallUtils.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/Transforms/RegionUtils.h"

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

constexpr int64_t kWarpSize = 32;
/// Bytes a slot and a shared buffer are aligned to: a kernel's widest
/// vector load from shared memory (lowmem-align-shared-memory's default).
constexpr int64_t kSlotAlignment = 16;

/// Whether the threads of \p launch run together: it has shared memory, a
/// barrier or a shuffle.
bool runsTogether(gpu::LaunchOp launch) {
  return !launch.getWorkgroupAttributions().empty() ||
         launch.getBody()
             .walk([](Operation *op) {
               return isa<gpu::BarrierOp, gpu::ShuffleOp>(op)
                          ? WalkResult::interrupt()
                          : WalkResult::advance();
             })
             .wasInterrupted();
}

/// Why a launch whose threads run together (\p launch holds a barrier, a
/// shuffle or shared memory) cannot be emulated, or an empty string.
std::string unsupportedTogether(gpu::LaunchOp launch) {
  gpu::KernelDim3 block = launch.getBlockSizeOperandValues();
  std::optional<int64_t> x = getConstantIntValue(block.x);
  if (!x || *x <= 0 || *x % kWarpSize != 0 || !isConstantIntValue(block.y, 1) ||
      !isConstantIntValue(block.z, 1))
    return "its threads run together, which is emulated only for a 1-D "
           "block of whole warps of constant size";
  for (BlockArgument buffer : launch.getWorkgroupAttributions())
    if (!cast<MemRefType>(buffer.getType()).hasStaticShape())
      return "a shared-memory buffer has a dynamic shape";
  std::string why;
  launch.getBody().walk([&](Operation *op) {
    if (isa<memref::AllocaOp>(op))
      why = "it allocates private memory next to a barrier, a shuffle or "
            "shared memory";
    else if (auto shuffle = dyn_cast<gpu::ShuffleOp>(op);
             shuffle && !isConstantIntValue(shuffle.getWidth(), kWarpSize))
      why = "a shuffle's width is not the constant 32, the only one emulated";
    return why.empty() ? WalkResult::advance() : WalkResult::interrupt();
  });
  return why;
}

/// Why \p launch cannot run as host loops, or an empty string.
std::string unsupported(gpu::LaunchOp launch) {
  if (launch.getAsyncToken() || !launch.getAsyncDependencies().empty())
    return "it is asynchronous";
  if (launch.hasClusterSize())
    return "it has thread-block clusters";
  if (launch.getDynamicSharedMemorySize())
    return "it has dynamic shared memory";
  if (!launch.getPrivateAttributions().empty())
    return "it has private memory attributions";
  if (!launch.getBody().hasOneBlock())
    return "its body has more than one block";
  std::string why;
  launch.getBody().walk([&](Operation *op) {
    if (isa<gpu::TerminatorOp, gpu::ThreadIdOp, gpu::BlockIdOp, gpu::BlockDimOp,
            gpu::GridDimOp, gpu::BarrierOp, gpu::ShuffleOp>(op) ||
        op->getDialect() != launch->getDialect())
      return WalkResult::advance();
    why = "it uses '" + op->getName().getStringRef().str() +
          "', which the emulation does not run";
    return WalkResult::interrupt();
  });
  if (why.empty() && runsTogether(launch))
    why = unsupportedTogether(launch);
  return why;
}

/// Maps the launch's grid and block size arguments to its operands.
void mapLaunchSizes(gpu::LaunchOp launch, IRMapping &map) {
  gpu::KernelDim3 gridArgs = launch.getGridSize();
  gpu::KernelDim3 blockArgs = launch.getBlockSize();
  gpu::KernelDim3 gridSize = launch.getGridSizeOperandValues();
  gpu::KernelDim3 blockSize = launch.getBlockSizeOperandValues();
  for (auto [arg, value] :
       llvm::zip_equal(ArrayRef<Value>{gridArgs.x, gridArgs.y, gridArgs.z,
                                       blockArgs.x, blockArgs.y, blockArgs.z},
                       ArrayRef<Value>{gridSize.x, gridSize.y, gridSize.z,
                                       blockSize.x, blockSize.y, blockSize.z}))
    map.map(arg, value);
}

/// Emits `for i in [0, extent)` at \p b, leaves \p b in its body and
/// returns `extent - 1 - i`: the loop counts down.
Value countedDown(OpBuilder &b, Location loc, Value extent) {
  Value one = arith::ConstantIndexOp::create(b, loc, 1);
  auto loop = scf::ForOp::create(
      b, loc, arith::ConstantIndexOp::create(b, loc, 0), extent, one);
  b.setInsertionPoint(loop.getBody()->getTerminator());
  Value last = arith::SubIOp::create(b, loc, extent, one);
  return arith::SubIOp::create(b, loc, last, loop.getInductionVar());
}

/// The ops of \p block but its terminator.
SmallVector<Operation *> opsOf(Block &block) {
  return llvm::to_vector(llvm::make_pointer_range(block.without_terminator()));
}

/// Drops the shared memory space from the buffer types in \p op: on the
/// host, shared memory is a plain stack buffer.
void stripSharedMemorySpace(Operation *op) {
  auto strip = [](Value value) {
    auto type = dyn_cast<MemRefType>(value.getType());
    if (type && isa_and_nonnull<gpu::AddressSpaceAttr>(type.getMemorySpace()))
      value.setType(MemRefType::get(type.getShape(), type.getElementType(),
                                    type.getLayout()));
  };
  op->walk([&](Operation *inner) {
    llvm::for_each(inner->getResults(), strip);
    for (Region &region : inner->getRegions())
      for (Block &block : region)
        llvm::for_each(block.getArguments(), strip);
  });
}

/// Emits, at \p b, a stop of the program with \p message on standard error
/// unless \p ok holds (standard output might not be flushed); fails, with an
/// error on \p launch, if the module declares `write` or `abort` otherwise
/// than libc.
LogicalResult stopUnless(OpBuilder &b, Location loc, Value ok,
                         StringRef message, gpu::LaunchOp launch) {
  MLIRContext *ctx = b.getContext();
  auto module =
      b.getInsertionBlock()->getParentOp()->getParentOfType<ModuleOp>();
  std::string text = (message + "\n").str();
  std::string name =
      "lowmem_emulation_message_" + std::to_string(llvm::hash_value(text));
  auto global = module.lookupSymbol<LLVM::GlobalOp>(name);
  if (!global) {
    OpBuilder mb = OpBuilder::atBlockBegin(module.getBody());
    auto type = LLVM::LLVMArrayType::get(IntegerType::get(ctx, 8), text.size());
    global = LLVM::GlobalOp::create(mb, loc, type, /*isConstant=*/true,
                                    LLVM::Linkage::Internal, name,
                                    mb.getStringAttr(text));
  }
  auto ptr = LLVM::LLVMPointerType::get(ctx);
  Type i32 = b.getI32Type(), i64 = b.getI64Type();
  FailureOr<LLVM::LLVMFuncOp> write =
      LLVM::lookupOrCreateFn(b, module, "write", {i32, ptr, i64}, i64);
  FailureOr<LLVM::LLVMFuncOp> abort = LLVM::lookupOrCreateFn(
      b, module, "abort", {}, LLVM::LLVMVoidType::get(ctx));
  if (failed(write) || failed(abort))
    return launch.emitError("cannot run this kernel as loops on the host: the "
                            "module declares 'write' or 'abort' otherwise "
                            "than libc");
  Value bad = arith::XOrIOp::create(b, loc, ok,
                                    arith::ConstantIntOp::create(b, loc, 1, 1));
  scf::IfOp::create(b, loc, bad, [&](OpBuilder &tb, Location tl) {
    Value address = LLVM::AddressOfOp::create(tb, tl, global);
    LLVM::CallOp::create(
        tb, tl, *write,
        ValueRange{LLVM::ConstantOp::create(tb, tl, i32, 2), address,
                   LLVM::ConstantOp::create(tb, tl, i64, text.size())});
    LLVM::CallOp::create(tb, tl, *abort, ValueRange{});
    scf::YieldOp::create(tb, tl);
  });
  return success();
}

/// Replaces each assertion in \p launch (lowmem-check-kernel-bounds') by a
/// stop with its message; fails as stopUnless does.
LogicalResult stopAtAssertions(gpu::LaunchOp launch) {
  SmallVector<cf::AssertOp> assertions;
  launch.getBody().walk([&](cf::AssertOp op) { assertions.push_back(op); });
  for (cf::AssertOp op : assertions) {
    OpBuilder b(op);
    if (failed(stopUnless(b, op.getLoc(), op.getArg(),
                          ("emulated " + op.getMsg()).str(), launch)))
      return failure();
    op.erase();
  }
  return success();
}

/// Runs a launch whose threads run together as host loops: the blocks one
/// after another, and each block's body cut at its barriers and shuffles.
/// Between two cuts, each warp (the last first) runs the code as a loop
/// over its lanes (the last first); a barrier ends the loops over every
/// warp, a shuffle the loop over a warp's lanes, which the shuffle then
/// reads. A branch or loop holding a barrier runs once for the block, one
/// holding only shuffles once for each warp; its condition or bounds are
/// those of the first thread, which every thread of the block, or lane of
/// the warp, must agree on (checked as it runs). A value one such piece
/// computes and another reads is kept per thread in a slot of the block.
class TogetherEmulation {
public:
  TogetherEmulation(gpu::LaunchOp launch)
      : launch(launch), b(launch), loc(launch.getLoc()),
        threads(*getConstantIntValue(launch.getBlockSizeOperandValues().x)) {}

  LogicalResult run();

private:
  /// Whether \p op is, or holds, a barrier or a shuffle.
  bool together(Operation *op) const { return holdsSync.contains(op); }
  /// Whether \p op is, or holds, a barrier: it runs once for the block.
  bool wholeBlock(Operation *op) const { return holdsBarrier.contains(op); }
  /// Whether the ops of \p block are cut into pieces: the launch body and
  /// the regions of a branch or loop holding a barrier or shuffle.
  bool cut(Block *block) const {
    Operation *parent = block->getParentOp();
    return parent == launch || together(parent);
  }
  void numberPieces(Block &block);
  /// The piece that runs \p user; -1 for what is not in a piece (barriers,
  /// shuffles, the loops and branches holding them, their terminators).
  int pieceOf(Operation *user) const;
  LogicalResult allocateSlots();
  LogicalResult addSlot(Value value, Value slot = {});

  /// Emits \p ops of the block's body, or of a region run once a block.
  void emitBlockOps(ArrayRef<Operation *> ops);
  /// Emits \p ops run by the current warp.
  void emitOps(ArrayRef<Operation *> ops);
  void emitShuffle(gpu::ShuffleOp shuffle);
  /// Emits a loop or branch once for the block (\p block) or the warp.
  void emitControl(Operation *op, bool block);
  /// Emits a loop holding a barrier, with bounds \p lb, \p ub, \p step.
  void emitBlockLoop(scf::ForOp loop, Value lb, Value ub, Value step);
  /// Emits a loop over the lanes of the current warp, the last first;
  /// \p body gets the thread's index and a mapping holding it.
  void forEachLane(function_ref<void(Value tid, IRMapping &map)> body);
  /// Emits a loop over the block's warps, the last first, setting the
  /// current warp for \p body.
  void forEachWarp(function_ref<void()> body);
  /// The same over every thread of the block (\p block), warp by warp, or
  /// over the current warp's lanes.
  void forEachThread(bool block,
                     function_ref<void(Value tid, IRMapping &map)> body);
  /// \p value as thread \p tid sees it, inside a loop over lanes.
  Value threadValue(Value value, Value tid, IRMapping &map);
  /// Stores, for every thread of the block (\p block) or lane of the warp,
  /// its \p values into the slots of \p targets (those that have one), all
  /// read before any is written.
  void storeToSlots(bool block, ValueRange values, ValueRange targets);
  /// Whether \p value is computed in the body from nothing, without
  /// effects (a constant, a global's address): each piece computes its own.
  bool recomputed(Value value) const {
    Operation *def = value.getDefiningOp();
    return def && def->getNumOperands() == 0 && def->getNumRegions() == 0 &&
           isMemoryEffectFree(def) && launch->isProperAncestor(def);
  }
  /// A copy of \p value's defining op at the builder, mapped in \p map.
  Value recompute(Value value, IRMapping &map) {
    Operation *copy = b.clone(*value.getDefiningOp(), map);
    return copy->getResult(cast<OpResult>(value).getResultNumber());
  }
  /// \p value, which every thread of the block (\p block) or lane of the
  /// warp must agree on.
  Value agreedValue(Value value, bool block);
  void storeSlot(Value slot, Value value, Value tid) {
    memref::StoreOp::create(b, loc, value, slot, ValueRange{tid});
  }
  Value loadSlot(Value slot, Value tid) {
    return memref::LoadOp::create(b, loc, slot, ValueRange{tid});
  }

  gpu::LaunchOp launch;
  OpBuilder b;
  Location loc;
  int64_t threads;
  llvm::SetVector<Operation *> holdsSync, holdsBarrier;
  /// Ops of cut blocks outside barriers and shuffles: the piece each is in.
  DenseMap<Operation *, int> pieces;
  int numPieces = 0;
  /// A thread's values that pieces share: one element per thread.
  DenseMap<Value, Value> slots;
  /// Values the threads share, and what each stands for in the emitted
  /// code: block ids, sizes, shared memory; the induction variables of
  /// loops run once a block, and, while their warp runs, once a warp.
  IRMapping uniform;
  Value warpBase;
  bool broken = false;
};

void TogetherEmulation::numberPieces(Block &block) {
  int piece = -1;
  for (Operation &op : block.without_terminator()) {
    if (together(&op)) {
      piece = -1;
      for (Region &region : op.getRegions())
        for (Block &inner : region)
          numberPieces(inner);
      continue;
    }
    if (piece < 0)
      piece = numPieces++;
    pieces[&op] = piece;
  }
}

int TogetherEmulation::pieceOf(Operation *user) const {
  while (!cut(user->getBlock()))
    user = user->getParentOp();
  auto it = pieces.find(user);
  return it == pieces.end() ? -1 : it->second;
}

LogicalResult TogetherEmulation::addSlot(Value value, Value slot) {
  if (!slot) {
    Type type = value.getType();
    if (!MemRefType::isValidElementType(type) || isa<MemRefType>(type))
      return launch.emitError("cannot run this kernel as loops on the host: "
                              "a value of type ")
             << type << " crosses a barrier or shuffle";
    slot = memref::AllocaOp::create(b, loc, MemRefType::get({threads}, type),
                                    b.getI64IntegerAttr(kSlotAlignment));
  }
  slots[value] = slot;
  return success();
}

LogicalResult TogetherEmulation::allocateSlots() {
  // A value gets a slot if a piece other than its own, or code run once a
  // warp, reads it.
  auto sharedOutsidePiece = [&](Value value, int piece) {
    return llvm::any_of(value.getUsers(), [&](Operation *user) {
      return piece < 0 || pieceOf(user) != piece;
    });
  };
  SmallVector<Block *> blocks{&launch.getBody().front()};
  while (!blocks.empty()) {
    Block *block = blocks.pop_back_val();
    for (Operation &op : block->without_terminator()) {
      auto it = pieces.find(&op);
      int piece = it == pieces.end() ? -1 : it->second;
      auto loop = dyn_cast<scf::ForOp>(&op);
      if (loop && together(loop)) {
        // A loop's carried values and results share their slots.
        for (auto [arg, result] :
             llvm::zip_equal(loop.getRegionIterArgs(), loop.getResults())) {
          if (failed(addSlot(arg)) || failed(addSlot(result, slots[arg])))
            return failure();
        }
      } else {
        for (Value result : op.getResults())
          if (!recomputed(result) && sharedOutsidePiece(result, piece) &&
              failed(addSlot(result)))
            return failure();
      }
      if (together(&op))
        for (Region &region : op.getRegions())
          for (Block &inner : region)
            blocks.push_back(&inner);
    }
  }
  return success();
}

LogicalResult TogetherEmulation::run() {
  launch.getBody().walk([&](Operation *op) {
    if (!isa<gpu::BarrierOp, gpu::ShuffleOp>(op))
      return;
    bool barrier = isa<gpu::BarrierOp>(op);
    for (Operation *p = op; p != launch; p = p->getParentOp()) {
      holdsSync.insert(p);
      if (barrier)
        holdsBarrier.insert(p);
    }
  });
  for (Operation *op : holdsSync)
    if (!isa<gpu::BarrierOp, gpu::ShuffleOp, scf::ForOp, scf::IfOp>(op))
      return launch.emitError("cannot run this kernel as loops on the host: "
                              "a barrier or shuffle is inside '")
             << op->getName() << "', which is emulated only in scf.for and "
             << "scf.if";
  numberPieces(launch.getBody().front());

  // The block's slots, shared memory and the thread's stack are released
  // after the launch.
  Value stack = LLVM::StackSaveOp::create(
      b, loc, LLVM::LLVMPointerType::get(b.getContext()));
  if (failed(allocateSlots()))
    return failure();
  SmallVector<Value> shared;
  for (BlockArgument buffer : launch.getWorkgroupAttributions()) {
    auto type = cast<MemRefType>(buffer.getType());
    shared.push_back(memref::AllocaOp::create(
        b, loc,
        MemRefType::get(type.getShape(), type.getElementType(),
                        type.getLayout()),
        b.getI64IntegerAttr(kSlotAlignment)));
    uniform.map(buffer, shared.back());
  }

  gpu::KernelDim3 gridSize = launch.getGridSizeOperandValues();
  gpu::KernelDim3 blockIds = launch.getBlockIds();
  mapLaunchSizes(launch, uniform);
  Value zero = arith::ConstantIndexOp::create(b, loc, 0);
  uniform.map(launch.getThreadIds().y, zero);
  uniform.map(launch.getThreadIds().z, zero);
  for (auto [extent, arg] :
       llvm::zip_equal(ArrayRef<Value>{gridSize.z, gridSize.y, gridSize.x},
                       ArrayRef<Value>{blockIds.z, blockIds.y, blockIds.x}))
    uniform.map(arg, countedDown(b, loc, extent));

  // Shared memory starts out as NaN each block: a read before any write
  // shows.
  for (Value buffer : shared) {
    auto type = cast<MemRefType>(buffer.getType());
    auto element = dyn_cast<FloatType>(type.getElementType());
    if (!element || type.getRank() != 1)
      continue;
    Value nan = arith::ConstantOp::create(
        b, loc,
        FloatAttr::get(element, APFloat::getNaN(element.getFloatSemantics())));
    OpBuilder::InsertionGuard guard(b);
    Value i = countedDown(
        b, loc, arith::ConstantIndexOp::create(b, loc, type.getDimSize(0)));
    memref::StoreOp::create(b, loc, nan, buffer, ValueRange{i});
  }
  emitBlockOps(opsOf(launch.getBody().front()));
  if (broken)
    return failure();
  b.setInsertionPointAfter(launch);
  LLVM::StackRestoreOp::create(b, loc, stack);
  return success();
}

void TogetherEmulation::emitBlockOps(ArrayRef<Operation *> ops) {
  // Cut at the barriers and at what holds one: each piece between two runs
  // warp by warp, the last first.
  SmallVector<Operation *> segment;
  auto flush = [&] {
    if (segment.empty())
      return;
    forEachWarp([&] { emitOps(segment); });
    segment.clear();
  };
  for (Operation *op : ops) {
    if (!wholeBlock(op)) {
      segment.push_back(op);
      continue;
    }
    flush();
    if (!isa<gpu::BarrierOp>(op))
      emitControl(op, /*block=*/true);
  }
  flush();
}

void TogetherEmulation::forEachLane(
    function_ref<void(Value tid, IRMapping &map)> body) {
  OpBuilder::InsertionGuard guard(b);
  Value lane =
      countedDown(b, loc, arith::ConstantIndexOp::create(b, loc, kWarpSize));
  Value tid = arith::AddIOp::create(b, loc, warpBase, lane);
  IRMapping map;
  map.map(launch.getThreadIds().x, tid);
  body(tid, map);
}

void TogetherEmulation::forEachThread(
    bool block, function_ref<void(Value tid, IRMapping &map)> body) {
  if (!block)
    return forEachLane(body);
  forEachWarp([&] { forEachLane(body); });
}

void TogetherEmulation::forEachWarp(function_ref<void()> body) {
  OpBuilder::InsertionGuard guard(b);
  Value warp = countedDown(
      b, loc, arith::ConstantIndexOp::create(b, loc, threads / kWarpSize));
  warpBase = arith::MulIOp::create(
      b, loc, warp, arith::ConstantIndexOp::create(b, loc, kWarpSize));
  body();
}

Value TogetherEmulation::threadValue(Value value, Value tid, IRMapping &map) {
  if (Value mapped = map.lookupOrNull(value))
    return mapped;
  if (Value mapped = uniform.lookupOrNull(value)) {
    map.map(value, mapped);
    return mapped;
  }
  if (recomputed(value))
    return recompute(value, map);
  auto it = slots.find(value);
  if (it == slots.end())
    return value; // Defined outside the launch.
  Value loaded = loadSlot(it->second, tid);
  map.map(value, loaded);
  return loaded;
}

void TogetherEmulation::storeToSlots(bool block, ValueRange values,
                                     ValueRange targets) {
  if (targets.empty())
    return;
  forEachThread(block, [&](Value tid, IRMapping &map) {
    SmallVector<Value> read;
    for (Value value : values)
      read.push_back(threadValue(value, tid, map));
    for (auto [target, value] : llvm::zip_equal(targets, read))
      if (Value slot = slots.lookup(target))
        storeSlot(slot, value, tid);
  });
}

Value TogetherEmulation::agreedValue(Value value, bool block) {
  if (Value mapped = uniform.lookupOrNull(value))
    return mapped;
  if (value == launch.getThreadIds().x) {
    launch.emitError("cannot run this kernel as loops on the host: a branch "
                     "or loop holding a barrier or shuffle depends on the "
                     "thread id");
    broken = true;
    return value;
  }
  if (recomputed(value)) {
    IRMapping map;
    return recompute(value, map);
  }
  auto it = slots.find(value);
  if (it == slots.end())
    return value;
  Value base = block ? arith::ConstantIndexOp::create(b, loc, 0) : warpBase;
  Value first = loadSlot(it->second, base);
  if (!isa<IntegerType, IndexType>(value.getType()))
    return first;
  // Every thread must agree, as on a GPU, where a barrier or shuffle in
  // divergent code is undefined.
  Value agree = arith::ConstantIntOp::create(b, loc, 1, 1);
  {
    OpBuilder::InsertionGuard guard(b);
    auto others = scf::ForOp::create(
        b, loc, arith::ConstantIndexOp::create(b, loc, 1),
        arith::ConstantIndexOp::create(b, loc, block ? threads : kWarpSize),
        arith::ConstantIndexOp::create(b, loc, 1), ValueRange{agree});
    b.setInsertionPointToStart(others.getBody());
    Value tid = arith::AddIOp::create(b, loc, base, others.getInductionVar());
    Value same = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq,
                                       loadSlot(it->second, tid), first);
    scf::YieldOp::create(b, loc,
                         ValueRange{arith::AndIOp::create(
                             b, loc, others.getRegionIterArg(0), same)});
    agree = others.getResult(0);
  }
  if (failed(stopUnless(
          b, loc, agree,
          block ? "emulated kernel: the threads of a block disagree on a "
                  "branch or loop that holds a barrier"
                : "emulated kernel: the lanes of a warp disagree on a branch "
                  "or loop that holds a shuffle",
          launch)))
    broken = true;
  return first;
}

void TogetherEmulation::emitOps(ArrayRef<Operation *> ops) {
  SmallVector<Operation *> piece;
  auto flush = [&] {
    if (piece.empty())
      return;
    forEachLane([&](Value tid, IRMapping &map) {
      for (Operation *op : piece) {
        // What the op reads from other pieces, then the op.
        auto bring = [&](Value value) { threadValue(value, tid, map); };
        llvm::for_each(op->getOperands(), bring);
        visitUsedValuesDefinedAbove(op->getRegions(),
                                    [&](OpOperand *use) { bring(use->get()); });
        Operation *copy = b.clone(*op, map);
        stripSharedMemorySpace(copy);
        for (auto [result, value] :
             llvm::zip_equal(op->getResults(), copy->getResults()))
          if (Value slot = slots.lookup(result))
            storeSlot(slot, value, tid);
      }
    });
    piece.clear();
  };
  for (Operation *op : ops) {
    if (together(op)) {
      flush();
      if (auto shuffle = dyn_cast<gpu::ShuffleOp>(op))
        emitShuffle(shuffle);
      else
        emitControl(op, /*block=*/false);
    } else {
      piece.push_back(op);
    }
  }
  flush();
}

void TogetherEmulation::emitShuffle(gpu::ShuffleOp shuffle) {
  forEachLane([&](Value tid, IRMapping &map) {
    Type i32 = b.getI32Type();
    Value lane = arith::IndexCastOp::create(
        b, loc, i32, arith::SubIOp::create(b, loc, tid, warpBase));
    Value offset = threadValue(shuffle.getOffset(), tid, map);
    Value width = threadValue(shuffle.getWidth(), tid, map);
    Value from;
    switch (shuffle.getMode()) {
    case gpu::ShuffleMode::XOR:
      from = arith::XOrIOp::create(b, loc, lane, offset);
      break;
    case gpu::ShuffleMode::DOWN:
      from = arith::AddIOp::create(b, loc, lane, offset);
      break;
    case gpu::ShuffleMode::UP:
      from = arith::SubIOp::create(b, loc, lane, offset);
      break;
    case gpu::ShuffleMode::IDX:
      from = offset;
      break;
    }
    Value valid = arith::AndIOp::create(
        b, loc,
        arith::CmpIOp::create(b, loc, arith::CmpIPredicate::sge, from,
                              arith::ConstantIntOp::create(b, loc, i32, 0)),
        arith::CmpIOp::create(b, loc, arith::CmpIPredicate::slt, from, width));
    // Out of range, a lane keeps its own value, as the hardware does.
    Value source = arith::AddIOp::create(
        b, loc, warpBase,
        arith::IndexCastOp::create(
            b, loc, b.getIndexType(),
            arith::SelectOp::create(b, loc, valid, from, lane)));
    Value input = shuffle.getValue();
    Value value = slots.count(input) ? loadSlot(slots.lookup(input), source)
                                     : threadValue(input, tid, map);
    if (Value slot = slots.lookup(shuffle.getShuffleResult()))
      storeSlot(slot, value, tid);
    if (Value slot = slots.lookup(shuffle.getValid()))
      storeSlot(slot, valid, tid);
  });
}

void TogetherEmulation::emitControl(Operation *op, bool block) {
  // The yielded values of a region go to \p targets' slots, all read before
  // any is written.
  auto emitRegion = [&](Block &source, Block &into, ValueRange targets) {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPoint(into.getTerminator());
    SmallVector<Operation *> ops = opsOf(source);
    if (block)
      emitBlockOps(ops);
    else
      emitOps(ops);
    storeToSlots(block, source.getTerminator()->getOperands(), targets);
  };

  if (auto branch = dyn_cast<scf::IfOp>(op)) {
    bool hasElse = !branch.getElseRegion().empty();
    auto copy =
        scf::IfOp::create(b, loc, TypeRange{},
                          agreedValue(branch.getCondition(), block), hasElse);
    emitRegion(*branch.thenBlock(), *copy.thenBlock(), branch.getResults());
    if (hasElse)
      emitRegion(*branch.elseBlock(), *copy.elseBlock(), branch.getResults());
    return;
  }
  auto loop = cast<scf::ForOp>(op);
  storeToSlots(block, loop.getInitArgs(), loop.getRegionIterArgs());
  Value lb = agreedValue(loop.getLowerBound(), block);
  Value ub = agreedValue(loop.getUpperBound(), block);
  Value step = agreedValue(loop.getStep(), block);
  if (!block) {
    auto copy =
        scf::ForOp::create(b, loc, lb, ub, step, ValueRange{},
                           /*bodyBuilder=*/nullptr, loop.getUnsignedCmp());
    uniform.map(loop.getInductionVar(), copy.getInductionVar());
    emitRegion(*loop.getBody(), *copy.getBody(), loop.getRegionIterArgs());
    return;
  }
  emitBlockLoop(loop, lb, ub, step);
}

void TogetherEmulation::emitBlockLoop(scf::ForOp loop, Value lb, Value ub,
                                      Value step) {
  // The body's head (up to its first barrier) and tail (after its last).
  // On a GPU, a warp that ends an iteration goes on into the next one's
  // head while other warps are still in the tail: so each warp runs the
  // tail of an iteration and then the head of the next before the next
  // warp runs its tail, and a kernel that lacks the barrier at the end of
  // a loop over shared tiles reads tiles the next iteration overwrote, as
  // it may on a GPU. (The lanes of a warp still finish the tail before any
  // starts the head.)
  SmallVector<Operation *> ops = opsOf(*loop.getBody());
  auto isCut = [&](Operation *op) { return wholeBlock(op); };
  auto first = llvm::find_if(ops, isCut);
  auto last = llvm::find_if(llvm::reverse(ops), isCut).base();
  ArrayRef<Operation *> head(ops.begin(), first), middle(first, last),
      tail(last, ops.end());
  Value iv = loop.getInductionVar();
  auto inBranch = [&](Value condition, function_ref<void()> body) {
    auto branch = scf::IfOp::create(b, loc, TypeRange{}, condition,
                                    /*withElseRegion=*/false);
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPoint(branch.thenBlock()->getTerminator());
    body();
  };

  auto less = loop.getUnsignedCmp() ? arith::CmpIPredicate::ult
                                    : arith::CmpIPredicate::slt;
  Value any = arith::CmpIOp::create(b, loc, less, lb, ub);
  inBranch(any, [&] {
    uniform.map(iv, lb);
    forEachWarp([&] { emitOps(head); });
  });
  auto copy =
      scf::ForOp::create(b, loc, lb, ub, step, ValueRange{},
                         /*bodyBuilder=*/nullptr, loop.getUnsignedCmp());
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPoint(copy.getBody()->getTerminator());
  Value current = copy.getInductionVar();
  uniform.map(iv, current);
  emitBlockOps(middle);
  forEachWarp([&] {
    uniform.map(iv, current);
    emitOps(tail);
    // This warp's carried values, then the next iteration's head.
    storeToSlots(/*block=*/false,
                 loop.getBody()->getTerminator()->getOperands(),
                 loop.getRegionIterArgs());
    Value next = arith::AddIOp::create(b, loc, current, step);
    Value more = arith::CmpIOp::create(b, loc, less, next, ub);
    inBranch(more, [&] {
      uniform.map(iv, next);
      emitOps(head);
    });
  });
}

/// Replaces the id and dimension ops in the body of \p launch by the
/// launch's arguments.
void readLaunchArguments(gpu::LaunchOp launch) {
  gpu::KernelDim3 blockIds = launch.getBlockIds();
  gpu::KernelDim3 threadIds = launch.getThreadIds();
  gpu::KernelDim3 gridArgs = launch.getGridSize();
  gpu::KernelDim3 blockArgs = launch.getBlockSize();
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
}

/// Rewrites \p launch into loops over its blocks and threads, each
/// dimension counted down.
void emulate(gpu::LaunchOp launch) {
  Location loc = launch.getLoc();
  gpu::KernelDim3 blockIds = launch.getBlockIds();
  gpu::KernelDim3 threadIds = launch.getThreadIds();
  OpBuilder b(launch);
  gpu::KernelDim3 gridSize = launch.getGridSizeOperandValues();
  gpu::KernelDim3 blockSize = launch.getBlockSizeOperandValues();
  IRMapping map;
  for (auto [extent, arg] :
       llvm::zip_equal(ArrayRef<Value>{gridSize.z, gridSize.y, gridSize.x,
                                       blockSize.z, blockSize.y, blockSize.x},
                       ArrayRef<Value>{blockIds.z, blockIds.y, blockIds.x,
                                       threadIds.z, threadIds.y, threadIds.x}))
    map.map(arg, countedDown(b, loc, extent));
  mapLaunchSizes(launch, map);

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
    bool rejected = false;
    getOperation().walk([&](gpu::LaunchOp launch) {
      std::string why = unsupported(launch);
      if (!why.empty()) {
        launch.emitError("cannot run this kernel as loops on the host: ")
            << why;
        rejected = true;
      }
      launches.push_back(launch);
    });
    if (rejected)
      return signalPassFailure();
    for (gpu::LaunchOp launch : launches) {
      if (failed(stopAtAssertions(launch)))
        return signalPassFailure();
      readLaunchArguments(launch);
      if (!runsTogether(launch)) {
        emulate(launch);
        continue;
      }
      if (failed(TogetherEmulation(launch).run()))
        return signalPassFailure();
      launch.erase();
    }
  }
};

} // namespace
