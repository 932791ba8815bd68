//===- ModelMain.cpp - main() of a compiled lowmem model ------------------===//
//
// Part of the lowmem project.
//
//===----------------------------------------------------------------------===//
//
// Linked with the object that lowmem-compile emits, which defines
// `lowmem_run(void **descriptors)` and the JSON `lowmem_manifest`. Loads the
// weights the manifest asks for (quantizing full-precision ones while
// loading), reads the input, allocates the planned arena, then runs the
// model and writes its output, or, for a training step, trains, or writes
// the gradients, and reports predicted and measured memory.
//
//   ./model --weights W.safetensors --input X.npy --output Y.npy [--report]
//           [--report-json R.json] [--load-adapter DIR | --init-adapter]
//           [--seed N]
//   ./step  --weights W --input X.npy --target T.npy --steps N --lr LR
//           [--batch B] [--save-adapter DIR] [--load-adapter DIR] ...
//   ./grads --weights W --input X.npy --target T.npy --grads-output G
//   ./gen   --weights W --input PROMPT.npy --max-new-tokens N --output IDS.npy
//           [--eos ID] [--pad ID] [--prefill-chunk C] [--logits-output L.npy]
//           [--report]
//
//===----------------------------------------------------------------------===//

#include "lowmem/Quant/Quant.h"
#include "lowmem/Runtime/Adapter.h"
#include "lowmem/Runtime/Backend.h"
#include "lowmem/Runtime/FileUtil.h"
#include "lowmem/Runtime/Json.h"
#include "lowmem/Runtime/Memory.h"
#include "lowmem/Runtime/Merge.h"
#include "lowmem/Runtime/Npy.h"
#include "lowmem/Runtime/QuantizedCheckpoint.h"
#include "lowmem/Runtime/Safetensors.h"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <sys/stat.h>

extern "C" void lowmem_run(void **descriptors);
extern "C" const char lowmem_manifest[];

using namespace lowmem;
using namespace lowmem::rt;

