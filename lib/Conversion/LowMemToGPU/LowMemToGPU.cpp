//===- LowMemToGPU.cpp - lowmem matrix products and norms as GPU kernels --===//
//
// Part of the lowmem project.
//
//===----------------------------------------------------------------------===//
//
// Lowers `lowmem.linear` and `lowmem.qlinear` (inputs of any rank >= 2, the
// leading dimensions being rows), `lowmem.group_norm` on rank-2 operands,
// and `lowmem.attention`, `lowmem.attention_grad`,
// `lowmem.linear_cross_entropy` and its gradient, `lowmem.rms_norm` and
// `lowmem.argmax` to hand-structured `gpu.launch` kernels, at the tensor
// level: the operands are read through `bufferization.to_buffer`, the
// result is a fresh `memref.alloc` (planned into the arena later) returned
// through a restricted `bufferization.to_tensor`.
//
// Matrix products (y = act(x · Wᵀ + bias) + residual, W of shape [N, K]):
// one warp per output feature n, and a tile of `batch-tile` input rows per
// warp. Each lane walks its row of W in 16-byte chunks (32 packed 4-bit
// codes, 16 int8 codes, 8 f16/bf16 values or 4 f32 values), decodes them in
// registers (the NF4/FP4 code table and the double quantization's dynamic
// map are staged in shared memory), and accumulates in f32; the warp sums
// its lanes with butterfly shuffles and lane 0 applies the whole epilogue
// (bias, activation, residual) before the single store. No decoded weight is
// ever stored anywhere. Rows whose byte length is not a multiple of 16 use
// the same kernel one element per lane at a time.
//
// Tiled products (from `tiled-from` rows on): one block of 256 threads for
// each 64 × 64 tile of y; at each step of 32 along k the block decodes its
// tile of W and loads its tile of x into shared memory (8 values a thread),
// then each thread accumulates 4 rows × 4 features from them.
//
// Transposed products (input gradients, y = x · W): each thread computes 4
// rows × 8 columns of y, walking the rows of W and decoding its 8 weights
// of each from one vector load for all 4 rows; the threads share nothing.
//
// group_norm: one block per (row, group); mean, then the variance around it
// (two passes, as the CPU backend), each a block reduction (warp shuffles,
// then one partial sum per warp in shared memory); then the affine
// normalization. rms_norm: one block per row, one such reduction.
//
// attention: each (batch row, query, head) streams its keys with an online
// softmax; from 8 queries on one warp a row (8 rows a block), below a block
// of 8 warps a row, each warp every 8th key, combined through shared
// memory. attention_grad: three kernels of one warp a row, for the rows'
// statistics, dq, and (per batch row, kv head, key) dk and dv.
// linear_cross_entropy and its gradient: one warp a row, streaming the
// weight's rows (runs of 8 decoded a lane). argmax: one block per row, a
// reduction of (value, index) pairs.
//
//===----------------------------------------------------------------------===//

#include "lowmem/Conversion/BuildUtils.h"
#include "lowmem/Conversion/MatrixProducts.h"
#include "lowmem/Conversion/Passes.h"
#include "lowmem/Conversion/WeightDecoder.h"
#include "lowmem/Dialect/LowMem/IR/LowMemOps.h"
#include "lowmem/Quant/Quant.h"

#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/PatternMatch.h"

#include <limits>

namespace mlir::lowmem {
#define GEN_PASS_DEF_CONVERTLOWMEMTOGPU
#include "lowmem/Conversion/Passes.h.inc"
} // namespace mlir::lowmem

using namespace mlir;
using namespace mlir::lowmem;

namespace {

namespace lq = ::lowmem::quant;

constexpr int64_t kWarpSize = 32;
/// Bytes of one vector load of weights.
constexpr int64_t kChunkBytes = 16;
/// Threads of a group_norm block.
constexpr int64_t kNormThreads = 256;
/// Warps of an attention block, each streaming every kAttentionWarps-th key.
constexpr int64_t kAttentionWarps = 8;

Value cI32(OpBuilder &b, Location loc, int32_t v) {
  return arith::ConstantOp::create(b, loc, b.getI32IntegerAttr(v));
}

MemRefType workgroupType(MLIRContext *ctx, int64_t size) {
  return MemRefType::get(
      {size}, Float32Type::get(ctx), MemRefLayoutAttrInterface(),
      gpu::AddressSpaceAttr::get(ctx, gpu::AddressSpace::Workgroup));
}

/// Thread `tid`'s lane in its warp, and its warp in the block.
std::pair<Value, Value> laneAndWarp(OpBuilder &b, Location loc, Value tid) {
  Value warpSize = indexConst(b, loc, kWarpSize);
  return {arith::RemUIOp::create(b, loc, tid, warpSize),
          arith::DivUIOp::create(b, loc, tid, warpSize)};
}

/// Sums `value` over the 32 lanes of a warp; every lane gets the total.
Value warpSum(OpBuilder &b, Location loc, Value value) {
  for (int32_t offset = kWarpSize / 2; offset > 0; offset /= 2) {
    auto shuffle = gpu::ShuffleOp::create(b, loc, value, offset, kWarpSize,
                                          gpu::ShuffleMode::XOR);
    value = arith::AddFOp::create(b, loc, value, shuffle.getShuffleResult());
  }
  return value;
}

/// Sums `value` over the block's threads through `partials` (one slot a
/// warp); every thread gets the same total, summed in the same order.
Value blockSum(OpBuilder &b, Location loc, Value value, Value partials,
               Value lane, Value warp, int64_t numWarps) {
  Value sum = warpSum(b, loc, value);
  Value isLeader = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, lane,
                                         indexConst(b, loc, 0));
  scf::IfOp::create(b, loc, isLeader, [&](OpBuilder &tb, Location tl) {
    memref::StoreOp::create(tb, tl, sum, partials, ValueRange{warp});
    scf::YieldOp::create(tb, tl);
  });
  gpu::BarrierOp::create(b, loc);
  Value total = memref::LoadOp::create(b, loc, partials,
                                       ValueRange{indexConst(b, loc, 0)});
  for (int64_t w = 1; w < numWarps; ++w)
    total = arith::AddFOp::create(
        b, loc, total,
        memref::LoadOp::create(b, loc, partials,
                               ValueRange{indexConst(b, loc, w)}));
  // The partials may be overwritten by the next reduction only once every
  // thread has read them.
  gpu::BarrierOp::create(b, loc);
  return total;
}

/// Launches `body(builder, blockId, threadId, workgroupBuffers)` on a 1-D
/// grid of `numBlocks` blocks of `numThreads` threads, unless the grid is
/// empty (an empty batch), which CUDA would reject. The kernel is named
/// `name` (its outlined function; the profile and ptxas name it so).
void launch1D(OpBuilder &b, Location loc, StringRef name, Value numBlocks,
              int64_t numThreads, ArrayRef<int64_t> workgroupSizes,
              function_ref<void(OpBuilder &, Location, Value, Value,
                                ArrayRef<BlockArgument>)>
                  body) {
  Value nonEmpty = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ugt,
                                         numBlocks, indexConst(b, loc, 0));
  scf::IfOp::create(b, loc, nonEmpty, [&](OpBuilder &ib, Location il) {
    Value one = indexConst(ib, il, 1);
    SmallVector<Type> workgroup;
    for (int64_t size : workgroupSizes)
      workgroup.push_back(workgroupType(ib.getContext(), size));
    auto launch = gpu::LaunchOp::create(
        ib, il, numBlocks, one, one, indexConst(ib, il, numThreads), one, one,
        /*dynamicSharedMemorySize=*/nullptr, /*asyncTokenType=*/nullptr,
        /*asyncDependencies=*/{}, workgroup);
    launch.setFunctionAttr(FlatSymbolRefAttr::get(ib.getContext(), name));
    OpBuilder kb = OpBuilder::atBlockBegin(&launch.getBody().front());
    body(kb, il, launch.getBlockIds().x, launch.getThreadIds().x,
         launch.getWorkgroupAttributions());
    gpu::TerminatorOp::create(kb, il);
    scf::YieldOp::create(ib, il);
  });
}

/// Emits the matrix-product kernel of one warp an output feature into
/// \p buffers' result.
void emitWarpLinearKernel(OpBuilder &b, Location loc, ModuleOp module,
                          const LinearOperands &ops,
                          const LinearBuffers &buffers, int64_t warpsPerBlock,
                          int64_t batchTile) {
  int64_t n = ops.n, k = ops.k;
  Value w = buffers.w, x = buffers.x, bias = buffers.bias;
  ArrayRef<Value> parts = buffers.parts;
  const Rows &rows = buffers.rows;
  Value m = rows.count;
  int64_t featureBlocks = llvm::divideCeilSigned(n, warpsPerBlock);
  Value batchBlocks = arith::DivUIOp::create(
      b, loc,
      arith::AddIOp::create(b, loc, m, indexConst(b, loc, batchTile - 1)),
      indexConst(b, loc, batchTile));
  Value numBlocks = arith::MulIOp::create(b, loc, batchBlocks,
                                          indexConst(b, loc, featureBlocks));

  // The tables the kernel stages in shared memory.
  bool quantized = ops.quantType.has_value();
  bool is4bit = weightBits(ops) == 4;
  DecoderTables tables = DecoderTables::of(module, ops);

  // Elements a lane decodes from one 16-byte load, if rows allow it.
  int64_t chunk = kChunkBytes * 8 / weightBits(ops);
  int64_t blockSize = is4bit ? ops.quantType->getBlockSize() : 0;
  bool vectorized = k % chunk == 0;
  if (is4bit && blockSize % chunk != 0 && chunk % blockSize != 0)
    vectorized = false;
  // 16-byte loads of x too: its rows must start on such a boundary.
  if (!wholeRows(ops.input))
    vectorized = false;
  if (!vectorized)
    chunk = 1;

  int64_t numThreads = warpsPerBlock * kWarpSize;
  launch1D(
      b, loc, "lowmem_linear", numBlocks, numThreads, tables.sharedSizes(),
      [&](OpBuilder &kb, Location kl, Value bid, Value tid,
          ArrayRef<BlockArgument> shared) {
        // Tables first: every thread reaches the barrier.
        tables.stage(kb, kl, shared, tid, numThreads);
        std::optional<WeightDecoder> decoder =
            tables.sharedDecoder(ops, parts, shared);

        Value lane, warp;
        std::tie(lane, warp) = laneAndWarp(kb, kl, tid);
        Value fb = indexConst(kb, kl, featureBlocks);
        Value feature = arith::AddIOp::create(
            kb, kl,
            arith::MulIOp::create(kb, kl,
                                  arith::RemUIOp::create(kb, kl, bid, fb),
                                  indexConst(kb, kl, warpsPerBlock)),
            warp);
        Value m0 = arith::MulIOp::create(
            kb, kl, arith::DivUIOp::create(kb, kl, bid, fb),
            indexConst(kb, kl, batchTile));
        Value inRange = arith::CmpIOp::create(kb, kl, arith::CmpIPredicate::ult,
                                              feature, indexConst(kb, kl, n));
        scf::IfOp::create(kb, kl, inRange, [&](OpBuilder &ib, Location il) {
          // The rows of x this warp reads.
          SmallVector<SmallVector<Value>> tileRows =
              buffers.tileRows(ib, il, m0, batchTile);
          Value flatRow =
              arith::MulIOp::create(ib, il, feature, indexConst(ib, il, k));
          auto decodeChunk = [&](OpBuilder &cb, Location cl,
                                 Value k0) -> SmallVector<Value> {
            if (chunk > 1)
              return decodeRun(cb, cl, ops, decoder, w, parts, feature, k0,
                               flatRow, chunk);
            if (!quantized)
              return {
                  memref::LoadOp::create(cb, cl, w, ValueRange{feature, k0})};
            return {decoder->decode(cb, cl, ValueRange{feature, k0})};
          };

          // Each lane: chunks lane, lane + 32, ... of the row.
          Value zero = f32Const(ib, il, 0.0f);
          SmallVector<Value> init(batchTile, zero);
          Value start =
              arith::MulIOp::create(ib, il, lane, indexConst(ib, il, chunk));
          auto loop = scf::ForOp::create(
              ib, il, start, indexConst(ib, il, k),
              indexConst(ib, il, chunk * kWarpSize), init,
              [&](OpBuilder &lb, Location ll, Value k0, ValueRange accs) {
                SmallVector<Value> weights = decodeChunk(lb, ll, k0);
                SmallVector<Value> next;
                for (int64_t t = 0; t < batchTile; ++t) {
                  SmallVector<Value> xs;
                  SmallVector<Value> at(tileRows[t]);
                  at.push_back(k0);
                  if (chunk == 1)
                    xs.push_back(memref::LoadOp::create(lb, ll, x, at));
                  else
                    xs = loadRun(lb, ll, x, at, chunk, kChunkBytes);
                  Value acc = accs[t];
                  for (int64_t i = 0; i < chunk; ++i)
                    acc = arith::AddFOp::create(
                        lb, ll, acc,
                        arith::MulFOp::create(lb, ll, xs[i], weights[i]));
                  next.push_back(acc);
                }
                scf::YieldOp::create(lb, ll, next);
              });
          SmallVector<Value> sums;
          for (Value acc : loop.getResults())
            sums.push_back(warpSum(ib, il, acc));

          // Lane 0: the epilogue and the store of each valid row.
          Value isLeader = arith::CmpIOp::create(
              ib, il, arith::CmpIPredicate::eq, lane, indexConst(ib, il, 0));
          scf::IfOp::create(ib, il, isLeader, [&](OpBuilder &eb, Location el) {
            Value biasValue =
                bias ? memref::LoadOp::create(eb, el, bias, ValueRange{feature})
                           .getResult()
                     : Value();
            buffers.forValidRows(eb, el, m0, batchTile,
                                 [&](OpBuilder &sb, Location sl, int64_t t,
                                     SmallVector<Value> at) {
                                   at.push_back(feature);
                                   buffers.store(sb, sl, ops, sums[t],
                                                 biasValue, at);
                                 });
            scf::YieldOp::create(eb, el);
          });
          scf::YieldOp::create(ib, il);
        });
      });
}

