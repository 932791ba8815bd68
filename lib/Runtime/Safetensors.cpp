//===- Safetensors.cpp - Validated safetensors reader and writer ----------===//
//
// Part of the lowmem project.
//
//===----------------------------------------------------------------------===//

#include "lowmem/Runtime/Safetensors.h"
#include "lowmem/Runtime/FileUtil.h"
#include "lowmem/Runtime/Json.h"

#include <algorithm>
#include <cerrno>
#include <fcntl.h>
#include <new>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <unordered_set>

namespace lowmem::rt {

namespace {

/// Quotes a tensor name or key for a message, escaping control characters.
std::string quote(std::string_view name) {
  static const char kHex[] = "0123456789abcdef";
  std::string out = "'";
  for (char ch : name) {
    auto c = static_cast<unsigned char>(ch);
    if (c < 0x20 || c == 0x7F) {
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 0xF];
    } else if (c == '\'' || c == '\\') {
      out += '\\';
      out += ch;
    } else {
      out += ch;
    }
  }
  out += '\'';
  return out;
}

std::string formatShape(const std::vector<int64_t> &shape) {
  std::string out = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i)
      out += ", ";
    out += std::to_string(shape[i]);
  }
  out += ']';
  return out;
}

std::string formatOffsets(uint64_t begin, uint64_t end) {
  return "[" + std::to_string(begin) + ", " + std::to_string(end) + "]";
}

/// Describes a JSON value briefly for a message: its text if short, else its
/// kind.
std::string describe(const JsonValue &v) {
  std::string text = v.serialize();
  if (text.size() <= 40)
    return text;
  return std::string("a long ") + v.kindName();
}

/// Names the kind of a JSON value with an article: "an array", "null".
std::string found(const JsonValue &v) {
  switch (v.kind()) {
  case JsonValue::Kind::Null:
    return "(found null)";
  case JsonValue::Kind::Array:
    return "(found an array)";
  case JsonValue::Kind::Object:
    return "(found an object)";
  default:
    return std::string("(found a ") + v.kindName() + ")";
  }
}

/// Reads a non-negative int64 from \p v; false if it is anything else.
bool getNonNegativeInt(const JsonValue &v, uint64_t &out) {
  std::optional<int64_t> i = v.getInt64();
  if (!i || *i < 0)
    return false;
  out = static_cast<uint64_t>(*i);
  return true;
}

/// A tensor entry while its place in the data buffer is being checked.
struct PendingTensor {
  std::string name;
  DType dtype;
  std::vector<int64_t> shape;
  uint64_t begin;
  uint64_t end;
};

} // namespace

int64_t TensorView::numElements() const {
  uint64_t n = 0;
  if (!checkedNumElements(shape, n))
    return -1;
  return static_cast<int64_t>(n);
}

SafetensorsFile::~SafetensorsFile() {
  if (mapping)
    ::munmap(mapping, mappingSize);
}

