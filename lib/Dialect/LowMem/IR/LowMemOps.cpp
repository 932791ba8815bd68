//===- LowMemOps.cpp - lowmem operations ----------------------------------===//
//
// Part of the lowmem project.
//
//===----------------------------------------------------------------------===//

#include "lowmem/Dialect/LowMem/IR/LowMemOps.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/OpImplementation.h"
#include "mlir/IR/TypeUtilities.h"
#include "llvm/ADT/StringExtras.h"

#include <cmath>

using namespace mlir;
using namespace mlir::lowmem;

/// Renders a shape as `[2, ?, 4]` for diagnostics.
static std::string shapeStr(ArrayRef<int64_t> shape) {
  std::string out = "[";
  llvm::raw_string_ostream os(out);
  llvm::interleaveComma(shape, os, [&](int64_t dim) {
    if (ShapedType::isDynamic(dim))
      os << "?";
    else
      os << dim;
  });
  os << "]";
  return out;
}

static bool dimsCompatible(int64_t a, int64_t b) {
  return ShapedType::isDynamic(a) || ShapedType::isDynamic(b) || a == b;
}

/// Shared verification of `linear` and `qlinear`: `input` [..., K] times a
/// weight [N, K] gives [..., N]; bias is [N]; residual has the result type.
/// Transposed, `input` [..., N] times [N, K] gives [..., K].
static LogicalResult verifyLinearLike(Operation *op, RankedTensorType input,
                                      ArrayRef<int64_t> weightShape,
                                      Type weightElementType, Value bias,
                                      Value residual, RankedTensorType result,
                                      bool transposed) {
  if (input.getRank() < 1)
    return op->emitOpError("input must have rank >= 1");
  if (weightShape.size() != 2)
    return op->emitOpError(
               "weight must be a 2-D [out_features, in_features] tensor, "
               "got shape ")
           << shapeStr(weightShape);
  if (ShapedType::isDynamicShape(weightShape))
    return op->emitOpError("weight must have a static shape, got ")
           << shapeStr(weightShape);
  int64_t outFeatures = weightShape[0], inFeatures = weightShape[1];
  if (transposed)
    std::swap(outFeatures, inFeatures);
  if (!dimsCompatible(input.getShape().back(), inFeatures))
    return op->emitOpError("input feature dimension (")
           << input.getShape().back() << ") does not match the weight's "
           << (transposed ? "out_features (transposed) (" : "in_features (")
           << inFeatures << ")";
  if (input.getElementType() != weightElementType ||
      input.getElementType() != result.getElementType())
    return op->emitOpError("element types of input (")
           << input.getElementType() << "), weight (" << weightElementType
           << ") and result (" << result.getElementType() << ") must agree";
  bool shapeOk = result.getRank() == input.getRank() &&
                 result.getShape().back() == outFeatures;
  for (int64_t i = 0; shapeOk && i + 1 < input.getRank(); ++i)
    shapeOk = dimsCompatible(result.getDimSize(i), input.getDimSize(i));
  if (!shapeOk)
    return op->emitOpError("result shape ")
           << shapeStr(result.getShape())
           << " must be the input's leading dimensions followed by "
           << (transposed ? "the weight's in_features (transposed) ("
                          : "out_features (")
           << outFeatures << ")";
  if (bias) {
    auto biasType = cast<RankedTensorType>(bias.getType());
    if (biasType.getRank() != 1 || biasType.getDimSize(0) != outFeatures)
      return op->emitOpError("bias must have shape [")
             << outFeatures << "], got " << shapeStr(biasType.getShape());
    if (biasType.getElementType() != result.getElementType())
      return op->emitOpError("bias element type ")
             << biasType.getElementType() << " must be "
             << result.getElementType();
  }
  if (residual && residual.getType() != result)
    return op->emitOpError("residual type ")
           << residual.getType() << " must equal the result type " << result;
  return success();
}

//===----------------------------------------------------------------------===//
// LinearOp / QLinearOp
//===----------------------------------------------------------------------===//

