//===- SafetensorsFuzzer.cpp - libFuzzer target for the safetensors reader ===//
//
// Part of the lowmem project.
//
//===----------------------------------------------------------------------===//
///
/// \file
/// Feeds arbitrary bytes to SafetensorsFile::fromBuffer and, when they are
/// accepted, reads every byte of every tensor so that ASan catches views that
/// point outside the buffer.
///
/// Build and run:
///   clang++-22 -std=c++17 -g -O1 -fsanitize=fuzzer,address,undefined
///     -Iinclude fuzz/SafetensorsFuzzer.cpp lib/Runtime/*.cpp -o stfuzz
///   ./stfuzz fuzz/corpus/safetensors
///
//===----------------------------------------------------------------------===//

#include "lowmem/Runtime/Safetensors.h"

#include <cstdio>
#include <cstdlib>

using namespace lowmem::rt;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  std::string err;
  std::unique_ptr<SafetensorsFile> file =
      SafetensorsFile::fromBuffer(data, size, "fuzz.safetensors", err);
  if (!file) {
    if (err.empty()) {
      std::fprintf(stderr, "rejected without a message\n");
      std::abort();
    }
    return 0;
  }
  if (!err.empty())
    std::abort();
  volatile uint8_t sink = 0;
  uint64_t total = 0;
  for (const TensorView &t : file->tensors()) {
    int64_t numel = t.numElements();
    if (numel < 0 ||
        static_cast<uint64_t>(numel) * dtypeSize(t.dtype) != t.nbytes)
      std::abort();
    for (size_t i = 0; i < t.nbytes; ++i)
      sink = sink ^ t.data[i];
    total += t.nbytes;
    if (file->find(t.name) != &t)
      std::abort();
  }
  if (8 + file->headerLength() + total != size)
    std::abort();
  for (const auto &kv : file->metadata())
    sink = sink ^ static_cast<uint8_t>(kv.first.size() + kv.second.size());
  (void)sink;
  return 0;
}
