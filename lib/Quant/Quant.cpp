//===- Quant.cpp - Weight quantization formats ----------------------------===//
//
// Part of the lowmem project.
//
//===----------------------------------------------------------------------===//
///
/// \file
/// Implements the weight formats declared in lowmem/Quant/Quant.h. Every
/// result is defined by float32 arithmetic in a fixed order; fused
/// multiply-adds would change the bits, so contraction is turned off for this
/// file.
///
//===----------------------------------------------------------------------===//

#include "lowmem/Quant/Quant.h"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <cstring>
#include <system_error>
#include <thread>

#if defined(__clang__)
#pragma clang fp contract(off)
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

using namespace lowmem;
using namespace lowmem::quant;

namespace {

uint32_t floatBits(float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, sizeof(bits));
  return bits;
}

float bitsToFloat(uint32_t bits) {
  float value;
  std::memcpy(&value, &bits, sizeof(value));
  return value;
}

/// Returns the maximum of |w[i]| over [begin, end) (NaNs are skipped).
float maxAbs(const float *w, int64_t begin, int64_t end) {
  float m = 0.0f;
  for (int64_t i = begin; i < end; ++i)
    m = std::max(m, std::fabs(w[i]));
  return m;
}

/// Rounds half to even under the default rounding mode.
float roundHalfEven(float x) { return std::nearbyint(x); }

/// Returns the code book of a 4-bit table format (nf4 or fp4).
const std::array<float, 16> &tableOf(Format format) {
  return format == Format::FP4 ? fp4Table() : nf4Table();
}

/// Writes the 4-bit code \p q of element \p i, the first element of a pair in
/// the high nibble when \p highFirst, else in the low nibble.
void putNibble(std::vector<uint8_t> &data, int64_t i, uint8_t q,
               bool highFirst) {
  bool high = (i % 2 == 0) == highFirst;
  data[i / 2] |= high ? static_cast<uint8_t>(q << 4) : q;
}

/// Reads the 4-bit code of element \p i (see putNibble()).
uint8_t getNibble(const std::vector<uint8_t> &data, int64_t i, bool highFirst) {
  bool high = (i % 2 == 0) == highFirst;
  return high ? data[i / 2] >> 4 : data[i / 2] & 0xF;
}

/// Returns the number of columns of an int8 tensor.
int64_t colsOf(const QuantizedTensor &t) {
  int64_t rows = t.rows();
  return rows > 0 ? t.numElements() / rows : 0;
}

/// Calls \p fn(begin, end) on contiguous ranges covering [0, \p count): on
/// up to one thread per core when there are at least two \p grain's worth of
/// items, else on the calling thread. Callers write disjoint outputs per
/// item, so the result does not depend on the split; a thread that cannot be
/// started leaves its range to the calling thread.
template <typename Fn> void forRanges(int64_t count, int64_t grain, Fn fn) {
  int64_t cores = std::max(1u, std::thread::hardware_concurrency());
  int64_t parts = std::min(cores, count / std::max<int64_t>(grain, 1));
  if (parts <= 1) {
    fn(int64_t(0), count);
    return;
  }
  int64_t per = (count + parts - 1) / parts;
  std::vector<std::thread> workers;
  std::vector<std::pair<int64_t, int64_t>> leftover;
  for (int64_t begin = per; begin < count; begin += per) {
    int64_t end = std::min(begin + per, count);
    try {
      workers.emplace_back(fn, begin, end);
    } catch (const std::system_error &) {
      leftover.emplace_back(begin, end);
    }
  }
  fn(int64_t(0), std::min(per, count));
  for (auto [begin, end] : leftover)
    fn(begin, end);
  for (std::thread &worker : workers)
    worker.join();
}

/// Items per thread below which quantization stays on one thread: starting a
/// thread costs about as much as encoding this many weights.
constexpr int64_t kGrainElements = 1 << 16;

