//===- QuantTest.cpp - Tests for the weight quantization formats ----------===//
//
// Part of the lowmem project.
//
//===----------------------------------------------------------------------===//
///
/// \file
/// Unit tests of lowmem/Quant: code books, scalar conversions, hand-derived
/// encodings of every format, double quantization, sizes, and error bounds on
/// Gaussian weights.
///
//===----------------------------------------------------------------------===//

#include "lowmem/Quant/Quant.h"

#include "gtest/gtest.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <random>

using namespace lowmem::quant;

namespace {

uint32_t bitsOf(float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, sizeof(bits));
  return bits;
}

float fromBits(uint32_t bits) {
  float value;
  std::memcpy(&value, &bits, sizeof(value));
  return value;
}

std::vector<float> dequantized(const QuantizedTensor &t) {
  std::vector<float> out(t.numElements());
  dequantize(t, out.data());
  return out;
}

std::vector<float> gaussian(int64_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> w(n);
  for (float &x : w)
    x = normal(rng);
  return w;
}

/// Returns the largest gap between consecutive entries of a sorted copy of
/// the table.
float largestGap(const float *table, int n) {
  std::vector<float> sorted(table, table + n);
  std::sort(sorted.begin(), sorted.end());
  float gap = 0.0f;
  for (int i = 0; i + 1 < n; ++i)
    gap = std::max(gap, sorted[i + 1] - sorted[i]);
  return gap;
}

/// Returns the width of the interval between consecutive entries of the table
/// that contains x (0 outside the table's range).
double localGap(const float *table, int n, float x) {
  std::vector<float> sorted(table, table + n);
  std::sort(sorted.begin(), sorted.end());
  for (int i = 0; i + 1 < n; ++i)
    if (x >= sorted[i] && x <= sorted[i + 1])
      return static_cast<double>(sorted[i + 1]) - sorted[i];
  return 0.0;
}

//===----------------------------------------------------------------------===//
// Formats and options
//===----------------------------------------------------------------------===//

TEST(QuantFormatTest, ParseAndNameRoundTrip) {
  const Format all[] = {Format::F32, Format::F16, Format::BF16, Format::Int4,
                        Format::NF4, Format::FP4, Format::Int8};
  const char *names[] = {"f32", "f16", "bf16", "int4", "nf4", "fp4", "int8"};
  for (int i = 0; i < 7; ++i) {
    EXPECT_STREQ(formatName(all[i]), names[i]);
    std::optional<Format> parsed = parseFormat(names[i]);
    ASSERT_TRUE(parsed.has_value()) << names[i];
    EXPECT_EQ(*parsed, all[i]);
  }
  for (const char *bad : {"", "NF4", "nf4 ", "int16", "f64", "fp8", "int"})
    EXPECT_FALSE(parseFormat(bad).has_value()) << bad;
}

TEST(QuantFormatTest, Properties) {
  EXPECT_TRUE(isBlockFormat(Format::Int4));
  EXPECT_TRUE(isBlockFormat(Format::NF4));
  EXPECT_TRUE(isBlockFormat(Format::FP4));
  EXPECT_FALSE(isBlockFormat(Format::Int8));
  EXPECT_FALSE(isBlockFormat(Format::F16));
  EXPECT_FALSE(isBlockFormat(Format::BF16));
  EXPECT_FALSE(isBlockFormat(Format::F32));
  EXPECT_TRUE(isFourBit(Format::Int4));
  EXPECT_TRUE(isFourBit(Format::NF4));
  EXPECT_TRUE(isFourBit(Format::FP4));
  EXPECT_FALSE(isFourBit(Format::Int8));
  EXPECT_FALSE(isFourBit(Format::F32));
  EXPECT_EQ(defaultBlockSize(Format::Int4), 16);
  EXPECT_EQ(defaultBlockSize(Format::NF4), 64);
  EXPECT_EQ(defaultBlockSize(Format::FP4), 64);
  EXPECT_EQ(defaultBlockSize(Format::Int8), 0);
  EXPECT_EQ(defaultBlockSize(Format::F16), 0);
  EXPECT_EQ(defaultBlockSize(Format::BF16), 0);
  EXPECT_EQ(defaultBlockSize(Format::F32), 0);
  EXPECT_EQ(kNestedBlockSize, 256);
}

TEST(QuantFormatTest, CheckOptions) {
  EXPECT_EQ(checkOptions(Format::NF4, 64, false), "");
  EXPECT_EQ(checkOptions(Format::NF4, 64, true), "");
  EXPECT_EQ(checkOptions(Format::FP4, 32, true), "");
  EXPECT_EQ(checkOptions(Format::FP4, 4096, false), "");
  EXPECT_EQ(checkOptions(Format::Int4, 16, false), "");
  EXPECT_EQ(checkOptions(Format::Int4, 2, false), "");
  EXPECT_EQ(checkOptions(Format::Int4, 4096, false), "");
  EXPECT_EQ(checkOptions(Format::Int4, 6, false), "");
  EXPECT_EQ(checkOptions(Format::Int8, 0, false), "");
  EXPECT_EQ(checkOptions(Format::F16, 0, false), "");
  EXPECT_EQ(checkOptions(Format::BF16, 0, false), "");
  EXPECT_EQ(checkOptions(Format::F32, 0, false), "");

  EXPECT_EQ(checkOptions(Format::NF4, 48, false),
            "block size 48 for nf4 must be a power of two in [32, 4096]");
  EXPECT_EQ(checkOptions(Format::NF4, 16, true),
            "block size 16 for nf4 must be a power of two in [32, 4096]");
  EXPECT_EQ(checkOptions(Format::FP4, 8192, false),
            "block size 8192 for fp4 must be a power of two in [32, 4096]");
  EXPECT_EQ(checkOptions(Format::FP4, 0, false),
            "block size 0 for fp4 must be a power of two in [32, 4096]");
  EXPECT_EQ(checkOptions(Format::NF4, -64, false),
            "block size -64 for nf4 must be a power of two in [32, 4096]");
  EXPECT_EQ(checkOptions(Format::Int4, 3, false),
            "block size 3 for int4 must be even and in [2, 4096]");
  EXPECT_EQ(checkOptions(Format::Int4, 0, false),
            "block size 0 for int4 must be even and in [2, 4096]");
  EXPECT_EQ(checkOptions(Format::Int4, 4098, false),
            "block size 4098 for int4 must be even and in [2, 4096]");
  EXPECT_EQ(checkOptions(Format::Int8, 64, false),
            "block size 64 for int8 must be 0 (int8 is not a block format)");
  EXPECT_EQ(checkOptions(Format::F16, 16, false),
            "block size 16 for f16 must be 0 (f16 is not a block format)");
  EXPECT_EQ(checkOptions(Format::Int8, 0, true),
            "double quantization applies only to nf4 and fp4, not int8");
  EXPECT_EQ(checkOptions(Format::Int4, 16, true),
            "double quantization applies only to nf4 and fp4, not int4");
  EXPECT_EQ(checkOptions(Format::BF16, 0, true),
            "double quantization applies only to nf4 and fp4, not bf16");
}

