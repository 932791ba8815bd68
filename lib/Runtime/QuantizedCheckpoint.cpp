//===- QuantizedCheckpoint.cpp - bitsandbytes-named weights ---------------===//
//
// Part of the lowmem project.
//
//===----------------------------------------------------------------------===//

#include "lowmem/Runtime/QuantizedCheckpoint.h"
#include "lowmem/Runtime/Json.h"

#include <charconv>
#include <cmath>
#include <cstring>

using namespace lowmem;
using namespace lowmem::rt;

namespace {

template <typename T>
std::vector<uint8_t> toBytes(const std::vector<T> &values) {
  std::vector<uint8_t> bytes(values.size() * sizeof(T));
  if (!bytes.empty())
    std::memcpy(bytes.data(), values.data(), bytes.size());
  return bytes;
}

std::string weightPrefix(const std::string &weightName) {
  const std::string suffix = ".weight";
  if (weightName.size() > suffix.size() &&
      weightName.compare(weightName.size() - suffix.size(), suffix.size(),
                         suffix) == 0)
    return weightName.substr(0, weightName.size() - suffix.size());
  return weightName;
}

std::string shapeJson(const std::vector<int64_t> &shape) {
  std::string out = "[";
  for (size_t i = 0; i < shape.size(); ++i)
    out += (i ? ", " : "") + std::to_string(shape[i]);
  return out + "]";
}

/// The state key suffix for a format stored with a quant_state tensor.
const char *stateSuffix(quant::Format format) {
  switch (format) {
  case quant::Format::NF4:
    return "bitsandbytes__nf4";
  case quant::Format::FP4:
    return "bitsandbytes__fp4";
  case quant::Format::Int4:
    return "lowmem__int4";
  case quant::Format::Int8:
    return "lowmem__int8";
  default:
    return nullptr;
  }
}

std::string err(const SafetensorsFile &file, const std::string &tensor,
                const std::string &message) {
  return file.path() + ": tensor '" + tensor + "': " + message;
}

/// Copies a tensor's bytes after checking dtype and element count.
template <typename T>
std::string readExact(const SafetensorsFile &file, const std::string &name,
                      DType dtype, int64_t count, std::vector<T> &out) {
  const TensorView *t = file.find(name);
  if (!t)
    return file.path() + ": missing tensor '" + name + "'";
  if (t->dtype != dtype)
    return err(file, name,
               std::string("has dtype ") + safetensorsDTypeName(t->dtype) +
                   ", expected " + safetensorsDTypeName(dtype));
  if (t->numElements() != count)
    return err(file, name,
               "has " + std::to_string(t->numElements()) +
                   " elements, expected " + std::to_string(count));
  out.resize(count);
  if (count)
    std::memcpy(out.data(), t->data, count * sizeof(T));
  return "";
}

int64_t product(const std::vector<int64_t> &shape) {
  int64_t n = 1;
  for (int64_t d : shape)
    n *= d;
  return n;
}

} // namespace

std::string rt::shapeToString(const std::vector<int64_t> &shape) {
  return shapeJson(shape);
}

std::string rt::pythonFloatRepr(double value) {
  if (value != value)
    return "NaN";
  if (value == 0)
    return std::signbit(value) ? "-0.0" : "0.0";
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof(buf), value,
                           std::chars_format::scientific);
  std::string sci(buf, res.ptr);
  // sci = [-]d[.ddd]e[+-]XX
  bool negative = sci[0] == '-';
  if (negative)
    sci.erase(0, 1);
  size_t ePos = sci.find('e');
  std::string mantissa = sci.substr(0, ePos);
  int exponent = std::stoi(sci.substr(ePos + 1));
  std::string digits;
  for (char c : mantissa)
    if (c != '.')
      digits += c;
  std::string out;
  if (exponent >= -5 && exponent < 16) {
    if (exponent < 0) {
      out = "0." + std::string(-exponent - 1, '0') + digits;
    } else if (static_cast<int>(digits.size()) <= exponent + 1) {
      out = digits + std::string(exponent + 1 - digits.size(), '0') + ".0";
    } else {
      out = digits.substr(0, exponent + 1) + "." + digits.substr(exponent + 1);
    }
  } else {
    out = digits.substr(0, 1);
    if (digits.size() > 1)
      out += "." + digits.substr(1);
    char exp[16];
    std::snprintf(exp, sizeof(exp), "e%c%02d", exponent < 0 ? '-' : '+',
                  exponent < 0 ? -exponent : exponent);
    out += exp;
  }
  return negative ? "-" + out : out;
}

