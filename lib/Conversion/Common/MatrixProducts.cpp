//===- MatrixProducts.cpp - operands and weight runs of products ----------===//
//
// Part of the lowmem project.
//
//===----------------------------------------------------------------------===//

#include "lowmem/Conversion/MatrixProducts.h"
#include "lowmem/Conversion/BuildUtils.h"
#include "lowmem/Quant/Quant.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/TypeUtilities.h"

using namespace mlir;
using namespace mlir::lowmem;

namespace lq = ::lowmem::quant;

/// The alignment of a code table's global: a 16-byte vector load of it
/// never straddles a line.
static constexpr int64_t kTableAlign = 16;

static Value cI32(OpBuilder &b, Location loc, int32_t v) {
  return arith::ConstantOp::create(b, loc, b.getI32IntegerAttr(v));
}

memref::GlobalOp mlir::lowmem::tableGlobal(ModuleOp module, StringRef name,
                                           ArrayRef<float> values) {
  if (auto global = module.lookupSymbol<memref::GlobalOp>(name))
    return global;
  OpBuilder b(module.getContext());
  b.setInsertionPointToStart(module.getBody());
  auto f32 = b.getF32Type();
  int64_t size = values.size();
  auto type = MemRefType::get({size}, f32);
  auto init =
      DenseElementsAttr::get(RankedTensorType::get({size}, f32), values);
  return memref::GlobalOp::create(b, module.getLoc(), b.getStringAttr(name),
                                  b.getStringAttr("private"),
                                  TypeAttr::get(type), init, b.getUnitAttr(),
                                  b.getI64IntegerAttr(kTableAlign));
}

/// Copies `global` into the workgroup buffer `shared`, spread over the
/// block's threads.
static void stageTable(OpBuilder &b, Location loc, Value global, Value shared,
                       Value tid, Value numThreads) {
  int64_t size = cast<MemRefType>(global.getType()).getDimSize(0);
  scf::ForOp::create(b, loc, tid, indexConst(b, loc, size), numThreads,
                     ValueRange{},
                     [&](OpBuilder &fb, Location fl, Value i, ValueRange) {
                       Value v = memref::LoadOp::create(fb, fl, global, i);
                       memref::StoreOp::create(fb, fl, v, shared, i);
                       scf::YieldOp::create(fb, fl);
                     });
}

bool mlir::lowmem::wholeRows(Value tensor) {
  while (auto cast = tensor.getDefiningOp<tensor::CastOp>())
    tensor = cast.getSource();
  auto slice = tensor.getDefiningOp<tensor::ExtractSliceOp>();
  if (!slice)
    return true;
  RankedTensorType source = slice.getSourceType();
  int64_t last = source.getRank() - 1;
  return slice.getType().getRank() == source.getRank() &&
         isConstantIntValue(slice.getMixedOffsets()[last], 0) &&
         !source.isDynamicDim(last) &&
         slice.getType().getDimSize(last) == source.getDimSize(last);
}

Rows Rows::of(OpBuilder &b, Location loc, Value tensor) {
  auto type = cast<RankedTensorType>(tensor.getType());
  Rows rows;
  rows.count = indexConst(b, loc, 1);
  for (int64_t i = 0; i + 1 < type.getRank(); ++i) {
    Value size;
    if (type.isDynamicDim(i)) {
      size = tensor::DimOp::create(b, loc, tensor, i);
      rows.dynamicSizes.push_back(size);
    } else {
      size = indexConst(b, loc, type.getDimSize(i));
    }
    rows.sizes.push_back(size);
    rows.count = arith::MulIOp::create(b, loc, rows.count, size);
  }
  return rows;
}

SmallVector<Value> Rows::indices(OpBuilder &b, Location loc, Value flat) const {
  SmallVector<Value> at(sizes.size());
  for (int64_t i = sizes.size() - 1; i > 0; --i) {
    at[i] = arith::RemUIOp::create(b, loc, flat, sizes[i]);
    flat = arith::DivUIOp::create(b, loc, flat, sizes[i]);
  }
  if (!at.empty())
    at[0] = flat;
  return at;
}

