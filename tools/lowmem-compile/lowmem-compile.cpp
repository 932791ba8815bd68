//===- lowmem-compile.cpp - compile a lowmem model to a binary ------------===//
//
// Part of the lowmem project.
//
//===----------------------------------------------------------------------===//
//
// Compiles a model graph in the lowmem dialect ahead of time:
//
//   lowmem-compile model.mlir -o model --target=cpu --format=nf4 --double-quant
//
// runs the shared pipelines (lowmem/Pipelines), records the calling
// convention and the memory plan in a JSON manifest embedded in the object,
// emits native code with LLVM and links it with the lowmem runtime into a
// standalone executable.
//
//===----------------------------------------------------------------------===//

#include "lowmem/Dialect/LowMem/IR/LowMemOps.h"
#include "lowmem/Pipelines/Pipelines.h"
#include "lowmem/Runtime/Plan.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Support/FileUtilities.h"
#include "mlir/Target/LLVMIR/Export.h"

#include "llvm/ADT/StringSet.h"
#include "llvm/IR/IRBuilder.h"
#include "llvm/IR/LegacyPassManager.h"
#include "llvm/IR/Module.h"
#include "llvm/MC/TargetRegistry.h"
#include "llvm/Passes/PassBuilder.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/Process.h"
#include "llvm/Support/Program.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/TargetSelect.h"
#include "llvm/Support/raw_ostream.h"
#include "llvm/Target/TargetMachine.h"
#include "llvm/Target/TargetOptions.h"
#include "llvm/TargetParser/Host.h"
#include "llvm/TargetParser/SubtargetFeature.h"

#ifndef LOWMEM_RUNTIME_LIB_DIR
#define LOWMEM_RUNTIME_LIB_DIR ""
#endif
#ifndef LOWMEM_HOST_CXX
#define LOWMEM_HOST_CXX "c++"
#endif

using namespace mlir;
namespace cl = llvm::cl;

static cl::OptionCategory category("lowmem-compile options");
static cl::opt<std::string> inputFile(cl::Positional, cl::desc("<model.mlir>"),
                                      cl::Required, cl::cat(category));
static cl::opt<std::string> outputFile("o",
                                       cl::desc("Output file (required but "
                                                "with --plan)"),
                                       cl::value_desc("path"),
                                       cl::cat(category));
static cl::opt<std::string> target("target", cl::desc("cpu or cuda"),
                                   cl::init("cpu"), cl::cat(category));
static cl::opt<bool> emulateGpu(
    "emulate-gpu",
    cl::desc("With --target=cuda: build a host binary that runs the CUDA "
             "pipeline's kernels, each launch as loops on the host (warps "
             "and barriers emulated), to test the GPU lowering without a "
             "GPU; every kernel's memory accesses are checked against "
             "their buffers' shapes"),
    cl::init(false), cl::cat(category));
static cl::opt<bool> checkBounds(
    "check-bounds",
    cl::desc("With --target=cuda: check each memory access of every kernel "
             "against its buffer's shape; a kernel that would read or write "
             "outside a buffer traps with a message naming the kernel and "
             "the access (slower: for finding a kernel's bad access)"),
    cl::init(false), cl::cat(category));
static cl::opt<std::string> gpuArch("gpu-arch", cl::desc("sm_80 or sm_90"),
                                    cl::init("sm_90"), cl::cat(category));
static cl::opt<std::string>
    format("format",
           cl::desc("Weight format: f32, f16, bf16, int4, nf4, fp4, int8"),
           cl::init("f32"), cl::cat(category));
static cl::opt<int64_t> blockSize("block-size",
                                  cl::desc("Block size (0: format default)"),
                                  cl::init(0), cl::cat(category));
static cl::opt<bool> doubleQuant("double-quant",
                                 cl::desc("Quantize the block scales too"),
                                 cl::init(false), cl::cat(category));
static cl::list<std::string>
    skip("skip", cl::desc("Parameter (or prefix ending in '.') kept in f32"),
         cl::cat(category));
static cl::list<std::string> formatOf(
    "format-of",
    cl::desc("A format of its own for a parameter, NAME=FORMAT (NAME exact or "
             "a prefix ending in '.'; FORMAT f32 keeps it full precision), "
             "e.g. --format-of=lm_head.=bf16,model.embed_tokens.=nf4"),
    cl::CommaSeparated, cl::cat(category));
static cl::list<std::string>
    planSizes("plan",
              cl::desc("Print the memory plan at these input sizes and stop "
                       "(no binary): each a list of the inputs' dynamic "
                       "sizes, e.g. --plan=1x1024,1x16384 for [batch, seq]"),
              cl::CommaSeparated, cl::cat(category));
static cl::opt<std::string> emit("emit",
                                 cl::desc("mlir, llvm, obj, exe (default), "
                                          "or ptx (--target=cuda: the "
                                          "kernels' PTX, in split-file "
                                          "sections)"),
                                 cl::init("exe"), cl::cat(category));
static cl::opt<std::string> entry("entry", cl::desc("Entry function"),
                                  cl::init("forward"), cl::cat(category));
static cl::opt<std::string> cpu("cpu",
                                cl::desc("Target CPU (default: this host's)"),
                                cl::init("native"), cl::cat(category));
static cl::opt<unsigned> optLevel("O", cl::desc("LLVM optimization level"),
                                  cl::init(3), cl::Prefix, cl::cat(category));
static cl::opt<std::string>
    runtimeDir("runtime-dir",
               cl::desc("Directory holding the lowmem runtime libraries"),
               cl::init(""), cl::cat(category));
static cl::opt<int64_t>
    loraRank("lora-rank",
             cl::desc("Attach LoRA adapters of this rank to the linear "
                      "layers (0: none)"),
             cl::init(0), cl::cat(category));
static cl::opt<double>
    loraAlpha("lora-alpha",
              cl::desc("LoRA alpha: scale alpha / r (PEFT's default, 8)"),
              cl::init(8.0), cl::cat(category));
