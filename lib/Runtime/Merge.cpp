//===- Merge.cpp - LoRA adapters merged into their base weights -----------===//
//
// Part of the lowmem project.
//
//===----------------------------------------------------------------------===//

#include "lowmem/Runtime/Merge.h"
#include "lowmem/Runtime/QuantizedCheckpoint.h"

#include <cstring>

using namespace lowmem;
using namespace lowmem::rt;

namespace {

bool endsWith(const std::string &s, const std::string &suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

/// The parameter as the model uses it, in f32.
std::string decode(const SafetensorsFile &weights, const MergeParam &param,
                   std::vector<float> &out) {
  int64_t n = 1;
  for (int64_t d : param.shape)
    n *= d;
  if (param.format != quant::Format::F32) {
    quant::QuantizedTensor q;
    std::string problem =
        loadWeightAs(weights, param.name, param.format, param.blockSize,
                     param.doubleQuant, param.shape, q);
    if (!problem.empty())
      return problem;
    out.resize(n);
    quant::dequantize(q, out.data());
    return "";
  }
  const TensorView *t = weights.find(param.name);
  if (!t)
    return weights.path() + ": missing tensor '" + param.name + "'";
  return loadAsFloatWithShape(weights, *t, param.shape, out);
}

} // namespace

std::string lowmem::rt::writeMergedWeights(
    const SafetensorsFile &weights, const std::vector<MergeParam> &params,
    const AdapterTensors &adapters, double scale, quant::Format format,
    int64_t blockSize, bool doubleQuant, const std::string &path) {
  if (blockSize == 0 && quant::isBlockFormat(format))
    blockSize = quant::defaultBlockSize(format);
  std::string problem = quant::checkOptions(format, blockSize, doubleQuant);
  if (!problem.empty())
    return "--merge-format: " + problem;
  std::vector<OwnedTensor> out;
  int merged = 0;
  for (const MergeParam &param : params) {
    std::vector<float> w;
    problem = decode(weights, param, w);
    if (!problem.empty())
      return problem;
    // A linear layer's weight: what adapters adapt and formats quantize.
    bool linearWeight =
        endsWith(param.name, ".weight") && param.shape.size() == 2;
    if (linearWeight) {
      std::string layer = param.name.substr(0, param.name.size() - 7);
      auto a = adapters.find(layer + ".lora_A.weight");
      auto b = adapters.find(layer + ".lora_B.weight");
      if (a != adapters.end() && b != adapters.end()) {
        // W[o, i] += scale · Σ_r B[o, r] · A[r, i]
        int64_t rows = param.shape[0], cols = param.shape[1];
        const auto &[aShape, aData] = a->second;
        const auto &[bShape, bData] = b->second;
        if (aShape.size() != 2 || bShape.size() != 2 || aShape[1] != cols ||
            bShape[0] != rows || aShape[0] != bShape[1])
          return "cannot merge the adapter of '" + layer + "': A " +
                 shapeToString(aShape) + " and B " + shapeToString(bShape) +
                 " do not fit the weight " + shapeToString(param.shape);
        int64_t rank = aShape[0];
        for (int64_t o = 0; o < rows; ++o)
          for (int64_t r = 0; r < rank; ++r) {
            float coefficient = static_cast<float>(scale) * bData[o * rank + r];
            const float *aRow = aData + r * cols;
            float *wRow = w.data() + o * cols;
            for (int64_t i = 0; i < cols; ++i)
              wRow[i] += coefficient * aRow[i];
          }
        ++merged;
      }
    }
    if (format != quant::Format::F32 && linearWeight) {
      quant::QuantizedTensor q = quant::quantize(w.data(), param.shape, format,
                                                 blockSize, doubleQuant);
      appendQuantizedTensors(param.name, q, out);
      continue;
    }
    OwnedTensor t{param.name, DType::F32, param.shape, {}};
    t.bytes.resize(w.size() * sizeof(float));
    std::memcpy(t.bytes.data(), w.data(), t.bytes.size());
    out.push_back(std::move(t));
  }
  if (merged == 0)
    return "nothing to merge: the model has no LoRA adapter";
  std::vector<TensorToWrite> tensors;
  for (const OwnedTensor &t : out)
    tensors.push_back(
        {t.name, t.dtype, t.shape, t.bytes.data(), t.bytes.size()});
  return writeSafetensors(
      path, tensors,
      {{"format", "pt"}, {"lowmem.merged_adapters", std::to_string(merged)}});
}