int64_t mlir::lowmem::weightBits(const LinearOperands &ops) {
  if (!ops.quantType)
    return 32;
  switch (ops.quantType->getFormat()) {
  case QuantFormat::int8:
    return 8;
  case QuantFormat::f16:
  case QuantFormat::bf16:
    return 16;
  default:
    return 4;
  }
}

DecoderTables DecoderTables::of(ModuleOp module, const LinearOperands &ops) {
  DecoderTables tables;
  if (!ops.quantType)
    return tables;
  QuantFormat format = ops.quantType->getFormat();
  ArrayRef<float> codes = codeTable(format);
  if (!codes.empty())
    tables.codes =
        tableGlobal(module,
                    format == QuantFormat::nf4 ? "__lowmem_nf4_table"
                                               : "__lowmem_fp4_table",
                    codes);
  if (ops.quantType->getDoubleQuant())
    tables.dynamicMap =
        tableGlobal(module, "__lowmem_dynamic_map", lq::dynamicMap());
  return tables;
}

std::optional<WeightDecoder>
DecoderTables::decoder(OpBuilder &b, Location loc, const LinearOperands &ops,
                       ArrayRef<Value> parts) const {
  if (!ops.quantType)
    return std::nullopt;
  auto read = [&](memref::GlobalOp global) -> Value {
    if (!global)
      return Value();
    return memref::GetGlobalOp::create(b, loc, global.getType(),
                                       global.getSymName());
  };
  return WeightDecoder(*ops.quantType, parts, read(codes), read(dynamicMap));
}

SmallVector<int64_t> DecoderTables::sharedSizes() const {
  SmallVector<int64_t> sizes;
  for (memref::GlobalOp global : {codes, dynamicMap})
    if (global)
      sizes.push_back(global.getType().getDimSize(0));
  return sizes;
}

void DecoderTables::stage(OpBuilder &b, Location loc,
                          ArrayRef<BlockArgument> shared, Value tid,
                          int64_t numThreads) const {
  const BlockArgument *buffer = shared.begin();
  for (memref::GlobalOp global : {codes, dynamicMap})
    if (global)
      stageTable(b, loc,
                 memref::GetGlobalOp::create(b, loc, global.getType(),
                                             global.getSymName()),
                 *buffer++, tid, indexConst(b, loc, numThreads));
  if (buffer != shared.begin())
    gpu::BarrierOp::create(b, loc);
}

std::optional<WeightDecoder>
DecoderTables::sharedDecoder(const LinearOperands &ops, ArrayRef<Value> parts,
                             ArrayRef<BlockArgument> shared) const {
  if (!ops.quantType)
    return std::nullopt;
  Value table = codes ? Value(shared[0]) : Value();
  Value map = dynamicMap ? Value(shared[codes ? 1 : 0]) : Value();
  return WeightDecoder(*ops.quantType, parts, table, map);
}

SmallVector<Value> mlir::lowmem::elementsOf(OpBuilder &b, Location loc,
                                            Value vector) {
  SmallVector<Value> values;
  int64_t count = cast<VectorType>(vector.getType()).getDimSize(0);
  for (int64_t i = 0; i < count; ++i)
    values.push_back(
        vector::ExtractOp::create(b, loc, vector, ArrayRef<int64_t>{i}));
  return values;
}

SmallVector<Value> mlir::lowmem::loadRun(OpBuilder &b, Location loc,
                                         Value buffer, ValueRange at,
                                         int64_t count, int64_t align) {
  Type element = cast<MemRefType>(buffer.getType()).getElementType();
  Value vector = vector::LoadOp::create(
      b, loc, VectorType::get({count}, element), buffer, at,
      /*nontemporal=*/false, llvm::MaybeAlign(align));
  return elementsOf(b, loc, vector);
}