/// Rows and output features of a tiled product's block, and the depth of
/// each step along k.
constexpr int64_t kTileRows = 64, kTileCols = 64, kTileDepth = 32;
/// Threads of a tiled product's block, 16 × 16, each computing 4 rows × 4
/// features; and the run of a row of x or W each loads into shared memory
/// at each step.
constexpr int64_t kTileThreads = 256, kTileThreadRows = 4, kTileThreadCols = 4,
                  kTileRun = 8;
/// Depths of a tile a thread's inner loop takes an iteration.
constexpr int64_t kTileUnroll = 4;

/// Whether the tiled kernel takes \p ops: whole steps along k, at least a
/// tile of features, runs of 8 weights that a 4-bit block never splits.
bool fitsTiledKernel(const LinearOperands &ops) {
  return ops.k % kTileDepth == 0 && ops.n >= kTileCols &&
         blocksHoldRuns(ops, kTileRun);
}

/// Emits the tiled matrix-product kernel into \p buffers' result: one block
/// of 256 threads for each kTileRows × kTileCols tile of y. At each step
/// along k, every thread loads one run of 8 inputs of one row of x and
/// decodes one run of 8 weights of one row of W (one vector load), storing
/// both transposed in shared memory; after a barrier, each thread
/// accumulates its 4 × 4 outputs from the shared tiles (two 16-byte loads
/// a depth), and a second barrier frees the tiles. Each weight is decoded
/// once a block, for 64 rows, where the warp kernel decodes it once for
/// every `batch-tile` rows; the epilogue is the warp kernel's.
void emitTiledLinearKernel(OpBuilder &b, Location loc, ModuleOp module,
                           const LinearOperands &ops,
                           const LinearBuffers &buffers) {
  int64_t n = ops.n, k = ops.k;
  Value w = buffers.w, x = buffers.x;
  ArrayRef<Value> parts = buffers.parts;
  const Rows &rows = buffers.rows;
  Value m = rows.count;
  int64_t featureTiles = llvm::divideCeilSigned(n, kTileCols);
  Value rowTiles =
      arith::CeilDivUIOp::create(b, loc, m, indexConst(b, loc, kTileRows));
  Value numBlocks =
      arith::MulIOp::create(b, loc, rowTiles, indexConst(b, loc, featureTiles));
  DecoderTables tables = DecoderTables::of(module, ops);
  bool vectorX = wholeRows(ops.input);

  launch1D(
      b, loc, "lowmem_linear_tiled", numBlocks, kTileThreads,
      {kTileDepth * kTileRows, kTileDepth * kTileCols},
      [&](OpBuilder &kb, Location kl, Value bid, Value tid,
          ArrayRef<BlockArgument> shared) {
        Value xs = shared[0], ws = shared[1];
        auto c = [&](int64_t v) { return indexConst(kb, kl, v); };
        Value fTiles = c(featureTiles);
        Value m0 = arith::MulIOp::create(
            kb, kl, arith::DivUIOp::create(kb, kl, bid, fTiles), c(kTileRows));
        Value n0 = arith::MulIOp::create(
            kb, kl, arith::RemUIOp::create(kb, kl, bid, fTiles), c(kTileCols));
        std::optional<WeightDecoder> decoder =
            tables.decoder(kb, kl, ops, parts);

        // What this thread loads: run `loadCol` of row `loadLine` of the x
        // tile (clamped to the last row: a partial tile's extra rows are
        // discarded) and of the W tile (zero past the last feature).
        int64_t runsPerLine = kTileDepth / kTileRun;
        Value loadLine = arith::DivUIOp::create(kb, kl, tid, c(runsPerLine));
        Value loadCol = arith::MulIOp::create(
            kb, kl, arith::RemUIOp::create(kb, kl, tid, c(runsPerLine)),
            c(kTileRun));
        SmallVector<Value> xRow = buffers.tileRows(
            kb, kl, arith::AddIOp::create(kb, kl, m0, loadLine), 1)[0];
        Value feature = arith::AddIOp::create(kb, kl, n0, loadLine);
        Value hasFeature = arith::CmpIOp::create(
            kb, kl, arith::CmpIPredicate::ult, feature, c(n));
        Value flatRow = arith::MulIOp::create(kb, kl, feature, c(k));
        // What it computes: rows ty·4.., features tx·4.. of the tile.
        int64_t threadCols = kTileCols / kTileThreadCols;
        Value ty = arith::DivUIOp::create(kb, kl, tid, c(threadCols));
        Value tx = arith::RemUIOp::create(kb, kl, tid, c(threadCols));
        Value myRow = arith::MulIOp::create(kb, kl, ty, c(kTileThreadRows));
        Value myCol = arith::MulIOp::create(kb, kl, tx, c(kTileThreadCols));

        // Stores run values transposed: element i at [loadCol + i, line].
        auto storeRun = [&](OpBuilder &sb, Location sl, Value tile,
                            int64_t lineSize, ArrayRef<Value> values) {
          for (auto [i, v] : llvm::enumerate(values)) {
            Value depth = arith::AddIOp::create(
                sb, sl, loadCol, indexConst(sb, sl, static_cast<int64_t>(i)));
            Value at = arith::AddIOp::create(
                sb, sl,
                arith::MulIOp::create(sb, sl, depth,
                                      indexConst(sb, sl, lineSize)),
                loadLine);
            memref::StoreOp::create(sb, sl, v, tile, ValueRange{at});
          }
        };
        int64_t outputs = kTileThreadRows * kTileThreadCols;
        SmallVector<Value> init(outputs, f32Const(kb, kl, 0.0f));
        auto steps = scf::ForOp::create(
            kb, kl, c(0), c(k), c(kTileDepth), init,
            [&](OpBuilder &lb, Location ll, Value k0, ValueRange accs) {
              Value col0 = arith::AddIOp::create(lb, ll, k0, loadCol);
              // The run of x.
              SmallVector<Value> at(xRow);
              at.push_back(col0);
              SmallVector<Value> xRun;
              if (vectorX) {
                xRun = loadRun(lb, ll, x, at, kTileRun, kChunkBytes);
              } else {
                for (int64_t i = 0; i < kTileRun; ++i) {
                  at.back() = arith::AddIOp::create(lb, ll, col0,
                                                    indexConst(lb, ll, i));
                  xRun.push_back(memref::LoadOp::create(lb, ll, x, at));
                }
              }
              storeRun(lb, ll, xs, kTileRows, xRun);
              // The run of W, decoded.
              auto decoded = scf::IfOp::create(
                  lb, ll, hasFeature,
                  [&](OpBuilder &tb, Location tl) {
                    scf::YieldOp::create(tb, tl,
                                         decodeRun(tb, tl, ops, decoder, w,
                                                   parts, feature, col0,
                                                   flatRow, kTileRun));
                  },
                  [&](OpBuilder &eb, Location el) {
                    scf::YieldOp::create(
                        eb, el,
                        SmallVector<Value>(kTileRun, f32Const(eb, el, 0.0f)));
                  });
              SmallVector<Value> wRun(decoded.getResults());
              storeRun(lb, ll, ws, kTileCols, wRun);
              gpu::BarrierOp::create(lb, ll);

              // Along the depth, kTileUnroll steps an iteration.
              auto depths = scf::ForOp::create(
                  lb, ll, indexConst(lb, ll, 0), indexConst(lb, ll, kTileDepth),
                  indexConst(lb, ll, kTileUnroll), accs,
                  [&](OpBuilder &db, Location dl, Value d0, ValueRange sums) {
                    SmallVector<Value> next(sums);
                    for (int64_t u = 0; u < kTileUnroll; ++u) {
                      Value d = arith::AddIOp::create(db, dl, d0,
                                                      indexConst(db, dl, u));
                      auto line = [&](Value tile, int64_t lineSize, Value first,
                                      int64_t count) {
                        Value at = arith::AddIOp::create(
                            db, dl,
                            arith::MulIOp::create(db, dl, d,
                                                  indexConst(db, dl, lineSize)),
                            first);
                        return loadRun(db, dl, tile, at, count, count * 4);
                      };
                      SmallVector<Value> as =
                          line(xs, kTileRows, myRow, kTileThreadRows);
                      SmallVector<Value> bs =
                          line(ws, kTileCols, myCol, kTileThreadCols);
                      for (int64_t r = 0; r < kTileThreadRows; ++r)
                        for (int64_t q = 0; q < kTileThreadCols; ++q) {
                          Value &sum = next[r * kTileThreadCols + q];
                          sum = arith::AddFOp::create(
                              db, dl, sum,
                              arith::MulFOp::create(db, dl, as[r], bs[q]));
                        }
                    }
                    scf::YieldOp::create(db, dl, next);
                  });
              gpu::BarrierOp::create(lb, ll);
              scf::YieldOp::create(lb, ll, depths.getResults());
            });

        // The epilogue and the store of each valid row and feature.
        Value rowBase = arith::AddIOp::create(kb, kl, m0, myRow);
        buffers.forValidRows(
            kb, kl, rowBase, kTileThreadRows,
            [&](OpBuilder &sb, Location sl, int64_t r, SmallVector<Value> at) {
              at.push_back(Value());
              for (int64_t q = 0; q < kTileThreadCols; ++q) {
                Value col = arith::AddIOp::create(
                    sb, sl, arith::AddIOp::create(sb, sl, n0, myCol),
                    indexConst(sb, sl, q));
                Value inside =
                    arith::CmpIOp::create(sb, sl, arith::CmpIPredicate::ult,
                                          col, indexConst(sb, sl, n));
                scf::IfOp::create(
                    sb, sl, inside, [&](OpBuilder &qb, Location ql) {
                      at.back() = col;
                      buffers.storeFeature(
                          qb, ql, ops, steps.getResult(r * kTileThreadCols + q),
                          at);
                      scf::YieldOp::create(qb, ql);
                    });
              }
            });
      });
}

