//===- CheckKernelBounds.cpp - bounds checks on kernel memory accesses ----===//
//
// Part of the lowmem project.
//
//===----------------------------------------------------------------------===//
//
// Guards each memory access of a gpu.launch body (memref.load, memref.store,
// memref.atomic_rmw, vector.load, vector.store) with a cf.assert that its
// indices lie inside the buffer's shape, naming the kernel and the access's
// location. On a GPU the assertion traps (__assertfail); the emulation
// stops the program with the message.
//
//===----------------------------------------------------------------------===//

#include "lowmem/Conversion/Passes.h"

#include "mlir/Dialect/ControlFlow/IR/ControlFlowOps.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"
#include "mlir/IR/Location.h"

namespace mlir::lowmem {
#define GEN_PASS_DEF_LOWMEMCHECKKERNELBOUNDS
#include "lowmem/Conversion/Passes.h.inc"
} // namespace mlir::lowmem

using namespace mlir;

namespace {

/// The buffer, the indices and, per index, how many consecutive elements
/// from it the access reads or writes (a vector's trailing dimensions).
struct Access {
  Value memref;
  ValueRange indices;
  SmallVector<int64_t> extents;
};

/// The access \p op makes, if it is one of the accesses checked.
std::optional<Access> accessOf(Operation *op) {
  auto scalar = [](Value memref, ValueRange indices) {
    return Access{memref, indices, SmallVector<int64_t>(indices.size(), 1)};
  };
  auto vector = [](Value memref, ValueRange indices, VectorType type) {
    SmallVector<int64_t> extents(indices.size(), 1);
    ArrayRef<int64_t> shape = type.getShape();
    std::copy(shape.begin(), shape.end(), extents.end() - shape.size());
    return Access{memref, indices, extents};
  };
  if (auto load = dyn_cast<memref::LoadOp>(op))
    return scalar(load.getMemref(), load.getIndices());
  if (auto store = dyn_cast<memref::StoreOp>(op))
    return scalar(store.getMemref(), store.getIndices());
  if (auto rmw = dyn_cast<memref::AtomicRMWOp>(op))
    return scalar(rmw.getMemref(), rmw.getIndices());
  if (auto load = dyn_cast<vector::LoadOp>(op))
    return vector(load.getBase(), load.getIndices(), load.getVectorType());
  if (auto store = dyn_cast<vector::StoreOp>(op))
    return vector(store.getBase(), store.getIndices(), store.getVectorType());
  return std::nullopt;
}

/// Whether every element \p access touches lies inside its buffer, or
/// nothing where that holds statically.
Value inBounds(OpBuilder &b, Location loc, const Access &access) {
  auto type = cast<MemRefType>(access.memref.getType());
  Value ok;
  for (auto [dim, index] : llvm::enumerate(access.indices)) {
    int64_t extent = access.extents[dim];
    std::optional<int64_t> constant = getConstantIntValue(index);
    if (constant && !type.isDynamicDim(dim) && *constant >= 0 &&
        *constant + extent <= type.getDimSize(dim))
      continue;
    Value size = b.createOrFold<memref::DimOp>(loc, access.memref, dim);
    Value end = b.createOrFold<arith::AddIOp>(
        loc, index, arith::ConstantIndexOp::create(b, loc, extent));
    Value here = b.createOrFold<arith::AndIOp>(
        loc,
        b.createOrFold<arith::CmpIOp>(
            loc, arith::CmpIPredicate::sge, index,
            arith::ConstantIndexOp::create(b, loc, 0)),
        b.createOrFold<arith::CmpIOp>(loc, arith::CmpIPredicate::sle, end,
                                      size));
    ok = ok ? b.createOrFold<arith::AndIOp>(loc, ok, here) : here;
  }
  return ok;
}

/// \p loc as `file:line:col` where it holds one, as MLIR prints it
/// otherwise.
std::string describe(Location loc) {
  std::string text;
  llvm::raw_string_ostream os(text);
  loc->walk([&](Location inner) {
    if (auto file = dyn_cast<FileLineColLoc>(inner)) {
      os << file.getFilename().getValue() << ":" << file.getLine() << ":"
         << file.getColumn();
      return WalkResult::interrupt();
    }
    return WalkResult::advance();
  });
  if (text.empty())
    os << loc;
  return text;
}

/// The name \p launch's kernel will have: its `function`, or the one kernel
/// outlining gives it.
std::string kernelName(gpu::LaunchOp launch) {
  if (std::optional<StringRef> function = launch.getFunction())
    return function->str();
  auto func = launch->getParentOfType<FunctionOpInterface>();
  return (func ? func.getName().str() : std::string("kernel")) + "_kernel";
}

struct CheckKernelBoundsPass
    : public mlir::lowmem::impl::LowMemCheckKernelBoundsBase<
          CheckKernelBoundsPass> {
  void runOnOperation() override {
    getOperation().walk([&](gpu::LaunchOp launch) {
      std::string kernel = kernelName(launch);
      launch.getBody().walk([&](Operation *op) {
        std::optional<Access> access = accessOf(op);
        if (!access)
          return;
        OpBuilder b(op);
        Value ok = inBounds(b, op->getLoc(), *access);
        if (!ok)
          return;
        std::string message;
        llvm::raw_string_ostream os(message);
        os << "kernel " << kernel << ": out-of-bounds "
           << op->getName().getStringRef() << " of " << access->memref.getType()
           << " at " << describe(op->getLoc());
        cf::AssertOp::create(b, op->getLoc(), ok, message);
      });
    });
  }
};

} // namespace
