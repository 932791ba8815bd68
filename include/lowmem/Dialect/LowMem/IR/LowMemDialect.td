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
    and `lowmem.trainable` for parameters that receive gradients. A training
    step (see lowmem-differentiate) also takes optimizer state
    (`lowmem.state = "<param>.<state>"`) and run-time hyperparameters
    (`lowmem.hyper`), and marks its results `lowmem.loss`,
    `lowmem.grad = "<param>"` or `lowmem.update = "<param or state>"`. A
    generation step (see lowmem-kv-cache) takes the cache's fill
    (`lowmem.position`), where each batch row begins (`lowmem.row_starts`)
    and the caches (`lowmem.cache = "<name>"`), and
    marks its results `lowmem.output = "next_ids" | "logits"` or
    `lowmem.update = "<cache>"`.
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
    static constexpr ::llvm::StringLiteral kStateAttrName = "lowmem.state";
    static constexpr ::llvm::StringLiteral kHyperAttrName = "lowmem.hyper";
    /// Attribute names used on the arguments of a generation step.
    static constexpr ::llvm::StringLiteral kPositionAttrName =
        "lowmem.position";
    static constexpr ::llvm::StringLiteral kCacheAttrName = "lowmem.cache";
    static constexpr ::llvm::StringLiteral kRowStartsAttrName =
        "lowmem.row_starts";
    /// Attribute name on a generation step's results ("next_ids", "logits").
    static constexpr ::llvm::StringLiteral kOutputAttrName = "lowmem.output";
    /// Attribute names used on the results of a training step.
    static constexpr ::llvm::StringLiteral kLossAttrName = "lowmem.loss";
    static constexpr ::llvm::StringLiteral kGradAttrName = "lowmem.grad";
    static constexpr ::llvm::StringLiteral kUpdateAttrName = "lowmem.update";

  private:
    void registerTypes();
    void registerAttributes();

  public:
  }];
}

#endif // LOWMEM_DIALECT_LOWMEM_IR_LOWMEMDIALECT_TD
