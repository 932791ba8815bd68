//===- CudaBackend.cpp - compiled models in GPU memory --------------------===//
//
// Part of the lowmem project.
//
//===----------------------------------------------------------------------===//
//
// Model buffers of a --target=cuda executable live in device memory,
// allocated with cuMemAlloc and accounted by their own tracker, so the
// report's measured peak is the device's. Optimizer state may instead be
// paged (unified memory) or in page-locked host memory, each accounted by a
// tracker of its own. Weights are uploaded once, part by
// part, from a host staging copy no larger than one tensor.
//
//===----------------------------------------------------------------------===//

#include "lowmem/Runtime/Backend.h"
#include "lowmem/Runtime/CudaDriver.h"

#include <cstdio>
#include <cstdlib>

using namespace lowmem::rt;
using namespace lowmem::rt::cuda;

namespace {

CUdeviceptr devicePointer(const void *p) {
  return static_cast<CUdeviceptr>(reinterpret_cast<uintptr_t>(p));
}

/// The driver's allocations are aligned to at least 256 bytes, more than
/// any buffer asks for.
/// (A function-local static: see CudaDriver.cpp on initialization order.)
std::string &lastFailure() {
  static std::string failure;
  return failure;
}

template <Placement P> void *allocate(size_t bytes, size_t align) {
  void *p = nullptr;
  lastFailure() = align > 256 ? "alignment above 256 bytes"
                            : allocateAt(requireDevice(), P, bytes, p);
  return lastFailure().empty() ? p : nullptr;
}

template <Placement P> void release(void *p) {
  (void)releaseAt(requireDevice(), P, p);
}

/// One tracker per placement, never destroyed: device memory is released
/// with the context at exit.
template <Placement P> MemoryTracker &trackerAt() {
  static MemoryTracker *tracker =
      new MemoryTracker(MemoryProvider{allocate<P>, release<P>});
  return *tracker;
}

class CudaBackend : public Backend {
public:
  CudaBackend() { (void)requireDevice(); }
  MemoryTracker &memory() override { return trackerAt<Placement::Device>(); }
  MemoryTracker *memory(Placement placement, std::string &why) override {
    why = checkPlacement(requireDevice(), currentDevice(), placement);
    if (!why.empty())
      return nullptr;
    switch (placement) {
    case Placement::Device:
      return &memory();
    case Placement::Paged:
      return &trackerAt<Placement::Paged>();
    case Placement::Host:
      return &trackerAt<Placement::Host>();
    }
    return nullptr;
  }
  std::string describe(Placement placement) override {
    switch (placement) {
    case Placement::Device:
      return "device memory";
    case Placement::Paged:
      return "unified memory, prefetched to the GPU before each step and "
             "evictable";
    case Placement::Host:
      return "page-locked host memory, updated in place over the bus";
    }
    return "";
  }
  /// Without concurrent managed access (not on Linux with a Pascal or
  /// later GPU) the driver migrates pages at each launch on its own.
  void prefetch(const void *p, size_t bytes) override {
    static const bool concurrent = [] {
      int value = 0;
      return requireDevice().cuDeviceGetAttribute(
                 &value, kAttrConcurrentManagedAccess, currentDevice()) ==
                 kSuccess &&
             value != 0;
    }();
    if (!concurrent || bytes == 0)
      return;
    std::string problem =
        prefetchTo(requireDevice(), currentDevice(), p, bytes, launchStream());
    if (!problem.empty())
      fatal(problem);
  }
  void upload(void *dst, const void *src, size_t bytes) override {
    if (bytes)
      checkResult("cuMemcpyHtoD",
                  requireDevice().cuMemcpyHtoD(devicePointer(dst), src, bytes));
  }
  void download(void *dst, const void *src, size_t bytes) override {
    if (bytes)
      checkResult("cuMemcpyDtoH",
                  requireDevice().cuMemcpyDtoH(dst, devicePointer(src), bytes));
  }
  void fill(void *dst, unsigned char value, size_t bytes) override {
    if (bytes)
      checkResult("cuMemsetD8",
                  requireDevice().cuMemsetD8(devicePointer(dst), value, bytes));
  }
  std::string description() override { return deviceDescription(); }
  std::string lastAllocationFailure() override { return lastFailure(); }
  bool warmUp() const override { return true; }
};

} // namespace

Backend &lowmem::rt::modelBackend() {
  static CudaBackend backend;
  return backend;
}