static cl::opt<bool> loraRslora("lora-rslora",
                                cl::desc("Rank-stabilized LoRA: scale "
                                         "alpha / sqrt(r)"),
                                cl::init(false), cl::cat(category));
static cl::opt<double>
    loraDropout("lora-dropout",
                cl::desc("Dropout on the adapters' input when training"),
                cl::init(0.0), cl::cat(category));
static cl::list<std::string>
    loraTargets("lora-targets",
                cl::desc("Layers to adapt, comma separated (names, or "
                         "prefixes ending in '.'; default: all)"),
                cl::CommaSeparated, cl::cat(category));
static cl::opt<bool> train("train",
                           cl::desc("Compile a training step: forward, loss, "
                                    "gradients of the trainable parameters "
                                    "and the optimizer update"),
                           cl::init(false), cl::cat(category));
static cl::opt<std::string>
    loss("loss",
         cl::desc("Training loss: mse, or cross_entropy (the model outputs "
                  "logits, the target holds i64 class labels)"),
         cl::init("mse"), cl::cat(category));
static cl::opt<std::string>
    optimizer("optimizer",
              cl::desc("adamw (default), sgd, or none (the step returns the "
                       "gradients)"),
              cl::init("adamw"), cl::cat(category));
static cl::opt<double> momentum("momentum", cl::desc("SGD momentum"),
                                cl::init(0.0), cl::cat(category));
static cl::opt<double> weightDecay("weight-decay",
                                   cl::desc("Weight decay (SGD: L2 in the "
                                            "gradient; AdamW: decoupled)"),
                                   cl::init(0.0), cl::cat(category));
static cl::opt<double> beta1("beta1", cl::desc("AdamW beta1"), cl::init(0.9),
                             cl::cat(category));
static cl::opt<double> beta2("beta2", cl::desc("AdamW beta2"), cl::init(0.999),
                             cl::cat(category));
static cl::opt<double> adamEpsilon("epsilon", cl::desc("AdamW epsilon"),
                                   cl::init(1.0e-8), cl::cat(category));
static cl::opt<std::string> checkpoint(
    "checkpoint",
    cl::desc("Gradient checkpointing of a training step: none (default), "
             "blocks (keep block boundaries, recompute inside), sqrt (keep "
             "every ceil(sqrt(n))-th boundary), or budget=BYTES (recompute "
             "least while the activation arena at the --batch sizes fits)"),
    cl::init("none"), cl::cat(category));
static cl::opt<std::string> checkpointBatch(
    "batch",
    cl::desc("With --checkpoint=budget=BYTES: the batch size the budget is "
             "planned for, or BxS for a decoder (batch x sequence length)"),
    cl::value_desc("N or BxS"), cl::init(""), cl::cat(category));

static cl::opt<bool> generate(
    "generate",
    cl::desc("Compile a causal decoder's generation step: prefill and "
             "decode with a KV cache, greedy sampling (lowmem-kv-cache)"),
    cl::init(false), cl::cat(category));
static cl::opt<std::string>
    kvCache("kv-cache",
            cl::desc("Element type of the generation step's KV cache: f16 "
                     "(default), bf16, f32 or int8 (absmax codes with an f32 "
                     "scale per token and head)"),
            cl::init("f16"), cl::cat(category));
static cl::opt<int64_t> chunkMlp(
    "chunk-mlp",
    cl::desc("Run gated MLPs (SwiGLU) this many positions of the sequence at "
             "a time, forward and backward: their intermediate activations "
             "exist a chunk at a time (0: whole)"),
    cl::init(0), cl::cat(category));
static cl::opt<bool> offloadActivations(
    "offload-activations",
    cl::desc("Keep activations that sit idle across the arena's peak (a "
             "training step's checkpoints) in host memory meanwhile: copied "
             "out after their last use before it, back before their first "
             "use after it"),
    cl::init(false), cl::cat(category));
static cl::opt<int64_t> reportPeak(
    "report-peak",
    cl::desc("Print a remark naming the N largest buffers live at each part "
             "of the arena's peak, with their source locations"),
    cl::init(0), cl::cat(category));

/// Prints `lowmem-compile: error: ...` and returns 1.
static int fail(const llvm::Twine &message) {
  llvm::errs() << "lowmem-compile: error: " << message << "\n";
  return 1;
}

static const char *safetensorsDType(Type type) {
  if (type.isF32())
    return "F32";
  if (type.isF16())
    return "F16";
  if (type.isBF16())
    return "BF16";
  if (type.isInteger(8))
    return "I8";
  if (type.isF64())
    return "F64";
  if (type.isInteger(32))
    return "I32";
  if (type.isInteger(64))
    return "I64";
  return nullptr;
}

static llvm::json::Array shapeJson(ArrayRef<int64_t> shape) {
  llvm::json::Array out;
  for (int64_t dim : shape)
    out.push_back(ShapedType::isDynamic(dim) ? int64_t(-1) : dim);
  return out;
}

/// Size terms; with `alignments`, each term is one buffer whose size the
/// runtime rounds up to its alignment.
static llvm::json::Array termsJson(Attribute attr,
                                   Attribute alignments = nullptr) {
  llvm::json::Array out;
  for (auto [i, term] : llvm::enumerate(cast<ArrayAttr>(attr))) {
    auto list = cast<ArrayAttr>(term);
    llvm::json::Array symbols;
    for (Attribute sym : list.getValue().drop_front()) {
      auto pair = cast<ArrayAttr>(sym);
      symbols.push_back(llvm::json::Array{cast<IntegerAttr>(pair[0]).getInt(),
                                          cast<IntegerAttr>(pair[1]).getInt()});
    }
    llvm::json::Object record{{"coeff", cast<IntegerAttr>(list[0]).getInt()},
                              {"dims", std::move(symbols)}};
    if (auto aligns = dyn_cast_or_null<ArrayAttr>(alignments))
      record["align"] = cast<IntegerAttr>(aligns[i]).getInt();
    out.push_back(std::move(record));
  }
  return out;
}

