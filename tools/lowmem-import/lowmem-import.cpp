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

#include <map>
#include <set>

namespace cl = llvm::cl;
namespace lrt = ::lowmem::rt;
namespace lq = ::lowmem::quant;

static cl::OptionCategory category("lowmem-import options");
static cl::opt<std::string> inputFile(cl::Positional,
                                      cl::desc("<weights.safetensors>"),
                                      cl::Required, cl::cat(category));
static cl::opt<std::string> outputFile("o", cl::desc("Output .mlir file"),
                                       cl::init("-"), cl::cat(category));
static cl::opt<std::string> arch("arch", cl::desc("bignet or auto"),
                                 cl::init("auto"), cl::cat(category));
static cl::opt<std::string> config("config",
                                   cl::desc("Hugging Face config.json"),
                                   cl::init(""), cl::cat(category));

static int fail(const std::string &message) {
  llvm::errs() << "lowmem-import: error: " << message << "\n";
  return 1;
}

namespace {

/// Emits BigNet's forward function as text in the lowmem dialect.
class BigNetImporter {
public:
  explicit BigNetImporter(const lrt::SafetensorsFile &file) : file(file) {}

  std::string run(std::string &out) {
    // Depth: blocks model.{2k}.model.0.weight for k = 0, 1, ...
    int64_t depth = 0;
    while (has("model." + std::to_string(2 * depth) + ".model.0.weight"))
      ++depth;
    if (depth == 0)
      return file.path() + ": missing tensor 'model.0.model.0.weight'; not a "
                           "BigNet checkpoint";
    lrt::StoredWeightInfo first;
    std::string problem =
        lrt::inspectWeight(file, "model.0.model.0.weight", first);
    if (!problem.empty())
      return problem;
    if (first.shape.size() != 2 || first.shape[0] != first.shape[1])
      return file.path() + ": tensor 'model.0.model.0.weight': has shape " +
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
    for (const lrt::TensorView &t : file.tensors())
      if (!used.count(t.name) && !isQuantPart(t.name))
        return file.path() + ": unexpected tensor '" + t.name +
               "' for a BigNet of dim " + d + " and depth " +
               std::to_string(depth);

    out = "// BigNet imported from " + file.path() + ": dim " + d + ", depth " +
          std::to_string(depth) + "\n";
    out += "func.func @forward(%x: " + act + " {lowmem.input = \"x\"}";
    for (const std::string &arg : args)
      out += ",\n    " + arg;
    out +=
        ") -> " + act + " {\n" + body + "  return " + h + " : " + act + "\n}\n";
    return "";
  }

private:
  bool has(const std::string &name) {
    lrt::StoredWeightInfo info;
    return lrt::inspectWeight(file, name, info).empty() && info.present;
  }

  bool isQuantPart(const std::string &name) {
    for (const std::string &base : quantizedNames)
      if (name.compare(0, base.size(), base) == 0 ||
          name == base.substr(0, base.size() - 7) + ".SCB")
        return true;
    return false;
  }

  /// Declares the parameter `name` with the expected logical shape.
  std::string param(const std::string &name, std::vector<int64_t> shape,
                    std::string &ssa, bool *quantized = nullptr) {
    lrt::StoredWeightInfo info;
    std::string problem = lrt::inspectWeight(file, name, info);
    if (!problem.empty())
      return problem;
    if (!info.present)
      return file.path() + ": missing tensor '" + name + "'";
    if (info.shape != shape)
      return file.path() + ": tensor '" + name + "': has shape " +
             lrt::shapeToString(info.shape) + ", expected " +
             lrt::shapeToString(shape);
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
    }
    ssa = "%p" + std::to_string(args.size());
    types[ssa] = type;
    args.push_back(ssa + ": " + type + " {lowmem.param = \"" + name + "\"}");
    used.insert(name);
    return "";
  }

  const lrt::SafetensorsFile &file;
  int64_t dim = 0;
  std::string act, vec;
  std::vector<std::string> args;
  std::map<std::string, std::string> types;
  std::set<std::string> used;
  std::vector<std::string> quantizedNames;
};

} // namespace

int main(int argc, char **argv) {
  llvm::InitLLVM init(argc, argv);
  cl::HideUnrelatedOptions(category);
  cl::ParseCommandLineOptions(argc, argv, "lowmem model importer\n");

  std::string err;
  std::unique_ptr<lrt::SafetensorsFile> file =
      lrt::SafetensorsFile::open(inputFile, err);
  if (!file)
    return fail(err);
  std::string chosen = arch;
  if (chosen == "auto") {
    if (!config.empty())
      return fail("transformer checkpoints (--config) are not supported yet; "
                  "use --arch=bignet");
    lrt::StoredWeightInfo info;
    if (!lrt::inspectWeight(*file, "model.0.model.0.weight", info).empty() ||
        !info.present)
      return fail(inputFile + ": cannot recognize the architecture (no "
                              "'model.0.model.0.weight'); pass --arch");
    chosen = "bignet";
  }
  if (chosen != "bignet")
    return fail("unknown --arch '" + chosen + "'; supported: bignet, auto");

  std::string text;
  std::string problem = BigNetImporter(*file).run(text);
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
