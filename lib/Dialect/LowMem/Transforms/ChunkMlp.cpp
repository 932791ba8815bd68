//===- ChunkMlp.cpp - run gated MLPs a chunk of the sequence at a time ----===//
//
// Part of the lowmem project.
//
//===----------------------------------------------------------------------===//
//
// Turns the cluster of row-wise ops around each SwiGLU (forward) and its
// gradient (backward) into a loop over chunks of the sequence, so that the
// MLP's intermediate activations exist one chunk at a time.
//
//===----------------------------------------------------------------------===//

#include "lowmem/Dialect/LowMem/Transforms/Passes.h"

#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/IRMapping.h"
#include "llvm/ADT/SetVector.h"

namespace mlir::lowmem {
#define GEN_PASS_DEF_LOWMEMCHUNKMLP
#include "lowmem/Dialect/LowMem/Transforms/Passes.h.inc"
} // namespace mlir::lowmem

using namespace mlir;
using namespace mlir::lowmem;

namespace {

/// Ops whose every result row depends only on the same row of their row
/// operands (their other operands being weights).
bool isRowWise(Operation *op) {
  return isa<LinearOp, QLinearOp, LoraOp, SwiGluOp, SwiGluGradOp, ScaleOp,
             AddOp, ReluOp, ReluGradOp, RmsNormOp, RmsNormGradOp>(op);
}

/// Ops that sum a function of their row operands over every row.
bool isRowSum(Operation *op) { return isa<WeightGradOp, BiasGradOp>(op); }

/// The chunking of one function: `rank` is the rank of its row tensors.
class Chunker {
public:
  Chunker(func::FuncOp func, int64_t rows) : func(func), rows(rows) {}

  /// A tensor of `rank` dimensions whose leading ones are all dynamic.
  bool isRow(Value value, int64_t rank) const {
    auto type = dyn_cast<RankedTensorType>(value.getType());
    if (!type || type.getRank() != rank)
      return false;
    return llvm::all_of(type.getShape().drop_back(), ShapedType::isDynamic);
  }

  /// Grows the cluster of `seed` and chunks it; a remark says why not.
  void run(Operation *seed, DenseSet<Operation *> &seen);

private:
  LogicalResult grow(Operation *seed, llvm::SetVector<Operation *> &cluster,
                     int64_t &rank);
  LogicalResult check(ArrayRef<Operation *> cluster, int64_t rank);
  void chunk(ArrayRef<Operation *> cluster, int64_t rank);