void rt::appendQuantizedTensors(const std::string &weightName,
                                const quant::QuantizedTensor &q,
                                std::vector<OwnedTensor> &out) {
  int64_t n = q.numElements();
  switch (q.format) {
  case quant::Format::F32:
    out.push_back({weightName, DType::F32, q.shape, q.data});
    return;
  case quant::Format::F16:
    out.push_back({weightName, DType::F16, q.shape, q.data});
    return;
  case quant::Format::BF16:
    out.push_back({weightName, DType::BF16, q.shape, q.data});
    return;
  default:
    break;
  }
  std::string state = "{\"quant_type\": \"";
  state += quant::formatName(q.format);
  state += "\", ";
  if (q.format != quant::Format::Int8)
    state += "\"blocksize\": " + std::to_string(q.blockSize) + ", ";
  state += "\"dtype\": \"float32\", \"shape\": " + shapeJson(q.shape);
  if (q.format == quant::Format::Int8) {
    out.push_back({weightName, DType::I8, q.shape, q.data});
    out.push_back({weightPrefix(weightName) + ".SCB",
                   DType::F32,
                   {q.rows()},
                   toBytes(q.absmax)});
    state += ", \"threshold\": 6.0";
  } else if (q.format == quant::Format::Int4) {
    out.push_back({weightName, DType::U8, {(n + 1) / 2}, q.data});
    out.push_back({weightName + ".absmax",
                   DType::F16,
                   {q.numBlocks()},
                   toBytes(q.absmaxF16)});
  } else {
    const auto &table =
        q.format == quant::Format::NF4 ? quant::nf4Table() : quant::fp4Table();
    out.push_back({weightName, DType::U8, {(n + 1) / 2, 1}, q.data});
    if (q.doubleQuant) {
      out.push_back(
          {weightName + ".absmax", DType::U8, {q.numBlocks()}, q.absmaxCodes});
      out.push_back({weightName + ".nested_absmax",
                     DType::F32,
                     {static_cast<int64_t>(q.nestedAbsmax.size())},
                     toBytes(q.nestedAbsmax)});
      const auto &dyn = quant::dynamicMap();
      out.push_back({weightName + ".nested_quant_map",
                     DType::F32,
                     {256},
                     toBytes(std::vector<float>(dyn.begin(), dyn.end()))});
      state +=
          ", \"nested_blocksize\": " + std::to_string(quant::kNestedBlockSize) +
          ", \"nested_dtype\": \"float32\", \"nested_offset\": " +
          pythonFloatRepr(static_cast<double>(q.nestedOffset));
    } else {
      out.push_back({weightName + ".absmax",
                     DType::F32,
                     {q.numBlocks()},
                     toBytes(q.absmax)});
    }
    out.push_back({weightName + ".quant_map",
                   DType::F32,
                   {16},
                   toBytes(std::vector<float>(table.begin(), table.end()))});
  }
  state += "}";
  out.push_back({weightName + ".quant_state." + stateSuffix(q.format),
                 DType::U8,
                 {static_cast<int64_t>(state.size())},
                 std::vector<uint8_t>(state.begin(), state.end())});
}