std::unique_ptr<SafetensorsFile>
SafetensorsFile::openIndex(const std::string &path, std::string &err) {
  std::vector<unsigned char> bytes;
  std::string problem = readFile(path, bytes);
  if (!problem.empty()) {
    err = problem;
    return nullptr;
  }
  JsonValue index;
  problem =
      parseJson(std::string_view(reinterpret_cast<const char *>(bytes.data()),
                                 bytes.size()),
                index);
  if (!problem.empty()) {
    err = path + ": not a JSON index of shards: " + problem;
    return nullptr;
  }
  const JsonValue *map = index.isObject() ? index.get("weight_map") : nullptr;
  if (!map || !map->isObject() || map->getObject().empty()) {
    err = path + ": an index of shards needs a non-empty \"weight_map\" "
                 "object (tensor name -> shard file)";
    return nullptr;
  }
  std::string dir;
  if (size_t slash = path.rfind('/'); slash != std::string::npos)
    dir = path.substr(0, slash + 1);
  std::unique_ptr<SafetensorsFile> file(new (std::nothrow) SafetensorsFile());
  if (!file) {
    err = path + ": out of memory";
    return nullptr;
  }
  file->filePath = path;
  // Shards in the order the index first names them; the tensors each
  // should hold.
  std::vector<std::string> shardNames;
  std::vector<std::vector<std::string>> expected;
  for (const auto &[tensor, shard] : map->getObject()) {
    if (!shard.isString() || shard.getString().empty() ||
        shard.getString().find('/') != std::string::npos) {
      err = path + ": tensor " + quote(tensor) +
            ": the shard must be a file name beside the index";
      return nullptr;
    }
    auto it =
        std::find(shardNames.begin(), shardNames.end(), shard.getString());
    size_t k = it - shardNames.begin();
    if (it == shardNames.end()) {
      shardNames.push_back(shard.getString());
      expected.emplace_back();
    }
    expected[k].push_back(tensor);
  }
  for (size_t k = 0; k < shardNames.size(); ++k) {
    std::string shardErr;
    std::unique_ptr<SafetensorsFile> shard =
        open(dir + shardNames[k], shardErr);
    if (!shard) {
      err = path + ": shard " + quote(shardNames[k]) + " (holding " +
            quote(expected[k].front()) + "): " + shardErr;
      return nullptr;
    }
    for (const std::string &tensor : expected[k])
      if (!shard->find(tensor)) {
        err = path + ": tensor " + quote(tensor) + " is not in shard " +
              quote(shardNames[k]) + ", where the index puts it";
        return nullptr;
      }
    if (shard->tensors().size() != expected[k].size())
      for (const TensorView &t : shard->tensors())
        if (std::find(expected[k].begin(), expected[k].end(), t.name) ==
            expected[k].end()) {
          err = path + ": shard " + quote(shardNames[k]) + " holds tensor " +
                quote(t.name) + ", which the index " +
                (map->get(t.name)
                     ? "puts in shard " + quote(map->get(t.name)->getString())
                     : std::string("does not list"));
          return nullptr;
        }
    file->size += shard->fileSize();
    file->tensorList.insert(file->tensorList.end(), shard->tensors().begin(),
                            shard->tensors().end());
    file->shardList.push_back(std::move(shard));
  }
  std::sort(
      file->tensorList.begin(), file->tensorList.end(),
      [](const TensorView &a, const TensorView &b) { return a.name < b.name; });
  if (const JsonValue *metadata = index.get("metadata");
      metadata && metadata->isObject())
    for (const auto &[key, value] : metadata->getObject())
      file->metadataList.push_back(
          {key, value.isString() ? value.getString() : value.serialize()});
  return file;
}

std::unique_ptr<SafetensorsFile> SafetensorsFile::open(const std::string &path,
                                                       std::string &err) {
  err.clear();
  if (path.size() >= 5 && path.compare(path.size() - 5, 5, ".json") == 0)
    return openIndex(path, err);
  int fd;
  do {
    fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) {
    err = path + ": cannot open: " + errnoText(errno);
    return nullptr;
  }
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    err = path + ": cannot stat: " + errnoText(errno);
    ::close(fd);
    return nullptr;
  }
  if (!S_ISREG(st.st_mode)) {
    err = path + ": not a regular file";
    ::close(fd);
    return nullptr;
  }
  if (st.st_size < 0 ||
      static_cast<uint64_t>(st.st_size) > static_cast<uint64_t>(SIZE_MAX)) {
    err = path + ": file too large to map";
    ::close(fd);
    return nullptr;
  }
  std::unique_ptr<SafetensorsFile> file(new (std::nothrow) SafetensorsFile());
  if (!file) {
    err = path + ": out of memory";
    ::close(fd);
    return nullptr;
  }
  file->filePath = path;
  file->size = static_cast<size_t>(st.st_size);
  if (file->size > 0) {
    void *p = ::mmap(nullptr, file->size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) {
      err = path + ": cannot mmap: " + errnoText(errno);
      ::close(fd);
      return nullptr;
    }
    file->mapping = p;
    file->mappingSize = file->size;
    file->base = static_cast<const uint8_t *>(p);
  }
  ::close(fd);
  std::string reason = file->parse();
  if (!reason.empty()) {
    err = path + ": " + reason;
    return nullptr;
  }
  return file;
}

