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
// With LOWMEM_PROFILE_KERNELS set (to anything but 0), each launch is timed
// from the launch to the synchronization that follows it, and at exit a
// table of the kernels by total time goes to stderr: where a step's time
// goes, on a GPU, without a profiler. A number N of 2 or more also prints
// the table so far every N seconds, for a run that a time limit may stop.
// Kernels are named by their module's number in load order (the binary
// loads every module at start-up) and the function's name.
//
// A synchronization that fails names the kernel launched last, with its
// grid and block: as every launch is synchronized before the next, that is
// the kernel that faulted (an illegal address, a trap, a --check-bounds
// assertion).
//
//===----------------------------------------------------------------------===//

#include "lowmem/Runtime/CudaDriver.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iterator>
#include <map>
#include <mutex>
#include <string>
#include <vector>

using namespace lowmem::rt::cuda;

namespace {

/// A grid's or a block's sizes, "XxYxZ".
std::string sizes3(intptr_t x, intptr_t y, intptr_t z) {
  return std::to_string(x) + "x" + std::to_string(y) + "x" + std::to_string(z);
}

/// The kernels' names by function handle ("module N name", N the module's
/// number in load order) and the last launch. Built on first use and never
/// destroyed: kernels load from global constructors, before this file's own
/// dynamic initializers would have run, and the profile reads the names at
/// exit.
class Kernels {
public:
  static Kernels &get() {
    static Kernels *kernels = new Kernels;
    return *kernels;
  }

  void loaded(const void *module) {
    std::lock_guard<std::mutex> lock(mutex);
    modules.emplace(module, modules.size());
  }
  void named(const void *function, const void *module, const char *name) {
    std::lock_guard<std::mutex> lock(mutex);
    auto found = modules.find(module);
    names[function] = "module " +
                      (found == modules.end() ? std::string("?")
                                              : std::to_string(found->second)) +
                      " " + name;
  }
  std::string nameOf(const void *function) {
    std::lock_guard<std::mutex> lock(mutex);
    return nameOfLocked(function);
  }

  void launched(const void *function, const intptr_t (&sizes)[6]) {
    std::lock_guard<std::mutex> lock(mutex);
    last = function;
    std::copy(std::begin(sizes), std::end(sizes), lastSizes);
  }
  /// The last launch's grid and block, "GXxGYxGZ x BXxBYxBZ".
  std::string lastShape() {
    std::lock_guard<std::mutex> lock(mutex);
    return lastGrid() + " x " + lastBlock();
  }
  /// What a failing synchronization says of the kernel launched last.
  std::string lastLaunch() {
    std::lock_guard<std::mutex> lock(mutex);
    if (!last)
      return "";
    return ", in the kernel launched last: " + nameOfLocked(last) + ", grid " +
           lastGrid() + ", block " + lastBlock();
  }

private:
  std::string nameOfLocked(const void *function) const {
    auto found = names.find(function);
    return found == names.end() ? "?" : found->second;
  }
  std::string lastGrid() const {
    return sizes3(lastSizes[0], lastSizes[1], lastSizes[2]);
  }
  std::string lastBlock() const {
    return sizes3(lastSizes[3], lastSizes[4], lastSizes[5]);
  }

  std::mutex mutex;
  std::map<const void *, size_t> modules;
  std::map<const void *, std::string> names;
  const void *last = nullptr;
  intptr_t lastSizes[6] = {0, 0, 0, 0, 0, 0};
};

/// Launch times by kernel (LOWMEM_PROFILE_KERNELS), printed at exit. Built
/// on first use, as Kernels is.
class KernelProfile {
public:
  static KernelProfile *get() {
    static KernelProfile *profile = [] {
      const char *env = std::getenv("LOWMEM_PROFILE_KERNELS");
      if (!env || !*env || std::string(env) == "0")
        return static_cast<KernelProfile *>(nullptr);
      static KernelProfile instance;
      long every = std::strtol(env, nullptr, 10);
      instance.interval = every >= 2 ? every : 0;
      instance.lastPrint = std::chrono::steady_clock::now();
      return &instance;
    }();
    return profile;
  }