std::string rt::inspectWeight(const SafetensorsFile &file,
                              const std::string &name, StoredWeightInfo &info) {
  info = StoredWeightInfo();
  for (quant::Format format : {quant::Format::NF4, quant::Format::FP4,
                               quant::Format::Int4, quant::Format::Int8}) {
    std::string key = name + ".quant_state." + stateSuffix(format);
    const TensorView *state = file.find(key);
    if (!state)
      continue;
    JsonValue json;
    std::string text(reinterpret_cast<const char *>(state->data),
                     state->nbytes);
    if (state->dtype != DType::U8)
      return err(file, key, "quant state must be U8 bytes of JSON");
    std::string problem = parseJson(text, json);
    if (!problem.empty() || !json.isObject())
      return err(file, key, "quant state is not a JSON object: " + problem);
    const JsonValue *type = json.get("quant_type");
    if (!type || !type->isString() ||
        type->getString() != quant::formatName(format))
      return err(file, key,
                 std::string("quant_type must be \"") +
                     quant::formatName(format) + "\"");
    const JsonValue *shape = json.get("shape");
    if (!shape || !shape->isArray())
      return err(file, key, "quant state has no shape");
    for (const JsonValue &dim : shape->getArray()) {
      std::optional<int64_t> v = dim.getInt64();
      if (!v || *v <= 0)
        return err(file, key, "shape must hold positive integers");
      info.shape.push_back(*v);
    }
    if (info.shape.empty())
      return err(file, key, "shape must not be empty");
    if (format != quant::Format::Int8) {
      const JsonValue *block = json.get("blocksize");
      std::optional<int64_t> b = block ? block->getInt64() : std::nullopt;
      if (!b)
        return err(file, key, "quant state has no integer blocksize");
      info.blockSize = *b;
    }
    info.doubleQuant = json.get("nested_offset") != nullptr;
    std::string bad =
        quant::checkOptions(format, info.blockSize, info.doubleQuant);
    if (!bad.empty())
      return err(file, key, bad);
    info.present = true;
    info.quantized = true;
    info.format = format;
    return "";
  }
  const TensorView *t = file.find(name);
  if (!t)
    return "";
  info.present = true;
  info.shape = t->shape;
  switch (t->dtype) {
  case DType::F32:
  case DType::F64:
    info.format = quant::Format::F32;
    return "";
  case DType::F16:
    info.format = quant::Format::F16;
    return "";
  case DType::BF16:
    info.format = quant::Format::BF16;
    return "";
  default:
    return err(file, name,
               std::string("has dtype ") + safetensorsDTypeName(t->dtype) +
                   " and no quant_state; expected a float tensor or a "
                   "quantized weight");
  }
}

std::string rt::loadAsFloat(const SafetensorsFile &file, const TensorView &t,
                            std::vector<float> &out) {
  int64_t n = t.numElements();
  out.resize(n);
  switch (t.dtype) {
  case DType::F32:
    if (n)
      std::memcpy(out.data(), t.data, n * sizeof(float));
    return "";
  case DType::F64:
    for (int64_t i = 0; i < n; ++i)
      out[i] = static_cast<float>(t.load<double>(i));
    return "";
  case DType::F16:
    for (int64_t i = 0; i < n; ++i)
      out[i] = quant::halfToFloat(t.load<uint16_t>(i));
    return "";
  case DType::BF16:
    for (int64_t i = 0; i < n; ++i)
      out[i] = quant::bfloat16ToFloat(t.load<uint16_t>(i));
    return "";
  default:
    return err(file, t.name,
               std::string("has dtype ") + safetensorsDTypeName(t.dtype) +
                   ", expected F32, F16, BF16 or F64");
  }
}

