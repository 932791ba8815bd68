//===- Adapter.h - PEFT LoRA adapters on disk -------------------*- C++ -*-===//
//
// Part of the lowmem project.
//
//===----------------------------------------------------------------------===//
//
// LoRA adapters the way PEFT saves them: a directory holding
// `adapter_model.safetensors` (tensors named
// `base_model.model.<layer>.lora_A.weight` / `.lora_B.weight`) and
// `adapter_config.json` (`r`, `lora_alpha`, `use_rslora`, `lora_dropout`,
// `target_modules`, ...). Also PEFT's default initialisation of a new adapter.
//
//===----------------------------------------------------------------------===//

#ifndef LOWMEM_RUNTIME_ADAPTER_H
#define LOWMEM_RUNTIME_ADAPTER_H

#include "lowmem/Runtime/Safetensors.h"

#include <cstdint>
#include <string>
#include <vector>

namespace lowmem::rt {

/// The LoRA settings a model is compiled with, or an adapter was saved with.
struct LoraConfig {
  int64_t rank = 0;
  double alpha = 0;
  bool rslora = false;
  double dropout = 0;
  /// Adapted layers (PEFT's target_modules).
  std::vector<std::string> targets;
};

/// The prefix PEFT puts before a layer's name in adapter_model.safetensors.
inline constexpr const char *kPeftPrefix = "base_model.model.";

/// The file names inside an adapter directory.
std::string adapterWeightsPath(const std::string &dir);
std::string adapterConfigPath(const std::string &dir);
/// DIR/training_state.safetensors: the optimizer state saved with an adapter
/// (PyTorch's state names, `P.exp_avg`, ...; metadata `step`).
std::string trainingStatePath(const std::string &dir);

/// Reads DIR/adapter_config.json. Returns "" or "<path>: <reason>".
std::string readAdapterConfig(const std::string &dir, LoraConfig &out);

/// Checks that an adapter saved with `saved` fits a model compiled with
/// `model` (rank, alpha, scaling). Returns "" or what differs, naming `dir`.
std::string checkAdapterConfig(const std::string &dir, const LoraConfig &saved,
                               const LoraConfig &model);

/// Writes DIR/adapter_model.safetensors (each tensor named with PEFT's
/// prefix added) and DIR/adapter_config.json, each atomically, creating DIR
/// if needed. `metadata` is added to the safetensors' `__metadata__` after
/// `format: pt`. Returns "" or "<path>: <reason>".
std::string writeAdapter(
    const std::string &dir, const LoraConfig &config,
    const std::vector<TensorToWrite> &tensors,
    const std::vector<std::pair<std::string, std::string>> &metadata = {});

/// PEFT's initialisation of `lora_A` (`[rank, in]`): kaiming-uniform with
/// a = sqrt(5), that is uniform in [-1/sqrt(in), 1/sqrt(in)], drawn from a
/// generator seeded by `seed` and the parameter's name so that every
/// adapter gets its own stream. (`lora_B` starts at zero.)
void initLoraA(float *data, int64_t rank, int64_t in, uint64_t seed,
               const std::string &name);

} // namespace lowmem::rt

#endif // LOWMEM_RUNTIME_ADAPTER_H
