//===- LowMemTypes.td - lowmem types -----------------------*- tablegen -*-===//
//
// Part of the lowmem project.
//
//===----------------------------------------------------------------------===//

#ifndef LOWMEM_DIALECT_LOWMEM_IR_LOWMEMTYPES_TD
#define LOWMEM_DIALECT_LOWMEM_IR_LOWMEMTYPES_TD

include "lowmem/Dialect/LowMem/IR/LowMemAttrs.td"
include "mlir/IR/AttrTypeBase.td"
include "mlir/IR/BuiltinTypeInterfaces.td"

def LowMem_QTensorType : TypeDef<LowMem_Dialect, "QTensor"> {
  let mnemonic = "qtensor";
  let summary = "a weight tensor stored in a quantized or reduced format";
  let description = [{
    A statically shaped tensor whose logical element type is `elementType`
    (the precision computations see) but whose storage is `format`:

    * `f16`, `bf16`: one 16-bit value per element;
    * `int4`: two 4-bit codes a byte (first element in the low nibble) and
      one f16 absmax per block of `block` elements (default 16);
    * `nf4`, `fp4`: two 4-bit codes a byte (first element in the high
      nibble, as bitsandbytes) and one f32 absmax per block (default 64);
      with `double_quant` the absmax values are stored as 8-bit codes of the
      signed dynamic map with one f32 scale per 256 blocks and an f32 offset;
    * `int8`: one 8-bit code per element and one f32 absmax per row.

    Blocks are consecutive runs of the row-major flattened tensor.

    Example:

    ```mlir
    !lowmem.qtensor<1024x1024xf32, nf4, block = 64, double_quant>
    !lowmem.qtensor<1024x1024xf32, int4, block = 16>
    !lowmem.qtensor<1024x1024xf32, f16>
    ```
  }];
  let parameters = (ins
    ArrayRefParameter<"int64_t">:$shape,
    "::mlir::Type":$elementType,
    "::mlir::lowmem::QuantFormat":$format,
    "int64_t":$blockSize,
    "bool":$doubleQuant
  );
  let hasCustomAssemblyFormat = 1;
  let genVerifyDecl = 1;
  let builders = [
    TypeBuilderWithInferredContext<(ins
        "::llvm::ArrayRef<int64_t>":$shape, "::mlir::Type":$elementType,
        "::mlir::lowmem::QuantFormat":$format, "int64_t":$blockSize,
        "bool":$doubleQuant), [{
      return $_get(elementType.getContext(), shape, elementType, format,
                   blockSize, doubleQuant);
    }]>
  ];
  let extraClassDeclaration = [{
    /// Number of logical elements.
    int64_t getNumElements() const;
    /// Number of quantization blocks (0 for non-block formats).
    int64_t getNumBlocks() const;
    /// The tensor type of the logical (dequantized) value.
    ::mlir::RankedTensorType getLogicalType() const;
    /// The explicit storage of this weight: one tensor type per part, in the
    /// canonical order the runtime loads them.
    ::llvm::SmallVector<::mlir::RankedTensorType> getStorageTypes() const;
    /// Names of the storage parts, parallel to getStorageTypes().
    ::llvm::SmallVector<::llvm::StringRef> getStorageNames() const;
    /// Exact storage bytes (codes and scales).
    int64_t getStorageBytes() const;
  }];
}

#endif // LOWMEM_DIALECT_LOWMEM_IR_LOWMEMTYPES_TD
