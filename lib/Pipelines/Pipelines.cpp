//===- Pipelines.cpp - named lowmem pass pipelines ------------------------===//
//
// Part of the lowmem project.
//
//===----------------------------------------------------------------------===//

#include "lowmem/Pipelines/Pipelines.h"
#include "lowmem/Conversion/Passes.h"
#include "lowmem/Dialect/LowMem/IR/LowMemDialect.h"
#include "lowmem/Dialect/LowMem/Transforms/Passes.h"

#include "mlir/Conversion/ConvertToLLVM/ToLLVMPass.h"
#include "mlir/Conversion/Passes.h"
#include "mlir/Dialect/Affine/IR/AffineOps.h"
#include "mlir/Dialect/Arith/Transforms/BufferizableOpInterfaceImpl.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Bufferization/Transforms/FuncBufferizableOpInterfaceImpl.h"
#include "mlir/Dialect/Bufferization/Transforms/Passes.h"
#include "mlir/Dialect/ControlFlow/IR/ControlFlow.h"
#include "mlir/Dialect/DLTI/DLTI.h"
#include "mlir/Dialect/GPU/Pipelines/Passes.h"
#include "mlir/Dialect/GPU/Transforms/Passes.h"
#include "mlir/Dialect/Index/IR/IndexDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/Linalg/Passes.h"
#include "mlir/Dialect/Linalg/Transforms/BufferizableOpInterfaceImpl.h"
#include "mlir/Dialect/MemRef/Transforms/Passes.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/SCF/Transforms/BufferizableOpInterfaceImpl.h"
#include "mlir/Dialect/SCF/Transforms/Passes.h"
#include "mlir/Dialect/Tensor/Transforms/BufferizableOpInterfaceImpl.h"
#include "mlir/Dialect/UB/IR/UBOps.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/InitAllExtensions.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Target/LLVM/NVVM/Target.h"
#include "mlir/Target/LLVMIR/Dialect/All.h"
#include "mlir/Transforms/Passes.h"

using namespace mlir;
using namespace mlir::lowmem;

void mlir::lowmem::buildGraphPipeline(OpPassManager &pm,
                                      const GraphPipelineOptions &options) {
  if (options.loraRank != 0) {
    LowMemAttachLoraOptions lora;
    lora.rank = options.loraRank;
    lora.alpha = options.loraAlpha;
    lora.rslora = options.loraRslora;
    lora.dropout = options.loraDropout;
    lora.targets.assign(options.loraTargets.begin(), options.loraTargets.end());
    pm.addPass(createLowMemAttachLora(lora));
  }
  if (options.generate) {
    LowMemKvCacheOptions cache;
    cache.entry = options.entry;
    cache.cacheType = options.kvCache;
    pm.addPass(createLowMemKvCache(cache));
  }
  if (options.train) {
    LowMemDifferentiateOptions diff;
    diff.entry = options.entry;
    diff.loss = options.loss;
    diff.optimizer = options.optimizer;
    diff.momentum = options.momentum;
    diff.weightDecay = options.weightDecay;
    diff.beta1 = options.beta1;
    diff.beta2 = options.beta2;
    diff.epsilon = options.epsilon;
    pm.addPass(createLowMemDifferentiate(diff));
  }
  if (options.format != "f32" || !options.formatOverrides.empty()) {
    LowMemQuantizeWeightsOptions quantOptions;
    quantOptions.format = options.format;
    quantOptions.blockSize = options.blockSize;
    quantOptions.doubleQuant = options.doubleQuant;
    quantOptions.skip.assign(options.skip.begin(), options.skip.end());
    quantOptions.overrides.assign(options.formatOverrides.begin(),
                                  options.formatOverrides.end());
    pm.addPass(createLowMemQuantizeWeights(quantOptions));
  }
  pm.addPass(createCanonicalizerPass());
  pm.addNestedPass<func::FuncOp>(createLowMemFuse());
  pm.addPass(createCSEPass());
  if (options.train && options.checkpoint != "none") {
    LowMemCheckpointOptions checkpoint;
    checkpoint.policy = options.checkpoint;
    checkpoint.budget = options.checkpointBudget;
    checkpoint.batch = options.checkpointBatch;
    checkpoint.length = options.checkpointLength;
    pm.addNestedPass<func::FuncOp>(createLowMemCheckpoint(checkpoint));
  }
  if (options.chunkMlp > 0) {
    LowMemChunkMlpOptions chunk;
    chunk.rows = options.chunkMlp;
    pm.addNestedPass<func::FuncOp>(createLowMemChunkMlp(chunk));
  }
}