/// Emits a matrix product and returns the result tensor: the tiled kernel
/// from \p tiledFrom rows on (if it takes the product; 0: never), the warp
/// kernel below, the choice made on the host when rows are dynamic.
Value emitLinearKernel(OpBuilder &b, Location loc, ModuleOp module,
                       const LinearOperands &ops, int64_t warpsPerBlock,
                       int64_t batchTile, int64_t tiledFrom) {
  LinearBuffers buffers = LinearBuffers::read(b, loc, ops);
  if (tiledFrom <= 0 || !fitsTiledKernel(ops)) {
    emitWarpLinearKernel(b, loc, module, ops, buffers, warpsPerBlock,
                         batchTile);
    return buffers.result(b, loc);
  }
  Value many =
      arith::CmpIOp::create(b, loc, arith::CmpIPredicate::uge,
                            buffers.rows.count, indexConst(b, loc, tiledFrom));
  scf::IfOp::create(
      b, loc, many,
      [&](OpBuilder &tb, Location tl) {
        emitTiledLinearKernel(tb, tl, module, ops, buffers);
        scf::YieldOp::create(tb, tl);
      },
      [&](OpBuilder &eb, Location el) {
        emitWarpLinearKernel(eb, el, module, ops, buffers, warpsPerBlock,
                             batchTile);
        scf::YieldOp::create(eb, el);
      });
  return buffers.result(b, loc);
}

/// Output columns a thread of the transposed product computes: one 4-byte
/// load of 4-bit codes, 8 of int8, 16 of f16/bf16, 32 of f32.
constexpr int64_t kTransposedCols = 8;
/// Input rows a thread of the transposed product computes.
constexpr int64_t kTransposedRows = 4;
/// Threads of a transposed product's block.
constexpr int64_t kTransposedThreads = 256;

/// Whether the transposed-product kernel takes \p ops: whole runs of
/// kTransposedCols columns, which a 4-bit block never splits.
bool fitsTransposedKernel(const LinearOperands &ops) {
  return ops.n % kTransposedCols == 0 && blocksHoldRuns(ops, kTransposedCols);
}

/// Emits the transposed product y = act(x · W + bias) + residual, W of
/// shape [K, N] (the input gradient of a linear layer: x is the output's
/// gradient), and returns the result tensor. Each thread computes
/// kTransposedRows rows × kTransposedCols columns of y: it walks the K rows
/// of W, decoding its kTransposedCols weights of each row once, from one
/// vector load, for all its rows; neighbouring threads take neighbouring
/// columns, so a warp's loads of W are coalesced and its loads of x the
/// same address. The threads share nothing (tables are read from constant
/// globals, not staged).
Value emitTransposedLinearKernel(OpBuilder &b, Location loc, ModuleOp module,
                                 const LinearOperands &ops) {
  int64_t k = ops.k, n = ops.n;
  LinearBuffers buffers = LinearBuffers::read(b, loc, ops);
  Value w = buffers.w, x = buffers.x;
  ArrayRef<Value> parts = buffers.parts;
  const Rows &rows = buffers.rows;
  Value m = rows.count;

  int64_t colRuns = n / kTransposedCols;
  Value rowTiles = arith::CeilDivUIOp::create(
      b, loc, m, indexConst(b, loc, kTransposedRows));
  Value total =
      arith::MulIOp::create(b, loc, rowTiles, indexConst(b, loc, colRuns));
  Value numBlocks = arith::CeilDivUIOp::create(
      b, loc, total, indexConst(b, loc, kTransposedThreads));

  DecoderTables tables = DecoderTables::of(module, ops);

  launch1D(
      b, loc, "lowmem_linear_transposed", numBlocks, kTransposedThreads, {},
      [&](OpBuilder &kb, Location kl, Value bid, Value tid,
          ArrayRef<BlockArgument>) {
        Value flat = arith::AddIOp::create(
            kb, kl,
            arith::MulIOp::create(kb, kl, bid,
                                  indexConst(kb, kl, kTransposedThreads)),
            tid);
        Value inside = arith::CmpIOp::create(kb, kl, arith::CmpIPredicate::ult,
                                             flat, total);
        scf::IfOp::create(kb, kl, inside, [&](OpBuilder &ib, Location il) {
          Value runs = indexConst(ib, il, colRuns);
          Value col0 = arith::MulIOp::create(
              ib, il, arith::RemUIOp::create(ib, il, flat, runs),
              indexConst(ib, il, kTransposedCols));
          Value m0 = arith::MulIOp::create(
              ib, il, arith::DivUIOp::create(ib, il, flat, runs),
              indexConst(ib, il, kTransposedRows));
          std::optional<WeightDecoder> decoder =
              tables.decoder(ib, il, ops, parts);
          SmallVector<SmallVector<Value>> tileRows =
              buffers.tileRows(ib, il, m0, kTransposedRows);
          SmallVector<Value> init(kTransposedRows * kTransposedCols,
                                  f32Const(ib, il, 0.0f));
          auto loop = scf::ForOp::create(
              ib, il, indexConst(ib, il, 0), indexConst(ib, il, k),
              indexConst(ib, il, 1), init,
              [&](OpBuilder &lb, Location ll, Value row, ValueRange accs) {
                Value flatRow =
                    arith::MulIOp::create(lb, ll, row, indexConst(lb, ll, n));
                SmallVector<Value> weights =
                    decodeRun(lb, ll, ops, decoder, w, parts, row, col0,
                              flatRow, kTransposedCols);
                SmallVector<Value> next;
                for (int64_t t = 0; t < kTransposedRows; ++t) {
                  SmallVector<Value> at(tileRows[t]);
                  at.push_back(row);
                  Value xv = memref::LoadOp::create(lb, ll, x, at);
                  for (int64_t c = 0; c < kTransposedCols; ++c)
                    next.push_back(arith::AddFOp::create(
                        lb, ll, accs[t * kTransposedCols + c],
                        arith::MulFOp::create(lb, ll, xv, weights[c])));
                }
                scf::YieldOp::create(lb, ll, next);
              });

          // The epilogue and the store of each valid row.
          buffers.forValidRows(
              ib, il, m0, kTransposedRows,
              [&](OpBuilder &sb, Location sl, int64_t t,
                  SmallVector<Value> at) {
                at.push_back(Value());
                for (int64_t c = 0; c < kTransposedCols; ++c) {
                  Value col = arith::AddIOp::create(sb, sl, col0,
                                                    indexConst(sb, sl, c));
                  at.back() = col;
                  buffers.storeFeature(
                      sb, sl, ops, loop.getResult(t * kTransposedCols + c), at);
                }
              });
          scf::YieldOp::create(ib, il);
        });
      });
  return buffers.result(b, loc);
}

Value emitGroupNormKernel(OpBuilder &b, Location loc, GroupNormOp op) {
  RankedTensorType type = op.getType();
  int64_t channels = type.getDimSize(1);
  int64_t groups = op.getNumGroups();
  int64_t groupSize = channels / groups;
  Type f32 = b.getF32Type();
  Value x = readBuffer(b, loc, op.getInput());
  Value gamma = readBuffer(b, loc, op.getGamma());
  Value beta = readBuffer(b, loc, op.getBeta());
  Value m = type.isDynamicDim(0)
                ? tensor::DimOp::create(b, loc, op.getInput(), 0).getResult()
                : indexConst(b, loc, type.getDimSize(0));
  auto outType = MemRefType::get(type.getShape(), f32);
  SmallVector<Value> dynSizes;
  if (type.isDynamicDim(0))
    dynSizes.push_back(m);
  Value out = memref::AllocOp::create(b, loc, outType, dynSizes,
                                      b.getI64IntegerAttr(64));
  Value numBlocks =
      arith::MulIOp::create(b, loc, m, indexConst(b, loc, groups));
  int64_t numWarps = kNormThreads / kWarpSize;
  float eps = static_cast<float>(op.getEpsilon().convertToDouble());
  launch1D(
      b, loc, "lowmem_group_norm", numBlocks, kNormThreads, {numWarps},
      [&](OpBuilder &kb, Location kl, Value bid, Value tid,
          ArrayRef<BlockArgument> shared) {
        Value lane, warp;
        std::tie(lane, warp) = laneAndWarp(kb, kl, tid);
        Value g = indexConst(kb, kl, groups);
        Value row = arith::DivUIOp::create(kb, kl, bid, g);
        Value base = arith::MulIOp::create(
            kb, kl, arith::RemUIOp::create(kb, kl, bid, g),
            indexConst(kb, kl, groupSize));
        Value end = indexConst(kb, kl, groupSize);
        Value step = indexConst(kb, kl, kNormThreads);
        Value invCount = f32Const(kb, kl, 1.0f / float(groupSize));
        auto threadSum =
            [&](function_ref<Value(OpBuilder &, Location, Value)> term) {
              auto loop = scf::ForOp::create(
                  kb, kl, tid, end, step, ValueRange{f32Const(kb, kl, 0.0f)},
                  [&](OpBuilder &fb, Location fl, Value c, ValueRange acc) {
                    Value v = memref::LoadOp::create(
                        fb, fl, x,
                        ValueRange{row,
                                   arith::AddIOp::create(fb, fl, base, c)});
                    scf::YieldOp::create(fb, fl,
                                         ValueRange{arith::AddFOp::create(
                                             fb, fl, acc[0], term(fb, fl, v))});
                  });
              return blockSum(kb, kl, loop.getResult(0), shared[0], lane, warp,
                              numWarps);
            };
        Value mean = arith::MulFOp::create(
            kb, kl, threadSum([](OpBuilder &, Location, Value v) { return v; }),
            invCount);
        Value sqSum = threadSum([&](OpBuilder &fb, Location fl, Value v) {
          Value d = arith::SubFOp::create(fb, fl, v, mean);
          return arith::MulFOp::create(fb, fl, d, d).getResult();
        });
        Value var = arith::MulFOp::create(kb, kl, sqSum, invCount);
        // Correctly rounded (sqrt.rn.f32 through lowmem-gpu-math).
        Value denom = math::SqrtOp::create(
            kb, kl, arith::AddFOp::create(kb, kl, var, f32Const(kb, kl, eps)));
        scf::ForOp::create(
            kb, kl, tid, end, step, ValueRange{},
            [&](OpBuilder &fb, Location fl, Value c, ValueRange) {
              Value col = arith::AddIOp::create(fb, fl, base, c);
              Value v = memref::LoadOp::create(fb, fl, x, ValueRange{row, col});
              Value norm = arith::DivFOp::create(
                  fb, fl, arith::SubFOp::create(fb, fl, v, mean), denom);
              Value scaled = arith::MulFOp::create(
                  fb, fl, norm, memref::LoadOp::create(fb, fl, gamma, col));
              Value y = arith::AddFOp::create(
                  fb, fl, scaled, memref::LoadOp::create(fb, fl, beta, col));
              memref::StoreOp::create(fb, fl, y, out, ValueRange{row, col});
              scf::YieldOp::create(fb, fl);
            });
      });
  return bufferization::ToTensorOp::create(
      b, loc, RankedTensorType::get(type.getShape(), f32), out, b.getUnitAttr(),
      b.getUnitAttr());
}

/// Warps of a block that launchWarpRows gives one row each.
constexpr int64_t kRowWarps = 8;

