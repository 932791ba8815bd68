//===- Passes.td - lowmem conversion passes ----------------*- tablegen -*-===//
//
// Part of the lowmem project.
//
//===----------------------------------------------------------------------===//

#ifndef LOWMEM_CONVERSION_PASSES_TD
#define LOWMEM_CONVERSION_PASSES_TD

include "mlir/Pass/PassBase.td"

def ConvertLowMemToLinalg
    : Pass<"convert-lowmem-to-linalg", "::mlir::func::FuncOp"> {
  let summary = "Lower lowmem ops to linalg on tensors";
  let description = [{
    Lowers every lowmem op to `linalg.generic` ops on tensors. A `qlinear`
    becomes one matrix-product generic whose body decodes the packed weight
    codes and scales from the storage of a `lowmem.assemble` (run
    `lowmem-materialize-storage` first), so the dequantized weight never
    exists as a tensor; its epilogue (bias, activation, residual) is a second
    elementwise generic.
  }];
  let dependentDialects = ["::mlir::linalg::LinalgDialect",
                           "::mlir::tensor::TensorDialect",
                           "::mlir::arith::ArithDialect",
                           "::mlir::math::MathDialect"];
}

#endif // LOWMEM_CONVERSION_PASSES_TD