TEST(QuantFormatTest, BitsPerWeight) {
  EXPECT_DOUBLE_EQ(bitsPerWeight(Format::NF4, 64, false, 1024), 4.5);
  EXPECT_DOUBLE_EQ(bitsPerWeight(Format::FP4, 64, false, 1024), 4.5);
  // 4 + 8/64 + 32/(64*256) = 4.126953125.
  EXPECT_DOUBLE_EQ(bitsPerWeight(Format::NF4, 64, true, 1024), 4.126953125);
  EXPECT_NEAR(bitsPerWeight(Format::NF4, 64, true, 1024), 4.127, 1e-3);
  EXPECT_DOUBLE_EQ(bitsPerWeight(Format::NF4, 128, false, 1), 4.25);
  EXPECT_DOUBLE_EQ(bitsPerWeight(Format::Int4, 16, false, 1024), 5.0);
  EXPECT_DOUBLE_EQ(bitsPerWeight(Format::Int4, 64, false, 1024), 4.25);
  EXPECT_DOUBLE_EQ(bitsPerWeight(Format::F16, 0, false, 1024), 16.0);
  EXPECT_DOUBLE_EQ(bitsPerWeight(Format::BF16, 0, false, 1024), 16.0);
  EXPECT_DOUBLE_EQ(bitsPerWeight(Format::F32, 0, false, 1024), 32.0);
  EXPECT_DOUBLE_EQ(bitsPerWeight(Format::Int8, 0, false, 1024), 8.03125);
  EXPECT_DOUBLE_EQ(bitsPerWeight(Format::Int8, 0, false, 32), 9.0);
  // A block size of 0 for a block format means its default.
  EXPECT_DOUBLE_EQ(bitsPerWeight(Format::Int4, 0, false, 1024), 5.0);
}

//===----------------------------------------------------------------------===//
// Code books
//===----------------------------------------------------------------------===//

TEST(QuantTableTest, NF4) {
  const float expected[16] = {-1.0f,
                              -0.6961928009986877f,
                              -0.5250730514526367f,
                              -0.39491748809814453f,
                              -0.28444138169288635f,
                              -0.18477343022823334f,
                              -0.09105003625154495f,
                              0.0f,
                              0.07958029955625534f,
                              0.16093020141124725f,
                              0.24611230194568634f,
                              0.33791524171829224f,
                              0.44070982933044434f,
                              0.5626170039176941f,
                              0.7229568362236023f,
                              1.0f};
  const std::array<float, 16> &table = nf4Table();
  for (int i = 0; i < 16; ++i)
    EXPECT_EQ(bitsOf(table[i]), bitsOf(expected[i])) << "code " << i;
  EXPECT_TRUE(std::is_sorted(table.begin(), table.end()));
}

TEST(QuantTableTest, FP4) {
  const std::array<float, 16> &table = fp4Table();
  const float magnitudes[8] = {
      0.0f, 0.0625f / 12.0f, 2.0f / 3.0f, 1.0f, 1.0f / 3.0f,
      0.5f, 1.0f / 6.0f,     0.25f};
  for (int i = 0; i < 8; ++i) {
    EXPECT_EQ(bitsOf(table[i]), bitsOf(magnitudes[i])) << "code " << i;
    EXPECT_EQ(bitsOf(table[i + 8]), bitsOf(-magnitudes[i])) << "code " << i + 8;
  }
  EXPECT_FALSE(std::signbit(table[0]));
  EXPECT_TRUE(std::signbit(table[8])); // -0 is kept.
  EXPECT_EQ(table[3], 1.0f);
  EXPECT_EQ(table[11], -1.0f);
}

TEST(QuantTableTest, NearestCodeTies) {
  const float two[2] = {0.0f, 1.0f};
  EXPECT_EQ(nearestCode(two, 2, 0.5f), 0);
  EXPECT_EQ(nearestCode(two, 2, 0.5000001f), 1);
  EXPECT_EQ(nearestCode(two, 2, 0.4999999f), 0);
  const float descending[3] = {1.0f, 0.0f, -1.0f};
  EXPECT_EQ(nearestCode(descending, 3, 0.5f), 0);
  EXPECT_EQ(nearestCode(descending, 3, -0.5f), 1);
  EXPECT_EQ(nearestCode(descending, 3, -7.0f), 2);
  EXPECT_EQ(nearestCode(descending, 3, 7.0f), 0);
  // Exact hits, and 0 against +0 and -0 in fp4 (the lower index wins).
  for (int i = 0; i < 16; ++i)
    EXPECT_EQ(nearestCode(nf4Table().data(), 16, nf4Table()[i]), i);
  EXPECT_EQ(nearestCode(fp4Table().data(), 16, 0.0f), 0);
  EXPECT_EQ(nearestCode(fp4Table().data(), 16, -0.0f), 0);
  EXPECT_EQ(nearestCode(nf4Table().data(), 16, 0.0f), 7);
  // A midpoint of two NF4 entries that is exact in float goes to the lower.
  const float mid = (nf4Table()[0] + nf4Table()[1]) / 2.0f;
  if (std::fabs(nf4Table()[1] - mid) == std::fabs(nf4Table()[0] - mid)) {
    EXPECT_EQ(nearestCode(nf4Table().data(), 16, mid), 0);
  }
}

