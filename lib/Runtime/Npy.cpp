//===- Npy.cpp - NumPy .npy reader and writer -----------------------------===//
//
// Part of the lowmem project.
//
//===----------------------------------------------------------------------===//

#include "lowmem/Runtime/Npy.h"
#include "lowmem/Runtime/FileUtil.h"

#include <cstring>
#include <new>

namespace lowmem::rt {

namespace {

constexpr char kMagic[] = "\x93NUMPY";
constexpr size_t kMagicSize = 6;
constexpr size_t kArrayAlign = 64;
/// numpy pads the header so the first axis can grow in place up to this many
/// digits (numpy.lib.format.GROWTH_AXIS_MAX_DIGITS).
constexpr size_t kGrowthAxisMaxDigits = 21;

struct DescrInfo {
  DType dtype;
  const char *descr;
};

constexpr DescrInfo kDescrs[] = {
    {DType::Bool, "|b1"}, {DType::U8, "|u1"},  {DType::I8, "|i1"},
    {DType::U16, "<u2"},  {DType::I16, "<i2"}, {DType::F16, "<f2"},
    {DType::U32, "<u4"},  {DType::I32, "<i4"}, {DType::F32, "<f4"},
    {DType::U64, "<u8"},  {DType::I64, "<i8"}, {DType::F64, "<f8"},
};

/// Formats a shape as a Python tuple: "()", "(3,)", "(2, 4)".
std::string pyShape(const std::vector<int64_t> &shape) {
  std::string out = "(";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i)
      out += ", ";
    out += std::to_string(shape[i]);
  }
  if (shape.size() == 1)
    out += ',';
  out += ')';
  return out;
}

/// Quotes a header string for a message, escaping unprintable bytes.
std::string quote(const std::string &s) {
  static const char kHex[] = "0123456789abcdef";
  std::string out = "'";
  for (char ch : s) {
    auto c = static_cast<unsigned char>(ch);
    if (c < 0x20 || c >= 0x7F) {
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 0xF];
    } else {
      out += ch;
    }
  }
  return out + "'";
}

/// Maps a descr string to a DType, or returns an error message.
std::string parseDescr(const std::string &descr, DType &dtype) {
  if (descr.size() == 3) {
    char order = descr[0];
    std::string kind = descr.substr(1);
    if (kind == "b1" || kind == "u1" || kind == "i1") {
      if (order == '|' || order == '<' || order == '>' || order == '=') {
        dtype = kind == "b1"   ? DType::Bool
                : kind == "u1" ? DType::U8
                               : DType::I8;
        return "";
      }
    } else if (order == '<' || order == '=' || order == '>' || order == '|') {
      for (const DescrInfo &d : kDescrs) {
        if (kind != d.descr + 1)
          continue;
        if (order == '>')
          return "big-endian dtype " + quote(descr) +
                 " is not supported; save the array as little-endian "
                 "(e.g. arr.astype('<" +
                 kind + "'))";
        if (order == '|')
          return "dtype " + quote(descr) +
                 " has no byte order ('|' is only valid for 1-byte types)";
        dtype = d.dtype;
        return "";
      }
    }
  }
  return "unsupported dtype descr " + quote(descr) +
         " (supported: <f2, <f4, <f8, <i2, <i4, <i8, <u2, <u4, <u8, |i1, "
         "|u1, |b1)";
}

/// A parser for the Python literal dict of an .npy header.
class HeaderParser {
public:
  explicit HeaderParser(std::string_view text) : text(text) {}