/// lowmem-plan-memory's options from a pipeline's planning options;
/// `resultsInArena` where the compiled code has no allocator (CUDA).
template <typename Derived>
static LowMemPlanMemoryOptions
planMemoryOptions(const PlanningOptions<Derived> &options,
                  bool resultsInArena) {
  LowMemPlanMemoryOptions plan;
  plan.resultsInArena = resultsInArena;
  plan.offload = options.offloadActivations;
  plan.reportPeak = options.reportPeak;
  return plan;
}

/// Storage, linalg and bufferization, shared by the CPU and CUDA pipelines.
/// On the GPU, matrix products and norms become kernels first; on the CPU,
/// matrix products become loops over decoded panels of their weights.
static void buildBufferize(OpPassManager &pm, bool forGPU) {
  pm.addPass(createLowMemMaterializeStorage());
  if (forGPU)
    pm.addPass(createConvertLowMemToGPU());
  else
    pm.addPass(createConvertLowMemToCPU());
  // Code tables are constant globals on both targets: a kernel reads its
  // own copy (lowmem-sink-globals), where vector constants were spilled to
  // each thread's local memory (272 stores a thread for nf4 with double
  // quantization, before an embedding's thread decoded its one element).
  pm.addNestedPass<func::FuncOp>(createConvertLowMemToLinalg());
  pm.addPass(createCanonicalizerPass());
  // A scalar read on the host would read device memory.
  if (forGPU)
    pm.addNestedPass<func::FuncOp>(createLowMemSinkScalarReads());
  bufferization::OneShotBufferizePassOptions bufferize;
  bufferize.bufferizeFunctionBoundaries = true;
  bufferize.functionBoundaryTypeConversion =
      bufferization::LayoutMapOption::IdentityLayoutMap;
  pm.addPass(bufferization::createOneShotBufferizePass(bufferize));
  pm.addNestedPass<func::FuncOp>(createLowMemDropInPlaceUpdates());
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createCSEPass());
  // CSE makes the subview a chunk is written through and the one it was
  // computed in the same: the copy between them goes.
  pm.addPass(createCanonicalizerPass());
}

void mlir::lowmem::buildCPUBufferizePipeline(
    OpPassManager &pm, const BufferizePipelineOptions &options) {
  buildBufferize(pm, /*forGPU=*/false);
  pm.addNestedPass<func::FuncOp>(
      createLowMemPlanMemory(planMemoryOptions(options, false)));
}

std::string mlir::lowmem::defaultPTXFeatures(const std::string &chip) {
  // sm_90 needs PTX ISA 8.0; sm_80 is served by 7.0 and later.
  return chip == "sm_90" || chip == "sm_90a" ? "+ptx80" : "+ptx70";
}

void mlir::lowmem::buildCUDABufferizePipeline(
    OpPassManager &pm, const CUDAPipelineOptions &options) {
  GraphPipelineOptions graph;
  copyGraphOptions(options, graph);
  buildGraphPipeline(pm, graph);
  buildBufferize(pm, /*forGPU=*/true);
  pm.addNestedPass<func::FuncOp>(
      createLowMemPlanMemory(planMemoryOptions(options, true)));
}

void mlir::lowmem::buildCUDAToLLVMPipeline(OpPassManager &pm,
                                           const CUDAPipelineOptions &options) {
  // Loops to launches: what every buffer's reads and writes run in.
  pm.addNestedPass<func::FuncOp>(createConvertLinalgToParallelLoopsPass());
  pm.addNestedPass<func::FuncOp>(createLowMemHostLoopsToGPU());
  pm.addNestedPass<func::FuncOp>(createLowMemMapParallelLoops());
  pm.addNestedPass<func::FuncOp>(createGpuMapParallelLoopsPass());
  pm.addNestedPass<func::FuncOp>(createConvertParallelLoopToGpuPass());
  if (options.checkBounds || options.emulate)
    pm.addNestedPass<func::FuncOp>(createLowMemCheckKernelBounds());
  if (options.emulate) {
    pm.addPass(createLowMemEmulateLaunches());
    buildCPUToLLVMPipeline(pm);
    return;
  }
  pm.addNestedPass<func::FuncOp>(createLowMemSinkGlobals());
  pm.addPass(createGpuKernelOutliningPass());
  pm.addNestedPass<gpu::GPUModuleOp>(createLowMemGPUMath());
  pm.addNestedPass<gpu::GPUModuleOp>(createLowMemAlignSharedMemory());
  pm.addPass(createLowMemDedupKernels());
  pm.addPass(createLowerAffinePass());
  pm.addPass(createCanonicalizerPass());
  gpu::GPUToNVVMPipelineOptions nvvm;
  nvvm.cubinChip = options.chip;
  nvvm.cubinFeatures = options.features.empty()
                           ? defaultPTXFeatures(options.chip)
                           : options.features.getValue();
  nvvm.cubinFormat = "isa";
  gpu::buildLowerToNVVMPassPipeline(pm, nvvm);
}

