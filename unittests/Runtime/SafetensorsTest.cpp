//===- SafetensorsTest.cpp - Tests for the safetensors reader/writer ------===//
//
// Part of the lowmem project.
//
//===----------------------------------------------------------------------===//

#include "lowmem/Runtime/Safetensors.h"
#include "lowmem/Runtime/FileUtil.h"

#include "gtest/gtest.h"

#include <cstdlib>
#include <cstring>
#include <dirent.h>
#include <unistd.h>

using namespace lowmem::rt;

namespace {

const char *const kName = "w.safetensors";

/// Builds a file from a raw header length, header bytes and data bytes.
std::string rawFile(uint64_t headerLength, const std::string &header,
                    const std::string &data = "") {
  std::string out;
  for (int i = 0; i < 8; ++i)
    out += static_cast<char>((headerLength >> (8 * i)) & 0xFF);
  return out + header + data;
}

/// Builds a well-formed prefix for \p header followed by \p data.
std::string file(const std::string &header, const std::string &data = "") {
  return rawFile(header.size(), header, data);
}

/// Returns the error of loading \p bytes, or "" (and fails) if it loads.
std::string loadError(const std::string &bytes) {
  std::string err;
  auto f = SafetensorsFile::fromBuffer(
      reinterpret_cast<const uint8_t *>(bytes.data()), bytes.size(), kName,
      err);
  EXPECT_EQ(f, nullptr) << "unexpectedly loaded";
  EXPECT_NE(err, "");
  return err;
}

std::unique_ptr<SafetensorsFile> load(const std::string &bytes) {
  std::string err;
  auto f = SafetensorsFile::fromBuffer(
      reinterpret_cast<const uint8_t *>(bytes.data()), bytes.size(), kName,
      err);
  EXPECT_EQ(err, "");
  EXPECT_NE(f, nullptr);
  return f;
}

/// The error for a header holding one tensor entry `"t": ENTRY` and
/// \p dataSize zero bytes of data.
std::string entryError(const std::string &entry, size_t dataSize = 0) {
  return loadError(file("{\"t\":" + entry + "}", std::string(dataSize, '\0')));
}

std::string prefixed(const std::string &message) {
  return std::string(kName) + ": " + message;
}

//===----------------------------------------------------------------------===//
// Valid files
//===----------------------------------------------------------------------===//

TEST(SafetensorsTest, LoadsHandBuiltFile) {
  std::string data;
  float a[4] = {1, 2, 3, 4};
  data.append(reinterpret_cast<const char *>(a), sizeof(a));
  int64_t b = -7;
  data.append(reinterpret_cast<const char *>(&b), sizeof(b));
  std::string header =
      "{\"__metadata__\":{\"format\":\"pt\"},"
      "\"model.0.weight\":{\"dtype\":\"F32\",\"shape\":[2,2],"
      "\"data_offsets\":[0,16]},"
      "\"a.step\":{\"shape\":[],\"data_offsets\":[16,24],\"dtype\":\"I64\"}}";
  auto f = load(file(header, data));
  ASSERT_TRUE(f);
  EXPECT_EQ(f->path(), kName);
  EXPECT_EQ(f->headerLength(), header.size());
  ASSERT_EQ(f->tensors().size(), 2u);
  // Sorted by name.
  EXPECT_EQ(f->tensors()[0].name, "a.step");
  EXPECT_EQ(f->tensors()[1].name, "model.0.weight");
  const TensorView *w = f->find("model.0.weight");
  ASSERT_NE(w, nullptr);
  EXPECT_EQ(w->dtype, DType::F32);
  EXPECT_EQ(w->shape, (std::vector<int64_t>{2, 2}));
  EXPECT_EQ(w->numElements(), 4);
  EXPECT_EQ(w->nbytes, 16u);
  EXPECT_EQ(w->load<float>(3), 4.0f);
  const TensorView *s = f->find("a.step");
  ASSERT_NE(s, nullptr);
  EXPECT_TRUE(s->shape.empty());
  EXPECT_EQ(s->numElements(), 1);
  EXPECT_EQ(s->load<int64_t>(0), -7);
  EXPECT_EQ(f->find("missing"), nullptr);
  EXPECT_EQ(f->find("__metadata__"), nullptr);
  ASSERT_EQ(f->metadata().size(), 1u);
  EXPECT_EQ(f->metadata()[0].first, "format");
  EXPECT_EQ(f->metadata()[0].second, "pt");
}

TEST(SafetensorsTest, EmptyHeaderObject) {
  auto f = load(file("{}"));
  ASSERT_TRUE(f);
  EXPECT_TRUE(f->tensors().empty());
  EXPECT_TRUE(f->metadata().empty());
  f = load(file("{\"__metadata__\":{}}    "));
  ASSERT_TRUE(f);
  EXPECT_TRUE(f->tensors().empty());
}

TEST(SafetensorsTest, ZeroSizeTensors) {
  // Zero-size tensors may sit anywhere a tensor boundary is, including the
  // end of the buffer, and share offsets with each other.
  std::string header = "{\"e0\":{\"dtype\":\"F32\",\"shape\":[0],"
                       "\"data_offsets\":[0,0]},"
                       "\"x\":{\"dtype\":\"U8\",\"shape\":[2],"
                       "\"data_offsets\":[0,2]},"
                       "\"e1\":{\"dtype\":\"F64\",\"shape\":[3,0,5],"
                       "\"data_offsets\":[2,2]},"
                       "\"e2\":{\"dtype\":\"BF16\",\"shape\":[0],"
                       "\"data_offsets\":[2,2]}}";
  auto f = load(file(header, "ab"));
  ASSERT_TRUE(f);
  ASSERT_EQ(f->tensors().size(), 4u);
  EXPECT_EQ(f->find("e1")->nbytes, 0u);
  EXPECT_EQ(f->find("e1")->numElements(), 0);
  EXPECT_EQ(f->find("x")->load<uint8_t>(1), 'b');
}

TEST(SafetensorsTest, HeaderWhitespaceAccepted) {
  auto f = load(file(" \n{\"t\":{\"dtype\":\"U8\",\"shape\":[1],"
                     "\"data_offsets\":[0,1]}}   \t  ",
                     "z"));
  ASSERT_TRUE(f);
  EXPECT_EQ(f->find("t")->load<char>(0), 'z');
}

TEST(SafetensorsTest, UnalignedData) {
  // Header of odd length: the F64 data starts at an odd address.
  std::string header = "{\"b\":{\"dtype\":\"U8\",\"shape\":[1],"
                       "\"data_offsets\":[0,1]},"
                       "\"d\":{\"dtype\":\"F64\",\"shape\":[2],"
                       "\"data_offsets\":[1,17]}}";
  double values[2] = {3.25, -1.5};
  std::string data = "x";
  data.append(reinterpret_cast<const char *>(values), sizeof(values));
  auto f = load(file(header, data));
  ASSERT_TRUE(f);
  const TensorView *d = f->find("d");
  EXPECT_EQ(d->load<double>(0), 3.25);
  EXPECT_EQ(d->load<double>(1), -1.5);
}

TEST(SafetensorsTest, AllDTypes) {
  const char *names[] = {"BOOL", "U8",  "I8",  "U16", "I16", "F16", "BF16",
                         "U32",  "I32", "F32", "U64", "I64", "F64"};
  size_t sizes[] = {1, 1, 1, 2, 2, 2, 2, 4, 4, 4, 8, 8, 8};
  for (size_t i = 0; i < 13; ++i) {
    std::optional<DType> d = parseSafetensorsDType(names[i]);
    ASSERT_TRUE(d.has_value()) << names[i];
    EXPECT_STREQ(safetensorsDTypeName(*d), names[i]);
    EXPECT_EQ(dtypeSize(*d), sizes[i]);
    std::string header = std::string("{\"t\":{\"dtype\":\"") + names[i] +
                         "\",\"shape\":[3],\"data_offsets\":[0," +
                         std::to_string(3 * sizes[i]) + "]}}";
    auto f = load(file(header, std::string(3 * sizes[i], '\x01')));
    ASSERT_TRUE(f);
    EXPECT_EQ(f->find("t")->dtype, *d);
  }
  EXPECT_FALSE(parseSafetensorsDType("f32").has_value());
  EXPECT_FALSE(parseSafetensorsDType("").has_value());
}

//===----------------------------------------------------------------------===//
// Length prefix and header
//===----------------------------------------------------------------------===//

TEST(SafetensorsTest, FileShorterThan8Bytes) {
  EXPECT_EQ(loadError(""),
            prefixed("file is 0 bytes, shorter than the 8-byte header length"));
  EXPECT_EQ(loadError(std::string(7, '\0')),
            prefixed("file is 7 bytes, shorter than the 8-byte header length"));
}

TEST(SafetensorsTest, HeaderLengthOverLimit) {
  EXPECT_EQ(loadError(rawFile(100000001, "{}")),
            prefixed("header length 100000001 exceeds the limit of 100000000 "
                     "bytes"));
  EXPECT_EQ(loadError(rawFile(~uint64_t(0), "{}")),
            prefixed("header length 18446744073709551615 exceeds the limit of "
                     "100000000 bytes"));
}

TEST(SafetensorsTest, HeaderLengthExceedsFile) {
  EXPECT_EQ(loadError(rawFile(20, "{}     ")),
            prefixed("header length 20 exceeds the file's size 15"));
  EXPECT_EQ(loadError(rawFile(1, "")),
            prefixed("header length 1 exceeds the file's size 8"));
  EXPECT_EQ(loadError(rawFile(100000000, "{}")),
            prefixed("header length 100000000 exceeds the file's size 10"));
}

TEST(SafetensorsTest, HeaderNotJson) {
  EXPECT_EQ(loadError(file("{\"a\":")),
            prefixed("header is not valid JSON: offset 5: unexpected end of "
                     "input, expected a value"));
  EXPECT_EQ(loadError(rawFile(0, "")),
            prefixed("header is not valid JSON: offset 0: unexpected end of "
                     "input, expected a value"));
  EXPECT_EQ(loadError(file(std::string("{}\0\0", 4))),
            prefixed("header is not valid JSON: offset 2: unexpected trailing "
                     "characters after the JSON value"));
  EXPECT_EQ(loadError(file("{\"\xFF\":1}")),
            prefixed("header is not valid JSON: offset 2: invalid UTF-8 in "
                     "string"));
}

TEST(SafetensorsTest, HeaderNotObject) {
  EXPECT_EQ(loadError(file("[]")),
            prefixed("header is not a JSON object (found an array)"));
  EXPECT_EQ(loadError(file("\"x\"")),
            prefixed("header is not a JSON object (found a string)"));
  EXPECT_EQ(loadError(file("null")),
            prefixed("header is not a JSON object (found null)"));
}

//===----------------------------------------------------------------------===//
// Tensor entries
//===----------------------------------------------------------------------===//

TEST(SafetensorsTest, EntryNotObject) {
  EXPECT_EQ(entryError("[1]"),
            prefixed("tensor 't': entry is not a JSON object (found an "
                     "array)"));
  EXPECT_EQ(entryError("7"),
            prefixed("tensor 't': entry is not a JSON object (found a "
                     "number)"));
}

TEST(SafetensorsTest, EntryMissingKeys) {
  EXPECT_EQ(entryError("{\"shape\":[1],\"data_offsets\":[0,1]}"),
            prefixed("tensor 't': missing key 'dtype'"));
  EXPECT_EQ(entryError("{\"dtype\":\"U8\",\"data_offsets\":[0,1]}"),
            prefixed("tensor 't': missing key 'shape'"));
  EXPECT_EQ(entryError("{\"dtype\":\"U8\",\"shape\":[1]}"),
            prefixed("tensor 't': missing key 'data_offsets'"));
  EXPECT_EQ(entryError("{}"), prefixed("tensor 't': missing key 'dtype'"));
}

TEST(SafetensorsTest, EntryExtraKey) {
  EXPECT_EQ(entryError("{\"dtype\":\"U8\",\"shape\":[1],"
                       "\"data_offsets\":[0,1],\"offset\":0}",
                       1),
            prefixed("tensor 't': unexpected key 'offset' (allowed: dtype, "
                     "shape, data_offsets)"));
}

TEST(SafetensorsTest, EntryDuplicateKey) {
  EXPECT_EQ(entryError("{\"dtype\":\"U8\",\"dtype\":\"U8\",\"shape\":[1],"
                       "\"data_offsets\":[0,1]}",
                       1),
            prefixed("tensor 't': duplicate key 'dtype'"));
}

TEST(SafetensorsTest, UnknownDType) {
  EXPECT_EQ(entryError("{\"dtype\":\"F8_E4M3\",\"shape\":[1],"
                       "\"data_offsets\":[0,1]}",
                       1),
            prefixed("tensor 't': unknown dtype 'F8_E4M3' (supported: BOOL, "
                     "U8, I8, U16, I16, F16, BF16, U32, I32, F32, U64, I64, "
                     "F64)"));
  EXPECT_EQ(entryError("{\"dtype\":\"f32\",\"shape\":[1],"
                       "\"data_offsets\":[0,4]}",
                       4)
                .rfind(prefixed("tensor 't': unknown dtype 'f32'"), 0),
            0u);
  EXPECT_EQ(entryError("{\"dtype\":4,\"shape\":[1],\"data_offsets\":[0,4]}", 4),
            prefixed("tensor 't': dtype is not a string (found a number)"));
}

TEST(SafetensorsTest, BadShape) {
  EXPECT_EQ(
      entryError("{\"dtype\":\"U8\",\"shape\":3,\"data_offsets\":[0,3]}", 3),
      prefixed("tensor 't': shape is not an array (found a number)"));
  EXPECT_EQ(
      entryError("{\"dtype\":\"U8\",\"shape\":[2,-1],\"data_offsets\":[0,0]}"),
      prefixed("tensor 't': shape[1] is not a non-negative integer: -1"));
  EXPECT_EQ(
      entryError("{\"dtype\":\"U8\",\"shape\":[2.0],\"data_offsets\":[0,2]}",
                 2),
      prefixed("tensor 't': shape[0] is not a non-negative integer: 2.0"));
  EXPECT_EQ(
      entryError("{\"dtype\":\"U8\",\"shape\":[\"2\"],\"data_offsets\":[0,2]}",
                 2),
      prefixed("tensor 't': shape[0] is not a non-negative integer: \"2\""));
  EXPECT_EQ(entryError("{\"dtype\":\"U8\",\"shape\":[1e3],"
                       "\"data_offsets\":[0,1000]}",
                       1000),
            prefixed("tensor 't': shape[0] is not a non-negative integer: "
                     "1000.0"));
  EXPECT_EQ(entryError("{\"dtype\":\"U8\",\"shape\":[18446744073709551616],"
                       "\"data_offsets\":[0,0]}"),
            prefixed("tensor 't': shape[0] is not a non-negative integer: "
                     "18446744073709551616"));
}

TEST(SafetensorsTest, BadDataOffsets) {
  EXPECT_EQ(entryError("{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":{}}"),
            prefixed("tensor 't': data_offsets is not an array (found an "
                     "object)"));
  EXPECT_EQ(entryError("{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0]}"),
            prefixed("tensor 't': data_offsets has 1 elements, expected 2 "
                     "([begin, end])"));
  EXPECT_EQ(
      entryError("{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1,2]}"),
      prefixed("tensor 't': data_offsets has 3 elements, expected 2 "
               "([begin, end])"));
  EXPECT_EQ(
      entryError("{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[-1,0]}"),
      prefixed("tensor 't': data_offsets[0] is not a non-negative integer: "
               "-1"));
  EXPECT_EQ(
      entryError("{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1.5]}"),
      prefixed("tensor 't': data_offsets[1] is not a non-negative integer: "
               "1.5"));
  EXPECT_EQ(
      entryError("{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,null]}"),
      prefixed("tensor 't': data_offsets[1] is not a non-negative integer: "
               "null"));
  EXPECT_EQ(
      entryError("{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[5,4]}", 5),
      prefixed("tensor 't': data_offsets [5, 4] has begin > end"));
}

TEST(SafetensorsTest, ByteCountMismatch) {
  std::string header = "{\"model.0.weight\":{\"dtype\":\"F32\",\"shape\":[2,2],"
                       "\"data_offsets\":[0,12]}}";
  EXPECT_EQ(loadError(file(header, std::string(12, '\0'))),
            prefixed("tensor 'model.0.weight': data_offsets [0, 12] hold 12 "
                     "bytes but F32 [2, 2] needs 16"));
  EXPECT_EQ(entryError("{\"dtype\":\"BF16\",\"shape\":[],"
                       "\"data_offsets\":[0,0]}"),
            prefixed("tensor 't': data_offsets [0, 0] hold 0 bytes but BF16 "
                     "[] needs 2"));
}

TEST(SafetensorsTest, ByteCountOverflow) {
  // 2^32 * 2^32 elements: the element count overflows.
  EXPECT_EQ(entryError("{\"dtype\":\"U8\",\"shape\":[4294967296,4294967296],"
                       "\"data_offsets\":[0,0]}"),
            prefixed("tensor 't': shape [4294967296, 4294967296] has more "
                     "elements than fit in 64 bits"));
  // A zero dimension makes any other dimensions harmless.
  EXPECT_EQ(entryError("{\"dtype\":\"U8\",\"shape\":[9223372036854775807,"
                       "9223372036854775807,0],\"data_offsets\":[0,1]}",
                       1),
            prefixed("tensor 't': data_offsets [0, 1] hold 1 bytes but U8 "
                     "[9223372036854775807, 9223372036854775807, 0] needs 0"));
  // 2^62 elements fit, 2^65 bytes of F64 do not.
  EXPECT_EQ(entryError("{\"dtype\":\"F64\",\"shape\":[4611686018427387904],"
                       "\"data_offsets\":[0,0]}"),
            prefixed("tensor 't': F64 [4611686018427387904] needs more bytes "
                     "than fit in 64 bits"));
  // Huge but consistent offsets: caught as truncation, not read.
  EXPECT_EQ(entryError("{\"dtype\":\"U8\",\"shape\":[9223372036854775807],"
                       "\"data_offsets\":[0,9223372036854775807]}"),
            prefixed("file is truncated: the tensors need 9223372036854775807 "
                     "data bytes after the header but only 0 are present "
                     "(9223372036854775807 bytes missing)"));
}

//===----------------------------------------------------------------------===//
// Layout of the data buffer
//===----------------------------------------------------------------------===//

std::string u8Entry(const std::string &name, int begin, int end) {
  return "\"" + name + "\":{\"dtype\":\"U8\",\"shape\":[" +
         std::to_string(end - begin) + "],\"data_offsets\":[" +
         std::to_string(begin) + "," + std::to_string(end) + "]}";
}

TEST(SafetensorsTest, FirstTensorNotAtZero) {
  EXPECT_EQ(loadError(file("{" + u8Entry("a", 4, 8) + "}", "12345678")),
            prefixed("tensor 'a': data_offsets [4, 8] leave a gap of 4 bytes "
                     "at the start of the data buffer (the first tensor must "
                     "begin at 0)"));
}

TEST(SafetensorsTest, Gap) {
  EXPECT_EQ(
      loadError(file("{" + u8Entry("b", 6, 8) + "," + u8Entry("a", 0, 4) + "}",
                     "12345678")),
      prefixed("tensor 'b': data_offsets [6, 8] leave a gap of 2 bytes "
               "after tensor 'a' [0, 4]"));
}

TEST(SafetensorsTest, Overlap) {
  EXPECT_EQ(
      loadError(file("{" + u8Entry("a", 0, 4) + "," + u8Entry("b", 2, 8) + "}",
                     "12345678")),
      prefixed("tensor 'b': data_offsets [2, 8] overlap tensor 'a' "
               "[0, 4]"));
  // Two tensors over the same bytes.
  EXPECT_EQ(
      loadError(file("{" + u8Entry("a", 0, 4) + "," + u8Entry("b", 0, 4) + "}",
                     "1234")),
      prefixed("tensor 'b': data_offsets [0, 4] overlap tensor 'a' "
               "[0, 4]"));
  // A zero-size tensor inside another one.
  EXPECT_EQ(
      loadError(file("{" + u8Entry("a", 0, 4) + "," + u8Entry("z", 2, 2) + "}",
                     "1234")),
      prefixed("tensor 'z': data_offsets [2, 2] overlap tensor 'a' "
               "[0, 4]"));
}

TEST(SafetensorsTest, TrailingBytes) {
  std::string header = "{" + u8Entry("a", 0, 4) + "}";
  EXPECT_EQ(loadError(file(header, "123456")),
            prefixed("file has 2 trailing bytes after the tensor data "
                     "(expected 8 + " +
                     std::to_string(header.size()) + " + 4 = " +
                     std::to_string(12 + header.size()) + " bytes, found " +
                     std::to_string(14 + header.size()) + ")"));
  EXPECT_EQ(loadError(file("{}", "x")),
            prefixed("file has 1 trailing bytes after the tensor data "
                     "(expected 8 + 2 + 0 = 10 bytes, found 11)"));
}

TEST(SafetensorsTest, Truncated) {
  std::string header =
      "{" + u8Entry("a", 0, 4) + "," + u8Entry("b", 4, 10) + "}";
  EXPECT_EQ(loadError(file(header, "1234567")),
            prefixed("file is truncated: the tensors need 10 data bytes after "
                     "the header but only 7 are present (3 bytes missing)"));
}

//===----------------------------------------------------------------------===//
// Metadata and names
//===----------------------------------------------------------------------===//

TEST(SafetensorsTest, MetadataNotObject) {
  EXPECT_EQ(loadError(file("{\"__metadata__\":[\"a\"]}")),
            prefixed("__metadata__ is not a JSON object (found an array)"));
  EXPECT_EQ(loadError(file("{\"__metadata__\":\"pt\"}")),
            prefixed("__metadata__ is not a JSON object (found a string)"));
}

TEST(SafetensorsTest, MetadataNonStringValue) {
  EXPECT_EQ(loadError(file("{\"__metadata__\":{\"format\":\"pt\",\"n\":1}}")),
            prefixed("__metadata__: value of key 'n' is not a string (found a "
                     "number)"));
  EXPECT_EQ(loadError(file("{\"__metadata__\":{\"o\":{}}}")),
            prefixed("__metadata__: value of key 'o' is not a string (found "
                     "an object)"));
}

TEST(SafetensorsTest, MetadataDuplicateKey) {
  EXPECT_EQ(loadError(file("{\"__metadata__\":{\"k\":\"1\",\"k\":\"2\"}}")),
            prefixed("__metadata__: duplicate key 'k'"));
  EXPECT_EQ(loadError(file("{\"__metadata__\":{},\"__metadata__\":{}}")),
            prefixed("duplicate key '__metadata__' in the header"));
}

TEST(SafetensorsTest, DuplicateNames) {
  EXPECT_EQ(
      loadError(file("{" + u8Entry("a", 0, 1) + "," + u8Entry("a", 1, 2) + "}",
                     "12")),
      prefixed("duplicate tensor name 'a'"));
}

TEST(SafetensorsTest, NamesInMessagesAreEscaped) {
  EXPECT_EQ(loadError(file("{\"a\\nb'\":[]}")),
            prefixed("tensor 'a\\x0ab\\'': entry is not a JSON object (found "
                     "an array)"));
}

//===----------------------------------------------------------------------===//
// Files on disk and the writer
//===----------------------------------------------------------------------===//

class SafetensorsFileTest : public ::testing::Test {
protected:
  void SetUp() override {
    char pattern[] = "/tmp/lowmem-st-XXXXXX";
    const char *p = ::mkdtemp(pattern);
    ASSERT_NE(p, nullptr);
    dir = p;
  }
  void TearDown() override {
    if (DIR *d = ::opendir(dir.c_str())) {
      while (dirent *e = ::readdir(d)) {
        std::string name = e->d_name;
        if (name != "." && name != "..")
          ::unlink((dir + "/" + name).c_str());
      }
      ::closedir(d);
    }
    ::rmdir(dir.c_str());
  }
  size_t countFiles() {
    size_t n = 0;
    if (DIR *d = ::opendir(dir.c_str())) {
      while (dirent *e = ::readdir(d))
        if (std::string(e->d_name) != "." && std::string(e->d_name) != "..")
          ++n;
      ::closedir(d);
    }
    return n;
  }
  std::string dir;
};

/// Two shards and an index: a.* in the first, b.* in the second.
class ShardedTest : public SafetensorsFileTest {
protected:
  void SetUp() override {
    SafetensorsFileTest::SetUp();
    ASSERT_EQ(writeSafetensors(dir + "/m-1.safetensors",
                               {{"a.weight", DType::F32, {2}, a, sizeof(a)},
                                {"a.bias", DType::F32, {1}, a, 4}},
                               {}),
              "");
    ASSERT_EQ(writeSafetensors(dir + "/m-2.safetensors",
                               {{"b.weight", DType::F32, {2}, b, sizeof(b)}},
                               {}),
              "");
  }
  void writeIndex(const std::string &text) {
    std::string path = dir + "/m.index.json";
    ASSERT_EQ(writeFileAtomic(path, text.data(), text.size()), "");
  }
  std::string openErr() {
    std::string err;
    EXPECT_EQ(SafetensorsFile::open(dir + "/m.index.json", err), nullptr);
    return err;
  }
  float a[2] = {1, 2}, b[2] = {3, 4};
};

TEST_F(ShardedTest, ServesEveryShardAsOneFile) {
  writeIndex(R"({"metadata": {"total_size": 20}, "weight_map": {)"
             R"("a.weight": "m-1.safetensors", "b.weight": "m-2.safetensors",)"
             R"("a.bias": "m-1.safetensors"}})");
  std::string err;
  auto file = SafetensorsFile::open(dir + "/m.index.json", err);
  ASSERT_NE(file, nullptr) << err;
  EXPECT_EQ(file->shards().size(), 2u);
  ASSERT_EQ(file->tensors().size(), 3u);
  EXPECT_EQ(file->tensors()[0].name, "a.bias");
  EXPECT_EQ(file->tensors()[2].name, "b.weight");
  const TensorView *t = file->find("b.weight");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->load<float>(1), 4.0f);
  EXPECT_EQ(file->find("a.weight")->load<float>(0), 1.0f);
  EXPECT_EQ(file->find("c.weight"), nullptr);
  ASSERT_EQ(file->metadata().size(), 1u);
  EXPECT_EQ(file->metadata()[0].first, "total_size");
  EXPECT_EQ(file->metadata()[0].second, "20");
}