SmallVector<Value>
mlir::lowmem::decodeRun(OpBuilder &cb, Location cl, const LinearOperands &ops,
                        const std::optional<WeightDecoder> &decoder, Value w,
                        ArrayRef<Value> parts, Value row, Value col0,
                        Value flatRow, int64_t count) {
  Type f32 = cb.getF32Type();
  int64_t loadBytes = count * weightBits(ops) / 8;
  SmallVector<Value> values;
  auto vecLoad = [&](Value base, ValueRange idx, Type elem, int64_t n) {
    return vector::LoadOp::create(cb, cl, VectorType::get({n}, elem), base, idx,
                                  /*nontemporal=*/false,
                                  llvm::MaybeAlign(loadBytes));
  };
  auto extract = [&](Value vec, int64_t i) -> Value {
    return vector::ExtractOp::create(cb, cl, vec, ArrayRef<int64_t>{i});
  };
  if (!ops.quantType)
    return loadRun(cb, cl, w, {row, col0}, count, loadBytes);
  QuantFormat format = ops.quantType->getFormat();
  Value flat = arith::AddIOp::create(cb, cl, flatRow, col0);
  switch (format) {
  case QuantFormat::f16:
  case QuantFormat::bf16: {
    Type elem = getElementTypeOrSelf(parts[0].getType());
    Value v = vecLoad(parts[0], {row, col0}, elem, count);
    return elementsOf(
        cb, cl,
        arith::ExtFOp::create(cb, cl, VectorType::get({count}, f32), v));
  }
  case QuantFormat::int8: {
    Value v = vecLoad(parts[0], {flat}, cb.getI8Type(), count);
    Value scale = memref::LoadOp::create(cb, cl, parts[1], ValueRange{row});
    for (int64_t i = 0; i < count; ++i)
      values.push_back(decoder->int8Value(cb, cl, extract(v, i), scale));
    return values;
  }
  default:
    break;
  }
  // 4-bit: two codes a byte.
  int64_t blockSize = ops.quantType->getBlockSize();
  Value byteIndex = arith::DivUIOp::create(cb, cl, flat, indexConst(cb, cl, 2));
  Value bytes = vecLoad(parts[0], {byteIndex}, cb.getI8Type(), loadBytes);
  Value wide = arith::ExtUIOp::create(
      cb, cl, VectorType::get({loadBytes}, cb.getI32Type()), bytes);
  int64_t perScale = std::min(blockSize, count);
  SmallVector<Value> scales;
  for (int64_t s = 0; s < count / perScale; ++s) {
    Value first =
        arith::AddIOp::create(cb, cl, flat, indexConst(cb, cl, s * perScale));
    Value block =
        arith::DivUIOp::create(cb, cl, first, indexConst(cb, cl, blockSize));
    scales.push_back(decoder->blockScale(cb, cl, block));
  }
  Value mask = cI32(cb, cl, 15), four = cI32(cb, cl, 4);
  bool highFirst = format != QuantFormat::int4;
  for (int64_t j = 0; j < loadBytes; ++j) {
    Value byte = extract(wide, j);
    Value high = arith::AndIOp::create(
        cb, cl, arith::ShRUIOp::create(cb, cl, byte, four), mask);
    Value low = arith::AndIOp::create(cb, cl, byte, mask);
    Value first = highFirst ? high : low;
    Value second = highFirst ? low : high;
    int64_t e = 2 * j;
    values.push_back(decoder->codeValue(cb, cl, first, scales[e / perScale]));
    values.push_back(
        decoder->codeValue(cb, cl, second, scales[(e + 1) / perScale]));
  }
  return values;
}

LinearBuffers LinearBuffers::read(OpBuilder &b, Location loc,
                                  const LinearOperands &ops) {
  LinearBuffers buffers;
  buffers.w = ops.denseWeight ? readBuffer(b, loc, ops.denseWeight) : Value();
  for (Value part : ops.parts)
    buffers.parts.push_back(readBuffer(b, loc, part));
  buffers.bias = ops.bias ? readBuffer(b, loc, ops.bias) : Value();
  buffers.rows = Rows::of(b, loc, ops.input);
  buffers.x = readInPlace(b, loc, ops.input);
  buffers.residual = ops.residual ? readInPlace(b, loc, ops.residual) : Value();
  auto inputType = cast<RankedTensorType>(ops.input.getType());
  SmallVector<int64_t> outShape(inputType.getShape().drop_back());
  outShape.push_back(ops.n);
  buffers.outType = MemRefType::get(outShape, b.getF32Type());
  buffers.out = memref::AllocOp::create(b, loc, buffers.outType,
                                        buffers.rows.dynamicSizes,
                                        b.getI64IntegerAttr(64));
  return buffers;
}

