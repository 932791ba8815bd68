//===- WeightDecoder.cpp - decode quantized weights in generated code -----===//
//
// Part of the lowmem project.
//
//===----------------------------------------------------------------------===//

#include "lowmem/Conversion/WeightDecoder.h"
#include "lowmem/Quant/Quant.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

using namespace mlir;
using namespace mlir::lowmem;

namespace lq = ::lowmem::quant;

namespace {

Value indexConst(OpBuilder &b, Location loc, int64_t v) {
  return arith::ConstantIndexOp::create(b, loc, v);
}

Value f32Const(OpBuilder &b, Location loc, float v) {
  return arith::ConstantOp::create(b, loc, b.getF32FloatAttr(v));
}

} // namespace

WeightDecoder WeightDecoder::create(OpBuilder &b, Location loc,
                                    QTensorType type, ValueRange parts,
                                    bool tablesInRegisters) {
  Value table, dynamicMap;
  ArrayRef<float> codes = codeTable(type.getFormat());
  if (!codes.empty())
    table = tableConstant(b, loc, codes, tablesInRegisters);
  if (type.getDoubleQuant())
    dynamicMap = tableConstant(b, loc, lq::dynamicMap(), tablesInRegisters);
  return WeightDecoder(type, parts, table, dynamicMap);
}

Value mlir::lowmem::readElement(OpBuilder &b, Location loc, Value source,
                                ValueRange indices) {
  if (isa<MemRefType>(source.getType()))
    return memref::LoadOp::create(b, loc, source, indices);
  if (isa<VectorType>(source.getType())) {
    SmallVector<OpFoldResult> position(indices.begin(), indices.end());
    return vector::ExtractOp::create(b, loc, source, position);
  }
  return tensor::ExtractOp::create(b, loc, source, indices);
}

Value mlir::lowmem::tableConstant(OpBuilder &b, Location loc,
                                  ArrayRef<float> values, bool asVector) {
  ShapedType type;
  if (asVector)
    type = VectorType::get({(int64_t)values.size()}, b.getF32Type());
  else
    type = RankedTensorType::get({(int64_t)values.size()}, b.getF32Type());
  return arith::ConstantOp::create(b, loc, type,
                                   DenseElementsAttr::get(type, values));
}

ArrayRef<float> mlir::lowmem::codeTable(QuantFormat format) {
  if (format == QuantFormat::nf4)
    return lq::nf4Table();
  if (format == QuantFormat::fp4)
    return lq::fp4Table();
  return {};
}

Value WeightDecoder::blockScale(OpBuilder &b, Location loc, Value block) const {
  Type f32 = b.getF32Type();
  if (type.getFormat() == QuantFormat::int4)
    return arith::ExtFOp::create(b, loc, f32,
                                 readElement(b, loc, parts[1], block));
  if (!type.getDoubleQuant())
    return readElement(b, loc, parts[1], block);
  Value scaleCode = arith::IndexCastOp::create(
      b, loc, b.getIndexType(),
      arith::ExtUIOp::create(b, loc, b.getI32Type(),
                             readElement(b, loc, parts[1], block)));
  Value nested =
      readElement(b, loc, parts[2],
                  arith::DivUIOp::create(
                      b, loc, block, indexConst(b, loc, lq::kNestedBlockSize))
                      .getResult());
  Value offset = readElement(b, loc, parts[3], indexConst(b, loc, 0));
  Value dyn = readElement(b, loc, dynamicMap, scaleCode);
  return arith::AddFOp::create(
      b, loc, arith::MulFOp::create(b, loc, dyn, nested), offset);
}

Value WeightDecoder::codeValue(OpBuilder &b, Location loc, Value code,
                               Value scale) const {
  Type f32 = b.getF32Type();
  if (type.getFormat() == QuantFormat::int4) {
    // ((q / 15) * 2) * m - m, in the quantization library's order.
    Value q = arith::UIToFPOp::create(b, loc, f32, code);
    Value norm = arith::DivFOp::create(b, loc, q, f32Const(b, loc, 15.0f));
    Value twice = arith::MulFOp::create(b, loc, norm, f32Const(b, loc, 2.0f));
    return arith::SubFOp::create(
        b, loc, arith::MulFOp::create(b, loc, twice, scale), scale);
  }
  Value codeIndex = arith::IndexCastOp::create(b, loc, b.getIndexType(), code);
  Value value = readElement(b, loc, table, codeIndex);
  return arith::MulFOp::create(b, loc, value, scale);
}

Value WeightDecoder::int8Value(OpBuilder &b, Location loc, Value code,
                               Value scale) const {
  Value q = arith::SIToFPOp::create(b, loc, b.getF32Type(), code);
  Value prod = arith::MulFOp::create(b, loc, q, scale);
  return arith::DivFOp::create(b, loc, prod, f32Const(b, loc, 127.0f));
}

Value WeightDecoder::decode(OpBuilder &b, Location loc,
                            ValueRange indices) const {
  ArrayRef<int64_t> shape = type.getShape();
  Type f32 = b.getF32Type();
  if (type.getFormat() == QuantFormat::f16 ||
      type.getFormat() == QuantFormat::bf16)
    return arith::ExtFOp::create(b, loc, f32,
                                 readElement(b, loc, parts[0], indices));
  // Flat row-major element index.
  Value flat = indices[0];
  for (size_t i = 1; i < indices.size(); ++i)
    flat = arith::AddIOp::create(
        b, loc,
        arith::MulIOp::create(b, loc, flat, indexConst(b, loc, shape[i])),
        indices[i]);
  if (type.getFormat() == QuantFormat::int8) {
    Value code = readElement(b, loc, parts[0], flat);
    Value scale = readElement(b, loc, parts[1], indices[0]);
    return int8Value(b, loc, code, scale);
  }
  // Packed 4-bit code.
  Value two = indexConst(b, loc, 2);
  Value byteIndex = arith::DivUIOp::create(b, loc, flat, two);
  Value parity = arith::RemUIOp::create(b, loc, flat, two);
  Value byte = readElement(b, loc, parts[0], byteIndex);
  Type i32 = b.getI32Type();
  Value wide = arith::ExtUIOp::create(b, loc, i32, byte);
  // nf4/fp4 keep the first element in the high nibble, int4 in the low.
  Value nibbleSel =
      type.getFormat() == QuantFormat::int4
          ? parity
          : arith::SubIOp::create(b, loc, indexConst(b, loc, 1), parity);
  Value shift = arith::IndexCastOp::create(
      b, loc, i32,
      arith::MulIOp::create(b, loc, nibbleSel, indexConst(b, loc, 4)));
  Value code = arith::AndIOp::create(
      b, loc, arith::ShRUIOp::create(b, loc, wide, shift),
      arith::ConstantOp::create(b, loc, b.getI32IntegerAttr(15)));
  Value block = arith::DivUIOp::create(b, loc, flat,
                                       indexConst(b, loc, type.getBlockSize()));
  Value scale = blockScale(b, loc, block);
  return codeValue(b, loc, code, scale);
}