LogicalResult LinearOp::verify() {
  auto weight = cast<RankedTensorType>(getWeight().getType());
  return verifyLinearLike(*this, getInput().getType(), weight.getShape(),
                          weight.getElementType(), getBias(), getResidual(),
                          getResult().getType(), getTransposeWeight());
}

LogicalResult QLinearOp::verify() {
  QTensorType weight = getWeight().getType();
  return verifyLinearLike(*this, getInput().getType(), weight.getShape(),
                          weight.getElementType(), getBias(), getResidual(),
                          getResult().getType(), getTransposeWeight());
}

//===----------------------------------------------------------------------===//
// LoraOp
//===----------------------------------------------------------------------===//

int64_t LoraOp::getRank() { return getLoraA().getType().getDimSize(0); }

double LoraOp::getScale() {
  double rank = static_cast<double>(getRank());
  double alpha = getAlpha().convertToDouble();
  return getScaling() == LoraScaling::rslora ? alpha / std::sqrt(rank)
                                             : alpha / rank;
}

LogicalResult LoraOp::verify() {
  RankedTensorType input = getInput().getType();
  RankedTensorType a = getLoraA().getType();
  RankedTensorType b = getLoraB().getType();
  if (input.getRank() < 1)
    return emitOpError("input must have rank >= 1");
  if (a.getRank() != 2 || b.getRank() != 2)
    return emitOpError("lora_a and lora_b must be 2-D, got shapes ")
           << shapeStr(a.getShape()) << " and " << shapeStr(b.getShape());
  if (ShapedType::isDynamic(a.getDimSize(0)) || a.getDimSize(0) < 1)
    return emitOpError("adapter rank (lora_a's first dimension) must be a "
                       "static positive size, got ")
           << shapeStr(a.getShape());
  if (!dimsCompatible(a.getDimSize(1), input.getShape().back()))
    return emitOpError("lora_a shape ")
           << shapeStr(a.getShape()) << " must be [r, "
           << input.getShape().back() << "] to match the input";
  if (!a.hasStaticShape() || !b.hasStaticShape())
    return emitOpError("lora_a and lora_b must have static shapes, got ")
           << shapeStr(a.getShape()) << " and " << shapeStr(b.getShape());
  if (b.getDimSize(1) != a.getDimSize(0))
    return emitOpError("lora_b shape ")
           << shapeStr(b.getShape()) << " must be [out_features, "
           << a.getDimSize(0) << "] to match lora_a's rank";
  RankedTensorType result = getResult().getType();
  bool shapeOk = result.getRank() == input.getRank() &&
                 dimsCompatible(result.getShape().back(), b.getDimSize(0));
  for (int64_t i = 0; shapeOk && i + 1 < input.getRank(); ++i)
    shapeOk = dimsCompatible(result.getDimSize(i), input.getDimSize(i));
  if (!shapeOk)
    return emitOpError("result shape ")
           << shapeStr(result.getShape())
           << " must be the input's leading dimensions followed by lora_b's "
              "out_features ("
           << b.getDimSize(0) << ")";
  double dropout = getDropout().convertToDouble();
  if (!(dropout >= 0.0 && dropout < 1.0))
    return emitOpError("dropout must be in [0, 1), got ") << dropout;
  if (!(getAlpha().convertToDouble() > 0.0))
    return emitOpError("alpha must be positive, got ")
           << getAlpha().convertToDouble();
  return success();
}

//===----------------------------------------------------------------------===//
// QuantizeOp / DequantizeOp / AssembleOp
//===----------------------------------------------------------------------===//

static LogicalResult verifyLogicalType(Operation *op, RankedTensorType plain,
                                       QTensorType quantized) {
  if (plain.getShape() != quantized.getShape() ||
      plain.getElementType() != quantized.getElementType())
    return op->emitOpError("tensor type ")
           << plain << " does not match the logical type "
           << quantized.getLogicalType() << " of " << quantized;
  return success();
}

LogicalResult QuantizeOp::verify() {
  return verifyLogicalType(*this, getInput().getType(), getResult().getType());
}

