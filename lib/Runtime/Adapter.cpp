//===- Adapter.cpp - PEFT LoRA adapters on disk ---------------------------===//
//
// Part of the lowmem project.
//
//===----------------------------------------------------------------------===//

#include "lowmem/Runtime/Adapter.h"
#include "lowmem/Runtime/FileUtil.h"
#include "lowmem/Runtime/Json.h"

#include <cerrno>
#include <cmath>
#include <sys/stat.h>

using namespace lowmem::rt;

namespace {

/// SplitMix64: a small, fast generator with a well-mixed output, enough for
/// initialising weights reproducibly.
struct SplitMix64 {
  uint64_t state;
  uint64_t next() {
    uint64_t z = (state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  /// Uniform in [0, 1) with 53 random bits.
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
};

/// FNV-1a of a string, to give each parameter its own stream.
uint64_t hashName(const std::string &name) {
  uint64_t h = 0xCBF29CE484222325ull;
  for (unsigned char c : name)
    h = (h ^ c) * 0x100000001B3ull;
  return h;
}

} // namespace

std::string lowmem::rt::adapterWeightsPath(const std::string &dir) {
  return dir + "/adapter_model.safetensors";
}

std::string lowmem::rt::adapterConfigPath(const std::string &dir) {
  return dir + "/adapter_config.json";
}

std::string lowmem::rt::trainingStatePath(const std::string &dir) {
  return dir + "/training_state.safetensors";
}

std::string lowmem::rt::readAdapterConfig(const std::string &dir,
                                          LoraConfig &out) {
  std::string path = adapterConfigPath(dir);
  std::vector<unsigned char> bytes;
  std::string problem = readFile(path, bytes);
  if (!problem.empty())
    return problem;
  JsonValue json;
  problem =
      parseJson(std::string_view(reinterpret_cast<const char *>(bytes.data()),
                                 bytes.size()),
                json);
  if (!problem.empty())
    return path + ": invalid JSON: " + problem;
  if (!json.isObject())
    return path + ": expected a JSON object";
  if (const JsonValue *type = json.get("peft_type"))
    if (!type->isString() || type->getString() != "LORA")
      return path + ": peft_type is not \"LORA\"";
  const JsonValue *r = json.get("r");
  if (!r || !r->getInt64() || *r->getInt64() < 1)
    return path + ": \"r\" must be a positive integer";
  const JsonValue *alpha = json.get("lora_alpha");
  if (!alpha || !alpha->isNumber() || !(alpha->getNumber() > 0))
    return path + ": \"lora_alpha\" must be a positive number";
  LoraConfig config;
  config.rank = *r->getInt64();
  config.alpha = alpha->getNumber();
  if (const JsonValue *rs = json.get("use_rslora")) {
    if (!rs->isBool())
      return path + ": \"use_rslora\" must be true or false";
    config.rslora = rs->getBool();
  }
  if (const JsonValue *dropout = json.get("lora_dropout")) {
    if (!dropout->isNumber())
      return path + ": \"lora_dropout\" must be a number";
    config.dropout = dropout->getNumber();
  }
  if (const JsonValue *targets = json.get("target_modules")) {
    if (targets->isString()) {
      config.targets.push_back(targets->getString());
    } else if (targets->isArray()) {
      for (const JsonValue &t : targets->getArray()) {
        if (!t.isString())
          return path + ": \"target_modules\" must hold strings";
        config.targets.push_back(t.getString());
      }
    } else if (!targets->isNull()) {
      return path + ": \"target_modules\" must be a list of names";
    }
  }
  out = std::move(config);
  return "";
}

std::string lowmem::rt::checkAdapterConfig(const std::string &dir,
                                           const LoraConfig &saved,
                                           const LoraConfig &model) {
  std::string path = adapterConfigPath(dir);
  if (saved.rank != model.rank)
    return path + ": the adapter has rank " + std::to_string(saved.rank) +
           " but the model was compiled with --lora-rank=" +
           std::to_string(model.rank);
  if (saved.alpha != model.alpha)
    return path + ": the adapter has lora_alpha " +
           std::to_string(saved.alpha) +
           " but the model was compiled with --lora-alpha=" +
           std::to_string(model.alpha);
  if (saved.rslora != model.rslora)
    return path + ": the adapter " + (saved.rslora ? "uses" : "does not use") +
           " rslora scaling but the model " +
           (model.rslora ? "does" : "does not");
  return "";
}

std::string lowmem::rt::writeAdapter(
    const std::string &dir, const LoraConfig &config,
    const std::vector<TensorToWrite> &tensors,
    const std::vector<std::pair<std::string, std::string>> &metadata) {
  if (::mkdir(dir.c_str(), 0777) != 0 && errno != EEXIST)
    return dir + ": cannot create the directory: " + errnoText(errno);
  struct stat st;
  if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
    return dir + ": not a directory";

  std::vector<TensorToWrite> named = tensors;
  for (TensorToWrite &t : named)
    t.name = kPeftPrefix + t.name;
  std::vector<std::pair<std::string, std::string>> allMetadata{
      {"format", "pt"}};
  allMetadata.insert(allMetadata.end(), metadata.begin(), metadata.end());
  std::string problem =
      writeSafetensors(adapterWeightsPath(dir), named, allMetadata);
  if (!problem.empty())
    return problem;

  JsonValue json = JsonValue::makeObject();
  JsonValue targets = JsonValue::makeArray();
  for (const std::string &t : config.targets)
    targets.push(JsonValue::makeString(t));
  json.set("peft_type", JsonValue::makeString("LORA"));
  json.set("task_type", JsonValue::makeNull());
  json.set("r", JsonValue::makeInteger(config.rank));
  json.set("lora_alpha", JsonValue::makeNumber(config.alpha));
  json.set("lora_dropout", JsonValue::makeNumber(config.dropout));
  json.set("use_rslora", JsonValue::makeBool(config.rslora));
  json.set("target_modules", std::move(targets));
  json.set("bias", JsonValue::makeString("none"));
  json.set("fan_in_fan_out", JsonValue::makeBool(false));
  json.set("init_lora_weights", JsonValue::makeBool(true));
  json.set("inference_mode", JsonValue::makeBool(true));
  json.set("modules_to_save", JsonValue::makeNull());
  json.set("base_model_name_or_path", JsonValue::makeNull());
  std::string text = json.serialize() + "\n";
  return writeFileAtomic(adapterConfigPath(dir), text.data(), text.size());
}

void lowmem::rt::initLoraA(float *data, int64_t rank, int64_t in, uint64_t seed,
                           const std::string &name) {
  SplitMix64 rng{seed ^ hashName(name)};
  double bound = 1.0 / std::sqrt(static_cast<double>(in));
  for (int64_t i = 0; i < rank * in; ++i)
    data[i] = static_cast<float>((2.0 * rng.uniform() - 1.0) * bound);
}