/// The adapters' configuration, which the runtime checks adapters against
/// (null without adapters). The adapted layers are the trainable `lora_A`
/// parameters themselves.
static llvm::json::Value loraJson() {
  if (loraRank == 0)
    return nullptr;
  return llvm::json::Object{{"rank", loraRank.getValue()},
                            {"alpha", loraAlpha.getValue()},
                            {"rslora", loraRslora.getValue()},
                            {"dropout", loraDropout.getValue()}};
}

/// What the checkpoint pass did (null when it did not run): the policy, the
/// boundaries found and kept, the ops recomputed, and the FLOPs of the
/// recomputation and of the whole step, size terms as the arena's
/// ([{coeff, dims: [[arg, dim], ...]}, ...]): the pass's k-th dynamic size
/// is the input's k-th dynamic dimension.
static llvm::json::Value checkpointJson(func::FuncOp func) {
  auto info = func->getAttrOfType<DictionaryAttr>("lowmem.checkpoint");
  if (!info)
    return nullptr;
  auto integer = [&](StringRef key) {
    auto attr = info.getAs<IntegerAttr>(key);
    return attr ? attr.getInt() : 0;
  };
  // The input's dynamic dimensions, [arg, dim] each, in order.
  llvm::json::Array sizes;
  for (BlockArgument arg : func.getArguments()) {
    auto type = dyn_cast<MemRefType>(arg.getType());
    if (!type || !type.getNumDynamicDims() ||
        !func.getArgAttr(arg.getArgNumber(),
                         mlir::lowmem::LowMemDialect::kInputAttrName))
      continue;
    for (auto [dim, size] : llvm::enumerate(type.getShape()))
      if (ShapedType::isDynamic(size))
        sizes.push_back(llvm::json::Array{arg.getArgNumber(), dim});
    break;
  }
  auto terms = [&](StringRef key) {
    llvm::json::Array out;
    if (auto array = info.getAs<ArrayAttr>(key))
      for (Attribute a : array) {
        auto term = cast<ArrayAttr>(a).getValue();
        if (term.empty())
          continue;
        llvm::json::Array dims;
        for (Attribute size : term.drop_front())
          if (!sizes.empty())
            dims.push_back(sizes[std::min<size_t>(
                cast<IntegerAttr>(size).getInt(), sizes.size() - 1)]);
        out.push_back(
            llvm::json::Object{{"coeff", cast<IntegerAttr>(term[0]).getInt()},
                               {"dims", std::move(dims)}});
      }
    return out;
  };
  auto policy = info.getAs<StringAttr>("policy");
  return llvm::json::Object{{"policy", policy ? policy.getValue() : ""},
                            {"boundaries", integer("boundaries")},
                            {"kept", integer("kept")},
                            {"recomputed_ops", integer("recomputed_ops")},
                            {"recompute_flops", terms("recompute_flops")},
                            {"step_flops", terms("step_flops")}};
}