LogicalResult DequantizeOp::verify() {
  return verifyLogicalType(*this, getResult().getType(), getInput().getType());
}

LogicalResult AssembleOp::verify() {
  QTensorType type = getResult().getType();
  SmallVector<RankedTensorType> expected = type.getStorageTypes();
  SmallVector<StringRef> names = type.getStorageNames();
  if (getParts().size() != expected.size())
    return emitOpError("expected ")
           << expected.size() << " storage parts (" << llvm::join(names, ", ")
           << ") for " << type << ", got " << getParts().size();
  for (auto [i, part] : llvm::enumerate(getParts()))
    if (part.getType() != expected[i])
      return emitOpError("storage part #")
             << i << " (" << names[i] << ") must be " << expected[i] << ", got "
             << part.getType();
  return success();
}

//===----------------------------------------------------------------------===//
// GroupNormOp
//===----------------------------------------------------------------------===//

/// Shared verification of `group_norm` and `group_norm_grad`: the last
/// dimension of `input` is static and split evenly into groups; `gamma` (and
/// `beta`) are [C] of the input's element type.
static LogicalResult
verifyGroupNormLike(Operation *op, RankedTensorType input,
                    ArrayRef<std::pair<StringRef, Value>> affine,
                    int64_t groups, double epsilon) {
  if (input.getRank() < 1)
    return op->emitOpError("input must have rank >= 1");
  int64_t channels = input.getShape().back();
  if (ShapedType::isDynamic(channels))
    return op->emitOpError("the normalized (last) dimension must be static");
  if (channels % groups != 0)
    return op->emitOpError("num_groups (")
           << groups << ") must divide the number of features (" << channels
           << ")";
  for (auto [name, value] : affine) {
    auto type = cast<RankedTensorType>(value.getType());
    if (type.getRank() != 1 || type.getDimSize(0) != channels)
      return op->emitOpError() << name << " must have shape [" << channels
                               << "], got " << shapeStr(type.getShape());
    if (type.getElementType() != input.getElementType())
      return op->emitOpError()
             << name << " element type " << type.getElementType() << " must be "
             << input.getElementType();
  }
  if (!(epsilon > 0.0))
    return op->emitOpError("epsilon must be positive, got ") << epsilon;
  return success();
}

LogicalResult GroupNormOp::verify() {
  RankedTensorType input = getInput().getType();
  if (failed(verifyGroupNormLike(
          *this, input, {{"gamma", getGamma()}, {"beta", getBeta()}},
          getNumGroups(), getEpsilon().convertToDouble())))
    return failure();
  if (getResult().getType() != input)
    return emitOpError("result type ")
           << getResult().getType() << " must equal the input type " << input;
  return success();
}

LogicalResult GroupNormGradOp::verify() {
  RankedTensorType input = getInput().getType();
  if (failed(verifyGroupNormLike(*this, input, {{"gamma", getGamma()}},
                                 getNumGroups(),
                                 getEpsilon().convertToDouble())))
    return failure();
  if (getGradOut().getType() != input)
    return emitOpError("grad_out type ")
           << getGradOut().getType() << " must equal the input type " << input;
  if (getGradInput().getType() != input)
    return emitOpError("grad_input type ")
           << getGradInput().getType() << " must equal the input type "
           << input;
  if (getGradGamma().getType() != getGamma().getType() ||
      getGradBeta().getType() != getGamma().getType())
    return emitOpError("grad_gamma and grad_beta must have gamma's type ")
           << getGamma().getType();
  return success();
}

LogicalResult BiasGradOp::verify() {
  RankedTensorType dy = getGradOut().getType();
  RankedTensorType result = getResult().getType();
  if (dy.getRank() < 1)
    return emitOpError("grad_out must have rank >= 1");
  if (ShapedType::isDynamic(dy.getShape().back()))
    return emitOpError("the last dimension of grad_out must be static");
  auto expected =
      RankedTensorType::get({dy.getShape().back()}, dy.getElementType());
  if (result != expected)
    return emitOpError("result type ")
           << result << " must be " << expected
           << " (grad_out's last dimension and element type)";
  return success();
}