std::unique_ptr<SafetensorsFile>
SafetensorsFile::fromBuffer(const uint8_t *data, size_t size,
                            const std::string &displayName, std::string &err) {
  err.clear();
  std::unique_ptr<SafetensorsFile> file(new (std::nothrow) SafetensorsFile());
  if (!file) {
    err = displayName + ": out of memory";
    return nullptr;
  }
  file->filePath = displayName;
  try {
    if (size > 0)
      file->ownedBuffer.assign(data, data + size);
  } catch (const std::bad_alloc &) {
    err = displayName + ": out of memory copying " + std::to_string(size) +
          " bytes";
    return nullptr;
  }
  file->base = file->ownedBuffer.data();
  file->size = size;
  std::string reason = file->parse();
  if (!reason.empty()) {
    err = displayName + ": " + reason;
    return nullptr;
  }
  return file;
}

std::string SafetensorsFile::parse() {
  try {
    if (size < 8)
      return "file is " + std::to_string(size) +
             " bytes, shorter than the 8-byte header length";
    uint64_t n = 0;
    for (int i = 7; i >= 0; --i)
      n = (n << 8) | base[i];
    if (n > kSafetensorsMaxHeaderLength)
      return "header length " + std::to_string(n) + " exceeds the limit of " +
             std::to_string(kSafetensorsMaxHeaderLength) + " bytes";
    if (n > size - 8)
      return "header length " + std::to_string(n) +
             " exceeds the file's size " + std::to_string(size);
    headerSize = static_cast<size_t>(n);
    std::string_view header(reinterpret_cast<const char *>(base + 8),
                            headerSize);

    JsonValue root;
    JsonParseOptions options;
    options.allowDuplicateKeys = true; // Reported below in safetensors terms.
    std::string jsonErr = parseJson(header, root, options);
    if (!jsonErr.empty())
      return "header is not valid JSON: " + jsonErr;
    if (!root.isObject())
      return "header is not a JSON object " + found(root);

    std::vector<PendingTensor> pending;
    std::unordered_set<std::string> names;
    for (const auto &member : root.getObject()) {
      const std::string &name = member.first;
      const JsonValue &entry = member.second;
      if (!names.insert(name).second) {
        if (name == "__metadata__")
          return "duplicate key '__metadata__' in the header";
        return "duplicate tensor name " + quote(name);
      }

      if (name == "__metadata__") {
        if (!entry.isObject())
          return "__metadata__ is not a JSON object " + found(entry);
        std::unordered_set<std::string> keys;
        for (const auto &kv : entry.getObject()) {
          if (!keys.insert(kv.first).second)
            return "__metadata__: duplicate key " + quote(kv.first);
          if (!kv.second.isString())
            return "__metadata__: value of key " + quote(kv.first) +
                   " is not a string " + found(kv.second);
          metadataList.emplace_back(kv.first, kv.second.getString());
        }
        continue;
      }

      std::string where = "tensor " + quote(name) + ": ";
      if (!entry.isObject())
        return where + "entry is not a JSON object " + found(entry);
      std::unordered_set<std::string> keys;
      for (const auto &kv : entry.getObject()) {
        if (!keys.insert(kv.first).second)
          return where + "duplicate key " + quote(kv.first);
        if (kv.first != "dtype" && kv.first != "shape" &&
            kv.first != "data_offsets")
          return where + "unexpected key " + quote(kv.first) +
                 " (allowed: dtype, shape, data_offsets)";
      }
      const JsonValue *dtypeValue = entry.get("dtype");
      const JsonValue *shapeValue = entry.get("shape");
      const JsonValue *offsetsValue = entry.get("data_offsets");
      if (!dtypeValue)
        return where + "missing key 'dtype'";
      if (!shapeValue)
        return where + "missing key 'shape'";
      if (!offsetsValue)
        return where + "missing key 'data_offsets'";

      if (!dtypeValue->isString())
        return where + "dtype is not a string " + found(*dtypeValue);
      std::optional<DType> dtype =
          parseSafetensorsDType(dtypeValue->getString());
      if (!dtype)
        return where + "unknown dtype " + quote(dtypeValue->getString()) +
               " (supported: " + supportedSafetensorsDTypeNames() + ")";

      if (!shapeValue->isArray())
        return where + "shape is not an array " + found(*shapeValue);
      std::vector<int64_t> shape;
      const JsonValue::Array &dims = shapeValue->getArray();
      for (size_t i = 0; i < dims.size(); ++i) {
        uint64_t d;
        if (!getNonNegativeInt(dims[i], d))
          return where + "shape[" + std::to_string(i) +
                 "] is not a non-negative integer: " + describe(dims[i]);
        shape.push_back(static_cast<int64_t>(d));
      }

      if (!offsetsValue->isArray())
        return where + "data_offsets is not an array " + found(*offsetsValue);
      const JsonValue::Array &offsets = offsetsValue->getArray();
      if (offsets.size() != 2)
        return where + "data_offsets has " + std::to_string(offsets.size()) +
               " elements, expected 2 ([begin, end])";
      uint64_t begin, end;
      if (!getNonNegativeInt(offsets[0], begin))
        return where + "data_offsets[0] is not a non-negative integer: " +
               describe(offsets[0]);
      if (!getNonNegativeInt(offsets[1], end))
        return where + "data_offsets[1] is not a non-negative integer: " +
               describe(offsets[1]);
      if (begin > end)
        return where + "data_offsets " + formatOffsets(begin, end) +
               " has begin > end";

      uint64_t numel;
      if (!checkedNumElements(shape, numel))
        return where + "shape " + formatShape(shape) +
               " has more elements than fit in 64 bits";
      uint64_t needed;
      if (__builtin_mul_overflow(
              numel, static_cast<uint64_t>(dtypeSize(*dtype)), &needed))
        return where + safetensorsDTypeName(*dtype) + " " + formatShape(shape) +
               " needs more bytes than fit in 64 bits";
      if (end - begin != needed)
        return where + "data_offsets " + formatOffsets(begin, end) + " hold " +
               std::to_string(end - begin) + " bytes but " +
               safetensorsDTypeName(*dtype) + " " + formatShape(shape) +
               " needs " + std::to_string(needed);

      pending.push_back({name, *dtype, std::move(shape), begin, end});
    }

    // The tensors must tile the data buffer exactly.
    std::sort(pending.begin(), pending.end(),
              [](const PendingTensor &a, const PendingTensor &b) {
                if (a.begin != b.begin)
                  return a.begin < b.begin;
                if (a.end != b.end)
                  return a.end < b.end;
                return a.name < b.name;
              });
    uint64_t expected = 0;
    const PendingTensor *previous = nullptr;
    for (const PendingTensor &t : pending) {
      if (t.begin != expected) {
        std::string where = "tensor " + quote(t.name) + ": data_offsets " +
                            formatOffsets(t.begin, t.end);
        if (!previous)
          return where + " leave a gap of " + std::to_string(t.begin) +
                 " bytes at the start of the data buffer (the first tensor "
                 "must begin at 0)";
        if (t.begin > expected)
          return where + " leave a gap of " +
                 std::to_string(t.begin - expected) + " bytes after tensor " +
                 quote(previous->name) + " " +
                 formatOffsets(previous->begin, previous->end);
        return where + " overlap tensor " + quote(previous->name) + " " +
               formatOffsets(previous->begin, previous->end);
      }
      expected = t.end;
      previous = &t;
    }

    uint64_t available = size - 8 - headerSize;
    if (expected > available)
      return "file is truncated: the tensors need " + std::to_string(expected) +
             " data bytes after the header but only " +
             std::to_string(available) + " are present (" +
             std::to_string(expected - available) + " bytes missing)";
    if (expected < available)
      return "file has " + std::to_string(available - expected) +
             " trailing bytes after the tensor data (expected 8 + " +
             std::to_string(headerSize) + " + " + std::to_string(expected) +
             " = " + std::to_string(8 + headerSize + expected) +
             " bytes, found " + std::to_string(size) + ")";

    const uint8_t *data = base + 8 + headerSize;
    tensorList.reserve(pending.size());
    for (PendingTensor &t : pending)
      tensorList.push_back(TensorView{std::move(t.name), t.dtype,
                                      std::move(t.shape),
                                      data + static_cast<size_t>(t.begin),
                                      static_cast<size_t>(t.end - t.begin)});
    std::sort(tensorList.begin(), tensorList.end(),
              [](const TensorView &a, const TensorView &b) {
                return a.name < b.name;
              });
    return "";
  } catch (const std::bad_alloc &) {
    tensorList.clear();
    metadataList.clear();
    return "out of memory while reading the header";
  }
}