/// Launches `body(builder, row, lane, workgroupBuffers)` for each of
/// `numRows` rows, one warp a row, kRowWarps neighbouring rows a block; a
/// warp past the last row does nothing. `prologue(builder, threadId,
/// workgroupBuffers)`, if given, runs first in every thread (staging tables
/// in shared memory, say; it ends with its own barrier). The kernel is
/// named `name`.
void launchWarpRows(
    OpBuilder &b, Location loc, StringRef name, Value numRows,
    ArrayRef<int64_t> workgroupSizes,
    function_ref<void(OpBuilder &, Location, Value, ArrayRef<BlockArgument>)>
        prologue,
    function_ref<void(OpBuilder &, Location, Value, Value,
                      ArrayRef<BlockArgument>)>
        body) {
  Value numBlocks = arith::DivUIOp::create(
      b, loc,
      arith::AddIOp::create(b, loc, numRows, indexConst(b, loc, kRowWarps - 1)),
      indexConst(b, loc, kRowWarps));
  launch1D(
      b, loc, name, numBlocks, kRowWarps * kWarpSize, workgroupSizes,
      [&](OpBuilder &kb, Location kl, Value bid, Value tid,
          ArrayRef<BlockArgument> shared) {
        if (prologue)
          prologue(kb, kl, tid, shared);
        Value lane, warp;
        std::tie(lane, warp) = laneAndWarp(kb, kl, tid);
        Value row = arith::AddIOp::create(
            kb, kl,
            arith::MulIOp::create(kb, kl, bid, indexConst(kb, kl, kRowWarps)),
            warp);
        Value inRange = arith::CmpIOp::create(kb, kl, arith::CmpIPredicate::ult,
                                              row, numRows);
        scf::IfOp::create(kb, kl, inRange, [&](OpBuilder &ib, Location il) {
          body(ib, il, row, lane, shared);
          scf::YieldOp::create(ib, il);
        });
      });
}

/// launchWarpRows without shared memory.
void launchWarpRows(
    OpBuilder &b, Location loc, StringRef name, Value numRows,
    function_ref<void(OpBuilder &, Location, Value, Value)> body) {
  launchWarpRows(b, loc, name, numRows, {}, nullptr,
                 [&](OpBuilder &kb, Location kl, Value row, Value lane,
                     ArrayRef<BlockArgument>) { body(kb, kl, row, lane); });
}

/// The slots a lane of a warp holds among `count` things: lane l holds
/// l, l + 32, ... Past the last one, a lane holds the last instead, and
/// `valid` (else null) says it holds none there.
struct LaneSlots {
  SmallVector<Value> offsets, valid;

  LaneSlots(OpBuilder &b, Location loc, Value lane, int64_t count) {
    for (int64_t j = 0; j * kWarpSize < count; ++j) {
      Value i = arith::AddIOp::create(b, loc, lane,
                                      indexConst(b, loc, j * kWarpSize));
      Value held;
      if ((j + 1) * kWarpSize > count) {
        held = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult, i,
                                     indexConst(b, loc, count));
        i = arith::MinUIOp::create(b, loc, i, indexConst(b, loc, count - 1));
      }
      offsets.push_back(i);
      valid.push_back(held);
    }
  }

  /// Calls `body` for each slot j the lane holds (under an `scf.if` where
  /// it may hold none).
  void
  forEachHeld(OpBuilder &b, Location loc,
              function_ref<void(OpBuilder &, Location, int64_t)> body) const {
    for (int64_t j = 0; j < static_cast<int64_t>(offsets.size()); ++j) {
      if (!valid[j]) {
        body(b, loc, j);
        continue;
      }
      scf::IfOp::create(b, loc, valid[j], [&](OpBuilder &ib, Location il) {
        body(ib, il, j);
        scf::YieldOp::create(ib, il);
      });
    }
  }
};

/// The lanes' share of one attention head of `headDim` elements
/// (LaneSlots): lane l holds elements l, l + 32, ...
struct HeadLanes : LaneSlots {
  HeadLanes(OpBuilder &b, Location loc, Value lane, int64_t headDim)
      : LaneSlots(b, loc, lane, headDim) {}

  int64_t size() const { return offsets.size(); }

  /// The lane's elements of `buffer[bi, row, base + ...]`, widened to f32;
  /// with `masked`, 0 where the lane holds none, so that they weigh nothing
  /// in a dot product.
  SmallVector<Value> load(OpBuilder &b, Location loc, Value buffer, Value bi,
                          Value row, Value base, bool masked) const {
    SmallVector<Value> values;
    for (int64_t j = 0; j < size(); ++j) {
      Value c = arith::AddIOp::create(b, loc, base, offsets[j]);
      Value x = widenToF32(
          b, loc,
          memref::LoadOp::create(b, loc, buffer, ValueRange{bi, row, c}));
      if (masked && valid[j])
        x = arith::SelectOp::create(b, loc, valid[j], x,
                                    f32Const(b, loc, 0.0f));
      values.push_back(x);
    }
    return values;
  }

  /// Stores the lane's `values` of a head row at `buffer[bi, row, base +
  /// ...]`, each times `factor` if given.
  void store(OpBuilder &b, Location loc, ValueRange values, Value buffer,
             Value bi, Value row, Value base, Value factor) const {
    forEachHeld(b, loc, [&](OpBuilder &sb, Location sl, int64_t j) {
      Value x =
          factor ? arith::MulFOp::create(sb, sl, values[j], factor).getResult()
                 : values[j];
      memref::StoreOp::create(
          sb, sl, x, buffer,
          ValueRange{bi, row, arith::AddIOp::create(sb, sl, base, offsets[j])});
    });
  }

  /// Stores the lane's `values` of a head row into the workgroup buffer
  /// `rows` at row `row` (rows of `headDim`).
  void storeRow(OpBuilder &b, Location loc, ArrayRef<Value> values, Value rows,
                Value row, int64_t headDim) const {
    Value base =
        arith::MulIOp::create(b, loc, row, indexConst(b, loc, headDim));
    forEachHeld(b, loc, [&](OpBuilder &sb, Location sl, int64_t j) {
      memref::StoreOp::create(
          sb, sl, values[j], rows,
          ValueRange{arith::AddIOp::create(sb, sl, base, offsets[j])});
    });
  }
};

/// Σ_j a_j · c_j: one lane's share of a dot product.
Value laneDot(OpBuilder &b, Location loc, ArrayRef<Value> a,
              ArrayRef<Value> c) {
  Value sum = f32Const(b, loc, 0.0f);
  for (auto [x, y] : llvm::zip_equal(a, c))
    sum =
        arith::AddFOp::create(b, loc, sum, arith::MulFOp::create(b, loc, x, y));
  return sum;
}

/// acc_j · factor + weight · x_j for each j (null `factor`: acc_j +
/// weight · x_j).
SmallVector<Value> axpy(OpBuilder &b, Location loc, ValueRange acc,
                        Value factor, Value weight, ArrayRef<Value> x) {
  SmallVector<Value> next;
  for (auto [a, xi] : llvm::zip_equal(acc, x)) {
    Value kept =
        factor ? arith::MulFOp::create(b, loc, a, factor).getResult() : a;
    next.push_back(arith::AddFOp::create(
        b, loc, kept, arith::MulFOp::create(b, loc, weight, xi)));
  }
  return next;
}

/// For each column d of a head (the block's threads in turn), the sum of
/// the warps' rows of the workgroup buffer `rows`, row w weighted by
/// `weights[w]`, passed to `store`.
void sumWarpRows(
    OpBuilder &b, Location loc, Value rows, ArrayRef<Value> weights,
    int64_t headDim, Value tid, int64_t numThreads,
    function_ref<void(OpBuilder &, Location, Value, Value)> store) {
  scf::ForOp::create(
      b, loc, tid, indexConst(b, loc, headDim), indexConst(b, loc, numThreads),
      ValueRange{}, [&](OpBuilder &fb, Location fl, Value d, ValueRange) {
        Value sum = f32Const(fb, fl, 0.0f);
        for (auto [w, weight] : llvm::enumerate(weights)) {
          Value at = arith::AddIOp::create(
              fb, fl, indexConst(fb, fl, static_cast<int64_t>(w) * headDim), d);
          Value x = memref::LoadOp::create(fb, fl, rows, at);
          sum = arith::AddFOp::create(fb, fl, sum,
                                      arith::MulFOp::create(fb, fl, x, weight));
        }
        store(fb, fl, d, sum);
        scf::YieldOp::create(fb, fl);
      });
}

/// The warps' online softmaxes of one row combined: each warp's running
/// maximum and sum are in the workgroup buffers `maxima` and `sums`. Each
/// warp's share is weighted by exp(m_w - max m); a warp that saw no key
/// (m_w = -inf) weighs 0. Returns max m, the weights and the total.
struct CombinedSoftmax {
  Value maximum, total;
  SmallVector<Value> weights;
};
CombinedSoftmax combineWarpSoftmaxes(OpBuilder &b, Location loc, Value maxima,
                                     Value sums, int64_t numWarps) {
  Value zero = f32Const(b, loc, 0.0f);
  Value negInf = f32Const(b, loc, -std::numeric_limits<float>::infinity());
  SmallVector<Value> ms;
  CombinedSoftmax result;
  result.maximum = negInf;
  for (int64_t w = 0; w < numWarps; ++w) {
    ms.push_back(memref::LoadOp::create(b, loc, maxima,
                                        ValueRange{indexConst(b, loc, w)}));
    result.maximum = arith::MaximumFOp::create(b, loc, result.maximum, ms[w]);
  }
  result.total = zero;
  for (int64_t w = 0; w < numWarps; ++w) {
    Value empty =
        arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OEQ, ms[w], negInf);
    Value weight = arith::SelectOp::create(
        b, loc, empty, zero,
        math::ExpOp::create(
            b, loc, arith::SubFOp::create(b, loc, ms[w], result.maximum)));
    result.weights.push_back(weight);
    result.total = arith::AddFOp::create(
        b, loc, result.total,
        arith::MulFOp::create(
            b, loc,
            memref::LoadOp::create(b, loc, sums,
                                   ValueRange{indexConst(b, loc, w)}),
            weight));
  }
  return result;
}

/// Lane 0 of each warp stores `maximum` and `sum` (its warp's online
/// softmax) at the warp's slots of `maxima` and `sums`.
void storeWarpSoftmax(OpBuilder &b, Location loc, Value lane, Value warp,
                      Value maximum, Value sum, Value maxima, Value sums) {
  Value isLeader = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, lane,
                                         indexConst(b, loc, 0));
  scf::IfOp::create(b, loc, isLeader, [&](OpBuilder &ib, Location il) {
    memref::StoreOp::create(ib, il, maximum, maxima, ValueRange{warp});
    memref::StoreOp::create(ib, il, sum, sums, ValueRange{warp});
    scf::YieldOp::create(ib, il);
  });
}

/// A row of an attention's queries: row (batch row, query, head), the
/// heads of a query next to each other, of `queries` queries; its head's
/// offset in the query row and its kv head's in the key row.
struct QueryHeadRow {
  Value h, s, bi, qBase, kvHead, kvBase;

  QueryHeadRow(OpBuilder &b, Location loc, Value row, Value queries,
               int64_t heads, int64_t headDim, int64_t group) {
    Value headsV = indexConst(b, loc, heads);
    h = arith::RemUIOp::create(b, loc, row, headsV);
    Value rest = arith::DivUIOp::create(b, loc, row, headsV);
    s = arith::RemUIOp::create(b, loc, rest, queries);
    bi = arith::DivUIOp::create(b, loc, rest, queries);
    Value dim = indexConst(b, loc, headDim);
    qBase = arith::MulIOp::create(b, loc, h, dim);
    kvHead = arith::DivUIOp::create(b, loc, h, indexConst(b, loc, group));
    kvBase = arith::MulIOp::create(b, loc, kvHead, dim);
  }
};

