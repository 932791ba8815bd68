//===- DType.h - Element types of runtime tensors ---------------*- C++ -*-===//
//
// Part of the lowmem project.
//
//===----------------------------------------------------------------------===//
///
/// \file
/// The element types the runtime understands, with their safetensors spelling
/// and byte size. Depends only on the C++ standard library.
///
//===----------------------------------------------------------------------===//

#ifndef LOWMEM_RUNTIME_DTYPE_H
#define LOWMEM_RUNTIME_DTYPE_H

#include <cstddef>
#include <optional>
#include <string_view>
#include <vector>

namespace lowmem::rt {

/// Element type of a tensor in a weight or data file.
enum class DType {
  Bool,
  U8,
  I8,
  U16,
  I16,
  F16,
  BF16,
  U32,
  I32,
  F32,
  U64,
  I64,
  F64
};

/// Parses a safetensors dtype name ("BOOL", "U8", ..., "F64"). Names are
/// case-sensitive; returns std::nullopt for anything else.
std::optional<DType> parseSafetensorsDType(std::string_view name);

/// Returns the safetensors spelling of \p dtype ("BOOL", "F32", ...).
const char *safetensorsDTypeName(DType dtype);

/// Returns the size in bytes of one element of \p dtype.
size_t dtypeSize(DType dtype);

/// Returns a comma-separated list of all safetensors dtype names, for error
/// messages.
const char *supportedSafetensorsDTypeNames();

/// Computes the element count of \p shape into \p numel; false when a
/// dimension is negative or the count overflows int64.
bool checkedNumElements(const std::vector<int64_t> &shape, uint64_t &numel);

} // namespace lowmem::rt

#endif // LOWMEM_RUNTIME_DTYPE_H
