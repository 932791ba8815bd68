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

/// Options of the graph-level pipeline (and of the full CPU pipeline).
struct GraphPipelineOptions : public PassPipelineOptions<GraphPipelineOptions> {
  Option<std::string> format{
      *this, "format",
      llvm::cl::desc("Weight format: f32 (unchanged), f16, bf16, int4, nf4, "
                     "fp4, int8"),
      llvm::cl::init("f32")};
  Option<int64_t> blockSize{
      *this, "block-size",
      llvm::cl::desc("Block size of block formats (0: format default)"),
      llvm::cl::init(0)};
  Option<bool> doubleQuant{*this, "double-quant",
                           llvm::cl::desc("Quantize the block scales too"),
                           llvm::cl::init(false)};
  ListOption<std::string> skip{
      *this, "skip",
      llvm::cl::desc("Parameters (names or prefixes ending in '.') kept in "
                     "full precision")};
};

/// Options of the CUDA pipeline: the graph options and the GPU target.
struct CUDAPipelineOptions : public PassPipelineOptions<CUDAPipelineOptions> {
  Option<std::string> format{*this, "format",
                             llvm::cl::desc("Weight format (see the graph "
                                            "pipeline)"),
                             llvm::cl::init("f32")};
  Option<int64_t> blockSize{*this, "block-size",
                            llvm::cl::desc("Block size (0: format default)"),
                            llvm::cl::init(0)};
  Option<bool> doubleQuant{*this, "double-quant",
                           llvm::cl::desc("Quantize the block scales too"),
                           llvm::cl::init(false)};
  ListOption<std::string> skip{
      *this, "skip", llvm::cl::desc("Parameters kept in full precision")};
  Option<std::string> chip{*this, "chip",
                           llvm::cl::desc("GPU architecture: sm_80, sm_90"),
                           llvm::cl::init("sm_90")};
  Option<std::string> features{
      *this, "features",
      llvm::cl::desc("PTX features (default: the PTX version the chip needs)"),
      llvm::cl::init("")};
};

/// Sets the graph options of `to` from the same options of `from`.
void copyGraphOptions(const CUDAPipelineOptions &from,
                      GraphPipelineOptions &to);

/// Graph passes: quantize-weights (unless format=f32), fuse, cleanup.
void buildGraphPipeline(OpPassManager &pm, const GraphPipelineOptions &options);

/// Explicit storage, lowering to linalg, bufferization, memory planning.
void buildCPUBufferizePipeline(OpPassManager &pm);

/// Bufferized linalg to the LLVM dialect (loops; allocations through the
/// runtime's `_mlir_memref_to_llvm_*` hooks so it can account for them).
void buildCPUToLLVMPipeline(OpPassManager &pm);

/// Graph, storage, GPU kernels for the matrix products and norms (see
/// convert-lowmem-to-gpu), linalg for the rest (code tables in registers),
/// bufferization, memory planning with every buffer, the result included,
/// in the arena (device memory), then the remaining linalg loops mapped to
/// GPU blocks, kernel outlining, NVVM and PTX embedded in the host module
/// (`gpu-lower-to-nvvm-pipeline`). The host code calls the runtime's mgpu*
/// entry points.
void buildCUDAPipeline(OpPassManager &pm, const CUDAPipelineOptions &options);

/// The same up to memory planning: what lowmem-compile reads the manifest
/// from, before the GPU lowering.
void buildCUDABufferizePipeline(OpPassManager &pm,
                                const CUDAPipelineOptions &options);

/// From memory planning on: kernels, NVVM, PTX and host code.
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

/// Adds the dialects, interfaces and translations the lowmem tools use.
void registerLowMemDialects(DialectRegistry &registry);

} // namespace lowmem
} // namespace mlir

#endif // LOWMEM_PIPELINES_PIPELINES_H