/// Describes the bufferized entry function for the runtime: one record per
/// argument in calling order, the result, and the memory plan.
static FailureOr<std::string>
buildManifest(func::FuncOp func, int64_t classes,
              const std::map<std::string, int64_t> &tokenBounds) {
  llvm::json::Array args;
  int64_t trainable = 0, frozen = 0, quantized = 0, optimizerState = 0;
  llvm::StringSet<llvm::MallocAllocator> seenParams;
  for (BlockArgument arg : func.getArguments()) {
    unsigned i = arg.getArgNumber();
    if (isa<IndexType>(arg.getType()) &&
        func.getArgAttr(i, mlir::lowmem::LowMemDialect::kPositionAttrName)) {
      args.push_back(llvm::json::Object{{"kind", "position"},
                                        {"dtype", "I64"},
                                        {"shape", llvm::json::Array()}});
      continue;
    }
    auto type = dyn_cast<MemRefType>(arg.getType());
    if (!type || !type.getLayout().isIdentity())
      return func.emitError("entry argument #")
             << i << " has type " << arg.getType()
             << "; the runtime passes only identity-layout memrefs";
    const char *dtype = safetensorsDType(type.getElementType());
    if (!dtype)
      return func.emitError("entry argument #")
             << i << " has an unsupported element type "
             << type.getElementType();
    llvm::json::Object record{{"dtype", dtype},
                              {"shape", shapeJson(type.getShape())}};
    if (func.getArgAttr(i, "lowmem.arena")) {
      record["kind"] = "arena";
    } else if (func.getArgAttr(i, "lowmem.host_arena")) {
      record["kind"] = "host_arena";
    } else if (auto name = func.getArgAttrOfType<StringAttr>(
                   i, mlir::lowmem::LowMemDialect::kParamAttrName)) {
      record["kind"] = "param";
      record["name"] = name.getValue();
      bool isTrainable = static_cast<bool>(
          func.getArgAttr(i, mlir::lowmem::LowMemDialect::kTrainableAttrName));
      record["trainable"] = isTrainable;
      int64_t logical = type.getNumElements();
      if (auto part = func.getArgAttrOfType<StringAttr>(
              i, mlir::lowmem::LowMemDialect::kPartAttrName)) {
        auto qtype = cast<mlir::lowmem::QTensorType>(
            func.getArgAttrOfType<TypeAttr>(i, "lowmem.qtype").getValue());
        record["part"] = part.getValue();
        record["format"] =
            mlir::lowmem::stringifyQuantFormat(qtype.getFormat());
        record["block"] = qtype.getBlockSize();
        record["double_quant"] = qtype.getDoubleQuant();
        record["logical_shape"] = shapeJson(qtype.getShape());
        logical = qtype.getNumElements();
      }
      if (seenParams.insert(name.getValue()).second) {
        (isTrainable ? trainable : frozen) += logical;
        if (record.get("part"))
          quantized += logical;
      }
    } else if (auto name = func.getArgAttrOfType<StringAttr>(
                   i, mlir::lowmem::LowMemDialect::kInputAttrName)) {
      record["kind"] = "input";
      record["name"] = name.getValue();
      auto bound = tokenBounds.find(name.getValue().str());
      if (bound != tokenBounds.end())
        record["ids_below"] = bound->second;
    } else if (auto name = func.getArgAttrOfType<StringAttr>(
                   i, mlir::lowmem::LowMemDialect::kStateAttrName)) {
      record["kind"] = "state";
      record["name"] = name.getValue();
      optimizerState += type.getNumElements();
    } else if (func.getArgAttr(i,
                               mlir::lowmem::LowMemDialect::kHyperAttrName)) {
      record["kind"] = "hyper";
    } else if (auto name = func.getArgAttrOfType<StringAttr>(
                   i, mlir::lowmem::LowMemDialect::kCacheAttrName)) {
      record["kind"] = "cache";
      record["name"] = name.getValue();
    } else if (func.getArgAttr(
                   i, mlir::lowmem::LowMemDialect::kRowStartsAttrName)) {
      record["kind"] = "row_starts";
    } else {
      return func.emitError("entry argument #")
             << i << " is neither an input (lowmem.input), a parameter "
             << "(lowmem.param), optimizer state (lowmem.state), the "
             << "hyperparameters (lowmem.hyper), a KV cache (lowmem.cache), "
             << "row starts (lowmem.row_starts) nor the arena";
    }
    args.push_back(std::move(record));
  }
  // Results: the prediction of a model, or a training step's loss and, with
  // no optimizer, gradients.
  llvm::json::Array results;
  for (unsigned i = 0; i < func.getNumResults(); ++i) {
    auto type = dyn_cast<MemRefType>(func.getResultTypes()[i]);
    if (!type || !safetensorsDType(type.getElementType()))
      return func.emitError("unsupported result type ")
             << func.getResultTypes()[i];
    llvm::json::Object record{
        {"dtype", safetensorsDType(type.getElementType())},
        {"shape", shapeJson(type.getShape())}};
    if (func.getResultAttr(i, mlir::lowmem::LowMemDialect::kLossAttrName)) {
      record["kind"] = "loss";
    } else if (auto name = func.getResultAttrOfType<StringAttr>(
                   i, mlir::lowmem::LowMemDialect::kGradAttrName)) {
      record["kind"] = "grad";
      record["name"] = name.getValue();
    } else if (auto output = func.getResultAttrOfType<StringAttr>(
                   i, mlir::lowmem::LowMemDialect::kOutputAttrName)) {
      record["kind"] = output.getValue();
    } else if (train) {
      return func.emitError("result #")
             << i << " of the training step is neither the loss nor a "
             << "gradient";
    } else {
      record["kind"] = "output";
    }
    results.push_back(std::move(record));
  }
  if (!train && !generate && results.size() != 1)
    return func.emitError("the entry function must return exactly one "
                          "tensor, it returns ")
           << results.size();
  llvm::json::Value optimizerJson = nullptr;
  if (train && optimizer != "none")
    optimizerJson = llvm::json::Object{{"name", optimizer.getValue()},
                                       {"momentum", momentum.getValue()},
                                       {"weight_decay", weightDecay.getValue()},
                                       {"beta1", beta1.getValue()},
                                       {"beta2", beta2.getValue()},
                                       {"epsilon", adamEpsilon.getValue()}};
  Attribute arena = func->getAttr("lowmem.arena_size");
  Attribute gradients = func->getAttr("lowmem.arena_gradients_size");
  Attribute hostArena = func->getAttr("lowmem.host_arena_size");
  Attribute result = func->getAttr("lowmem.heap_size");
  if (!arena || !result)
    return func.emitError("the function carries no memory plan; "
                          "lowmem-plan-memory did not run");
  llvm::json::Object manifest{
      {"version", 1},
      {"entry", func.getName()},
      {"target", target.getValue()},
      {"format", format.getValue()},
      {"block", blockSize.getValue()},
      {"double_quant", doubleQuant.getValue()},
      {"mode", generate              ? "generate"
               : !train              ? "forward"
               : optimizer == "none" ? "grad"
                                     : "train"},
      {"kv_cache", generate ? llvm::json::Value(kvCache.getValue()) : nullptr},
      {"args", std::move(args)},
      {"results", std::move(results)},
      {"optimizer", std::move(optimizerJson)},
      {"loss", train ? llvm::json::Value(loss.getValue()) : nullptr},
      {"classes",
       train && loss == "cross_entropy" ? llvm::json::Value(classes) : nullptr},
      {"arena_size", termsJson(arena)},
      {"heap_size", termsJson(result, func->getAttr("lowmem.heap_alignment"))},
      {"arena_gradients_size",
       gradients ? termsJson(gradients) : llvm::json::Array()},
      {"host_arena_size",
       hostArena ? termsJson(hostArena) : llvm::json::Array()},
      {"checkpoint", checkpointJson(func)},
      {"lora", loraJson()},
      {"params", llvm::json::Object{{"trainable", trainable},
                                    {"frozen", frozen},
                                    {"quantized", quantized},
                                    {"optimizer_state", optimizerState}}}};
  std::string text;
  llvm::raw_string_ostream os(text);
  os << llvm::json::Value(std::move(manifest));
  return text;
}

