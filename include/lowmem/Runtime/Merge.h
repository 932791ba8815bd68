//===- Merge.h - LoRA adapters merged into their base weights ---*- C++ -*-===//
//
// Part of the lowmem project.
//
//===----------------------------------------------------------------------===//

#ifndef LOWMEM_RUNTIME_MERGE_H
#define LOWMEM_RUNTIME_MERGE_H

#include "lowmem/Quant/Quant.h"
#include "lowmem/Runtime/Safetensors.h"

#include <map>
#include <string>
#include <vector>

namespace lowmem::rt {

/// A frozen parameter of a compiled model, as the model uses it: the format
/// it was compiled for (f32 for full precision), and its logical shape.
struct MergeParam {
  std::string name;
  quant::Format format = quant::Format::F32;
  int64_t blockSize = 0;
  bool doubleQuant = false;
  std::vector<int64_t> shape;
};

/// An adapter tensor (row-major f32) by its parameter name
/// (`P.lora_A.weight`, `P.lora_B.weight`).
using AdapterTensors =
    std::map<std::string, std::pair<std::vector<int64_t>, const float *>>;

/// Writes to `path`, atomically, the model's weights with the adapters
/// merged: every parameter of `params` decoded from `weights` exactly as the
/// model uses it (quantized to its compiled format and back), plus
/// `scale · B · A` for each `P.weight` that has `P.lora_A.weight` and
/// `P.lora_B.weight` in `adapters`. 2-D `*.weight` tensors are written in
/// `format` (bitsandbytes names for quantized formats, see
/// QuantizedCheckpoint.h), the others in f32. Returns "" or an error naming
/// the file or tensor.
std::string writeMergedWeights(const SafetensorsFile &weights,
                               const std::vector<MergeParam> &params,
                               const AdapterTensors &adapters, double scale,
                               quant::Format format, int64_t blockSize,
                               bool doubleQuant, const std::string &path);

} // namespace lowmem::rt

#endif // LOWMEM_RUNTIME_MERGE_H