  func::FuncOp func;
  int64_t rows;
};

LogicalResult Chunker::grow(Operation *seed,
                            llvm::SetVector<Operation *> &cluster,
                            int64_t &rank) {
  Block &body = func.getBody().front();
  auto seedType = cast<RankedTensorType>(seed->getResult(0).getType());
  rank = seedType.getRank();
  int64_t width = seedType.getShape().back();
  if (rank < 2 || ShapedType::isDynamic(width) ||
      !isRow(seed->getResult(0), rank))
    return seed->emitRemark("MLP not chunked: its result is not a row tensor "
                            "of static width");
  auto isWide = [&](Value v) {
    return isRow(v, rank) &&
           cast<RankedTensorType>(v.getType()).getShape().back() == width;
  };
  // Every op that produces or reads a wide row tensor, transitively.
  SmallVector<Operation *> worklist{seed};
  cluster.insert(seed);
  while (!worklist.empty()) {
    Operation *op = worklist.pop_back_val();
    auto visit = [&](Operation *other) -> LogicalResult {
      if (other->getBlock() != &body)
        return other->emitRemark("MLP not chunked: a wide value is used "
                                 "inside a region");
      if (cluster.insert(other))
        worklist.push_back(other);
      return success();
    };
    for (Value operand : op->getOperands())
      if (isWide(operand))
        if (Operation *def = operand.getDefiningOp())
          if (failed(visit(def)))
            return failure();
    for (Value result : op->getResults())
      if (isWide(result))
        for (Operation *user : result.getUsers())
          if (failed(visit(user)))
            return failure();
  }
  // Plus the ops on paths between two ops of the cluster: those reached
  // from the cluster that reach it again.
  DenseSet<Operation *> reached, reaching;
  for (Operation &op : body) {
    if (cluster.contains(&op))
      continue;
    for (Value operand : op.getOperands()) {
      Operation *def = operand.getDefiningOp();
      if (def && (cluster.contains(def) || reached.contains(def))) {
        reached.insert(&op);
        break;
      }
    }
  }
  for (Operation &op : llvm::reverse(body)) {
    if (cluster.contains(&op))
      continue;
    for (Operation *user : op.getUsers()) {
      Operation *top = body.findAncestorOpInBlock(*user);
      if (top && (cluster.contains(top) || reaching.contains(top))) {
        reaching.insert(&op);
        break;
      }
    }
  }
  for (Operation &op : body)
    if (reached.contains(&op) && reaching.contains(&op))
      cluster.insert(&op);
  return success();
}

LogicalResult Chunker::check(ArrayRef<Operation *> cluster, int64_t rank) {
  DenseSet<Operation *> members(cluster.begin(), cluster.end());
  for (Operation *op : cluster) {
    if (!isRowWise(op) && !isRowSum(op))
      return op->emitRemark("MLP not chunked: this op does not work row by "
                            "row");
    for (Value operand : op->getOperands()) {
      Operation *def = operand.getDefiningOp();
      if (isRow(operand, rank))
        continue;
      if (def && members.contains(def))
        return op->emitRemark("MLP not chunked: a sum over the rows is read "
                              "inside the MLP");
    }
    for (Value result : op->getResults()) {
      if (isRowSum(op))
        continue;
      if (!isRow(result, rank))
        return op->emitRemark("MLP not chunked: a result is not a row "
                              "tensor of rank ")
               << rank;
    }
  }
  return success();
}

void Chunker::chunk(ArrayRef<Operation *> cluster, int64_t rank) {
  Block &body = func.getBody().front();
  DenseSet<Operation *> members(cluster.begin(), cluster.end());
  Operation *last = cluster.back();
  Location loc = last->getLoc();

  // What enters (row tensors from outside) and what leaves (row results and
  // sums read outside).
  llvm::SetVector<Value> rowInputs;
  SmallVector<Value> rowOutputs, sums;
  for (Operation *op : cluster) {
    for (Value operand : op->getOperands()) {
      Operation *def = operand.getDefiningOp();
      if (isRow(operand, rank) && !(def && members.contains(def)))
        rowInputs.insert(operand);
    }
    for (Value result : op->getResults()) {
      bool usedOutside = llvm::any_of(result.getUsers(), [&](Operation *u) {
        return !members.contains(body.findAncestorOpInBlock(*u));
      });
      if (!usedOutside)
        continue;
      (isRowSum(op) ? sums : rowOutputs).push_back(result);
    }
  }

  OpBuilder b(last);
  Value reference = rowInputs.front();
  SmallVector<Value> dims;
  for (int64_t d = 0; d + 1 < rank; ++d)
    dims.push_back(tensor::DimOp::create(b, loc, reference, d));
  int64_t chunkDim = rank - 2;
  Value zero = arith::ConstantIndexOp::create(b, loc, 0);
  Value step = arith::ConstantIndexOp::create(b, loc, rows);
  Value upper = dims[chunkDim];

  SmallVector<Value> inits;
  for (Value out : rowOutputs) {
    auto type = cast<RankedTensorType>(out.getType());
    inits.push_back(tensor::EmptyOp::create(b, loc, type.getShape(),
                                            type.getElementType(), dims));
  }
  for (Value sum : sums) {
    auto type = cast<RankedTensorType>(sum.getType());
    Value empty = tensor::EmptyOp::create(b, loc, type.getShape(),
                                          type.getElementType(), ValueRange{});
    Value zeroF =
        arith::ConstantOp::create(b, loc, b.getZeroAttr(type.getElementType()));
    inits.push_back(
        linalg::FillOp::create(b, loc, ValueRange{zeroF}, ValueRange{empty})
            .getResult(0));
  }

  auto loop = scf::ForOp::create(
      b, loc, zero, upper, step, inits,
      [&](OpBuilder &lb, Location l, Value iv, ValueRange carried) {
        Value left = arith::SubIOp::create(lb, l, upper, iv);
        Value size = arith::MinSIOp::create(lb, l, step, left);
        // The chunk's offsets, sizes and strides for a row tensor of last
        // dimension `width`.
        auto window = [&](Value tensor, SmallVector<OpFoldResult> &offsets,
                          SmallVector<OpFoldResult> &sizes,
                          SmallVector<OpFoldResult> &strides) {
          auto type = cast<RankedTensorType>(tensor.getType());
          for (int64_t d = 0; d < rank; ++d) {
            offsets.push_back(d == chunkDim ? OpFoldResult(iv)
                                            : OpFoldResult(lb.getIndexAttr(0)));
            if (d == chunkDim)
              sizes.push_back(size);
            else if (d + 1 < rank)
              sizes.push_back(dims[d]);
            else
              sizes.push_back(lb.getIndexAttr(type.getShape().back()));
            strides.push_back(lb.getIndexAttr(1));
          }
        };
        IRMapping mapping;
        for (Value in : rowInputs) {
          SmallVector<OpFoldResult> offsets, sizes, strides;
          window(in, offsets, sizes, strides);
          Value slice = tensor::ExtractSliceOp::create(lb, l, in, offsets,
                                                       sizes, strides);
          // The clones keep the operand types: dynamic leading dimensions.
          if (slice.getType() != in.getType())
            slice = tensor::CastOp::create(lb, l, in.getType(), slice);
          mapping.map(in, slice);
        }
        for (Operation *op : cluster)
          lb.clone(*op, mapping);
        SmallVector<Value> yielded;
        for (auto [out, into] : llvm::zip(rowOutputs, carried)) {
          SmallVector<OpFoldResult> offsets, sizes, strides;
          window(out, offsets, sizes, strides);
          Value dest = tensor::ExtractSliceOp::create(lb, l, into, offsets,
                                                      sizes, strides);
          Value value = mapping.lookup(out);
          if (value.getType() != dest.getType())
            value = tensor::CastOp::create(lb, l, dest.getType(), value);
          Value written =
              linalg::CopyOp::create(lb, l, ValueRange{value}, ValueRange{dest})
                  .getResult(0);
          yielded.push_back(tensor::InsertSliceOp::create(
              lb, l, written, into, offsets, sizes, strides));
        }
        for (auto [sum, acc] :
             llvm::zip(sums, carried.drop_front(rowOutputs.size()))) {
          Value part = mapping.lookup(sum);
          yielded.push_back(linalg::AddOp::create(lb, l, ValueRange{acc, part},
                                                  ValueRange{acc})
                                .getResult(0));
        }
        scf::YieldOp::create(lb, l, yielded);
      });

  // Readers outside the cluster that come before the loop move after it,
  // in order, with what reads them in turn.
  DenseSet<Operation *> moved;
  SmallVector<Operation *> toMove;
  for (Operation *op = cluster.front(); op != loop.getOperation();
       op = op->getNextNode()) {
    if (members.contains(op))
      continue;
    // The op or anything in its regions reads the cluster or a moved op.
    bool reads = op->walk([&](Operation *inner) {
                     for (Value v : inner->getOperands())
                       if (Operation *def = v.getDefiningOp())
                         if (members.contains(def) || moved.contains(def))
                           return WalkResult::interrupt();
                     return WalkResult::advance();
                   }).wasInterrupted();
    if (reads) {
      moved.insert(op);
      toMove.push_back(op);
    }
  }
  Operation *after = loop;
  for (Operation *op : toMove) {
    op->moveAfter(after);
    after = op;
  }
  for (auto [out, result] :
       llvm::zip(llvm::concat<Value>(rowOutputs, sums), loop.getResults()))
    out.replaceUsesWithIf(result, [&](OpOperand &use) {
      return !members.contains(body.findAncestorOpInBlock(*use.getOwner()));
    });
  for (Operation *op : llvm::reverse(cluster))
    op->erase();
}

void Chunker::run(Operation *seed, DenseSet<Operation *> &seen) {
  llvm::SetVector<Operation *> grown;
  int64_t rank = 0;
  if (failed(grow(seed, grown, rank)))
    return;
  for (Operation *op : grown)
    seen.insert(op);
  // In block order: clones follow their operands.
  SmallVector<Operation *> cluster(grown.begin(), grown.end());
  llvm::sort(cluster,
             [](Operation *a, Operation *b) { return a->isBeforeInBlock(b); });
  if (failed(check(cluster, rank)))
    return;
  chunk(cluster, rank);
}

struct ChunkMlpPass
    : public mlir::lowmem::impl::LowMemChunkMlpBase<ChunkMlpPass> {
  using Base::Base;

  void runOnOperation() override {
    func::FuncOp func = getOperation();
    if (func.isExternal())
      return;
    if (rows <= 0) {
      func.emitError() << "lowmem-chunk-mlp: rows must be positive, got "
                       << static_cast<int64_t>(rows);
      return signalPassFailure();
    }
    if (!func.getBody().hasOneBlock())
      return;
    SmallVector<Operation *> seeds;
    for (Operation &op : func.getBody().front())
      if (isa<SwiGluOp, SwiGluGradOp>(op))
        seeds.push_back(&op);
    DenseSet<Operation *> seen;
    Chunker chunker(func, rows);
    for (Operation *seed : seeds)
      if (!seen.contains(seed))
        chunker.run(seed, seen);
  }
};

} // namespace
