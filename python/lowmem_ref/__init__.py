"""lowmem_ref: an independent numpy reference for the lowmem compiler.

This package is written from the mathematical definitions in DESIGN.md (§4
weight formats, §5 models) and is what the compiler's outputs are tested
against.  It depends on numpy and the Python standard library only (use
Debian's ``/usr/bin/python3``).

Modules:

``safetensors_io``
    Read (validated) and write (atomic) safetensors files; bf16 helpers.
``formats``
    Bit-exact quantize/dequantize for f32, f16, bf16, int4, nf4, fp4 (with
    optional double quantization) and int8, plus storage-size figures.
``checkpoint``
    The bitsandbytes-style safetensors naming of quantized weights:
    quantize a whole checkpoint, dequantize one weight of a loaded one.
``bignet``
    The BigNet forward pass (float64 reference or float32) and its
    PyTorch-default initialisation.

Import the modules explicitly, e.g. ``from lowmem_ref import formats``.
"""

__all__ = ["safetensors_io", "formats", "checkpoint", "bignet"]