TEST_F(ShardedTest, AMissingShardNamesItAndATensor) {
  writeIndex(R"({"weight_map": {"a.weight": "m-1.safetensors",)"
             R"("a.bias": "m-1.safetensors", "b.weight": "m-3.safetensors"}})");
  std::string err = openErr();
  EXPECT_NE(err.find("m.index.json: shard 'm-3.safetensors' (holding "
                     "'b.weight'): "),
            std::string::npos)
      << err;
  EXPECT_NE(err.find("cannot open"), std::string::npos) << err;
}

TEST_F(ShardedTest, ATensorNotWhereTheIndexSays) {
  writeIndex(R"({"weight_map": {"a.weight": "m-1.safetensors",)"
             R"("a.bias": "m-1.safetensors", "b.weight": "m-1.safetensors"}})");
  EXPECT_NE(openErr().find("tensor 'b.weight' is not in shard "
                           "'m-1.safetensors', where the index puts it"),
            std::string::npos);
}

TEST_F(ShardedTest, ATensorTheIndexDoesNotList) {
  writeIndex(R"({"weight_map": {"a.weight": "m-1.safetensors",)"
             R"("b.weight": "m-2.safetensors"}})");
  EXPECT_NE(openErr().find("shard 'm-1.safetensors' holds tensor 'a.bias', "
                           "which the index does not list"),
            std::string::npos);
}