/// attention. Each row (batch row, query, head; the heads of a query next
/// to each other) streams its keys with an online softmax: the lanes hold
/// the query's and the output's head dimension (HeadLanes), so a key's row
/// is read in coalesced loads, widened as it loads, and its dot product is
/// a butterfly of shuffles. No score matrix and no global scratch exist.
/// Two mappings, chosen on the host from the number of queries:
///  - from kRowWarps queries on (prefill, training), one warp a row,
///    kRowWarps neighbouring rows a block, which stream the same keys in
///    the same order, so each key row they read from L2 serves them all;
///  - below (decode steps), one block a row, whose kAttentionWarps warps
///    take every kAttentionWarps-th key and combine their maxima, sums and
///    output rows through shared memory, so that a step's few rows still
///    keep the GPU busy.
Value emitAttentionKernel(OpBuilder &b, Location loc, AttentionOp op) {
  RankedTensorType type = op.getType();
  Value q = readBuffer(b, loc, op.getQuery());
  Value k = readInPlace(b, loc, op.getKey());
  Value v = readInPlace(b, loc, op.getValue());
  Value keyStarts =
      op.getKeyStarts() ? readBuffer(b, loc, op.getKeyStarts()) : Value();
  Value kScales, vScales;
  if (op.getKeyScales()) {
    kScales = readInPlace(b, loc, op.getKeyScales());
    vScales = readInPlace(b, loc, op.getValueScales());
  }
  Value batch = tensor::DimOp::create(b, loc, op.getQuery(), 0);
  Value queries = tensor::DimOp::create(b, loc, op.getQuery(), 1);
  Value keys = tensor::DimOp::create(b, loc, op.getKey(), 1);
  SmallVector<Value> dynSizes;
  if (type.isDynamicDim(0))
    dynSizes.push_back(batch);
  if (type.isDynamicDim(1))
    dynSizes.push_back(queries);
  Value out = memref::AllocOp::create(
      b, loc, MemRefType::get(type.getShape(), type.getElementType()), dynSizes,
      b.getI64IntegerAttr(64));

  int64_t headDim = op.getHeadDim();
  int64_t heads = op.getNumHeads();
  int64_t group = heads / op.getNumKvHeads();
  float scale = static_cast<float>(op.getScale().convertToDouble());
  bool causal = op.getCausal();
  // The queries are the last S of T positions.
  Value shift = arith::SubIOp::create(b, loc, keys, queries);
  Value numRows = arith::MulIOp::create(
      b, loc, arith::MulIOp::create(b, loc, batch, queries),
      indexConst(b, loc, heads));

  // A row's indices, the lanes' shares of its query, and its keys' range.
  struct Row : QueryHeadRow {
    using QueryHeadRow::QueryHeadRow;
    Value tBegin, tEnd;
    std::optional<HeadLanes> lanes;
    SmallVector<Value> qs;
  };
  auto rowOf = [&](OpBuilder &kb, Location kl, Value row, Value lane) {
    Row r(kb, kl, row, queries, heads, headDim, group);
    r.lanes.emplace(kb, kl, lane, headDim);
    r.qs = r.lanes->load(kb, kl, q, r.bi, r.s, r.qBase, true);
    r.tEnd = causal ? causalEnd(kb, kl, keys, r.s, shift) : keys;
    r.tBegin = indexConst(kb, kl, 0);
    if (keyStarts)
      r.tBegin = arith::MaxSIOp::create(
          kb, kl, r.tBegin,
          arith::IndexCastOp::create(
              kb, kl, kb.getIndexType(),
              memref::LoadOp::create(kb, kl, keyStarts, ValueRange{r.bi})));
    return r;
  };
  // The online softmax over keys first, first + step, ... of the row:
  // (maximum, sum, the lanes' output row).
  auto stream = [&](OpBuilder &kb, Location kl, const Row &r, Value first,
                    int64_t step) {
    Value zero = f32Const(kb, kl, 0.0f);
    SmallVector<Value> init{
        f32Const(kb, kl, -std::numeric_limits<float>::infinity()), zero};
    init.append(r.lanes->size(), zero);
    return scf::ForOp::create(
        kb, kl, first, r.tEnd, indexConst(kb, kl, step), init,
        [&](OpBuilder &lb, Location ll, Value t, ValueRange carried) {
          Value m = carried[0], sum = carried[1];
          Value partial = laneDot(
              lb, ll, r.qs, r.lanes->load(lb, ll, k, r.bi, t, r.kvBase, false));
          // An int8 key's scale multiplies its dot product; a value's the
          // weight of its row.
          Value kScale, vScale;
          if (kScales) {
            SmallVector<Value, 3> at{r.bi, t, r.kvHead};
            kScale = memref::LoadOp::create(lb, ll, kScales, at);
            vScale = memref::LoadOp::create(lb, ll, vScales, at);
          }
          OnlineSoftmaxStep step = onlineSoftmaxStep(
              lb, ll, warpSum(lb, ll, partial), scale, m, kScale, vScale);
          SmallVector<Value> next{step.maximum, step.nextSum(lb, ll, sum)};
          llvm::append_range(
              next, axpy(lb, ll, carried.drop_front(2), step.rescale,
                         step.valueWeight,
                         r.lanes->load(lb, ll, v, r.bi, t, r.kvBase, false)));
          scf::YieldOp::create(lb, ll, next);
        });
  };
  // 1 / total, or 0 for a row that saw no key (it stays zero).
  auto inverse = [&](OpBuilder &kb, Location kl, Value total) -> Value {
    Value zero = f32Const(kb, kl, 0.0f);
    Value any =
        arith::CmpFOp::create(kb, kl, arith::CmpFPredicate::OGT, total, zero);
    return arith::SelectOp::create(
        kb, kl, any,
        arith::DivFOp::create(kb, kl, f32Const(kb, kl, 1.0f), total), zero);
  };

  auto warpRows = [&](OpBuilder &wb, Location wl) {
    launchWarpRows(wb, wl, "lowmem_attention_rows", numRows,
                   [&](OpBuilder &kb, Location kl, Value row, Value lane) {
                     Row r = rowOf(kb, kl, row, lane);
                     auto loop = stream(kb, kl, r, r.tBegin, 1);
                     r.lanes->store(kb, kl, loop.getResults().drop_front(2),
                                    out, r.bi, r.s, r.qBase,
                                    inverse(kb, kl, loop.getResult(1)));
                   });
  };
  auto splitRows = [&](OpBuilder &wb, Location wl) {
    int64_t numThreads = kAttentionWarps * kWarpSize;
    launch1D(wb, wl, "lowmem_attention_split", numRows, numThreads,
             {kAttentionWarps, kAttentionWarps, kAttentionWarps * headDim},
             [&](OpBuilder &kb, Location kl, Value bid, Value tid,
                 ArrayRef<BlockArgument> shared) {
               Value lane, warp;
               std::tie(lane, warp) = laneAndWarp(kb, kl, tid);
               Row r = rowOf(kb, kl, bid, lane);
               auto loop = stream(kb, kl, r,
                                  arith::AddIOp::create(kb, kl, r.tBegin, warp),
                                  kAttentionWarps);
               // Each warp's maximum, sum and output row to shared memory, then
               // combined.
               Value maxima = shared[0], sums = shared[1], rows = shared[2];
               storeWarpSoftmax(kb, kl, lane, warp, loop.getResult(0),
                                loop.getResult(1), maxima, sums);
               r.lanes->storeRow(
                   kb, kl, SmallVector<Value>(loop.getResults().drop_front(2)),
                   rows, warp, headDim);
               gpu::BarrierOp::create(kb, kl);
               CombinedSoftmax combined =
                   combineWarpSoftmaxes(kb, kl, maxima, sums, kAttentionWarps);
               Value inv = inverse(kb, kl, combined.total);
               sumWarpRows(
                   kb, kl, rows, combined.weights, headDim, tid, numThreads,
                   [&](OpBuilder &fb, Location fl, Value d, Value o) {
                     memref::StoreOp::create(
                         fb, fl, arith::MulFOp::create(fb, fl, o, inv), out,
                         ValueRange{r.bi, r.s,
                                    arith::AddIOp::create(fb, fl, r.qBase, d)});
                   });
             });
  };
  int64_t staticQueries = type.getDimSize(1);
  if (!ShapedType::isDynamic(staticQueries)) {
    if (staticQueries >= kRowWarps)
      warpRows(b, loc);
    else
      splitRows(b, loc);
  } else {
    Value many = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::uge,
                                       queries, indexConst(b, loc, kRowWarps));
    scf::IfOp::create(
        b, loc, many,
        [&](OpBuilder &tb, Location tl) {
          warpRows(tb, tl);
          scf::YieldOp::create(tb, tl);
        },
        [&](OpBuilder &eb, Location el) {
          splitRows(eb, el);
          scf::YieldOp::create(eb, el);
        });
  }
  return bufferization::ToTensorOp::create(b, loc, type, out, b.getUnitAttr(),
                                           b.getUnitAttr());
}

