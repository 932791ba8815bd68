//===- LowMemOps.h - lowmem operations --------------------------*- C++ -*-===//
//
// Part of the lowmem project.
//
//===----------------------------------------------------------------------===//

#ifndef LOWMEM_DIALECT_LOWMEM_IR_LOWMEMOPS_H
#define LOWMEM_DIALECT_LOWMEM_IR_LOWMEMOPS_H

#include "lowmem/Dialect/LowMem/IR/LowMemDialect.h"
#include "mlir/Bytecode/BytecodeOpInterface.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/Interfaces/InferTypeOpInterface.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

#define GET_OP_CLASSES
#include "lowmem/Dialect/LowMem/IR/LowMemOps.h.inc"

namespace mlir::lowmem {
/// The tensor type a weight operand holds as computations see it: its own
/// type, or a quantized weight's logical type.
inline RankedTensorType logicalTensorType(Type type) {
  if (auto quantized = dyn_cast<QTensorType>(type))
    return quantized.getLogicalType();
  return cast<RankedTensorType>(type);
}
} // namespace mlir::lowmem

#endif // LOWMEM_DIALECT_LOWMEM_IR_LOWMEMOPS_H
