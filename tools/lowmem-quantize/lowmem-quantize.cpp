//===- lowmem-quantize.cpp - quantize a safetensors checkpoint ------------===//
//
// Part of the lowmem project.
//
//===----------------------------------------------------------------------===//
//
//   lowmem-quantize IN.safetensors -o OUT.safetensors --format=nf4
//                   [--block-size=N] [--double-quant] [--skip=NAME]...
//
// Every 2-D floating-point tensor whose name ends in `.weight` (the weights
// of linear layers) is stored in the chosen format under bitsandbytes'
// names; every other tensor is copied unchanged. The output is written
// atomically: an existing file is never left half-written.
//
//===----------------------------------------------------------------------===//

#include "lowmem/Quant/Quant.h"
#include "lowmem/Runtime/QuantizedCheckpoint.h"
#include "lowmem/Runtime/Safetensors.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

using namespace lowmem;
using namespace lowmem::rt;

namespace {

[[noreturn]] void die(const std::string &message) {
  std::fprintf(stderr, "lowmem-quantize: error: %s\n", message.c_str());
  std::exit(1);
}

void usage() {
  std::printf(
      "usage: lowmem-quantize IN.safetensors -o OUT.safetensors "
      "--format=f16|bf16|int4|nf4|fp4|int8 [--block-size=N] [--double-quant] "
      "[--skip=NAME]...\n\n"
      "Quantizes the weights of linear layers (2-D '*.weight' tensors) and "
      "copies every other tensor.\n--skip keeps a tensor (or every tensor "
      "under a prefix ending in '.') in full precision.\n");
}

bool endsWith(const std::string &s, const std::string &suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

} // namespace

int main(int argc, char **argv) {
  std::string input, output, formatName;
  int64_t blockSize = 0;
  bool doubleQuant = false;
  std::vector<std::string> skip;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    auto value = [&](const std::string &key) -> std::string {
      if (arg.size() > key.size() &&
          arg.compare(0, key.size() + 1, key + "=") == 0)
        return arg.substr(key.size() + 1);
      if (i + 1 >= argc)
        die("option '" + key + "' needs a value");
      return argv[++i];
    };
    auto is = [&](const std::string &key) {
      return arg == key || arg.compare(0, key.size() + 1, key + "=") == 0;
    };
    if (arg == "-h" || arg == "--help") {
      usage();
      return 0;
    } else if (arg == "--double-quant") {
      doubleQuant = true;
    } else if (is("-o")) {
      output = value("-o");
    } else if (is("--format")) {
      formatName = value("--format");
    } else if (is("--block-size")) {
      std::string text = value("--block-size");
      char *end = nullptr;
      blockSize = std::strtoll(text.c_str(), &end, 10);
      if (text.empty() || *end)
        die("--block-size needs an integer, got '" + text + "'");
    } else if (is("--skip")) {
      skip.push_back(value("--skip"));
    } else if (!arg.empty() && arg[0] == '-') {
      die("unknown option '" + arg + "' (see --help)");
    } else if (input.empty()) {
      input = arg;
    } else {
      die("more than one input file ('" + input + "', '" + arg + "')");
    }
  }
  if (input.empty() || output.empty() || formatName.empty())
    die("an input file, -o OUT and --format are required (see --help)");
  std::optional<quant::Format> format = quant::parseFormat(formatName);
  if (!format || *format == quant::Format::F32)
    die("unknown --format '" + formatName +
        "'; expected f16, bf16, int4, nf4, fp4 or int8");
  if (blockSize == 0)
    blockSize = quant::defaultBlockSize(*format);
  std::string problem = quant::checkOptions(*format, blockSize, doubleQuant);
  if (!problem.empty())
    die(problem);

  std::string err;
  std::unique_ptr<SafetensorsFile> file = SafetensorsFile::open(input, err);
  if (!file)
    die(err);

  auto skipped = [&](const std::string &name) {
    for (const std::string &s : skip)
      if (name == s || (endsWith(s, ".") && name.compare(0, s.size(), s) == 0))
        return true;
    return false;
  };

  std::vector<OwnedTensor> tensors;
  int quantized = 0;
  for (const TensorView &t : file->tensors()) {
    StoredWeightInfo info;
    bool isFloat = t.dtype == DType::F32 || t.dtype == DType::F16 ||
                   t.dtype == DType::BF16 || t.dtype == DType::F64;
    if (isFloat && t.shape.size() == 2 && endsWith(t.name, ".weight") &&
        !skipped(t.name)) {
      std::vector<float> values;
      problem = loadAsFloat(*file, t, values);
      if (!problem.empty())
        die(problem);
      quant::QuantizedTensor q = quant::quantize(
          values.data(), t.shape, *format, blockSize, doubleQuant);
      appendQuantizedTensors(t.name, q, tensors);
      ++quantized;
      continue;
    }
    if (t.name.find(".quant_state.") != std::string::npos)
      die(input + ": tensor '" + t.name +
          "': the input is already quantized; pass full-precision weights");
    tensors.push_back({t.name, t.dtype, t.shape,
                       std::vector<uint8_t>(t.data, t.data + t.nbytes)});
  }
  if (quantized == 0)
    die(input + ": no 2-D '*.weight' tensor to quantize");

  std::vector<TensorToWrite> toWrite;
  for (const OwnedTensor &t : tensors)
    toWrite.push_back(
        {t.name, t.dtype, t.shape, t.bytes.data(), t.bytes.size()});
  std::vector<std::pair<std::string, std::string>> metadata{
      {"format", "pt"}, {"lowmem.quantized_with", formatName}};
  problem = writeSafetensors(output, toWrite, metadata);
  if (!problem.empty())
    die(problem);
  return 0;
}
