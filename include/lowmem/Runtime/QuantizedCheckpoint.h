//===- QuantizedCheckpoint.h - bitsandbytes-named weights -------*- C++ -*-===//
//
// Part of the lowmem project.
//
//===----------------------------------------------------------------------===//
//
// Reading and writing quantized weights under the safetensors names of
// bitsandbytes (DESIGN.md §4): for a weight `P.weight`,
//   f16/bf16: `P.weight` F16/BF16 [O, I];
//   nf4/fp4:  `P.weight` U8 [ceil(n/2), 1], `P.weight.absmax` F32 (U8 codes
//             with double quantization), `P.weight.quant_map` F32 [16],
//             DQ: `P.weight.nested_absmax` F32, `P.weight.nested_quant_map`
//             F32 [256]; `P.weight.quant_state.bitsandbytes__nf4` (or __fp4)
//             U8 JSON {quant_type, blocksize, dtype, shape[, nested_*]};
//   int4:     `P.weight` U8 [ceil(n/2)], `P.weight.absmax` F16 [blocks],
//             `P.weight.quant_state.lowmem__int4`;
//   int8:     `P.weight` I8 [O, I], `P.SCB` F32 [O],
//             `P.weight.quant_state.lowmem__int8`.
//
//===----------------------------------------------------------------------===//

#ifndef LOWMEM_RUNTIME_QUANTIZEDCHECKPOINT_H
#define LOWMEM_RUNTIME_QUANTIZEDCHECKPOINT_H

#include "lowmem/Quant/Quant.h"
#include "lowmem/Runtime/Safetensors.h"

#include <memory>
#include <string>
#include <vector>

namespace lowmem::rt {

/// A tensor that owns its bytes, ready for writeSafetensors.
struct OwnedTensor {
  std::string name;
  DType dtype;
  std::vector<int64_t> shape;
  std::vector<uint8_t> bytes;
};

/// Appends the tensors that store `q` under the name `weightName` (which
/// must end in `.weight` for int8, whose row scales are `P.SCB`).
void appendQuantizedTensors(const std::string &weightName,
                            const quant::QuantizedTensor &q,
                            std::vector<OwnedTensor> &out);

/// Formats a double as Python's repr() does (shortest round trip), so that
/// quant_state JSON is byte-identical to what bitsandbytes writes.
std::string pythonFloatRepr(double value);

/// What a checkpoint holds for a weight name.
struct StoredWeightInfo {
  bool present = false;
  bool quantized = false; // false: full precision (F32/F16/BF16/F64)
  quant::Format format = quant::Format::F32;
  int64_t blockSize = 0;
  bool doubleQuant = false;
  std::vector<int64_t> shape; // logical shape
};

/// Inspects `file` for the weight `name`: full precision or quantized, and in
/// which format. Returns "" or an error naming the file and tensor.
std::string inspectWeight(const SafetensorsFile &file, const std::string &name,
                          StoredWeightInfo &info);

/// Produces `name` in `format` (block size, double quantization) with the
/// logical `shape`: copied and validated when the file already stores it in
/// that format, quantized on the fly when the file holds it in full
/// precision. Returns "" or an error naming the file and tensor.
std::string loadWeightAs(const SafetensorsFile &file, const std::string &name,
                         quant::Format format, int64_t blockSize,
                         bool doubleQuant, const std::vector<int64_t> &shape,
                         quant::QuantizedTensor &out);

/// Reads a full-precision tensor as f32 (from F32, F16, BF16 or F64).
std::string loadAsFloat(const SafetensorsFile &file, const TensorView &tensor,
                        std::vector<float> &out);

/// loadAsFloat for a tensor the model expects with `shape`: a tensor of
/// another shape is an error naming the file, the tensor and both shapes.
std::string loadAsFloatWithShape(const SafetensorsFile &file,
                                 const TensorView &tensor,
                                 const std::vector<int64_t> &shape,
                                 std::vector<float> &out);

/// Renders a shape as [2, 3].
std::string shapeToString(const std::vector<int64_t> &shape);

} // namespace lowmem::rt

#endif // LOWMEM_RUNTIME_QUANTIZEDCHECKPOINT_H