TEST(QuantEncodeTest, LargeTensorsEqualTheirBlocksEncodedAlone) {
  // Large tensors are encoded on several threads; the bytes must be those
  // of each block (or row) encoded by itself, in order.
  const int64_t rows = 512, cols = 1024, n = rows * cols;
  std::vector<float> w = gaussian(n, 3);
  w[5] = 0.0f;
  std::fill(w.begin() + 4096, w.begin() + 4096 + 64, 0.0f); // a zero block
  for (Format format : {Format::NF4, Format::FP4, Format::Int4}) {
    int64_t block = format == Format::Int4 ? 32 : 64;
    QuantizedTensor whole = quantize(w.data(), {rows, cols}, format, block,
                                     /*doubleQuant=*/false);
    for (int64_t b = 0; b < n / block; ++b) {
      QuantizedTensor one =
          quantize(w.data() + b * block, {block}, format, block, false);
      ASSERT_TRUE(std::equal(one.data.begin(), one.data.end(),
                             whole.data.begin() + b * block / 2))
          << formatName(format) << " block " << b;
      if (format == Format::Int4)
        ASSERT_EQ(one.absmaxF16[0], whole.absmaxF16[b]);
      else
        ASSERT_EQ(one.absmax[0], whole.absmax[b]);
    }
  }
  QuantizedTensor int8 = quantize(w.data(), {rows, cols}, Format::Int8, 0, 0);
  for (int64_t r = 0; r < rows; ++r) {
    QuantizedTensor one =
        quantize(w.data() + r * cols, {1, cols}, Format::Int8, 0, false);
    ASSERT_TRUE(std::equal(one.data.begin(), one.data.end(),
                           int8.data.begin() + r * cols))
        << "int8 row " << r;
    ASSERT_EQ(one.absmax[0], int8.absmax[r]);
  }
  // Double quantization: the codes of each group of scales follow from the
  // group's own nested absmax and the tensor's offset.
  QuantizedTensor dq = quantize(w.data(), {rows, cols}, Format::NF4, 64, true);
  QuantizedTensor plain =
      quantize(w.data(), {rows, cols}, Format::NF4, 64, false);
  std::vector<float> groupMax(dq.nestedAbsmax.size(), 0.0f);
  for (size_t b = 0; b < plain.absmax.size(); ++b)
    groupMax[b / kNestedBlockSize] =
        std::max(groupMax[b / kNestedBlockSize],
                 std::fabs(plain.absmax[b] - dq.nestedOffset));
  EXPECT_EQ(dq.nestedAbsmax, groupMax);
  for (size_t b = 0; b < plain.absmax.size(); ++b) {
    float nested = dq.nestedAbsmax[b / kNestedBlockSize];
    float centered = plain.absmax[b] - dq.nestedOffset;
    uint8_t code = nested == 0.0f ? nearestCode(dynamicMap().data(), 256, 0.0f)
                                  : nearestCode(dynamicMap().data(), 256,
                                                centered / nested);
    ASSERT_EQ(dq.absmaxCodes[b], code) << "scale " << b;
  }
}

TEST(QuantTableTest, DynamicMap) {
  const std::array<float, 256> &map = dynamicMap();
  ASSERT_EQ(map.size(), 256u);
  EXPECT_TRUE(std::is_sorted(map.begin(), map.end()));
  EXPECT_EQ(std::count(map.begin(), map.end(), 0.0f), 1);
  EXPECT_EQ(std::count(map.begin(), map.end(), 1.0f), 1);
  EXPECT_EQ(
      std::count_if(map.begin(), map.end(), [](float v) { return v < 0; }),
      127);
  EXPECT_EQ(map[127], 0.0f);
  EXPECT_EQ(map[255], 1.0f);
  // Symmetric: the negatives are the positives (but 1.0) negated.
  for (int k = 0; k < 127; ++k)
    EXPECT_EQ(map[k], -map[254 - k]) << k;

  // Values derived by hand from create_dynamic_map: exponent i contributes
  // 10^(i-6) * (midpoints of linspace(0.1, 1, 2^i + 1)), i.e. 2^i values in
  // [10^(i-7), 10^(i-6)); the decades do not overlap, so the positives are
  // ordered by i: i = 0 at index 128, i = 1 at 129..130, i = 2 at 131..134,
  // ..., i = 6 at 191..254.
  auto expectNear = [&](int index, double value) {
    EXPECT_NEAR(map[index], value, 1e-6 * std::fabs(value)) << index;
  };
  expectNear(128, 0.55e-6); // i = 0: (0.1 + 1) / 2.
  expectNear(126, -0.55e-6);
  expectNear(129, 0.325e-5); // i = 1: linspace 0.1, 0.55, 1.
  expectNear(130, 0.775e-5);
  expectNear(131, 0.2125e-4); // i = 2: linspace 0.1, 0.325, ..., 1.
  expectNear(134, 0.8875e-4);
  // i = 5: 32 values 0.1 * (0.1 + (k + 0.5) * 0.9 / 32); k = 31 is the last.
  expectNear(190, 0.1 * (0.1 + 31.5 * 0.9 / 32));
  // i = 6: 64 values 0.1 + (k + 0.5) * 0.9 / 64 (times 10^0).
  expectNear(191, 0.1 + 0.5 * 0.9 / 64);        // 0.10703125
  expectNear(254, 1.0 - 0.5 * 0.9 / 64);        // 0.99296875, largest below 1.
  expectNear(0, -(1.0 - 0.9 / 128));            // The minimum.
  expectNear(1, -(1.0 - 0.9 / 128 - 0.9 / 64)); // 0.97890625
  // The widest gap is between two i = 6 values: 0.9 / 64.
  EXPECT_NEAR(largestGap(map.data(), 256), 0.9 / 64, 1e-6);
}

//===----------------------------------------------------------------------===//
// Scalar conversions
//===----------------------------------------------------------------------===//

TEST(QuantHalfTest, Values) {
  EXPECT_EQ(floatToHalf(0.0f), 0x0000);
  EXPECT_EQ(floatToHalf(-0.0f), 0x8000);
  EXPECT_EQ(floatToHalf(1.0f), 0x3C00);
  EXPECT_EQ(floatToHalf(-2.0f), 0xC000);
  EXPECT_EQ(floatToHalf(0.5f), 0x3800);
  EXPECT_EQ(floatToHalf(65504.0f), 0x7BFF);
  EXPECT_EQ(floatToHalf(0x1p-14f), 0x0400); // Smallest normal.
  // Ties to even: 1 + 2^-11 is halfway between 1 and 1 + 2^-10.
  EXPECT_EQ(floatToHalf(1.0f + 0x1p-11f), 0x3C00);
  EXPECT_EQ(floatToHalf(1.0f + 3 * 0x1p-11f), 0x3C02);
  EXPECT_EQ(floatToHalf(1.0f + 0x1p-11f + 0x1p-20f), 0x3C01);
  // Rounding carries into the exponent.
  EXPECT_EQ(floatToHalf(2.0f - 0x1p-12f), 0x4000);
  // Subnormals, in units of 2^-24.
  EXPECT_EQ(floatToHalf(0x1p-24f), 0x0001);
  EXPECT_EQ(floatToHalf(0x1p-25f), 0x0000);     // Tie to even 0.
  EXPECT_EQ(floatToHalf(0x1.8p-25f), 0x0001);   // Above the tie.
  EXPECT_EQ(floatToHalf(3 * 0x1p-25f), 0x0002); // 1.5 units: to 2.
  EXPECT_EQ(floatToHalf(5 * 0x1p-25f), 0x0002); // 2.5 units: to 2.
  EXPECT_EQ(floatToHalf(0x1p-15f), 0x0200);
  EXPECT_EQ(floatToHalf(-0x1p-24f), 0x8001);
  EXPECT_EQ(floatToHalf(0x1p-26f), 0x0000);
  EXPECT_EQ(floatToHalf(0x1p-14f - 0x1p-26f), 0x0400); // Rounds up to normal.
  EXPECT_EQ(floatToHalf(std::numeric_limits<float>::denorm_min()), 0x0000);
  // Overflow.
  EXPECT_EQ(floatToHalf(65519.0f), 0x7BFF);
  EXPECT_EQ(floatToHalf(65520.0f), 0x7C00);
  EXPECT_EQ(floatToHalf(1e10f), 0x7C00);
  EXPECT_EQ(floatToHalf(-1e10f), 0xFC00);
  EXPECT_EQ(floatToHalf(std::numeric_limits<float>::infinity()), 0x7C00);
  EXPECT_EQ(floatToHalf(-std::numeric_limits<float>::infinity()), 0xFC00);
  // NaN stays a quiet NaN, even one whose payload is in the low bits only.
  uint16_t nan = floatToHalf(std::numeric_limits<float>::quiet_NaN());
  EXPECT_EQ(nan & 0x7E00, 0x7E00);
  uint16_t lowNan = floatToHalf(fromBits(0xFF800001u));
  EXPECT_EQ(lowNan, 0xFE00);
  EXPECT_TRUE(std::isnan(halfToFloat(nan)));
  EXPECT_TRUE(std::isnan(halfToFloat(0x7C01)));

  EXPECT_EQ(halfToFloat(0x3C00), 1.0f);
  EXPECT_EQ(halfToFloat(0x7BFF), 65504.0f);
  EXPECT_EQ(halfToFloat(0x0001), 0x1p-24f);
  EXPECT_EQ(halfToFloat(0x03FF), 0x3FFp-24f);
  EXPECT_EQ(halfToFloat(0x7C00), std::numeric_limits<float>::infinity());
  EXPECT_EQ(halfToFloat(0xFC00), -std::numeric_limits<float>::infinity());
  EXPECT_TRUE(std::signbit(halfToFloat(0x8000)));
  EXPECT_EQ(halfToFloat(0x8000), 0.0f);
}