/// Adds `void lowmem_run(void **args)`, which calls the C interface of the
/// entry with args[0] the result descriptor and args[1..] the arguments'
/// (descriptors, or for a scalar argument a pointer to its value),
/// and the manifest as the NUL-terminated global `lowmem_manifest`.
static LogicalResult addRuntimeGlue(llvm::Module &module, StringRef entryName,
                                    StringRef manifest) {
  llvm::LLVMContext &ctx = module.getContext();
  std::string ciface = ("_mlir_ciface_" + entryName).str();
  llvm::Function *callee = module.getFunction(ciface);
  if (!callee)
    return failure();
  auto *ptrTy = llvm::PointerType::get(ctx, 0);
  auto *runTy =
      llvm::FunctionType::get(llvm::Type::getVoidTy(ctx), {ptrTy}, false);
  auto *run = llvm::Function::Create(runTy, llvm::GlobalValue::ExternalLinkage,
                                     "lowmem_run", module);
  llvm::IRBuilder<> b(llvm::BasicBlock::Create(ctx, "entry", run));
  llvm::SmallVector<llvm::Value *> callArgs;
  for (unsigned i = 0; i < callee->arg_size(); ++i) {
    llvm::Value *slot = b.CreateConstGEP1_64(ptrTy, run->getArg(0), i);
    llvm::Value *pointer = b.CreateLoad(ptrTy, slot);
    // A scalar argument (a generation step's position) is passed by value;
    // its slot points at it.
    llvm::Type *type = callee->getArg(i)->getType();
    callArgs.push_back(type->isIntegerTy() ? b.CreateLoad(type, pointer)
                                           : pointer);
  }
  b.CreateCall(callee, callArgs);
  b.CreateRetVoid();

  llvm::Constant *text = llvm::ConstantDataArray::getString(ctx, manifest);
  new llvm::GlobalVariable(module, text->getType(), /*isConstant=*/true,
                           llvm::GlobalValue::ExternalLinkage, text,
                           "lowmem_manifest");
  return success();
}

/// Writes `path` through a temporary file renamed into place, so that a
/// failure never leaves a partial file behind.
static LogicalResult
writeAtomically(StringRef path,
                llvm::function_ref<void(llvm::raw_ostream &)> write) {
  llvm::Error error = llvm::writeToOutput(path, [&](llvm::raw_ostream &os) {
    write(os);
    return llvm::Error::success();
  });
  if (error) {
    llvm::errs() << "lowmem-compile: error: cannot write '" << path
                 << "': " << llvm::toString(std::move(error)) << "\n";
    return failure();
  }
  return success();
}

static LogicalResult optimizeAndEmitObject(llvm::Module &module,
                                           StringRef path) {
  llvm::InitializeNativeTarget();
  llvm::InitializeNativeTargetAsmPrinter();
  std::string triple = llvm::sys::getDefaultTargetTriple();
  std::string error;
  const llvm::Target *tgt =
      llvm::TargetRegistry::lookupTarget(llvm::Triple(triple), error);
  if (!tgt) {
    llvm::errs() << "lowmem-compile: error: " << error << "\n";
    return failure();
  }
  std::string cpuName =
      cpu == "native" ? llvm::sys::getHostCPUName().str() : cpu.getValue();
  std::string features;
  if (cpu == "native") {
    llvm::SubtargetFeatures subtarget;
    for (auto &feature : llvm::sys::getHostCPUFeatures())
      subtarget.AddFeature(feature.first(), feature.second);
    features = subtarget.getString();
  }
  llvm::TargetOptions options;
  std::unique_ptr<llvm::TargetMachine> machine(tgt->createTargetMachine(
      llvm::Triple(triple), cpuName, features, options, llvm::Reloc::PIC_));
  module.setDataLayout(machine->createDataLayout());
  module.setTargetTriple(llvm::Triple(triple));

  llvm::LoopAnalysisManager lam;
  llvm::FunctionAnalysisManager fam;
  llvm::CGSCCAnalysisManager cgam;
  llvm::ModuleAnalysisManager mam;
  llvm::PassBuilder pb(machine.get());
  pb.registerModuleAnalyses(mam);
  pb.registerCGSCCAnalyses(cgam);
  pb.registerFunctionAnalyses(fam);
  pb.registerLoopAnalyses(lam);
  pb.crossRegisterProxies(lam, fam, cgam, mam);
  llvm::OptimizationLevel level = optLevel == 0   ? llvm::OptimizationLevel::O0
                                  : optLevel == 1 ? llvm::OptimizationLevel::O1
                                  : optLevel == 2 ? llvm::OptimizationLevel::O2
                                                  : llvm::OptimizationLevel::O3;
  llvm::ModulePassManager mpm = level == llvm::OptimizationLevel::O0
                                    ? pb.buildO0DefaultPipeline(level)
                                    : pb.buildPerModuleDefaultPipeline(level);
  mpm.run(module, mam);

  llvm::SmallVector<char, 0> object;
  llvm::raw_svector_ostream os(object);
  llvm::legacy::PassManager codegen;
  if (machine->addPassesToEmitFile(codegen, os, nullptr,
                                   llvm::CodeGenFileType::ObjectFile)) {
    llvm::errs() << "lowmem-compile: error: the target cannot emit objects\n";
    return failure();
  }
  codegen.run(module);
  return writeAtomically(path, [&](llvm::raw_ostream &out) {
    out.write(object.data(), object.size());
  });
  return success();
}

/// Finds the directory holding the runtime libraries: --runtime-dir, then
/// `<bin>/../lib` next to this executable, then the build tree.
static std::string findRuntimeDir(const char *argv0) {
  if (!runtimeDir.empty())
    return runtimeDir;
  std::string exe = llvm::sys::fs::getMainExecutable(
      argv0, reinterpret_cast<void *>(&findRuntimeDir));
  llvm::SmallString<256> dir(llvm::sys::path::parent_path(exe));
  llvm::sys::path::append(dir, "..", "lib");
  llvm::SmallString<256> probe(dir);
  llvm::sys::path::append(probe, "libLowMemRuntimeMain.a");
  if (llvm::sys::fs::exists(probe))
    return std::string(dir);
  return LOWMEM_RUNTIME_LIB_DIR;
}

