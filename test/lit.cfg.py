# -*- Python -*-
"""lit configuration of the lowmem regression and integration tests."""

import os
import shutil

import lit.formats
from lit.llvm import llvm_config

config.name = "LOWMEM"
config.test_format = lit.formats.ShTest(not llvm_config.use_lit_shell)
config.suffixes = [".mlir", ".test"]
config.test_source_root = os.path.dirname(__file__)
config.test_exec_root = os.path.join(config.lowmem_obj_root, "test")
config.excludes = ["lit.cfg.py", "lit.site.cfg.py", "Inputs", "CMakeLists.txt"]

config.substitutions.append(("%PATH%", config.environment["PATH"]))
config.substitutions.append(("%python", config.python_numpy))
config.substitutions.append(("%lowmem_src", config.lowmem_src_root))
config.substitutions.append(
    ("%fake_cuda", config.lowmem_obj_root + "/lib/liblowmem_fake_cuda.so"))

llvm_config.use_default_substitutions()
llvm_config.with_environment("PATH", config.llvm_tools_dir, append_path=True)
llvm_config.with_environment("PATH", config.lowmem_tools_dir, append_path=True)
llvm_config.with_environment(
    "PYTHONPATH", os.path.join(config.lowmem_src_root, "python"), append_path=True
)

tools = ["lowmem-opt", "lowmem-compile", "lowmem-import", "lowmem-quantize"]
llvm_config.add_tool_substitutions(tools, [config.lowmem_tools_dir])

# GPU-executing tests need a CUDA driver and a device.
if os.path.exists("/dev/nvidia0") and shutil.which("nvidia-smi"):
    config.available_features.add("cuda")

# ptxas validates the PTX of --target=cuda builds without a GPU.
ptxas = shutil.which("ptxas") or (
    "/usr/local/cuda/bin/ptxas"
    if os.path.exists("/usr/local/cuda/bin/ptxas") else None)
if ptxas:
    config.available_features.add("ptxas")
    config.substitutions.append(("%ptxas", ptxas))

# Small numeric tests of single lowerings run in MLIR's JIT: lower a module
# on tensors to LLVM with the upstream passes, then mlir-runner calls @main.
llvm_lib_dir = os.path.join(os.path.dirname(config.llvm_tools_dir), "lib")
# Bufferized loops to LLVM, the tail both lowerings below share.
loops_to_llvm = (
    "--convert-linalg-to-loops --convert-vector-to-llvm "
    "--expand-strided-metadata --lower-affine "
    "--convert-scf-to-cf --finalize-memref-to-llvm --convert-math-to-llvm "
    "--convert-arith-to-llvm --convert-cf-to-llvm --convert-func-to-llvm "
    "--convert-index-to-llvm --reconcile-unrealized-casts")
config.substitutions.append((
    "%lower-tensors-to-llvm",
    "--one-shot-bufferize=bufferize-function-boundaries " + loops_to_llvm))
# The same on the CUDA pipeline's path (scalar reads sunk, loops mapped to
# blocks of threads, launches), each launch run as loops on the host
# (lowmem-emulate-launches), every access checked against its buffer
# (lowmem-check-kernel-bounds), as lowmem-compile --emulate-gpu does: the GPU
# mapping checked without a GPU.
config.substitutions.append((
    "%emulate-cuda-to-llvm",
    "--lowmem-sink-scalar-reads "
    "--one-shot-bufferize=bufferize-function-boundaries "
    "--convert-linalg-to-parallel-loops --lowmem-host-loops-to-gpu "
    "--lowmem-map-parallel-loops --gpu-map-parallel-loops "
    "--convert-parallel-loops-to-gpu --lowmem-check-kernel-bounds "
    "--lowmem-emulate-launches " + loops_to_llvm))
config.substitutions.append((
    "%mlir-runner",
    "mlir-runner -e main -entry-point-result=void -shared-libs="
    + os.path.join(llvm_lib_dir, "libmlir_runner_utils.so") + ","
    + os.path.join(llvm_lib_dir, "libmlir_c_runner_utils.so")))