namespace {

[[noreturn]] void die(const std::string &message) {
  std::fprintf(stderr, "error: %s\n", message.c_str());
  std::exit(1);
}

/// Why the backend's last allocation failed: the driver's reason where it
/// gave one (a GPU's), else running out of memory.
std::string allocationFailure(Backend &backend) {
  std::string why = backend.lastAllocationFailure();
  return why.empty() ? "out of memory" : why;
}

struct Options {
  std::string weights, input, output, reportJson, loadAdapter;
  std::string target, saveAdapter, gradsOutput;
  std::string steps, lr, batch, saveEvery; // parsed once the mode is known
  std::string lrSchedule;                  // empty: constant
  std::string optimizerState;              // empty: device
  std::string merge, mergeFormat = "f32", mergeBlockSize = "0";
  std::string maxNewTokens, logitsOutput, eos, prefillChunk, pad; // generation
  bool mergeDoubleQuant = false;
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
              "(default 0)\n"
              "training steps (lowmem-compile --train):\n"
              "  --target T.npy      the targets, one row per input row\n"
              "  --steps N --lr LR   N steps at learning rate LR\n"
              "  --batch B           rows per step (default: all), taken in "
              "order, cycling\n"
              "  --lr-schedule S     constant (default), linear or cosine: "
              "decay to 0 at the\n"
              "                      run's last step (a resumed run's "
              "schedule ends there too)\n"
              "  --save-adapter DIR  write the trained adapter (PEFT layout) "
              "and the optimizer\n"
              "                      state; --load-adapter DIR resumes from "
              "them\n"
              "  --save-every K      also save them every K steps (each "
              "file replaced atomically)\n"
              "  --optimizer-state P where the optimizer state lives: device "
              "(default), paged\n"
              "                      (CUDA unified memory, prefetched before "
              "each step) or host\n"
              "                      (page-locked host memory the update "
              "kernels reach in place)\n"
              "  --grads-output G    (--optimizer=none) write the gradients "
              "to G.safetensors\n"
              "generation steps (lowmem-compile --generate; --input: "
              "prompt ids [B, S], int64):\n"
              "  --max-new-tokens N  generate N tokens a row greedily "
              "(prefill, then decode\n"
              "                      steps with the KV cache); --output "
              "gets the ids [B, S + N]\n"
              "  --eos ID            a row that generates ID stops (then "
              "repeats it); all\n"
              "                      rows stopped ends the run\n"
              "  --logits-output L.npy  the logits each new token was "
              "picked from [B, N, V] (a\n"
              "                      stopped row's are the model's own, "
              "though it repeats --eos)\n"
              "  --prefill-chunk C   run the prompt C tokens a step: "
              "activations for C tokens,\n"
              "                      not the whole prompt\n"
              "  --pad ID            prompts of different lengths: each "
              "row's leading IDs are\n"
              "                      left padding, which no token sees; "
              "every row generates as\n"
              "                      if it ran alone\n"
              "models with LoRA adapters (after training, for training "
              "binaries):\n"
              "  --merge M.safetensors  write the weights with the adapters "
              "merged, W + s B A,\n"
              "                      W as the model uses it; 2-D weights in "
              "--merge-format\n"
              "                      (f32, f16, bf16, int4, nf4, fp4, int8; "
              "with --merge-block-size N\n"
              "                      and --merge-double-quant)\n",
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
      {"--seed", &seedText},
      {"--target", &options.target},
      {"--steps", &options.steps},
      {"--lr", &options.lr},
      {"--batch", &options.batch},
      {"--save-adapter", &options.saveAdapter},
      {"--save-every", &options.saveEvery},
      {"--lr-schedule", &options.lrSchedule},
      {"--optimizer-state", &options.optimizerState},
      {"--merge", &options.merge},
      {"--merge-format", &options.mergeFormat},
      {"--merge-block-size", &options.mergeBlockSize},
      {"--grads-output", &options.gradsOutput},
      {"--max-new-tokens", &options.maxNewTokens},
      {"--logits-output", &options.logitsOutput},
      {"--eos", &options.eos},
      {"--prefill-chunk", &options.prefillChunk},
      {"--pad", &options.pad}};
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
    if (arg == "--merge-double-quant") {
      options.mergeDoubleQuant = true;
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
  if (options.weights.empty() || options.input.empty())
    die("--weights and --input are required (see --help)");
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

const std::string kLoraASuffix = ".lora_A.weight";

bool isLoraA(const std::string &name) {
  return name.size() > kLoraASuffix.size() &&
         name.compare(name.size() - kLoraASuffix.size(), kLoraASuffix.size(),
                      kLoraASuffix) == 0;
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

/// Evaluates size terms [{coeff, dims: [[arg, dim], ...], align?}, ...]; a
/// term with an alignment is one buffer, rounded up to it as the allocator
/// hook is asked for.
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
    if (const JsonValue *align = term.get("align"))
      if (int64_t a = align->getInt64().value_or(1); a > 1)
        value = (value + a - 1) / a * a;
    total += value;
  }
  return total;
}

/// What gradient checkpointing did to a training step, FLOPs at the step's
/// sizes.
struct CheckpointInfo {
  bool present = false;
  std::string policy;
  int64_t boundaries = 0, kept = 0, recomputedOps = 0;
  double recomputeFlops = 0, stepFlops = 0;
};

CheckpointInfo checkpointInfo(const JsonValue *record,
                              const std::vector<Argument> &args) {
  CheckpointInfo info;
  if (!record || !record->isObject())
    return info;
  auto integer = [&](const char *key) {
    const JsonValue *v = record->get(key);
    return v ? v->getInt64().value_or(0) : 0;
  };
  auto flops = [&](const char *key) {
    return double(evaluate(record->get(key), args));
  };
  info.present = true;
  info.policy = str(*record, "policy");
  info.boundaries = integer("boundaries");
  info.kept = integer("kept");
  info.recomputedOps = integer("recomputed_ops");
  info.recomputeFlops = flops("recompute_flops");
  info.stepFlops = flops("step_flops");
  return info;
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

/// The integer `text` of `option`, at least `min`; otherwise an error that
/// says it needs `what`.
int64_t parseInteger(const std::string &option, const std::string &text,
                     int64_t min, const char *what) {
  char *end = nullptr;
  errno = 0;
  long long v = std::strtoll(text.c_str(), &end, 10);
  if (text.empty() || *end || errno || v < min)
    die(option + " needs " + what + ", got '" + text + "'");
  return v;
}

int64_t parseCount(const std::string &option, const std::string &text) {
  return parseInteger(option, text, 1, "a positive integer");
}

double parsePositive(const std::string &option, const std::string &text) {
  char *end = nullptr;
  errno = 0;
  double v = std::strtod(text.c_str(), &end);
  if (text.empty() || *end || errno || !(v > 0.0) || !std::isfinite(v))
    die(option + " needs a positive number, got '" + text + "'");
  return v;
}

/// Checks that `array` has the argument's dtype, and its shape where the
/// manifest gives a size (-1 is any size).
void checkArray(const std::string &path, const NpyArray &array,
                const std::vector<int64_t> &shape, DType dtype) {
  if (array.dtype != dtype)
    die(path + ": dtype " + safetensorsDTypeName(array.dtype) +
        " but the model expects " + safetensorsDTypeName(dtype));
  bool ok = array.shape.size() == shape.size();
  for (size_t d = 0; ok && d < shape.size(); ++d)
    ok = shape[d] < 0 || shape[d] == array.shape[d];
  if (!ok)
    die(path + ": shape " + shapeToString(array.shape) +
        " but the model expects " + shapeToString(shape) + " (-1: any size)");
}

/// Cross-entropy targets: every label a class in [0, classes), or -100
/// (ignored, PyTorch's ignore_index).
void checkLabels(const std::string &path, const NpyArray &array,
                 const JsonValue *classesRecord) {
  if (!classesRecord || classesRecord->isNull())
    return;
  int64_t classes = classesRecord->getInt64().value_or(0);
  const auto *labels = reinterpret_cast<const int64_t *>(array.data.data());
  for (int64_t i = 0; i < array.numElements(); ++i) {
    int64_t label = labels[i];
    if (label != -100 && (label < 0 || label >= classes))
      die(path + ": label " + std::to_string(label) + " at element " +
          std::to_string(i) + " is not a class in [0, " +
          std::to_string(classes) + ") nor -100 (ignored)");
  }
}

/// Token ids: every id in [0, bound) when the manifest gives a bound.
void checkTokenIds(const std::string &path, const NpyArray &array,
                   const JsonValue *boundRecord) {
  if (!boundRecord || boundRecord->isNull())
    return;
  int64_t bound = boundRecord->getInt64().value_or(0);
  const auto *ids = reinterpret_cast<const int64_t *>(array.data.data());
  for (int64_t i = 0; i < array.numElements(); ++i)
    if (ids[i] < 0 || ids[i] >= bound)
      die(path + ": token id " + std::to_string(ids[i]) + " at element " +
          std::to_string(i) + " is outside the vocabulary [0, " +
          std::to_string(bound) + ")");
}

/// A batched input: the whole array on the device, and the rows a step
/// reads.
struct BatchedInput {
  size_t arg = 0;
  char *base = nullptr;
  size_t rowBytes = 0;
};

/// The compiled step's results: one memref descriptor each, laid out as the
/// C interface's result struct.
struct Results {
  std::vector<int64_t> block;
  std::vector<size_t> offsets, ranks;

  explicit Results(const JsonValue::Array &records) {
    size_t size = 0;
    for (const JsonValue &r : records) {
      size_t rank = intList(r.get("shape")).size();
      offsets.push_back(size);
      ranks.push_back(rank);
      size += 3 + 2 * rank;
    }
    block.assign(size, 0);
  }
  int64_t *at(size_t i) { return block.data() + offsets[i]; }
  std::vector<int64_t> shape(size_t i) {
    return std::vector<int64_t>(at(i) + 3, at(i) + 3 + ranks[i]);
  }
  /// The aligned pointer plus the offset, in elements of `elementSize`.
  const void *data(size_t i, size_t elementSize) {
    return reinterpret_cast<const uint8_t *>(at(i)[1]) + at(i)[2] * elementSize;
  }
};

/// The integer `key` of a safetensors file's metadata, or `missing`.
int64_t metadataInt(const SafetensorsFile &file, const std::string &key,
                    int64_t missing) {
  for (const auto &[k, value] : file.metadata())
    if (k == key)
      return std::strtoll(value.c_str(), nullptr, 10);
  return missing;
}

/// Reads `t` as f32 after checking that it has the shape the model expects.
void loadChecked(const SafetensorsFile &file, const TensorView &t,
                 const std::vector<int64_t> &shape, std::vector<float> &out) {
  std::string problem = loadAsFloatWithShape(file, t, shape, out);
  if (!problem.empty())
    die(problem);
}

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
  const auto &resultRecords = manifest.get("results")->getArray();
  std::string mode = str(manifest, "mode");
  bool training = mode == "train", gradMode = mode == "grad";
  bool generating = mode == "generate";

  // The options each kind of binary takes.
  auto reject = [&](const std::string &value, const char *option,
                    const char *why) {
    if (!value.empty())
      die(std::string(option) + ": " + why);
  };
  int64_t steps = 1, batch = 0, saveEvery = 0;
  Placement statePlacement = Placement::Device;
  double lr = 0.0;
  // The options of a step that updates the parameters.
  auto rejectUpdateOptions = [&](const char *why) {
    reject(options.steps, "--steps", why);
    reject(options.lr, "--lr", why);
    reject(options.saveAdapter, "--save-adapter", why);
    reject(options.saveEvery, "--save-every", why);
    reject(options.lrSchedule, "--lr-schedule", why);
    reject(options.optimizerState, "--optimizer-state", why);
  };
  int64_t maxNewTokens = 0, eos = -1, prefillChunk = 0, pad = -1;
  if (!generating) {
    const char *why = "only a generation binary (lowmem-compile --generate) "
                      "takes this option";
    reject(options.maxNewTokens, "--max-new-tokens", why);
    reject(options.logitsOutput, "--logits-output", why);
    reject(options.eos, "--eos", why);
    reject(options.prefillChunk, "--prefill-chunk", why);
    reject(options.pad, "--pad", why);
  } else {
    if (options.maxNewTokens.empty())
      die("--max-new-tokens N is required: this binary generates tokens");
    maxNewTokens = parseCount("--max-new-tokens", options.maxNewTokens);
    if (!options.prefillChunk.empty())
      prefillChunk = parseCount("--prefill-chunk", options.prefillChunk);
    if (!options.eos.empty())
      eos = parseInteger("--eos", options.eos, 0, "a token id");
    if (!options.pad.empty())
      pad = parseInteger("--pad", options.pad, 0, "a token id");
  }
  if (!training && !gradMode) {
    const char *why = "only a training binary (lowmem-compile --train) "
                      "takes this option";
    reject(options.target, "--target", why);
    rejectUpdateOptions(why);
    reject(options.batch, "--batch", why);
    reject(options.gradsOutput, "--grads-output", why);
    if (options.output.empty())
      die("--output is required (see --help)");
  } else {
    if (options.target.empty())
      die("--target T.npy is required: this binary is a training step");
    reject(options.output, "--output",
           "a training binary writes no output; see --save-adapter");
    if (!options.batch.empty())
      batch = parseCount("--batch", options.batch);
    if (training) {
      if (options.steps.empty() || options.lr.empty())
        die("--steps N and --lr LR are required to train");
      steps = parseCount("--steps", options.steps);
      if (!options.saveEvery.empty()) {
        if (options.saveAdapter.empty())
          die("--save-every: give --save-adapter DIR to save into");
        saveEvery = parseCount("--save-every", options.saveEvery);
      }
      lr = parsePositive("--lr", options.lr);
      if (options.lrSchedule.empty())
        options.lrSchedule = "constant";
      if (options.lrSchedule != "constant" && options.lrSchedule != "linear" &&
          options.lrSchedule != "cosine")
        die("--lr-schedule: unknown schedule '" + options.lrSchedule +
            "'; expected constant, linear or cosine");
      if (options.optimizerState.empty())
        options.optimizerState = "device";
      std::optional<Placement> place = parsePlacement(options.optimizerState);
      if (!place)
        die("--optimizer-state: unknown placement '" + options.optimizerState +
            "'; expected device, paged or host");
      statePlacement = *place;
      reject(options.gradsOutput, "--grads-output",
             "this step updates the parameters; compile with "
             "--optimizer=none for gradients");
    } else {
      const char *why = "this step computes gradients only (compiled with "
                        "--optimizer=none)";
      rejectUpdateOptions(why);
      reject(options.merge, "--merge", why);
      if (options.gradsOutput.empty())
        die("--grads-output G.safetensors is required: this step computes "
            "gradients");
    }
  }

  // Optimizer state outside the backend's own memory is accounted apart:
  // the measured peak is the memory the kernels run next to.
  std::string why;
  MemoryTracker *stateTracker = backend.memory(statePlacement, why);
  if (!stateTracker)
    die("--optimizer-state=" + options.optimizerState + ": " + why);
  bool stateInPeak = stateTracker == &tracker;

  std::string err;
  std::unique_ptr<SafetensorsFile> weights =
      SafetensorsFile::open(options.weights, err);
  if (!weights)
    die(err);
  NpyArray input, target;
  problem = readNpy(options.input, input);
  if (!problem.empty())
    die(problem);
  if (!options.target.empty()) {
    problem = readNpy(options.target, target);
    if (!problem.empty())
      die(problem);
  }

  // LoRA adapters: from --load-adapter, from the weights file, or new.
  LoraConfig lora = loraConfigOf(manifest);
  std::unique_ptr<SafetensorsFile> adapter, savedState;
  int64_t startStep = 0;
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
    startStep = metadataInt(*adapter, "lowmem.step", 0);
  } else if (options.initAdapter && lora.rank == 0) {
    die("--init-adapter: this model was compiled without LoRA adapters "
        "(lowmem-compile --lora-rank=R)");
  }
  // The optimizer state saved with the adapter, if it is from the same step.
  std::string stateNote = "new";
  if (adapter && training) {
    std::string statePath = trainingStatePath(options.loadAdapter);
    if (std::FILE *f = std::fopen(statePath.c_str(), "rb")) {
      std::fclose(f);
      savedState = SafetensorsFile::open(statePath, err);
      if (!savedState)
        die(err);
      int64_t stateStep = metadataInt(*savedState, "step", -1);
      if (stateStep != startStep) {
        std::fprintf(stderr,
                     "warning: %s is from step %lld but the adapter from "
                     "step %lld; the optimizer state starts new\n",
                     statePath.c_str(), static_cast<long long>(stateStep),
                     static_cast<long long>(startStep));
        savedState.reset();
      } else {
        stateNote = "from " + statePath;
      }
    }
  }
  int64_t initialised = 0;