TEST(QuantHalfTest, ExhaustiveRoundTripAndTies) {
  for (uint32_t h = 0; h < 0x10000; ++h) {
    float f = halfToFloat(static_cast<uint16_t>(h));
    if (std::isnan(f)) {
      EXPECT_EQ(h & 0x7C00, 0x7C00u);
      continue;
    }
    ASSERT_EQ(floatToHalf(f), h) << std::hex << h;
  }
  // Every midpoint between consecutive finite halves of one sign (exact in
  // float) rounds to the even one; just above or below it rounds away from or
  // towards it.
  for (uint32_t h = 0; h < 0x7BFF; ++h) {
    float lo = halfToFloat(static_cast<uint16_t>(h));
    float hi = halfToFloat(static_cast<uint16_t>(h + 1));
    float mid = (lo + hi) / 2.0f;
    uint16_t even = static_cast<uint16_t>((h & 1) ? h + 1 : h);
    ASSERT_EQ(floatToHalf(mid), even) << std::hex << h;
    ASSERT_EQ(floatToHalf(-mid), even | 0x8000) << std::hex << h;
    ASSERT_EQ(floatToHalf(std::nextafter(mid, 0.0f)), h) << std::hex << h;
    ASSERT_EQ(floatToHalf(std::nextafter(mid, 1e9f)), h + 1) << std::hex << h;
  }
}

#if defined(__FLT16_MAX__) && !defined(__clang__)
// GCC's _Float16 conversion (libgcc or F16C) is an independent reference.
TEST(QuantHalfTest, MatchesCompilerFloat16) {
  std::mt19937 rng(7);
  for (int i = 0; i < 1000000; ++i) {
    float f = fromBits(static_cast<uint32_t>(rng()));
    if (std::isnan(f))
      continue;
    _Float16 h = static_cast<_Float16>(f);
    uint16_t expected;
    std::memcpy(&expected, &h, sizeof(expected));
    ASSERT_EQ(floatToHalf(f), expected) << std::hexfloat << f;
  }
}
#endif

TEST(QuantBFloat16Test, Values) {
  EXPECT_EQ(floatToBFloat16(1.0f), 0x3F80);
  EXPECT_EQ(floatToBFloat16(-2.0f), 0xC000);
  EXPECT_EQ(floatToBFloat16(0.0f), 0x0000);
  EXPECT_EQ(floatToBFloat16(-0.0f), 0x8000);
  // Ties to even: 1 + 2^-8 is halfway between 1 and 1 + 2^-7.
  EXPECT_EQ(floatToBFloat16(1.0f + 0x1p-8f), 0x3F80);
  EXPECT_EQ(floatToBFloat16(1.0f + 3 * 0x1p-8f), 0x3F82);
  EXPECT_EQ(floatToBFloat16(1.0f + 0x1p-8f + 0x1p-20f), 0x3F81);
  EXPECT_EQ(floatToBFloat16(2.0f - 0x1p-9f), 0x4000);
  // Subnormals round like the rest.
  EXPECT_EQ(floatToBFloat16(fromBits(0x00008000u)), 0x0000);
  EXPECT_EQ(floatToBFloat16(fromBits(0x00018000u)), 0x0002);
  EXPECT_EQ(floatToBFloat16(fromBits(0x00008001u)), 0x0001);
  // Overflow to infinity.
  EXPECT_EQ(floatToBFloat16(std::numeric_limits<float>::max()), 0x7F80);
  EXPECT_EQ(floatToBFloat16(-std::numeric_limits<float>::max()), 0xFF80);
  EXPECT_EQ(floatToBFloat16(std::numeric_limits<float>::infinity()), 0x7F80);
  // NaN stays a quiet NaN (a signalling NaN would truncate to infinity).
  EXPECT_EQ(floatToBFloat16(fromBits(0x7F800001u)), 0x7FC0);
  EXPECT_EQ(floatToBFloat16(fromBits(0xFFC00000u)), 0xFFC0);
  EXPECT_TRUE(std::isnan(bfloat16ToFloat(
      floatToBFloat16(std::numeric_limits<float>::quiet_NaN()))));
  EXPECT_EQ(bfloat16ToFloat(0x3F80), 1.0f);
  EXPECT_EQ(bfloat16ToFloat(0x4049), 3.140625f);
  for (uint32_t b = 0; b < 0x10000; ++b) {
    float f = bfloat16ToFloat(static_cast<uint16_t>(b));
    if (!std::isnan(f)) {
      ASSERT_EQ(floatToBFloat16(f), b) << std::hex << b;
    }
  }
}

//===----------------------------------------------------------------------===//
// Hand-derived encodings
//===----------------------------------------------------------------------===//

