//===- KvCache.cpp - a decoder's forward into a generation step -----------===//
//
// Part of the lowmem project.
//
//===----------------------------------------------------------------------===//
//
// Builds the step of autoregressive generation from a causal decoder's
// forward: the keys and values of the tokens already seen live in cache
// arguments, so a step computes only its own tokens' (all of a prompt's in a
// prefill, one a row in a decode step), and only the last position's logits,
// from which it picks the next token greedily.
//
//===----------------------------------------------------------------------===//

#include "lowmem/Dialect/LowMem/Transforms/Passes.h"

#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Builders.h"
#include "llvm/ADT/DenseSet.h"

namespace mlir::lowmem {
#define GEN_PASS_DEF_LOWMEMKVCACHE
#include "lowmem/Dialect/LowMem/Transforms/Passes.h.inc"
} // namespace mlir::lowmem

using namespace mlir;
using namespace mlir::lowmem;

namespace {

/// Ops that compute each position from that position alone, with no
/// knowledge of where it is: they may run on any subset of the positions.
bool isRowWise(Operation *op) {
  return isa<LinearOp, QLinearOp, LoraOp, RmsNormOp, GroupNormOp, SwiGluOp,
             AddOp, ReluOp, ScaleOp>(op);
}

/// Ops a forward may hold besides those: the position-aware ones the pass
/// rewrites, and ones that touch no activation.
bool isKnown(Operation *op) {
  return isRowWise(op) ||
         isa<AttentionOp, RopeOp, EmbeddingOp, AssembleOp, DequantizeOp,
             QuantizeOp, arith::ConstantOp, func::ReturnOp>(op);
}

/// An activation `[B, S, F]`, as opposed to a weight.
bool isRows(Value value) {
  auto type = dyn_cast<RankedTensorType>(value.getType());
  return type && type.getRank() == 3;
}

struct KvCachePass : public mlir::lowmem::impl::LowMemKvCacheBase<KvCachePass> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    auto func = module.lookupSymbol<func::FuncOp>(entry);
    if (!func) {
      module.emitError("no function '")
          << entry << "' to build a generation step from";
      return signalPassFailure();
    }
    if (failed(rewrite(func)))
      return signalPassFailure();
  }

  LogicalResult rewrite(func::FuncOp func) {
    MLIRContext *ctx = func.getContext();
    Type element = llvm::StringSwitch<Type>(cacheType)
                       .Case("f32", Float32Type::get(ctx))
                       .Case("f16", Float16Type::get(ctx))
                       .Case("bf16", BFloat16Type::get(ctx))
                       .Case("int8", IntegerType::get(ctx, 8))
                       .Default(Type());
    if (!element)
      return func.emitError("unknown KV cache type '")
             << cacheType << "'; expected f32, f16, bf16 or int8";
    bool quantized = element.isInteger(8);
    if (!func.getBody().hasOneBlock() || func.getNumResults() != 1)
      return func.emitError("a generation step is built from a forward with "
                            "one block and one result (the logits)");
    Block &body = func.getBody().front();
    auto ret = cast<func::ReturnOp>(body.getTerminator());
    if (!isRows(ret.getOperand(0)))
      return func.emitError("the forward must return logits [batch, seq, "
                            "vocab], not ")
             << ret.getOperand(0).getType();

    // The token ids: the one input, [B, S] i64.
    BlockArgument ids;
    for (BlockArgument arg : func.getArguments()) {
      if (!func.getArgAttr(arg.getArgNumber(), LowMemDialect::kInputAttrName))
        continue;
      auto type = dyn_cast<RankedTensorType>(arg.getType());
      if (ids || !type || type.getRank() != 2 ||
          !type.getElementType().isInteger(64))
        return func.emitError("a generation step needs exactly one input, "
                              "token ids [batch, seq] of i64");
      ids = arg;
    }
    if (!ids)
      return func.emitError("the forward has no input (lowmem.input)");
    if (!cast<RankedTensorType>(ids.getType()).isDynamicDim(1))
      return func.emitError("a generation step needs a dynamic sequence "
                            "dimension: prefill and decode steps run "
                            "different numbers of tokens");

    SmallVector<AttentionOp> attentions;
    SmallVector<RopeOp> ropes;
    for (Operation &op : body.without_terminator()) {
      if (!isKnown(&op))
        return op.emitOpError("cannot be part of a generation step: the KV "
                              "cache needs every position computed from its "
                              "own inputs, apart from attention and rope");
      if (auto attention = dyn_cast<AttentionOp>(op)) {
        if (!attention.getCausal())
          return attention.emitOpError("is not causal: earlier positions "
                                       "would see later ones, which a KV "
                                       "cache cannot hold");
        if (attention.getKeyStarts() || attention.getKeyScales())
          return attention.emitOpError("already reads a cache");
        attentions.push_back(attention);
      }
      if (auto rope = dyn_cast<RopeOp>(op)) {
        if (rope.getOffset() || rope.getRowStarts())
          return rope.emitOpError("already has a run-time offset");
        ropes.push_back(rope);
      }
    }
    if (attentions.empty())
      return func.emitError("the forward has no attention: there is nothing "
                            "to cache");

    // past: the number of positions the caches hold when the step starts.
    Location loc = func.getLoc();
    auto named = [&](StringRef attr, Attribute value) {
      return DictionaryAttr::get(ctx, {NamedAttribute(attr, value)});
    };
    unsigned pastIndex = func.getNumArguments();
    if (failed(func.insertArgument(
            pastIndex, IndexType::get(ctx),
            named(LowMemDialect::kPositionAttrName, UnitAttr::get(ctx)), loc)))
      return failure();
    Value past = func.getArgument(pastIndex);
    // row_starts: where each row of a left-padded batch begins.
    unsigned startsIndex = func.getNumArguments();
    auto startsType = RankedTensorType::get(
        {cast<RankedTensorType>(ids.getType()).getDimSize(0)},
        IntegerType::get(ctx, 64));
    if (failed(func.insertArgument(
            startsIndex, startsType,
            named(LowMemDialect::kRowStartsAttrName, UnitAttr::get(ctx)), loc)))
      return failure();
    Value starts = func.getArgument(startsIndex);
    for (RopeOp rope : ropes) {
      rope.getOffsetMutable().assign(past);
      rope.getRowStartsMutable().assign(starts);
    }
    for (AttentionOp attention : attentions)
      attention.getKeyStartsMutable().assign(starts);

    // Each attention's keys and values go through its caches: `rows` is
    // written into a new cache argument `name` of `element`s, and the
    // attention reads the filled prefix, [0, past + S).
    SmallVector<Value> updates;
    SmallVector<StringAttr> updateNames;
    auto throughCache = [&](OpBuilder &b, Location l, Value rows,
                            const Twine &name, Type element) -> Value {
      int64_t features = cast<RankedTensorType>(rows.getType()).getDimSize(2);
      auto cacheType = RankedTensorType::get(
          {ShapedType::kDynamic, ShapedType::kDynamic, features}, element);
      StringAttr nameAttr = StringAttr::get(ctx, name);
      unsigned index = func.getNumArguments();
      if (failed(func.insertArgument(
              index, cacheType, named(LowMemDialect::kCacheAttrName, nameAttr),
              l)))
        return Value();
      Value updated =
          CacheUpdateOp::create(b, l, rows, func.getArgument(index), past);
      updates.push_back(updated);
      updateNames.push_back(nameAttr);
      Value batch = tensor::DimOp::create(b, l, rows, 0);
      Value filled = arith::AddIOp::create(
          b, l, past, tensor::DimOp::create(b, l, rows, 1));
      SmallVector<OpFoldResult> offsets(3, b.getIndexAttr(0));
      SmallVector<OpFoldResult> sizes{batch, filled, b.getIndexAttr(features)};
      SmallVector<OpFoldResult> strides(3, b.getIndexAttr(1));
      return tensor::ExtractSliceOp::create(b, l, cacheType, updated, offsets,
                                            sizes, strides);
    };
    for (auto [i, attention] : llvm::enumerate(attentions)) {
      OpBuilder b(attention);
      Location l = attention.getLoc();
      std::string prefix = "cache." + std::to_string(i);
      Value key = attention.getKey(), value = attention.getValue();
      if (!quantized) {
        Value keys = throughCache(b, l, key, prefix + ".key", element);
        Value values = throughCache(b, l, value, prefix + ".value", element);
        if (!keys || !values)
          return failure();
        attention.getKeyMutable().assign(keys);
        attention.getValueMutable().assign(values);
        continue;
      }
      // int8: codes and one scale per token and head, each in its cache.
      int64_t headDim = attention.getHeadDim();
      SmallVector<Value, 4> views;
      for (auto [rows, what] :
           {std::pair<Value, StringRef>{key, ".key"}, {value, ".value"}}) {
        auto type = cast<RankedTensorType>(rows.getType());
        auto codesType =
            RankedTensorType::get(type.getShape(), IntegerType::get(ctx, 8));
        auto scalesType =
            RankedTensorType::get({type.getDimSize(0), type.getDimSize(1),
                                   type.getDimSize(2) / headDim},
                                  Float32Type::get(ctx));
        auto q = QuantizeGroupsOp::create(b, l, codesType, scalesType, rows,
                                          headDim);
        views.push_back(throughCache(b, l, q.getCodes(), prefix + what,
                                     codesType.getElementType()));
        views.push_back(throughCache(b, l, q.getScales(),
                                     prefix + what + "_scales",
                                     scalesType.getElementType()));
      }
      if (llvm::is_contained(views, Value()))
        return failure();
      attention.getKeyMutable().assign(views[0]);
      attention.getKeyScalesMutable().assign(views[1]);
      attention.getValueMutable().assign(views[2]);
      attention.getValueScalesMutable().assign(views[3]);
    }
    Value logits = lastPositionOnly(ret);

    // Greedy sampling; the step returns the next ids, the logits, and the
    // caches to be written in place.
    OpBuilder b(ret);
    auto logitsType = cast<RankedTensorType>(logits.getType());
    auto nextType = RankedTensorType::get(logitsType.getShape().drop_back(),
                                          IntegerType::get(ctx, 64));
    Value next = ArgmaxOp::create(b, ret.getLoc(), nextType, logits);
    SmallVector<Value> results{next, logits};
    results.append(updates);
    func::ReturnOp::create(b, ret.getLoc(), results);
    ret.erase();
    func.setFunctionType(FunctionType::get(ctx, func.getArgumentTypes(),
                                           ValueRange(results).getTypes()));
    SmallVector<DictionaryAttr> resultAttrs{
        named(LowMemDialect::kOutputAttrName, StringAttr::get(ctx, "next_ids")),
        named(LowMemDialect::kOutputAttrName, StringAttr::get(ctx, "logits"))};
    for (StringAttr name : updateNames)
      resultAttrs.push_back(named(LowMemDialect::kUpdateAttrName, name));
    func.setAllResultAttrs(resultAttrs);
    func.setSymName(stepName);
    return success();
  }

  /// Makes the ops that lead to the returned logits through row-wise ops
  /// alone (and are used by nothing else) compute the last position only:
  /// their other inputs are sliced to it. Returns the new logits.
  Value lastPositionOnly(func::ReturnOp ret) {
    Block *body = ret->getBlock();
    llvm::DenseSet<Operation *> cone{ret};
    for (Operation &op : llvm::reverse(*body)) {
      if (!isRowWise(&op) || op.use_empty())
        continue;
      if (llvm::all_of(op.getUsers(),
                       [&](Operation *user) { return cone.contains(user); }))
        cone.insert(&op);
    }
    DenseMap<Value, Value> sliced;
    auto lastRow = [&](Value rows) {
      Value &slice = sliced[rows];
      if (slice)
        return slice;
      OpBuilder b(rows.getContext());
      b.setInsertionPointAfterValue(rows);
      Location l = rows.getLoc();
      auto type = cast<RankedTensorType>(rows.getType());
      Value one = arith::ConstantIndexOp::create(b, l, 1);
      Value last = arith::SubIOp::create(
          b, l, tensor::DimOp::create(b, l, rows, 1), one);
      SmallVector<OpFoldResult> offsets{b.getIndexAttr(0), last,
                                        b.getIndexAttr(0)};
      SmallVector<OpFoldResult> sizes{
          tensor::DimOp::create(b, l, rows, 0).getResult(), one,
          b.getIndexAttr(type.getDimSize(2))};
      SmallVector<OpFoldResult> strides(3, b.getIndexAttr(1));
      slice = tensor::ExtractSliceOp::create(b, l, type, rows, offsets, sizes,
                                             strides);
      return slice;
    };
    for (Operation &op : *body) {
      if (op.hasTrait<OpTrait::IsTerminator>() || !cone.contains(&op))
        continue;
      for (OpOperand &operand : op.getOpOperands()) {
        Operation *def = operand.get().getDefiningOp();
        if (isRows(operand.get()) && (!def || !cone.contains(def)))
          operand.set(lastRow(operand.get()));
      }
    }
    Value logits = ret.getOperand(0);
    Operation *def = logits.getDefiningOp();
    return def && cone.contains(def) ? logits : lastRow(logits);
  }
};

} // namespace