  std::vector<Argument> args(records.size());
  std::vector<BatchedInput> batched;
  std::map<std::string, quant::QuantizedTensor> pending;
  size_t theoreticalBits = 0, inputBytes = 0;
  const JsonValue *arenaRecord = nullptr, *hostArenaRecord = nullptr;
  size_t arenaIndex = 0, hostArenaIndex = 0, hyperIndex = records.size();
  size_t positionIndex = records.size(), idsIndex = records.size();
  int64_t shortestPrompt = 0;
  size_t cacheBytes = 0, cacheCount = 0;
  std::vector<std::pair<size_t, std::string>> trainableArgs, stateArgs;
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
    if (kind == "host_arena") {
      hostArenaRecord = &record;
      hostArenaIndex = i;
      continue;
    }
    if (kind == "position") {
      positionIndex = i;
      continue;
    }
    if (kind == "row_starts") {
      // Where each prompt begins: after its left padding (--pad). The ids
      // argument precedes those lowmem-kv-cache appends, and has checked
      // that the prompt is [batch, seq].
      int64_t rowsB = input.shape[0], promptS = input.shape[1];
      auto ids = reinterpret_cast<const int64_t *>(input.data.data());
      std::vector<int64_t> starts(rowsB, 0);
      shortestPrompt = promptS;
      for (int64_t b = 0; b < rowsB && pad >= 0; ++b) {
        while (starts[b] < promptS && ids[b * promptS + starts[b]] == pad)
          ++starts[b];
        if (promptS > 0 && starts[b] == promptS)
          die(options.input + ": row " + std::to_string(b) +
              " is all padding (--pad " + options.pad + ")");
        shortestPrompt = std::min(shortestPrompt, promptS - starts[b]);
      }
      arg.shape = {rowsB};
      arg.data = tracker.allocate(rowsB * 8, MemCategory::Inputs);
      if (!arg.data)
        die("cannot allocate the prompts' start positions: " +
            allocationFailure(backend));
      backend.upload(arg.data, starts.data(), rowsB * 8);
      inputBytes += rowsB * 8;
      describe(arg);
      continue;
    }
    if (kind == "cache") {
      // [batch, capacity, features]: the prompt's positions and those of
      // every new token but the last, which no step reads back.
      arg.shape = {input.shape[0], 0, shape.back()};
      int64_t bytes = int64_t(dtypeSize(*dtype));
      if (__builtin_add_overflow(input.shape[1], maxNewTokens - 1,
                                 &arg.shape[1]) ||
          __builtin_mul_overflow(bytes, arg.shape[0], &bytes) ||
          __builtin_mul_overflow(bytes, arg.shape[1], &bytes) ||
          __builtin_mul_overflow(bytes, arg.shape[2], &bytes))
        die("--max-new-tokens " + options.maxNewTokens +
            ": the KV cache would not fit in memory");
      arg.data = tracker.allocate(bytes, MemCategory::KvCache);
      if (!arg.data)
        die("cannot allocate the KV cache '" + str(record, "name") + "' (" +
            std::to_string(bytes) + " bytes): " + allocationFailure(backend));
      cacheBytes += size_t(bytes);
      ++cacheCount;
      describe(arg);
      continue;
    }
    if (kind == "input") {
      bool isTarget = str(record, "name") == "target";
      if (!isTarget)
        idsIndex = i;
      const NpyArray &array = isTarget ? target : input;
      const std::string &path = isTarget ? options.target : options.input;
      checkArray(path, array, shape, *dtype);
      if (isTarget)
        checkLabels(path, array, manifest.get("classes"));
      checkTokenIds(path, array, record.get("ids_below"));
      arg.shape = array.shape;
      size_t bytes = array.data.size();
      // A generation step holds one step's ids: a prefill chunk of the
      // prompt at most (uploaded step by step).
      if (generating && arg.shape.size() == 2 && prefillChunk > 0 &&
          prefillChunk < arg.shape[1]) {
        arg.shape[1] = prefillChunk;
        bytes = product(arg.shape) * 8;
      }
      arg.data = tracker.allocate(bytes, MemCategory::Inputs);
      if (!arg.data)
        die("cannot allocate the input " + path + " (" + std::to_string(bytes) +
            " bytes): " + allocationFailure(backend));
      if (bytes == array.data.size())
        backend.upload(arg.data, array.data.data(), bytes);
      inputBytes += bytes;
      if (!arg.shape.empty() && arg.shape[0] > 0)
        batched.push_back({i, static_cast<char *>(arg.data),
                           array.data.size() / arg.shape[0]});
      describe(arg);
      continue;
    }
    if (kind == "hyper") {
      hyperIndex = i;
      arg.shape = shape;
      arg.data = tracker.allocate(product(shape) * 4, MemCategory::Workspace);
      if (!arg.data)
        die("cannot allocate the optimizer's hyperparameters: " +
            allocationFailure(backend));
      describe(arg);
      continue;
    }
    std::string name = str(record, "name");
    size_t bytes = product(shape) * dtypeSize(*dtype);
    if (kind == "state") {
      arg.shape = shape;
      arg.data = stateTracker->allocate(bytes, MemCategory::OptimizerState);
      if (!arg.data)
        die("cannot allocate the optimizer state '" + name + "' (" +
            std::to_string(bytes) + " bytes, " + options.optimizerState +
            "): " + allocationFailure(backend));
      std::vector<float> values(product(shape), 0.0f);
      if (savedState) {
        const TensorView *t = savedState->find(name);
        if (!t)
          die(savedState->path() + ": missing optimizer state '" + name + "'");
        loadChecked(*savedState, *t, shape, values);
      }
      backend.upload(arg.data, values.data(), bytes);
      stateArgs.push_back({i, name});
      describe(arg);
      continue;
    }
    // A parameter, whole or one part of a quantized weight.
    std::string part = str(record, "part");
    bool trainable = part.empty() && record.get("trainable")->getBool();
    arg.shape = shape;
    arg.data = tracker.allocate(bytes, trainable ? MemCategory::Trainable
                                                 : MemCategory::Weights);
    if (!arg.data)
      die("cannot allocate the parameter '" + name + "' (" +
          std::to_string(bytes) + " bytes): " + allocationFailure(backend));
    if (part.empty()) {
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
        loadChecked(*source, *t, shape, values);
      }
      backend.upload(arg.data, values.data(), bytes);
      theoreticalBits += 32 * values.size();
      if (trainable)
        trainableArgs.push_back({i, name});
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
  // --merge: the frozen weights as the model uses them plus s B A, written
  // once the adapters are final (after training).
  if (!options.merge.empty() && trainableArgs.empty())
    die("--merge: this model has no LoRA adapters to merge");
  std::optional<quant::Format> mergeFormat =
      quant::parseFormat(options.mergeFormat);
  if (!mergeFormat)
    die("--merge-format: unknown format '" + options.mergeFormat +
        "'; expected f32, f16, bf16, int4, nf4, fp4 or int8");
  int64_t mergeBlockSize = 0;
  if (options.mergeBlockSize != "0")
    mergeBlockSize = parseCount("--merge-block-size", options.mergeBlockSize);
  // A copy in host memory of an f32 argument (an adapter or its state).
  auto downloadF32 = [&](size_t i) {
    std::vector<float> values(product(args[i].shape));
    backend.download(values.data(), args[i].data, values.size() * 4);
    return values;
  };
  auto mergeAdapters = [&]() {
    if (options.merge.empty())
      return;
    std::vector<MergeParam> params;
    std::set<std::string> seen;
    for (const JsonValue &record : records) {
      std::string name = str(record, "name");
      if (str(record, "kind") != "param" ||
          record.get("trainable")->getBool() || !seen.insert(name).second)
        continue;
      MergeParam param;
      param.name = name;
      param.shape = intList(record.get("shape"));
      if (!str(record, "part").empty()) {
        param.format = *quant::parseFormat(str(record, "format"));
        param.blockSize = record.get("block")->getInt64().value_or(0);
        param.doubleQuant = record.get("double_quant")->getBool();
        param.shape = intList(record.get("logical_shape"));
      }
      params.push_back(std::move(param));
    }
    std::vector<std::vector<float>> host;
    AdapterTensors adapters;
    for (auto &[i, name] : trainableArgs) {
      host.push_back(downloadF32(i));
      adapters[name] = {args[i].shape, host.back().data()};
    }
    double scale = lora.rslora ? lora.alpha / std::sqrt(double(lora.rank))
                               : lora.alpha / double(lora.rank);
    std::string failure = writeMergedWeights(
        *weights, params, adapters, scale, *mergeFormat, mergeBlockSize,
        options.mergeDoubleQuant, options.merge);
    if (!failure.empty())
      die(failure);
    std::printf("wrote the merged weights (%s) to %s\n",
                options.mergeFormat.c_str(), options.merge.c_str());
  };