/// Optimizers compute in f32 and keep f32 state.
static LogicalResult verifyOptimizer(Operation *op, RankedTensorType param) {
  if (!param.getElementType().isF32())
    return op->emitOpError("updates f32 parameters, got ")
           << param.getElementType();
  return success();
}

LogicalResult SgdOp::verify() {
  if (failed(verifyOptimizer(*this, getParam().getType())))
    return failure();
  double momentum = getMomentum().convertToDouble();
  double decay = getWeightDecay().convertToDouble();
  if (!(momentum >= 0.0 && momentum < 1.0))
    return emitOpError("momentum must be in [0, 1), got ") << momentum;
  if (!(decay >= 0.0))
    return emitOpError("weight_decay must be non-negative, got ") << decay;
  bool hasBuffer = static_cast<bool>(getMomentumBuffer());
  if (hasBuffer != (momentum != 0.0))
    return emitOpError(hasBuffer ? "momentum_buffer given without momentum"
                                 : "momentum needs a momentum_buffer");
  if (static_cast<bool>(getNewMomentumBuffer()) != hasBuffer)
    return emitOpError("returns a new momentum buffer exactly when it takes "
                       "one");
  if (hasBuffer && (getMomentumBuffer().getType() != getParam().getType() ||
                    getNewMomentumBuffer().getType() != getParam().getType()))
    return emitOpError("momentum buffers must have the parameter's type ")
           << getParam().getType();
  return success();
}

LogicalResult AdamWOp::verify() {
  if (failed(verifyOptimizer(*this, getParam().getType())))
    return failure();
  for (auto [name, value] :
       {std::pair<StringRef, double>{"beta1", getBeta1().convertToDouble()},
        {"beta2", getBeta2().convertToDouble()}})
    if (!(value >= 0.0 && value < 1.0))
      return emitOpError() << name << " must be in [0, 1), got " << value;
  if (!(getEpsilon().convertToDouble() > 0.0))
    return emitOpError("epsilon must be positive, got ")
           << getEpsilon().convertToDouble();
  if (!(getWeightDecay().convertToDouble() >= 0.0))
    return emitOpError("weight_decay must be non-negative, got ")
           << getWeightDecay().convertToDouble();
  return success();
}

#define GET_OP_CLASSES
#include "lowmem/Dialect/LowMem/IR/LowMemOps.cpp.inc"

//===----------------------------------------------------------------------===//
// Gradients and losses
//===----------------------------------------------------------------------===//

LogicalResult WeightGradOp::verify() {
  RankedTensorType dy = getGradOut().getType();
  RankedTensorType x = getInput().getType();
  RankedTensorType result = getResult().getType();
  if (dy.getRank() < 2 || dy.getRank() != x.getRank())
    return emitOpError("grad_out and input must have the same rank >= 2, "
                       "got shapes ")
           << shapeStr(dy.getShape()) << " and " << shapeStr(x.getShape());
  for (int64_t i = 0; i + 1 < dy.getRank(); ++i)
    if (!dimsCompatible(dy.getDimSize(i), x.getDimSize(i)))
      return emitOpError("grad_out and input must share their leading "
                         "dimensions, got shapes ")
             << shapeStr(dy.getShape()) << " and " << shapeStr(x.getShape());
  if (dy.getElementType() != x.getElementType() ||
      dy.getElementType() != result.getElementType())
    return emitOpError("element types of grad_out, input and result must "
                       "agree");
  if (result.getRank() != 2 ||
      !dimsCompatible(result.getDimSize(0), dy.getShape().back()) ||
      !dimsCompatible(result.getDimSize(1), x.getShape().back()) ||
      !result.hasStaticShape())
    return emitOpError("result shape ")
           << shapeStr(result.getShape()) << " must be the static ["
           << (ShapedType::isDynamic(dy.getShape().back())
                   ? std::string("?")
                   : std::to_string(dy.getShape().back()))
           << ", "
           << (ShapedType::isDynamic(x.getShape().back())
                   ? std::string("?")
                   : std::to_string(x.getShape().back()))
           << "] (grad_out's features, input's features)";
  return success();
}

