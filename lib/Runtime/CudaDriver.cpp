//===- CudaDriver.cpp - the CUDA driver API, loaded at run time -----------===//
//
// Part of the lowmem project.
//
//===----------------------------------------------------------------------===//

#include "lowmem/Runtime/CudaDriver.h"

#include <cstdio>
#include <cstdlib>
#include <dlfcn.h>
#include <mutex>

using namespace lowmem::rt::cuda;

namespace {

// Plain data only at namespace scope: a compiled model's global
// constructors load its kernels (mgpuModuleLoad) before this library's
// dynamic initializers may have run, so a global std::string would be
// assigned before it was constructed. The error message lives in a
// function-local static, constructed on first use.
DriverApi driverApi;
bool driverLoaded = false;
CUdevice activeDevice = 0;

std::string &driverError() {
  static std::string error;
  return error;
}

/// Resolves `name` into `slot`; versioned names first (cuMemAlloc_v2).
template <typename Fn>
bool resolve(void *handle, const char *name, Fn &slot, std::string &missing) {
  std::string v2 = std::string(name) + "_v2";
  void *symbol = dlsym(handle, v2.c_str());
  if (!symbol)
    symbol = dlsym(handle, name);
  if (!symbol) {
    missing += missing.empty() ? name : std::string(", ") + name;
    return false;
  }
  slot = reinterpret_cast<Fn>(symbol);
  return true;
}

void loadOnce() {
  const char *override = std::getenv("LOWMEM_CUDA_DRIVER");
  const char *name = override && *override ? override : "libcuda.so.1";
  driverError() = openDriver(name, driverApi);
  driverLoaded = driverError().empty();
}

} // namespace

std::string lowmem::rt::cuda::openDriver(const char *name, DriverApi &d) {
  void *handle = dlopen(name, RTLD_NOW | RTLD_LOCAL);
  if (!handle) {
    const char *why = dlerror();
    return std::string("no CUDA driver: cannot load '") + name + "' (" +
           (why ? why : "unknown error") +
           "); a --target=cuda binary needs an NVIDIA GPU and its driver";
  }
  // The memory and stream entry points are resolved by their _v2 names,
  // as cuda.h's macros do: the unversioned symbols keep the legacy ABI
  // with 32-bit device pointers and sizes.
  std::string missing;
  resolve(handle, "cuInit", d.cuInit, missing);
  resolve(handle, "cuDriverGetVersion", d.cuDriverGetVersion, missing);
  resolve(handle, "cuGetErrorString", d.cuGetErrorString, missing);
  resolve(handle, "cuDeviceGetCount", d.cuDeviceGetCount, missing);
  resolve(handle, "cuDeviceGet", d.cuDeviceGet, missing);
  resolve(handle, "cuDeviceGetName", d.cuDeviceGetName, missing);
  resolve(handle, "cuDeviceGetAttribute", d.cuDeviceGetAttribute, missing);
  resolve(handle, "cuDevicePrimaryCtxRetain", d.cuDevicePrimaryCtxRetain,
          missing);
  resolve(handle, "cuCtxSetCurrent", d.cuCtxSetCurrent, missing);
  resolve(handle, "cuModuleLoadDataEx", d.cuModuleLoadDataEx, missing);
  resolve(handle, "cuModuleUnload", d.cuModuleUnload, missing);
  resolve(handle, "cuModuleGetFunction", d.cuModuleGetFunction, missing);
  resolve(handle, "cuLaunchKernel", d.cuLaunchKernel, missing);
  resolve(handle, "cuStreamCreate", d.cuStreamCreate, missing);
  resolve(handle, "cuStreamSynchronize", d.cuStreamSynchronize, missing);
  resolve(handle, "cuStreamDestroy_v2", d.cuStreamDestroy, missing);
  resolve(handle, "cuMemAlloc_v2", d.cuMemAlloc, missing);
  resolve(handle, "cuMemFree_v2", d.cuMemFree, missing);
  resolve(handle, "cuMemcpyHtoD_v2", d.cuMemcpyHtoD, missing);
  resolve(handle, "cuMemcpyDtoH_v2", d.cuMemcpyDtoH, missing);
  resolve(handle, "cuMemGetInfo_v2", d.cuMemGetInfo, missing);
  resolve(handle, "cuMemsetD8_v2", d.cuMemsetD8, missing);
  // Optional: only paged and host placements need them, and a driver
  // without them (cuMemPrefetchAsync_v2 is CUDA 12.2's) still runs models.
  std::string optional;
  resolve(handle, "cuMemAllocManaged", d.cuMemAllocManaged, optional);
  resolve(handle, "cuMemHostAlloc", d.cuMemHostAlloc, optional);
  resolve(handle, "cuMemHostGetDevicePointer_v2", d.cuMemHostGetDevicePointer,
          optional);
  resolve(handle, "cuMemFreeHost", d.cuMemFreeHost, optional);
  resolve(handle, "cuMemPrefetchAsync_v2", d.cuMemPrefetchAsync, optional);
  if (!missing.empty()) {
    dlclose(handle);
    return std::string("the CUDA driver '") + name +
           "' lacks entry points: " + missing;
  }
  return "";
}