TEST(QuantEncodeTest, NF4NibbleOrder) {
  std::vector<float> w(64, 0.0f);
  w[0] = -1.0f;
  w[1] = 1.0f;
  QuantizedTensor t = quantize(w.data(), {64}, Format::NF4, 64, false);
  ASSERT_EQ(t.data.size(), 32u);
  EXPECT_EQ(t.data[0], 0x0F); // Code 0 in the high nibble, 15 in the low.
  for (size_t i = 1; i < t.data.size(); ++i)
    EXPECT_EQ(t.data[i], 0x77) << i; // 0 is code 7.
  ASSERT_EQ(t.absmax.size(), 1u);
  EXPECT_EQ(t.absmax[0], 1.0f);

  // Odd n: the last byte's low nibble is 0.
  std::vector<float> odd = {0.5f, -0.25f, 2.0f};
  QuantizedTensor o = quantize(odd.data(), {3}, Format::NF4, 32, false);
  ASSERT_EQ(o.data.size(), 2u);
  EXPECT_EQ(o.data[1], 0xF0); // 2.0 / 2.0 = 1 is code 15, then padding.
  EXPECT_EQ(o.numBlocks(), 1);
}

TEST(QuantEncodeTest, NF4Vector) {
  // absmax = 2; w / absmax = 0.25, -0.125, 1, 0.05. Nearest NF4 entries:
  // 0.25 -> 0.2461 (10, not 0.3379); -0.125 -> -0.0911 (6, not -0.1848);
  // 1 -> 15; 0.05 -> 0.0796 (8, 0.0296 away, not 0 at 0.05).
  std::vector<float> w = {0.5f, -0.25f, 2.0f, 0.1f};
  QuantizedTensor t = quantize(w.data(), {2, 2}, Format::NF4, 32, false);
  EXPECT_EQ(t.numElements(), 4);
  EXPECT_EQ(t.numBlocks(), 1);
  ASSERT_EQ(t.data.size(), 2u);
  EXPECT_EQ(t.data[0], 0xA6);
  EXPECT_EQ(t.data[1], 0xF8);
  EXPECT_EQ(t.absmax, std::vector<float>{2.0f});
  std::vector<float> out = dequantized(t);
  EXPECT_EQ(out[0], 0.24611230194568634f * 2.0f);
  EXPECT_EQ(out[1], -0.09105003625154495f * 2.0f);
  EXPECT_EQ(out[2], 2.0f);
  EXPECT_EQ(out[3], 0.07958029955625534f * 2.0f);
  EXPECT_EQ(t.storageBytes(), 2 + 4);
}

TEST(QuantEncodeTest, FP4Vector) {
  // absmax = 12; w / absmax = 1, -0.5, 0.25, 1/12. FP4 codes: 1 is code 3,
  // -0.5 is -6/12 (code 13), 0.25 is 3/12 (code 7); 1/12 is 0.078 from
  // 0.0625/12 (code 1) and 0.083 from 0 and from 2/12, so code 1.
  std::vector<float> w = {12.0f, -6.0f, 3.0f, 1.0f, 0.0f};
  QuantizedTensor t = quantize(w.data(), {5}, Format::FP4, 32, false);
  ASSERT_EQ(t.data.size(), 3u);
  EXPECT_EQ(t.data[0], 0x3D);
  EXPECT_EQ(t.data[1], 0x71);
  EXPECT_EQ(t.data[2], 0x00); // 0 is code 0 (+0 before -0), then padding.
  std::vector<float> out = dequantized(t);
  EXPECT_EQ(out[0], 12.0f);
  EXPECT_EQ(out[1], -6.0f);
  EXPECT_EQ(out[2], 3.0f);
  EXPECT_EQ(out[3], (0.0625f / 12.0f) * 12.0f);
  EXPECT_EQ(out[4], 0.0f);
}

TEST(QuantEncodeTest, Int4Vector) {
  // m = 2: q = round-half-even(((w + 2) / 4) * 15):
  // -2 -> 0; -1 -> 3.75 -> 4; 0 -> 7.5 -> 8 (tie to even); 1.5 -> 13.125 ->
  // 13. Low nibble first: bytes 0x40, 0xD8.
  std::vector<float> w = {-2.0f, -1.0f, 0.0f, 1.5f};
  QuantizedTensor t = quantize(w.data(), {4}, Format::Int4, 4, false);
  ASSERT_EQ(t.data.size(), 2u);
  EXPECT_EQ(t.data[0], 0x40);
  EXPECT_EQ(t.data[1], 0xD8);
  ASSERT_EQ(t.absmaxF16.size(), 1u);
  EXPECT_EQ(t.absmaxF16[0], 0x4000); // 2.0 in binary16.
  EXPECT_TRUE(t.absmax.empty());
  // w = q * 4 / 15 - 2: -2, -14/15, 2/15, 22/15.
  std::vector<float> out = dequantized(t);
  EXPECT_EQ(out[0], -2.0f);
  EXPECT_NEAR(out[1], -14.0 / 15, 1e-6);
  EXPECT_NEAR(out[2], 2.0 / 15, 1e-6);
  EXPECT_NEAR(out[3], 22.0 / 15, 1e-6);
  EXPECT_EQ(t.storageBytes(), 2 + 2);
}

TEST(QuantEncodeTest, Int4TiesToEven) {
  // m = 3: -2 -> (1/6) * 15 = 2.5 -> 2 and 2 -> (5/6) * 15 = 12.5 -> 12, both
  // exact ties in float that round to even (not away from zero); 3 -> 15 and
  // -3 -> 0. Bytes: 15 | 2 << 4 = 0x2F, 12 | 0 << 4 = 0x0C.
  std::vector<float> w = {3.0f, -2.0f, 2.0f, -3.0f};
  QuantizedTensor t = quantize(w.data(), {4}, Format::Int4, 4, false);
  ASSERT_EQ(t.data.size(), 2u);
  EXPECT_EQ(t.data[0], 0x2F);
  EXPECT_EQ(t.data[1], 0x0C);
  // w = q * 6 / 15 - 3: 3, -2.2, 1.8, -3.
  std::vector<float> out = dequantized(t);
  EXPECT_EQ(out[0], 3.0f);
  EXPECT_NEAR(out[1], -2.2, 1e-6);
  EXPECT_NEAR(out[2], 1.8, 1e-6);
  EXPECT_EQ(out[3], -3.0f);
}

TEST(QuantEncodeTest, Int4NibbleOrderAndBlocks) {
  // Two blocks of 2 and a partial block of 1 (n odd): m = 1, 3, 0.5.
  // Block 0: -1 -> 0, 1 -> 15. Block 1: 3 -> 15, 0 -> 7.5 -> 8.
  // Block 2: -0.5 -> 0. Bytes: 0xF0, 0x8F, 0x00.
  std::vector<float> w = {-1.0f, 1.0f, 3.0f, 0.0f, -0.5f};
  QuantizedTensor t = quantize(w.data(), {5}, Format::Int4, 2, false);
  EXPECT_EQ(t.numBlocks(), 3);
  ASSERT_EQ(t.data.size(), 3u);
  EXPECT_EQ(t.data[0], 0xF0);
  EXPECT_EQ(t.data[1], 0x8F);
  EXPECT_EQ(t.data[2], 0x00);
  ASSERT_EQ(t.absmaxF16.size(), 3u);
  EXPECT_EQ(t.absmaxF16[0], 0x3C00);
  EXPECT_EQ(t.absmaxF16[1], 0x4200);
  EXPECT_EQ(t.absmaxF16[2], 0x3800);
  std::vector<float> out = dequantized(t);
  EXPECT_EQ(out[0], -1.0f);
  EXPECT_EQ(out[1], 1.0f);
  EXPECT_EQ(out[2], 3.0f);
  EXPECT_EQ(out[3], ((8.0f / 15.0f) * 2.0f) * 3.0f - 3.0f);
  EXPECT_NEAR(out[3], 0.2, 1e-6);
  EXPECT_EQ(out[4], -0.5f);
}

