//===- LowMemDialect.td - lowmem dialect definition --------*- tablegen -*-===//
//
// Part of the lowmem project.
//
//===----------------------------------------------------------------------===//

#ifndef LOWMEM_DIALECT_LOWMEM_IR_LOWMEMDIALECT_TD
#define LOWMEM_DIALECT_LOWMEM_IR_LOWMEMDIALECT_TD

include "mlir/IR/OpBase.td"

def LowMem_Dialect : Dialect {
  let name = "lowmem";
  let summary = "Tensor-level graph dialect for memory-constrained networks";
  let description = [{
    The `lowmem` dialect describes neural network graphs at the tensor level
    with first-class quantized weights. Its `!lowmem.qtensor` type carries the
    storage format of a weight (f16, bf16, int4, nf4, fp4, int8), the block
    size and whether the block scales are themselves quantized, so that passes
    can fuse dequantization into the consumers of a weight and the memory
    planner knows exactly how many bytes every value occupies.

    Function arguments of a model carry `lowmem.param = "<name>"` (the
    safetensors name of a weight), `lowmem.input = "<name>"` for data inputs
    and `lowmem.trainable` for parameters that receive gradients.
  }];
  let cppNamespace = "::mlir::lowmem";
  let useDefaultTypePrinterParser = 1;
  let useDefaultAttributePrinterParser = 1;
  let extraClassDeclaration = [{
    /// Attribute names used on function arguments.
    static constexpr ::llvm::StringLiteral kParamAttrName = "lowmem.param";
    static constexpr ::llvm::StringLiteral kInputAttrName = "lowmem.input";
    static constexpr ::llvm::StringLiteral kTrainableAttrName =
        "lowmem.trainable";
    static constexpr ::llvm::StringLiteral kPartAttrName = "lowmem.part";

  private:
    void registerTypes();
    void registerAttributes();

  public:
  }];
}

#endif // LOWMEM_DIALECT_LOWMEM_IR_LOWMEMDIALECT_TD