/// attention_grad in three kernels of one warp per row, 8 rows a block
/// (HeadLanes, butterfly dot products), recomputing each score as it goes;
/// neither a score matrix nor an atomic, and no shared memory: a warp
/// streams its row's whole range and stores its results itself. The 8
/// warps of a block take neighbouring rows that stream the same keys (or
/// queries) in the same order, so each row they read from L2 serves 8.
///  1. One warp per (batch row, query, head), the heads of a query next to
///     each other: the row's logsumexp (an online softmax over its keys)
///     and D = dO · O, kept in a [B, heads, S, 2] buffer.
///  2. The same warps, over the keys again: p = exp(x − lse),
///     ds = p (dO · v − D) and dq = scale Σ ds k. Apart from 1, so that the
///     output (read by 1 only) and dq are never needed at once: the memory
///     plan may offload or reuse the one while the other lives.
///  3. One warp per (batch row, kv head, key), the keys next to each other:
///     over the queries of every head of the group that see the key,
///     dk = scale Σ ds q and dv = Σ p dO.
SmallVector<Value> emitAttentionGradKernels(OpBuilder &b, Location loc,
                                            AttentionGradOp op) {
  RankedTensorType qType = op.getQuery().getType();
  RankedTensorType kType = op.getKey().getType();
  Value dO = readBuffer(b, loc, op.getGradOut());
  Value q = readBuffer(b, loc, op.getQuery());
  Value k = readBuffer(b, loc, op.getKey());
  Value v = readBuffer(b, loc, op.getValue());
  Value o = readBuffer(b, loc, op.getOutput());
  Value batch = tensor::DimOp::create(b, loc, op.getQuery(), 0);
  Value queries = tensor::DimOp::create(b, loc, op.getQuery(), 1);
  Value keys = tensor::DimOp::create(b, loc, op.getKey(), 1);
  auto alloc = [&](ArrayRef<int64_t> shape, ArrayRef<Value> sizes) {
    SmallVector<Value> dynSizes;
    for (auto [dim, size] : llvm::zip_equal(shape, sizes))
      if (ShapedType::isDynamic(dim))
        dynSizes.push_back(size);
    return memref::AllocOp::create(b, loc,
                                   MemRefType::get(shape, b.getF32Type()),
                                   dynSizes, b.getI64IntegerAttr(64))
        .getResult();
  };
  Value none = indexConst(b, loc, 0);
  int64_t heads = op.getNumHeads(), kvHeads = op.getNumKvHeads();
  int64_t headDim = qType.getDimSize(2) / heads, group = heads / kvHeads;
  Value stats = alloc({qType.getDimSize(0), heads, qType.getDimSize(1), 2},
                      {batch, none, queries, none});
  float scale = static_cast<float>(op.getScale().convertToDouble());
  bool causal = op.getCausal();
  Value shift = arith::SubIOp::create(b, loc, keys, queries);
  // p = exp(scale (q · k) − lse) and ds = p (dO · v − D) for one (query,
  // key) pair, given the lane's shares of the four rows.
  auto pair = [&](OpBuilder &pb, Location pl, ArrayRef<Value> qs,
                  ArrayRef<Value> ks, ArrayRef<Value> dOs, ArrayRef<Value> vs,
                  Value lse, Value dsum) -> std::pair<Value, Value> {
    Value x =
        arith::MulFOp::create(pb, pl, warpSum(pb, pl, laneDot(pb, pl, qs, ks)),
                              f32Const(pb, pl, scale));
    Value p =
        math::ExpOp::create(pb, pl, arith::SubFOp::create(pb, pl, x, lse));
    Value dp = warpSum(pb, pl, laneDot(pb, pl, dOs, vs));
    Value ds = arith::MulFOp::create(pb, pl, p,
                                     arith::SubFOp::create(pb, pl, dp, dsum));
    return {p, ds};
  };
  Value zero = f32Const(b, loc, 0.0f);
  Value one = indexConst(b, loc, 1);
  // lse and D of (batch row bi, head h, query s), from kernel 1.
  auto statsOf = [&](OpBuilder &sb, Location sl, Value bi, Value h,
                     Value s) -> std::pair<Value, Value> {
    auto at = [&](int64_t i) {
      return memref::LoadOp::create(sb, sl, stats,
                                    ValueRange{bi, h, s, indexConst(sb, sl, i)})
          .getResult();
    };
    return {at(0), at(1)};
  };

  // One warp per (batch row, query, head): its indices, and the lanes'
  // shares of the query row and its output gradient.
  struct QueryRow : QueryHeadRow {
    using QueryHeadRow::QueryHeadRow;
    std::optional<HeadLanes> lanes;
    SmallVector<Value> qs, dOs;
  };
  auto queryRow = [&](OpBuilder &kb, Location kl, Value row, Value lane) {
    QueryRow r(kb, kl, row, queries, heads, headDim, group);
    r.lanes.emplace(kb, kl, lane, headDim);
    r.qs = r.lanes->load(kb, kl, q, r.bi, r.s, r.qBase, true);
    r.dOs = r.lanes->load(kb, kl, dO, r.bi, r.s, r.qBase, true);
    return r;
  };
  Value queryRows = arith::MulIOp::create(
      b, loc, arith::MulIOp::create(b, loc, batch, queries),
      indexConst(b, loc, heads));
  auto keyEnd = [&](OpBuilder &kb, Location kl, Value s) {
    return causal ? causalEnd(kb, kl, keys, s, shift) : keys;
  };

  // 1. Row statistics.
  launchWarpRows(
      b, loc, "lowmem_attention_grad_stats", queryRows,
      [&](OpBuilder &kb, Location kl, Value row, Value lane) {
        QueryRow r = queryRow(kb, kl, row, lane);
        Value dsum = warpSum(
            kb, kl,
            laneDot(kb, kl, r.dOs,
                    r.lanes->load(kb, kl, o, r.bi, r.s, r.qBase, true)));
        auto softmax = scf::ForOp::create(
            kb, kl, indexConst(kb, kl, 0), keyEnd(kb, kl, r.s), one,
            ValueRange{
                f32Const(kb, kl, -std::numeric_limits<float>::infinity()),
                zero},
            [&](OpBuilder &lb, Location ll, Value t, ValueRange carried) {
              Value dot = warpSum(
                  lb, ll,
                  laneDot(lb, ll, r.qs,
                          r.lanes->load(lb, ll, k, r.bi, t, r.kvBase, false)));
              OnlineSoftmaxStep st = onlineSoftmaxStep(
                  lb, ll, dot, scale, carried[0], Value(), Value());
              scf::YieldOp::create(
                  lb, ll,
                  ValueRange{st.maximum, st.nextSum(lb, ll, carried[1])});
            });
        Value lse =
            logSumExp(kb, kl, softmax.getResult(0), softmax.getResult(1));
        Value isLeader = arith::CmpIOp::create(kb, kl, arith::CmpIPredicate::eq,
                                               lane, indexConst(kb, kl, 0));
        scf::IfOp::create(kb, kl, isLeader, [&](OpBuilder &ib, Location il) {
          for (auto [i, x] : llvm::enumerate(std::array<Value, 2>{lse, dsum}))
            memref::StoreOp::create(
                ib, il, x, stats,
                ValueRange{r.bi, r.h, r.s, indexConst(ib, il, i)});
          scf::YieldOp::create(ib, il);
        });
      });

  // 2. dq. Each result is allocated just before the kernel that writes it:
  // a buffer lives, in the memory plan, from its allocation on.
  Value dq = alloc(qType.getShape(), {batch, queries, none});
  launchWarpRows(
      b, loc, "lowmem_attention_grad_dq", queryRows,
      [&](OpBuilder &kb, Location kl, Value row, Value lane) {
        QueryRow r = queryRow(kb, kl, row, lane);
        Value lse, dsum;
        std::tie(lse, dsum) = statsOf(kb, kl, r.bi, r.h, r.s);
        auto grads = scf::ForOp::create(
            kb, kl, indexConst(kb, kl, 0), keyEnd(kb, kl, r.s), one,
            SmallVector<Value>(r.lanes->size(), zero),
            [&](OpBuilder &lb, Location ll, Value t, ValueRange acc) {
              SmallVector<Value> ks =
                  r.lanes->load(lb, ll, k, r.bi, t, r.kvBase, false);
              Value ds =
                  pair(lb, ll, r.qs, ks, r.dOs,
                       r.lanes->load(lb, ll, v, r.bi, t, r.kvBase, false), lse,
                       dsum)
                      .second;
              scf::YieldOp::create(lb, ll, axpy(lb, ll, acc, Value(), ds, ks));
            });
        r.lanes->store(kb, kl, grads.getResults(), dq, r.bi, r.s, r.qBase,
                       f32Const(kb, kl, scale));
      });

  // 3. dk and dv.
  Value dk = alloc(kType.getShape(), {batch, keys, none});
  Value dv = alloc(kType.getShape(), {batch, keys, none});
  launchWarpRows(
      b, loc, "lowmem_attention_grad_dkdv",
      arith::MulIOp::create(b, loc, arith::MulIOp::create(b, loc, batch, keys),
                            indexConst(b, loc, kvHeads)),
      [&](OpBuilder &kb, Location kl, Value row, Value lane) {
        Value t = arith::RemUIOp::create(kb, kl, row, keys);
        Value rest = arith::DivUIOp::create(kb, kl, row, keys);
        Value kvHeadsV = indexConst(kb, kl, kvHeads);
        Value kvh = arith::RemUIOp::create(kb, kl, rest, kvHeadsV);
        Value bi = arith::DivUIOp::create(kb, kl, rest, kvHeadsV);
        Value dim = indexConst(kb, kl, headDim);
        Value kvBase = arith::MulIOp::create(kb, kl, kvh, dim);
        HeadLanes lanes(kb, kl, lane, headDim);
        SmallVector<Value> ks = lanes.load(kb, kl, k, bi, t, kvBase, true);
        SmallVector<Value> vs = lanes.load(kb, kl, v, bi, t, kvBase, true);
        // The first query that sees key t: max(0, t − shift).
        Value sStart = indexConst(kb, kl, 0);
        if (causal)
          sStart = arith::MaxSIOp::create(
              kb, kl, sStart, arith::SubIOp::create(kb, kl, t, shift));
        Value firstHead =
            arith::MulIOp::create(kb, kl, kvh, indexConst(kb, kl, group));
        int64_t n = lanes.size();
        // The queries in order, each with the group's heads: the warps of a
        // block (neighbouring keys) read the same query rows together.
        auto grads = scf::ForOp::create(
            kb, kl, sStart, queries, one, SmallVector<Value>(2 * n, zero),
            [&](OpBuilder &sb, Location sl, Value s, ValueRange outer) {
              SmallVector<Value> acc(outer);
              for (int64_t g = 0; g < group; ++g) {
                Value h = arith::AddIOp::create(sb, sl, firstHead,
                                                indexConst(sb, sl, g));
                Value qBase = arith::MulIOp::create(sb, sl, h, dim);
                SmallVector<Value> qs =
                    lanes.load(sb, sl, q, bi, s, qBase, false);
                SmallVector<Value> dOs =
                    lanes.load(sb, sl, dO, bi, s, qBase, false);
                auto [lse, dsum] = statsOf(sb, sl, bi, h, s);
                auto [p, ds] = pair(sb, sl, qs, ks, dOs, vs, lse, dsum);
                SmallVector<Value> next = axpy(
                    sb, sl, ValueRange(acc).take_front(n), Value(), ds, qs);
                llvm::append_range(next,
                                   axpy(sb, sl, ValueRange(acc).drop_front(n),
                                        Value(), p, dOs));
                acc = next;
              }
              scf::YieldOp::create(sb, sl, acc);
            });
        lanes.store(kb, kl, grads.getResults().take_front(n), dk, bi, t, kvBase,
                    f32Const(kb, kl, scale));
        lanes.store(kb, kl, grads.getResults().drop_front(n), dv, bi, t, kvBase,
                    Value());
      });

  auto asTensor = [&](Value buf, RankedTensorType type) -> Value {
    return bufferization::ToTensorOp::create(b, loc, type, buf, b.getUnitAttr(),
                                             b.getUnitAttr());
  };
  return {asTensor(dq, qType), asTensor(dk, kType), asTensor(dv, kType)};
}

/// rms_norm: one block per row; the block sums the squares (warp shuffles,
/// then one partial sum a warp in shared memory), then each thread scales
/// its columns. A decode step's handful of rows so still has 256 threads
/// each, where the loops gave one.
Value emitRmsNormKernel(OpBuilder &b, Location loc, RmsNormOp op) {
  RankedTensorType type = op.getType();
  int64_t features = type.getShape().back();
  Rows rows = Rows::of(b, loc, op.getInput());
  Value x = readInPlace(b, loc, op.getInput());
  Value weight = readBuffer(b, loc, op.getWeight());
  Value out = memref::AllocOp::create(
      b, loc, MemRefType::get(type.getShape(), b.getF32Type()),
      rows.dynamicSizes, b.getI64IntegerAttr(64));
  int64_t numWarps = kNormThreads / kWarpSize;
  float eps = static_cast<float>(op.getEpsilon().convertToDouble());
  launch1D(
      b, loc, "lowmem_rms_norm", rows.count, kNormThreads, {numWarps},
      [&](OpBuilder &kb, Location kl, Value bid, Value tid,
          ArrayRef<BlockArgument> shared) {
        Value lane, warp;
        std::tie(lane, warp) = laneAndWarp(kb, kl, tid);
        SmallVector<Value> row = rows.indices(kb, kl, bid);
        auto at = [&](Value c) {
          SmallVector<Value> index(row);
          index.push_back(c);
          return index;
        };
        Value end = indexConst(kb, kl, features);
        Value step = indexConst(kb, kl, kNormThreads);
        auto squares = scf::ForOp::create(
            kb, kl, tid, end, step, ValueRange{f32Const(kb, kl, 0.0f)},
            [&](OpBuilder &fb, Location fl, Value c, ValueRange acc) {
              Value v = memref::LoadOp::create(fb, fl, x, at(c));
              scf::YieldOp::create(
                  fb, fl,
                  ValueRange{arith::AddFOp::create(
                      fb, fl, acc[0], arith::MulFOp::create(fb, fl, v, v))});
            });
        Value sum = blockSum(kb, kl, squares.getResult(0), shared[0], lane,
                             warp, numWarps);
        Value mean = arith::MulFOp::create(
            kb, kl, sum, f32Const(kb, kl, 1.0f / static_cast<float>(features)));
        Value root = math::SqrtOp::create(
            kb, kl, arith::AddFOp::create(kb, kl, mean, f32Const(kb, kl, eps)));
        Value inv = arith::DivFOp::create(kb, kl, f32Const(kb, kl, 1.0f), root);
        scf::ForOp::create(
            kb, kl, tid, end, step, ValueRange{},
            [&](OpBuilder &fb, Location fl, Value c, ValueRange) {
              Value v = memref::LoadOp::create(fb, fl, x, at(c));
              Value w =
                  widenToF32(fb, fl, memref::LoadOp::create(fb, fl, weight, c));
              Value y = arith::MulFOp::create(
                  fb, fl, arith::MulFOp::create(fb, fl, v, inv), w);
              memref::StoreOp::create(fb, fl, y, out, at(c));
              scf::YieldOp::create(fb, fl);
            });
      });
  return bufferization::ToTensorOp::create(b, loc, type, out, b.getUnitAttr(),
                                           b.getUnitAttr());
}

