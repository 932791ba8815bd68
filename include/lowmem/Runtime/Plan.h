//===- Plan.h - a compiled model's memory plan at given sizes ---*- C++ -*-===//
//
// Part of the lowmem project.
//
//===----------------------------------------------------------------------===//
//
// Evaluates the memory plan a compiled model's manifest carries (argument
// shapes, arena and heap polynomials in the inputs' dynamic sizes) at given
// sizes, without weights, inputs or a run: what `lowmem-compile --plan`
// prints, and what the model's `--report` predicts when run at those sizes.
//
//===----------------------------------------------------------------------===//

#ifndef LOWMEM_RUNTIME_PLAN_H
#define LOWMEM_RUNTIME_PLAN_H

#include "lowmem/Runtime/Json.h"

#include <cstdint>
#include <string>
#include <vector>

namespace lowmem::rt {

/// Bytes by category, as a run allocates them.
struct MemoryPlan {
  int64_t frozen = 0, trainable = 0, state = 0, inputs = 0, workspace = 0;
  int64_t gradients = 0, activations = 0, heap = 0;
  /// A generation step's KV caches.
  int64_t cache = 0;
  /// Activations held in host memory while idle (--offload-activations):
  /// outside the total, which is the memory the kernels run next to.
  int64_t offloaded = 0;
  int64_t total() const {
    return frozen + trainable + state + inputs + workspace + gradients +
           activations + heap + cache;
  }
};

/// Plans the manifest at `sizes`: each input's dynamic dimensions take the
/// sizes in order (a training step's ids and labels both [batch, seq]); a
/// generation step's KV caches [batch, capacity, features] take the first
/// and the third (sizes BxSxT).
/// Returns "" or what is wrong (too few sizes, a corrupt manifest).
std::string planMemory(const JsonValue &manifest,
                       const std::vector<int64_t> &sizes, MemoryPlan &out);

} // namespace lowmem::rt

#endif // LOWMEM_RUNTIME_PLAN_H
