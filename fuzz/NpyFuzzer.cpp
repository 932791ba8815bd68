//===- NpyFuzzer.cpp - libFuzzer target for the .npy reader ---------------===//
//
// Part of the lowmem project.
//
//===----------------------------------------------------------------------===//
///
/// \file
/// Feeds arbitrary bytes to parseNpy and, when they are accepted, reads every
/// data byte and re-encodes the array, checking that it parses back the same.
///
/// Build and run:
///   clang++-22 -std=c++17 -g -O1 -fsanitize=fuzzer,address,undefined
///     -Iinclude fuzz/NpyFuzzer.cpp lib/Runtime/*.cpp -o npyfuzz
///   ./npyfuzz fuzz/corpus/npy
///
//===----------------------------------------------------------------------===//

#include "lowmem/Runtime/Npy.h"

#include <cstdio>
#include <cstdlib>

using namespace lowmem::rt;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  NpyArray array;
  std::string err = parseNpy(data, size, "fuzz.npy", array);
  if (!err.empty())
    return 0;
  int64_t numel = array.numElements();
  if (numel < 0 || static_cast<uint64_t>(numel) * dtypeSize(array.dtype) !=
                       array.data.size())
    std::abort();
  volatile uint8_t sink = 0;
  for (uint8_t byte : array.data)
    sink = sink ^ byte;
  (void)sink;

  // What we write must read back identically.
  std::vector<uint8_t> encoded;
  if (!encodeNpy(array.dtype, array.shape, array.data.data(), encoded).empty())
    std::abort();
  NpyArray again;
  if (!parseNpy(encoded.data(), encoded.size(), "again.npy", again).empty() ||
      again.dtype != array.dtype || again.shape != array.shape ||
      again.data != array.data) {
    std::fprintf(stderr, "re-encoded array differs\n");
    std::abort();
  }
  return 0;
}
