//===- CudaRuntime.cpp - the mgpu* entry points of MLIR's GPU lowering ----===//
//
// Part of the lowmem project.
//
//===----------------------------------------------------------------------===//
//
// Defines the functions that MLIR 22's `gpu-to-llvm` lowering calls from
// host code (checked against the declarations it emits), over the CUDA
// driver loaded with dlopen. Host code cannot handle errors, so a failing
// call prints what failed and exits: a missing GPU is reported before the
// first kernel, from the module loader that global constructors run.
//
// MLIR 22's translation of `gpu.launch_func` loads the kernel's module,
// creates a stream, launches, synchronizes, destroys the stream and unloads
// the module around every launch. Loading is a PTX JIT compilation, so
// modules are cached by image for the life of the process (unload is a
// no-op), and all launches share one stream.
//
//===----------------------------------------------------------------------===//

#include "lowmem/Runtime/CudaDriver.h"

#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>

using namespace lowmem::rt::cuda;

CUstream lowmem::rt::cuda::launchStream() {
  static CUstream stream = [] {
    CUstream created = nullptr;
    checkResult("cuStreamCreate",
                requireDevice().cuStreamCreate(&created, /*flags=*/0));
    return created;
  }();
  return stream;
}

extern "C" {

/// Loads a module from PTX text, JIT-compiled by the driver for the current
/// device; the JIT's log is reported when it fails (an unsupported
/// architecture, say).
void *mgpuModuleLoadJIT(void *data, int optLevel) {
  static std::mutex mutex;
  static std::map<const void *, CUmodule> cache;
  std::lock_guard<std::mutex> lock(mutex);
  auto cached = cache.find(data);
  if (cached != cache.end())
    return cached->second;
  const DriverApi &d = requireDevice();
  char log[8192] = {0};
  int keys[] = {kJitErrorLogBuffer, kJitErrorLogBufferSize,
                kJitOptimizationLevel};
  void *values[] = {log, reinterpret_cast<void *>(sizeof(log) - 1),
                    reinterpret_cast<void *>(static_cast<intptr_t>(optLevel))};
  CUmodule module = nullptr;
  CUresult r = d.cuModuleLoadDataEx(&module, data, 3, keys, values);
  if (r != kSuccess)
    fatal(describeError("cuModuleLoadDataEx", r) + " on " +
          deviceDescription() + (log[0] ? std::string(":\n") + log : ""));
  cache[data] = module;
  return module;
}

/// Loads a module from a cubin or fatbin image.
void *mgpuModuleLoad(void *data, size_t /*size*/) {
  return mgpuModuleLoadJIT(data, 3);
}

/// Cached modules stay loaded until the process exits.
void mgpuModuleUnload(void * /*module*/) {}

void *mgpuModuleGetFunction(void *module, const char *name) {
  CUfunction function = nullptr;
  CUresult r = requireDevice().cuModuleGetFunction(
      &function, static_cast<CUmodule>(module), name);
  if (r != kSuccess)
    fatal(describeError("cuModuleGetFunction", r) + " for kernel '" + name +
          "'");
  return function;
}

/// The one stream of all launches.
void *mgpuStreamCreate() { return launchStream(); }

void mgpuStreamSynchronize(void *stream) {
  checkResult("cuStreamSynchronize", requireDevice().cuStreamSynchronize(
                                         static_cast<CUstream>(stream)));
}

/// The shared stream lives as long as the process.
void mgpuStreamDestroy(void * /*stream*/) {}

void mgpuLaunchKernel(void *function, intptr_t gridX, intptr_t gridY,
                      intptr_t gridZ, intptr_t blockX, intptr_t blockY,
                      intptr_t blockZ, int32_t smem, void *stream,
                      void **params, void **extra, size_t /*paramsCount*/) {
  CUresult r = requireDevice().cuLaunchKernel(
      static_cast<CUfunction>(function), gridX, gridY, gridZ, blockX, blockY,
      blockZ, smem, static_cast<CUstream>(stream), params, extra);
  if (r != kSuccess)
    fatal(describeError("cuLaunchKernel", r) + " (grid " +
          std::to_string(gridX) + "x" + std::to_string(gridY) + "x" +
          std::to_string(gridZ) + ", block " + std::to_string(blockX) + "x" +
          std::to_string(blockY) + "x" + std::to_string(blockZ) + ")");
}

} // extern "C"