std::string lowmem::rt::cuda::loadDriver(const DriverApi *&api) {
  static std::once_flag once;
  std::call_once(once, loadOnce);
  api = driverLoaded ? &driverApi : nullptr;
  return driverLoaded ? "" : driverError();
}

std::string lowmem::rt::cuda::describeError(const char *call, CUresult result) {
  const DriverApi *api = nullptr;
  const char *text = nullptr;
  if (loadDriver(api).empty() && api->cuGetErrorString(result, &text) != 0)
    text = nullptr;
  return std::string(call) + " failed with CUDA error " +
         std::to_string(result) + (text ? std::string(": ") + text : "");
}

std::string lowmem::rt::cuda::initDevice(int ordinal) {
  const DriverApi *api = nullptr;
  std::string problem = loadDriver(api);
  if (!problem.empty())
    return problem;
  if (CUresult r = api->cuInit(0))
    return describeError("cuInit", r) +
           " (is an NVIDIA GPU present and the driver loaded?)";
  int count = 0;
  if (CUresult r = api->cuDeviceGetCount(&count))
    return describeError("cuDeviceGetCount", r);
  if (count <= ordinal)
    return "no CUDA device " + std::to_string(ordinal) + " (" +
           std::to_string(count) + " found)";
  CUdevice device;
  if (CUresult r = api->cuDeviceGet(&device, ordinal))
    return describeError("cuDeviceGet", r);
  CUcontext context;
  if (CUresult r = api->cuDevicePrimaryCtxRetain(&context, device))
    return describeError("cuDevicePrimaryCtxRetain", r);
  if (CUresult r = api->cuCtxSetCurrent(context))
    return describeError("cuCtxSetCurrent", r);
  activeDevice = device;
  return "";
}

std::string lowmem::rt::cuda::deviceDescription() {
  const DriverApi *api = nullptr;
  if (!loadDriver(api).empty())
    return "no device";
  char name[256] = {0};
  int major = 0, minor = 0;
  api->cuDeviceGetName(name, sizeof(name) - 1, activeDevice);
  api->cuDeviceGetAttribute(&major, kAttrComputeCapabilityMajor, activeDevice);
  api->cuDeviceGetAttribute(&minor, kAttrComputeCapabilityMinor, activeDevice);
  return std::string(name) + " (sm_" + std::to_string(major) +
         std::to_string(minor) + ")";
}

void lowmem::rt::cuda::fatal(const std::string &message) {
  std::fprintf(stderr, "error: %s\n", message.c_str());
  std::exit(1);
}

const DriverApi &lowmem::rt::cuda::requireDevice() {
  static const DriverApi *table = [] {
    std::string problem = initDevice(0);
    if (!problem.empty())
      fatal(problem);
    const DriverApi *loaded = nullptr;
    (void)loadDriver(loaded);
    return loaded;
  }();
  return *table;
}

void lowmem::rt::cuda::checkResult(const char *call, CUresult result) {
  if (result != kSuccess)
    fatal(describeError(call, result));
}