/// Calls \p fn(b, begin, end, absmax) for every block b = [begin, end) of a
/// block format's \p n weights, absmax being max |w| over it; blocks are
/// spread over threads (forRanges).
template <typename Fn>
void forBlocks(const QuantizedTensor &t, const float *w, int64_t n, Fn fn) {
  forRanges(t.numBlocks(), kGrainElements / t.blockSize,
            [&](int64_t first, int64_t last) {
              for (int64_t b = first; b < last; ++b) {
                int64_t begin = b * t.blockSize;
                int64_t end = std::min(begin + t.blockSize, n);
                fn(b, begin, end, maxAbs(w, begin, end));
              }
            });
}

} // namespace

//===----------------------------------------------------------------------===//
// Formats and options
//===----------------------------------------------------------------------===//

std::optional<Format> quant::parseFormat(std::string_view name) {
  for (Format format : {Format::F32, Format::F16, Format::BF16, Format::Int4,
                        Format::NF4, Format::FP4, Format::Int8})
    if (name == formatName(format))
      return format;
  return std::nullopt;
}

const char *quant::formatName(Format format) {
  switch (format) {
  case Format::F32:
    return "f32";
  case Format::F16:
    return "f16";
  case Format::BF16:
    return "bf16";
  case Format::Int4:
    return "int4";
  case Format::NF4:
    return "nf4";
  case Format::FP4:
    return "fp4";
  case Format::Int8:
    return "int8";
  }
  return "unknown";
}

bool quant::isBlockFormat(Format format) {
  return format == Format::Int4 || format == Format::NF4 ||
         format == Format::FP4;
}

bool quant::isFourBit(Format format) { return isBlockFormat(format); }

int64_t quant::defaultBlockSize(Format format) {
  switch (format) {
  case Format::Int4:
    return 16;
  case Format::NF4:
  case Format::FP4:
    return 64;
  default:
    return 0;
  }
}

std::string quant::checkOptions(Format format, int64_t blockSize,
                                bool doubleQuant) {
  std::string prefix = "block size " + std::to_string(blockSize) + " for " +
                       formatName(format) + " must be ";
  switch (format) {
  case Format::NF4:
  case Format::FP4:
    if (blockSize < 32 || blockSize > 4096 || (blockSize & (blockSize - 1)))
      return prefix + "a power of two in [32, 4096]";
    break;
  case Format::Int4:
    if (blockSize < 2 || blockSize > 4096 || blockSize % 2 != 0)
      return prefix + "even and in [2, 4096]";
    break;
  default:
    if (blockSize != 0)
      return prefix + "0 (" + formatName(format) + " is not a block format)";
    break;
  }
  if (doubleQuant && format != Format::NF4 && format != Format::FP4)
    return std::string("double quantization applies only to nf4 and fp4, "
                       "not ") +
           formatName(format);
  return "";
}

//===----------------------------------------------------------------------===//
// Code books
//===----------------------------------------------------------------------===//