TEST(QuantEncodeTest, Int8Rows) {
  // Row 0: a = 4, 127/4 = 31.75: 1 -> 31.75 -> 32; -2 -> -63.5 -> -64 (tie to
  // even); 0.5 -> 15.875 -> 16; 4 -> 127.
  // Row 1: all zero -> a = 0, q = 0.
  // Row 2: a = 15; 127/15 rounds down in float, so 7.5 * (127/15) is just
  // below 63.5 and rounds to 63 (not 64, as (7.5 * 127) / 15 = 63.5 would).
  // Row 3: a = 127, the scale is 1: ties 62.5 -> 62, -0.5 -> 0, 1.5 -> 2.
  std::vector<float> w = {1.0f, -2.0f, 0.5f,  4.0f, 0.0f,  0.0f,  0.0f, 0.0f,
                          15.f, 7.5f,  -7.5f, 0.0f, 62.5f, -0.5f, 1.5f, 127.0f};
  QuantizedTensor t = quantize(w.data(), {4, 4}, Format::Int8, 0, false);
  EXPECT_EQ(t.rows(), 4);
  EXPECT_EQ(t.numBlocks(), 0);
  EXPECT_EQ(t.absmax, (std::vector<float>{4.0f, 0.0f, 15.0f, 127.0f}));
  ASSERT_EQ(t.data.size(), 16u);
  const int8_t expected[16] = {32,  -64, 16,  127, 0,  0, 0, 0,
                               127, 63,  -63, 0,   62, 0, 2, 127};
  for (int i = 0; i < 16; ++i)
    EXPECT_EQ(static_cast<int8_t>(t.data[i]), expected[i]) << i;
  std::vector<float> out = dequantized(t);
  EXPECT_NEAR(out[0], 128.0 / 127, 1e-7);
  EXPECT_NEAR(out[1], -256.0 / 127, 1e-7);
  EXPECT_NEAR(out[2], 64.0 / 127, 1e-7);
  EXPECT_EQ(out[3], 4.0f);
  EXPECT_EQ(out[4], 0.0f);
  EXPECT_EQ(out[8], 15.0f);
  EXPECT_NEAR(out[9], 945.0 / 127, 1e-6);
  EXPECT_EQ(out[9], (63.0f * 15.0f) / 127.0f);
  EXPECT_EQ(out[12], 62.0f);
  EXPECT_EQ(out[13], 0.0f);
  EXPECT_EQ(t.storageBytes(), 16 + 4 * 4);
}

TEST(QuantEncodeTest, ZeroBlocks) {
  std::vector<float> w(64, 0.0f);
  QuantizedTensor nf4 = quantize(w.data(), {64}, Format::NF4, 32, false);
  for (uint8_t byte : nf4.data)
    EXPECT_EQ(byte, 0x77);
  QuantizedTensor fp4 = quantize(w.data(), {64}, Format::FP4, 32, false);
  for (uint8_t byte : fp4.data)
    EXPECT_EQ(byte, 0x00);
  QuantizedTensor int4 = quantize(w.data(), {64}, Format::Int4, 16, false);
  for (uint8_t byte : int4.data)
    EXPECT_EQ(byte, 0x00);
  for (const QuantizedTensor *t : {&nf4, &fp4, &int4})
    for (float x : dequantized(*t))
      EXPECT_EQ(x, 0.0f);
}

TEST(QuantEncodeTest, PartialLastBlock) {
  // n = 100, block 64: the second block's scale is over its 36 elements.
  std::vector<float> w(100, 0.25f);
  w[10] = -8.0f;
  w[70] = 0.5f;
  QuantizedTensor t = quantize(w.data(), {10, 10}, Format::NF4, 64, false);
  EXPECT_EQ(t.numBlocks(), 2);
  EXPECT_EQ(t.absmax, (std::vector<float>{8.0f, 0.5f}));
  std::vector<float> out = dequantized(t);
  EXPECT_EQ(out[70], 0.5f);
  // 0.25 / 0.5 = 0.5 is nearest to 0.4407 (code 12), not 0.5626.
  EXPECT_EQ(out[99], 0.44070982933044434f * 0.5f);
}

TEST(QuantEncodeTest, FloatFormats) {
  std::vector<float> w = {1.0f, -2.5f, 1.0f + 0x1p-11f, 3.0e-8f};
  QuantizedTensor f32 = quantize(w.data(), {4}, Format::F32, 0, false);
  ASSERT_EQ(f32.data.size(), 16u);
  // 1.0f = 0x3F800000, little endian.
  EXPECT_EQ(f32.data[0], 0x00);
  EXPECT_EQ(f32.data[1], 0x00);
  EXPECT_EQ(f32.data[2], 0x80);
  EXPECT_EQ(f32.data[3], 0x3F);
  EXPECT_EQ(dequantized(f32), w);

  QuantizedTensor f16 = quantize(w.data(), {2, 2}, Format::F16, 0, false);
  ASSERT_EQ(f16.data.size(), 8u);
  EXPECT_EQ(f16.data[0], 0x00); // 0x3C00, little endian.
  EXPECT_EQ(f16.data[1], 0x3C);
  EXPECT_EQ(f16.data[2], 0x00); // -2.5 = 0xC100.
  EXPECT_EQ(f16.data[3], 0xC1);
  std::vector<float> out = dequantized(f16);
  EXPECT_EQ(out[1], -2.5f);
  EXPECT_EQ(out[2], 1.0f);     // Tie to even.
  EXPECT_EQ(out[3], 0x1p-24f); // 3e-8 is 0.503 units of 2^-24.
  EXPECT_EQ(f16.storageBytes(), 8);

  QuantizedTensor bf16 = quantize(w.data(), {4}, Format::BF16, 0, false);
  ASSERT_EQ(bf16.data.size(), 8u);
  EXPECT_EQ(bf16.data[0], 0x80); // 0x3F80, little endian.
  EXPECT_EQ(bf16.data[1], 0x3F);
  EXPECT_EQ(dequantized(bf16)[1], -2.5f);
}

//===----------------------------------------------------------------------===//
// Double quantization
//===----------------------------------------------------------------------===//

