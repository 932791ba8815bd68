//===- ModelMain.cpp - main() of a compiled lowmem model ------------------===//
//
// Part of the lowmem project.
//
//===----------------------------------------------------------------------===//
//
// Linked with the object that lowmem-compile emits, which defines
// `lowmem_run(void **descriptors)` and the JSON `lowmem_manifest`. Loads the
// weights the manifest asks for (quantizing full-precision ones while
// loading), reads the input, allocates the planned arena, runs the model,
// writes the output and reports predicted and measured memory.
//
//   ./model --weights W.safetensors --input X.npy --output Y.npy [--report]
//           [--report-json R.json] [--load-adapter DIR | --init-adapter]
//           [--seed N]
//
//===----------------------------------------------------------------------===//

#include "lowmem/Quant/Quant.h"
#include "lowmem/Runtime/Adapter.h"
#include "lowmem/Runtime/Backend.h"
#include "lowmem/Runtime/FileUtil.h"
#include "lowmem/Runtime/Json.h"
#include "lowmem/Runtime/Memory.h"
#include "lowmem/Runtime/Npy.h"
#include "lowmem/Runtime/QuantizedCheckpoint.h"
#include "lowmem/Runtime/Safetensors.h"

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <vector>

extern "C" void lowmem_run(void **descriptors);
extern "C" const char lowmem_manifest[];

using namespace lowmem;
using namespace lowmem::rt;

namespace {

[[noreturn]] void die(const std::string &message) {
  std::fprintf(stderr, "error: %s\n", message.c_str());
  std::exit(1);
}

struct Options {
  std::string weights, input, output, reportJson, loadAdapter;
  bool report = false, initAdapter = false;
  uint64_t seed = 0;
};

void usage(const char *argv0) {
  std::printf("usage: %s --weights W.safetensors --input X.npy --output Y.npy "
              "[--report] [--report-json R.json]\n"
              "       [--load-adapter DIR | --init-adapter] [--seed N]\n"
              "  --load-adapter DIR  LoRA adapters saved by PEFT or lowmem "
              "(adapter_model.safetensors\n"
              "                      and adapter_config.json); without it "
              "they are read from W\n"
              "  --init-adapter      start missing adapters as PEFT does "
              "(A kaiming-uniform, B zero)\n"
              "  --seed N            seed of that initialisation "
              "(default 0)\n",
              argv0);
}

Options parseOptions(int argc, char **argv) {
  Options options;
  std::string seedText = "0";
  std::map<std::string, std::string *> valued{
      {"--weights", &options.weights},
      {"--input", &options.input},
      {"--output", &options.output},
      {"--report-json", &options.reportJson},
      {"--load-adapter", &options.loadAdapter},
      {"--seed", &seedText}};
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      usage(argv[0]);
      std::exit(0);
    }
    if (arg == "--report") {
      options.report = true;
      continue;
    }
    if (arg == "--init-adapter") {
      options.initAdapter = true;
      continue;
    }
    std::string value;
    size_t eq = arg.find('=');
    std::string key = eq == std::string::npos ? arg : arg.substr(0, eq);
    auto it = valued.find(key);
    if (it == valued.end())
      die("unknown option '" + arg + "' (see --help)");
    if (eq != std::string::npos) {
      value = arg.substr(eq + 1);
    } else {
      if (i + 1 >= argc)
        die("option '" + key + "' needs a value");
      value = argv[++i];
    }
    *it->second = value;
  }
  if (options.weights.empty() || options.input.empty() ||
      options.output.empty())
    die("--weights, --input and --output are required (see --help)");
  if (!options.loadAdapter.empty() && options.initAdapter)
    die("--load-adapter and --init-adapter exclude each other");
  char *end = nullptr;
  errno = 0;
  options.seed = std::strtoull(seedText.c_str(), &end, 10);
  if (seedText.empty() || *end || errno || seedText[0] == '-')
    die("--seed needs a non-negative integer, got '" + seedText + "'");
  return options;
}