CUdevice lowmem::rt::cuda::currentDevice() { return activeDevice; }

std::string lowmem::rt::cuda::checkPlacement(const DriverApi &d,
                                             CUdevice device,
                                             Placement placement) {
  auto attribute = [&](int which) {
    int value = 0;
    return d.cuDeviceGetAttribute(&value, which, device) == kSuccess &&
           value != 0;
  };
  switch (placement) {
  case Placement::Device:
    return "";
  case Placement::Paged:
    if (!d.cuMemAllocManaged || !d.cuMemFree || !d.cuMemPrefetchAsync)
      return "the CUDA driver lacks cuMemAllocManaged or "
             "cuMemPrefetchAsync_v2 (CUDA 12.2 and later have them)";
    if (!attribute(kAttrManagedMemory))
      return "this GPU cannot allocate unified (managed) memory";
    return "";
  case Placement::Host:
    if (!d.cuMemHostAlloc || !d.cuMemHostGetDevicePointer || !d.cuMemFreeHost)
      return "the CUDA driver lacks cuMemHostAlloc, "
             "cuMemHostGetDevicePointer or cuMemFreeHost";
    // Kernels reach the memory at its host address only with all three.
    if (!attribute(kAttrUnifiedAddressing) ||
        !attribute(kAttrCanMapHostMemory) ||
        !attribute(kAttrCanUseHostPointerForRegisteredMem))
      return "this GPU cannot reach page-locked host memory at its host "
             "address (unified addressing and mapped host memory are "
             "needed)";
    return "";
  }
  return "unknown placement";
}

std::string lowmem::rt::cuda::allocateAt(const DriverApi &d,
                                         Placement placement, size_t bytes,
                                         void *&out) {
  out = nullptr;
  bytes = bytes ? bytes : 1;
  CUdeviceptr p = 0;
  switch (placement) {
  case Placement::Device:
    if (CUresult r = d.cuMemAlloc(&p, bytes))
      return describeError("cuMemAlloc", r);
    break;
  case Placement::Paged:
    if (CUresult r = d.cuMemAllocManaged(&p, bytes, kMemAttachGlobal))
      return describeError("cuMemAllocManaged", r);
    break;
  case Placement::Host: {
    void *host = nullptr;
    if (CUresult r = d.cuMemHostAlloc(
            &host, bytes, kMemHostAllocPortable | kMemHostAllocDeviceMap))
      return describeError("cuMemHostAlloc", r);
    if (CUresult r = d.cuMemHostGetDevicePointer(&p, host, 0)) {
      (void)d.cuMemFreeHost(host);
      return describeError("cuMemHostGetDevicePointer", r);
    }
    // Kernels and the host use one address: the model's descriptors hold
    // one pointer for both.
    if (p != static_cast<CUdeviceptr>(reinterpret_cast<uintptr_t>(host))) {
      (void)d.cuMemFreeHost(host);
      return "mapped host memory has another address on the device";
    }
    break;
  }
  }
  out = reinterpret_cast<void *>(static_cast<uintptr_t>(p));
  return "";
}

std::string lowmem::rt::cuda::releaseAt(const DriverApi &d, Placement placement,
                                        void *p) {
  CUresult r = placement == Placement::Host
                   ? d.cuMemFreeHost(p)
                   : d.cuMemFree(static_cast<CUdeviceptr>(
                         reinterpret_cast<uintptr_t>(p)));
  return r == kSuccess
             ? ""
             : describeError(placement == Placement::Host ? "cuMemFreeHost"
                                                          : "cuMemFree",
                             r);
}

std::string lowmem::rt::cuda::prefetchTo(const DriverApi &d, CUdevice device,
                                         const void *p, size_t bytes,
                                         CUstream stream) {
  CUmemLocation location{kMemLocationTypeDevice, device};
  CUresult r = d.cuMemPrefetchAsync(
      static_cast<CUdeviceptr>(reinterpret_cast<uintptr_t>(p)), bytes, location,
      0, stream);
  return r == kSuccess ? "" : describeError("cuMemPrefetchAsync", r);
}