  size_t weightBytes = tracker.current(MemCategory::Weights);
  size_t trainableBytes = tracker.current(MemCategory::Trainable);
  size_t stateBytes = stateTracker->current(MemCategory::OptimizerState);
  size_t residentBytes = tracker.currentTotal();

  // A training step reads its inputs a batch of rows at a time: the arena
  // is planned for the largest batch.
  int64_t rows = input.shape.empty() ? 0 : input.shape[0];
  if (training || gradMode) {
    if (target.shape.empty() || target.shape[0] != rows)
      die(options.target + ": " +
          std::to_string(target.shape.empty() ? 0 : target.shape[0]) +
          " rows but " + options.input + " has " + std::to_string(rows));
    if (rows == 0)
      die(options.input + ": no rows to train on");
    if (batch == 0 || batch > rows)
      batch = rows;
    for (BatchedInput &b : batched) {
      args[b.arg].shape[0] = batch;
      describe(args[b.arg]);
    }
  }

  // The planned arena, painted so the touched extent can be measured.
  int64_t arenaBytes = evaluate(manifest.get("arena_size"), args);
  int64_t heapBytes = evaluate(manifest.get("heap_size"), args);
  // The arena starts with the gradients' region (training steps).
  int64_t gradientBytes = evaluate(manifest.get("arena_gradients_size"), args);
  CheckpointInfo checkpoint = checkpointInfo(manifest.get("checkpoint"), args);
  if (arenaRecord) {
    Argument &arena = args[arenaIndex];
    arena.shape = {arenaBytes};
    arena.data = tracker.allocate(arenaBytes, MemCategory::Activations);
    if (!arena.data)
      die("cannot allocate the " + std::to_string(arenaBytes) +
          "-byte activation arena: " + allocationFailure(backend));
    backend.fill(arena.data, 0xA5, arenaBytes);
    describe(arena);
  }
  // Activations offloaded while idle (--offload-activations) live in host
  // memory: apart from the peak on a GPU, in it on the CPU.
  int64_t hostArenaBytes = evaluate(manifest.get("host_arena_size"), args);
  bool hostArenaInPeak = true;
  if (hostArenaRecord) {
    std::string whyNot;
    MemoryTracker *hostTracker = backend.memory(Placement::Host, whyNot);
    if (!hostTracker)
      die("this binary offloads idle activations to host memory "
          "(--offload-activations), but " +
          whyNot);
    hostArenaInPeak = hostTracker == &tracker;
    Argument &host = args[hostArenaIndex];
    host.shape = {hostArenaBytes};
    host.data = hostTracker->allocate(hostArenaBytes, MemCategory::Activations);
    if (!host.data)
      die("cannot allocate the " + std::to_string(hostArenaBytes) +
          "-byte host arena of offloaded activations: " +
          allocationFailure(backend));
    describe(host);
  }