std::vector<int64_t> intList(const JsonValue *value) {
  std::vector<int64_t> out;
  if (value && value->isArray())
    for (const JsonValue &v : value->getArray())
      out.push_back(v.getInt64().value_or(0));
  return out;
}

std::string str(const JsonValue &obj, const char *key) {
  const JsonValue *v = obj.get(key);
  return v && v->isString() ? v->getString() : std::string();
}

int64_t product(const std::vector<int64_t> &shape) {
  int64_t n = 1;
  for (int64_t d : shape)
    n *= d;
  return n;
}

/// The LoRA settings the model was compiled with (rank 0: none).
LoraConfig loraConfigOf(const JsonValue &manifest) {
  LoraConfig config;
  const JsonValue *lora = manifest.get("lora");
  if (!lora || !lora->isObject())
    return config;
  config.rank = lora->get("rank")->getInt64().value_or(0);
  config.alpha = lora->get("alpha")->getNumber();
  config.rslora = lora->get("rslora")->getBool();
  config.dropout = lora->get("dropout")->getNumber();
  return config;
}

bool isLoraA(const std::string &name) {
  static const std::string suffix = ".lora_A.weight";
  return name.size() > suffix.size() &&
         name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0;
}

/// A buffer handed to the compiled code with its memref descriptor.
struct Argument {
  void *data = nullptr;
  std::vector<int64_t> shape;
  std::vector<int64_t> descriptor;
};

void describe(Argument &arg) {
  size_t rank = arg.shape.size();
  arg.descriptor.assign(3 + 2 * rank, 0);
  auto ptr = reinterpret_cast<int64_t>(arg.data);
  arg.descriptor[0] = ptr;
  arg.descriptor[1] = ptr;
  int64_t stride = 1;
  for (size_t i = rank; i-- > 0;) {
    arg.descriptor[3 + i] = arg.shape[i];
    arg.descriptor[3 + rank + i] = stride;
    stride *= arg.shape[i];
  }
}

/// Evaluates size terms [{coeff, dims: [[arg, dim], ...]}, ...].
int64_t evaluate(const JsonValue *terms, const std::vector<Argument> &args) {
  int64_t total = 0;
  if (!terms || !terms->isArray())
    return 0;
  for (const JsonValue &term : terms->getArray()) {
    int64_t value = term.get("coeff")->getInt64().value_or(0);
    for (const JsonValue &sym : term.get("dims")->getArray()) {
      std::vector<int64_t> pair = intList(&sym);
      value *= args.at(pair.at(0)).shape.at(pair.at(1));
    }
    total += value;
  }
  return total;
}

/// Bytes of a quantized tensor's part, by the part names of QTensorType.
std::pair<const void *, size_t> partBytes(const quant::QuantizedTensor &q,
                                          const std::string &part) {
  if (part == "codes" || part == "data")
    return {q.data.data(), q.data.size()};
  if (part == "absmax") {
    if (q.format == quant::Format::Int4)
      return {q.absmaxF16.data(), q.absmaxF16.size() * 2};
    if (q.doubleQuant)
      return {q.absmaxCodes.data(), q.absmaxCodes.size()};
    return {q.absmax.data(), q.absmax.size() * 4};
  }
  if (part == "nested_absmax")
    return {q.nestedAbsmax.data(), q.nestedAbsmax.size() * 4};
  if (part == "nested_offset")
    return {&q.nestedOffset, 4};
  return {nullptr, 0};
}

double mib(double bytes) { return bytes / (1024.0 * 1024.0); }

} // namespace