const std::array<float, 16> &quant::nf4Table() {
  static const std::array<float, 16> table = {-1.0f,
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
  return table;
}

const std::array<float, 16> &quant::fp4Table() {
  static const std::array<float, 16> table = [] {
    const float values[16] = {0.0f,  0.0625f, 8.0f,  12.0f,    4.0f,  6.0f,
                              2.0f,  3.0f,    -0.0f, -0.0625f, -8.0f, -12.0f,
                              -4.0f, -6.0f,   -2.0f, -3.0f};
    std::array<float, 16> result;
    for (int i = 0; i < 16; ++i)
      result[i] = values[i] / 12.0f;
    return result;
  }();
  return table;
}

const std::array<float, 256> &quant::dynamicMap() {
  static const std::array<float, 256> map = [] {
    // bitsandbytes' create_dynamic_map(signed=True, max_exponent_bits=7,
    // total_bits=8): 2^i fraction values for each exponent i in [0, 7), both
    // signs, plus 0 and 1; no additional items for these parameters.
    // 10^(i - 6) as doubles (Python floats), rounded to float like numpy and
    // torch do when they multiply a float32 array by a Python float.
    const double kPowersOfTen[7] = {1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0};
    std::vector<float> data;
    for (int i = 0; i < 7; ++i) {
      int count = (1 << i) + 1;
      // linspace(0.1, 1, count) evaluated like numpy: k * step + start in
      // double, the last point exactly 1, then rounded to float.
      double step = (1.0 - 0.1) / static_cast<double>(count - 1);
      std::vector<float> boundaries(count);
      for (int k = 0; k < count; ++k)
        boundaries[k] = static_cast<float>(static_cast<double>(k) * step + 0.1);
      boundaries[count - 1] = 1.0f;
      float scale = static_cast<float>(kPowersOfTen[i]);
      std::vector<float> means(count - 1);
      for (int k = 0; k + 1 < count; ++k)
        means[k] = (boundaries[k] + boundaries[k + 1]) / 2.0f;
      for (float mean : means)
        data.push_back(scale * mean);
      for (float mean : means)
        data.push_back(-scale * mean);
    }
    data.push_back(0.0f);
    data.push_back(1.0f);
    assert(data.size() == 256 && "the dynamic map has 256 entries");
    std::sort(data.begin(), data.end());
    std::array<float, 256> result;
    std::copy(data.begin(), data.end(), result.begin());
    return result;
  }();
  return map;
}

//===----------------------------------------------------------------------===//
// Scalar conversions
//===----------------------------------------------------------------------===//

uint16_t quant::floatToHalf(float value) {
  uint32_t bits = floatBits(value);
  uint16_t sign = static_cast<uint16_t>((bits >> 16) & 0x8000u);
  uint32_t abs = bits & 0x7FFFFFFFu;
  if (abs > 0x7F800000u) // NaN: quiet, keep the top payload bits.
    return sign | 0x7E00u | static_cast<uint16_t>((abs >> 13) & 0x3FFu);
  if (abs >= 0x477FF000u) // >= 65520 rounds to infinity (so does infinity).
    return sign | 0x7C00u;
  if (abs >= 0x38800000u) { // >= 2^-14: a normal half.
    // Rebias the exponent from 127 to 15 and round the mantissa from 23 to 10
    // bits, to nearest even; a carry propagates into the exponent.
    uint32_t v = abs - (112u << 23);
    v += 0xFFFu + ((v >> 13) & 1u);
    return sign | static_cast<uint16_t>(v >> 13);
  }
  if (abs < 0x33000000u) // < 2^-25 rounds to zero.
    return sign;
  // A subnormal half, in units of 2^-24: mantissa * 2^(exponent - 126).
  uint32_t exponent = abs >> 23;
  uint32_t mantissa = (abs & 0x7FFFFFu) | 0x800000u;
  uint32_t shift = 126u - exponent; // In [14, 24].
  uint32_t q = mantissa >> shift;
  uint32_t rem = mantissa & ((1u << shift) - 1u);
  uint32_t half = 1u << (shift - 1u);
  if (rem > half || (rem == half && (q & 1u)))
    ++q;
  return sign | static_cast<uint16_t>(q);
}

float quant::halfToFloat(uint16_t bits) {
  uint32_t sign = static_cast<uint32_t>(bits & 0x8000u) << 16;
  uint32_t exponent = (bits >> 10) & 0x1Fu;
  uint32_t mantissa = bits & 0x3FFu;
  if (exponent == 0) {
    // Zero or subnormal: mantissa * 2^-24, exact in float.
    float magnitude = static_cast<float>(mantissa) * 0x1p-24f;
    return bitsToFloat(floatBits(magnitude) | sign);
  }
  if (exponent == 31)
    return bitsToFloat(sign | 0x7F800000u | (mantissa << 13));
  return bitsToFloat(sign | ((exponent + 112u) << 23) | (mantissa << 13));
}

uint16_t quant::floatToBFloat16(float value) {
  uint32_t bits = floatBits(value);
  if ((bits & 0x7FFFFFFFu) > 0x7F800000u) // NaN: quiet, keep the top bits.
    return static_cast<uint16_t>((bits >> 16) | 0x0040u);
  bits += 0x7FFFu + ((bits >> 16) & 1u);
  return static_cast<uint16_t>(bits >> 16);
}

float quant::bfloat16ToFloat(uint16_t bits) {
  return bitsToFloat(static_cast<uint32_t>(bits) << 16);
}

uint8_t quant::nearestCode(const float *table, int n, float x) {
  int best = 0;
  float bestDistance = std::fabs(table[0] - x);
  for (int i = 1; i < n; ++i) {
    float distance = std::fabs(table[i] - x);
    if (distance < bestDistance) {
      bestDistance = distance;
      best = i;
    }
  }
  return static_cast<uint8_t>(best);
}

//===----------------------------------------------------------------------===//
// QuantizedTensor
//===----------------------------------------------------------------------===//

int64_t QuantizedTensor::numElements() const {
  int64_t n = 1;
  for (int64_t dim : shape)
    n *= dim;
  return n;
}

int64_t QuantizedTensor::numBlocks() const {
  if (!isBlockFormat(format) || blockSize <= 0)
    return 0;
  return (numElements() + blockSize - 1) / blockSize;
}

int64_t QuantizedTensor::rows() const { return shape.empty() ? 1 : shape[0]; }

int64_t QuantizedTensor::storageBytes() const {
  int64_t bytes = static_cast<int64_t>(data.size());
  bytes += static_cast<int64_t>(absmax.size() * sizeof(float));
  bytes += static_cast<int64_t>(absmaxF16.size() * sizeof(uint16_t));
  bytes += static_cast<int64_t>(absmaxCodes.size());
  bytes += static_cast<int64_t>(nestedAbsmax.size() * sizeof(float));
  if (doubleQuant)
    bytes += static_cast<int64_t>(sizeof(float));
  return bytes;
}

//===----------------------------------------------------------------------===//
// Quantization
//===----------------------------------------------------------------------===//

namespace {

/// Quantizes the block scales of an nf4 or fp4 tensor (double quantization).
void doubleQuantize(QuantizedTensor &t) {
  const std::array<float, 256> &map = dynamicMap();
  int64_t numBlocks = static_cast<int64_t>(t.absmax.size());
  double sum = 0.0;
  for (float a : t.absmax)
    sum += static_cast<double>(a);
  t.nestedOffset =
      numBlocks > 0 ? static_cast<float>(sum / static_cast<double>(numBlocks))
                    : 0.0f;
  std::vector<float> centered(numBlocks);
  for (int64_t b = 0; b < numBlocks; ++b)
    centered[b] = t.absmax[b] - t.nestedOffset;

  int64_t numNested = (numBlocks + kNestedBlockSize - 1) / kNestedBlockSize;
  t.nestedAbsmax.assign(numNested, 0.0f);
  t.absmaxCodes.assign(numBlocks, 0);
  uint8_t zeroCode = nearestCode(map.data(), 256, 0.0f);
  forRanges(numNested, kGrainElements / kNestedBlockSize,
            [&](int64_t first, int64_t last) {
              for (int64_t j = first; j < last; ++j) {
                int64_t begin = j * kNestedBlockSize;
                int64_t end = std::min(begin + kNestedBlockSize, numBlocks);
                float nested = maxAbs(centered.data(), begin, end);
                t.nestedAbsmax[j] = nested;
                for (int64_t b = begin; b < end; ++b)
                  t.absmaxCodes[b] =
                      nested == 0.0f
                          ? zeroCode
                          : nearestCode(map.data(), 256, centered[b] / nested);
              }
            });
  t.absmax.clear();
}

void quantizeTable(QuantizedTensor &t, const float *w, int64_t n) {
  const float *table = tableOf(t.format).data();
  uint8_t zeroCode = nearestCode(table, 16, 0.0f);
  int64_t numBlocks = t.numBlocks();
  t.data.assign((n + 1) / 2, 0);
  t.absmax.assign(numBlocks, 0.0f);
  // Blocks are even-sized (checkOptions), so no byte is shared by two ranges.
  forBlocks(t, w, n, [&](int64_t b, int64_t begin, int64_t end, float absmax) {
    t.absmax[b] = absmax;
    for (int64_t i = begin; i < end; ++i) {
      uint8_t q =
          absmax == 0.0f ? zeroCode : nearestCode(table, 16, w[i] / absmax);
      putNibble(t.data, i, q, /*highFirst=*/true);
    }
  });
  if (t.doubleQuant)
    doubleQuantize(t);
}

void quantizeInt4(QuantizedTensor &t, const float *w, int64_t n) {
  int64_t numBlocks = t.numBlocks();
  t.data.assign((n + 1) / 2, 0);
  t.absmaxF16.assign(numBlocks, 0);
  forBlocks(t, w, n, [&](int64_t b, int64_t begin, int64_t end, float m) {
    t.absmaxF16[b] = floatToHalf(m);
    for (int64_t i = begin; i < end; ++i) {
      float q = 0.0f;
      if (m != 0.0f)
        q = std::clamp(roundHalfEven(((w[i] + m) / (2.0f * m)) * 15.0f), 0.0f,
                       15.0f);
      putNibble(t.data, i, static_cast<uint8_t>(q), /*highFirst=*/false);
    }
  });
}

void quantizeInt8(QuantizedTensor &t, const float *w, int64_t n) {
  int64_t rows = t.rows();
  int64_t cols = colsOf(t);
  t.data.assign(n, 0);
  t.absmax.assign(rows, 0.0f);
  forRanges(rows, kGrainElements / std::max<int64_t>(cols, 1),
            [&](int64_t first, int64_t last) {
              for (int64_t r = first; r < last; ++r) {
                float a = maxAbs(w, r * cols, (r + 1) * cols);
                t.absmax[r] = a;
                if (a == 0.0f)
                  continue;
                float scale = 127.0f / a;
                for (int64_t i = r * cols; i < (r + 1) * cols; ++i) {
                  float q =
                      std::clamp(roundHalfEven(w[i] * scale), -127.0f, 127.0f);
                  t.data[i] = static_cast<uint8_t>(static_cast<int8_t>(q));
                }
              }
            });
}

} // namespace

QuantizedTensor quant::quantize(const float *w, std::vector<int64_t> shape,
                                Format format, int64_t blockSize,
                                bool doubleQuant) {
  assert(checkOptions(format, blockSize, doubleQuant).empty() &&
         "invalid quantization options");
  QuantizedTensor t;
  t.format = format;
  t.shape = std::move(shape);
  t.blockSize = isBlockFormat(format) ? blockSize : 0;
  t.doubleQuant = doubleQuant;
  int64_t n = t.numElements();
  switch (format) {
  case Format::F32:
    t.data.resize(n * 4);
    for (int64_t i = 0; i < n; ++i) {
      uint32_t bits = floatBits(w[i]);
      for (int k = 0; k < 4; ++k)
        t.data[4 * i + k] = static_cast<uint8_t>(bits >> (8 * k));
    }
    break;
  case Format::F16:
  case Format::BF16:
    t.data.resize(n * 2);
    for (int64_t i = 0; i < n; ++i) {
      uint16_t bits =
          format == Format::F16 ? floatToHalf(w[i]) : floatToBFloat16(w[i]);
      t.data[2 * i] = static_cast<uint8_t>(bits);
      t.data[2 * i + 1] = static_cast<uint8_t>(bits >> 8);
    }
    break;
  case Format::NF4:
  case Format::FP4:
    quantizeTable(t, w, n);
    break;
  case Format::Int4:
    quantizeInt4(t, w, n);
    break;
  case Format::Int8:
    quantizeInt8(t, w, n);
    break;
  }
  return t;
}

//===----------------------------------------------------------------------===//
// Dequantization
//===----------------------------------------------------------------------===//

std::vector<float> quant::decodedAbsmax(const QuantizedTensor &t) {
  switch (t.format) {
  case Format::NF4:
  case Format::FP4: {
    if (!t.doubleQuant)
      return t.absmax;
    const std::array<float, 256> &map = dynamicMap();
    std::vector<float> scales(t.absmaxCodes.size());
    for (size_t b = 0; b < scales.size(); ++b) {
      float product =
          map[t.absmaxCodes[b]] * t.nestedAbsmax[b / kNestedBlockSize];
      scales[b] = product + t.nestedOffset;
    }
    return scales;
  }
  case Format::Int4: {
    std::vector<float> scales(t.absmaxF16.size());
    for (size_t b = 0; b < scales.size(); ++b)
      scales[b] = halfToFloat(t.absmaxF16[b]);
    return scales;
  }
  case Format::Int8:
    return t.absmax;
  default:
    return {};
  }
}

void quant::dequantize(const QuantizedTensor &t, float *out) {
  int64_t n = t.numElements();
  switch (t.format) {
  case Format::F32:
    for (int64_t i = 0; i < n; ++i) {
      uint32_t bits = 0;
      for (int k = 0; k < 4; ++k)
        bits |= static_cast<uint32_t>(t.data[4 * i + k]) << (8 * k);
      out[i] = bitsToFloat(bits);
    }
    break;
  case Format::F16:
  case Format::BF16:
    for (int64_t i = 0; i < n; ++i) {
      uint16_t bits =
          static_cast<uint16_t>(t.data[2 * i] | (t.data[2 * i + 1] << 8));
      out[i] =
          t.format == Format::F16 ? halfToFloat(bits) : bfloat16ToFloat(bits);
    }
    break;
  case Format::NF4:
  case Format::FP4: {
    const std::array<float, 16> &table = tableOf(t.format);
    std::vector<float> scales = decodedAbsmax(t);
    for (int64_t i = 0; i < n; ++i)
      out[i] = table[getNibble(t.data, i, /*highFirst=*/true)] *
               scales[i / t.blockSize];
    break;
  }
  case Format::Int4: {
    std::vector<float> scales = decodedAbsmax(t);
    for (int64_t i = 0; i < n; ++i) {
      float m = scales[i / t.blockSize];
      float q = static_cast<float>(getNibble(t.data, i, /*highFirst=*/false));
      float scaled = ((q / 15.0f) * 2.0f) * m;
      out[i] = scaled - m;
    }
    break;
  }
  case Format::Int8: {
    int64_t cols = colsOf(t);
    for (int64_t i = 0; i < n; ++i) {
      float q = static_cast<float>(static_cast<int8_t>(t.data[i]));
      out[i] = (q * t.absmax[i / cols]) / 127.0f;
    }
    break;
  }
  }
}

//===----------------------------------------------------------------------===//
// Sizes
//===----------------------------------------------------------------------===//

double quant::bitsPerWeight(Format format, int64_t blockSize, bool doubleQuant,
                            int64_t cols) {
  if (isBlockFormat(format) && blockSize <= 0)
    blockSize = defaultBlockSize(format);
  double block = static_cast<double>(blockSize);
  switch (format) {
  case Format::F32:
    return 32.0;
  case Format::F16:
  case Format::BF16:
    return 16.0;
  case Format::Int4:
    return 4.0 + 16.0 / block;
  case Format::NF4:
  case Format::FP4:
    if (doubleQuant)
      return 4.0 + 8.0 / block +
             32.0 / (block * static_cast<double>(kNestedBlockSize));
    return 4.0 + 32.0 / block;
  case Format::Int8:
    return cols > 0 ? 8.0 + 32.0 / static_cast<double>(cols) : 8.0;
  }
  return 0.0;
}
