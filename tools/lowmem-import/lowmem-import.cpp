//===- lowmem-import.cpp - import a checkpoint as a lowmem graph ----------===//
//
// Part of the lowmem project.
//
//===----------------------------------------------------------------------===//
//
//   lowmem-import --arch=bignet WEIGHTS.safetensors -o model.mlir
//
// Reads the tensor names and shapes of a checkpoint (never its data beyond
// quantization states) and emits the model's forward function in the lowmem
// dialect. The width and depth of BigNet come from the file. Weights already
// quantized under bitsandbytes' names become `!lowmem.qtensor` arguments.
//
//===----------------------------------------------------------------------===//

#include "lowmem/Pipelines/Pipelines.h"
#include "lowmem/Runtime/FileUtil.h"
#include "lowmem/Runtime/Json.h"
#include "lowmem/Runtime/QuantizedCheckpoint.h"
#include "lowmem/Runtime/Safetensors.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Parser/Parser.h"

#include "llvm/Support/CommandLine.h"
#include "llvm/Support/Error.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/raw_ostream.h"

#include <cmath>
#include <map>
#include <optional>
#include <set>

namespace cl = llvm::cl;
namespace lrt = ::lowmem::rt;
namespace lq = ::lowmem::quant;

static cl::OptionCategory category("lowmem-import options");
static cl::opt<std::string>
    inputFile(cl::Positional,
              cl::desc("<weights.safetensors> (optional with --config: "
                       "a graph of the configuration's shapes)"),
              cl::Optional, cl::cat(category));
static cl::opt<std::string> outputFile("o", cl::desc("Output .mlir file"),
                                       cl::init("-"), cl::cat(category));
static cl::opt<std::string> arch("arch",
                                 cl::desc("bignet, qwen2, llama or auto (a "
                                          "decoder when --config is given)"),
                                 cl::init("auto"), cl::cat(category));
static cl::opt<std::string> config("config",
                                   cl::desc("Hugging Face config.json"),
                                   cl::init(""), cl::cat(category));

static int fail(const std::string &message) {
  llvm::errs() << "lowmem-import: error: " << message << "\n";
  return 1;
}

namespace {

/// Declares a checkpoint's tensors as the arguments of a forward function,
/// checking each one's shape; quantized or half-precision 2-D weights of
/// linear layers become `!lowmem.qtensor` arguments.
class GraphBuilder {
public:
  /// Without a file, every parameter is an f32 tensor of its expected shape
  /// (planning a model from its configuration alone).
  explicit GraphBuilder(const lrt::SafetensorsFile *file) : file(file) {}

protected:
  bool has(const std::string &name) {
    lrt::StoredWeightInfo info;
    return file && lrt::inspectWeight(*file, name, info).empty() &&
           info.present;
  }

  bool isQuantPart(const std::string &name) {
    for (const std::string &base : quantizedNames)
      if (name.compare(0, base.size(), base) == 0 ||
          name == base.substr(0, base.size() - 7) + "SCB")
        return true;
    return false;
  }

  /// Declares the parameter `name` with the expected logical shape; `why`
  /// names where that shape comes from, for the error.
  std::string param(const std::string &name, std::vector<int64_t> shape,
                    std::string &ssa, bool *quantized = nullptr,
                    const std::string &why = "") {
    lrt::StoredWeightInfo info;
    if (!file) {
      info.present = true;
      info.shape = shape;
    }
    std::string problem = file ? lrt::inspectWeight(*file, name, info) : "";
    if (!problem.empty())
      return problem;
    if (!info.present)
      return file->path() + ": missing tensor '" + name + "'" +
             (why.empty() ? "" : " (" + why + ")");
    if (info.shape != shape)
      return file->path() + ": tensor '" + name + "': has shape " +
             lrt::shapeToString(info.shape) + ", expected " +
             lrt::shapeToString(shape) + (why.empty() ? "" : " (" + why + ")");
    std::string type = "tensor<";
    for (int64_t dimSize : shape)
      type += std::to_string(dimSize) + "x";
    type += "f32>";
    bool isQuantized = info.quantized || info.format == lq::Format::F16 ||
                       info.format == lq::Format::BF16;
    if (isQuantized && shape.size() == 2 && quantized) {
      type = "!lowmem.qtensor<" + std::to_string(shape[0]) + "x" +
             std::to_string(shape[1]) + "xf32, " + lq::formatName(info.format);
      if (info.blockSize)
        type += ", block = " + std::to_string(info.blockSize);
      if (info.doubleQuant)
        type += ", double_quant";
      type += ">";
      *quantized = true;
      quantizedNames.push_back(name + ".");
    } else if (info.quantized) {
      return file->path() + ": tensor '" + name + "' is stored as " +
             lq::formatName(info.format) +
             ", but only matrices (linear layers, the embedding) may be "
             "quantized";
    }
    ssa = "%p" + std::to_string(args.size());
    types[ssa] = type;
    args.push_back(ssa + ": " + type + " {lowmem.param = \"" + name + "\"}");
    used.insert(name);
    return "";
  }