LogicalResult MseLossOp::verify() {
  if (!getPrediction().getType().getElementType().isF32())
    return emitOpError("computes in f32, got ")
           << getPrediction().getType().getElementType();
  return success();
}

/// Logits [..., classes] in f32 and labels of the leading shape.
static LogicalResult verifyCrossEntropy(Operation *op, Value logits,
                                        Value labels) {
  auto logitsType = cast<RankedTensorType>(logits.getType());
  auto labelsType = cast<RankedTensorType>(labels.getType());
  if (!logitsType.getElementType().isF32())
    return op->emitOpError("computes in f32, got ")
           << logitsType.getElementType();
  if (logitsType.getRank() < 2)
    return op->emitOpError("needs logits of rank 2 or more ([..., "
                           "classes]), got ")
           << logitsType;
  if (labelsType.getRank() + 1 != logitsType.getRank() ||
      failed(verifyCompatibleShape(labelsType.getShape(),
                                   logitsType.getShape().drop_back())))
    return op->emitOpError("labels ")
           << labelsType << " must have the leading shape of the logits "
           << logitsType;
  return success();
}

LogicalResult CrossEntropyLossOp::verify() {
  return verifyCrossEntropy(*this, getLogits(), getLabels());
}

LogicalResult CrossEntropyLossGradOp::verify() {
  return verifyCrossEntropy(*this, getLogits(), getLabels());
}

LogicalResult DropoutOp::verify() {
  if (!getInput().getType().getElementType().isF32())
    return emitOpError("computes in f32, got ")
           << getInput().getType().getElementType();
  double p = getProbability().convertToDouble();
  if (!(p >= 0.0 && p < 1.0))
    return emitOpError("probability must be in [0, 1), got ") << p;
  auto stream = static_cast<int64_t>(getStream());
  if (stream < 0)
    return emitOpError("stream must be non-negative, got ") << stream;
  return success();
}

//===----------------------------------------------------------------------===//
// Transformer layers
//===----------------------------------------------------------------------===//

/// `tensor` is a ranked tensor of the element type of `like`.
static LogicalResult checkElementType(Operation *op, StringRef name,
                                      RankedTensorType type,
                                      RankedTensorType like) {
  if (type.getElementType() != like.getElementType())
    return op->emitOpError()
           << name << " element type " << type.getElementType() << " must be "
           << like.getElementType();
  return success();
}

LogicalResult EmbeddingOp::verify() {
  RankedTensorType ids = getIds().getType();
  RankedTensorType table = logicalTensorType(getTable().getType());
  RankedTensorType result = getResult().getType();
  if (table.getRank() != 2 || !table.hasStaticShape())
    return emitOpError("table must be a static [vocab, hidden] matrix, got ")
           << table;
  if (failed(checkElementType(*this, "result", result, table)))
    return failure();
  if (result.getRank() != ids.getRank() + 1 ||
      failed(verifyCompatibleShape(result.getShape().drop_back(),
                                   ids.getShape())) ||
      result.getShape().back() != table.getDimSize(1))
    return emitOpError("result ")
           << result << " must have the ids' shape " << shapeStr(ids.getShape())
           << " followed by the hidden size " << table.getDimSize(1);
  return success();
}

LogicalResult RmsNormOp::verify() {
  RankedTensorType input = getInput().getType();
  if (failed(verifyGroupNormLike(*this, input, {{"weight", getWeight()}},
                                 /*groups=*/1, getEpsilon().convertToDouble())))
    return failure();
  if (getResult().getType() != input)
    return emitOpError("result type ")
           << getResult().getType() << " must equal the input type " << input;
  return success();
}

/// `starts` must be one position a batch row of `rows` ([B, ...]).
static LogicalResult verifyRowStarts(Operation *op, StringRef name,
                                     Value starts, RankedTensorType rows) {
  auto type = cast<RankedTensorType>(starts.getType());
  if (type.getRank() != 1 ||
      failed(
          verifyCompatibleShape(type.getShape(), rows.getShape().take_front())))
    return op->emitOpError()
           << name << " must be one position a batch row, ["
           << (rows.isDynamicDim(0) ? std::string("?")
                                    : std::to_string(rows.getDimSize(0)))
           << "], got " << type;
  return success();
}

