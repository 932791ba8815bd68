//===- MapParallelLoops.cpp - parallel loops onto blocks of threads ------===//
//
// Part of the lowmem project.
//
//===----------------------------------------------------------------------===//
//
// Each outermost scf.parallel becomes a grid of blocks of kThreads threads,
// one thread per point of its iteration space (flattened, the last
// dimension fastest), instead of upstream's one thread per block.
//
//===----------------------------------------------------------------------===//

#include "lowmem/Conversion/Passes.h"

#include "mlir/Dialect/GPU/Transforms/ParallelLoopMapper.h"
#include "mlir/IR/IRMapping.h"

namespace mlir::lowmem {
#define GEN_PASS_DEF_LOWMEMMAPPARALLELLOOPS
#include "lowmem/Conversion/Passes.h.inc"
} // namespace mlir::lowmem

using namespace mlir;

namespace {

/// Threads of a block: 8 warps, enough to hide latency, few enough for any
/// kernel's registers.
constexpr int64_t kThreads = 256;

gpu::ParallelLoopDimMappingAttr dimMapping(MLIRContext *ctx,
                                           gpu::Processor processor) {
  AffineMap id = AffineMap::getMultiDimIdentityMap(1, ctx);
  return gpu::ParallelLoopDimMappingAttr::get(ctx, processor, id, id);
}

/// Rewrites \p loop (without results) into a nest of scf.for.
void serialize(scf::ParallelOp loop) {
  OpBuilder b(loop);
  IRMapping map;
  for (auto [iv, lb, ub, step] :
       llvm::zip_equal(loop.getInductionVars(), loop.getLowerBound(),
                       loop.getUpperBound(), loop.getStep())) {
    auto serial = scf::ForOp::create(b, loop.getLoc(), lb, ub, step);
    map.map(iv, serial.getInductionVar());
    b.setInsertionPoint(serial.getBody()->getTerminator());
  }
  for (Operation &op : loop.getBody()->without_terminator())
    b.clone(op, map);
  loop.erase();
}

/// Whether \p loop holds a parallel loop with results (a reduction), which
/// cannot run serially as a plain scf.for nest.
bool holdsReduction(scf::ParallelOp loop) {
  return loop.getBody()
      ->walk([](scf::ParallelOp inner) {
        return inner.getNumResults() ? WalkResult::interrupt()
                                     : WalkResult::advance();
      })
      .wasInterrupted();
}

/// Rewrites \p loop into blocks × threads over its flattened iteration
/// space.
LogicalResult flatten(scf::ParallelOp loop) {
  MLIRContext *ctx = loop.getContext();
  Location loc = loop.getLoc();
  OpBuilder b(loop);
  Value zero = arith::ConstantIndexOp::create(b, loc, 0);
  Value one = arith::ConstantIndexOp::create(b, loc, 1);
  Value threads = arith::ConstantIndexOp::create(b, loc, kThreads);
  // Trip count of each dimension, and of all.
  SmallVector<Value> extents;
  Value total = one;
  for (auto [lb, ub, step] : llvm::zip_equal(
           loop.getLowerBound(), loop.getUpperBound(), loop.getStep())) {
    Value span = arith::SubIOp::create(b, loc, ub, lb);
    Value extent = arith::CeilDivUIOp::create(b, loc, span, step);
    // An empty dimension (ub <= lb) has no points.
    Value empty =
        arith::CmpIOp::create(b, loc, arith::CmpIPredicate::sle, ub, lb);
    extent = arith::SelectOp::create(b, loc, empty, zero, extent);
    extents.push_back(extent);
    total = arith::MulIOp::create(b, loc, total, extent);
  }
  Value blocks = arith::CeilDivUIOp::create(b, loc, total, threads);
  auto grid = scf::ParallelOp::create(b, loc, ValueRange{zero},
                                      ValueRange{blocks}, ValueRange{one});
  b.setInsertionPoint(grid.getBody()->getTerminator());
  auto block = scf::ParallelOp::create(b, loc, ValueRange{zero},
                                       ValueRange{threads}, ValueRange{one});
  b.setInsertionPoint(block.getBody()->getTerminator());
  Value flat = arith::AddIOp::create(
      b, loc,
      arith::MulIOp::create(b, loc, grid.getInductionVars()[0], threads),
      block.getInductionVars()[0]);
  Value inside =
      arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult, flat, total);
  auto guard = scf::IfOp::create(b, loc, inside, /*withElseRegion=*/false);
  b.setInsertionPoint(guard.thenBlock()->getTerminator());
  // The point's coordinates, the last dimension fastest.
  IRMapping map;
  Value rest = flat;
  for (int64_t d = loop.getNumLoops() - 1; d >= 0; --d) {
    Value index = rest;
    if (d > 0) {
      index = arith::RemUIOp::create(b, loc, rest, extents[d]);
      rest = arith::DivUIOp::create(b, loc, rest, extents[d]);
    }
    Value iv = arith::AddIOp::create(
        b, loc, loop.getLowerBound()[d],
        arith::MulIOp::create(b, loc, index, loop.getStep()[d]));
    map.map(loop.getInductionVars()[d], iv);
  }
  for (Operation &op : loop.getBody()->without_terminator())
    b.clone(op, map);
  // Loops inside run serially in their thread, as scf.for nests (a mapped
  // loop there would become a launch inside the kernel).
  SmallVector<scf::ParallelOp> nested;
  guard.thenBlock()->walk(
      [&](scf::ParallelOp inner) { nested.push_back(inner); });
  for (scf::ParallelOp inner : nested)
    serialize(inner);
  if (failed(gpu::setMappingAttr(grid,
                                 {dimMapping(ctx, gpu::Processor::BlockX)})) ||
      failed(gpu::setMappingAttr(block,
                                 {dimMapping(ctx, gpu::Processor::ThreadX)})))
    return loop.emitError("cannot map this loop to blocks of threads");
  loop.erase();
  return success();
}

struct MapParallelLoopsPass
    : public mlir::lowmem::impl::LowMemMapParallelLoopsBase<
          MapParallelLoopsPass> {
  void runOnOperation() override {
    SmallVector<scf::ParallelOp> outermost;
    getOperation().walk([&](scf::ParallelOp loop) {
      if (loop.getNumResults() == 0 && !holdsReduction(loop) &&
          !loop->getParentOfType<scf::ParallelOp>() &&
          !loop->getParentOfType<gpu::LaunchOp>() &&
          !loop->hasAttr(gpu::getMappingAttrName()))
        outermost.push_back(loop);
    });
    for (scf::ParallelOp loop : outermost)
      if (failed(flatten(loop)))
        return signalPassFailure();
  }
};

} // namespace
