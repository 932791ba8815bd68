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

/// Graph passes: quantize-weights (unless format=f32), fuse, cleanup.
void buildGraphPipeline(OpPassManager &pm, const GraphPipelineOptions &options);

/// Explicit storage, lowering to linalg, bufferization, memory planning.
void buildCPUBufferizePipeline(OpPassManager &pm);

/// Bufferized linalg to the LLVM dialect (loops; allocations through the
/// runtime's `_mlir_memref_to_llvm_*` hooks so it can account for them).
void buildCPUToLLVMPipeline(OpPassManager &pm);

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
