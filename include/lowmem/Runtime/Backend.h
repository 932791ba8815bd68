//===- Backend.h - where a compiled model's buffers live --------*- C++ -*-===//
//
// Part of the lowmem project.
//
//===----------------------------------------------------------------------===//
//
// The main() of compiled models (ModelMain.cpp) is linked with one backend:
// host memory for the CPU target, device memory for the CUDA target. Model
// buffers (weights, input, arena) are allocated, filled and read back
// through it, and accounted by its tracker.
//
//===----------------------------------------------------------------------===//

#ifndef LOWMEM_RUNTIME_BACKEND_H
#define LOWMEM_RUNTIME_BACKEND_H

#include "lowmem/Runtime/Memory.h"

#include <cstddef>
#include <string>

namespace lowmem::rt {

class Backend {
public:
  virtual ~Backend() = default;
  /// The memory model buffers are allocated from and accounted in.
  virtual MemoryTracker &memory() = 0;
  /// Host to backend, backend to host, and a byte fill of backend memory.
  virtual void upload(void *dst, const void *src, size_t bytes) = 0;
  virtual void download(void *dst, const void *src, size_t bytes) = 0;
  virtual void fill(void *dst, unsigned char value, size_t bytes) = 0;
  /// Where the model runs, for the report ("CPU", or the GPU's name).
  virtual std::string description() = 0;
  /// Whether the first run is a warm-up that the timed run follows (the
  /// CUDA driver compiles the kernels' PTX on first use).
  virtual bool warmUp() const { return false; }
};

/// The backend this executable is linked with. Exits with a clear message
/// when it cannot be used (no driver, no GPU).
Backend &modelBackend();

} // namespace lowmem::rt

#endif // LOWMEM_RUNTIME_BACKEND_H
