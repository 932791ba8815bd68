//===- Passes.h - lowmem conversion passes ----------------------*- C++ -*-===//
//
// Part of the lowmem project.
//
//===----------------------------------------------------------------------===//

#ifndef LOWMEM_CONVERSION_PASSES_H
#define LOWMEM_CONVERSION_PASSES_H

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/ControlFlow/IR/ControlFlow.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/Pass/Pass.h"

namespace mlir {
class RewritePatternSet;
namespace lowmem {

#define GEN_PASS_DECL
#include "lowmem/Conversion/Passes.h.inc"

/// Patterns lowering lowmem ops to linalg on tensors.
/// With `tablesInRegisters`, code tables are vector constants.
void populateLowMemToLinalgPatterns(RewritePatternSet &patterns,
                                    bool tablesInRegisters = false);

/// Patterns lowering the transformer ops (embedding, rms_norm, rope,
/// swiglu to linalg on tensors; attention to loops over buffers).
void populateTransformerToLinalgPatterns(RewritePatternSet &patterns,
                                         bool tablesInRegisters);

#define GEN_PASS_REGISTRATION
#include "lowmem/Conversion/Passes.h.inc"

} // namespace lowmem
} // namespace mlir

#endif // LOWMEM_CONVERSION_PASSES_H
