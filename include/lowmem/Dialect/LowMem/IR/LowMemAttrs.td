//===- LowMemAttrs.td - lowmem enums and attributes --------*- tablegen -*-===//
//
// Part of the lowmem project.
//
//===----------------------------------------------------------------------===//

#ifndef LOWMEM_DIALECT_LOWMEM_IR_LOWMEMATTRS_TD
#define LOWMEM_DIALECT_LOWMEM_IR_LOWMEMATTRS_TD

include "lowmem/Dialect/LowMem/IR/LowMemDialect.td"
include "mlir/IR/AttrTypeBase.td"
include "mlir/IR/EnumAttr.td"

def LowMem_QuantFormat : I32EnumAttr<"QuantFormat",
    "storage format of a quantized weight", [
      I32EnumAttrCase<"f16", 0>,
      I32EnumAttrCase<"bf16", 1>,
      I32EnumAttrCase<"int4", 2>,
      I32EnumAttrCase<"nf4", 3>,
      I32EnumAttrCase<"fp4", 4>,
      I32EnumAttrCase<"int8", 5>
    ]> {
  let cppNamespace = "::mlir::lowmem";
  let genSpecializedAttr = 0;
}

def LowMem_Activation : I32EnumAttr<"Activation",
    "activation applied in a fused epilogue", [
      I32EnumAttrCase<"none", 0>,
      I32EnumAttrCase<"relu", 1>
    ]> {
  let cppNamespace = "::mlir::lowmem";
  let genSpecializedAttr = 0;
}

def LowMem_ActivationAttr : EnumAttr<LowMem_Dialect, LowMem_Activation,
                                     "activation"> {
  let assemblyFormat = "`<` $value `>`";
}

def LowMem_LoraScaling : I32EnumAttr<"LoraScaling",
    "how a LoRA adapter's scale is derived from alpha and the rank", [
      I32EnumAttrCase<"standard", 0>,
      I32EnumAttrCase<"rslora", 1>
    ]> {
  let cppNamespace = "::mlir::lowmem";
  let genSpecializedAttr = 0;
}

def LowMem_LoraScalingAttr : EnumAttr<LowMem_Dialect, LowMem_LoraScaling,
                                      "lora_scaling"> {
  let assemblyFormat = "`<` $value `>`";
}

#endif // LOWMEM_DIALECT_LOWMEM_IR_LOWMEMATTRS_TD
