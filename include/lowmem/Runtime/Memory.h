//===- Memory.h - Allocation accounting -------------------------*- C++ -*-===//
//
// Part of the lowmem project.
//
//===----------------------------------------------------------------------===//
///
/// \file
/// Host allocations made by the runtime go through a MemoryTracker, which
/// records the bytes currently held and the high-water marks per category and
/// in total. These measured peaks are what `--report` prints next to the
/// plan-memory predictions.
///
//===----------------------------------------------------------------------===//

#ifndef LOWMEM_RUNTIME_MEMORY_H
#define LOWMEM_RUNTIME_MEMORY_H

#include <cstddef>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

namespace lowmem::rt {

/// What an allocation holds.
enum class MemCategory {
  Weights,
  Inputs,
  Outputs,
  Activations,
  Workspace,
  /// Trainable parameters (LoRA adapters, or every weight when fine-tuning).
  Trainable,
  /// Optimizer state (momentum, AdamW moments).
  OptimizerState,
  /// A generation step's KV caches.
  KvCache,
  Count
};

/// Returns "weights", "inputs", "outputs", "activations" or "workspace".
const char *memCategoryName(MemCategory category);

/// Where a buffer lives, for buffers that need not be in the memory the
/// kernels run next to (optimizer state, which only the update touches).
enum class Placement {
  /// The backend's own memory: the GPU's for CUDA, host memory for the CPU.
  Device,
  /// CUDA unified memory, migrated to the GPU before each step; the driver
  /// may evict it to host memory when the GPU's memory runs short.
  Paged,
  /// Page-locked host memory mapped into the GPU's address space: kernels
  /// read and write it in place over the bus.
  Host,
};

/// "device", "paged" or "host".
const char *placementName(Placement placement);
/// The placement named \p name, if any.
std::optional<Placement> parsePlacement(const std::string &name);

/// Thread-safe allocator wrapper with per-category accounting.
/// Where a tracker's bytes come from: host memory unless told otherwise
/// (the CUDA runtime provides device memory).
struct MemoryProvider {
  /// Returns \p bytes (at least 1) aligned to \p align, or nullptr.
  void *(*allocate)(size_t bytes, size_t align);
  void (*release)(void *p);
};

/// The host's posix_memalign / free.
MemoryProvider hostMemory();

class MemoryTracker {
public:
  MemoryTracker() : provider(hostMemory()) {}
  explicit MemoryTracker(MemoryProvider provider) : provider(provider) {}
  /// Frees whatever is still allocated.
  ~MemoryTracker();
  MemoryTracker(const MemoryTracker &) = delete;
  MemoryTracker &operator=(const MemoryTracker &) = delete;

  /// Allocates \p bytes aligned to \p align (a power of two; raised to at
  /// least alignof(void *)) and accounts them to \p category. A zero-byte
  /// request returns a unique pointer accounted as 0 bytes. Returns nullptr
  /// when the allocation fails, \p align is not a power of two, or
  /// \p category is Count.
  void *allocate(size_t bytes, MemCategory category, size_t align = 64);

  /// Frees \p p, which must come from allocate() on this tracker and not be
  /// released yet; nullptr is ignored. Releasing an unknown pointer is a
  /// programming error: it prints a message and aborts.
  void release(void *p);

  /// Bytes currently allocated in \p category.
  size_t current(MemCategory category) const;
  /// Highest value current(category) reached since construction or the last
  /// resetPeaks().
  size_t peak(MemCategory category) const;
  /// Bytes currently allocated in all categories.
  size_t currentTotal() const;
  /// Highest value currentTotal() reached (the high-water mark of the sum,
  /// not the sum of the per-category peaks).
  size_t peakTotal() const;
  /// Sets every peak to the current value.
  void resetPeaks();

  /// The process-wide tracker used by generated code. Never destroyed.
  static MemoryTracker &global();

private:
  struct Allocation {
    size_t bytes;
    MemCategory category;
  };
  static constexpr size_t kNumCategories =
      static_cast<size_t>(MemCategory::Count);

  MemoryProvider provider;
  mutable std::mutex mutex;
  std::unordered_map<void *, Allocation> allocations;
  size_t currentBytes[kNumCategories] = {};
  size_t peakBytes[kNumCategories] = {};
  size_t totalBytes = 0;
  size_t peakTotalBytes = 0;
};

} // namespace lowmem::rt

#endif // LOWMEM_RUNTIME_MEMORY_H
