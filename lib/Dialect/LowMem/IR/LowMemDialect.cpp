//===- LowMemDialect.cpp - lowmem dialect, attributes and types -----------===//
//
// Part of the lowmem project.
//
//===----------------------------------------------------------------------===//

#include "lowmem/Dialect/LowMem/IR/LowMemDialect.h"
#include "lowmem/Dialect/LowMem/IR/LowMemOps.h"
#include "lowmem/Quant/Quant.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/DialectImplementation.h"
#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;
using namespace mlir::lowmem;

#include "lowmem/Dialect/LowMem/IR/LowMemDialect.cpp.inc"
#include "lowmem/Dialect/LowMem/IR/LowMemEnums.cpp.inc"

#define GET_ATTRDEF_CLASSES
#include "lowmem/Dialect/LowMem/IR/LowMemAttrs.cpp.inc"

#define GET_TYPEDEF_CLASSES
#include "lowmem/Dialect/LowMem/IR/LowMemTypes.cpp.inc"

void LowMemDialect::initialize() {
  registerAttributes();
  registerTypes();
  addOperations<
#define GET_OP_LIST
#include "lowmem/Dialect/LowMem/IR/LowMemOps.cpp.inc"
      >();
}

void LowMemDialect::registerAttributes() {
  addAttributes<
#define GET_ATTRDEF_LIST
#include "lowmem/Dialect/LowMem/IR/LowMemAttrs.cpp.inc"
      >();
}

void LowMemDialect::registerTypes() {
  addTypes<
#define GET_TYPEDEF_LIST
#include "lowmem/Dialect/LowMem/IR/LowMemTypes.cpp.inc"
      >();
}

//===----------------------------------------------------------------------===//
// QTensorType
//===----------------------------------------------------------------------===//

::lowmem::quant::Format mlir::lowmem::toQuantLibFormat(QuantFormat format) {
  switch (format) {
  case QuantFormat::f16:
    return ::lowmem::quant::Format::F16;
  case QuantFormat::bf16:
    return ::lowmem::quant::Format::BF16;
  case QuantFormat::int4:
    return ::lowmem::quant::Format::Int4;
  case QuantFormat::nf4:
    return ::lowmem::quant::Format::NF4;
  case QuantFormat::fp4:
    return ::lowmem::quant::Format::FP4;
  case QuantFormat::int8:
    return ::lowmem::quant::Format::Int8;
  }
  llvm_unreachable("unknown quant format");
}

static int64_t ceilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

LogicalResult QTensorType::verify(function_ref<InFlightDiagnostic()> emitError,
                                  ArrayRef<int64_t> shape, Type elementType,
                                  QuantFormat format, int64_t blockSize,
                                  bool doubleQuant) {
  if (shape.empty())
    return emitError() << "quantized tensor must have rank >= 1";
  for (int64_t dim : shape)
    if (dim <= 0)
      return emitError() << "quantized tensor dimensions must be static and "
                            "positive, got "
                         << (ShapedType::isDynamic(dim) ? std::string("?")
                                                        : std::to_string(dim));
  if (!isa<Float32Type, Float16Type, BFloat16Type>(elementType))
    return emitError() << "quantized tensor element type must be f32, f16 or "
                          "bf16, got "
                       << elementType;
  std::string problem = ::lowmem::quant::checkOptions(toQuantLibFormat(format),
                                                      blockSize, doubleQuant);
  if (!problem.empty())
    return emitError() << problem;
  return success();
}

