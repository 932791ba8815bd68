//===- WeightDecoder.h - decode quantized weights -------------*- C++ -*-===//
//
// Part of the lowmem project.
//
//===----------------------------------------------------------------------===//
//
// Emits the arithmetic that turns the storage of a quantized weight (DESIGN.md
// §4) back into f32 values, one element or one block scale at a time, inside
// whatever the caller is building: a linalg body reading tensors, or a GPU
// kernel reading memrefs. The arithmetic follows lowmem/Quant/Quant.h exactly,
// so decoded values are bit-identical to the quantization library's
// `dequantize`.
//
//===----------------------------------------------------------------------===//

#ifndef LOWMEM_CONVERSION_WEIGHTDECODER_H
#define LOWMEM_CONVERSION_WEIGHTDECODER_H

#include "lowmem/Dialect/LowMem/IR/LowMemOps.h"

#include "mlir/IR/Builders.h"

namespace mlir::lowmem {

/// Reads one element of a tensor (tensor.extract), memref (memref.load) or
/// vector (vector.extract).
Value readElement(OpBuilder &b, Location loc, Value source, ValueRange indices);

/// A code table (NF4, FP4 or the dynamic map) as a constant tensor or
/// vector.
Value tableConstant(OpBuilder &b, Location loc, ArrayRef<float> values,
                    bool asVector);

/// The 16-entry code table of a 4-bit table format (nf4, fp4); empty for the
/// others.
ArrayRef<float> codeTable(QuantFormat format);

/// Decodes elements of a quantized weight from its storage parts (in the
/// order of `lowmem.assemble`, as tensors or memrefs). `table` holds the
/// format's code table and `dynamicMap` the double quantization's; either
/// may be a tensor, memref or vector, and is unused (may be null) when the
/// format has none.
class WeightDecoder {
public:
  WeightDecoder(QTensorType type, ValueRange parts, Value table,
                Value dynamicMap)
      : type(type), parts(parts.begin(), parts.end()), table(table),
        dynamicMap(dynamicMap) {}

  /// Decodes the element at logical `indices` (index values) as f32.
  Value decode(OpBuilder &b, Location loc, ValueRange indices) const;

  /// The 4-bit formats: the scale of block `block` (an index): the int4
  /// maximum, or the absmax (decoded through the double quantization).
  Value blockScale(OpBuilder &b, Location loc, Value block) const;

  /// The 4-bit formats: the value of 4-bit `code` (i32) under `scale`.
  Value codeValue(OpBuilder &b, Location loc, Value code, Value scale) const;

  /// int8: the value of code `code` (i8) of a row whose scale is `scale`.
  Value int8Value(OpBuilder &b, Location loc, Value code, Value scale) const;

  /// A decoder of `type`'s storage `parts` whose code tables are constant
  /// tensors, or vector constants with `tablesInRegisters` (GPU kernels).
  static WeightDecoder create(OpBuilder &b, Location loc, QTensorType type,
                              ValueRange parts, bool tablesInRegisters);

  QTensorType getType() const { return type; }
  ArrayRef<Value> getParts() const { return parts; }

private:
  QTensorType type;
  SmallVector<Value> parts;
  Value table, dynamicMap;
};

} // namespace mlir::lowmem

#endif // LOWMEM_CONVERSION_WEIGHTDECODER_H