LogicalResult RopeOp::verify() {
  RankedTensorType input = getInput().getType();
  RankedTensorType freq = getInvFreq().getType();
  int64_t headDim = getHeadDim();
  if (input.getRank() != 3 || ShapedType::isDynamic(input.getDimSize(2)))
    return emitOpError("input must be [batch, seq, heads x head_dim] with a "
                       "static last dimension, got ")
           << input;
  if (headDim % 2 != 0)
    return emitOpError("head_dim must be even, got ") << headDim;
  if (input.getDimSize(2) % headDim != 0)
    return emitOpError("head_dim (")
           << headDim << ") must divide the last dimension ("
           << input.getDimSize(2) << ")";
  if (freq.getRank() != 1 || freq.getDimSize(0) != headDim / 2)
    return emitOpError("inv_freq must have shape [")
           << headDim / 2 << "], got " << shapeStr(freq.getShape());
  if (failed(checkElementType(*this, "inv_freq", freq, input)))
    return failure();
  if (Value starts = getRowStarts())
    if (failed(verifyRowStarts(*this, "row_starts", starts, input)))
      return failure();
  // The attribute's accessor is unsigned.
  auto offset = static_cast<int64_t>(getPositionOffset());
  if (offset < 0)
    return emitOpError("position_offset must be non-negative, got ") << offset;
  if (getResult().getType() != input)
    return emitOpError("result type ")
           << getResult().getType() << " must equal the input type " << input;
  return success();
}

LogicalResult CacheUpdateOp::verify() {
  RankedTensorType rows = getRows().getType();
  RankedTensorType cache = getCache().getType();
  for (auto [name, type] :
       {std::pair<StringRef, RankedTensorType>{"rows", rows}, {"cache", cache}})
    if (type.getRank() != 3 || type.isDynamicDim(2))
      return emitOpError()
             << name
             << " must be [batch, positions, features] with a static last "
                "dimension, got "
             << type;
  if (isa<FloatType>(rows.getElementType()) !=
      isa<FloatType>(cache.getElementType()))
    return emitOpError("rows of ")
           << rows.getElementType() << " cannot be written into a cache of "
           << cache.getElementType()
           << "; int8 codes go into an int8 cache as they are";
  if (rows.getDimSize(2) != cache.getDimSize(2) ||
      failed(verifyCompatibleShape(rows.getShape().take_front(),
                                   cache.getShape().take_front())))
    return emitOpError("rows ")
           << rows << " must have the batch and features of the cache "
           << cache;
  if (!rows.isDynamicDim(1) && !cache.isDynamicDim(1) &&
      rows.getDimSize(1) > cache.getDimSize(1))
    return emitOpError("cannot write ")
           << rows.getDimSize(1) << " positions into a cache of "
           << cache.getDimSize(1);
  return success();
}

LogicalResult QuantizeGroupsOp::verify() {
  RankedTensorType input = getInput().getType();
  int64_t group = getGroupSize();
  if (input.getRank() < 1 || input.isDynamicDim(input.getRank() - 1))
    return emitOpError("input must have a static last dimension, got ")
           << input;
  int64_t features = input.getShape().back();
  if (features % group != 0)
    return emitOpError("group_size (")
           << group << ") must divide the last dimension (" << features << ")";
  RankedTensorType codes = getCodes().getType();
  RankedTensorType scales = getScales().getType();
  SmallVector<int64_t> scaleShape(input.getShape());
  scaleShape.back() = features / group;
  if (failed(verifyCompatibleShape(codes.getShape(), input.getShape())) ||
      failed(verifyCompatibleShape(scales.getShape(), scaleShape)))
    return emitOpError("codes and scales must have shapes ")
           << shapeStr(input.getShape()) << " and " << shapeStr(scaleShape)
           << ", got " << codes << " and " << scales;
  return success();
}