  /// Parses the dict; returns "" or an error message.
  std::string parse(DType &dtype, bool &fortranOrder,
                    std::vector<int64_t> &shape) {
    bool haveDescr = false, haveOrder = false, haveShape = false;
    skipSpace();
    if (!consume('{'))
      return error("expected '{' at the start of the header dict");
    while (true) {
      skipSpace();
      if (consume('}'))
        break;
      std::string key;
      size_t keyOffset = pos;
      if (!parseString(key))
        return error("expected a quoted key or '}'");
      skipSpace();
      if (!consume(':'))
        return error("expected ':' after key " + quote(key));
      skipSpace();
      if (key == "descr") {
        if (haveDescr)
          return errorAt(keyOffset, "duplicate key 'descr'");
        haveDescr = true;
        if (peekIs('['))
          return "header: structured dtypes (descr is a list) are not "
                 "supported";
        std::string descr;
        if (!parseString(descr))
          return error("'descr' must be a string");
        std::string err = parseDescr(descr, dtype);
        if (!err.empty())
          return "header: " + err;
      } else if (key == "fortran_order") {
        if (haveOrder)
          return errorAt(keyOffset, "duplicate key 'fortran_order'");
        haveOrder = true;
        if (consumeWord("True"))
          fortranOrder = true;
        else if (consumeWord("False"))
          fortranOrder = false;
        else
          return error("'fortran_order' must be True or False");
      } else if (key == "shape") {
        if (haveShape)
          return errorAt(keyOffset, "duplicate key 'shape'");
        haveShape = true;
        std::string err = parseShape(shape);
        if (!err.empty())
          return err;
      } else {
        return errorAt(keyOffset,
                       "unexpected key " + quote(key) +
                           " (expected 'descr', 'fortran_order', 'shape')");
      }
      skipSpace();
      if (consume(','))
        continue;
      skipSpace();
      if (consume('}'))
        break;
      return error("expected ',' or '}' in the header dict");
    }
    skipSpace();
    if (pos != text.size())
      return error("unexpected characters after the header dict");
    if (!haveDescr)
      return "header: missing key 'descr'";
    if (!haveOrder)
      return "header: missing key 'fortran_order'";
    if (!haveShape)
      return "header: missing key 'shape'";
    return "";
  }

private:
  std::string_view text;
  size_t pos = 0;

  std::string error(const std::string &message) const {
    return errorAt(pos, message);
  }
  static std::string errorAt(size_t offset, const std::string &message) {
    return "header offset " + std::to_string(offset) + ": " + message;
  }

  bool atEnd() const { return pos >= text.size(); }
  bool peekIs(char c) const { return !atEnd() && text[pos] == c; }
  bool consume(char c) {
    if (!peekIs(c))
      return false;
    ++pos;
    return true;
  }
  bool consumeWord(std::string_view word) {
    if (text.substr(pos, word.size()) != word)
      return false;
    size_t after = pos + word.size();
    if (after < text.size()) {
      char c = text[after];
      if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
          (c >= '0' && c <= '9') || c == '_')
        return false;
    }
    pos = after;
    return true;
  }
  void skipSpace() {
    while (!atEnd() && (text[pos] == ' ' || text[pos] == '\t' ||
                        text[pos] == '\n' || text[pos] == '\r'))
      ++pos;
  }

  /// A Python string literal in single or double quotes, without escapes.
  bool parseString(std::string &out) {
    if (atEnd() || (text[pos] != '\'' && text[pos] != '"'))
      return false;
    char q = text[pos];
    size_t start = pos + 1;
    size_t end = start;
    while (end < text.size() && text[end] != q) {
      if (text[end] == '\\' || text[end] == '\n')
        return false;
      ++end;
    }
    if (end >= text.size())
      return false;
    out.assign(text.data() + start, end - start);
    pos = end + 1;
    return true;
  }

  /// A tuple of non-negative Python ints: "()", "(3,)", "(2, 4)", "(2, 4,)".
  std::string parseShape(std::vector<int64_t> &shape) {
    if (!consume('('))
      return error("'shape' must be a tuple of non-negative integers");
    shape.clear();
    bool trailingComma = false;
    while (true) {
      skipSpace();
      if (consume(')'))
        break;
      if (atEnd() || text[pos] < '0' || text[pos] > '9')
        return error("'shape' must be a tuple of non-negative integers");
      uint64_t value = 0;
      while (!atEnd() && text[pos] >= '0' && text[pos] <= '9') {
        if (__builtin_mul_overflow(value, 10u, &value) ||
            __builtin_add_overflow(
                value, static_cast<uint64_t>(text[pos] - '0'), &value) ||
            value > static_cast<uint64_t>(INT64_MAX))
          return error("'shape' dimension does not fit in 64 bits");
        ++pos;
      }
      consume('L'); // Python 2 long literal.
      shape.push_back(static_cast<int64_t>(value));
      skipSpace();
      if (consume(',')) {
        trailingComma = true;
        continue;
      }
      trailingComma = false;
      skipSpace();
      if (consume(')'))
        break;
      return error("expected ',' or ')' in 'shape'");
    }
    if (shape.size() == 1 && !trailingComma)
      return error("'shape' (" + std::to_string(shape[0]) +
                   ") is an integer, not a tuple; expected (" +
                   std::to_string(shape[0]) + ",)");
    return "";
  }
};

