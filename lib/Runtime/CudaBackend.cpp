//===- CudaBackend.cpp - compiled models in GPU memory --------------------===//
//
// Part of the lowmem project.
//
//===----------------------------------------------------------------------===//
//
// Model buffers of a --target=cuda executable live in device memory,
// allocated with cuMemAlloc and accounted by their own tracker, so the
// report's measured peak is the device's. Weights are uploaded once, part by
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

/// cuMemAlloc aligns to at least 256 bytes, more than any buffer asks for.
void *deviceAllocate(size_t bytes, size_t align) {
  if (align > 256)
    return nullptr;
  CUdeviceptr p = 0;
  if (requireDevice().cuMemAlloc(&p, bytes) != kSuccess)
    return nullptr;
  return reinterpret_cast<void *>(static_cast<uintptr_t>(p));
}

void deviceRelease(void *p) {
  (void)requireDevice().cuMemFree(devicePointer(p));
}

class CudaBackend : public Backend {
public:
  CudaBackend() { (void)requireDevice(); }
  MemoryTracker &memory() override {
    // Never destroyed: device memory is released with the context at exit.
    static MemoryTracker *tracker =
        new MemoryTracker(MemoryProvider{deviceAllocate, deviceRelease});
    return *tracker;
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
  bool warmUp() const override { return true; }
};

} // namespace

Backend &lowmem::rt::modelBackend() {
  static CudaBackend backend;
  return backend;
}
