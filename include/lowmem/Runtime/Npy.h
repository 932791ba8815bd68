//===- Npy.h - NumPy .npy reader and writer ---------------------*- C++ -*-===//
//
// Part of the lowmem project.
//
//===----------------------------------------------------------------------===//
///
/// \file
/// Reads and writes NumPy `.npy` files (format versions 1.0, 2.0 and 3.0 on
/// read, 1.0 on write, or 2.0 when the header does not fit in 1.0) for the
/// little-endian, C-ordered numeric arrays compiled models take and produce.
///
/// Supported descr strings: '<f2', '<f4', '<f8', '<i2', '<i4', '<i8', '<u2',
/// '<u4', '<u8' ('=' is accepted as little-endian), and for 1-byte types
/// 'i1', 'u1', 'b1' with any of '|', '<', '>', '='. Big-endian data,
/// Fortran-ordered arrays, structured dtypes and other kinds are rejected
/// with a message saying so.
///
//===----------------------------------------------------------------------===//

#ifndef LOWMEM_RUNTIME_NPY_H
#define LOWMEM_RUNTIME_NPY_H

#include "lowmem/Runtime/DType.h"

#include <cstdint>
#include <string>
#include <vector>

namespace lowmem::rt {

/// A dense, C-ordered, little-endian array.
struct NpyArray {
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  std::vector<uint8_t> data;

  /// Product of the dimensions (1 for a 0-d array).
  int64_t numElements() const;
};

/// Reads the .npy file \p path into \p out. Returns "" or "<path>: <reason>";
/// \p out is unchanged on failure.
std::string readNpy(const std::string &path, NpyArray &out);

/// Parses the .npy bytes [data, data+size); \p displayName is used in
/// messages. Returns "" or "<displayName>: <reason>"; \p out is unchanged on
/// failure.
std::string parseNpy(const uint8_t *data, size_t size,
                     const std::string &displayName, NpyArray &out);

/// Returns the .npy descr for \p dtype ('<f4', '|u1', ...), or nullptr if it
/// has none (BF16).
const char *npyDescr(DType dtype);

/// Encodes an array as .npy bytes exactly as numpy.save does (format 1.0,
/// header padded with spaces and a newline so the data starts at a multiple
/// of 64). \p data holds numElements(shape) * dtypeSize(dtype) bytes.
/// Returns "" or an error (BF16, negative or overflowing shape).
std::string encodeNpy(DType dtype, const std::vector<int64_t> &shape,
                      const void *data, std::vector<uint8_t> &out);

/// Writes an array to \p path atomically in the format of encodeNpy. Returns
/// "" or "<path>: <reason>".
std::string writeNpy(const std::string &path, DType dtype,
                     const std::vector<int64_t> &shape, const void *data);

} // namespace lowmem::rt

#endif // LOWMEM_RUNTIME_NPY_H
