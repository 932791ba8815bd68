//===- Passes.h - lowmem graph passes ---------------------------*- C++ -*-===//
//
// Part of the lowmem project.
//
//===----------------------------------------------------------------------===//

#ifndef LOWMEM_DIALECT_LOWMEM_TRANSFORMS_PASSES_H
#define LOWMEM_DIALECT_LOWMEM_TRANSFORMS_PASSES_H

#include "lowmem/Dialect/LowMem/IR/LowMemOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Pass/Pass.h"

namespace mlir {
class RewritePatternSet;
namespace lowmem {

#define GEN_PASS_DECL
#include "lowmem/Dialect/LowMem/Transforms/Passes.h.inc"

/// True when `name` is listed in `patterns`, exactly or under a prefix ending
/// in a dot (`model.0.` matches `model.0.model.2.weight`). The option
/// syntax of quantize-weights' `skip` and attach-lora's `targets`.
bool matchesNameList(StringRef name, ArrayRef<std::string> patterns);

/// Patterns of the fuse pass: dequantize into linear, relu and residual add
/// into the epilogue of a linear or qlinear.
void populateFusePatterns(RewritePatternSet &patterns);

/// Moves every optimizer step (`lowmem.sgd`, `lowmem.adamw`) of `block` to
/// just after the last op it depends on or that still reads the parameter or
/// state it overwrites: each gradient is consumed as soon as it is final, so
/// gradients do not all stay live until the end of the step.
void placeUpdatesEarly(Block &block);

#define GEN_PASS_REGISTRATION
#include "lowmem/Dialect/LowMem/Transforms/Passes.h.inc"

} // namespace lowmem
} // namespace mlir

#endif // LOWMEM_DIALECT_LOWMEM_TRANSFORMS_PASSES_H