/// Parses the prefix and header of an .npy file. On success sets dtype,
/// shape and the offset of the data; returns "" or a reason (no file name).
std::string parseHeader(const uint8_t *data, size_t size, DType &dtype,
                        std::vector<int64_t> &shape, size_t &dataOffset) {
  if (size < kMagicSize || std::memcmp(data, kMagic, kMagicSize) != 0)
    return "not an .npy file (missing the \\x93NUMPY magic string)";
  if (size < 10)
    return "file is " + std::to_string(size) +
           " bytes, too short for the .npy version and header length";
  unsigned major = data[6], minor = data[7];
  size_t prefixSize;
  uint64_t headerLength;
  if (major == 1 && minor == 0) {
    prefixSize = 10;
    headerLength = data[8] | (uint64_t(data[9]) << 8);
  } else if ((major == 2 || major == 3) && minor == 0) {
    if (size < 12)
      return "file is " + std::to_string(size) +
             " bytes, too short for the .npy version and header length";
    prefixSize = 12;
    headerLength = data[8] | (uint64_t(data[9]) << 8) |
                   (uint64_t(data[10]) << 16) | (uint64_t(data[11]) << 24);
  } else {
    return "unsupported .npy format version " + std::to_string(major) + "." +
           std::to_string(minor) + " (supported: 1.0, 2.0, 3.0)";
  }
  if (headerLength > size - prefixSize)
    return "header length " + std::to_string(headerLength) +
           " exceeds the file's size " + std::to_string(size);
  std::string_view header(reinterpret_cast<const char *>(data + prefixSize),
                          static_cast<size_t>(headerLength));
  bool fortranOrder = false;
  std::vector<int64_t> parsedShape;
  DType parsedDType = DType::F32;
  std::string err =
      HeaderParser(header).parse(parsedDType, fortranOrder, parsedShape);
  if (!err.empty())
    return err;
  if (fortranOrder)
    return "fortran_order: True is not supported (the array is stored in "
           "Fortran/column-major order); save a C-ordered array, e.g. "
           "np.save(path, np.ascontiguousarray(arr))";
  uint64_t numel;
  uint64_t needed;
  if (!checkedNumElements(parsedShape, numel) ||
      __builtin_mul_overflow(
          numel, static_cast<uint64_t>(dtypeSize(parsedDType)), &needed))
    return "shape " + pyShape(parsedShape) + " is too large";
  size_t offset = prefixSize + static_cast<size_t>(headerLength);
  uint64_t available = size - offset;
  if (available != needed) {
    std::string msg = "data holds " + std::to_string(available) +
                      " bytes but " + npyDescr(parsedDType) + " " +
                      pyShape(parsedShape) + " needs " +
                      std::to_string(needed) + " (";
    if (available < needed)
      msg += std::to_string(needed - available) + " bytes missing)";
    else
      msg += std::to_string(available - needed) + " extra bytes)";
    return msg;
  }
  dtype = parsedDType;
  shape = std::move(parsedShape);
  dataOffset = offset;
  return "";
}

} // namespace

int64_t NpyArray::numElements() const {
  uint64_t n = 0;
  if (!checkedNumElements(shape, n))
    return -1;
  return static_cast<int64_t>(n);
}

const char *npyDescr(DType dtype) {
  for (const DescrInfo &d : kDescrs)
    if (d.dtype == dtype)
      return d.descr;
  return nullptr;
}

std::string parseNpy(const uint8_t *data, size_t size,
                     const std::string &displayName, NpyArray &out) {
  try {
    DType dtype;
    std::vector<int64_t> shape;
    size_t offset = 0;
    std::string err = parseHeader(data, size, dtype, shape, offset);
    if (!err.empty())
      return displayName + ": " + err;
    NpyArray result;
    result.dtype = dtype;
    result.shape = std::move(shape);
    result.data.assign(data + offset, data + size);
    out = std::move(result);
    return "";
  } catch (const std::bad_alloc &) {
    return displayName + ": out of memory";
  }
}

