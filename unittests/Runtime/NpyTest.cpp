//===- NpyTest.cpp - Tests for the .npy reader and writer -----------------===//
//
// Part of the lowmem project.
//
//===----------------------------------------------------------------------===//

#include "lowmem/Runtime/Npy.h"
#include "lowmem/Runtime/FileUtil.h"

#include "gtest/gtest.h"

#include <cstring>
#include <dirent.h>
#include <unistd.h>

using namespace lowmem::rt;

namespace {

//===----------------------------------------------------------------------===//
// Reference files, byte for byte as numpy 1.24 writes them (generated with
// /usr/bin/python3 and numpy.save / numpy.lib.format.write_array).
//===----------------------------------------------------------------------===//

// np.save of array([0., 1., 2.], dtype=float32)
static const char kF32Vector[] =
    "\223NUMPY\001\000v\000{'descr': '<f4', 'fortran_order': False, 'shape"
    "': (3,), }                                                           "
    " \012\000\000\000\000\000\000\200\077\000\000\000@";
// np.save of array(2.5)
static const char kF64Scalar[] =
    "\223NUMPY\001\000v\000{'descr': '<f8', 'fortran_order': False, 'shape"
    "': (), }                                                             "
    " \012\000\000\000\000\000\000\004@";
// np.save of array([[0, 1, 2, 3],        [4, 5, 6, 7]], dtype=int32)
static const char kI32Matrix[] =
    "\223NUMPY\001\000v\000{'descr': '<i4', 'fortran_order': False, 'shape"
    "': (2, 4), }                                                         "
    " \012\000\000\000\000\001\000\000\000\002\000\000\000\003\000\000\000"
    "\004\000\000\000\005\000\000\000\006\000\000\000\007\000\000\000";
// np.save of array([ True, False,  True])
static const char kBoolVector[] =
    "\223NUMPY\001\000v\000{'descr': '|b1', 'fortran_order': False, 'shape"
    "': (3,), }                                                           "
    " \012\001\000\001";
// np.save of array([], shape=(0, 3), dtype=int64)
static const char kI64Empty[] =
    "\223NUMPY\001\000v\000{'descr': '<i8', 'fortran_order': False, 'shape"
    "': (0, 3), }                                                         "
    " \012";
// np.save of array([  -1,    2, -128], dtype=int8)
static const char kI8Vector[] =
    "\223NUMPY\001\000v\000{'descr': '|i1', 'fortran_order': False, 'shape"
    "': (3,), }                                                           "
    " \012\377\002\200";
// np.save of array([  0, 200, 255], dtype=uint8)
static const char kU8Vector[] =
    "\223NUMPY\001\000v\000{'descr': '|u1', 'fortran_order': False, 'shape"
    "': (3,), }                                                           "
    " \012\000\310\377";
// np.save of array([ 1., -2.], dtype=float16)
static const char kF16Vector[] =
    "\223NUMPY\001\000v\000{'descr': '<f2', 'fortran_order': False, 'shape"
    "': (2,), }                                                           "
    " \012\000<\000\300";
// np.save of array([-3,  4], dtype=int16)
static const char kI16Vector[] =
    "\223NUMPY\001\000v\000{'descr': '<i2', 'fortran_order': False, 'shape"
    "': (2,), }                                                           "
    " \012\375\377\004\000";
// np.save of array([65535], dtype=uint16)
static const char kU16Vector[] =
    "\223NUMPY\001\000v\000{'descr': '<u2', 'fortran_order': False, 'shape"
    "': (1,), }                                                           "
    " \012\377\377";
// np.save of array([4000000000], dtype=uint32)
static const char kU32Vector[] =
    "\223NUMPY\001\000v\000{'descr': '<u4', 'fortran_order': False, 'shape"
    "': (1,), }                                                           "
    " \012\000(k\356";
// np.save of array([18446744073709551615], dtype=uint64)
static const char kU64Vector[] =
    "\223NUMPY\001\000v\000{'descr': '<u8', 'fortran_order': False, 'shape"
    "': (1,), }                                                           "
    " \012\377\377\377\377\377\377\377\377";
// np.save of array([[[ 0.,  1.,  2.,  3.],         [ 4.,  5.,  6.,  7.],
// [ 8.,  9., 10., 11.]],         [[12., 13., 14., 15.], [16., 17., 18., 19.],
// [20., 21., 22., 23.]]], dtype=float32)
static const char kF32Rank3[] =
    "\223NUMPY\001\000v\000{'descr': '<f4', 'fortran_order': False, 'shape"
    "': (2, 3, 4), }                                                      "
    " \012\000\000\000\000\000\000\200\077\000\000\000@\000\000@@\000\000\200"
    "@\000\000\240@\000\000\300@\000\000\340@\000\000\000A\000\000\020A\000"
    "\000 A\000\0000A\000\000@A\000\000PA\000\000`A\000\000pA\000\000\200A"
    "\000\000\210A\000\000\220A\000\000\230A\000\000\240A\000\000\250A\000"
    "\000\260A\000\000\270A";
// np.save of array([], shape=(12345678901, 0), dtype=float32)
static const char kF32LongAxis[] =
    "\223NUMPY\001\000v\000{'descr': '<f4', 'fortran_order': False, 'shape"
    "': (12345678901, 0), }                                               "
    " \012";
// np.asfortranarray(np.arange(6, dtype="<f4").reshape(2, 3))
static const char kFortran[] =
    "\223NUMPY\001\000v\000{'descr': '<f4', 'fortran_order': True, 'shape'"
    ": (2, 3), }                                                          "
    " \012\000\000\000\000\000\000@@\000\000\200\077\000\000\200@\000\000\000"
    "@\000\000\240@";
// np.arange(2, dtype=">f4")
static const char kBigEndian[] =
    "\223NUMPY\001\000v\000{'descr': '>f4', 'fortran_order': False, 'shape"
    "': (2,), }                                                           "
    " \012\000\000\000\000\077\200\000\000";
// write_array(version=(2, 0)) of np.arange(3, dtype="<i2")
static const char kVersion2[] =
    "\223NUMPY\002\000t\000\000\000{'descr': '<i2', 'fortran_order': False"
    ", 'shape': (3,), }                                                   "
    "       \012\000\000\001\000\002\000";
// write_array(version=(3, 0)) of np.arange(3, dtype="<i2")
static const char kVersion3[] =
    "\223NUMPY\003\000t\000\000\000{'descr': '<i2', 'fortran_order': False"
    ", 'shape': (3,), }                                                   "
    "       \012\000\000\001\000\002\000";
// np.zeros(2, dtype=[("a", "<f4")])
static const char kStructured[] =
    "\223NUMPY\001\000v\000{'descr': [('a', '<f4')], 'fortran_order': Fals"
    "e, 'shape': (2,), }                                                  "
    " \012\000\000\000\000\000\000\000\000";
// np.zeros(2, dtype="<c8")
static const char kComplex[] =
    "\223NUMPY\001\000v\000{'descr': '<c8', 'fortran_order': False, 'shape"
    "': (2,), }                                                           "
    " \012\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000";

#define BYTES(lit) std::string(lit, sizeof(lit) - 1)

const char *const kName = "x.npy";

std::string prefixed(const std::string &message) {
  return std::string(kName) + ": " + message;
}

NpyArray parseOk(const std::string &bytes) {
  NpyArray a;
  std::string err = parseNpy(reinterpret_cast<const uint8_t *>(bytes.data()),
                             bytes.size(), kName, a);
  EXPECT_EQ(err, "");
  return a;
}

std::string parseErr(const std::string &bytes) {
  NpyArray a;
  std::string err = parseNpy(reinterpret_cast<const uint8_t *>(bytes.data()),
                             bytes.size(), kName, a);
  EXPECT_NE(err, "") << "unexpectedly parsed";
  return err;
}

/// Builds a version 1.0 file from a header dict (padded like numpy) and data.
std::string npyFile(std::string dict, const std::string &data = "",
                    unsigned major = 1) {
  size_t prefix = major == 1 ? 10 : 12;
  dict += std::string(63 - (prefix + dict.size()) % 64, ' ') + "\n";
  std::string out = "\x93NUMPY";
  out += static_cast<char>(major);
  out += '\0';
  size_t n = dict.size();
  out += static_cast<char>(n & 0xFF);
  out += static_cast<char>((n >> 8) & 0xFF);
  if (major != 1) {
    out += static_cast<char>((n >> 16) & 0xFF);
    out += static_cast<char>((n >> 24) & 0xFF);
  }
  return out + dict + data;
}

std::string f32Dict(const std::string &shape) {
  return "{'descr': '<f4', 'fortran_order': False, 'shape': " + shape + ", }";
}

struct Reference {
  const char *name;
  std::string bytes;
  DType dtype;
  std::vector<int64_t> shape;
};

std::vector<Reference> references() {
  return {
      {"F32Vector", BYTES(kF32Vector), DType::F32, {3}},
      {"F64Scalar", BYTES(kF64Scalar), DType::F64, {}},
      {"I32Matrix", BYTES(kI32Matrix), DType::I32, {2, 4}},
      {"BoolVector", BYTES(kBoolVector), DType::Bool, {3}},
      {"I64Empty", BYTES(kI64Empty), DType::I64, {0, 3}},
      {"I8Vector", BYTES(kI8Vector), DType::I8, {3}},
      {"U8Vector", BYTES(kU8Vector), DType::U8, {3}},
      {"F16Vector", BYTES(kF16Vector), DType::F16, {2}},
      {"I16Vector", BYTES(kI16Vector), DType::I16, {2}},
      {"U16Vector", BYTES(kU16Vector), DType::U16, {1}},
      {"U32Vector", BYTES(kU32Vector), DType::U32, {1}},
      {"U64Vector", BYTES(kU64Vector), DType::U64, {1}},
      {"F32Rank3", BYTES(kF32Rank3), DType::F32, {2, 3, 4}},
      {"F32LongAxis", BYTES(kF32LongAxis), DType::F32, {12345678901, 0}},
  };
}

TEST(NpyTest, ReadsNumpyFiles) {
  for (const Reference &ref : references()) {
    SCOPED_TRACE(ref.name);
    NpyArray a = parseOk(ref.bytes);
    EXPECT_EQ(a.dtype, ref.dtype);
    EXPECT_EQ(a.shape, ref.shape);
    EXPECT_EQ(a.data.size(),
              static_cast<size_t>(a.numElements()) * dtypeSize(a.dtype));
    // numpy aligns the data to 64 bytes.
    EXPECT_EQ((ref.bytes.size() - a.data.size()) % 64, 0u);
    EXPECT_EQ(std::string(a.data.begin(), a.data.end()),
              ref.bytes.substr(ref.bytes.size() - a.data.size()));
  }
}

TEST(NpyTest, Values) {
  NpyArray f = parseOk(BYTES(kF32Vector));
  float fv[3];
  std::memcpy(fv, f.data.data(), sizeof(fv));
  EXPECT_EQ(fv[0], 0.0f);
  EXPECT_EQ(fv[2], 2.0f);
  NpyArray d = parseOk(BYTES(kF64Scalar));
  EXPECT_EQ(d.numElements(), 1);
  double dv;
  std::memcpy(&dv, d.data.data(), sizeof(dv));
  EXPECT_EQ(dv, 2.5);
  NpyArray b = parseOk(BYTES(kBoolVector));
  EXPECT_EQ(b.data, (std::vector<uint8_t>{1, 0, 1}));
  NpyArray e = parseOk(BYTES(kI64Empty));
  EXPECT_EQ(e.numElements(), 0);
  EXPECT_TRUE(e.data.empty());
  NpyArray i = parseOk(BYTES(kI32Matrix));
  int32_t last;
  std::memcpy(&last, i.data.data() + 28, 4);
  EXPECT_EQ(last, 7);
}

TEST(NpyTest, EncodesExactlyLikeNumpy) {
  for (const Reference &ref : references()) {
    SCOPED_TRACE(ref.name);
    NpyArray a = parseOk(ref.bytes);
    std::vector<uint8_t> out;
    ASSERT_EQ(encodeNpy(a.dtype, a.shape, a.data.data(), out), "");
    EXPECT_EQ(std::string(out.begin(), out.end()), ref.bytes);
  }
}

TEST(NpyTest, OtherVersions) {
  for (const std::string &bytes : {BYTES(kVersion2), BYTES(kVersion3)}) {
    NpyArray a = parseOk(bytes);
    EXPECT_EQ(a.dtype, DType::I16);
    EXPECT_EQ(a.shape, (std::vector<int64_t>{3}));
    EXPECT_EQ(a.data, (std::vector<uint8_t>{0, 0, 1, 0, 2, 0}));
  }
  EXPECT_EQ(parseOk(npyFile(f32Dict("(1,)"), "abcd", 2)).data.size(), 4u);
}

TEST(NpyTest, HeaderSpellings) {
  // Keys in any order, double quotes, no trailing comma, tuple trailing
  // comma, Python 2 long literals, extra whitespace.
  NpyArray a = parseOk(
      npyFile("{\"shape\": (2, 1,), 'fortran_order':False,'descr':\"<f4\"}",
              std::string(8, '\0')));
  EXPECT_EQ(a.shape, (std::vector<int64_t>{2, 1}));
  a = parseOk(npyFile("{ 'descr' : '<i8' , 'fortran_order' : False , "
                      "'shape' : ( 2L , ) , }",
                      std::string(16, '\0')));
  EXPECT_EQ(a.dtype, DType::I64);
  EXPECT_EQ(a.shape, (std::vector<int64_t>{2}));
  // One-byte types with any byte-order character.
  for (const char *descr : {"|u1", "<u1", ">u1", "=u1"})
    EXPECT_EQ(parseOk(npyFile(std::string("{'descr': '") + descr +
                                  "', 'fortran_order': False, 'shape': (1,)}",
                              "x"))
                  .dtype,
              DType::U8);
  EXPECT_EQ(parseOk(npyFile("{'descr': '<i1', 'fortran_order': False, "
                            "'shape': (1,)}",
                            "x"))
                .dtype,
            DType::I8);
  EXPECT_EQ(parseOk(npyFile("{'descr': '<b1', 'fortran_order': False, "
                            "'shape': (1,)}",
                            "x"))
                .dtype,
            DType::Bool);
  EXPECT_EQ(parseOk(npyFile("{'descr': '=f8', 'fortran_order': False, "
                            "'shape': ()}",
                            std::string(8, '\0')))
                .dtype,
            DType::F64);
}

TEST(NpyTest, RejectsFortranOrder) {
  EXPECT_EQ(parseErr(BYTES(kFortran)),
            prefixed("fortran_order: True is not supported (the array is "
                     "stored in Fortran/column-major order); save a C-ordered "
                     "array, e.g. np.save(path, np.ascontiguousarray(arr))"));
}

TEST(NpyTest, RejectsBigEndian) {
  EXPECT_EQ(parseErr(BYTES(kBigEndian)),
            prefixed("header: big-endian dtype '>f4' is not supported; save "
                     "the array as little-endian (e.g. arr.astype('<f4'))"));
}

TEST(NpyTest, RejectsUnsupportedDTypes) {
  EXPECT_EQ(parseErr(BYTES(kStructured)),
            prefixed("header: structured dtypes (descr is a list) are not "
                     "supported"));
  EXPECT_EQ(parseErr(BYTES(kComplex)),
            prefixed("header: unsupported dtype descr '<c8' (supported: <f2, "
                     "<f4, <f8, <i2, <i4, <i8, <u2, <u4, <u8, |i1, |u1, |b1)"));
  EXPECT_EQ(parseErr(npyFile("{'descr': '|f4', 'fortran_order': False, "
                             "'shape': (1,)}",
                             "abcd")),
            prefixed("header: dtype '|f4' has no byte order ('|' is only "
                     "valid for 1-byte types)"));
  EXPECT_EQ(parseErr(npyFile("{'descr': 'f4', 'fortran_order': False, "
                             "'shape': (1,)}",
                             "abcd"))
                .rfind(prefixed("header: unsupported dtype descr 'f4'"), 0),
            0u);
}

TEST(NpyTest, PrefixErrors) {
  EXPECT_EQ(parseErr(""), prefixed("not an .npy file (missing the \\x93NUMPY "
                                   "magic string)"));
  EXPECT_EQ(parseErr("PK\x03\x04 zip file"),
            prefixed("not an .npy file (missing the \\x93NUMPY magic "
                     "string)"));
  EXPECT_EQ(parseErr("\x93NUMPY\x01"),
            prefixed("file is 7 bytes, too short for the .npy version and "
                     "header length"));
  EXPECT_EQ(parseErr(std::string("\x93NUMPY\x02\x00\x10\x00", 10)),
            prefixed("file is 10 bytes, too short for the .npy version and "
                     "header length"));
  EXPECT_EQ(parseErr(std::string("\x93NUMPY\x04\x00\x10\x00", 10)),
            prefixed("unsupported .npy format version 4.0 (supported: 1.0, "
                     "2.0, 3.0)"));
  EXPECT_EQ(parseErr(std::string("\x93NUMPY\x01\x01\x10\x00", 10)),
            prefixed("unsupported .npy format version 1.1 (supported: 1.0, "
                     "2.0, 3.0)"));
  EXPECT_EQ(parseErr(std::string("\x93NUMPY\x01\x00\x10\x00{}", 12)),
            prefixed("header length 16 exceeds the file's size 12"));
  EXPECT_EQ(parseErr(std::string("\x93NUMPY\x02\x00\xFF\xFF\xFF\xFF{}", 14)),
            prefixed("header length 4294967295 exceeds the file's size 14"));
}

TEST(NpyTest, HeaderDictErrors) {
  EXPECT_EQ(parseErr(npyFile("['descr']")),
            prefixed("header offset 0: expected '{' at the start of the "
                     "header dict"));
  EXPECT_EQ(parseErr(npyFile("{'descr': '<f4', 'fortran_order': False}")),
            prefixed("header: missing key 'shape'"));
  EXPECT_EQ(parseErr(npyFile("{'fortran_order': False, 'shape': ()}")),
            prefixed("header: missing key 'descr'"));
  EXPECT_EQ(parseErr(npyFile("{'descr': '<f4', 'shape': ()}")),
            prefixed("header: missing key 'fortran_order'"));
  EXPECT_EQ(parseErr(npyFile("{'descr': '<f4', 'fortran_order': False, "
                             "'shape': (), 'extra': 1}")),
            prefixed("header offset 54: unexpected key 'extra' (expected "
                     "'descr', 'fortran_order', 'shape')"));
  EXPECT_EQ(parseErr(npyFile("{'descr': '<f4', 'descr': '<f4'}")),
            prefixed("header offset 17: duplicate key 'descr'"));
  EXPECT_EQ(parseErr(npyFile("{'shape': (), 'shape': ()}")),
            prefixed("header offset 14: duplicate key 'shape'"));
  EXPECT_EQ(parseErr(npyFile("{'fortran_order': False, 'fortran_order': "
                             "False}")),
            prefixed("header offset 25: duplicate key 'fortran_order'"));
  EXPECT_EQ(parseErr(npyFile("{'descr': '<f4', 'fortran_order': 0, "
                             "'shape': ()}")),
            prefixed("header offset 34: 'fortran_order' must be True or "
                     "False"));
  EXPECT_EQ(parseErr(npyFile("{'descr': '<f4', 'fortran_order': Falsey, "
                             "'shape': ()}")),
            prefixed("header offset 34: 'fortran_order' must be True or "
                     "False"));
  EXPECT_EQ(parseErr(npyFile("{'descr': 4, 'fortran_order': False, "
                             "'shape': ()}")),
            prefixed("header offset 10: 'descr' must be a string"));
  EXPECT_EQ(parseErr(npyFile("{'descr' '<f4'}")),
            prefixed("header offset 9: expected ':' after key 'descr'"));
  EXPECT_EQ(parseErr(npyFile("{'descr': '<f4' 'shape': ()}")),
            prefixed("header offset 16: expected ',' or '}' in the header "
                     "dict"));
  EXPECT_EQ(parseErr(npyFile("{'descr': '<f4, 'shape': ()}"))
                .rfind(prefixed("header: unsupported dtype descr '<f4, '"), 0),
            0u);
  EXPECT_EQ(parseErr(npyFile("{'descr': '<f4}")),
            prefixed("header offset 10: 'descr' must be a string"));
  EXPECT_EQ(parseErr(npyFile(f32Dict("()") + " x")),
            prefixed("header offset 56: unexpected characters after the "
                     "header dict"));
  // Unterminated dict: the error is at the end of the (padded) header.
  EXPECT_EQ(parseErr(npyFile("{'descr': '<f4', 'fortran_order': False, "
                             "'shape': ()")),
            prefixed("header offset 54: expected ',' or '}' in the header "
                     "dict"));
}

TEST(NpyTest, ShapeErrors) {
  EXPECT_EQ(parseErr(npyFile(f32Dict("(3)"), "abcdefghijkl")),
            prefixed("header offset 53: 'shape' (3) is an integer, not a "
                     "tuple; expected (3,)"));
  EXPECT_EQ(parseErr(npyFile(f32Dict("(-1,)"))),
            prefixed("header offset 51: 'shape' must be a tuple of "
                     "non-negative integers"));
  EXPECT_EQ(parseErr(npyFile(f32Dict("[3]"))),
            prefixed("header offset 50: 'shape' must be a tuple of "
                     "non-negative integers"));
  EXPECT_EQ(parseErr(npyFile(f32Dict("(2 3)"))),
            prefixed("header offset 53: expected ',' or ')' in 'shape'"));
  EXPECT_EQ(parseErr(npyFile(f32Dict("(9223372036854775808,)"))),
            prefixed("header offset 69: 'shape' dimension does not fit in 64 "
                     "bits"));
  EXPECT_EQ(parseErr(npyFile(f32Dict("(4294967296, 4294967296)"))),
            prefixed("shape (4294967296, 4294967296) is too large"));
  // A zero dimension makes the product 0 however large the others are.
  EXPECT_EQ(
      parseOk(npyFile(f32Dict("(9223372036854775807, 0, 5)"))).numElements(),
      0);
}

TEST(NpyTest, DataSizeMismatch) {
  EXPECT_EQ(parseErr(npyFile(f32Dict("(3, 4)"), std::string(40, '\0'))),
            prefixed("data holds 40 bytes but <f4 (3, 4) needs 48 (8 bytes "
                     "missing)"));
  EXPECT_EQ(parseErr(npyFile(f32Dict("(3,)"), std::string(16, '\0'))),
            prefixed("data holds 16 bytes but <f4 (3,) needs 12 (4 extra "
                     "bytes)"));
  EXPECT_EQ(parseErr(npyFile(f32Dict("()"))),
            prefixed("data holds 0 bytes but <f4 () needs 4 (4 bytes "
                     "missing)"));
}

TEST(NpyTest, EveryTruncationFails) {
  std::string good = BYTES(kI32Matrix);
  for (size_t n = 0; n < good.size(); ++n) {
    NpyArray a;
    std::string err =
        parseNpy(reinterpret_cast<const uint8_t *>(good.data()), n, kName, a);
    EXPECT_NE(err, "") << "prefix of " << n << " bytes parsed";
  }
}

TEST(NpyTest, FailureLeavesOutputUntouched) {
  NpyArray a;
  a.dtype = DType::U8;
  a.shape = {1};
  a.data = {42};
  parseErr(BYTES(kFortran));
  NpyArray copy = a;
  NpyArray b = a;
  std::string bad = BYTES(kBigEndian);
  EXPECT_NE(parseNpy(reinterpret_cast<const uint8_t *>(bad.data()), bad.size(),
                     kName, b),
            "");
  EXPECT_EQ(b.data, copy.data);
  EXPECT_EQ(b.shape, copy.shape);
}

TEST(NpyTest, EncodeErrors) {
  std::vector<uint8_t> out;
  uint16_t x = 0;
  EXPECT_EQ(encodeNpy(DType::BF16, {1}, &x, out),
            "dtype BF16 has no .npy equivalent");
  EXPECT_EQ(encodeNpy(DType::F32, {-1}, &x, out),
            "invalid or too large shape (-1,)");
  EXPECT_EQ(encodeNpy(DType::F32, {2}, nullptr, out), "data is null");
  EXPECT_EQ(encodeNpy(DType::F32, {0}, nullptr, out), "");
  EXPECT_STREQ(npyDescr(DType::F32), "<f4");
  EXPECT_EQ(npyDescr(DType::BF16), nullptr);
}

TEST(NpyTest, LargeRankUsesVersion2) {
  // A header over 65535 bytes needs format 2.0, as in numpy.
  std::vector<int64_t> shape(25000, 1);
  float v = 1.5f;
  std::vector<uint8_t> out;
  ASSERT_EQ(encodeNpy(DType::F32, shape, &v, out), "");
  EXPECT_EQ(out[6], 2);
  EXPECT_EQ((out.size() - 4) % 64, 0u);
  NpyArray a = parseOk(std::string(out.begin(), out.end()));
  EXPECT_EQ(a.shape, shape);
  EXPECT_EQ(a.data.size(), 4u);
}

class NpyFileTest : public ::testing::Test {
protected:
  void SetUp() override {
    char pattern[] = "/tmp/lowmem-npy-XXXXXX";
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
  std::vector<std::string> files() {
    std::vector<std::string> names;
    if (DIR *d = ::opendir(dir.c_str())) {
      while (dirent *e = ::readdir(d)) {
        std::string name = e->d_name;
        if (name != "." && name != "..")
          names.push_back(name);
      }
      ::closedir(d);
    }
    return names;
  }
  std::string dir;
};

TEST_F(NpyFileTest, WriteReadRoundTrip) {
  std::string path = dir + "/y.npy";
  int32_t values[8] = {0, 1, 2, 3, 4, 5, 6, 7};
  ASSERT_EQ(writeNpy(path, DType::I32, {2, 4}, values), "");
  EXPECT_EQ(files(), std::vector<std::string>{"y.npy"});
  std::vector<unsigned char> bytes;
  ASSERT_EQ(readFile(path, bytes), "");
  EXPECT_EQ(std::string(bytes.begin(), bytes.end()), BYTES(kI32Matrix));

  NpyArray a;
  ASSERT_EQ(readNpy(path, a), "");
  EXPECT_EQ(a.dtype, DType::I32);
  EXPECT_EQ(a.shape, (std::vector<int64_t>{2, 4}));
  ASSERT_EQ(a.data.size(), sizeof(values));
  EXPECT_EQ(std::memcmp(a.data.data(), values, sizeof(values)), 0);
}

TEST_F(NpyFileTest, Errors) {
  NpyArray a;
  std::string missing = dir + "/missing.npy";
  EXPECT_EQ(readNpy(missing, a),
            missing + ": cannot open: No such file or directory");
  std::string bad = dir + "/bad.npy";
  std::string bytes = BYTES(kFortran);
  ASSERT_EQ(writeFileAtomic(bad, bytes.data(), bytes.size()), "");
  EXPECT_EQ(readNpy(bad, a).rfind(bad + ": fortran_order: True is not "
                                        "supported",
                                  0),
            0u);
  float v = 0;
  EXPECT_EQ(writeNpy(dir + "/b.npy", DType::BF16, {1}, &v),
            dir + "/b.npy: dtype BF16 has no .npy equivalent");
  std::string nodir = dir + "/nodir/y.npy";
  EXPECT_EQ(writeNpy(nodir, DType::F32, {1}, &v)
                .rfind(nodir + ": cannot create temporary file", 0),
            0u);
  EXPECT_EQ(files(), std::vector<std::string>{"bad.npy"});
}

} // namespace