SmallVector<SmallVector<Value>> LinearBuffers::tileRows(OpBuilder &b,
                                                        Location loc, Value m0,
                                                        int64_t count) const {
  Value lastRow =
      arith::SubIOp::create(b, loc, rows.count, indexConst(b, loc, 1));
  SmallVector<SmallVector<Value>> tile;
  for (int64_t t = 0; t < count; ++t)
    tile.push_back(rows.indices(
        b, loc,
        arith::MinUIOp::create(
            b, loc, arith::AddIOp::create(b, loc, m0, indexConst(b, loc, t)),
            lastRow)));
  return tile;
}

void LinearBuffers::forValidRows(
    OpBuilder &b, Location loc, Value m0, int64_t count,
    function_ref<void(OpBuilder &, Location, int64_t, SmallVector<Value>)> body)
    const {
  for (int64_t t = 0; t < count; ++t) {
    Value row = arith::AddIOp::create(b, loc, m0, indexConst(b, loc, t));
    Value valid = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult, row,
                                        rows.count);
    scf::IfOp::create(b, loc, valid, [&](OpBuilder &sb, Location sl) {
      body(sb, sl, t, rows.indices(sb, sl, row));
      scf::YieldOp::create(sb, sl);
    });
  }
}

void LinearBuffers::store(OpBuilder &b, Location loc, const LinearOperands &ops,
                          Value v, Value biasValue, ValueRange at) const {
  if (biasValue)
    v = arith::AddFOp::create(b, loc, biasValue, v);
  if (ops.activation == Activation::relu)
    v = arith::MaximumFOp::create(b, loc, v, f32Const(b, loc, 0.0f));
  if (residual)
    v = arith::AddFOp::create(b, loc, v,
                              memref::LoadOp::create(b, loc, residual, at));
  memref::StoreOp::create(b, loc, v, out, at);
}

void LinearBuffers::storeFeature(OpBuilder &b, Location loc,
                                 const LinearOperands &ops, Value v,
                                 ValueRange at) const {
  Value biasValue =
      bias ? memref::LoadOp::create(b, loc, bias, at.back()).getResult()
           : Value();
  store(b, loc, ops, v, biasValue, at);
}

Value LinearBuffers::result(OpBuilder &b, Location loc) const {
  auto type = RankedTensorType::get(outType.getShape(), b.getF32Type());
  return bufferization::ToTensorOp::create(b, loc, type, out, b.getUnitAttr(),
                                           b.getUnitAttr());
}

bool mlir::lowmem::blocksHoldRuns(const LinearOperands &ops, int64_t run) {
  return !ops.quantType || weightBits(ops) != 4 ||
         ops.quantType->getBlockSize() % run == 0;
}

template <typename LinearLikeOp>
static LogicalResult collectOperands(LinearLikeOp op, LinearOperands &ops) {
  auto inputType = dyn_cast<RankedTensorType>(op.getInput().getType());
  if (!inputType || inputType.getRank() < 2 ||
      !inputType.getElementType().isF32() ||
      !op.getType().getElementType().isF32())
    return failure();
  ops.input = op.getInput();
  ops.bias = op.getBias();
  ops.residual = op.getResidual();
  ops.activation = op.getActivation();
  ops.transposed = op.getTransposeWeight();
  ops.k = inputType.getShape().back();
  ops.n = op.getType().getShape().back();
  if (ShapedType::isDynamic(ops.k) || ShapedType::isDynamic(ops.n))
    return failure();
  if constexpr (std::is_same_v<LinearLikeOp, LinearOp>) {
    if (!getElementTypeOrSelf(op.getWeight().getType()).isF32())
      return failure();
    ops.denseWeight = op.getWeight();
  } else {
    auto storage = op.getWeight().template getDefiningOp<AssembleOp>();
    if (!storage)
      return failure();
    ops.quantType = op.getWeight().getType();
    ops.parts.assign(storage.getParts().begin(), storage.getParts().end());
  }
  return success();
}

LogicalResult mlir::lowmem::collectLinear(LinearOp op, LinearOperands &ops) {
  return collectOperands(op, ops);
}

LogicalResult mlir::lowmem::collectLinear(QLinearOp op, LinearOperands &ops) {
  return collectOperands(op, ops);
}