void mlir::lowmem::buildCUDAPipeline(OpPassManager &pm,
                                     const CUDAPipelineOptions &options) {
  buildCUDABufferizePipeline(pm, options);
  buildCUDAToLLVMPipeline(pm, options);
}

void mlir::lowmem::buildCPUToLLVMPipeline(OpPassManager &pm) {
  // The matrix products' loops over panels run on the runtime's threads.
  pm.addPass(createLowMemCPUThreads());
  pm.addNestedPass<func::FuncOp>(createConvertLinalgToLoopsPass());
  // The matrix products' loops (convert-lowmem-to-cpu) and the emulated
  // GPU kernels read and compute with vectors.
  pm.addPass(createConvertVectorToLLVMPass());
  pm.addPass(memref::createExpandStridedMetadataPass());
  pm.addPass(createLowerAffinePass());
  pm.addPass(createSCFToControlFlowPass());
  pm.addPass(createConvertMathToLLVMPass());
  FinalizeMemRefToLLVMConversionPassOptions memrefOptions;
  memrefOptions.useGenericFunctions = true;
  memrefOptions.useAlignedAlloc = true;
  pm.addPass(createFinalizeMemRefToLLVMConversionPass(memrefOptions));
  pm.addPass(createArithToLLVMConversionPass());
  pm.addPass(createConvertControlFlowToLLVMPass());
  pm.addPass(createConvertFuncToLLVMPass());
  pm.addPass(createConvertIndexToLLVMPass());
  pm.addPass(createReconcileUnrealizedCastsPass());
  pm.addPass(createCanonicalizerPass());
}

void mlir::lowmem::buildCPUPipeline(OpPassManager &pm,
                                    const GraphPipelineOptions &options) {
  buildGraphPipeline(pm, options);
  BufferizePipelineOptions bufferize;
  copyPlanningOptions(options, bufferize);
  buildCPUBufferizePipeline(pm, bufferize);
  buildCPUToLLVMPipeline(pm);
}

void mlir::lowmem::registerLowMemPipelines() {
  PassPipelineRegistration<GraphPipelineOptions>(
      "lowmem-graph-pipeline",
      "Graph passes: quantize weights, fuse dequantization and epilogues",
      buildGraphPipeline);
  PassPipelineRegistration<BufferizePipelineOptions>(
      "lowmem-cpu-bufferize-pipeline",
      "Explicit weight storage, linalg, bufferization and memory planning",
      buildCPUBufferizePipeline);
  PassPipelineRegistration<>("lowmem-cpu-to-llvm-pipeline",
                             "Bufferized linalg to the LLVM dialect",
                             buildCPUToLLVMPipeline);
  PassPipelineRegistration<CUDAPipelineOptions>(
      "lowmem-cuda-pipeline",
      "The whole CUDA pipeline, from lowmem graphs to host LLVM with "
      "embedded PTX",
      buildCUDAPipeline);
  PassPipelineRegistration<GraphPipelineOptions>(
      "lowmem-cpu-pipeline",
      "The whole CPU pipeline, from lowmem graphs to the LLVM dialect",
      buildCPUPipeline);
}

void mlir::lowmem::registerAllLowMemPasses() {
  registerLowMemPasses();
  registerLowMemConversionPasses();
}

void mlir::lowmem::registerLowMemDialects(DialectRegistry &registry) {
  registry
      .insert<LowMemDialect, arith::ArithDialect, func::FuncDialect,
              linalg::LinalgDialect, math::MathDialect, memref::MemRefDialect,
              tensor::TensorDialect, bufferization::BufferizationDialect,
              scf::SCFDialect, LLVM::LLVMDialect>();
  arith::registerBufferizableOpInterfaceExternalModels(registry);
  linalg::registerBufferizableOpInterfaceExternalModels(registry);
  tensor::registerBufferizableOpInterfaceExternalModels(registry);
  scf::registerBufferizableOpInterfaceExternalModels(registry);
  bufferization::func_ext::registerBufferizableOpInterfaceExternalModels(
      registry);
  // What the pipelines' intermediate IR holds too, so lowmem-opt reads back
  // what any prefix of a pipeline printed.
  registry.insert<gpu::GPUDialect, NVVM::NVVMDialect, vector::VectorDialect,
                  cf::ControlFlowDialect, affine::AffineDialect,
                  index::IndexDialect, ub::UBDialect, DLTIDialect>();
  registerAllToLLVMIRTranslations(registry);
  NVVM::registerNVVMTargetInterfaceExternalModels(registry);
  registerConvertToLLVMDependentDialectLoading(registry);
  registerAllExtensions(registry);
}
