//===- Pipelines.h - named lowmem pass pipelines ----------------*- C++ -*-===//
//
// Part of the lowmem project.
//
//===----------------------------------------------------------------------===//
//
// Every named pipeline is built here once and shared by lowmem-opt (where it
// is registered under its name) and lowmem-compile.
//
//===----------------------------------------------------------------------===//

#ifndef LOWMEM_PIPELINES_PIPELINES_H
#define LOWMEM_PIPELINES_PIPELINES_H

#include "mlir/Pass/PassOptions.h"

#include <string>

namespace mlir {
class DialectRegistry;
class OpPassManager;
namespace lowmem {

/// The memory planning options (lowmem-plan-memory), shared by every
/// pipeline that plans memory.
template <typename Derived>
struct PlanningOptions : public PassPipelineOptions<Derived> {
  ::mlir::detail::PassOptions::Option<bool> offloadActivations{
      *this, "offload-activations",
      llvm::cl::desc("Move activations idle across the arena's peak to host "
                     "memory meanwhile (lowmem-plan-memory{offload})"),
      llvm::cl::init(false)};
  ::mlir::detail::PassOptions::Option<int64_t> reportPeak{
      *this, "report-peak",
      llvm::cl::desc("Remark the N largest buffers live at the arena's peak "
                     "(lowmem-plan-memory{report-peak})"),
      llvm::cl::init(0)};
};

/// Sets the memory planning options of `to` from those of `from`.
template <typename From, typename To>
void copyPlanningOptions(const PlanningOptions<From> &from,
                         PlanningOptions<To> &to) {
  to.offloadActivations = from.offloadActivations;
  to.reportPeak = from.reportPeak;
}

/// The graph options (weight format, LoRA adapters) and the planning ones,
/// shared by every pipeline that starts from the graph.
template <typename Derived>
struct GraphOptions : public PlanningOptions<Derived> {
  ::mlir::detail::PassOptions::Option<std::string> format{
      *this, "format",
      llvm::cl::desc("Weight format: f32 (unchanged), f16, bf16, int4, nf4, "
                     "fp4, int8"),
      llvm::cl::init("f32")};
  ::mlir::detail::PassOptions::Option<int64_t> blockSize{
      *this, "block-size",
      llvm::cl::desc("Block size of block formats (0: format default)"),
      llvm::cl::init(0)};
  ::mlir::detail::PassOptions::Option<bool> doubleQuant{
      *this, "double-quant", llvm::cl::desc("Quantize the block scales too"),
      llvm::cl::init(false)};
  ::mlir::detail::PassOptions::ListOption<std::string> skip{
      *this, "skip",
      llvm::cl::desc("Parameters (names or prefixes ending in '.') kept in "
                     "full precision")};
  ::mlir::detail::PassOptions::ListOption<std::string> formatOverrides{
      *this, "format-of",
      llvm::cl::desc("Per-parameter formats NAME=FORMAT (exact names or "
                     "prefixes ending in '.'; lowmem-quantize-weights' "
                     "override)")};
  ::mlir::detail::PassOptions::Option<int64_t> loraRank{
      *this, "lora-rank",
      llvm::cl::desc("Attach LoRA adapters of this rank (0: none)"),
      llvm::cl::init(0)};
  ::mlir::detail::PassOptions::Option<double> loraAlpha{
      *this, "lora-alpha",
      llvm::cl::desc("LoRA alpha: s = alpha / r (PEFT's default, 8)"),
      llvm::cl::init(8.0)};
  ::mlir::detail::PassOptions::Option<bool> loraRslora{
      *this, "lora-rslora", llvm::cl::desc("Scale by alpha / sqrt(r)"),
      llvm::cl::init(false)};
  ::mlir::detail::PassOptions::Option<double> loraDropout{
      *this, "lora-dropout",
      llvm::cl::desc("Dropout on the adapters' input when training"),
      llvm::cl::init(0.0)};
  ::mlir::detail::PassOptions::ListOption<std::string> loraTargets{
      *this, "lora-targets",
      llvm::cl::desc("Layers to adapt (default: every linear layer)")};
  ::mlir::detail::PassOptions::Option<std::string> entry{
      *this, "entry",
      llvm::cl::desc("The model function a training step is built from"),
      llvm::cl::init("forward")};
  ::mlir::detail::PassOptions::Option<bool> train{
      *this, "train",
      llvm::cl::desc("Compile a training step (lowmem-differentiate)"),
      llvm::cl::init(false)};
  ::mlir::detail::PassOptions::Option<std::string> loss{
      *this, "loss", llvm::cl::desc("Training loss: mse or cross_entropy"),
      llvm::cl::init("mse")};
  ::mlir::detail::PassOptions::Option<std::string> optimizer{
      *this, "optimizer",
      llvm::cl::desc("none (the step returns gradients), sgd or adamw"),
      llvm::cl::init("adamw")};
  ::mlir::detail::PassOptions::Option<double> momentum{
      *this, "momentum", llvm::cl::desc("SGD momentum"), llvm::cl::init(0.0)};
  ::mlir::detail::PassOptions::Option<double> weightDecay{
      *this, "weight-decay", llvm::cl::desc("Weight decay"),
      llvm::cl::init(0.0)};
  ::mlir::detail::PassOptions::Option<double> beta1{
      *this, "beta1", llvm::cl::desc("AdamW beta1"), llvm::cl::init(0.9)};
  ::mlir::detail::PassOptions::Option<double> beta2{
      *this, "beta2", llvm::cl::desc("AdamW beta2"), llvm::cl::init(0.999)};
  ::mlir::detail::PassOptions::Option<double> epsilon{
      *this, "epsilon", llvm::cl::desc("AdamW epsilon"),
      llvm::cl::init(1.0e-8)};
  ::mlir::detail::PassOptions::Option<bool> generate{
      *this, "generate",
      llvm::cl::desc("Compile a generation step with a KV cache "
                     "(lowmem-kv-cache)"),
      llvm::cl::init(false)};
  ::mlir::detail::PassOptions::Option<std::string> kvCache{
      *this, "kv-cache",
      llvm::cl::desc("Element type of the generation step's KV cache: f32, "
                     "f16, bf16 or int8"),
      llvm::cl::init("f16")};
  ::mlir::detail::PassOptions::Option<std::string> checkpoint{
      *this, "checkpoint",
      llvm::cl::desc("Checkpointing of a training step: none, blocks, sqrt "
                     "or budget (lowmem-checkpoint)"),
      llvm::cl::init("none")};
  ::mlir::detail::PassOptions::Option<int64_t> checkpointBudget{
      *this, "checkpoint-budget",
      llvm::cl::desc("With checkpoint=budget: the activation peak allowed, "
                     "in bytes"),
      llvm::cl::init(0)};
  ::mlir::detail::PassOptions::Option<int64_t> checkpointBatch{
      *this, "checkpoint-batch",
      llvm::cl::desc("With checkpoint=budget: the batch size planned for"),
      llvm::cl::init(1)};
  ::mlir::detail::PassOptions::Option<int64_t> checkpointLength{
      *this, "checkpoint-length",
      llvm::cl::desc("With checkpoint=budget: a decoder's sequence length "
                     "planned for (0: an input with one dynamic size)"),
      llvm::cl::init(0)};
  ::mlir::detail::PassOptions::Option<int64_t> chunkMlp{
      *this, "chunk-mlp",
      llvm::cl::desc("Run gated MLPs this many positions of the sequence at "
                     "a time (lowmem-chunk-mlp; 0: whole)"),
      llvm::cl::init(0)};
};

/// Options of the graph-level pipeline (and of the full CPU pipeline).
struct GraphPipelineOptions : public GraphOptions<GraphPipelineOptions> {};

/// Options of the CUDA pipeline: the graph options and the GPU target.
struct CUDAPipelineOptions : public GraphOptions<CUDAPipelineOptions> {
  Option<std::string> chip{*this, "chip",
                           llvm::cl::desc("GPU architecture: sm_80, sm_90"),
                           llvm::cl::init("sm_90")};
  Option<std::string> features{
      *this, "features",
      llvm::cl::desc("PTX features (default: the PTX version the chip needs)"),
      llvm::cl::init("")};
  Option<bool> emulate{
      *this, "emulate",
      llvm::cl::desc("Build no GPU code: run each launch, hand-written "
                     "kernels included, as loops on the host "
                     "(lowmem-emulate-launches), in a host module; for "
                     "testing the GPU lowering without a GPU"),
      llvm::cl::init(false)};
  Option<bool> checkBounds{
      *this, "check-bounds",
      llvm::cl::desc("Check each memory access of every kernel against its "
                     "buffer's shape (lowmem-check-kernel-bounds): a kernel "
                     "that would read or write outside a buffer traps with "
                     "a message naming it; the emulation always checks"),
      llvm::cl::init(false)};
};

/// Sets the graph options of `to` from the same options of `from`.
template <typename From, typename To>
void copyGraphOptions(const GraphOptions<From> &from, GraphOptions<To> &to) {
  to.format = from.format;
  to.blockSize = from.blockSize;
  to.doubleQuant = from.doubleQuant;
  to.skip = ArrayRef<std::string>(from.skip);
  to.formatOverrides = ArrayRef<std::string>(from.formatOverrides);
  to.loraRank = from.loraRank;
  to.loraAlpha = from.loraAlpha;
  to.loraRslora = from.loraRslora;
  to.loraDropout = from.loraDropout;
  to.loraTargets = ArrayRef<std::string>(from.loraTargets);
  to.entry = from.entry;
  to.train = from.train;
  to.generate = from.generate;
  to.kvCache = from.kvCache;
  to.loss = from.loss;
  to.optimizer = from.optimizer;
  to.momentum = from.momentum;
  to.weightDecay = from.weightDecay;
  to.beta1 = from.beta1;
  to.beta2 = from.beta2;
  to.epsilon = from.epsilon;
  to.checkpoint = from.checkpoint;
  to.checkpointBudget = from.checkpointBudget;
  to.checkpointBatch = from.checkpointBatch;
  to.checkpointLength = from.checkpointLength;
  to.chunkMlp = from.chunkMlp;
  copyPlanningOptions(from, to);
}

/// Options of the bufferization pipelines: their memory planning.
struct BufferizePipelineOptions
    : public PlanningOptions<BufferizePipelineOptions> {};

/// Graph passes: attach-lora (if lora-rank > 0), kv-cache (if generate),
/// differentiate (if train),
/// quantize-weights (unless format=f32), fuse, cleanup, then checkpoint (if
/// train and checkpoint is not none; after CSE, which must not merge the
/// recomputation with the forward), then chunk-mlp (if chunk-mlp > 0).
void buildGraphPipeline(OpPassManager &pm, const GraphPipelineOptions &options);

/// Explicit storage, lowering to linalg, bufferization (a training step's
/// updates in place), memory planning.
void buildCPUBufferizePipeline(OpPassManager &pm,
                               const BufferizePipelineOptions &options);

/// Bufferized linalg to the LLVM dialect (loops; allocations through the
/// runtime's `_mlir_memref_to_llvm_*` hooks so it can account for them).
void buildCPUToLLVMPipeline(OpPassManager &pm);

/// Graph, storage, GPU kernels for the matrix products and norms (see
/// convert-lowmem-to-gpu), linalg for the rest (code tables in constant
/// globals), bufferization, memory planning with every buffer, the result
/// included, in the arena (device memory), then the remaining linalg loops
/// mapped to GPU blocks, kernel outlining, NVVM and PTX embedded in the host
/// module
/// (`gpu-lower-to-nvvm-pipeline`). The host code calls the runtime's mgpu*
/// entry points.
void buildCUDAPipeline(OpPassManager &pm, const CUDAPipelineOptions &options);

/// The same up to memory planning: what lowmem-compile reads the manifest
/// from, before the GPU lowering.
void buildCUDABufferizePipeline(OpPassManager &pm,
                                const CUDAPipelineOptions &options);

/// From memory planning on: kernels, NVVM, PTX and host code. With
/// `emulate`, the launches run as host loops and the module is lowered as
/// the CPU pipeline's (buildCPUToLLVMPipeline, and vectors to LLVM).
void buildCUDAToLLVMPipeline(OpPassManager &pm,
                             const CUDAPipelineOptions &options);

/// The PTX features a chip needs by default (+ptx80 for sm_90).
std::string defaultPTXFeatures(const std::string &chip);

/// The whole CPU pipeline: graph, bufferize, to LLVM.
void buildCPUPipeline(OpPassManager &pm, const GraphPipelineOptions &options);

/// Registers `lowmem-graph-pipeline`, `lowmem-cpu-bufferize-pipeline`,
/// `lowmem-cpu-to-llvm-pipeline` and `lowmem-cpu-pipeline`.
void registerLowMemPipelines();

/// Registers every lowmem pass.
void registerAllLowMemPasses();

/// Adds the dialects, interfaces and translations the lowmem tools use (all
/// of them, lowmem-opt included: one registry, the same analyses).
void registerLowMemDialects(DialectRegistry &registry);

} // namespace lowmem
} // namespace mlir

#endif // LOWMEM_PIPELINES_PIPELINES_H