static int link(StringRef object, StringRef output, const char *argv0,
                bool cuda) {
  std::string libDir = findRuntimeDir(argv0);
  llvm::SmallString<256> probe(libDir);
  llvm::sys::path::append(probe, "libLowMemRuntimeMain.a");
  if (!llvm::sys::fs::exists(probe))
    return fail("cannot find the lowmem runtime (libLowMemRuntimeMain.a) in '" +
                libDir + "'; pass --runtime-dir");
  auto cxx = llvm::sys::findProgramByName(LOWMEM_HOST_CXX);
  if (!cxx)
    return fail(llvm::Twine("cannot find the linker driver '") +
                LOWMEM_HOST_CXX + "'");
  // Link into a temporary name and rename: a failed link never clobbers an
  // existing binary.
  llvm::SmallString<256> tmp;
  int fd;
  if (std::error_code ec =
          llvm::sys::fs::createUniqueFile(output + "-link-%%%%%%.tmp", fd, tmp))
    return fail("cannot write next to '" + output + "': " + ec.message());
  llvm::sys::Process::SafelyCloseFileDescriptor(fd);
  std::string libFlag = "-L" + libDir;
  llvm::SmallVector<llvm::StringRef> argv{*cxx, object, "-o", tmp, libFlag};
  // A CUDA model needs only libc, libstdc++ and, opened at run time, the
  // driver (libcuda.so.1).
  if (cuda)
    argv.append({"-lLowMemRuntimeCudaMain", "-lLowMemRuntimeCuda"});
  else
    argv.push_back("-lLowMemRuntimeMain");
  argv.append(
      {"-lLowMemRuntimeSupport", "-lLowMemQuant", "-lpthread", "-ldl", "-lm"});
  std::string errMsg;
  int rc =
      llvm::sys::ExecuteAndWait(*cxx, argv, std::nullopt, {}, 0, 0, &errMsg);
  if (rc != 0) {
    llvm::sys::fs::remove(tmp);
    return fail("linking failed (" + llvm::Twine(rc) + "): " + errMsg);
  }
  if (std::error_code ec = llvm::sys::fs::rename(tmp, output))
    return fail("cannot write '" + output + "': " + ec.message());
  return 0;
}

/// Sizes such as 1x16384; false unless each is a non-negative integer.
static bool parseSizes(StringRef spec, std::vector<int64_t> &sizes) {
  for (StringRef part : llvm::split(spec, 'x')) {
    int64_t size = 0;
    if (part.getAsInteger(10, size) || size < 0)
      return false;
    sizes.push_back(size);
  }
  return true;
}

/// --plan: the manifest's memory plan at each requested size.
static int printPlan(const std::string &manifestText) {
  ::lowmem::rt::JsonValue manifest;
  std::string problem = ::lowmem::rt::parseJson(manifestText, manifest);
  if (!problem.empty())
    return fail("internal error: corrupt manifest: " + problem);
  auto mb = [](int64_t bytes) { return double(bytes) / (1024.0 * 1024.0); };
  // A generation step's table: its KV cache instead of training's columns.
  if (generate)
    llvm::outs() << llvm::format("%-18s %10s %10s %10s %10s %12s %10s %10s "
                                 "%14s\n",
                                 "sizes (BxSxT)", "frozen", "adapters",
                                 "kv cache", "inputs", "activations", "heap",
                                 "total", "total bytes");
  else
    llvm::outs() << llvm::format(
        "%-14s %10s %10s %10s %10s %10s %12s %10s %10s %10s %14s\n", "sizes",
        "frozen", "trainable", "state", "inputs", "gradients", "activations",
        "heap", "offloaded", "total", "total bytes");
  for (const std::string &spec : planSizes) {
    std::vector<int64_t> sizes;
    if (!parseSizes(spec, sizes))
      return fail("--plan: '" + spec + "' is not a list of sizes such as " +
                  (generate ? "1x512x4096" : "1x16384"));
    ::lowmem::rt::MemoryPlan plan;
    problem = ::lowmem::rt::planMemory(manifest, sizes, plan);
    if (!problem.empty())
      return fail("--plan=" + spec + ": " + problem);
    if (generate)
      llvm::outs() << llvm::format(
          "%-18s %10.2f %10.2f %10.2f %10.2f %12.2f %10.2f %10.2f %14lld\n",
          spec.c_str(), mb(plan.frozen), mb(plan.trainable), mb(plan.cache),
          mb(plan.inputs + plan.workspace), mb(plan.activations), mb(plan.heap),
          mb(plan.total()), static_cast<long long>(plan.total()));
    else
      llvm::outs() << llvm::format(
          "%-14s %10.2f %10.2f %10.2f %10.2f %10.2f %12.2f %10.2f %10.2f "
          "%10.2f %14lld\n",
          spec.c_str(), mb(plan.frozen), mb(plan.trainable), mb(plan.state),
          mb(plan.inputs + plan.workspace), mb(plan.gradients),
          mb(plan.activations), mb(plan.heap), mb(plan.offloaded),
          mb(plan.total()), static_cast<long long>(plan.total()));
  }
  llvm::outs() << (generate
                       ? "(MB = 2^20 bytes; B batch, S tokens a step (the "
                         "prompt, for a prefill), T the KV cache's capacity; "
                         "total: the peak of a step at these sizes)\n"
                       : "(MB = 2^20 bytes; total: the peak a run at these "
                         "sizes measures where the kernels run; offloaded: "
                         "activations held in host memory meanwhile, not in "
                         "the total)\n");
  return 0;
}

