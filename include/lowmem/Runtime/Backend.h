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
  /// The memory model buffers are allocated from and accounted in: the
  /// memory the kernels run next to, whose peak the report measures.
  virtual MemoryTracker &memory() = 0;
  /// The tracker of buffers placed at \p placement (memory() for Device),
  /// or nullptr with the reason in \p why when this backend cannot place
  /// buffers there.
  virtual MemoryTracker *memory(Placement placement, std::string &why) = 0;
  /// What \p placement means here, for the report ("host memory", ...).
  virtual std::string describe(Placement placement) = 0;
  /// Before a step: starts moving the paged buffer [p, p + bytes) to where
  /// the kernels run, ordered before them.
  virtual void prefetch(const void * /*p*/, size_t /*bytes*/) {}
  /// Host to backend, backend to host, and a byte fill of backend memory.
  virtual void upload(void *dst, const void *src, size_t bytes) = 0;
  virtual void download(void *dst, const void *src, size_t bytes) = 0;
  virtual void fill(void *dst, unsigned char value, size_t bytes) = 0;
  /// Why the last allocation that returned nullptr failed, if known.
  virtual std::string lastAllocationFailure() { return ""; }
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