  void launched(const void *function) {
    std::lock_guard<std::mutex> lock(mutex);
    pending = function;
    start = std::chrono::steady_clock::now();
  }
  /// The stream is synchronized: the pending launch, if any, has ended.
  void synchronized() {
    std::lock_guard<std::mutex> lock(mutex);
    if (!pending)
      return;
    auto now = std::chrono::steady_clock::now();
    double ms = std::chrono::duration<double, std::milli>(now - start).count();
    Kernel &k = kernels[pending];
    k.calls += 1;
    k.totalMs += ms;
    k.maxMs = std::max(k.maxMs, ms);
    k.shape = Kernels::get().lastShape();
    pending = nullptr;
    if (interval && now - lastPrint >= std::chrono::seconds(interval)) {
      lastPrint = now;
      print("so far");
    }
  }

  ~KernelProfile() { print("at exit"); }

private:
  struct Kernel {
    std::string shape;
    long calls = 0;
    double totalMs = 0, maxMs = 0;
  };

  void print(const char *when) const {
    std::vector<std::pair<const void *, const Kernel *>> rows;
    double total = 0;
    long calls = 0;
    for (const auto &[function, k] : kernels)
      if (k.calls) {
        rows.emplace_back(function, &k);
        total += k.totalMs;
        calls += k.calls;
      }
    std::sort(rows.begin(), rows.end(), [](const auto &a, const auto &b) {
      return a.second->totalMs > b.second->totalMs;
    });
    std::fprintf(stderr,
                 "lowmem kernel profile %s: %ld launches of %zu kernels, %.3f "
                 "ms from launch to synchronization\n",
                 when, calls, rows.size(), total);
    std::fprintf(stderr, "  %12s %6s %7s %11s %11s  %s\n", "total ms", "%",
                 "calls", "mean ms", "max ms", "kernel (last grid x block)");
    size_t shown = std::min<size_t>(rows.size(), 30);
    for (size_t i = 0; i < shown; ++i) {
      const auto &[function, k] = rows[i];
      std::fprintf(stderr, "  %12.3f %6.1f %7ld %11.4f %11.4f  %s (%s)\n",
                   k->totalMs, total > 0 ? 100.0 * k->totalMs / total : 0.0,
                   k->calls, k->totalMs / k->calls, k->maxMs,
                   Kernels::get().nameOf(function).c_str(), k->shape.c_str());
    }
    if (rows.size() > shown)
      std::fprintf(stderr, "  (%zu more kernels)\n", rows.size() - shown);
  }

  std::mutex mutex;
  std::map<const void *, Kernel> kernels;
  const void *pending = nullptr;
  std::chrono::steady_clock::time_point start, lastPrint;
  long interval = 0;
};

} // namespace

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
  Kernels::get().loaded(module);
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
  Kernels::get().named(function, module, name);
  return function;
}

/// The one stream of all launches.
void *mgpuStreamCreate() { return launchStream(); }

void mgpuStreamSynchronize(void *stream) {
  CUresult r =
      requireDevice().cuStreamSynchronize(static_cast<CUstream>(stream));
  if (r != kSuccess)
    fatal(describeError("cuStreamSynchronize", r) +
          Kernels::get().lastLaunch());
  if (KernelProfile *profile = KernelProfile::get())
    profile->synchronized();
}

/// The shared stream lives as long as the process.
void mgpuStreamDestroy(void * /*stream*/) {}

void mgpuLaunchKernel(void *function, intptr_t gridX, intptr_t gridY,
                      intptr_t gridZ, intptr_t blockX, intptr_t blockY,
                      intptr_t blockZ, int32_t smem, void *stream,
                      void **params, void **extra, size_t /*paramsCount*/) {
  Kernels::get().launched(function,
                          {gridX, gridY, gridZ, blockX, blockY, blockZ});
  if (KernelProfile *profile = KernelProfile::get())
    profile->launched(function);
  CUresult r = requireDevice().cuLaunchKernel(
      static_cast<CUfunction>(function), gridX, gridY, gridZ, blockX, blockY,
      blockZ, smem, static_cast<CUstream>(stream), params, extra);
  if (r != kSuccess)
    fatal(describeError("cuLaunchKernel", r) + " for kernel " +
          Kernels::get().nameOf(function) + " (grid " +
          sizes3(gridX, gridY, gridZ) + ", block " +
          sizes3(blockX, blockY, blockZ) + ")");
}

} // extern "C"
