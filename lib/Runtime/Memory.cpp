//===- Memory.cpp - Allocation accounting ---------------------------------===//
//
// Part of the lowmem project.
//
//===----------------------------------------------------------------------===//

#include "lowmem/Runtime/Memory.h"

#include <cstdio>
#include <cstdlib>
#include <new>

namespace lowmem::rt {

const char *memCategoryName(MemCategory category) {
  switch (category) {
  case MemCategory::Weights:
    return "weights";
  case MemCategory::Inputs:
    return "inputs";
  case MemCategory::Outputs:
    return "outputs";
  case MemCategory::Activations:
    return "activations";
  case MemCategory::Workspace:
    return "workspace";
  case MemCategory::Trainable:
    return "trainable";
  case MemCategory::OptimizerState:
    return "optimizer state";
  case MemCategory::KvCache:
    return "kv cache";
  case MemCategory::Count:
    break;
  }
  return "invalid";
}

const char *placementName(Placement placement) {
  switch (placement) {
  case Placement::Device:
    return "device";
  case Placement::Paged:
    return "paged";
  case Placement::Host:
    return "host";
  }
  return "?";
}

std::optional<Placement> parsePlacement(const std::string &name) {
  for (Placement p : {Placement::Device, Placement::Paged, Placement::Host})
    if (name == placementName(p))
      return p;
  return std::nullopt;
}

namespace {
void *hostAllocate(size_t bytes, size_t align) {
  void *p = nullptr;
  return ::posix_memalign(&p, align, bytes) == 0 ? p : nullptr;
}
void hostRelease(void *p) { std::free(p); }
} // namespace

MemoryProvider hostMemory() { return {hostAllocate, hostRelease}; }

MemoryTracker::~MemoryTracker() {
  for (auto &entry : allocations)
    provider.release(entry.first);
}

void *MemoryTracker::allocate(size_t bytes, MemCategory category,
                              size_t align) {
  size_t index = static_cast<size_t>(category);
  if (index >= kNumCategories)
    return nullptr;
  if (align == 0 || (align & (align - 1)) != 0)
    return nullptr;
  if (align < alignof(void *))
    align = alignof(void *);
  void *p = provider.allocate(bytes == 0 ? 1 : bytes, align);
  if (!p)
    return nullptr;
  std::lock_guard<std::mutex> lock(mutex);
  try {
    allocations.emplace(p, Allocation{bytes, category});
  } catch (const std::bad_alloc &) {
    provider.release(p);
    return nullptr;
  }
  currentBytes[index] += bytes;
  if (currentBytes[index] > peakBytes[index])
    peakBytes[index] = currentBytes[index];
  totalBytes += bytes;
  if (totalBytes > peakTotalBytes)
    peakTotalBytes = totalBytes;
  return p;
}

void MemoryTracker::release(void *p) {
  if (!p)
    return;
  {
    std::lock_guard<std::mutex> lock(mutex);
    auto it = allocations.find(p);
    if (it != allocations.end()) {
      size_t index = static_cast<size_t>(it->second.category);
      currentBytes[index] -= it->second.bytes;
      totalBytes -= it->second.bytes;
      allocations.erase(it);
      provider.release(p);
      return;
    }
  }
  std::fprintf(stderr,
               "lowmem runtime: fatal: MemoryTracker::release(%p): pointer "
               "was not allocated by this tracker or was already released\n",
               p);
  std::fflush(stderr);
  std::abort();
}

size_t MemoryTracker::current(MemCategory category) const {
  size_t index = static_cast<size_t>(category);
  if (index >= kNumCategories)
    return 0;
  std::lock_guard<std::mutex> lock(mutex);
  return currentBytes[index];
}

size_t MemoryTracker::peak(MemCategory category) const {
  size_t index = static_cast<size_t>(category);
  if (index >= kNumCategories)
    return 0;
  std::lock_guard<std::mutex> lock(mutex);
  return peakBytes[index];
}

size_t MemoryTracker::currentTotal() const {
  std::lock_guard<std::mutex> lock(mutex);
  return totalBytes;
}

size_t MemoryTracker::peakTotal() const {
  std::lock_guard<std::mutex> lock(mutex);
  return peakTotalBytes;
}

void MemoryTracker::resetPeaks() {
  std::lock_guard<std::mutex> lock(mutex);
  for (size_t i = 0; i < kNumCategories; ++i)
    peakBytes[i] = currentBytes[i];
  peakTotalBytes = totalBytes;
}

MemoryTracker &MemoryTracker::global() {
  // Leaked on purpose: allocations may be released from static destructors.
  static MemoryTracker *tracker = new MemoryTracker();
  return *tracker;
}

} // namespace lowmem::rt