const TensorView *SafetensorsFile::find(std::string_view name) const {
  auto it = std::lower_bound(
      tensorList.begin(), tensorList.end(), name,
      [](const TensorView &t, std::string_view n) { return t.name < n; });
  if (it == tensorList.end() || it->name != name)
    return nullptr;
  return &*it;
}

std::string writeSafetensors(
    const std::string &path, const std::vector<TensorToWrite> &tensors,
    const std::vector<std::pair<std::string, std::string>> &metadata) {
  try {
    JsonValue root = JsonValue::makeObject();
    if (!metadata.empty()) {
      JsonValue meta = JsonValue::makeObject();
      std::unordered_set<std::string> keys;
      for (const auto &kv : metadata) {
        if (!isValidUtf8(kv.first) || !isValidUtf8(kv.second))
          return path + ": __metadata__: key " + quote(kv.first) +
                 " or its value is not valid UTF-8";
        if (!keys.insert(kv.first).second)
          return path + ": __metadata__: duplicate key " + quote(kv.first);
        meta.getObject().emplace_back(kv.first,
                                      JsonValue::makeString(kv.second));
      }
      root.getObject().emplace_back("__metadata__", std::move(meta));
    }

    std::unordered_set<std::string> names;
    uint64_t offset = 0;
    for (const TensorToWrite &t : tensors) {
      std::string where = path + ": tensor " + quote(t.name) + ": ";
      if (t.name == "__metadata__")
        return where + "the name is reserved for metadata";
      if (!isValidUtf8(t.name))
        return where + "the name is not valid UTF-8";
      if (!names.insert(t.name).second)
        return path + ": duplicate tensor name " + quote(t.name);
      uint64_t numel, needed;
      for (int64_t d : t.shape)
        if (d < 0)
          return where + "shape " + formatShape(t.shape) +
                 " has a negative dimension";
      if (!checkedNumElements(t.shape, numel) ||
          __builtin_mul_overflow(
              numel, static_cast<uint64_t>(dtypeSize(t.dtype)), &needed))
        return where + "shape " + formatShape(t.shape) + " is too large";
      if (needed != t.nbytes)
        return where + "nbytes is " + std::to_string(t.nbytes) + " but " +
               safetensorsDTypeName(t.dtype) + " " + formatShape(t.shape) +
               " needs " + std::to_string(needed);
      if (t.nbytes > 0 && !t.data)
        return where + "data is null";
      uint64_t end;
      if (__builtin_add_overflow(offset, needed, &end) ||
          end > static_cast<uint64_t>(INT64_MAX))
        return path + ": total tensor data exceeds 2^63 bytes";

      JsonValue entry = JsonValue::makeObject();
      entry.set("dtype", JsonValue::makeString(safetensorsDTypeName(t.dtype)));
      JsonValue shape = JsonValue::makeArray();
      for (int64_t d : t.shape)
        shape.push(JsonValue::makeInteger(d));
      entry.set("shape", std::move(shape));
      JsonValue offsets = JsonValue::makeArray();
      offsets.push(JsonValue::makeInteger(static_cast<int64_t>(offset)));
      offsets.push(JsonValue::makeInteger(static_cast<int64_t>(end)));
      entry.set("data_offsets", std::move(offsets));
      root.getObject().emplace_back(t.name, std::move(entry));
      offset = end;
    }

    std::string header = root.serialize();
    header.append((8 - header.size() % 8) % 8, ' ');
    if (header.size() > kSafetensorsMaxHeaderLength)
      return path + ": header would be " + std::to_string(header.size()) +
             " bytes, over the limit of " +
             std::to_string(kSafetensorsMaxHeaderLength);

    uint8_t prefix[8];
    uint64_t n = header.size();
    for (int i = 0; i < 8; ++i)
      prefix[i] = static_cast<uint8_t>(n >> (8 * i));
    std::vector<FileChunk> chunks;
    chunks.reserve(tensors.size() + 2);
    chunks.push_back({prefix, sizeof(prefix)});
    chunks.push_back({header.data(), header.size()});
    for (const TensorToWrite &t : tensors)
      if (t.nbytes > 0)
        chunks.push_back({t.data, t.nbytes});
    return writeFileAtomic(path, chunks);
  } catch (const std::bad_alloc &) {
    return path + ": out of memory while building the header";
  }
}

} // namespace lowmem::rt