std::string rt::loadWeightAs(const SafetensorsFile &file,
                             const std::string &name, quant::Format format,
                             int64_t blockSize, bool doubleQuant,
                             const std::vector<int64_t> &shape,
                             quant::QuantizedTensor &out) {
  StoredWeightInfo info;
  std::string problem = inspectWeight(file, name, info);
  if (!problem.empty())
    return problem;
  if (!info.present)
    return file.path() + ": missing tensor '" + name + "'";
  if (info.shape != shape)
    return err(file, name,
               "has shape " + shapeJson(info.shape) +
                   " but the model expects " + shapeJson(shape));
  auto describe = [](quant::Format f, int64_t block, bool dq) {
    std::string s = quant::formatName(f);
    if (block)
      s += " (block " + std::to_string(block) + (dq ? ", double quant)" : ")");
    return s;
  };
  bool storedAsTarget =
      info.quantized
          ? (info.format == format && info.blockSize == blockSize &&
             info.doubleQuant == doubleQuant)
          : (info.format == format &&
             (format == quant::Format::F16 || format == quant::Format::BF16));
  if (!info.quantized && !storedAsTarget) {
    // Full precision: quantize while loading.
    std::vector<float> values;
    problem = loadAsFloat(file, *file.find(name), values);
    if (!problem.empty())
      return problem;
    out = quant::quantize(values.data(), shape, format, blockSize, doubleQuant);
    return "";
  }
  if (!storedAsTarget)
    return err(file, name,
               "is stored as " +
                   describe(info.format, info.blockSize, info.doubleQuant) +
                   " but the model was compiled for " +
                   describe(format, blockSize, doubleQuant) +
                   "; recompile with matching --format/--block-size/"
                   "--double-quant or pass full-precision weights");

  // Already in the target format: copy and validate every part.
  out = quant::QuantizedTensor();
  out.format = format;
  out.shape = shape;
  out.blockSize = blockSize;
  out.doubleQuant = doubleQuant;
  int64_t n = product(shape);
  int64_t blocks = blockSize ? (n + blockSize - 1) / blockSize : 0;
  std::vector<uint16_t> halves;
  switch (format) {
  case quant::Format::F32:
    return err(file, name, "f32 is not a storage format");
  case quant::Format::F16:
  case quant::Format::BF16:
    problem = readExact(file, name,
                        format == quant::Format::F16 ? DType::F16 : DType::BF16,
                        n, halves);
    out.data = toBytes(halves);
    return problem;
  case quant::Format::Int8:
    problem = readExact(file, name, DType::I8, n, out.data);
    if (problem.empty())
      problem = readExact(file, weightPrefix(name) + ".SCB", DType::F32,
                          shape[0], out.absmax);
    return problem;
  case quant::Format::Int4:
    problem = readExact(file, name, DType::U8, (n + 1) / 2, out.data);
    if (problem.empty())
      problem =
          readExact(file, name + ".absmax", DType::F16, blocks, out.absmaxF16);
    return problem;
  case quant::Format::NF4:
  case quant::Format::FP4:
    break;
  }
  problem = readExact(file, name, DType::U8, (n + 1) / 2, out.data);
  if (!problem.empty())
    return problem;
  // The code table must be the standard one: the kernels decode with it.
  if (const TensorView *map = file.find(name + ".quant_map")) {
    std::vector<float> values;
    problem = readExact(file, name + ".quant_map", DType::F32, 16, values);
    if (!problem.empty())
      return problem;
    const auto &table =
        format == quant::Format::NF4 ? quant::nf4Table() : quant::fp4Table();
    (void)map;
    for (int i = 0; i < 16; ++i)
      if (values[i] != table[i])
        return err(file, name + ".quant_map",
                   "differs from the standard " +
                       std::string(quant::formatName(format)) +
                       " table at code " + std::to_string(i));
  }
  if (!doubleQuant)
    return readExact(file, name + ".absmax", DType::F32, blocks, out.absmax);
  problem =
      readExact(file, name + ".absmax", DType::U8, blocks, out.absmaxCodes);
  if (problem.empty())
    problem = readExact(file, name + ".nested_absmax", DType::F32,
                        (blocks + quant::kNestedBlockSize - 1) /
                            quant::kNestedBlockSize,
                        out.nestedAbsmax);
  if (!problem.empty())
    return problem;
  if (const TensorView *map = file.find(name + ".nested_quant_map")) {
    std::vector<float> values;
    (void)map;
    problem =
        readExact(file, name + ".nested_quant_map", DType::F32, 256, values);
    if (!problem.empty())
      return problem;
    const auto &dyn = quant::dynamicMap();
    for (int i = 0; i < 256; ++i)
      if (values[i] != dyn[i])
        return err(file, name + ".nested_quant_map",
                   "differs from the signed dynamic map at code " +
                       std::to_string(i));
  }
  // The offset lives in the quant state JSON.
  std::string key = name + ".quant_state." + stateSuffix(format);
  const TensorView *state = file.find(key);
  JsonValue json;
  parseJson(
      std::string(reinterpret_cast<const char *>(state->data), state->nbytes),
      json);
  const JsonValue *offset = json.get("nested_offset");
  if (!offset || !offset->isNumber())
    return err(file, key, "nested_offset must be a number");
  out.nestedOffset = static_cast<float>(offset->getNumber());
  return "";
}

std::string lowmem::rt::loadAsFloatWithShape(const SafetensorsFile &file,
                                             const TensorView &tensor,
                                             const std::vector<int64_t> &shape,
                                             std::vector<float> &out) {
  if (tensor.shape != shape)
    return file.path() + ": tensor '" + tensor.name + "': has shape " +
           shapeToString(tensor.shape) + " but the model expects " +
           shapeToString(shape);
  return loadAsFloat(file, tensor, out);
}