  /// The first tensor of the file that no parameter uses, or "".
  std::string unexpectedTensor() {
    if (!file)
      return "";
    for (const lrt::TensorView &t : file->tensors())
      if (!used.count(t.name) && !isQuantPart(t.name))
        return t.name;
    return "";
  }

  const lrt::SafetensorsFile *file;
  std::vector<std::string> args;
  std::map<std::string, std::string> types;
  std::set<std::string> used;
  std::vector<std::string> quantizedNames;
};

/// Emits BigNet's forward function as text in the lowmem dialect.
class BigNetImporter : GraphBuilder {
public:
  explicit BigNetImporter(const lrt::SafetensorsFile &file)
      : GraphBuilder(&file) {}

  std::string run(std::string &out) {
    // Depth: blocks model.{2k}.model.0.weight for k = 0, 1, ...
    int64_t depth = 0;
    while (has("model." + std::to_string(2 * depth) + ".model.0.weight"))
      ++depth;
    if (depth == 0)
      return file->path() + ": missing tensor 'model.0.model.0.weight'; not a "
                            "BigNet checkpoint";
    lrt::StoredWeightInfo first;
    std::string problem =
        lrt::inspectWeight(*file, "model.0.model.0.weight", first);
    if (!problem.empty())
      return problem;
    if (first.shape.size() != 2 || first.shape[0] != first.shape[1])
      return file->path() + ": tensor 'model.0.model.0.weight': has shape " +
             lrt::shapeToString(first.shape) + ", expected a square [dim, dim]";
    dim = first.shape[0];
    std::string d = std::to_string(dim);
    act = "tensor<?x" + d + "xf32>";
    vec = "tensor<" + d + "xf32>";

    std::string body;
    std::string h = "%x";
    int counter = 0;
    for (int64_t k = 0; k < depth; ++k) {
      std::string blockInput = h;
      for (int j = 0; j < 3; ++j) {
        std::string prefix = "model." + std::to_string(2 * k) + ".model." +
                             std::to_string(2 * j);
        std::string weight, bias;
        bool quantized = false;
        if (!(problem =
                  param(prefix + ".weight", {dim, dim}, weight, &quantized))
                 .empty() ||
            !(problem = param(prefix + ".bias", {dim}, bias)).empty())
          return problem;
        std::string r = "%h" + std::to_string(counter++);
        body += "  " + r + " = lowmem." + (quantized ? "qlinear " : "linear ") +
                h + ", " + weight + " bias(" + bias + " : " + vec +
                ") : " + act + ", " + types[weight] + " -> " + act + "\n";
        h = r;
        if (j < 2) {
          std::string a = "%h" + std::to_string(counter++);
          body += "  " + a + " = lowmem.relu " + h + " : " + act + "\n";
          h = a;
        }
      }
      std::string s = "%h" + std::to_string(counter++);
      body += "  " + s + " = lowmem.add " + h + ", " + blockInput + " : " +
              act + "\n";
      h = s;
      if (k + 1 < depth) {
        std::string prefix = "model." + std::to_string(2 * k + 1);
        std::string gamma, beta;
        if (!(problem = param(prefix + ".weight", {dim}, gamma)).empty() ||
            !(problem = param(prefix + ".bias", {dim}, beta)).empty())
          return problem;
        std::string n = "%h" + std::to_string(counter++);
        body += "  " + n + " = lowmem.group_norm " + h + ", " + gamma + ", " +
                beta +
                " {epsilon = 1.0e-05 : f64, num_groups = 1 : i64} : " + act +
                ", " + vec + ", " + vec + " -> " + act + "\n";
        h = n;
      }
    }
    // Unknown tensors mean the file is not the BigNet we think it is.
    if (std::string extra = unexpectedTensor(); !extra.empty())
      return file->path() + ": unexpected tensor '" + extra +
             "' for a BigNet of dim " + d + " and depth " +
             std::to_string(depth);

    out = "// BigNet imported from " + file->path() + ": dim " + d +
          ", depth " + std::to_string(depth) + "\n";
    out += "func.func @forward(%x: " + act + " {lowmem.input = \"x\"}";
    for (const std::string &arg : args)
      out += ",\n    " + arg;
    out +=
        ") -> " + act + " {\n" + body + "  return " + h + " : " + act + "\n}\n";
    return "";
  }

private:
  int64_t dim = 0;
  std::string act, vec;
};

/// The fields of a Hugging Face config.json that define a Qwen2 or LLaMA
/// decoder.
struct DecoderConfig {
  std::string modelType;
  int64_t hidden = 0, intermediate = 0, layers = 0, heads = 0, kvHeads = 0,
          headDim = 0, vocab = 0;
  double eps = 1e-6, theta = 10000.0;
  bool tied = false, qkvBias = false, oBias = false, mlpBias = false;
  std::vector<double> invFreq;
};

/// Reads `path`; "" or an error that names the key.
std::string readDecoderConfig(const std::string &path, DecoderConfig &c) {
  std::vector<unsigned char> bytes;
  std::string problem = lrt::readFile(path, bytes);
  if (!problem.empty())
    return problem;
  lrt::JsonValue root;
  problem = lrt::parseJson(std::string(bytes.begin(), bytes.end()), root);
  if (!problem.empty())
    return path + ": " + problem;
  if (!root.isObject())
    return path + ": not a JSON object";
  auto fail = [&](const std::string &key, const std::string &what) {
    return path + ": '" + key + "' " + what;
  };
  const lrt::JsonValue *type = root.get("model_type");
  if (!type || !type->isString())
    return fail("model_type", "is missing; expected \"qwen2\" or \"llama\"");
  c.modelType = type->getString();
  if (c.modelType != "qwen2" && c.modelType != "llama")
    return fail("model_type", "is \"" + c.modelType +
                                  "\", an architecture lowmem does not "
                                  "import; expected \"qwen2\" or \"llama\"");
  // A positive integer; `fallback` when absent or null (0: required).
  auto integer = [&](const char *key, int64_t &out,
                     int64_t fallback) -> std::string {
    const lrt::JsonValue *v = root.get(key);
    if (!v || v->isNull()) {
      if (!fallback)
        return fail(key, "is missing");
      out = fallback;
      return "";
    }
    std::optional<int64_t> i = v->getInt64();
    if (!i || *i < 1)
      return fail(key, "must be a positive integer");
    out = *i;
    return "";
  };
  auto number = [&](const char *key, double &out) -> std::string {
    const lrt::JsonValue *v = root.get(key);
    if (!v || v->isNull())
      return "";
    if (!v->isNumber() || !(v->getNumber() > 0.0))
      return fail(key, "must be a positive number");
    out = v->getNumber();
    return "";
  };
  auto flag = [&](const char *key, bool &out) -> std::string {
    const lrt::JsonValue *v = root.get(key);
    if (!v || v->isNull())
      return "";
    if (!v->isBool())
      return fail(key, "must be true or false");
    out = v->getBool();
    return "";
  };
  for (std::string p :
       {integer("hidden_size", c.hidden, 0),
        integer("intermediate_size", c.intermediate, 0),
        integer("num_hidden_layers", c.layers, 0),
        integer("num_attention_heads", c.heads, 0),
        integer("vocab_size", c.vocab, 0), number("rms_norm_eps", c.eps),
        number("rope_theta", c.theta), flag("tie_word_embeddings", c.tied)})
    if (!p.empty())
      return p;
  if (std::string p = integer("num_key_value_heads", c.kvHeads, c.heads);
      !p.empty())
    return p;
  const lrt::JsonValue *headDimValue = root.get("head_dim");
  bool headDimGiven = headDimValue && !headDimValue->isNull();
  if (c.hidden % c.heads != 0 && !headDimGiven)
    return fail("num_attention_heads", "(" + std::to_string(c.heads) +
                                           ") must divide hidden_size (" +
                                           std::to_string(c.hidden) + ")");
  if (std::string p = integer("head_dim", c.headDim, c.hidden / c.heads);
      !p.empty())
    return p;
  if (c.headDim % 2 != 0)
    return fail("head_dim", "must be even for rotary embeddings, got " +
                                std::to_string(c.headDim));
  // Every tensor and the rotary table are sized from these: keep their
  // products far from overflow (a 2^40-element tensor is no model).
  constexpr int64_t kLimit = int64_t(1) << 40;
  for (auto [key, value] :
       {std::pair<const char *, int64_t>{"hidden_size", c.hidden},
        {"intermediate_size", c.intermediate},
        {"num_hidden_layers", c.layers},
        {"num_attention_heads", c.heads},
        {"num_key_value_heads", c.kvHeads},
        {"head_dim", c.headDim},
        {"vocab_size", c.vocab}})
    if (value > (int64_t(1) << 20))
      return fail(key, "is " + std::to_string(value) +
                           ", beyond any model lowmem can hold (2^20)");
  if (c.heads * c.headDim > kLimit / c.hidden || c.vocab > kLimit / c.hidden ||
      c.intermediate > kLimit / c.hidden)
    return fail("hidden_size", "makes tensors of more than 2^40 elements");
  if (const lrt::JsonValue *window = root.get("use_sliding_window");
      window && window->isBool() && window->getBool())
    return fail("use_sliding_window",
                "is true; sliding-window attention is not supported yet");
  if (c.heads % c.kvHeads != 0)
    return fail("num_key_value_heads", "(" + std::to_string(c.kvHeads) +
                                           ") must divide "
                                           "num_attention_heads (" +
                                           std::to_string(c.heads) + ")");
  bool attentionBias = false;
  if (std::string p = flag("attention_bias", attentionBias); !p.empty())
    return p;
  if (std::string p = flag("mlp_bias", c.mlpBias); !p.empty())
    return p;
  // Qwen2's q, k and v projections always have biases; LLaMA's follow
  // attention_bias (o_proj too).
  c.qkvBias = c.modelType == "qwen2" || attentionBias;
  c.oBias = c.modelType == "llama" && attentionBias;
  c.mlpBias = c.modelType == "llama" && c.mlpBias;
  if (const lrt::JsonValue *act = root.get("hidden_act");
      act && !act->isNull() && !(act->isString() && act->getString() == "silu"))
    return fail("hidden_act", "must be \"silu\" (SwiGLU)");

  // Rotary frequencies theta^(-2i/D), then the scaling, if any.
  int64_t half = c.headDim / 2;
  for (int64_t i = 0; i < half; ++i)
    c.invFreq.push_back(1.0 /
                        std::pow(c.theta, double(2 * i) / double(c.headDim)));
  const lrt::JsonValue *scaling = root.get("rope_scaling");
  if (scaling && !scaling->isNull()) {
    if (!scaling->isObject())
      return fail("rope_scaling", "must be an object or null");
    const lrt::JsonValue *kind = scaling->get("rope_type");
    if (!kind)
      kind = scaling->get("type");
    std::string name = kind && kind->isString() ? kind->getString() : "";
    auto field = [&](const char *key, double &out,
                     bool required) -> std::string {
      const lrt::JsonValue *v = scaling->get(key);
      if (!v) {
        return required ? fail(std::string("rope_scaling.") + key, "is missing")
                        : "";
      }
      if (!v->isNumber() || !(v->getNumber() > 0.0))
        return fail(std::string("rope_scaling.") + key,
                    "must be a positive number");
      out = v->getNumber();
      return "";
    };
    double factor = 1.0;
    if (name == "linear") {
      if (std::string p = field("factor", factor, true); !p.empty())
        return p;
      for (double &f : c.invFreq)
        f /= factor;
    } else if (name == "llama3") {
      double low = 1.0, high = 4.0, original = 0.0;
      for (std::string p :
           {field("factor", factor, true), field("low_freq_factor", low, false),
            field("high_freq_factor", high, false),
            field("original_max_position_embeddings", original, true)})
        if (!p.empty())
          return p;
      if (!(high > low))
        return fail("rope_scaling.high_freq_factor",
                    "must exceed low_freq_factor");
      double lowWavelen = original / low, highWavelen = original / high;
      for (double &f : c.invFreq) {
        double wavelen = 2 * M_PI / f;
        double scaled = wavelen > lowWavelen ? f / factor : f;
        if (wavelen >= highWavelen && wavelen <= lowWavelen) {
          double smooth = (original / wavelen - low) / (high - low);
          scaled = (1 - smooth) * scaled / factor + smooth * scaled;
        }
        f = scaled;
      }
    } else if (name != "default") {
      return fail("rope_scaling.rope_type",
                  "is \"" + name + "\"; supported: default, linear and llama3");
    }
  }
  // The frequencies are f32 constants in the graph.
  for (double f : c.invFreq)
    if (!std::isfinite(static_cast<float>(f)) || !(static_cast<float>(f) > 0))
      return fail(scaling && !scaling->isNull() ? "rope_scaling" : "rope_theta",
                  "gives rotary frequencies outside f32's range");
  return "";
}

/// Emits a Qwen2 or LLaMA decoder's forward function: token ids
/// [batch, seq] to logits [batch, seq, vocab].
class DecoderImporter : GraphBuilder {
public:
  DecoderImporter(const lrt::SafetensorsFile *file, const DecoderConfig &c,
                  std::string configPath)
      : GraphBuilder(file), c(c), configPath(std::move(configPath)) {}