/// argmax over the last dimension: one block per row; each thread scans
/// its columns, then warps (shuffles) and the block (shared memory) keep
/// the better candidate (betterOf). Ties go to the first index and a NaN
/// wins, as in numpy.
Value emitArgmaxKernel(OpBuilder &b, Location loc, ArgmaxOp op) {
  auto inputType = cast<RankedTensorType>(op.getInput().getType());
  RankedTensorType type = op.getType();
  int64_t size = inputType.getShape().back();
  Rows rows = Rows::of(b, loc, op.getInput());
  Value x = readInPlace(b, loc, op.getInput());
  SmallVector<Value> dynSizes;
  for (int64_t d = 0; d < type.getRank(); ++d)
    if (type.isDynamicDim(d))
      dynSizes.push_back(rows.sizes[d]);
  Value out = memref::AllocOp::create(
      b, loc, MemRefType::get(type.getShape(), type.getElementType()), dynSizes,
      b.getI64IntegerAttr(64));
  int64_t numWarps = kNormThreads / kWarpSize;
  Type i32 = b.getI32Type();
  // An index no column has: a thread that saw no column loses every tie
  // (a row of -inf only so gives index 0, as numpy).
  int32_t none = std::numeric_limits<int32_t>::max();
  launch1D(
      b, loc, "lowmem_argmax", rows.count, kNormThreads, {numWarps, numWarps},
      [&](OpBuilder &kb, Location kl, Value bid, Value tid,
          ArrayRef<BlockArgument> shared) {
        Value lane, warp;
        std::tie(lane, warp) = laneAndWarp(kb, kl, tid);
        SmallVector<Value> row = rows.indices(kb, kl, bid);
        Value negInf =
            f32Const(kb, kl, -std::numeric_limits<float>::infinity());
        auto scan = scf::ForOp::create(
            kb, kl, tid, indexConst(kb, kl, size),
            indexConst(kb, kl, kNormThreads),
            ValueRange{negInf, cI32(kb, kl, none)},
            [&](OpBuilder &fb, Location fl, Value c, ValueRange best) {
              SmallVector<Value> index(row);
              index.push_back(c);
              Value v = memref::LoadOp::create(fb, fl, x, index);
              Value ci = arith::IndexCastOp::create(fb, fl, i32, c);
              auto [bv, bi] = betterOf(fb, fl, v, ci, best[0], best[1]);
              scf::YieldOp::create(fb, fl, ValueRange{bv, bi});
            });
        Value value = scan.getResult(0), index = scan.getResult(1);
        auto warpBest = [&](Value v, Value i) {
          for (int32_t offset = kWarpSize / 2; offset > 0; offset /= 2) {
            Value ov = gpu::ShuffleOp::create(kb, kl, v, offset, kWarpSize,
                                              gpu::ShuffleMode::XOR)
                           .getShuffleResult();
            Value oi = gpu::ShuffleOp::create(kb, kl, i, offset, kWarpSize,
                                              gpu::ShuffleMode::XOR)
                           .getShuffleResult();
            std::tie(v, i) = betterOf(kb, kl, v, i, ov, oi);
          }
          return std::make_pair(v, i);
        };
        std::tie(value, index) = warpBest(value, index);
        // Lane 0 of each warp: its candidate to shared memory (the value in
        // the first slots, the index's bits in the next).
        Value values = shared[0], indices = shared[1];
        Value isLeader = arith::CmpIOp::create(kb, kl, arith::CmpIPredicate::eq,
                                               lane, indexConst(kb, kl, 0));
        scf::IfOp::create(kb, kl, isLeader, [&](OpBuilder &ib, Location il) {
          memref::StoreOp::create(ib, il, value, values, ValueRange{warp});
          memref::StoreOp::create(
              ib, il, arith::BitcastOp::create(ib, il, ib.getF32Type(), index),
              indices, ValueRange{warp});
          scf::YieldOp::create(ib, il);
        });
        gpu::BarrierOp::create(kb, kl);
        Value isFirst = arith::CmpIOp::create(kb, kl, arith::CmpIPredicate::eq,
                                              tid, indexConst(kb, kl, 0));
        scf::IfOp::create(kb, kl, isFirst, [&](OpBuilder &ib, Location il) {
          Value v = memref::LoadOp::create(ib, il, values,
                                           ValueRange{indexConst(ib, il, 0)});
          auto indexAt = [&](int64_t w) -> Value {
            return arith::BitcastOp::create(
                ib, il, i32,
                memref::LoadOp::create(ib, il, indices,
                                       ValueRange{indexConst(ib, il, w)}));
          };
          Value i = indexAt(0);
          for (int64_t w = 1; w < numWarps; ++w) {
            Value at = indexConst(ib, il, w);
            std::tie(v, i) = betterOf(
                ib, il, v, i, memref::LoadOp::create(ib, il, values, at),
                indexAt(w));
          }
          memref::StoreOp::create(
              ib, il, arith::ExtSIOp::create(ib, il, ib.getI64Type(), i), out,
              row);
          scf::YieldOp::create(ib, il);
        });
      });
  return bufferization::ToTensorOp::create(b, loc, type, out, b.getUnitAttr(),
                                           b.getUnitAttr());
}

/// Runs of a language model head's rows a lane of a warp holds: a row of
/// `hidden` values (a multiple of kTileRun) is cut into runs of kTileRun
/// consecutive values, the lanes' slots (LaneSlots); `starts` are where the
/// lane's runs start.
struct RowRuns : LaneSlots {
  SmallVector<Value> starts;

  RowRuns(OpBuilder &b, Location loc, Value lane, int64_t hidden)
      : LaneSlots(b, loc, lane, hidden / kTileRun) {
    for (Value run : offsets)
      starts.push_back(
          arith::MulIOp::create(b, loc, run, indexConst(b, loc, kTileRun)));
  }
};

/// Whether the head kernels take \p ops (the weight of a
/// linear_cross_entropy or of its gradient): f32 rows of whole runs, read
/// 16 bytes at a time, and runs that a 4-bit block never splits.
bool fitsHeadKernel(const LinearOperands &ops) {
  return ops.k % kTileRun == 0 && blocksHoldRuns(ops, kTileRun) &&
         wholeRows(ops.input);
}

/// The head's weight [V, H] of \p op (linear_cross_entropy or its
/// gradient) as a matrix product's operands, for decodeRun.
template <typename HeadOp>
LogicalResult collectHead(HeadOp op, LinearOperands &ops) {
  RankedTensorType inputType = op.getInput().getType();
  if (!inputType.getElementType().isF32())
    return failure();
  ops.input = op.getInput();
  ops.k = inputType.getShape().back();
  RankedTensorType logical = logicalTensorType(op.getWeight().getType());
  ops.n = logical.getDimSize(0);
  if (auto quantized = dyn_cast<QTensorType>(op.getWeight().getType())) {
    auto storage = op.getWeight().template getDefiningOp<AssembleOp>();
    if (!storage)
      return failure();
    ops.quantType = quantized;
    ops.parts.assign(storage.getParts().begin(), storage.getParts().end());
  } else {
    if (!logical.getElementType().isF32())
      return failure();
    ops.denseWeight = op.getWeight();
  }
  return success(fitsHeadKernel(ops));
}

/// A language model head's kernel: one warp for each row of the input
/// (8 a block, the code tables staged in shared memory), streaming every
/// row v of the weight: its lanes decode their runs of w_v (one vector load
/// each) and the dot product z_v = x · w_v is a butterfly of shuffles.
/// `perRow(builder, lanes' x values, row indices, label, decodeRow)` builds
/// what a counted row (label ≠ ignore) does, `ignoredRow` what an ignored
/// one does.
void emitHeadKernel(
    OpBuilder &b, Location loc, StringRef name, ModuleOp module,
    const LinearOperands &ops, Value x, Value labels, const Rows &rows,
    int64_t ignore,
    function_ref<
        void(OpBuilder &, Location, const RowRuns &, Value lane,
             ArrayRef<SmallVector<Value>> xs, ArrayRef<Value> row, Value label,
             function_ref<SmallVector<SmallVector<Value>>(OpBuilder &, Location,
                                                          Value)>)>
        perRow,
    function_ref<void(OpBuilder &, Location, const RowRuns &, Value lane,
                      ArrayRef<Value> row)>
        ignoredRow) {
  SmallVector<Value> parts;
  for (Value part : ops.parts)
    parts.push_back(readBuffer(b, loc, part));
  Value w = ops.denseWeight ? readBuffer(b, loc, ops.denseWeight) : Value();
  DecoderTables tables = DecoderTables::of(module, ops);
  launchWarpRows(
      b, loc, name, rows.count, tables.sharedSizes(),
      [&](OpBuilder &kb, Location kl, Value tid,
          ArrayRef<BlockArgument> shared) {
        tables.stage(kb, kl, shared, tid, kRowWarps * kWarpSize);
      },
      [&](OpBuilder &ib, Location il, Value r, Value lane,
          ArrayRef<BlockArgument> shared) {
        std::optional<WeightDecoder> decoder =
            tables.sharedDecoder(ops, parts, shared);
        SmallVector<Value> row = rows.indices(ib, il, r);
        RowRuns runs(ib, il, lane, ops.k);
        Value label = memref::LoadOp::create(ib, il, labels, row);
        Value counted = arith::CmpIOp::create(
            ib, il, arith::CmpIPredicate::ne, label,
            arith::ConstantOp::create(ib, il, ib.getI64IntegerAttr(ignore)));
        scf::IfOp::create(
            ib, il, counted,
            [&](OpBuilder &tb, Location tl) {
              SmallVector<SmallVector<Value>> xs;
              for (auto [start, valid] :
                   llvm::zip_equal(runs.starts, runs.valid)) {
                SmallVector<Value> at(row);
                at.push_back(start);
                SmallVector<Value> run =
                    loadRun(tb, tl, x, at, kTileRun, kChunkBytes);
                if (valid)
                  for (Value &xi : run)
                    xi = arith::SelectOp::create(tb, tl, valid, xi,
                                                 f32Const(tb, tl, 0.0f));
                xs.push_back(run);
              }
              auto decodeRow = [&](OpBuilder &db, Location dl, Value v) {
                Value flatRow =
                    arith::MulIOp::create(db, dl, v, indexConst(db, dl, ops.k));
                SmallVector<SmallVector<Value>> ws;
                for (Value start : runs.starts)
                  ws.push_back(decodeRun(db, dl, ops, decoder, w, parts, v,
                                         start, flatRow, kTileRun));
                return ws;
              };
              perRow(
                  tb, tl, runs, lane, xs, row,
                  arith::IndexCastOp::create(tb, tl, tb.getIndexType(), label),
                  decodeRow);
              scf::YieldOp::create(tb, tl);
            },
            [&](OpBuilder &eb, Location el) {
              ignoredRow(eb, el, runs, lane, row);
              scf::YieldOp::create(eb, el);
            });
      });
}

/// The lane's share of x · w_v: Σ over its runs.
Value runsDot(OpBuilder &b, Location loc, ArrayRef<SmallVector<Value>> xs,
              ArrayRef<SmallVector<Value>> ws) {
  Value sum = f32Const(b, loc, 0.0f);
  for (auto [xr, wr] : llvm::zip_equal(xs, ws))
    sum = arith::AddFOp::create(b, loc, sum, laneDot(b, loc, xr, wr));
  return sum;
}