LogicalResult ArgmaxOp::verify() {
  RankedTensorType input = getInput().getType();
  RankedTensorType result = getResult().getType();
  if (input.getRank() < 1)
    return emitOpError("input must have at least one dimension");
  if (result.getRank() != input.getRank() - 1 ||
      failed(verifyCompatibleShape(result.getShape(),
                                   input.getShape().drop_back())))
    return emitOpError("result ")
           << result << " must have the input's shape without its last "
           << "dimension, " << shapeStr(input.getShape().drop_back());
  if (input.getDimSize(input.getRank() - 1) == 0)
    return emitOpError("rows must not be empty");
  return success();
}

int64_t AttentionOp::getHeadDim() {
  return getQuery().getType().getDimSize(2) / getNumHeads();
}

/// The operand rules shared by attention and its gradient.
static LogicalResult verifyAttentionOperands(Operation *op, RankedTensorType q,
                                             RankedTensorType k,
                                             RankedTensorType v, int64_t heads,
                                             int64_t kvHeads, double scale,
                                             bool causal, bool narrowKeys) {
  for (auto [name, type] : {std::pair<StringRef, RankedTensorType>{"query", q},
                            {"key", k},
                            {"value", v}}) {
    if (type.getRank() != 3 || ShapedType::isDynamic(type.getDimSize(2)))
      return op->emitOpError()
             << name
             << " must be [batch, seq, heads x head_dim] with a static last "
                "dimension, got "
             << type;
  }
  // Keys and values may be narrower than the query (a KV cache), both alike.
  if (failed(checkElementType(op, "key", k, narrowKeys ? k : q)) ||
      failed(checkElementType(op, "value", v, k)))
    return failure();
  if (heads % kvHeads != 0)
    return op->emitOpError("num_kv_heads (")
           << kvHeads << ") must divide num_heads (" << heads << ")";
  if (q.getDimSize(2) % heads != 0)
    return op->emitOpError("num_heads (")
           << heads << ") must divide the query's last dimension ("
           << q.getDimSize(2) << ")";
  int64_t headDim = q.getDimSize(2) / heads;
  if (k.getDimSize(2) != kvHeads * headDim ||
      v.getDimSize(2) != kvHeads * headDim)
    return op->emitOpError("key and value must have num_kv_heads x head_dim = ")
           << kvHeads * headDim << " features, got " << k.getDimSize(2)
           << " and " << v.getDimSize(2);
  if (failed(verifyCompatibleShape(k.getShape().drop_back(),
                                   v.getShape().drop_back())))
    return op->emitOpError("key ")
           << k << " and value " << v << " must have the same batch and length";
  if (failed(verifyCompatibleShape(q.getShape().take_front(),
                                   k.getShape().take_front())))
    return op->emitOpError("query ")
           << q << " and key " << k << " must have the same batch";
  if (causal && !q.isDynamicDim(1) && !k.isDynamicDim(1) &&
      q.getDimSize(1) > k.getDimSize(1))
    return op->emitOpError("causal attention needs at least as many keys (")
           << k.getDimSize(1) << ") as queries (" << q.getDimSize(1) << ")";
  if (!(scale > 0.0))
    return op->emitOpError("scale must be positive, got ") << scale;
  return success();
}