  std::string run(std::string &out) {
    std::string h = std::to_string(c.hidden), v = std::to_string(c.vocab);
    std::string act = "tensor<?x?x" + h + "xf32>";
    auto actOf = [](int64_t n) {
      return "tensor<?x?x" + std::to_string(n) + "xf32>";
    };
    std::string body, problem;
    int counter = 0;
    auto fresh = [&]() { return "%h" + std::to_string(counter++); };
    std::string freqType = "tensor<" + std::to_string(c.headDim / 2) + "xf32>";
    body += "  %inv_freq = arith.constant dense<[";
    for (size_t i = 0; i < c.invFreq.size(); ++i) {
      char buf[32];
      std::snprintf(buf, sizeof(buf), "%s%.9e", i ? ", " : "",
                    static_cast<float>(c.invFreq[i]));
      body += buf;
    }
    body += "]> : " + freqType + "\n";

    // The embedding table may be stored in any format (lowmem-compile
    // --format-of): lowmem.embedding decodes the rows it gathers.
    std::string embed;
    bool embedQuantized = false;
    if (!(problem = param("model.embed_tokens.weight", {c.vocab, c.hidden},
                          embed, &embedQuantized, "vocab_size x hidden_size"))
             .empty())
      return problem;
    std::string x = fresh();
    body += "  " + x + " = lowmem.embedding %ids, " + embed +
            " : tensor<?x?xi64>, " + types[embed] + " -> " + act + "\n";

    // A linear layer `module` [out, in] with an optional bias.
    auto linear = [&](const std::string &input, const std::string &module,
                      int64_t outF, int64_t inF, bool bias,
                      const std::string &residual,
                      const std::string &why) -> std::string {
      std::string w, b;
      bool quantized = false;
      if (!(problem =
                param(module + ".weight", {outF, inF}, w, &quantized, why))
               .empty())
        return "";
      if (bias &&
          !(problem = param(module + ".bias", {outF}, b, nullptr, why)).empty())
        return "";
      std::string r = fresh();
      body += "  " + r + " = lowmem." + (quantized ? "qlinear " : "linear ") +
              input + ", " + w;
      if (bias)
        body += " bias(" + b + " : " + types[b] + ")";
      if (!residual.empty())
        body += " residual(" + residual + " : " + actOf(outF) + ")";
      body +=
          " : " + actOf(inF) + ", " + types[w] + " -> " + actOf(outF) + "\n";
      return r;
    };
    auto rms = [&](const std::string &input,
                   const std::string &name) -> std::string {
      std::string w;
      if (!(problem = param(name, {c.hidden}, w, nullptr, "hidden_size"))
               .empty())
        return "";
      std::string r = fresh();
      char eps[32];
      std::snprintf(eps, sizeof(eps), "%.9e", c.eps);
      body += "  " + r + " = lowmem.rms_norm " + input + ", " + w +
              " {epsilon = " + eps + " : f64} : " + act + ", " + types[w] +
              " -> " + act + "\n";
      return r;
    };

    int64_t qF = c.heads * c.headDim, kvF = c.kvHeads * c.headDim;
    std::string hd = std::to_string(c.headDim);
    char scale[32];
    std::snprintf(scale, sizeof(scale), "%.9e",
                  1.0 / std::sqrt(double(c.headDim)));
    for (int64_t layer = 0; layer < c.layers; ++layer) {
      std::string p = "model.layers." + std::to_string(layer) + ".";
      std::string n = rms(x, p + "input_layernorm.weight");
      if (n.empty())
        return problem;
      std::string q = linear(n, p + "self_attn.q_proj", qF, c.hidden, c.qkvBias,
                             "", "num_attention_heads x head_dim, hidden_size");
      if (q.empty())
        return problem;
      std::string k =
          linear(n, p + "self_attn.k_proj", kvF, c.hidden, c.qkvBias, "",
                 "num_key_value_heads x head_dim, hidden_size");
      if (k.empty())
        return problem;
      std::string val =
          linear(n, p + "self_attn.v_proj", kvF, c.hidden, c.qkvBias, "",
                 "num_key_value_heads x head_dim, hidden_size");
      if (val.empty())
        return problem;
      std::string qr = fresh(), kr = fresh(), a = fresh();
      body += "  " + qr + " = lowmem.rope " + q +
              ", %inv_freq {head_dim = " + hd + " : i64} : " + actOf(qF) +
              ", " + freqType + " -> " + actOf(qF) + "\n";
      body += "  " + kr + " = lowmem.rope " + k +
              ", %inv_freq {head_dim = " + hd + " : i64} : " + actOf(kvF) +
              ", " + freqType + " -> " + actOf(kvF) + "\n";
      body += "  " + a + " = lowmem.attention " + qr + ", " + kr + ", " + val +
              " {causal, num_heads = " + std::to_string(c.heads) +
              " : i64, num_kv_heads = " + std::to_string(c.kvHeads) +
              " : i64, scale = " + scale + " : f64} : " + actOf(qF) + ", " +
              actOf(kvF) + ", " + actOf(kvF) + " -> " + actOf(qF) + "\n";
      std::string o = linear(a, p + "self_attn.o_proj", c.hidden, qF, c.oBias,
                             x, "hidden_size, num_attention_heads x head_dim");
      if (o.empty())
        return problem;
      n = rms(o, p + "post_attention_layernorm.weight");
      if (n.empty())
        return problem;
      std::string g = linear(n, p + "mlp.gate_proj", c.intermediate, c.hidden,
                             c.mlpBias, "", "intermediate_size, hidden_size");
      if (g.empty())
        return problem;
      std::string u = linear(n, p + "mlp.up_proj", c.intermediate, c.hidden,
                             c.mlpBias, "", "intermediate_size, hidden_size");
      if (u.empty())
        return problem;
      std::string s = fresh();
      body += "  " + s + " = lowmem.swiglu " + g + ", " + u + " : " +
              actOf(c.intermediate) + "\n";
      x = linear(s, p + "mlp.down_proj", c.hidden, c.intermediate, c.mlpBias, o,
                 "hidden_size, intermediate_size");
      if (x.empty())
        return problem;
    }
    std::string n = rms(x, "model.norm.weight");
    if (n.empty())
      return problem;
    std::string logits;
    if (c.tied) {
      if (has("lm_head.weight"))
        return file->path() +
               ": tensor 'lm_head.weight' is present but config.json says "
               "'tie_word_embeddings': true";
      logits = fresh();
      body += "  " + logits + " = lowmem." +
              (embedQuantized ? "qlinear " : "linear ") + n + ", " + embed +
              " : " + act + ", " + types[embed] + " -> " + actOf(c.vocab) +
              "\n";
    } else {
      logits = linear(n, "lm_head", c.vocab, c.hidden, false, "",
                      "vocab_size x hidden_size; or set "
                      "'tie_word_embeddings': true in config.json");
      if (logits.empty())
        return problem;
    }
    if (std::string extra = unexpectedTensor(); !extra.empty())
      return file->path() + ": unexpected tensor '" + extra + "' for the " +
             c.modelType + " model " + configPath + " describes";

    out = "// " + c.modelType + " decoder imported from " +
          (file ? file->path() + " and " + configPath
                : configPath + " alone (f32 parameters of its shapes)") +
          ": " + std::to_string(c.layers) + " layers, hidden " + h + ", " +
          std::to_string(c.heads) + "/" + std::to_string(c.kvHeads) +
          " heads of " + hd + ", vocab " + v + "\n";
    out += "func.func @forward(%ids: tensor<?x?xi64> {lowmem.input = "
           "\"input_ids\"}";
    for (const std::string &arg : args)
      out += ",\n    " + arg;
    out += ") -> " + actOf(c.vocab) + " {\n" + body + "  return " + logits +
           " : " + actOf(c.vocab) + "\n}\n";
    return "";
  }

private:
  const DecoderConfig &c;
  std::string configPath;
};

} // namespace

