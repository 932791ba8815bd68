//===- FakeCudaDriver.cpp - a CUDA driver without a GPU, for tests --------===//
//
// Part of the lowmem project.
//
//===----------------------------------------------------------------------===//
//
// The driver entry points the runtime resolves, with one fake device whose
// kernels do nothing. Its memory is host memory, but the addresses
// cuMemAlloc hands out carry the top bit, which no host address has: a host
// read or write through a device pointer faults, as it does with a real
// GPU, instead of quietly working. Mapped page-locked host memory keeps its
// host address on the device, as under unified addressing. A --target=cuda
// binary run with LOWMEM_CUDA_DRIVER naming this library goes through its whole
// host side (start-up, kernel loading, placement, the memory plan and its
// measured peak) on a machine without a GPU; its numbers are meaningless.
// LOWMEM_FAKE_CUDA_KERNEL_US makes each synchronization wait that many
// microseconds, as if a kernel ran (for the runtime's kernel profile);
// LOWMEM_FAKE_CUDA_FAIL_SYNC=N makes the Nth fail as after a kernel's fault.
//
//===----------------------------------------------------------------------===//

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <unistd.h>

using CUresult = int;
using CUdeviceptr = unsigned long long;

namespace {
constexpr CUdeviceptr kDeviceBit = CUdeviceptr(1) << 63;
CUdeviceptr toDevice(const void *host) {
  return reinterpret_cast<uintptr_t>(host) | kDeviceBit;
}
void *toHost(CUdeviceptr device) {
  return reinterpret_cast<void *>(static_cast<uintptr_t>(device & ~kDeviceBit));
}
} // namespace

extern "C" {
CUresult cuInit(unsigned) { return 0; }
CUresult cuDriverGetVersion(int *version) {
  *version = 13000;
  return 0;
}
CUresult cuGetErrorString(CUresult, const char **text) {
  *text = "fake driver error";
  return 0;
}
CUresult cuDeviceGetCount(int *count) {
  *count = 1;
  return 0;
}
CUresult cuDeviceGet(int *device, int ordinal) {
  *device = ordinal;
  return 0;
}
CUresult cuDeviceGetName(char *name, int size, int) {
  std::strncpy(name, "fake GPU", static_cast<size_t>(size));
  return 0;
}
// Every capability (unified addressing, managed and host memory) is there.
CUresult cuDeviceGetAttribute(int *value, int, int) {
  *value = 1;
  return 0;
}
CUresult cuDevicePrimaryCtxRetain(void **context, int) {
  static int token;
  *context = &token;
  return 0;
}
CUresult cuCtxSetCurrent(void *) { return 0; }
// A module per image and a function per module, each a distinct handle,
// as a driver gives (the kernel profile tells kernels apart by them).
CUresult cuModuleLoadDataEx(void **module, const void *image, unsigned, int *,
                            void **) {
  *module = const_cast<void *>(image);
  return 0;
}
CUresult cuModuleUnload(void *) { return 0; }
CUresult cuModuleGetFunction(void **function, void *module, const char *) {
  *function = module;
  return 0;
}
CUresult cuLaunchKernel(void *, unsigned, unsigned, unsigned, unsigned,
                        unsigned, unsigned, unsigned, void *, void **,
                        void **) {
  return 0;
}
CUresult cuStreamCreate(void **stream, unsigned) {
  static int token;
  *stream = &token;
  return 0;
}
CUresult cuStreamSynchronize(void *) {
  static const long us = [] {
    const char *env = std::getenv("LOWMEM_FAKE_CUDA_KERNEL_US");
    return env ? std::strtol(env, nullptr, 10) : 0L;
  }();
  if (us > 0)
    usleep(static_cast<useconds_t>(us));
  // LOWMEM_FAKE_CUDA_FAIL_SYNC=N: the Nth synchronization reports the
  // fault of a kernel (CUDA_ERROR_ILLEGAL_ADDRESS).
  static const long failAt = [] {
    const char *env = std::getenv("LOWMEM_FAKE_CUDA_FAIL_SYNC");
    return env ? std::strtol(env, nullptr, 10) : 0L;
  }();
  static long count = 0;
  return ++count == failAt ? 700 : 0;
}
CUresult cuStreamDestroy_v2(void *) { return 0; }
CUresult cuMemAlloc_v2(CUdeviceptr *p, size_t bytes) {
  void *memory = nullptr;
  if (posix_memalign(&memory, 256, bytes ? bytes : 1) != 0)
    return 2; // CUDA_ERROR_OUT_OF_MEMORY
  // Zeroed: what kernels that do nothing leave is the same in every run,
  // and finite (a training binary stops at a loss that is not).
  std::memset(memory, 0, bytes);
  *p = toDevice(memory);
  return 0;
}
CUresult cuMemFree_v2(CUdeviceptr p) {
  std::free(toHost(p));
  return 0;
}
CUresult cuMemcpyHtoD_v2(CUdeviceptr to, const void *from, size_t bytes) {
  std::memcpy(toHost(to), from, bytes);
  return 0;
}
CUresult cuMemcpyDtoH_v2(void *to, CUdeviceptr from, size_t bytes) {
  std::memcpy(to, toHost(from), bytes);
  return 0;
}
CUresult cuMemHostAlloc(void **p, size_t bytes, unsigned) {
  // LOWMEM_FAKE_CUDA_HOST_ALLOC_ERROR=N: page-locked allocations fail with
  // CUDA error N (a driver refusing to pin more memory, say).
  if (const char *error = std::getenv("LOWMEM_FAKE_CUDA_HOST_ALLOC_ERROR"))
    return std::atoi(error);
  return posix_memalign(p, 256, bytes ? bytes : 1) == 0 ? 0 : 2;
}
CUresult cuMemHostGetDevicePointer_v2(CUdeviceptr *device, void *host,
                                      unsigned) {
  *device = reinterpret_cast<uintptr_t>(host); // unified addressing
  return 0;
}
CUresult cuMemFreeHost(void *p) {
  std::free(p);
  return 0;
}
CUresult cuMemGetInfo_v2(size_t *free, size_t *total) {
  *free = *total = size_t(16) << 30;
  return 0;
}
CUresult cuMemsetD8_v2(CUdeviceptr p, unsigned char value, size_t bytes) {
  std::memset(toHost(p), value, bytes);
  return 0;
}
}