TEST(QuantDoubleQuantTest, HandVector) {
  // Three blocks of 32 with absmax 1, 2, 3: offset 2, centered -1, 0, 1,
  // nested absmax 1, codes: -1 -> map[0] = -0.99296875, 0 -> map[127] = 0,
  // 1 -> map[255] = 1. Decoded: 1.00703125, 2, 3.
  std::vector<float> w(96, 0.0f);
  w[0] = 1.0f;
  w[32] = -2.0f;
  w[64] = 3.0f;
  w[65] = 1.5f;
  QuantizedTensor t = quantize(w.data(), {3, 32}, Format::NF4, 32, true);
  EXPECT_TRUE(t.absmax.empty());
  EXPECT_EQ(t.nestedOffset, 2.0f);
  EXPECT_EQ(t.nestedAbsmax, std::vector<float>{1.0f});
  EXPECT_EQ(t.absmaxCodes, (std::vector<uint8_t>{0, 127, 255}));
  std::vector<float> scales = decodedAbsmax(t);
  ASSERT_EQ(scales.size(), 3u);
  EXPECT_NEAR(scales[0], 1.00703125, 1e-6);
  EXPECT_EQ(scales[1], 2.0f);
  EXPECT_EQ(scales[2], 3.0f);
  // Codes were chosen with the true absmax: w[0] / 1 = 1 is code 15 and
  // dequantizes to the decoded scale; 1.5 / 3 = 0.5 is code 12 (0.4407, 0.0593
  // away, not 0.5626, 0.0626 away).
  std::vector<float> out = dequantized(t);
  EXPECT_EQ(out[0], scales[0]);
  EXPECT_EQ(out[32], -2.0f);
  EXPECT_EQ(out[65], 0.44070982933044434f * 3.0f);
  EXPECT_EQ(t.data[0] >> 4, 15);
  EXPECT_EQ(t.storageBytes(), 48 + 3 + 4 + 4);
}

TEST(QuantDoubleQuantTest, RoundTripAndSizes) {
  const int64_t rows = 1024, cols = 1024, n = rows * cols;
  std::vector<float> w = gaussian(n, 1);
  for (Format format : {Format::NF4, Format::FP4}) {
    QuantizedTensor plain = quantize(w.data(), {rows, cols}, format, 64, false);
    QuantizedTensor dq = quantize(w.data(), {rows, cols}, format, 64, true);
    EXPECT_EQ(plain.storageBytes(), 524288 + 16384 * 4);
    EXPECT_EQ(dq.storageBytes(), 524288 + 16384 + 64 * 4 + 4);
    EXPECT_EQ(dq.absmaxCodes.size(), 16384u);
    EXPECT_EQ(dq.nestedAbsmax.size(), 64u);
    EXPECT_NEAR(8.0 * dq.storageBytes() / n, 4.127, 1e-3);
    // The codes are those of the plain encoding (true absmax).
    EXPECT_EQ(dq.data, plain.data);

    double sum = 0.0;
    for (float a : plain.absmax)
      sum += a;
    EXPECT_EQ(dq.nestedOffset, static_cast<float>(sum / 16384));

    // Each decoded scale is within half the widest gap of the dynamic map
    // (0.9/128), times its nested absmax, of the true one.
    std::vector<float> scales = decodedAbsmax(dq);
    const float halfGap = largestGap(dynamicMap().data(), 256) / 2.0f;
    double maxRel = 0.0;
    for (int64_t b = 0; b < 16384; ++b) {
      float nested = dq.nestedAbsmax[b / kNestedBlockSize];
      float bound = halfGap * nested * 1.0001f + 1e-6f * dq.nestedOffset;
      ASSERT_LE(std::fabs(scales[b] - plain.absmax[b]), bound) << b;
      maxRel = std::max(
          maxRel, std::fabs(static_cast<double>(scales[b]) - plain.absmax[b]) /
                      plain.absmax[b]);
    }
    // Relative to the scale: 0.0070 * nested / absmax, where the centered
    // scales of Gaussian blocks of 64 stay well within the scales themselves.
    EXPECT_LT(maxRel, 0.02);
    std::printf("[ figures  ] %s+DQ block 64: max relative scale error %.3g\n",
                formatName(format), maxRel);
  }
}

TEST(QuantDoubleQuantTest, ConstantScales) {
  // All blocks with the same absmax: centered scales are 0, the nested absmax
  // is 0, every code is the 0 of the map, and the decoded scale is the offset.
  std::vector<float> w(32 * 300, 0.5f);
  QuantizedTensor t = quantize(w.data(), {300, 32}, Format::FP4, 32, true);
  EXPECT_EQ(t.nestedAbsmax, (std::vector<float>{0.0f, 0.0f}));
  for (uint8_t c : t.absmaxCodes)
    EXPECT_EQ(c, 127);
  for (float s : decodedAbsmax(t))
    EXPECT_EQ(s, 0.5f);
  for (float x : dequantized(t))
    EXPECT_EQ(x, 0.5f);
}

//===----------------------------------------------------------------------===//
// Error bounds on Gaussian weights
//===----------------------------------------------------------------------===//

class QuantErrorTest : public ::testing::Test {
protected:
  static constexpr int64_t kRows = 1024, kCols = 1024, kN = kRows * kCols;
  static void SetUpTestSuite() {
    weights = new std::vector<float>(gaussian(kN, 42));
  }
  static void TearDownTestSuite() {
    delete weights;
    weights = nullptr;
  }
  static std::vector<float> *weights;

  struct Figures {
    double maxError = 0.0, meanError = 0.0;
  };
  static Figures measure(const std::vector<float> &w,
                         const std::vector<float> &out) {
    Figures f;
    for (int64_t i = 0; i < kN; ++i) {
      double e = std::fabs(static_cast<double>(w[i]) - out[i]);
      f.maxError = std::max(f.maxError, e);
      f.meanError += e;
    }
    f.meanError /= kN;
    return f;
  }
  static void report(const char *name, const Figures &f, double bound) {
    std::printf("[ figures  ] %-16s max abs error %.4g, mean abs error %.4g "
                "(bound %.4g)\n",
                name, f.maxError, f.meanError, bound);
  }

