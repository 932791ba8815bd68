//===- Safetensors.h - Validated safetensors reader and writer --*- C++ -*-===//
//
// Part of the lowmem project.
//
//===----------------------------------------------------------------------===//
///
/// \file
/// Reads safetensors files through a read-only mmap after checking every rule
/// of the format (DESIGN.md §4), and writes them atomically.
///
/// Layout: an 8-byte little-endian header length N (at most 100000000), N
/// bytes of JSON `{name: {"dtype", "shape", "data_offsets": [begin, end]},
/// "__metadata__": {string: string}}`, then the data buffer. Offsets are
/// relative to the data buffer, tensors tile it with no gaps or overlaps, and
/// the file is exactly 8 + N + (last end) bytes long.
///
/// Tensor data is NOT aligned in general (it starts at 8 + N + begin in the
/// file): consumers must copy elements out with memcpy (TensorView::load) or
/// copy whole tensors, never dereference a cast pointer.
///
/// The mapping is MAP_PRIVATE and read-only; if another process truncates the
/// file while it is open, touching the lost pages raises SIGBUS, as with any
/// mmap-based reader.
///
//===----------------------------------------------------------------------===//

#ifndef LOWMEM_RUNTIME_SAFETENSORS_H
#define LOWMEM_RUNTIME_SAFETENSORS_H

#include "lowmem/Runtime/DType.h"

#include <cassert>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace lowmem::rt {

/// The largest header length the reader accepts.
constexpr uint64_t kSafetensorsMaxHeaderLength = 100000000;

/// One tensor of an open SafetensorsFile. `data` points into the file's
/// mapping (valid while the file is open) and may be unaligned.
struct TensorView {
  std::string name;
  DType dtype;
  std::vector<int64_t> shape;
  const uint8_t *data;
  size_t nbytes;

  /// Product of the dimensions (1 for a scalar); validated not to overflow.
  int64_t numElements() const;

  /// Returns element \p i reinterpreted as T, read with memcpy so that
  /// unaligned data is safe. Requires (i + 1) * sizeof(T) <= nbytes.
  template <class T> T load(size_t i) const {
    assert(i < nbytes / sizeof(T) && "TensorView::load out of range");
    T value;
    std::memcpy(&value, data + i * sizeof(T), sizeof(T));
    return value;
  }
};

/// A validated, memory-mapped safetensors file.
class SafetensorsFile {
public:
  /// mmaps \p path read-only and validates it; returns nullptr and sets
  /// \p err to "<path>: <reason>" on failure. A path ending in `.json` is a
  /// Hugging Face index of shards (`{"weight_map": {tensor: shard file}}`,
  /// shards beside it): every shard is opened and checked against the
  /// index (each tensor where the index says, no tensor twice or unlisted),
  /// and the tensors of all of them are served as one file's.
  static std::unique_ptr<SafetensorsFile> open(const std::string &path,
                                               std::string &err);

  /// Validates a copy of an in-memory buffer (tests, fuzzing); \p displayName
  /// is used in messages and returned by path().
  static std::unique_ptr<SafetensorsFile>
  fromBuffer(const uint8_t *data, size_t size, const std::string &displayName,
             std::string &err);

  /// Returns the tensor named \p name, or nullptr if absent.
  const TensorView *find(std::string_view name) const;
  /// All tensors, sorted by name.
  const std::vector<TensorView> &tensors() const { return tensorList; }
  /// The `__metadata__` entries in file order (empty if absent).
  const std::vector<std::pair<std::string, std::string>> &metadata() const {
    return metadataList;
  }
  /// The path (or display name) the file was opened with.
  const std::string &path() const { return filePath; }
  /// Total size of the file in bytes (of every shard, for an index).
  size_t fileSize() const { return size; }
  /// The shards an index was opened with (empty for a single file).
  const std::vector<std::unique_ptr<SafetensorsFile>> &shards() const {
    return shardList;
  }
  /// Size of the JSON header (N).
  size_t headerLength() const { return headerSize; }

  ~SafetensorsFile();
  SafetensorsFile(const SafetensorsFile &) = delete;
  SafetensorsFile &operator=(const SafetensorsFile &) = delete;

private:
  SafetensorsFile() = default;
  /// Validates [base, base+size) and fills the tensor and metadata lists.
  std::string parse();
  /// open() of an index of shards.
  static std::unique_ptr<SafetensorsFile> openIndex(const std::string &path,
                                                    std::string &err);

  std::string filePath;
  const uint8_t *base = nullptr;
  size_t size = 0;
  size_t headerSize = 0;
  void *mapping = nullptr;
  size_t mappingSize = 0;
  std::vector<uint8_t> ownedBuffer;
  std::vector<TensorView> tensorList;
  std::vector<std::pair<std::string, std::string>> metadataList;
  std::vector<std::unique_ptr<SafetensorsFile>> shardList;
};

/// A tensor to store with writeSafetensors.
struct TensorToWrite {
  std::string name;
  DType dtype;
  std::vector<int64_t> shape;
  const void *data;
  size_t nbytes;
};

/// Writes \p tensors and \p metadata to \p path atomically. Tensors are laid
/// out in the given order; the header is padded with spaces to a multiple of
/// 8 bytes; `__metadata__` comes first and is omitted when \p metadata is
/// empty. Returns "" or "<path>: <reason>" (bad names, duplicate names,
/// nbytes not matching the shape, I/O errors).
std::string writeSafetensors(
    const std::string &path, const std::vector<TensorToWrite> &tensors,
    const std::vector<std::pair<std::string, std::string>> &metadata);

} // namespace lowmem::rt

#endif // LOWMEM_RUNTIME_SAFETENSORS_H
