//===- CPUThreads.cpp - parallel loops as tasks on the runtime's threads --===//
//
// Part of the lowmem project.
//
//===----------------------------------------------------------------------===//
//
// Outlines each `scf.parallel` marked `lowmem.cpu_threads` (a loop whose
// iterations write disjoint parts of their buffers: convert-lowmem-to-cpu's
// panels of features, the CPU lowering's rows of attention and of the fused
// head and loss) into a task function `(context, begin, end)` that runs the
// iterations numbered [begin, end) in row-major order, and replaces the loop
// by a call of the runtime's `lowmem_parallel_for`, which splits the
// numbers over its threads. The values the body uses
// from above travel in a context struct on the caller's stack (a memref as
// its LLVM descriptor, an index as i64); constants are cloned into the task;
// a stack buffer (the panel scratch) is allocated again in the task, so
// each thread has its own.
//
//===----------------------------------------------------------------------===//

#include "lowmem/Conversion/BuildUtils.h"
#include "lowmem/Conversion/Passes.h"

#include "mlir/Conversion/LLVMCommon/TypeConverter.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/IR/Matchers.h"
#include "mlir/Transforms/RegionUtils.h"

namespace mlir::lowmem {
#define GEN_PASS_DEF_LOWMEMCPUTHREADS
#include "lowmem/Conversion/Passes.h.inc"
} // namespace mlir::lowmem

using namespace mlir;
using namespace mlir::lowmem;