  /// Checks nf4 or fp4: per element, the error is at most half the widest gap
  /// of the table times the block's scale (plus, with double quantization,
  /// the scale's own error); the mean error is at most the uniform-cell
  /// prediction (see below) plus the mean scale error.
  static void checkTable(Format format, bool doubleQuant) {
    const std::vector<float> &w = *weights;
    QuantizedTensor t =
        quantize(w.data(), {kRows, kCols}, format, 64, doubleQuant);
    QuantizedTensor plain =
        quantize(w.data(), {kRows, kCols}, format, 64, false);
    std::vector<float> out = dequantized(t);
    std::vector<float> scales = decodedAbsmax(t);
    const float *table =
        format == Format::NF4 ? nf4Table().data() : fp4Table().data();
    const float halfGap = largestGap(table, 16) / 2.0f;
    double predicted = 0.0, scaleError = 0.0;
    for (int64_t i = 0; i < kN; ++i) {
      float s = plain.absmax[i / 64];
      float ds = std::fabs(scales[i / 64] - s);
      float bound = halfGap * s + ds + 1e-6f * s;
      ASSERT_LE(std::fabs(w[i] - out[i]), bound) << i;
      // If x = w/s falls uniformly within its cell [t_k, t_k+1] (the density
      // of a Gaussian is nearly linear across a cell, and a linear term
      // cancels because the error is symmetric about the cell's midpoint),
      // the expected error is a quarter of the cell's width times s. The
      // element at the absmax has no error, so the measured mean is below.
      predicted += localGap(table, 16, w[i] / s) * s / 4.0;
      scaleError += ds;
    }
    predicted /= kN;
    scaleError /= kN;
    Figures f = measure(w, out);
    std::string name = std::string(formatName(format)) +
                       (doubleQuant ? "+DQ" : "") + " block 64";
    double meanBound = predicted + scaleError;
    report(name.c_str(), f, meanBound);
    EXPECT_LE(f.meanError, meanBound);
    // Sanity: the error is not much below the prediction either.
    EXPECT_GE(f.meanError, 0.8 * predicted);
  }
};

std::vector<float> *QuantErrorTest::weights = nullptr;

TEST_F(QuantErrorTest, NF4) { checkTable(Format::NF4, false); }
TEST_F(QuantErrorTest, NF4DoubleQuant) { checkTable(Format::NF4, true); }
TEST_F(QuantErrorTest, FP4) { checkTable(Format::FP4, false); }
TEST_F(QuantErrorTest, FP4DoubleQuant) { checkTable(Format::FP4, true); }

TEST_F(QuantErrorTest, Int4) {
  const std::vector<float> &w = *weights;
  QuantizedTensor t =
      quantize(w.data(), {kRows, kCols}, Format::Int4, 16, false);
  EXPECT_EQ(t.storageBytes(), 524288 + 65536 * 2);
  std::vector<float> out = dequantized(t);
  // The step is 2m/15, so rounding errs by at most m/15; the scale is stored
  // in f16 (relative error <= 2^-11), which moves a value of magnitude <= m
  // by at most m * 2^-11. Uniform within a step, the mean error is m/30.
  double predicted = 0.0;
  for (int64_t b = 0; b < kN / 16; ++b) {
    float m = 0.0f;
    for (int64_t i = b * 16; i < (b + 1) * 16; ++i)
      m = std::max(m, std::fabs(w[i]));
    float bound = m / 15.0f + m * 0x1p-11f + 1e-6f * m;
    for (int64_t i = b * 16; i < (b + 1) * 16; ++i)
      ASSERT_LE(std::fabs(w[i] - out[i]), bound) << i;
    predicted += 16.0 * m / 30.0;
  }
  predicted /= kN;
  Figures f = measure(w, out);
  report("int4 block 16", f, predicted);
  EXPECT_LE(f.meanError, predicted);
  EXPECT_GE(f.meanError, 0.8 * predicted);
}

TEST_F(QuantErrorTest, Int8) {
  const std::vector<float> &w = *weights;
  QuantizedTensor t =
      quantize(w.data(), {kRows, kCols}, Format::Int8, 0, false);
  EXPECT_EQ(t.storageBytes(), 1048576 + 1024 * 4);
  std::vector<float> out = dequantized(t);
  // The step is a/127: at most a/254 off, a/508 on average.
  double predicted = 0.0;
  for (int64_t r = 0; r < kRows; ++r) {
    float a = t.absmax[r];
    for (int64_t i = r * kCols; i < (r + 1) * kCols; ++i)
      ASSERT_LE(std::fabs(w[i] - out[i]), a / 254.0f + 1e-6f * a) << i;
    predicted += kCols * a / 508.0;
  }
  predicted /= kN;
  Figures f = measure(w, out);
  report("int8 per row", f, predicted);
  EXPECT_LE(f.meanError, 1.02 * predicted);
  EXPECT_GE(f.meanError, 0.9 * predicted);
}

TEST_F(QuantErrorTest, HalfAndBFloat16) {
  const std::vector<float> &w = *weights;
  for (Format format : {Format::F16, Format::BF16}) {
    QuantizedTensor t = quantize(w.data(), {kRows, kCols}, format, 0, false);
    EXPECT_EQ(t.storageBytes(), 2 * kN);
    std::vector<float> out = dequantized(t);
    // Rounding to nearest with p significant bits errs by at most half an
    // ulp, |w| * 2^-p; f16 subnormals (|w| < 2^-14) by at most 2^-25. On
    // average a quarter of the ulp.
    int bits = format == Format::F16 ? 11 : 8;
    double predicted = 0.0;
    for (int64_t i = 0; i < kN; ++i) {
      float bound = std::ldexp(std::fabs(w[i]), -bits);
      if (format == Format::F16)
        bound = std::max(bound, 0x1p-25f);
      ASSERT_LE(std::fabs(w[i] - out[i]), bound) << i;
      int exponent;
      std::frexp(w[i], &exponent); // |w| in [2^(e-1), 2^e).
      if (format == Format::F16)
        exponent = std::max(exponent, -13);
      predicted += std::ldexp(1.0, exponent - bits) / 4.0;
    }
    predicted /= kN;
    Figures f = measure(w, out);
    report(formatName(format), f, 1.05 * predicted);
    EXPECT_LE(f.meanError, 1.05 * predicted);
    EXPECT_GE(f.meanError, 0.95 * predicted);
  }
}

TEST_F(QuantErrorTest, F32IsExact) {
  const std::vector<float> &w = *weights;
  QuantizedTensor t = quantize(w.data(), {kRows, kCols}, Format::F32, 0, false);
  EXPECT_EQ(t.storageBytes(), 4 * kN);
  EXPECT_EQ(dequantized(t), w);
}

TEST(QuantTensorTest, Shapes) {
  float scalar = -3.0f;
  QuantizedTensor t = quantize(&scalar, {}, Format::Int8, 0, false);
  EXPECT_EQ(t.numElements(), 1);
  EXPECT_EQ(t.rows(), 1);
  EXPECT_EQ(static_cast<int8_t>(t.data[0]), -127);
  EXPECT_EQ(dequantized(t)[0], -3.0f);
  std::vector<float> w(6, 1.0f);
  QuantizedTensor u = quantize(w.data(), {2, 3}, Format::NF4, 32, false);
  EXPECT_EQ(u.shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(u.blockSize, 32);
  EXPECT_EQ(u.numBlocks(), 1);
  EXPECT_EQ(u.rows(), 2);
  QuantizedTensor v = quantize(w.data(), {2, 3}, Format::BF16, 0, false);
  EXPECT_EQ(v.numBlocks(), 0);
  EXPECT_EQ(v.blockSize, 0);
}

} // namespace