int main(int argc, char **argv) {
  llvm::InitLLVM init(argc, argv);
  cl::HideUnrelatedOptions(category);
  cl::ParseCommandLineOptions(argc, argv, "lowmem model importer\n");

  std::string err;
  std::unique_ptr<lrt::SafetensorsFile> file;
  if (inputFile.empty() && config.empty())
    return fail("give a checkpoint (WEIGHTS.safetensors), or --config "
                "config.json to import a decoder's shapes alone");
  if (!inputFile.empty()) {
    file = lrt::SafetensorsFile::open(inputFile, err);
    if (!file)
      return fail(err);
  }
  std::string chosen = arch;
  if (chosen == "auto") {
    if (!config.empty()) {
      chosen = "decoder";
    } else {
      lrt::StoredWeightInfo info;
      if (!lrt::inspectWeight(*file, "model.0.model.0.weight", info).empty() ||
          !info.present)
        return fail(inputFile + ": cannot recognize the architecture (no "
                                "'model.0.model.0.weight'); pass --arch, or "
                                "--config config.json for a transformer");
      chosen = "bignet";
    }
  } else if (chosen == "qwen2" || chosen == "llama") {
    if (config.empty())
      return fail("--arch=" + chosen + " needs --config config.json");
  } else if (chosen != "bignet") {
    return fail("unknown --arch '" + chosen +
                "'; supported: bignet, qwen2, llama, auto");
  }
  if (chosen == "bignet" && !config.empty())
    return fail("--config: BigNet checkpoints have no config.json");

  std::string text, problem;
  if (chosen == "bignet") {
    problem = BigNetImporter(*file).run(text);
  } else {
    DecoderConfig decoder;
    problem = readDecoderConfig(config, decoder);
    if (problem.empty() && chosen != "decoder" && chosen != decoder.modelType)
      problem = "--arch=" + chosen + " but " + config + " has 'model_type' \"" +
                decoder.modelType + "\"";
    if (problem.empty())
      problem = DecoderImporter(file.get(), decoder, config).run(text);
  }
  if (!problem.empty())
    return fail(problem);

  // Parse and verify what we emit before writing it.
  mlir::DialectRegistry registry;
  mlir::lowmem::registerLowMemDialects(registry);
  mlir::MLIRContext context(registry);
  context.loadAllAvailableDialects();
  mlir::OwningOpRef<mlir::ModuleOp> module =
      mlir::parseSourceString<mlir::ModuleOp>(text, &context);
  if (!module || failed(mlir::verify(*module)))
    return fail("internal error: the imported graph does not verify");

  // Through a temporary file renamed into place: never a partial output.
  if (llvm::Error error =
          llvm::writeToOutput(outputFile, [&](llvm::raw_ostream &os) {
            os << text;
            return llvm::Error::success();
          }))
    return fail("cannot write '" + outputFile +
                "': " + llvm::toString(std::move(error)));
  return 0;
}
