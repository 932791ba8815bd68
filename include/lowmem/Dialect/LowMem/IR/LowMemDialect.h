//===- LowMemDialect.h - lowmem dialect -------------------------*- C++ -*-===//
//
// Part of the lowmem project.
//
//===----------------------------------------------------------------------===//
//
// Declares the lowmem dialect, its enums, attributes and types.
//
//===----------------------------------------------------------------------===//

#ifndef LOWMEM_DIALECT_LOWMEM_IR_LOWMEMDIALECT_H
#define LOWMEM_DIALECT_LOWMEM_IR_LOWMEMDIALECT_H

#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/Dialect.h"

#include "lowmem/Dialect/LowMem/IR/LowMemDialect.h.inc"
#include "lowmem/Dialect/LowMem/IR/LowMemEnums.h.inc"

#define GET_ATTRDEF_CLASSES
#include "lowmem/Dialect/LowMem/IR/LowMemAttrs.h.inc"

#define GET_TYPEDEF_CLASSES
#include "lowmem/Dialect/LowMem/IR/LowMemTypes.h.inc"

namespace lowmem::quant {
enum class Format : uint8_t;
} // namespace lowmem::quant

namespace mlir::lowmem {
/// Maps the dialect's format enum to the quantization library's.
::lowmem::quant::Format toQuantLibFormat(QuantFormat format);
} // namespace mlir::lowmem

#endif // LOWMEM_DIALECT_LOWMEM_IR_LOWMEMDIALECT_H