LogicalResult AttentionOp::verify() {
  RankedTensorType q = getQuery().getType();
  RankedTensorType k = getKey().getType();
  if (failed(verifyAttentionOperands(*this, q, k, getValue().getType(),
                                     getNumHeads(), getNumKvHeads(),
                                     getScale().convertToDouble(), getCausal(),
                                     /*narrowKeys=*/true)))
    return failure();
  if (Value starts = getKeyStarts())
    if (failed(verifyRowStarts(*this, "key_starts", starts, q)))
      return failure();
  // int8 keys and values come with the scales of their heads.
  bool codes = k.getElementType().isInteger(8);
  if (static_cast<bool>(getKeyScales()) != static_cast<bool>(getValueScales()))
    return emitOpError("key and value scales go together");
  if (codes != static_cast<bool>(getKeyScales()))
    return emitOpError(codes ? "int8 keys and values need their scales"
                             : "scales apply to int8 keys and values only");
  if (codes) {
    auto kvHeads = static_cast<int64_t>(getNumKvHeads());
    for (Value scales : {getKeyScales(), getValueScales()}) {
      auto type = cast<RankedTensorType>(scales.getType());
      if (type.getRank() != 3 ||
          failed(verifyCompatibleShape(type.getShape().drop_back(),
                                       k.getShape().drop_back())) ||
          type.getDimSize(2) != kvHeads)
        return emitOpError("scales must be [batch, keys, num_kv_heads] = ")
               << shapeStr({k.getDimSize(0), k.getDimSize(1), kvHeads})
               << ", got " << type;
    }
  }
  if (getResult().getType() != q)
    return emitOpError("result type ")
           << getResult().getType() << " must equal the query type " << q;
  return success();
}

LogicalResult RmsNormGradOp::verify() {
  RankedTensorType input = getInput().getType();
  if (failed(verifyGroupNormLike(*this, input, {{"weight", getWeight()}},
                                 /*groups=*/1, getEpsilon().convertToDouble())))
    return failure();
  if (getGradOut().getType() != input || getGradInput().getType() != input)
    return emitOpError("grad_out and grad_input must have the input type ")
           << input;
  return success();
}

LogicalResult AttentionGradOp::verify() {
  RankedTensorType q = getQuery().getType();
  if (failed(verifyAttentionOperands(
          *this, q, getKey().getType(), getValue().getType(), getNumHeads(),
          getNumKvHeads(), getScale().convertToDouble(), getCausal(),
          /*narrowKeys=*/false)))
    return failure();
  if (getOutput().getType() != q || getGradOut().getType() != q ||
      getGradQuery().getType() != q)
    return emitOpError("grad_out, output and grad_query must have the query "
                       "type ")
           << q;
  if (getGradKey().getType() != getKey().getType() ||
      getGradValue().getType() != getValue().getType())
    return emitOpError("grad_key and grad_value must have the key and value "
                       "types");
  return success();
}

/// The operands of a fused head and cross-entropy: input [..., H], weight
/// [V, H], labels and lse of the input's leading shape.
static LogicalResult verifyLinearCrossEntropy(Operation *op,
                                              RankedTensorType input,
                                              RankedTensorType weight,
                                              RankedTensorType labels,
                                              RankedTensorType lse) {
  if (input.getRank() < 2 || ShapedType::isDynamic(input.getShape().back()))
    return op->emitOpError("input must be [..., hidden] with a static hidden "
                           "size, got ")
           << input;
  if (weight.getRank() != 2 || !weight.hasStaticShape() ||
      weight.getDimSize(1) != input.getShape().back())
    return op->emitOpError("weight must be a static [vocab, ")
           << input.getShape().back() << "] matrix, got " << weight;
  if (failed(checkElementType(op, "weight", weight, input)))
    return failure();
  if (failed(verifyCompatibleShape(labels.getShape(),
                                   input.getShape().drop_back())))
    return op->emitOpError("labels ")
           << labels << " must have the leading shape of the input " << input;
  if (lse.getShape() != labels.getShape() || !lse.getElementType().isF32())
    return op->emitOpError("lse must be f32 of the labels' shape, got ") << lse;
  return success();
}

LogicalResult LinearCrossEntropyOp::verify() {
  return verifyLinearCrossEntropy(*this, getInput().getType(),
                                  logicalTensorType(getWeight().getType()),
                                  getLabels().getType(), getLse().getType());
}

LogicalResult LinearCrossEntropyGradOp::verify() {
  if (failed(verifyLinearCrossEntropy(
          *this, getInput().getType(), logicalTensorType(getWeight().getType()),
          getLabels().getType(), getLse().getType())))
    return failure();
  if (getGradInput().getType() != getInput().getType())
    return emitOpError("grad_input must have the input type ")
           << getInput().getType();
  return success();
}
