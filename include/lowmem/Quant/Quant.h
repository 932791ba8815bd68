//===- Quant.h - Weight quantization formats --------------------*- C++ -*-===//
//
// Part of the lowmem project.
//
//===----------------------------------------------------------------------===//
///
/// \file
/// Encoding and decoding of the weight formats of lowmem (DESIGN.md §4): f32,
/// f16, bf16, the seed's int4 (Linear4Bit), QLoRA's nf4, bitsandbytes' fp4
/// (both optionally with double quantization of their scales) and LLM.int8's
/// int8. The library depends on the C++ standard library only, so that the
/// compiler, the runtime and the tools can all share it.
///
/// The encodings are bit exact: every result is defined by float32 arithmetic
/// in a fixed order (see quantize() and dequantize()), so an independent
/// implementation that follows the same recipe produces the same bytes.
///
//===----------------------------------------------------------------------===//

#ifndef LOWMEM_QUANT_QUANT_H
#define LOWMEM_QUANT_QUANT_H

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace lowmem {
namespace quant {

/// The weight formats.
enum class Format : uint8_t { F32, F16, BF16, Int4, NF4, FP4, Int8 };

/// Parses a format name: "f32", "f16", "bf16", "int4", "nf4", "fp4" or "int8"
/// (lower case, exactly). Returns std::nullopt for anything else.
std::optional<Format> parseFormat(std::string_view name);

/// Returns the name of \p format, the inverse of parseFormat().
const char *formatName(Format format);

/// Returns true for the formats quantized in blocks of the flat weight: int4,
/// nf4 and fp4.
bool isBlockFormat(Format format);

/// Returns true for the formats that pack two 4-bit codes in a byte: int4, nf4
/// and fp4.
bool isFourBit(Format format);

/// Returns the default block size of \p format: 16 for int4, 64 for nf4 and
/// fp4, 0 for the other formats.
int64_t defaultBlockSize(Format format);

/// Checks a combination of quantization options. Returns "" when it is valid,
/// else a precise message, e.g. "block size 48 for nf4 must be a power of two
/// in [32, 4096]". nf4 and fp4 take a power of two in [32, 4096]; int4 an even
/// number in [2, 4096]; the other formats take block size 0. Double
/// quantization applies only to nf4 and fp4. The block size is checked first.
std::string checkOptions(Format format, int64_t blockSize, bool doubleQuant);

/// The number of scales quantized together by double quantization.
constexpr int64_t kNestedBlockSize = 256;

/// The NF4 code book of QLoRA, code 0..15, ascending from -1 to 1.
const std::array<float, 16> &nf4Table();

/// The FP4 code book of bitsandbytes, code 0..15 (bit 3 is the sign):
/// {0, 0.0625, 8, 12, 4, 6, 2, 3, -0, -0.0625, -8, -12, -4, -6, -2, -3} / 12.
const std::array<float, 16> &fp4Table();

/// The signed 8-bit dynamic map of bitsandbytes
/// (`create_dynamic_map(signed=True, max_exponent_bits=7, total_bits=8)`),
/// computed in float32 and sorted ascending: 127 negative values, 0, 127
/// positive values and 1.0.
const std::array<float, 256> &dynamicMap();

/// Converts a float to IEEE binary16 bits, rounding to nearest even. Handles
/// subnormals, overflow to infinity, infinities and NaN (which stays a quiet
/// NaN with the sign and the top payload bits kept).
uint16_t floatToHalf(float value);

/// Converts IEEE binary16 bits to a float (exactly).
float halfToFloat(uint16_t bits);

/// Converts a float to bfloat16 bits, rounding to nearest even. NaN stays a
/// quiet NaN (sign and top payload bits kept).
uint16_t floatToBFloat16(float value);

/// Converts bfloat16 bits to a float (exactly).
float bfloat16ToFloat(uint16_t bits);

/// Returns the index of the entry of \p table (of \p n entries) nearest to
/// \p x, the distance being fabs(table[i] - x) computed in float; ties go to
/// the lower index. Returns 0 if \p x is NaN.
uint8_t nearestCode(const float *table, int n, float x);

/// A quantized tensor: its format, options and storage.
struct QuantizedTensor {
  Format format = Format::F32;
  /// The logical shape (row major).
  std::vector<int64_t> shape;
  /// The block size; 0 for non-block formats.
  int64_t blockSize = 0;
  /// Whether the block scales are themselves quantized (nf4 and fp4 only).
  bool doubleQuant = false;
  /// f32: raw 4-byte little-endian floats; f16 and bf16: raw 2-byte
  /// little-endian values; int4, nf4 and fp4: packed codes, ceil(n/2) bytes;
  /// int8: n int8 codes (as bytes).
  std::vector<uint8_t> data;
  /// nf4 and fp4 without double quantization: one scale a block; int8: one
  /// scale a row.
  std::vector<float> absmax;
  /// int4: one scale a block (binary16 bits).
  std::vector<uint16_t> absmaxF16;
  /// nf4 and fp4 with double quantization: one 8-bit code a block.
  std::vector<uint8_t> absmaxCodes;
  /// Double quantization: one scale for each kNestedBlockSize blocks (the last
  /// group may be partial).
  std::vector<float> nestedAbsmax;
  /// Double quantization: the offset subtracted from the scales (their mean).
  float nestedOffset = 0.0f;

  /// Returns the number of elements, the product of the shape (1 for rank 0).
  int64_t numElements() const;
  /// Returns ceil(numElements() / blockSize) for block formats, else 0.
  int64_t numBlocks() const;
  /// Returns shape[0], or 1 for rank 0.
  int64_t rows() const;
  /// Returns the bytes of all the storage above: data, the scales, the nested
  /// scales and, with double quantization, the 4-byte offset. The code books
  /// are not counted.
  int64_t storageBytes() const;
};

/// Quantizes the n = prod(shape) floats at \p w. Precondition:
/// checkOptions(format, blockSize, doubleQuant) == "".
///
/// Blocks are consecutive runs of blockSize elements of the flat array (the
/// last block may be partial); all arithmetic is float32 unless said.
/// - nf4, fp4: absmax_b = max |w| over the block; code = nearestCode(table,
///   16, w / absmax_b), or nearestCode(table, 16, 0.0f) when absmax_b is 0.
///   byte i = (q[2i] << 4) | q[2i+1], the first element in the high nibble.
/// - double quantization: the codes use the true absmax; then offset =
///   float(mean(absmax) in double), a_b = absmax_b - offset, and in groups of
///   kNestedBlockSize: nestedAbsmax_j = max |a_b|, absmaxCodes_b =
///   nearestCode(dynamicMap, 256, a_b / nestedAbsmax_j) (of 0.0f when
///   nestedAbsmax_j is 0).
/// - int4: m_b = max |w|, stored as floatToHalf(m_b); q = round-half-even(((w
///   + m_b) / (2 * m_b)) * 15) clamped to [0, 15] (0 when m_b is 0); byte i =
///   q[2i] | (q[2i+1] << 4), the first element in the low nibble.
/// - int8: rows = shape[0]; a_r = max |w| over the row; q = clamp(
///   round-half-even(w * (127 / a_r)), -127, 127) (0 when a_r is 0).
/// - f16, bf16: element-wise conversion; f32: a copy.
QuantizedTensor quantize(const float *w, std::vector<int64_t> shape,
                         Format format, int64_t blockSize, bool doubleQuant);

/// Returns the scales dequantize() uses, as floats: for nf4 and fp4 one a
/// block (with double quantization, dynamicMap()[c] * nestedAbsmax_j +
/// nestedOffset); for int4 the f16 block maxima; for int8 the row maxima;
/// nothing for f32, f16 and bf16.
std::vector<float> decodedAbsmax(const QuantizedTensor &tensor);

/// Writes the numElements() dequantized floats of \p tensor to \p out.
/// - nf4, fp4: w = table[q] * scale_b (scales from decodedAbsmax()).
/// - int4: with m = halfToFloat(absmaxF16[b]), w = ((float(q) / 15) * 2) * m -
///   m, in that order.
/// - int8: w = (float(q) * a_r) / 127.
void dequantize(const QuantizedTensor &tensor, float *out);

/// Returns the theoretical bits per weight of a format including its scales:
/// 32 for f32, 16 for f16 and bf16, 4 + 16 / blockSize for int4, 4 + 32 /
/// blockSize for nf4 and fp4 (4 + 8 / blockSize + 32 / (blockSize * 256) with
/// double quantization; the single offset is not counted) and 8 + 32 / cols
/// for int8 (8 when cols <= 0). A block size <= 0 for a block format means its
/// default block size.
double bitsPerWeight(Format format, int64_t blockSize, bool doubleQuant,
                     int64_t cols);

} // namespace quant
} // namespace lowmem

#endif // LOWMEM_QUANT_QUANT_H
