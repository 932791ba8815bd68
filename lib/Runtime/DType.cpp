//===- DType.cpp - Element types of runtime tensors -----------------------===//
//
// Part of the lowmem project.
//
//===----------------------------------------------------------------------===//

#include "lowmem/Runtime/DType.h"

namespace lowmem::rt {

namespace {
struct DTypeInfo {
  DType dtype;
  const char *name;
  size_t size;
};

constexpr DTypeInfo kDTypes[] = {
    {DType::Bool, "BOOL", 1}, {DType::U8, "U8", 1},   {DType::I8, "I8", 1},
    {DType::U16, "U16", 2},   {DType::I16, "I16", 2}, {DType::F16, "F16", 2},
    {DType::BF16, "BF16", 2}, {DType::U32, "U32", 4}, {DType::I32, "I32", 4},
    {DType::F32, "F32", 4},   {DType::U64, "U64", 8}, {DType::I64, "I64", 8},
    {DType::F64, "F64", 8},
};

const DTypeInfo &info(DType dtype) {
  for (const DTypeInfo &i : kDTypes)
    if (i.dtype == dtype)
      return i;
  // Unreachable for valid enumerators; fall back to the first entry rather
  // than reading out of bounds.
  return kDTypes[0];
}
} // namespace

std::optional<DType> parseSafetensorsDType(std::string_view name) {
  for (const DTypeInfo &i : kDTypes)
    if (name == i.name)
      return i.dtype;
  return std::nullopt;
}

const char *safetensorsDTypeName(DType dtype) { return info(dtype).name; }

size_t dtypeSize(DType dtype) { return info(dtype).size; }

const char *supportedSafetensorsDTypeNames() {
  return "BOOL, U8, I8, U16, I16, F16, BF16, U32, I32, F32, U64, I64, F64";
}

bool checkedNumElements(const std::vector<int64_t> &shape, uint64_t &numel) {
  uint64_t n = 1;
  for (int64_t d : shape) {
    if (d < 0)
      return false;
    if (d == 0)
      n = 0; // The product is 0 whatever the other dimensions are.
  }
  for (int64_t d : shape) {
    if (__builtin_mul_overflow(n, static_cast<uint64_t>(d), &n))
      return false;
  }
  if (n > static_cast<uint64_t>(INT64_MAX))
    return false;
  numel = n;
  return true;
}

} // namespace lowmem::rt