/// linear_cross_entropy: emitHeadKernel, each warp an online logsumexp
/// over its row's logits (picking the label's), lane 0 storing the row's
/// lse and loss; then the mean of the counted rows' losses.
SmallVector<Value> emitLinearCrossEntropyKernel(OpBuilder &b, Location loc,
                                                ModuleOp module,
                                                LinearCrossEntropyOp op,
                                                const LinearOperands &ops) {
  RankedTensorType lseType = op.getLse().getType();
  Rows rows = Rows::of(b, loc, op.getInput());
  auto alloc = [&]() {
    return memref::AllocOp::create(
               b, loc, MemRefType::get(lseType.getShape(), b.getF32Type()),
               rows.dynamicSizes, b.getI64IntegerAttr(64))
        .getResult();
  };
  Value lse = alloc(), rowLoss = alloc();
  Value x = readInPlace(b, loc, op.getInput());
  Value labels = readBuffer(b, loc, op.getLabels());
  int64_t ignore = static_cast<int64_t>(op.getIgnoreIndex());
  auto storeRow = [&](OpBuilder &sb, Location sl, Value lane, Value rowLse,
                      Value loss, ArrayRef<Value> row) {
    Value isLeader = arith::CmpIOp::create(sb, sl, arith::CmpIPredicate::eq,
                                           lane, indexConst(sb, sl, 0));
    scf::IfOp::create(sb, sl, isLeader, [&](OpBuilder &ib, Location il) {
      memref::StoreOp::create(ib, il, rowLse, lse, row);
      memref::StoreOp::create(ib, il, loss, rowLoss, row);
      scf::YieldOp::create(ib, il);
    });
  };
  emitHeadKernel(
      b, loc, "lowmem_cross_entropy", module, ops, x, labels, rows, ignore,
      [&](OpBuilder &tb, Location tl, const RowRuns &, Value lane,
          ArrayRef<SmallVector<Value>> xs, ArrayRef<Value> row, Value label,
          function_ref<SmallVector<SmallVector<Value>>(OpBuilder &, Location,
                                                       Value)>
              decodeRow) {
        auto stream = scf::ForOp::create(
            tb, tl, indexConst(tb, tl, 0), indexConst(tb, tl, ops.n),
            indexConst(tb, tl, 1),
            ValueRange{
                f32Const(tb, tl, -std::numeric_limits<float>::infinity()),
                f32Const(tb, tl, 0.0f), f32Const(tb, tl, 0.0f)},
            [&](OpBuilder &lb, Location ll, Value v, ValueRange carried) {
              Value z =
                  warpSum(lb, ll, runsDot(lb, ll, xs, decodeRow(lb, ll, v)));
              OnlineSoftmaxStep st = onlineSoftmaxStep(
                  lb, ll, z, 1.0f, carried[0], Value(), Value());
              Value isLabel = arith::CmpIOp::create(
                  lb, ll, arith::CmpIPredicate::eq, v, label);
              scf::YieldOp::create(
                  lb, ll,
                  ValueRange{
                      st.maximum, st.nextSum(lb, ll, carried[1]),
                      arith::SelectOp::create(lb, ll, isLabel, z, carried[2])});
            });
        Value rowLse =
            logSumExp(tb, tl, stream.getResult(0), stream.getResult(1));
        storeRow(tb, tl, lane, rowLse,
                 arith::SubFOp::create(tb, tl, rowLse, stream.getResult(2)),
                 row);
      },
      [&](OpBuilder &eb, Location el, const RowRuns &, Value lane,
          ArrayRef<Value> row) {
        // An ignored row streams nothing: its loss and lse are 0.
        Value zero = f32Const(eb, el, 0.0f);
        storeRow(eb, el, lane, zero, zero, row);
      });
  auto asTensor = [&](Value buf) -> Value {
    return bufferization::ToTensorOp::create(b, loc, lseType, buf,
                                             b.getUnitAttr(), b.getUnitAttr());
  };
  return {meanRowLoss(b, loc, asTensor(rowLoss), op.getLabels(), ignore),
          asTensor(lse)};
}

/// linear_cross_entropy_grad: emitHeadKernel, each warp accumulating its
/// row's gradient Σ_v (p_v − [v = label]) / count · w_v in its lanes'
/// registers (the decoded runs serve the dot product and the sum), then
/// storing it once; an ignored row's gradient is 0.
Value emitLinearCrossEntropyGradKernel(OpBuilder &b, Location loc,
                                       ModuleOp module,
                                       LinearCrossEntropyGradOp op,
                                       const LinearOperands &ops) {
  RankedTensorType inputType = op.getInput().getType();
  Rows rows = Rows::of(b, loc, op.getInput());
  int64_t ignore = static_cast<int64_t>(op.getIgnoreIndex());
  Value count = readBuffer(b, loc, countLabels(b, loc, op.getLabels(), ignore));
  Value dx = memref::AllocOp::create(
      b, loc, MemRefType::get(inputType.getShape(), b.getF32Type()),
      rows.dynamicSizes, b.getI64IntegerAttr(64));
  Value x = readInPlace(b, loc, op.getInput());
  Value labels = readBuffer(b, loc, op.getLabels());
  Value lse = readBuffer(b, loc, op.getLse());
  // Stores `values(j)` (kTileRun of them) at the lane's runs of the row.
  auto storeRuns =
      [&](OpBuilder &sb, Location sl, const RowRuns &runs, ArrayRef<Value> row,
          function_ref<Value(OpBuilder &, Location, int64_t, int64_t)> value) {
        runs.forEachHeld(sb, sl, [&](OpBuilder &rb, Location rl, int64_t j) {
          for (int64_t i = 0; i < kTileRun; ++i) {
            SmallVector<Value> at(row);
            at.push_back(arith::AddIOp::create(rb, rl, runs.starts[j],
                                               indexConst(rb, rl, i)));
            memref::StoreOp::create(rb, rl, value(rb, rl, j, i), dx, at);
          }
        });
      };
  emitHeadKernel(
      b, loc, "lowmem_cross_entropy_grad", module, ops, x, labels, rows, ignore,
      [&](OpBuilder &tb, Location tl, const RowRuns &runs, Value,
          ArrayRef<SmallVector<Value>> xs, ArrayRef<Value> row, Value label,
          function_ref<SmallVector<SmallVector<Value>>(OpBuilder &, Location,
                                                       Value)>
              decodeRow) {
        Value rowLse = memref::LoadOp::create(tb, tl, lse, row);
        Value invCount = arith::DivFOp::create(
            tb, tl, f32Const(tb, tl, 1.0f),
            memref::LoadOp::create(tb, tl, count, ValueRange{}));
        int64_t held = xs.size() * kTileRun;
        auto stream = scf::ForOp::create(
            tb, tl, indexConst(tb, tl, 0), indexConst(tb, tl, ops.n),
            indexConst(tb, tl, 1),
            SmallVector<Value>(held, f32Const(tb, tl, 0.0f)),
            [&](OpBuilder &lb, Location ll, Value v, ValueRange acc) {
              SmallVector<SmallVector<Value>> ws = decodeRow(lb, ll, v);
              Value coeff = crossEntropyLogitGrad(
                  lb, ll, warpSum(lb, ll, runsDot(lb, ll, xs, ws)), rowLse, v,
                  label, invCount);
              SmallVector<Value> flat;
              for (const SmallVector<Value> &run : ws)
                llvm::append_range(flat, run);
              scf::YieldOp::create(lb, ll,
                                   axpy(lb, ll, acc, Value(), coeff, flat));
            });
        storeRuns(tb, tl, runs, row,
                  [&](OpBuilder &, Location, int64_t j, int64_t i) {
                    return stream.getResult(j * kTileRun + i);
                  });
      },
      [&](OpBuilder &eb, Location el, const RowRuns &runs, Value,
          ArrayRef<Value> row) {
        storeRuns(eb, el, runs, row,
                  [&](OpBuilder &zb, Location zl, int64_t, int64_t) {
                    return f32Const(zb, zl, 0.0f);
                  });
      });
  return bufferization::ToTensorOp::create(b, loc, inputType, dx,
                                           b.getUnitAttr(), b.getUnitAttr());
}

struct ConvertLowMemToGPUPass
    : public mlir::lowmem::impl::ConvertLowMemToGPUBase<
          ConvertLowMemToGPUPass> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    if (warpsPerBlock < 1 || warpsPerBlock > 32 || batchTile < 1 ||
        batchTile > 16) {
      module.emitError() << "convert-lowmem-to-gpu: warps-per-block must be "
                            "in [1, 32] and batch-tile in [1, 16], got "
                         << static_cast<int64_t>(warpsPerBlock) << " and "
                         << static_cast<int64_t>(batchTile);
      return signalPassFailure();
    }
    if (tiledFrom < 0) {
      module.emitError() << "convert-lowmem-to-gpu: tiled-from must be 0 "
                            "(never) or a number of rows, got "
                         << static_cast<int64_t>(tiledFrom);
      return signalPassFailure();
    }
    SmallVector<Operation *> candidates;
    module.walk([&](Operation *op) {
      if (isa<LinearOp, QLinearOp, GroupNormOp, AttentionOp, AttentionGradOp,
              LinearCrossEntropyOp, LinearCrossEntropyGradOp, RmsNormOp,
              ArgmaxOp>(op))
        candidates.push_back(op);
    });
    IRRewriter rewriter(&getContext());
    for (Operation *op : candidates) {
      rewriter.setInsertionPoint(op);
      Value result;
      LinearOperands operands;
      bool collected = false;
      if (auto linear = dyn_cast<LinearOp>(op))
        collected = succeeded(collectLinear(linear, operands));
      else if (auto qlinear = dyn_cast<QLinearOp>(op))
        collected = succeeded(collectLinear(qlinear, operands));
      if (collected && operands.transposed) {
        if (fitsTransposedKernel(operands))
          result = emitTransposedLinearKernel(rewriter, op->getLoc(), module,
                                              operands);
      } else if (collected) {
        result = emitLinearKernel(rewriter, op->getLoc(), module, operands,
                                  warpsPerBlock, batchTile, tiledFrom);
      } else if (auto attention = dyn_cast<AttentionOp>(op)) {
        // The warps' rows and partial sums must fit in the 48 KB of static
        // shared memory a block may have.
        int64_t sharedBytes =
            kAttentionWarps * (attention.getHeadDim() + 2) * 4;
        if (attention.getType().getElementType().isF32() &&
            sharedBytes <= 48 * 1024)
          result = emitAttentionKernel(rewriter, op->getLoc(), attention);
      } else if (auto grad = dyn_cast<AttentionGradOp>(op)) {
        bool allF32 = llvm::all_of(op->getOperandTypes(), [](Type type) {
          return cast<RankedTensorType>(type).getElementType().isF32();
        });
        if (allF32) {
          rewriter.replaceOp(
              op, emitAttentionGradKernels(rewriter, op->getLoc(), grad));
          continue;
        }
      } else if (auto head = dyn_cast<LinearCrossEntropyOp>(op)) {
        LinearOperands weight;
        if (succeeded(collectHead(head, weight))) {
          rewriter.replaceOp(
              op, emitLinearCrossEntropyKernel(rewriter, op->getLoc(), module,
                                               head, weight));
          continue;
        }
      } else if (auto headGrad = dyn_cast<LinearCrossEntropyGradOp>(op)) {
        LinearOperands weight;
        if (succeeded(collectHead(headGrad, weight)))
          result = emitLinearCrossEntropyGradKernel(rewriter, op->getLoc(),
                                                    module, headGrad, weight);
      } else if (auto norm = dyn_cast<RmsNormOp>(op)) {
        if (norm.getType().getElementType().isF32() &&
            norm.getType().getRank() >= 2 &&
            !ShapedType::isDynamic(norm.getType().getShape().back()))
          result = emitRmsNormKernel(rewriter, op->getLoc(), norm);
      } else if (auto argmax = dyn_cast<ArgmaxOp>(op)) {
        auto inputType = cast<RankedTensorType>(argmax.getInput().getType());
        int64_t size = inputType.getShape().back();
        if (inputType.getElementType().isF32() && inputType.getRank() >= 2 &&
            !ShapedType::isDynamic(size) &&
            size < std::numeric_limits<int32_t>::max())
          result = emitArgmaxKernel(rewriter, op->getLoc(), argmax);
      } else if (auto norm = dyn_cast<GroupNormOp>(op)) {
        if (norm.getType().getRank() == 2 &&
            norm.getType().getElementType().isF32() &&
            !norm.getType().isDynamicDim(1))
          result = emitGroupNormKernel(rewriter, op->getLoc(), norm);
      }
      // Anything else is left to the linalg lowering.
      if (result)
        rewriter.replaceOp(op, result);
    }
  }
};

} // namespace