Type QTensorType::parse(AsmParser &parser) {
  SmallVector<int64_t> shape;
  Type elementType;
  StringRef formatName;
  SMLoc loc = parser.getCurrentLocation();
  if (parser.parseLess() ||
      parser.parseDimensionList(shape, /*allowDynamic=*/true,
                                /*withTrailingX=*/true) ||
      parser.parseType(elementType) || parser.parseComma())
    return {};
  SMLoc formatLoc = parser.getCurrentLocation();
  if (parser.parseKeyword(&formatName))
    return {};
  std::optional<QuantFormat> format = symbolizeQuantFormat(formatName);
  if (!format) {
    parser.emitError(formatLoc, "unknown quantization format '")
        << formatName << "'; expected one of f16, bf16, int4, nf4, fp4, int8";
    return {};
  }
  int64_t blockSize =
      ::lowmem::quant::defaultBlockSize(toQuantLibFormat(*format));
  bool doubleQuant = false;
  while (succeeded(parser.parseOptionalComma())) {
    if (succeeded(parser.parseOptionalKeyword("double_quant"))) {
      doubleQuant = true;
      continue;
    }
    if (parser.parseKeyword("block") || parser.parseEqual() ||
        parser.parseInteger(blockSize))
      return {};
  }
  if (parser.parseGreater())
    return {};
  return parser.getChecked<QTensorType>(loc, parser.getContext(), shape,
                                        elementType, *format, blockSize,
                                        doubleQuant);
}

void QTensorType::print(AsmPrinter &printer) const {
  printer << "<";
  for (int64_t dim : getShape())
    printer << dim << "x";
  printer << getElementType() << ", " << stringifyQuantFormat(getFormat());
  if (getBlockSize() != 0)
    printer << ", block = " << getBlockSize();
  if (getDoubleQuant())
    printer << ", double_quant";
  printer << ">";
}

int64_t QTensorType::getNumElements() const {
  int64_t n = 1;
  for (int64_t dim : getShape())
    n *= dim;
  return n;
}

int64_t QTensorType::getNumBlocks() const {
  if (getBlockSize() == 0)
    return 0;
  return ceilDiv(getNumElements(), getBlockSize());
}

RankedTensorType QTensorType::getLogicalType() const {
  return RankedTensorType::get(getShape(), getElementType());
}

SmallVector<RankedTensorType> QTensorType::getStorageTypes() const {
  MLIRContext *ctx = getContext();
  Type i8 = IntegerType::get(ctx, 8);
  Type f32 = Float32Type::get(ctx);
  Type f16 = Float16Type::get(ctx);
  int64_t n = getNumElements();
  auto vec = [](int64_t size, Type type) {
    return RankedTensorType::get({size}, type);
  };
  switch (getFormat()) {
  case QuantFormat::f16:
    return {RankedTensorType::get(getShape(), f16)};
  case QuantFormat::bf16:
    return {RankedTensorType::get(getShape(), BFloat16Type::get(ctx))};
  case QuantFormat::int4:
    return {vec(ceilDiv(n, 2), i8), vec(getNumBlocks(), f16)};
  case QuantFormat::nf4:
  case QuantFormat::fp4:
    if (!getDoubleQuant())
      return {vec(ceilDiv(n, 2), i8), vec(getNumBlocks(), f32)};
    return {
        vec(ceilDiv(n, 2), i8), vec(getNumBlocks(), i8),
        vec(ceilDiv(getNumBlocks(), ::lowmem::quant::kNestedBlockSize), f32),
        vec(1, f32)};
  case QuantFormat::int8:
    return {vec(n, i8), vec(getShape()[0], f32)};
  }
  llvm_unreachable("unknown quant format");
}

SmallVector<StringRef> QTensorType::getStorageNames() const {
  switch (getFormat()) {
  case QuantFormat::f16:
  case QuantFormat::bf16:
    return {"data"};
  case QuantFormat::int4:
  case QuantFormat::int8:
    return {"codes", "absmax"};
  case QuantFormat::nf4:
  case QuantFormat::fp4:
    if (!getDoubleQuant())
      return {"codes", "absmax"};
    return {"codes", "absmax", "nested_absmax", "nested_offset"};
  }
  llvm_unreachable("unknown quant format");
}

int64_t QTensorType::getStorageBytes() const {
  int64_t bytes = 0;
  for (RankedTensorType type : getStorageTypes())
    bytes += type.getNumElements() *
             ceilDiv(type.getElementType().getIntOrFloatBitWidth(), 8);
  return bytes;
}