namespace {

constexpr StringLiteral kRuntimeEntry = "lowmem_parallel_for";

/// The task's signature: (context, begin, end) -> ().
FunctionType taskType(MLIRContext *ctx) {
  Type index = IndexType::get(ctx);
  return FunctionType::get(ctx, {LLVM::LLVMPointerType::get(ctx), index, index},
                           {});
}

/// Whether `value` is rebuilt in the task rather than passed: a constant, a
/// module global's address, or a stack buffer (scratch private to a thread).
bool rebuiltInTask(Value value) {
  Operation *def = value.getDefiningOp();
  return def && (matchPattern(value, m_Constant()) ||
                 isa<memref::GetGlobalOp, memref::AllocaOp>(def));
}

/// The type a captured value has in the context struct.
Type fieldType(const LLVMTypeConverter &converter, Type type) {
  if (isa<IndexType>(type))
    return IntegerType::get(type.getContext(), 64);
  return converter.convertType(type);
}

/// `value` as it is stored in the context struct.
Value toField(OpBuilder &b, Location loc, Value value, Type field) {
  if (isa<IndexType>(value.getType()))
    return arith::IndexCastOp::create(b, loc, field, value);
  if (value.getType() == field)
    return value;
  return UnrealizedConversionCastOp::create(b, loc, field, value).getResult(0);
}

/// The captured value of `type` back from its field.
Value fromField(OpBuilder &b, Location loc, Value field, Type type) {
  if (isa<IndexType>(type))
    return arith::IndexCastOp::create(b, loc, type, field);
  if (field.getType() == type)
    return field;
  return UnrealizedConversionCastOp::create(b, loc, type, field).getResult(0);
}

/// The runtime's entry, declared once.
func::FuncOp runtimeEntry(ModuleOp module) {
  if (auto entry = module.lookupSymbol<func::FuncOp>(kRuntimeEntry))
    return entry;
  MLIRContext *ctx = module.getContext();
  OpBuilder b = OpBuilder::atBlockEnd(module.getBody());
  Type index = IndexType::get(ctx);
  auto type = FunctionType::get(
      ctx,
      {taskType(ctx), LLVM::LLVMPointerType::get(ctx), index, index, index},
      {});
  auto entry = func::FuncOp::create(b, module.getLoc(), kRuntimeEntry, type);
  entry.setPrivate();
  return entry;
}

/// Outlines `loop` (in `func`) into a task named after the function.
LogicalResult outline(scf::ParallelOp loop, func::FuncOp func,
                      const LLVMTypeConverter &converter, int64_t &counter) {
  MLIRContext *ctx = loop.getContext();
  Location loc = loop.getLoc();
  auto module = func->getParentOfType<ModuleOp>();

  // The iterations, numbered in row-major order: the trip count of each
  // dimension (none where the upper bound is not above the lower) and
  // their product, computed before the loop.
  OpBuilder cb(loop);
  Value zeroIndex = arith::ConstantIndexOp::create(cb, loc, 0);
  Value total = arith::ConstantIndexOp::create(cb, loc, 1);
  SmallVector<Value> trips;
  for (auto [lb, ub, step] : llvm::zip_equal(
           loop.getLowerBound(), loop.getUpperBound(), loop.getStep())) {
    Value span = arith::MaxSIOp::create(
        cb, loc, arith::SubIOp::create(cb, loc, ub, lb), zeroIndex);
    trips.push_back(arith::CeilDivUIOp::create(cb, loc, span, step));
    total = arith::MulIOp::create(cb, loc, total, trips.back());
  }

  SetVector<Value> captured;
  getUsedValuesDefinedAbove(loop.getRegion(), captured);
  for (auto [lb, step, trip] :
       llvm::zip_equal(loop.getLowerBound(), loop.getStep(), trips)) {
    captured.insert(lb);
    captured.insert(step);
    captured.insert(trip);
  }
  SmallVector<Value> passed, rebuilt;
  for (Value value : captured)
    (rebuiltInTask(value) ? rebuilt : passed).push_back(value);
  SmallVector<Type> fields;
  for (Value value : passed) {
    Type field = fieldType(converter, value.getType());
    if (!field)
      return loop.emitError("lowmem-cpu-threads: cannot pass a value of type ")
             << value.getType() << " to a task";
    fields.push_back(field);
  }
  auto contextType = LLVM::LLVMStructType::getLiteral(ctx, fields);
  auto ptrType = LLVM::LLVMPointerType::get(ctx);

  // The task: the iterations [begin, end) of the loop's body.
  OpBuilder mb(ctx);
  mb.setInsertionPointAfter(func);
  std::string name = (func.getSymName() + "_task" + Twine(counter++)).str();
  auto task = func::FuncOp::create(mb, loc, name, taskType(ctx));
  task.setPrivate();
  Block *entry = task.addEntryBlock();
  OpBuilder tb = OpBuilder::atBlockBegin(entry);
  IRMapping mapping;
  for (Value value : rebuilt)
    mapping.map(value, tb.clone(*value.getDefiningOp())->getResult(0));
  for (auto [i, value] : llvm::enumerate(passed)) {
    Value at = LLVM::GEPOp::create(
        tb, loc, ptrType, contextType, entry->getArgument(0),
        ArrayRef<LLVM::GEPArg>{0, static_cast<int32_t>(i)});
    Value field = LLVM::LoadOp::create(tb, loc, fields[i], at);
    mapping.map(value, fromField(tb, loc, field, value.getType()));
  }
  scf::ForOp::create(
      tb, loc, entry->getArgument(1), entry->getArgument(2),
      arith::ConstantIndexOp::create(tb, loc, 1), ValueRange{},
      [&](OpBuilder &lb, Location, Value iteration, ValueRange) {
        // The iteration's induction variables, the last dimension fastest.
        for (int64_t d = loop.getNumLoops() - 1; d >= 0; --d) {
          Value trip = mapping.lookup(trips[d]);
          Value at =
              d > 0
                  ? arith::RemUIOp::create(lb, loc, iteration, trip).getResult()
                  : iteration;
          mapping.map(loop.getInductionVars()[d],
                      arith::AddIOp::create(
                          lb, loc, mapping.lookup(loop.getLowerBound()[d]),
                          arith::MulIOp::create(
                              lb, loc, at, mapping.lookup(loop.getStep()[d]))));
          if (d > 0)
            iteration = arith::DivUIOp::create(lb, loc, iteration, trip);
        }
        for (Operation &op : loop.getBody()->without_terminator())
          lb.clone(op, mapping);
        scf::YieldOp::create(lb, loc);
      });
  func::ReturnOp::create(tb, loc);

  // The caller: the context on the stack (at the function's entry, so that
  // a loop around the call takes no more stack), then the runtime's call.
  OpBuilder eb = OpBuilder::atBlockBegin(&func.getBody().front());
  Value one = LLVM::ConstantOp::create(eb, loc, eb.getI64Type(),
                                       eb.getI64IntegerAttr(1));
  Value context = LLVM::AllocaOp::create(eb, loc, ptrType, contextType, one);
  for (auto [i, value] : llvm::enumerate(passed)) {
    Value at =
        LLVM::GEPOp::create(cb, loc, ptrType, contextType, context,
                            ArrayRef<LLVM::GEPArg>{0, static_cast<int32_t>(i)});
    LLVM::StoreOp::create(cb, loc, toField(cb, loc, value, fields[i]), at);
  }
  Value taskRef = func::ConstantOp::create(cb, loc, taskType(ctx),
                                           FlatSymbolRefAttr::get(task));
  func::CallOp::create(cb, loc, runtimeEntry(module),
                       ValueRange{taskRef, context, zeroIndex, total,
                                  arith::ConstantIndexOp::create(cb, loc, 1)});
  loop.erase();
  return success();
}

struct LowMemCPUThreadsPass
    : public mlir::lowmem::impl::LowMemCPUThreadsBase<LowMemCPUThreadsPass> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    LLVMTypeConverter converter(&getContext());
    SmallVector<std::pair<scf::ParallelOp, func::FuncOp>> loops;
    module.walk([&](scf::ParallelOp loop) {
      if (!loop->hasAttr(kCPUThreadsAttr))
        return;
      auto func = loop->getParentOfType<func::FuncOp>();
      if (func && loop.getNumResults() == 0)
        loops.push_back({loop, func});
    });
    DenseMap<Operation *, int64_t> counters;
    for (auto [loop, func] : loops)
      if (failed(outline(loop, func, converter, counters[func])))
        return signalPassFailure();
  }
};

} // namespace