int main(int argc, char **argv) {
  llvm::InitLLVM init(argc, argv);
  cl::HideUnrelatedOptions(category);
  cl::ParseCommandLineOptions(argc, argv, "lowmem ahead-of-time compiler\n");

  if (outputFile.empty() && planSizes.empty())
    return fail("-o FILE is required (or --plan=SIZES to print the memory "
                "plan alone)");
  bool cuda = target == "cuda";
  if (!cuda && target != "cpu")
    return fail("unknown target '" + target + "'; expected cpu or cuda");
  if (cuda && (!StringRef(gpuArch).starts_with("sm_") ||
               !llvm::all_of(StringRef(gpuArch).drop_front(3).rtrim('a'),
                             llvm::isDigit) ||
               StringRef(gpuArch).drop_front(3).rtrim('a').empty() ||
               std::stoi(gpuArch.substr(3)) < 80))
    return fail("unsupported --gpu-arch=" + gpuArch +
                "; expected sm_80 or later (sm_80, sm_86, sm_89, sm_90, "
                "sm_90a, ...)");
  // --checkpoint=none|blocks|sqrt|budget=BYTES.
  std::string checkpointPolicy = checkpoint;
  int64_t checkpointBudget = 0;
  std::vector<int64_t> checkpointSizes;
  if (StringRef(checkpoint).starts_with("budget")) {
    StringRef bytes = StringRef(checkpoint).drop_front(6);
    if (!bytes.consume_front("=") || bytes.getAsInteger(10, checkpointBudget) ||
        checkpointBudget <= 0)
      return fail("--checkpoint=" + checkpoint +
                  ": expected budget=BYTES with a positive number of bytes");
    if (checkpointBatch.empty())
      return fail("--checkpoint=budget=BYTES needs --batch=N (or BxS for a "
                  "decoder), the sizes the activation budget is planned for");
    if (!parseSizes(checkpointBatch, checkpointSizes) ||
        checkpointSizes.size() > 2 ||
        llvm::is_contained(checkpointSizes, int64_t(0)))
      return fail("--batch=" + checkpointBatch +
                  ": expected a positive batch size N, or BxS");
    checkpointPolicy = "budget";
  } else if (checkpoint != "none" && checkpoint != "blocks" &&
             checkpoint != "sqrt") {
    return fail("unknown --checkpoint=" + checkpoint +
                "; expected none, blocks, sqrt or budget=BYTES");
  }
  if (generate && train)
    return fail("--generate and --train exclude each other: a generation "
                "step is compiled from the forward");
  if (kvCache.getNumOccurrences() && !generate)
    return fail("--kv-cache=" + kvCache +
                " applies to generation steps; add --generate");
  if (kvCache != "f16" && kvCache != "bf16" && kvCache != "f32" &&
      kvCache != "int8")
    return fail("unknown --kv-cache=" + kvCache +
                "; expected f16, bf16, f32 or int8");
  if (checkpointPolicy != "none" && !train)
    return fail("--checkpoint=" + checkpoint +
                " applies to training steps; add --train");
  if (loraRank < 0)
    return fail("--lora-rank must be positive, got " +
                std::to_string(loraRank));
  if (chunkMlp < 0)
    return fail("--chunk-mlp must be a positive number of positions (or 0 "
                "for whole MLPs), got " +
                std::to_string(chunkMlp));
  if (reportPeak < 0)
    return fail("--report-peak must be 0 or more, got " +
                std::to_string(reportPeak));
  if (emit != "mlir" && emit != "llvm" && emit != "obj" && emit != "exe" &&
      emit != "ptx")
    return fail("unknown --emit=" + emit +
                "; expected mlir, llvm, obj, exe or ptx");
  if (emit == "ptx" && !cuda)
    return fail("--emit=ptx needs --target=cuda");
  if (emulateGpu && !cuda)
    return fail("--emulate-gpu needs --target=cuda");
  if (checkBounds && !cuda)
    return fail("--check-bounds needs --target=cuda");
  if (emulateGpu && emit == "ptx")
    return fail("--emulate-gpu builds no GPU code: --emit=ptx has none");
  // An emulated CUDA binary is a host binary.
  bool gpuCode = cuda && !emulateGpu;

  DialectRegistry registry;
  mlir::lowmem::registerLowMemDialects(registry);
  MLIRContext context(registry);
  context.loadAllAvailableDialects();
  context.printOpOnDiagnostic(false);

  llvm::SourceMgr sourceMgr;
  SourceMgrDiagnosticHandler diagHandler(sourceMgr, &context);
  std::string errorMessage;
  auto file = openInputFile(inputFile, &errorMessage);
  if (!file)
    return fail(errorMessage);
  sourceMgr.AddNewSourceBuffer(std::move(file), llvm::SMLoc());
  OwningOpRef<ModuleOp> module = parseSourceFile<ModuleOp>(sourceMgr, &context);
  if (!module)
    return 1;
  auto func = module->lookupSymbol<func::FuncOp>(entry);
  if (!func)
    return fail("no function '" + entry + "' in " + inputFile);

  // The number of classes of a cross-entropy step: the model's last
  // dimension, against which the runtime checks the labels.
  int64_t classes = 0;
  if (func.getNumResults() == 1)
    if (auto type = dyn_cast<RankedTensorType>(func.getResultTypes()[0]))
      if (type.getRank() > 0)
        classes = type.getShape().back();

  // Inputs read as token ids by an embedding: the runtime checks every id
  // against the vocabulary.
  std::map<std::string, int64_t> tokenBounds;
  func.walk([&](mlir::lowmem::EmbeddingOp op) {
    auto arg = dyn_cast<BlockArgument>(op.getIds());
    if (!arg || arg.getOwner() != &func.getBody().front())
      return;
    if (auto name = func.getArgAttrOfType<StringAttr>(
            arg.getArgNumber(), mlir::lowmem::LowMemDialect::kInputAttrName)) {
      int64_t vocab = mlir::lowmem::logicalTensorType(op.getTable().getType())
                          .getDimSize(0);
      auto [it, fresh] = tokenBounds.emplace(name.getValue().str(), vocab);
      if (!fresh)
        it->second = std::min(it->second, vocab);
    }
  });

  // The CUDA options hold the graph options too; the CPU pipeline takes
  // those alone.
  mlir::lowmem::CUDAPipelineOptions cudaOptions;
  cudaOptions.format = format;
  cudaOptions.blockSize = blockSize;
  cudaOptions.doubleQuant = doubleQuant;
  cudaOptions.skip = ArrayRef<std::string>(skip);
  cudaOptions.formatOverrides = ArrayRef<std::string>(formatOf);
  cudaOptions.loraRank = loraRank;
  cudaOptions.loraAlpha = loraAlpha;
  cudaOptions.loraRslora = loraRslora;
  cudaOptions.loraDropout = loraDropout;
  cudaOptions.loraTargets = ArrayRef<std::string>(loraTargets);
  cudaOptions.train = train;
  cudaOptions.generate = generate;
  cudaOptions.kvCache = kvCache;
  cudaOptions.loss = loss;
  cudaOptions.optimizer = optimizer;
  cudaOptions.momentum = momentum;
  cudaOptions.weightDecay = weightDecay;
  cudaOptions.beta1 = beta1;
  cudaOptions.beta2 = beta2;
  cudaOptions.epsilon = adamEpsilon;
  cudaOptions.entry = entry;
  cudaOptions.checkpoint = checkpointPolicy;
  cudaOptions.checkpointBudget = checkpointBudget;
  cudaOptions.checkpointBatch =
      checkpointSizes.empty() ? 1 : checkpointSizes.front();
  cudaOptions.checkpointLength =
      checkpointSizes.size() > 1 ? checkpointSizes[1] : 0;
  cudaOptions.chip = gpuArch;
  cudaOptions.emulate = emulateGpu;
  cudaOptions.checkBounds = checkBounds;
  cudaOptions.offloadActivations = offloadActivations;
  cudaOptions.chunkMlp = chunkMlp;
  cudaOptions.reportPeak = reportPeak;
  mlir::lowmem::GraphPipelineOptions options;
  mlir::lowmem::copyGraphOptions(cudaOptions, options);
  PassManager pm(&context);
  if (cuda) {
    mlir::lowmem::buildCUDABufferizePipeline(pm, cudaOptions);
  } else {
    mlir::lowmem::buildGraphPipeline(pm, options);
    mlir::lowmem::BufferizePipelineOptions bufferize;
    mlir::lowmem::copyPlanningOptions(options, bufferize);
    mlir::lowmem::buildCPUBufferizePipeline(pm, bufferize);
  }
  if (failed(pm.run(*module)))
    return 1;
  // Training (or --generate) turned the model function into its training
  // (generation) step, renamed.
  std::string entryName = func.getName().str();

  FailureOr<std::string> manifest = buildManifest(func, classes, tokenBounds);
  if (failed(manifest))
    return 1;
  if (!planSizes.empty())
    return printPlan(*manifest);
  func->setAttr("llvm.emit_c_interface", UnitAttr::get(&context));
  // The manifest now carries what the lowmem attributes said; LLVM IR has no
  // place for them.
  for (unsigned i = 0; i < func.getNumArguments(); ++i) {
    SmallVector<NamedAttribute> kept;
    for (NamedAttribute attr : func.getArgAttrDict(i)
                                   ? func.getArgAttrDict(i).getValue()
                                   : ArrayRef<NamedAttribute>())
      if (!attr.getName().getValue().starts_with("lowmem."))
        kept.push_back(attr);
    func.setArgAttrs(i, kept);
  }
  for (unsigned i = 0; i < func.getNumResults(); ++i)
    func.setResultAttrs(i, ArrayRef<NamedAttribute>());
  for (StringRef attr :
       {"lowmem.arena_size", "lowmem.heap_size", "lowmem.heap_alignment",
        "lowmem.arena_gradients_size", "lowmem.host_arena_size",
        "lowmem.checkpoint", "lowmem.checkpoint_budget"})
    func->removeAttr(attr);

  PassManager lowering(&context);
  if (cuda)
    mlir::lowmem::buildCUDAToLLVMPipeline(lowering, cudaOptions);
  else
    mlir::lowmem::buildCPUToLLVMPipeline(lowering);
  if (failed(lowering.run(*module)))
    return 1;

  if (emit == "ptx")
    return failed(writeAtomically(outputFile, [&](llvm::raw_ostream &os) {
      module->walk([&](gpu::BinaryOp binary) {
        for (Attribute object : binary.getObjects())
          os << "//--- " << binary.getSymName() << ".ptx\n"
             << cast<gpu::ObjectAttr>(object).getObject().getValue() << "\n";
      });
    }));

  if (emit == "mlir")
    return failed(writeAtomically(
        outputFile, [&](llvm::raw_ostream &os) { module->print(os); }));

  llvm::LLVMContext llvmContext;
  std::unique_ptr<llvm::Module> llvmModule =
      translateModuleToLLVMIR(*module, llvmContext, inputFile);
  if (!llvmModule)
    return fail("translation to LLVM IR failed");
  if (failed(addRuntimeGlue(*llvmModule, entryName, *manifest)))
    return fail("the entry function has no C interface");

  if (emit == "llvm")
    return failed(writeAtomically(outputFile, [&](llvm::raw_ostream &os) {
      llvmModule->print(os, nullptr);
    }));

  if (emit == "obj")
    return failed(optimizeAndEmitObject(*llvmModule, outputFile)) ? 1 : 0;
  // The object goes to a private temporary file, never next to the output.
  llvm::SmallString<128> objectPath;
  if (std::error_code ec =
          llvm::sys::fs::createTemporaryFile("lowmem-model", "o", objectPath))
    return fail("cannot create a temporary object file: " + ec.message());
  if (failed(optimizeAndEmitObject(*llvmModule, objectPath))) {
    llvm::sys::fs::remove(objectPath);
    return 1;
  }
  int rc = link(objectPath, outputFile, argv[0], gpuCode);
  llvm::sys::fs::remove(objectPath);
  return rc;
}