TEST_F(ShardedTest, MalformedIndexes) {
  writeIndex("not json");
  EXPECT_NE(openErr().find("not a JSON index of shards"), std::string::npos);
  writeIndex(R"({"weight_map": {}})");
  EXPECT_NE(openErr().find("needs a non-empty \"weight_map\" object"),
            std::string::npos);
  writeIndex(R"({"weight_map": {"a.weight": "../m-1.safetensors"}})");
  EXPECT_NE(openErr().find("tensor 'a.weight': the shard must be a file name "
                           "beside the index"),
            std::string::npos);
  writeIndex(R"({"weight_map": {"a.weight": 3}})");
  EXPECT_NE(openErr().find("tensor 'a.weight': the shard must be"),
            std::string::npos);
  std::string err;
  EXPECT_EQ(SafetensorsFile::open(dir + "/none.index.json", err), nullptr);
  EXPECT_NE(err.find("none.index.json"), std::string::npos);
}

TEST_F(SafetensorsFileTest, RoundTrip) {
  std::string path = dir + "/model.safetensors";
  float w[6] = {1, 2, 3, 4, 5, 6};
  uint16_t h[3] = {0x3C00, 0x4000, 0xC000};
  uint8_t q[5] = {0x12, 0x34, 0x56, 0x78, 0x9A};
  std::vector<TensorToWrite> tensors = {
      {"z.weight", DType::F32, {2, 3}, w, sizeof(w)},
      {"a.half", DType::F16, {3}, h, sizeof(h)},
      {"empty", DType::I64, {0, 4}, nullptr, 0},
      {"m.q", DType::U8, {5}, q, sizeof(q)},
  };
  std::vector<std::pair<std::string, std::string>> meta = {
      {"format", "pt"}, {"note", "caf\xC3\xA9 \"quoted\"\n"}};
  ASSERT_EQ(writeSafetensors(path, tensors, meta), "");
  EXPECT_EQ(countFiles(), 1u); // No temporary file left behind.

  std::string err;
  auto f = SafetensorsFile::open(path, err);
  ASSERT_TRUE(f) << err;
  EXPECT_EQ(err, "");
  EXPECT_EQ(f->path(), path);
  EXPECT_EQ(f->headerLength() % 8, 0u);
  EXPECT_EQ(f->fileSize(),
            8 + f->headerLength() + sizeof(w) + sizeof(h) + sizeof(q));
  EXPECT_EQ(f->metadata(), meta);
  ASSERT_EQ(f->tensors().size(), 4u);
  EXPECT_EQ(f->tensors()[0].name, "a.half");
  EXPECT_EQ(f->tensors()[1].name, "empty");
  EXPECT_EQ(f->tensors()[2].name, "m.q");
  EXPECT_EQ(f->tensors()[3].name, "z.weight");

  const TensorView *zw = f->find("z.weight");
  ASSERT_TRUE(zw);
  EXPECT_EQ(zw->shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(std::memcmp(zw->data, w, sizeof(w)), 0);
  // Laid out in the given order: z.weight first, right after the header.
  const uint8_t *dataStart = zw->data;
  EXPECT_EQ(f->find("a.half")->data, dataStart + sizeof(w));
  EXPECT_EQ(f->find("m.q")->data, dataStart + sizeof(w) + sizeof(h));
  EXPECT_EQ(f->find("a.half")->load<uint16_t>(2), 0xC000);
  EXPECT_EQ(f->find("m.q")->load<uint8_t>(4), 0x9A);
  EXPECT_EQ(f->find("empty")->nbytes, 0u);
  EXPECT_EQ(f->find("empty")->shape, (std::vector<int64_t>{0, 4}));

  // The header is compact JSON padded with spaces.
  std::vector<unsigned char> bytes;
  ASSERT_EQ(readFile(path, bytes), "");
  std::string header(bytes.begin() + 8, bytes.begin() + 8 + f->headerLength());
  EXPECT_EQ(header.rfind("{\"__metadata__\":{\"format\":\"pt\",\"note\":"
                         "\"caf\xC3\xA9 \\\"quoted\\\"\\n\"},\"z.weight\":{"
                         "\"dtype\":\"F32\",\"shape\":[2,3],"
                         "\"data_offsets\":[0,24]},\"a.half\":",
                         0),
            0u)
      << header;
  size_t close = header.find_last_of('}');
  EXPECT_EQ(header.find_first_not_of(' ', close + 1), std::string::npos);
}

TEST_F(SafetensorsFileTest, NoMetadataWritesNoMetadataKey) {
  std::string path = dir + "/plain.safetensors";
  uint8_t b = 1;
  ASSERT_EQ(writeSafetensors(path, {{"b", DType::Bool, {}, &b, 1}}, {}), "");
  std::vector<unsigned char> bytes;
  ASSERT_EQ(readFile(path, bytes), "");
  std::string text(bytes.begin(), bytes.end());
  EXPECT_EQ(text.find("__metadata__"), std::string::npos);
  std::string err;
  auto f = SafetensorsFile::open(path, err);
  ASSERT_TRUE(f) << err;
  EXPECT_EQ(f->find("b")->numElements(), 1);
}

TEST_F(SafetensorsFileTest, EmptyFileWritten) {
  std::string path = dir + "/empty.safetensors";
  ASSERT_EQ(writeSafetensors(path, {}, {}), "");
  std::string err;
  auto f = SafetensorsFile::open(path, err);
  ASSERT_TRUE(f) << err;
  EXPECT_TRUE(f->tensors().empty());
  EXPECT_EQ(f->fileSize(), 16u); // "{}" padded to 8 bytes.
}

TEST_F(SafetensorsFileTest, WriterRejectsBadInput) {
  std::string path = dir + "/bad.safetensors";
  float w[4] = {};
  EXPECT_EQ(writeSafetensors(path, {{"w", DType::F32, {2, 2}, w, 12}}, {}),
            path + ": tensor 'w': nbytes is 12 but F32 [2, 2] needs 16");
  EXPECT_EQ(writeSafetensors(path,
                             {{"w", DType::F32, {2, 2}, w, 16},
                              {"w", DType::F32, {2, 2}, w, 16}},
                             {}),
            path + ": duplicate tensor name 'w'");
  EXPECT_EQ(
      writeSafetensors(path, {{"__metadata__", DType::U8, {1}, w, 1}}, {}),
      path + ": tensor '__metadata__': the name is reserved for "
             "metadata");
  EXPECT_EQ(writeSafetensors(path, {{"\xFF", DType::U8, {1}, w, 1}}, {}),
            path + ": tensor '\xFF': the name is not valid UTF-8");
  EXPECT_EQ(writeSafetensors(path, {{"w", DType::U8, {-1}, w, 0}}, {}),
            path + ": tensor 'w': shape [-1] has a negative dimension");
  EXPECT_EQ(writeSafetensors(path, {{"w", DType::U8, {1}, nullptr, 1}}, {}),
            path + ": tensor 'w': data is null");
  EXPECT_EQ(writeSafetensors(path, {{"w", DType::U8, {1}, w, 1}},
                             {{"k", "a"}, {"k", "b"}}),
            path + ": __metadata__: duplicate key 'k'");
  EXPECT_EQ(countFiles(), 0u);
  // Missing directory: the atomic writer's error, no file left behind.
  std::string missing = dir + "/nodir/x.safetensors";
  std::string err = writeSafetensors(missing, {}, {});
  EXPECT_EQ(err.rfind(missing + ": cannot create temporary file", 0), 0u)
      << err;
  EXPECT_EQ(countFiles(), 0u);
}

TEST_F(SafetensorsFileTest, OpenErrors) {
  std::string err;
  std::string missing = dir + "/missing.safetensors";
  EXPECT_EQ(SafetensorsFile::open(missing, err), nullptr);
  EXPECT_EQ(err, missing + ": cannot open: No such file or directory");
  EXPECT_EQ(SafetensorsFile::open(dir, err), nullptr);
  EXPECT_EQ(err, dir + ": not a regular file");

  std::string empty = dir + "/empty.safetensors";
  ASSERT_EQ(writeFileAtomic(empty, nullptr, 0), "");
  EXPECT_EQ(SafetensorsFile::open(empty, err), nullptr);
  EXPECT_EQ(err, empty + ": file is 0 bytes, shorter than the 8-byte header "
                         "length");

  std::string bad = dir + "/bad.safetensors";
  std::string bytes = file("{" + u8Entry("a", 0, 4) + "}", "12");
  ASSERT_EQ(writeFileAtomic(bad, bytes.data(), bytes.size()), "");
  EXPECT_EQ(SafetensorsFile::open(bad, err), nullptr);
  EXPECT_EQ(err, bad + ": file is truncated: the tensors need 4 data bytes "
                       "after the header but only 2 are present (2 bytes "
                       "missing)");
}

TEST(SafetensorsTest, EveryTruncationOfAValidFileFails) {
  std::string header = "{\"__metadata__\":{\"a\":\"b\"}," + u8Entry("x", 0, 3) +
                       "," + u8Entry("y", 3, 5) + "}";
  std::string good = file(header, "abcde");
  load(good);
  for (size_t n = 0; n < good.size(); ++n) {
    std::string err;
    auto f = SafetensorsFile::fromBuffer(
        reinterpret_cast<const uint8_t *>(good.data()), n, kName, err);
    EXPECT_EQ(f, nullptr) << "prefix of " << n << " bytes loaded";
    EXPECT_EQ(err.rfind(prefixed(""), 0), 0u) << err;
  }
}

} // namespace