std::string readNpy(const std::string &path, NpyArray &out) {
  std::vector<unsigned char> bytes;
  std::string err = readFile(path, bytes);
  if (!err.empty())
    return err;
  try {
    DType dtype;
    std::vector<int64_t> shape;
    size_t offset = 0;
    err = parseHeader(bytes.data(), bytes.size(), dtype, shape, offset);
    if (!err.empty())
      return path + ": " + err;
    // Reuse the buffer: drop the header in place instead of copying the data.
    bytes.erase(bytes.begin(), bytes.begin() + static_cast<ptrdiff_t>(offset));
    out.dtype = dtype;
    out.shape = std::move(shape);
    out.data = std::move(bytes);
    return "";
  } catch (const std::bad_alloc &) {
    return path + ": out of memory";
  }
}

/// Builds the magic, version, header length and padded header dict of an
/// .npy file for \p dtype and \p shape, exactly as numpy.save does, and the
/// number of data bytes that follow.
static std::string buildPrefix(DType dtype, const std::vector<int64_t> &shape,
                               std::string &prefix, uint64_t &nbytes) {
  const char *descr = npyDescr(dtype);
  if (!descr)
    return std::string("dtype ") + safetensorsDTypeName(dtype) +
           " has no .npy equivalent";
  uint64_t numel;
  if (!checkedNumElements(shape, numel) ||
      __builtin_mul_overflow(numel, static_cast<uint64_t>(dtypeSize(dtype)),
                             &nbytes) ||
      nbytes > static_cast<uint64_t>(SIZE_MAX / 2))
    return "invalid or too large shape " + pyShape(shape);
  // Same text and padding as numpy.lib.format._write_array_header.
  std::string header = std::string("{'descr': '") + descr +
                       "', 'fortran_order': False, 'shape': " + pyShape(shape) +
                       ", }";
  if (!shape.empty()) {
    size_t digits = std::to_string(shape[0]).size();
    if (digits < kGrowthAxisMaxDigits)
      header.append(kGrowthAxisMaxDigits - digits, ' ');
  }
  size_t hlen = header.size() + 1; // With the final newline.
  unsigned major = 1;
  size_t prefixSize = kMagicSize + 2 + 2;
  size_t padlen = kArrayAlign - (prefixSize + hlen) % kArrayAlign;
  if (hlen + padlen > 0xFFFF) {
    major = 2;
    prefixSize = kMagicSize + 2 + 4;
    padlen = kArrayAlign - (prefixSize + hlen) % kArrayAlign;
    if (hlen + padlen > 0xFFFFFFFFu)
      return "shape " + pyShape(shape) + " makes the header too large";
  }
  uint64_t headerLength = hlen + padlen;
  header.append(padlen, ' ');
  header += '\n';

  prefix.assign(kMagic, kMagicSize);
  prefix += static_cast<char>(major);
  prefix += '\0';
  size_t lengthBytes = major == 1 ? 2 : 4;
  for (size_t i = 0; i < lengthBytes; ++i)
    prefix += static_cast<char>(static_cast<uint8_t>(headerLength >> (8 * i)));
  prefix += header;
  return "";
}

std::string encodeNpy(DType dtype, const std::vector<int64_t> &shape,
                      const void *data, std::vector<uint8_t> &out) {
  try {
    std::string prefix;
    uint64_t nbytes = 0;
    std::string err = buildPrefix(dtype, shape, prefix, nbytes);
    if (!err.empty())
      return err;
    if (nbytes > 0 && !data)
      return "data is null";
    std::vector<uint8_t> bytes;
    bytes.reserve(prefix.size() + static_cast<size_t>(nbytes));
    bytes.insert(bytes.end(), prefix.begin(), prefix.end());
    const auto *p = static_cast<const uint8_t *>(data);
    if (nbytes > 0)
      bytes.insert(bytes.end(), p, p + nbytes);
    out = std::move(bytes);
    return "";
  } catch (const std::bad_alloc &) {
    return "out of memory";
  }
}

std::string writeNpy(const std::string &path, DType dtype,
                     const std::vector<int64_t> &shape, const void *data) {
  try {
    std::string prefix;
    uint64_t nbytes = 0;
    std::string err = buildPrefix(dtype, shape, prefix, nbytes);
    if (!err.empty())
      return path + ": " + err;
    if (nbytes > 0 && !data)
      return path + ": data is null";
    return writeFileAtomic(path,
                           {FileChunk{prefix.data(), prefix.size()},
                            FileChunk{data, static_cast<size_t>(nbytes)}});
  } catch (const std::bad_alloc &) {
    return path + ": out of memory";
  }
}

} // namespace lowmem::rt