  // The results' descriptors first, then every argument's; a generation
  // step's position is passed by value, from `past`.
  Results results(resultRecords);
  int64_t past = 0;
  std::vector<void *> descriptors{results.block.data()};
  for (size_t i = 0; i < args.size(); ++i)
    descriptors.push_back(i == positionIndex
                              ? static_cast<void *>(&past)
                              : static_cast<void *>(args[i].descriptor.data()));
  // A heap result is the caller's to free; a result planned in the arena
  // goes with it.
  auto releaseResults = [&]() {
    for (size_t r = 0; r < results.offsets.size(); ++r) {
      void *base = reinterpret_cast<void *>(results.at(r)[0]);
      if (!arenaRecord || base != args[arenaIndex].data)
        tracker.release(base);
    }
  };
  auto downloadResult = [&](size_t r, std::vector<uint8_t> &out, DType &dtype) {
    dtype = *parseSafetensorsDType(str(resultRecords[r], "dtype"));
    size_t bytes = product(results.shape(r)) * dtypeSize(dtype);
    out.resize(bytes);
    backend.download(out.data(), results.data(r, dtypeSize(dtype)), bytes);
  };

  std::string format = str(manifest, "format");
  const JsonValue *params = manifest.get("params");
  int64_t trainable = params->get("trainable")->getInt64().value_or(0);
  int64_t frozen = params->get("frozen")->getInt64().value_or(0);
  int64_t quantized = params->get("quantized")->getInt64().value_or(0);
  auto reportHeader = [&]() {
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
                mib(theoreticalBits / 8.0), mib(weightBytes + trainableBytes));
  };
  // The extent of [begin, end) of the arena the model wrote: the arena was
  // painted, and nothing writes the paint back.
  auto touchedArena = [&](int64_t begin, int64_t end) -> int64_t {
    if (!arenaRecord || end <= begin)
      return 0;
    std::vector<uint8_t> bytes(end - begin);
    backend.download(bytes.data(),
                     static_cast<uint8_t *>(args[arenaIndex].data) + begin,
                     bytes.size());
    for (int64_t i = end - begin; i-- > 0;)
      if (bytes[i] != 0xA5)
        return i + 1;
    return 0;
  };
  size_t predictedPeak = residentBytes + arenaBytes + heapBytes +
                         (hostArenaInPeak ? hostArenaBytes : 0);
  auto printPeak = [&](size_t measuredPeak) {
    std::printf("  peak           predicted %.2f MB, measured %.2f MB%s\n",
                mib(predictedPeak), mib(measuredPeak),
                predictedPeak == measuredPeak ? "" : "  (MISMATCH)");
  };

  if (training || gradMode) {
    std::vector<float> hyper(4, 0.0f);
    const JsonValue *opt = manifest.get("optimizer");
    double beta1 = 0.0, beta2 = 0.0;
    std::string optimizerName = "none";
    if (opt && opt->isObject()) {
      optimizerName = str(*opt, "name");
      beta1 = opt->get("beta1")->getNumber();
      beta2 = opt->get("beta2")->getNumber();
    }
    int64_t batches = (rows + batch - 1) / batch;
    // A gradient step has no schedule.
    bool scheduled = training && options.lrSchedule != "constant";
    if (options.report) {
      reportHeader();
      std::printf("  training       %s, loss %s, %lld rows in batches of "
                  "%lld, optimizer state %s%s%s\n",
                  optimizerName.c_str(), str(manifest, "loss").c_str(),
                  static_cast<long long>(rows), static_cast<long long>(batch),
                  stateArgs.empty()
                      ? "none"
                      : (stateNote + ", in " + backend.describe(statePlacement))
                            .c_str(),
                  scheduled ? ", lr schedule " : "",
                  scheduled ? options.lrSchedule.c_str() : "");
      // Shown before the first step, which may be long, or be killed.
      std::fflush(stdout);
    }
    // Writes the adapter and the optimizer state as they are after step
    // `afterStep`: the state first, so that an adapter never points at a
    // state it lacks; each file atomically.
    auto saveAdapter = [&](int64_t afterStep) {
      std::vector<std::vector<float>> host;
      std::vector<TensorToWrite> adapterTensors, stateTensors;
      host.reserve(trainableArgs.size() + stateArgs.size());
      auto fetch = [&](size_t i, const std::string &name,
                       std::vector<TensorToWrite> &into) {
        host.push_back(downloadF32(i));
        into.push_back({name, DType::F32, args[i].shape, host.back().data(),
                        host.back().size() * 4});
      };
      LoraConfig saved = lora;
      for (auto &[i, name] : trainableArgs) {
        fetch(i, name, adapterTensors);
        if (isLoraA(name))
          saved.targets.push_back(
              name.substr(0, name.size() - kLoraASuffix.size()));
      }
      for (auto &[i, name] : stateArgs)
        fetch(i, name, stateTensors);
      std::string step = std::to_string(afterStep);
      // The state first: an adapter never points at a state it lacks.
      if (::mkdir(options.saveAdapter.c_str(), 0777) != 0 && errno != EEXIST)
        die(options.saveAdapter +
            ": cannot create the directory: " + errnoText(errno));
      if (!stateTensors.empty()) {
        problem = writeSafetensors(
            trainingStatePath(options.saveAdapter), stateTensors,
            {{"step", step}, {"optimizer", optimizerName}});
        if (!problem.empty())
          die(problem);
      }
      problem = writeAdapter(options.saveAdapter, saved, adapterTensors,
                             {{"lowmem.step", step}});
      if (!problem.empty())
        die(problem);
      std::printf("saved the adapter after step %s to %s\n", step.c_str(),
                  options.saveAdapter.c_str());
    };
    // The learning rate of step t (1-based), decaying over this run's steps.
    int64_t lastStep = startStep + steps;
    auto scheduledLr = [&](int64_t t) {
      double progress = lastStep > 1 ? double(t - 1) / double(lastStep) : 0.0;
      if (options.lrSchedule == "linear")
        return lr * (1.0 - progress);
      if (options.lrSchedule == "cosine")
        return lr * 0.5 * (1.0 + std::cos(M_PI * progress));
      return lr;
    };
    std::vector<double> losses, times;
    int64_t lastGood = startStep;
    bool diverged = false;
    for (int64_t s = 0; s < steps; ++s) {
      int64_t t = startStep + s + 1; // 1-based, continues a resumed run
      int64_t k = (t - 1) % batches;
      int64_t n = std::min(batch, rows - k * batch);
      for (BatchedInput &b : batched) {
        Argument &arg = args[b.arg];
        arg.data = b.base + k * batch * b.rowBytes;
        arg.shape[0] = n;
        describe(arg);
      }
      if (hyperIndex < args.size()) {
        hyper = {static_cast<float>(scheduledLr(t)),
                 static_cast<float>(1.0 - std::pow(beta1, double(t))),
                 static_cast<float>(1.0 - std::pow(beta2, double(t))),
                 static_cast<float>(t)};
        backend.upload(args[hyperIndex].data, hyper.data(), 16);
      }
      auto start = std::chrono::steady_clock::now();
      if (statePlacement == Placement::Paged)
        for (auto &[i, name] : stateArgs)
          backend.prefetch(args[i].data,
                           product(args[i].shape) * sizeof(float));
      lowmem_run(descriptors.data());
      auto stop = std::chrono::steady_clock::now();
      double ms =
          std::chrono::duration<double, std::milli>(stop - start).count();
      float loss = 0.0f;
      backend.download(&loss, results.data(0, 4), 4);
      if (gradMode) {
        // Loss first, then one gradient per trainable parameter.
        std::vector<std::vector<uint8_t>> grads(results.offsets.size());
        std::vector<TensorToWrite> tensors;
        for (size_t r = 1; r < results.offsets.size(); ++r) {
          DType dtype;
          downloadResult(r, grads[r], dtype);
          tensors.push_back({str(resultRecords[r], "name"), dtype,
                             results.shape(r), grads[r].data(),
                             grads[r].size()});
        }
        releaseResults();
        problem = writeSafetensors(options.gradsOutput, tensors,
                                   {{"loss", std::to_string(loss)}});
        if (!problem.empty())
          die(problem);
        std::printf("loss %.9g\n", loss);
        std::printf("wrote %zu gradients to %s\n", tensors.size(),
                    options.gradsOutput.c_str());
        losses.push_back(loss);
        times.push_back(ms);
        break; // One step; then the report.
      }
      releaseResults();
      losses.push_back(loss);
      times.push_back(ms);
      std::printf("step %lld/%lld  loss %.6g  %.2f ms\n",
                  static_cast<long long>(t),
                  static_cast<long long>(startStep + steps),
                  static_cast<double>(loss), ms);
      std::fflush(stdout);
      if (!std::isfinite(loss)) {
        // The compiled step skipped its update: the parameters are those
        // after the previous step.
        diverged = true;
        break;
      }
      lastGood = t;
      if (saveEvery > 0 && s + 1 < steps && t % saveEvery == 0)
        saveAdapter(t);
    }

    int rc = 0;
    if (diverged) {
      std::fprintf(stderr,
                   "error: step %lld: the loss is not finite (%g); training "
                   "stopped. The step's update was skipped: the parameters "
                   "are those after step %lld%s\n",
                   static_cast<long long>(lastGood + 1),
                   static_cast<double>(losses.back()),
                   static_cast<long long>(lastGood),
                   options.saveAdapter.empty() ? "" : ", saved as the adapter");
      rc = 4;
    }
    if (!options.saveAdapter.empty())
      saveAdapter(lastGood);
    mergeAdapters();

    size_t measuredPeak = tracker.peakTotal();
    std::vector<double> sortedTimes = times;
    std::sort(sortedTimes.begin(), sortedTimes.end());
    double medianMs =
        sortedTimes.empty() ? 0.0 : sortedTimes[sortedTimes.size() / 2];
    if (options.report) {
      std::printf("  memory         frozen weights %.2f MB, trainable %.2f "
                  "MB, optimizer state %.2f MB%s, inputs %.2f MB,\n"
                  "                 gradients %.2f MB (touched %.2f MB), "
                  "activations %.2f MB (touched %.2f MB), heap %.2f MB\n",
                  mib(weightBytes), mib(trainableBytes), mib(stateBytes),
                  stateInPeak || stateBytes == 0 ? ""
                  : statePlacement == Placement::Paged
                      ? " (not in the peak: on the GPU while "
                        "prefetched, evictable)"
                      : " (not in the peak: host memory)",
                  mib(inputBytes), mib(gradientBytes),
                  mib(touchedArena(0, gradientBytes)),
                  mib(arenaBytes - gradientBytes),
                  mib(touchedArena(gradientBytes, arenaBytes)), mib(heapBytes));
      if (hostArenaRecord)
        std::printf("  offloaded      activations %.2f MB idle in %s%s\n",
                    mib(hostArenaBytes),
                    backend.describe(Placement::Host).c_str(),
                    hostArenaInPeak ? " (in the peak: the CPU's memory)"
                                    : " (not in the peak)");
      if (checkpoint.present)
        std::printf(
            "  checkpoint     %s: keeps %lld of %lld boundaries, "
            "recomputes %lld ops, %.1f MFLOP a step (%.1f%% of the "
            "step's %.1f MFLOP)\n",
            checkpoint.policy.c_str(), static_cast<long long>(checkpoint.kept),
            static_cast<long long>(checkpoint.boundaries),
            static_cast<long long>(checkpoint.recomputedOps),
            checkpoint.recomputeFlops / 1e6,
            checkpoint.stepFlops > 0
                ? 100.0 * checkpoint.recomputeFlops / checkpoint.stepFlops
                : 0.0,
            checkpoint.stepFlops / 1e6);
      printPeak(measuredPeak);
      std::printf("  time           median %.3f ms a step over %zu steps\n",
                  medianMs, times.size());
      std::printf("  (MB = 2^20 bytes)\n");
    }
    if (!options.reportJson.empty()) {
      std::string json = std::string("{\"mode\": \"") +
                         (gradMode ? "grad" : "train") + "\", \"losses\": [";
      for (size_t i = 0; i < losses.size(); ++i) {
        char buf[64];
        std::snprintf(buf, sizeof(buf), "%s%.9g", i ? ", " : "", losses[i]);
        json += buf;
      }
      char buf[1024];
      std::snprintf(
          buf, sizeof(buf),
          "], \"first_step\": %lld, \"weights_bytes\": %zu, "
          "\"trainable_bytes\": %zu, \"optimizer_state_bytes\": "
          "%zu, \"optimizer_state_placement\": \"%s\", "
          "\"optimizer_state_in_peak\": %s, \"input_bytes\": %zu, "
          "\"arena_bytes\": %lld, "
          "\"gradient_bytes\": %lld, \"heap_bytes\": %lld, "
          "\"offloaded_bytes\": %lld, \"offloaded_in_peak\": %s, "
          "\"predicted_peak_bytes\": %zu, \"measured_peak_bytes\": %zu, "
          "\"checkpoint\": \"%s\", \"recomputed_ops\": %lld, "
          "\"recompute_flops\": %.0f, \"step_flops\": %.0f, "
          "\"trainable\": %lld, \"frozen\": %lld, \"batch\": %lld, "
          "\"median_step_ms\": %.3f}\n",
          static_cast<long long>(startStep + 1), weightBytes, trainableBytes,
          stateBytes, placementName(statePlacement),
          stateInPeak ? "true" : "false", inputBytes,
          static_cast<long long>(arenaBytes),
          static_cast<long long>(gradientBytes),
          static_cast<long long>(heapBytes),
          static_cast<long long>(hostArenaBytes),
          hostArenaInPeak ? "true" : "false", predictedPeak, measuredPeak,
          checkpoint.present ? checkpoint.policy.c_str() : "none",
          static_cast<long long>(checkpoint.recomputedOps),
          checkpoint.recomputeFlops, checkpoint.stepFlops,
          static_cast<long long>(trainable), static_cast<long long>(frozen),
          static_cast<long long>(batch), medianMs);
      json += buf;
      problem = writeFileAtomic(options.reportJson, json.data(), json.size());
      if (!problem.empty())
        die(problem);
    }
    if (rc == 0 && predictedPeak != measuredPeak)
      rc = 3;
    return rc;
  }

  if (generating) {
    if (positionIndex == records.size() || idsIndex == records.size() ||
        resultRecords.size() != 2)
      die("corrupt model manifest: a generation step without its position, "
          "ids or results");
    int64_t rowsB = input.shape[0], promptS = input.shape[1];
    if (promptS < 1)
      die(options.input + ": the prompt is empty");
    if (str(resultRecords[0], "dtype") != "I64" ||
        str(resultRecords[1], "dtype") != "F32")
      die("corrupt model manifest: a generation step returns i64 ids and "
          "f32 logits");
    if (const JsonValue *bound = records[idsIndex].get("ids_below"))
      if (eos >= bound->getInt64().value_or(0))
        die("--eos: token id " + options.eos +
            " is outside the vocabulary [0, " +
            std::to_string(bound->getInt64().value_or(0)) + ")");
    int64_t capacity = promptS + maxNewTokens - 1;
    // The arena was planned for the largest step: the prompt, or a chunk.
    int64_t promptChunk = args[idsIndex].shape[1];
    auto ids = reinterpret_cast<const int64_t *>(input.data.data());
    // tokens[b] grows from the prompt; logits of each new token, row-major.
    std::vector<std::vector<int64_t>> tokens(rowsB);
    for (int64_t b = 0; b < rowsB; ++b)
      tokens[b].assign(ids + b * promptS, ids + (b + 1) * promptS);
    std::vector<float> logits;
    std::vector<bool> stopped(rowsB, false);
    int64_t vocab = 0, generated = 0;
    Argument &idsArg = args[idsIndex];
    // One step over the ids argument's tokens, after the `pastTokens` the
    // caches hold; returns the next id of each row.
    auto step = [&](int64_t pastTokens) {
      // The caches were sized for every step; a step past them would write
      // outside.
      if (pastTokens + idsArg.shape[1] > capacity)
        die("internal error: a step of " + std::to_string(idsArg.shape[1]) +
            " tokens after " + std::to_string(pastTokens) +
            " overruns the KV cache of " + std::to_string(capacity));
      past = pastTokens;
      lowmem_run(descriptors.data());
      std::vector<uint8_t> next, rowLogits;
      DType dtype;
      downloadResult(0, next, dtype);
      if (!options.logitsOutput.empty()) {
        downloadResult(1, rowLogits, dtype);
        vocab = results.shape(1).back();
        auto *f = reinterpret_cast<const float *>(rowLogits.data());
        logits.insert(logits.end(), f, f + rowsB * vocab);
      }
      releaseResults();
      std::vector<int64_t> out(rowsB);
      std::memcpy(out.data(), next.data(), rowsB * 8);
      return out;
    };
    // The prompt, a chunk of positions at a time (its columns [p, p + c) of
    // every row, gathered); a whole prompt is already in place.
    auto prefill = [&]() {
      std::vector<int64_t> next;
      size_t kept = logits.size();
      for (int64_t p = 0; p < promptS; p += promptChunk) {
        int64_t c = std::min(promptChunk, promptS - p);
        if (c != promptS) {
          std::vector<int64_t> part(rowsB * c);
          for (int64_t b = 0; b < rowsB; ++b)
            std::memcpy(&part[b * c], ids + b * promptS + p, c * 8);
          backend.upload(idsArg.data, part.data(), part.size() * 8);
        }
        idsArg.shape = {rowsB, c};
        describe(idsArg);
        // Only the last chunk's logits pick a token.
        logits.resize(kept);
        next = step(p);
      }
      return next;
    };
    if (backend.warmUp()) {
      prefill();
      logits.clear();
    }
    auto start = std::chrono::steady_clock::now();
    std::vector<int64_t> next = prefill();
    auto prefilled = std::chrono::steady_clock::now();
    // Each new token is the input of the next decode step, [B, 1].
    idsArg.shape = {rowsB, 1};
    describe(idsArg);
    while (true) {
      bool all = true;
      for (int64_t b = 0; b < rowsB; ++b) {
        if (stopped[b])
          next[b] = eos;
        tokens[b].push_back(next[b]);
        stopped[b] = stopped[b] || next[b] == eos;
        all = all && stopped[b];
      }
      ++generated;
      if (generated == maxNewTokens || all)
        break;
      backend.upload(idsArg.data, next.data(), rowsB * 8);
      next = step(promptS + generated - 1);
    }
    auto stop = std::chrono::steady_clock::now();
    double prefillMs =
        std::chrono::duration<double, std::milli>(prefilled - start).count();
    double decodeMs =
        std::chrono::duration<double, std::milli>(stop - prefilled).count();
    int64_t decoded = generated - 1;

    std::vector<int64_t> flat;
    for (const auto &row : tokens)
      flat.insert(flat.end(), row.begin(), row.end());
    problem = writeNpy(options.output, DType::I64, {rowsB, promptS + generated},
                       flat.data());
    if (problem.empty() && !options.logitsOutput.empty()) {
      // Gathered a step at a time, [N, B, V]; written [B, N, V].
      std::vector<float> byRow(logits.size());
      for (int64_t n = 0; n < generated; ++n)
        for (int64_t b = 0; b < rowsB; ++b)
          std::memcpy(&byRow[(b * generated + n) * vocab],
                      &logits[(n * rowsB + b) * vocab], vocab * 4);
      problem = writeNpy(options.logitsOutput, DType::F32,
                         {rowsB, generated, vocab}, byRow.data());
    }
    if (!problem.empty())
      die(problem);
    size_t measuredPeak = tracker.peakTotal();
    double prefillRate = rowsB * promptS / (prefillMs / 1e3);
    double decodeRate = decoded > 0 ? rowsB * decoded / (decodeMs / 1e3) : 0;
    if (options.report) {
      reportHeader();
      std::printf("  generation     batch %lld, prompt %lld, %lld new "
                  "tokens a row (greedy)",
                  static_cast<long long>(rowsB),
                  static_cast<long long>(promptS),
                  static_cast<long long>(generated));
      if (promptChunk < promptS)
        std::printf(", prefill %lld tokens a step",
                    static_cast<long long>(promptChunk));
      if (shortestPrompt < promptS)
        std::printf(", prompts of %lld to %lld tokens left-padded with %lld",
                    static_cast<long long>(shortestPrompt),
                    static_cast<long long>(promptS),
                    static_cast<long long>(pad));
      std::printf("\n");
      std::printf("  kv cache       %s, %zu caches, %.2f MB (capacity %lld "
                  "positions)\n",
                  str(manifest, "kv_cache").c_str(), cacheCount,
                  mib(cacheBytes), static_cast<long long>(capacity));
      std::printf("  prefill        %lld tokens in %.3f ms: %.1f tokens/s\n",
                  static_cast<long long>(rowsB * promptS), prefillMs,
                  prefillRate);
      if (decoded > 0)
        std::printf("  decode         %lld tokens in %.3f ms: %.1f tokens/s "
                    "(%.3f ms a step)\n",
                    static_cast<long long>(rowsB * decoded), decodeMs,
                    decodeRate, decodeMs / decoded);
      std::printf("  memory         input %.2f MB, arena %.2f MB, results "
                  "%.2f MB\n",
                  mib(inputBytes), mib(arenaBytes), mib(heapBytes));
      printPeak(measuredPeak);
      std::printf("  (MB = 2^20 bytes)\n");
    }
    if (!options.reportJson.empty()) {
      char buf[1024];
      int len = std::snprintf(
          buf, sizeof(buf),
          "{\"format\": \"%s\", \"kv_cache\": \"%s\", \"batch\": %lld, "
          "\"prompt\": %lld, \"new_tokens\": %lld, \"weights_bytes\": %zu, "
          "\"kv_cache_bytes\": %zu, \"arena_bytes\": %lld, "
          "\"prefill_ms\": %.3f, \"decode_ms\": %.3f, "
          "\"prefill_tokens_per_s\": %.3f, \"decode_tokens_per_s\": %.3f, "
          "\"predicted_peak_bytes\": %zu, \"measured_peak_bytes\": %zu}\n",
          format.c_str(), str(manifest, "kv_cache").c_str(),
          static_cast<long long>(rowsB), static_cast<long long>(promptS),
          static_cast<long long>(generated), weightBytes + trainableBytes,
          cacheBytes, static_cast<long long>(arenaBytes), prefillMs, decodeMs,
          prefillRate, decodeRate, predictedPeak, measuredPeak);
      problem = writeFileAtomic(options.reportJson, buf, len);
      if (!problem.empty())
        die(problem);
    }
    return predictedPeak == measuredPeak ? 0 : 3;
  }

  if (backend.warmUp()) {
    lowmem_run(descriptors.data());
    releaseResults();
  }
  auto start = std::chrono::steady_clock::now();
  lowmem_run(descriptors.data());
  auto stop = std::chrono::steady_clock::now();
  double ms = std::chrono::duration<double, std::milli>(stop - start).count();

  std::vector<uint8_t> output;
  DType outType;
  downloadResult(0, output, outType);
  problem = writeNpy(options.output, outType, results.shape(0), output.data());
  if (!problem.empty())
    die(problem);
  mergeAdapters();

  int64_t touched = touchedArena(0, arenaBytes);
  size_t measuredPeak = tracker.peakTotal();
  if (options.report) {
    reportHeader();
    std::printf("  forward        input %.2f MB, arena %.2f MB (touched "
                "%.2f MB), output %.2f MB\n",
                mib(inputBytes), mib(arenaBytes), mib(touched), mib(heapBytes));
    printPeak(measuredPeak);
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
        theoreticalBits / 8.0, weightBytes + trainableBytes, inputBytes,
        static_cast<long long>(arenaBytes), static_cast<long long>(touched),
        static_cast<long long>(heapBytes), predictedPeak, measuredPeak, ms);
    problem = writeFileAtomic(options.reportJson, buf, len);
    if (!problem.empty())
      die(problem);
  }
  releaseResults();
  return predictedPeak == measuredPeak ? 0 : 3;
}
