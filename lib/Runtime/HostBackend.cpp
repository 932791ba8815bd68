//===- HostBackend.cpp - compiled models in host memory -------------------===//
//
// Part of the lowmem project.
//
//===----------------------------------------------------------------------===//

#include "lowmem/Runtime/Backend.h"

#include <cstring>

using namespace lowmem::rt;

// Allocation hooks of the generated code (finalize-memref-to-llvm with
// use-generic-functions): every heap buffer is accounted as workspace.
extern "C" void *_mlir_memref_to_llvm_alloc(size_t size) {
  return MemoryTracker::global().allocate(size, MemCategory::Workspace, 64);
}

extern "C" void *_mlir_memref_to_llvm_aligned_alloc(size_t alignment,
                                                    size_t size) {
  return MemoryTracker::global().allocate(size, MemCategory::Workspace,
                                          alignment < 64 ? 64 : alignment);
}

extern "C" void _mlir_memref_to_llvm_free(void *ptr) {
  if (ptr)
    MemoryTracker::global().release(ptr);
}

namespace {

class HostBackend : public Backend {
public:
  MemoryTracker &memory() override { return MemoryTracker::global(); }
  /// Host memory is the only memory: the state is there already.
  MemoryTracker *memory(Placement placement, std::string &why) override {
    if (placement != Placement::Paged)
      return &memory();
    why = "paged state is CUDA unified memory, for --target=cuda binaries; "
          "a CPU binary keeps all of its buffers in host memory already";
    return nullptr;
  }
  std::string describe(Placement) override { return "host memory"; }
  void upload(void *dst, const void *src, size_t bytes) override {
    std::memcpy(dst, src, bytes);
  }
  void download(void *dst, const void *src, size_t bytes) override {
    std::memcpy(dst, src, bytes);
  }
  void fill(void *dst, unsigned char value, size_t bytes) override {
    std::memset(dst, value, bytes);
  }
  std::string description() override { return "CPU"; }
};

} // namespace

Backend &lowmem::rt::modelBackend() {
  static HostBackend backend;
  return backend;
}