int main(int argc, char **argv) {
  Options options = parseOptions(argc, argv);
  Backend &backend = modelBackend();
  MemoryTracker &tracker = backend.memory();

  JsonValue manifest;
  std::string problem = parseJson(lowmem_manifest, manifest);
  if (!problem.empty())
    die("corrupt model manifest: " + problem);
  const auto &records = manifest.get("args")->getArray();

  std::string err;
  std::unique_ptr<SafetensorsFile> weights =
      SafetensorsFile::open(options.weights, err);
  if (!weights)
    die(err);
  NpyArray input;
  problem = readNpy(options.input, input);
  if (!problem.empty())
    die(problem);

  // LoRA adapters: from --load-adapter, from the weights file, or new.
  LoraConfig lora = loraConfigOf(manifest);
  std::unique_ptr<SafetensorsFile> adapter;
  if (!options.loadAdapter.empty()) {
    if (lora.rank == 0)
      die("--load-adapter: this model was compiled without LoRA adapters "
          "(lowmem-compile --lora-rank=R)");
    LoraConfig saved;
    problem = readAdapterConfig(options.loadAdapter, saved);
    if (problem.empty())
      problem = checkAdapterConfig(options.loadAdapter, saved, lora);
    if (!problem.empty())
      die(problem);
    adapter =
        SafetensorsFile::open(adapterWeightsPath(options.loadAdapter), err);
    if (!adapter)
      die(err);
  } else if (options.initAdapter && lora.rank == 0) {
    die("--init-adapter: this model was compiled without LoRA adapters "
        "(lowmem-compile --lora-rank=R)");
  }
  int64_t initialised = 0;

  std::vector<Argument> args(records.size());
  std::map<std::string, quant::QuantizedTensor> pending;
  size_t theoreticalBits = 0, inputBytes = 0;
  const JsonValue *arenaRecord = nullptr;
  size_t arenaIndex = 0;
  for (size_t i = 0; i < records.size(); ++i) {
    const JsonValue &record = records[i];
    std::string kind = str(record, "kind");
    std::vector<int64_t> shape = intList(record.get("shape"));
    std::optional<DType> dtype = parseSafetensorsDType(str(record, "dtype"));
    Argument &arg = args[i];
    if (kind == "arena") {
      arenaRecord = &record;
      arenaIndex = i;
      continue;
    }
    if (kind == "input") {
      if (input.dtype != *dtype)
        die(options.input + ": dtype " + safetensorsDTypeName(input.dtype) +
            " but the model expects " + safetensorsDTypeName(*dtype));
      bool ok = input.shape.size() == shape.size();
      for (size_t d = 0; ok && d < shape.size(); ++d)
        ok = shape[d] < 0 || shape[d] == input.shape[d];
      if (!ok)
        die(options.input + ": shape " + shapeToString(input.shape) +
            " but the model expects " + shapeToString(shape) +
            " (-1: any size)");
      arg.shape = input.shape;
      arg.data = tracker.allocate(input.data.size(), MemCategory::Inputs);
      if (!arg.data)
        die("out of memory reading " + options.input);
      backend.upload(arg.data, input.data.data(), input.data.size());
      inputBytes += input.data.size();
      describe(arg);
      continue;
    }
    // A parameter, whole or one part of a quantized weight.
    std::string name = str(record, "name");
    std::string part = str(record, "part");
    arg.shape = shape;
    size_t bytes = product(shape) * dtypeSize(*dtype);
    arg.data = tracker.allocate(bytes, MemCategory::Weights);
    if (!arg.data)
      die("out of memory loading '" + name + "'");
    if (part.empty()) {
      bool trainable = record.get("trainable")->getBool();
      const SafetensorsFile *source = weights.get();
      const TensorView *t = nullptr;
      if (trainable && adapter) {
        source = adapter.get();
        t = adapter->find(kPeftPrefix + name);
      } else {
        // An adapter in the weights file may carry PEFT's prefix or not.
        t = weights->find(name);
        if (!t && trainable)
          t = weights->find(kPeftPrefix + name);
      }
      std::vector<float> values;
      if (!t && trainable && options.initAdapter) {
        values.assign(product(shape), 0.0f);
        if (isLoraA(name))
          initLoraA(values.data(), shape[0], shape[1], options.seed, name);
        ++initialised;
      } else if (!t) {
        if (trainable && adapter)
          die(source->path() + ": missing adapter tensor '" + kPeftPrefix +
              name + "'");
        if (trainable)
          die(options.weights + ": missing LoRA adapter tensor '" + name +
              "': give --load-adapter DIR (an adapter saved by PEFT or "
              "lowmem) or --init-adapter to start a new one");
        die(options.weights + ": missing tensor '" + name + "'");
      } else {
        if (t->shape != shape)
          die(source->path() + ": tensor '" + t->name + "': has shape " +
              shapeToString(t->shape) + " but the model expects " +
              shapeToString(shape));
        problem = loadAsFloat(*source, *t, values);
        if (!problem.empty())
          die(problem);
      }
      backend.upload(arg.data, values.data(), bytes);
      theoreticalBits += 32 * values.size();
    } else {
      auto it = pending.find(name);
      if (it == pending.end()) {
        std::optional<quant::Format> format =
            quant::parseFormat(str(record, "format"));
        std::vector<int64_t> logical = intList(record.get("logical_shape"));
        quant::QuantizedTensor q;
        problem =
            loadWeightAs(*weights, name, *format,
                         record.get("block")->getInt64().value_or(0),
                         record.get("double_quant")->getBool(), logical, q);
        if (!problem.empty())
          die(problem);
        theoreticalBits += static_cast<size_t>(
            quant::bitsPerWeight(q.format, q.blockSize, q.doubleQuant,
                                 logical.back()) *
            static_cast<double>(product(logical)));
        it = pending.emplace(name, std::move(q)).first;
      }
      auto [src, srcBytes] = partBytes(it->second, part);
      if (!src || srcBytes != bytes)
        die(options.weights + ": tensor '" + name + "': part '" + part +
            "' holds " + std::to_string(srcBytes) + " bytes, expected " +
            std::to_string(bytes));
      backend.upload(arg.data, src, bytes);
      // Drop the staging copy once its last part is placed.
      bool last = i + 1 == records.size() ||
                  str(records[i + 1], "name") != name ||
                  str(records[i + 1], "part").empty();
      if (last)
        pending.erase(it);
    }
    describe(arg);
  }
  size_t weightBytes = tracker.current(MemCategory::Weights);

  // The planned arena, painted so the touched extent can be measured.
  int64_t arenaBytes = evaluate(manifest.get("arena_size"), args);
  int64_t heapBytes = evaluate(manifest.get("heap_size"), args);
  if (arenaRecord) {
    Argument &arena = args[arenaIndex];
    arena.shape = {arenaBytes};
    arena.data = tracker.allocate(arenaBytes, MemCategory::Activations);
    if (!arena.data)
      die("out of memory allocating the " + std::to_string(arenaBytes) +
          "-byte activation arena");
    backend.fill(arena.data, 0xA5, arenaBytes);
    describe(arena);
  }

  // Result descriptor first, then every argument's.
  size_t resultRank = intList(manifest.get("result")->get("shape")).size();
  std::vector<int64_t> result(3 + 2 * resultRank, 0);
  std::vector<void *> descriptors{result.data()};
  for (Argument &arg : args)
    descriptors.push_back(arg.descriptor.data());

  if (backend.warmUp())
    lowmem_run(descriptors.data());
  auto start = std::chrono::steady_clock::now();
  lowmem_run(descriptors.data());
  auto stop = std::chrono::steady_clock::now();
  double ms = std::chrono::duration<double, std::milli>(stop - start).count();

  std::vector<int64_t> outShape(result.begin() + 3,
                                result.begin() + 3 + resultRank);
  std::optional<DType> outType =
      parseSafetensorsDType(str(*manifest.get("result"), "dtype"));
  // The aligned pointer plus the offset, in elements.
  size_t outBytes = product(outShape) * dtypeSize(*outType);
  const auto *outData = reinterpret_cast<const uint8_t *>(result[1]) +
                        result[2] * dtypeSize(*outType);
  std::vector<uint8_t> output(outBytes);
  backend.download(output.data(), outData, outBytes);
  problem = writeNpy(options.output, *outType, outShape, output.data());
  if (!problem.empty())
    die(problem);

  int64_t touched = 0;
  if (arenaRecord) {
    std::vector<uint8_t> bytes(arenaBytes);
    backend.download(bytes.data(), args[arenaIndex].data, arenaBytes);
    for (int64_t i = arenaBytes; i-- > 0;)
      if (bytes[i] != 0xA5) {
        touched = i + 1;
        break;
      }
  }
  size_t predictedPeak = weightBytes + inputBytes + arenaBytes + heapBytes;
  size_t measuredPeak = tracker.peakTotal();
  const JsonValue *params = manifest.get("params");
  int64_t trainable = params->get("trainable")->getInt64().value_or(0);
  int64_t frozen = params->get("frozen")->getInt64().value_or(0);
  int64_t quantized = params->get("quantized")->getInt64().value_or(0);
  std::string format = str(manifest, "format");

  if (options.report) {
    std::printf("lowmem report: format %s", format.c_str());
    if (int64_t block = manifest.get("block")->getInt64().value_or(0))
      std::printf(", block %lld", static_cast<long long>(block));
    if (manifest.get("double_quant")->getBool())
      std::printf(", double quant");
    std::printf(" on %s\n", backend.description().c_str());
    if (lora.rank)
      std::printf("  lora           rank %lld, alpha %g%s, %s\n",
                  static_cast<long long>(lora.rank), lora.alpha,
                  lora.rslora ? " (rslora)" : "",
                  initialised ? "new adapters (PEFT initialisation)"
                  : adapter   ? ("adapters from " + options.loadAdapter).c_str()
                              : "adapters from the weights file");
    std::printf("  parameters     trainable %.2f M, frozen %.2f M (%.2f M "
                "quantized)\n",
                trainable / 1e6, frozen / 1e6, quantized / 1e6);
    std::printf("  weights        theoretical %.2f MB, held %.2f MB\n",
                mib(theoreticalBits / 8.0), mib(weightBytes));
    std::printf("  forward        input %.2f MB, arena %.2f MB (touched "
                "%.2f MB), output %.2f MB\n",
                mib(inputBytes), mib(arenaBytes), mib(touched), mib(heapBytes));
    std::printf("  peak           predicted %.2f MB, measured %.2f MB%s\n",
                mib(predictedPeak), mib(measuredPeak),
                predictedPeak == measuredPeak ? "" : "  (MISMATCH)");
    std::printf("  time           %.3f ms\n", ms);
    std::printf("  (MB = 2^20 bytes)\n");
  }
  if (!options.reportJson.empty()) {
    char buf[1024];
    int len = std::snprintf(
        buf, sizeof(buf),
        "{\"format\": \"%s\", \"trainable\": %lld, \"frozen\": %lld, "
        "\"quantized\": %lld, \"weights_theoretical_bytes\": %.1f, "
        "\"weights_bytes\": %zu, \"input_bytes\": %zu, \"arena_bytes\": "
        "%lld, \"arena_touched_bytes\": %lld, \"output_bytes\": %lld, "
        "\"predicted_peak_bytes\": %zu, \"measured_peak_bytes\": %zu, "
        "\"time_ms\": %.3f}\n",
        format.c_str(), static_cast<long long>(trainable),
        static_cast<long long>(frozen), static_cast<long long>(quantized),
        theoreticalBits / 8.0, weightBytes, inputBytes,
        static_cast<long long>(arenaBytes), static_cast<long long>(touched),
        static_cast<long long>(heapBytes), predictedPeak, measuredPeak, ms);
    problem = writeFileAtomic(options.reportJson, buf, len);
    if (!problem.empty())
      die(problem);
  }
  // A heap result is the caller's to free; a result planned in the arena
  // goes with it.
  void *resultBase = reinterpret_cast<void *>(result[0]);
  if (!arenaRecord || resultBase != args[arenaIndex].data)
    tracker.release(resultBase);
  return predictedPeak == measuredPeak ? 0 : 3;
}
