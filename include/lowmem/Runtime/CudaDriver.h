//===- CudaDriver.h - the CUDA driver API, loaded at run time ---*- C++ -*-===//
//
// Part of the lowmem project.
//
//===----------------------------------------------------------------------===//
//
// The CUDA driver (libcuda) is opened with dlopen the first time it is
// needed, so that everything builds, links and runs its CPU paths on
// machines without a GPU or a driver; a CUDA binary started there fails with
// a clear message instead of a loader error. Only the entry points lowmem
// uses are resolved, by name, into a table.
//
//===----------------------------------------------------------------------===//

#ifndef LOWMEM_RUNTIME_CUDADRIVER_H
#define LOWMEM_RUNTIME_CUDADRIVER_H

#include "lowmem/Runtime/Memory.h"

#include <cstddef>
#include <cstdint>
#include <string>

namespace lowmem::rt::cuda {

using CUresult = int;
using CUdevice = int;
using CUdeviceptr = unsigned long long;
using CUcontext = struct CUctx_st *;
using CUmodule = struct CUmod_st *;
using CUfunction = struct CUfunc_st *;
using CUstream = struct CUstream_st *;

constexpr CUresult kSuccess = 0;
constexpr int kJitErrorLogBuffer = 5;           // CU_JIT_ERROR_LOG_BUFFER
constexpr int kJitErrorLogBufferSize = 6;       // ..._SIZE_BYTES
constexpr int kJitOptimizationLevel = 7;        // CU_JIT_OPTIMIZATION_LEVEL
constexpr int kAttrComputeCapabilityMajor = 75; // CU_DEVICE_ATTRIBUTE_...
constexpr int kAttrComputeCapabilityMinor = 76;
constexpr int kAttrCanMapHostMemory = 19;        // ..._CAN_MAP_HOST_MEMORY
constexpr int kAttrUnifiedAddressing = 41;       // ..._UNIFIED_ADDRESSING
constexpr int kAttrManagedMemory = 83;           // ..._MANAGED_MEMORY
constexpr int kAttrConcurrentManagedAccess = 89; // ..._CONCURRENT_MANAGED_...
constexpr int kAttrCanUseHostPointerForRegisteredMem = 91; // ..._CAN_USE_HOST_
                                                           // POINTER_FOR_...
constexpr unsigned kMemAttachGlobal = 0x1;       // CU_MEM_ATTACH_GLOBAL
constexpr unsigned kMemHostAllocPortable = 0x1;  // CU_MEMHOSTALLOC_PORTABLE
constexpr unsigned kMemHostAllocDeviceMap = 0x2; // CU_MEMHOSTALLOC_DEVICEMAP
constexpr int kMemLocationTypeDevice = 1;        // CU_MEM_LOCATION_TYPE_DEVICE

/// CUmemLocation: where cuMemPrefetchAsync (its _v2 form) moves pages.
struct CUmemLocation {
  int type;
  int id;
};

/// The driver entry points lowmem uses. Those after cuMemsetD8 are optional
/// (null when the driver lacks them): only paged and host placements use
/// them.
struct DriverApi {
  CUresult (*cuInit)(unsigned);
  CUresult (*cuDriverGetVersion)(int *);
  CUresult (*cuGetErrorString)(CUresult, const char **);
  CUresult (*cuDeviceGetCount)(int *);
  CUresult (*cuDeviceGet)(CUdevice *, int);
  CUresult (*cuDeviceGetName)(char *, int, CUdevice);
  CUresult (*cuDeviceGetAttribute)(int *, int, CUdevice);
  CUresult (*cuDevicePrimaryCtxRetain)(CUcontext *, CUdevice);
  CUresult (*cuCtxSetCurrent)(CUcontext);
  CUresult (*cuModuleLoadDataEx)(CUmodule *, const void *, unsigned, int *,
                                 void **);
  CUresult (*cuModuleUnload)(CUmodule);
  CUresult (*cuModuleGetFunction)(CUfunction *, CUmodule, const char *);
  CUresult (*cuLaunchKernel)(CUfunction, unsigned, unsigned, unsigned, unsigned,
                             unsigned, unsigned, unsigned, CUstream, void **,
                             void **);
  CUresult (*cuStreamCreate)(CUstream *, unsigned);
  CUresult (*cuStreamSynchronize)(CUstream);
  CUresult (*cuStreamDestroy)(CUstream);
  CUresult (*cuMemAlloc)(CUdeviceptr *, size_t);
  CUresult (*cuMemFree)(CUdeviceptr);
  CUresult (*cuMemcpyHtoD)(CUdeviceptr, const void *, size_t);
  CUresult (*cuMemcpyDtoH)(void *, CUdeviceptr, size_t);
  CUresult (*cuMemGetInfo)(size_t *, size_t *);
  CUresult (*cuMemsetD8)(CUdeviceptr, unsigned char, size_t);
  CUresult (*cuMemAllocManaged)(CUdeviceptr *, size_t, unsigned);
  CUresult (*cuMemHostAlloc)(void **, size_t, unsigned);
  CUresult (*cuMemHostGetDevicePointer)(CUdeviceptr *, void *, unsigned);
  CUresult (*cuMemFreeHost)(void *);
  CUresult (*cuMemPrefetchAsync)(CUdeviceptr, size_t, CUmemLocation, unsigned,
                                 CUstream);
};

/// Opens `library` and resolves every entry point into `api`, uncached.
/// Returns "" or a message that names the library and what is missing.
std::string openDriver(const char *library, DriverApi &api);

/// Opens the driver library (LOWMEM_CUDA_DRIVER overrides the name
/// `libcuda.so.1`) and resolves every entry point. Returns "" or a message
/// that says what is missing. The table stays valid for the process.
std::string loadDriver(const DriverApi *&api);

/// Loads the driver, initializes it and makes the primary context of device
/// `ordinal` current. Returns "" or a message naming the failing step (no
/// driver, no device, ...).
std::string initDevice(int ordinal = 0);

/// `call: CUDA_ERROR_...: description` for a failed driver call.
std::string describeError(const char *call, CUresult result);

/// Description of the current device, e.g. "NVIDIA H100 (sm_90)".
std::string deviceDescription();

/// For code that cannot return errors (generated host code, the model's
/// main): prints "error: <message>" and exits with status 1.
[[noreturn]] void fatal(const std::string &message);

/// The driver, with device 0 made current on first use; exits through
/// fatal() with the reason when there is no driver or no device.
const DriverApi &requireDevice();

/// Exits through fatal() with describeError() unless `result` is success.
void checkResult(const char *call, CUresult result);

/// The device made current by initDevice().
CUdevice currentDevice();

/// The stream every kernel is launched on (created on first use).
CUstream launchStream();

/// Whether `device` can hold buffers at `placement`: "" or why not. Paged
/// buffers need managed memory and the prefetch entry point; host buffers
/// need unified addressing and mapped host memory at its host address.
std::string checkPlacement(const DriverApi &d, CUdevice device,
                           Placement placement);

/// Allocates `bytes` (at least 1) at `placement`: cuMemAlloc, cuMemAllocManaged
/// attached to every stream, or cuMemHostAlloc mapped into the device's
/// address space. `out` is an address kernels can use; "" or the failure.
std::string allocateAt(const DriverApi &d, Placement placement, size_t bytes,
                       void *&out);

/// Frees what allocateAt() returned for the same placement.
std::string releaseAt(const DriverApi &d, Placement placement, void *p);

/// Queues the migration of the unified memory [p, p + bytes) to `device` on
/// `stream`, ahead of the kernels launched after it there.
std::string prefetchTo(const DriverApi &d, CUdevice device, const void *p,
                       size_t bytes, CUstream stream);

} // namespace lowmem::rt::cuda

#endif // LOWMEM_RUNTIME_CUDADRIVER_H
