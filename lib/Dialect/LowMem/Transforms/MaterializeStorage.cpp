//===- MaterializeStorage.cpp - explicit storage of quantized weights -----===//
//
// Part of the lowmem project.
//
//===----------------------------------------------------------------------===//

#include "lowmem/Dialect/LowMem/Transforms/Passes.h"
#include "lowmem/Quant/Quant.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinAttributes.h"

#include <cstring>

namespace mlir::lowmem {
#define GEN_PASS_DEF_LOWMEMMATERIALIZESTORAGE
#include "lowmem/Dialect/LowMem/Transforms/Passes.h.inc"
} // namespace mlir::lowmem

using namespace mlir;
using namespace mlir::lowmem;

namespace {

namespace lq = ::lowmem::quant;

/// Wraps raw little-endian bytes as a dense constant of `type`.
Value makeConstant(OpBuilder &b, Location loc, RankedTensorType type,
                   const void *data, size_t bytes) {
  ArrayRef<char> raw(static_cast<const char *>(data), bytes);
  auto attr = DenseElementsAttr::getFromRawBuffer(type, raw);
  return arith::ConstantOp::create(b, loc, type, attr);
}

/// Evaluates `lowmem.quantize` of a dense f32 constant with the quantization
/// library and replaces it by constants of its storage.
LogicalResult foldQuantizeOfConstant(QuantizeOp op) {
  DenseElementsAttr dense;
  if (auto cst = op.getInput().getDefiningOp<arith::ConstantOp>())
    dense = dyn_cast<DenseElementsAttr>(cst.getValue());
  if (!dense)
    return op.emitOpError(
        "can only be evaluated at compile time on a dense constant; make the "
        "weight a function argument marked lowmem.param");
  if (!dense.getElementType().isF32())
    return op.emitOpError("compile-time quantization needs an f32 constant");
  QTensorType type = op.getType();
  std::vector<float> values;
  values.reserve(type.getNumElements());
  for (APFloat v : dense.getValues<APFloat>())
    values.push_back(v.convertToFloat());
  std::vector<int64_t> shape(type.getShape().begin(), type.getShape().end());
  lq::QuantizedTensor q =
      lq::quantize(values.data(), shape, toQuantLibFormat(type.getFormat()),
                   type.getBlockSize(), type.getDoubleQuant());

  OpBuilder b(op);
  Location loc = op.getLoc();
  SmallVector<RankedTensorType> types = type.getStorageTypes();
  SmallVector<Value> parts;
  auto add = [&](const void *data, size_t bytes) {
    RankedTensorType partType = types[parts.size()];
    parts.push_back(makeConstant(b, loc, partType, data, bytes));
  };
  add(q.data.data(), q.data.size());
  switch (type.getFormat()) {
  case QuantFormat::f16:
  case QuantFormat::bf16:
    break;
  case QuantFormat::int4:
    add(q.absmaxF16.data(), q.absmaxF16.size() * sizeof(uint16_t));
    break;
  case QuantFormat::int8:
    add(q.absmax.data(), q.absmax.size() * sizeof(float));
    break;
  case QuantFormat::nf4:
  case QuantFormat::fp4:
    if (!type.getDoubleQuant()) {
      add(q.absmax.data(), q.absmax.size() * sizeof(float));
      break;
    }
    add(q.absmaxCodes.data(), q.absmaxCodes.size());
    add(q.nestedAbsmax.data(), q.nestedAbsmax.size() * sizeof(float));
    add(&q.nestedOffset, sizeof(float));
    break;
  }
  Value assembled = AssembleOp::create(b, loc, type, parts);
  op.replaceAllUsesWith(assembled);
  op.erase();
  return success();
}

/// Replaces every qtensor argument of `func` by its storage parts.
void expandArguments(func::FuncOp func) {
  MLIRContext *ctx = func.getContext();
  for (int64_t idx = static_cast<int64_t>(func.getNumArguments()) - 1; idx >= 0;
       --idx) {
    BlockArgument arg = func.getArgument(idx);
    auto type = dyn_cast<QTensorType>(arg.getType());
    if (!type)
      continue;
    SmallVector<RankedTensorType> partTypes = type.getStorageTypes();
    SmallVector<StringRef> partNames = type.getStorageNames();
    DictionaryAttr oldAttrs = func.getArgAttrDict(idx);
    SmallVector<unsigned> indices(partTypes.size(), idx + 1);
    SmallVector<Type> types(partTypes.begin(), partTypes.end());
    SmallVector<DictionaryAttr> attrs;
    SmallVector<Location> locs(partTypes.size(), arg.getLoc());
    for (StringRef part : partNames) {
      NamedAttrList list(oldAttrs);
      list.set(LowMemDialect::kPartAttrName, StringAttr::get(ctx, part));
      list.set("lowmem.qtype", TypeAttr::get(type));
      attrs.push_back(list.getDictionary(ctx));
    }
    (void)func.insertArguments(indices, types, attrs, locs);
    OpBuilder b = OpBuilder::atBlockBegin(&func.getBody().front());
    SmallVector<Value> parts;
    for (size_t i = 0; i < partTypes.size(); ++i)
      parts.push_back(func.getArgument(idx + 1 + i));
    Value assembled = AssembleOp::create(b, arg.getLoc(), type, parts);
    arg.replaceAllUsesWith(assembled);
    (void)func.eraseArgument(idx);
  }
}

struct MaterializeStoragePass
    : public mlir::lowmem::impl::LowMemMaterializeStorageBase<
          MaterializeStoragePass> {
  void runOnOperation() override {
    bool failedAny = false;
    getOperation().walk([&](QuantizeOp op) {
      failedAny |= failed(foldQuantizeOfConstant(op));
    });
    if (failedAny)
      return signalPassFailure();
    for (auto func : getOperation().getOps<func::FuncOp>())
      if (!func.isExternal())
        expandArguments(func);
  }
};

} // namespace
