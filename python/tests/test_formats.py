#!/usr/bin/env python3
"""Self-test of lowmem_ref against hand-derived values.

Run with Debian's python and numpy::

    /usr/bin/python3 python/tests/test_formats.py [-v]
"""

import json
import math
import os
import subprocess
import sys
import tempfile
import unittest

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(REPO, "python"))

from lowmem_ref import bignet, checkpoint, formats, lora, safetensors_io, train  # noqa: E402
from lowmem_ref.formats import DYNAMIC_MAP, FP4_TABLE, NF4_TABLE  # noqa: E402

F32 = np.float32


def f32(values):
    return np.array(values, dtype=F32)


class TestTables(unittest.TestCase):
    def test_nf4_table(self):
        self.assertEqual(NF4_TABLE.dtype, F32)
        self.assertEqual(NF4_TABLE.size, 16)
        self.assertTrue(np.all(np.diff(NF4_TABLE) > 0))
        self.assertEqual(NF4_TABLE[0], -1.0)
        self.assertEqual(NF4_TABLE[7], 0.0)
        self.assertEqual(NF4_TABLE[15], 1.0)

    def test_fp4_table(self):
        # [0, 0.0625, 8, 12, 4, 6, 2, 3] / 12, then the negatives.
        expected = [0, 0.0625 / 12, 8 / 12, 1.0, 4 / 12, 0.5, 2 / 12, 0.25]
        for k, v in enumerate(expected):
            self.assertEqual(FP4_TABLE[k], F32(v), k)
            self.assertEqual(FP4_TABLE[k + 8], -F32(v), k + 8)
        self.assertTrue(math.copysign(1.0, float(FP4_TABLE[8])) < 0)  # -0


class TestDynamicMap(unittest.TestCase):
    def test_shape_and_order(self):
        self.assertEqual(DYNAMIC_MAP.dtype, F32)
        self.assertEqual(DYNAMIC_MAP.size, 256)
        self.assertTrue(np.all(np.diff(DYNAMIC_MAP) > 0), "strictly increasing")
        self.assertEqual(int(np.sum(DYNAMIC_MAP == 0.0)), 1)
        self.assertEqual(int(np.sum(DYNAMIC_MAP == 1.0)), 1)
        self.assertEqual(DYNAMIC_MAP[127], 0.0)
        self.assertEqual(formats.DYNAMIC_ZERO_CODE, 127)
        self.assertEqual(DYNAMIC_MAP[255], 1.0)
        self.assertEqual(int(np.sum(DYNAMIC_MAP < 0)), 127)

    def test_symmetry(self):
        # Without 0 and 1.0 the map is symmetric: DYN[127 - k] = -DYN[127 + k].
        for k in range(1, 128):
            self.assertEqual(DYNAMIC_MAP[127 - k], -DYNAMIC_MAP[127 + k])

    def test_hand_values(self):
        # i = 0: boundaries [0.1, 1], one mean 0.55, times 1e-6.
        b0 = F32(0.1)
        mean0 = F32((b0 + F32(1.0)) / F32(2))
        small = F32(F32(1e-6) * mean0)
        self.assertAlmostEqual(float(small), 0.55e-6, delta=1e-13)
        self.assertEqual(DYNAMIC_MAP[128], small)
        self.assertEqual(DYNAMIC_MAP[126], -small)
        # i = 1: boundaries [0.1, 0.55, 1], means 0.325, 0.775, times 1e-5.
        self.assertAlmostEqual(float(DYNAMIC_MAP[129]), 0.325e-5, delta=1e-12)
        self.assertAlmostEqual(float(DYNAMIC_MAP[130]), 0.775e-5, delta=1e-12)
        # Largest below 1: i = 6, 65 boundaries, last mean 1 - 0.9/128.
        self.assertAlmostEqual(float(DYNAMIC_MAP[254]), 1 - 0.9 / 128, places=6)
        self.assertAlmostEqual(float(DYNAMIC_MAP[0]), -0.99296875, places=6)
        # i = 6 has 64 means 0.1 + 0.9*(j+0.5)/64: the smallest is 0.10703125.
        self.assertAlmostEqual(float(DYNAMIC_MAP[128 + 63]), 0.10703125, places=6)   # after 1+2+...+32
        # Counts per decade: 1, 2, 4, ..., 64 positive values in [1e-6*0.1, 1e-5*0.1) ...
        pos = DYNAMIC_MAP[128:255].astype(np.float64)
        for i in range(7):
            lo, hi = 10.0 ** (i - 6) * 0.1, 10.0 ** (i - 6)
            self.assertEqual(int(np.sum((pos > lo) & (pos < hi))), 2 ** i, i)


class TestNearest(unittest.TestCase):
    def test_ties_go_low(self):
        # Halfway between NF4[7] = 0 and NF4[8]: both float32 distances equal.
        mid = F32(NF4_TABLE[8] / F32(2))
        self.assertEqual(abs(mid - NF4_TABLE[7]), abs(mid - NF4_TABLE[8]))
        self.assertEqual(int(formats.nearest_code(f32([mid]), NF4_TABLE)[0]), 7)
        # FP4 +0 (code 0) and -0 (code 8) tie for both signs of zero.
        self.assertEqual(formats.nearest_code(f32([0.0, -0.0]), FP4_TABLE).tolist(), [0, 0])


class TestNF4(unittest.TestCase):
    def test_codes_and_packing(self):
        # absmax 1: 1 -> 15, -1 -> 0, 0 -> 7, 0.5 -> 12 (|0.5-0.4407| < |0.5-0.5626|).
        qw = formats.quantize(f32([1.0, -1.0, 0.0, 0.5]), "nf4", block=4)
        self.assertEqual(qw.codes.tolist(), [0xF0, 0x7C])
        self.assertEqual(qw.scales.tolist(), [1.0])
        self.assertEqual(formats.dequantize(qw).tolist(),
                         [1.0, -1.0, 0.0, float(NF4_TABLE[12])])

    def test_scaled_block_and_tie(self):
        # Block absmax 2; w/2 hits table values exactly, and one exact tie.
        t = NF4_TABLE
        w = f32([2.0, t[1] * 2, t[13] * 2, (t[8] / 2) * 2, -2.0, t[4] * 2])
        codes, absmax = formats.quantize_4bit(w, "nf4", block=6)
        self.assertEqual(codes.tolist(), [15, 1, 13, 7, 0, 4])
        self.assertEqual(absmax.tolist(), [2.0])

    def test_odd_length_and_partial_block(self):
        # Blocks [4, -2 | 1]: codes 15, nearest(-0.5)=2 (-0.525), 15; odd n pads 0.
        qw = formats.quantize(f32([4.0, -2.0, 1.0]), "nf4", block=2)
        self.assertEqual(qw.scales.tolist(), [4.0, 1.0])
        self.assertEqual(qw.codes.tolist(), [0xF2, 0xF0])
        out = formats.dequantize(qw)
        self.assertEqual(out.tolist(), [4.0, float(F32(NF4_TABLE[2] * F32(4))), 1.0])

    def test_zero_block(self):
        qw = formats.quantize(np.zeros((1, 5), F32), "nf4", block=4)
        self.assertEqual(qw.codes.tolist(), [0x77, 0x77, 0x70])
        self.assertEqual(qw.scales.tolist(), [0.0, 0.0])
        self.assertEqual(formats.dequantize(qw).tolist(), [[0.0] * 5])


class TestFP4(unittest.TestCase):
    def test_codes(self):
        # absmax 12: w/12 -> [1 (code 3), 0.5 (code 5), -0.25 (code 15), -0 (code 0)]
        qw = formats.quantize(f32([12.0, 6.0, -3.0, -0.0]), "fp4", block=4)
        self.assertEqual(qw.codes.tolist(), [0x35, 0xF0])
        self.assertEqual(formats.dequantize(qw).tolist(), [12.0, 6.0, -3.0, 0.0])

    def test_zero_block(self):
        qw = formats.quantize(np.zeros(3, F32), "fp4", block=64)
        self.assertEqual(qw.codes.tolist(), [0, 0])


class TestDoubleQuant(unittest.TestCase):
    def test_hand_case(self):
        # absmax [1, 3]: offset 2, a' = [-1, 1], nested absmax 1,
        # codes: -1 -> 0 (DYN[0] = -0.99296875 is nearest), 1 -> 255.
        codes, nested, offset = formats.double_quantize(f32([1.0, 3.0]))
        self.assertEqual(offset, F32(2.0))
        self.assertEqual(nested.tolist(), [1.0])
        self.assertEqual(codes.tolist(), [0, 255])
        dec = formats.decode_double_quant(codes, nested, offset)
        self.assertEqual(dec[0], F32(DYNAMIC_MAP[0] + F32(2)))
        self.assertEqual(dec[1], F32(3.0))

    def test_constant_absmax(self):
        codes, nested, offset = formats.double_quantize(np.full(5, 0.25, F32))
        self.assertEqual(offset, F32(0.25))
        self.assertEqual(nested.tolist(), [0.0])
        self.assertEqual(codes.tolist(), [127] * 5)
        self.assertEqual(formats.decode_double_quant(codes, nested, offset).tolist(), [0.25] * 5)

    def test_round_trip(self):
        rng = np.random.default_rng(1)
        w = rng.standard_normal((37, 300)).astype(F32)        # 11100 = 173.4 blocks of 64
        plain = formats.quantize(w, "nf4", block=64)
        dq = formats.quantize(w, "nf4", block=64, double_quant=True)
        self.assertEqual(plain.codes.tobytes(), dq.codes.tobytes(), "codes use the true absmax")
        nb = (w.size + 63) // 64
        self.assertEqual(dq.scales.shape, (nb,))
        self.assertEqual(dq.nested_absmax.shape, ((nb + 255) // 256,))
        absmax = plain.scales
        self.assertEqual(dq.offset, F32(np.mean(absmax.astype(np.float64))))
        dec = formats.decode_double_quant(dq.scales, dq.nested_absmax, dq.offset)
        # Every decoded scale is within half the largest map gap of the truth.
        gap = float(np.max(np.diff(DYNAMIC_MAP.astype(np.float64))))
        bound = np.repeat(dq.nested_absmax, 256)[:nb] * gap / 2 + 1e-5
        self.assertTrue(np.all(np.abs(dec - absmax) <= bound))
        out = formats.dequantize(dq)
        expected = (NF4_TABLE[formats.unpack_high_first(dq.codes, w.size)]
                    * np.repeat(dec, 64)[:w.size]).reshape(w.shape)
        self.assertEqual(out.tobytes(), expected.astype(F32).tobytes())
        self.assertLess(float(np.abs(out - w).max()), 0.25 * float(np.abs(w).max()))

    def test_sizes(self):
        self.assertAlmostEqual(formats.nominal_bits_per_weight("nf4", 64, True), 4.127, places=3)
        self.assertEqual(formats.nominal_bits_per_weight("nf4", 64), 4.5)
        self.assertEqual(formats.nominal_bits_per_weight("int4", 16), 5.0)
        self.assertEqual(formats.storage_bytes("nf4", (1024, 1024), 64), 524288 + 4 * 16384)
        self.assertEqual(formats.storage_bytes("nf4", (1024, 1024), 64, True),
                         524288 + 16384 + 4 * 64 + 4)
        self.assertEqual(formats.storage_bytes("int4", (3, 5), 16), 8 + 2)
        self.assertEqual(formats.storage_bytes("int8", (4, 8)), 32 + 16)
        self.assertEqual(formats.storage_bytes("bf16", (4, 8)), 64)


class TestInt4(unittest.TestCase):
    def test_small_block(self):
        # m = 2: (w+2)/4*15 = [0, 7.5 -> 8 (even), 11.25 -> 11, 15].
        qw = formats.quantize(f32([-2.0, 0.0, 1.0, 2.0]), "int4", block=4)
        self.assertEqual(qw.codes.tolist(), [0x80, 0xFB])    # low nibble first
        self.assertEqual(qw.scales.dtype, np.float16)
        self.assertEqual(qw.scales.tolist(), [2.0])
        m = F32(2)
        expected = [F32(F32(F32(F32(q) / F32(15)) * F32(2)) * m) - m for q in (0, 8, 11, 15)]
        self.assertEqual(formats.dequantize(qw).tolist(), [float(v) for v in expected])

    def test_half_even(self):
        # m = 15: w = -6 -> fl(fl(9/30) * 15) = 4.5 -> 4; w = 6 -> 10.5 -> 10.
        codes, m = formats.quantize_int4(f32([-6.0, 6.0, 15.0]), block=16)
        self.assertEqual(codes.tolist(), [4, 10, 15])
        self.assertEqual(formats.pack_low_first(codes).tolist(), [0xA4, 0x0F])

    def test_f16_scale_and_zero(self):
        # m = 0.1 is stored as float16(0.1); a zero block gives code 0.
        qw = formats.quantize(f32([0.1, -0.1, 0, 0]), "int4", block=2)
        self.assertEqual(qw.scales[0], np.float16(0.1))
        self.assertEqual(qw.scales[1], np.float16(0.0))
        self.assertEqual(qw.codes.tolist(), [0x0F, 0x00])
        out = formats.dequantize(qw)
        mh = F32(np.float16(0.1))
        self.assertEqual(out[0], F32(F32(F32(F32(15) / F32(15)) * F32(2)) * mh) - mh)
        self.assertEqual(out[1], -mh)
        self.assertEqual(out[2], 0.0)


class TestInt8(unittest.TestCase):
    def test_rows(self):
        # Row 0: a = 127, scale 1 -> round half even: 2.5 -> 2, -0.5 -> 0, 3.5 -> 4.
        # Row 1: a = 4, 127/4 = 31.75: [31.75 -> 32, -63.5 -> -64, 15.875 -> 16, 127].
        # Row 2: zeros.
        w = f32([[127.0, 2.5, -0.5, 3.5], [1.0, -2.0, 0.5, 4.0], [0, 0, 0, 0]])
        qw = formats.quantize(w, "int8")
        self.assertEqual(qw.codes.dtype, np.int8)
        self.assertEqual(qw.codes.tolist(), [[127, 2, 0, 4], [32, -64, 16, 127], [0, 0, 0, 0]])
        self.assertEqual(qw.scales.tolist(), [127.0, 4.0, 0.0])
        out = formats.dequantize(qw)
        self.assertEqual(out[0].tolist(), [127.0, 2.0, 0.0, 4.0])
        self.assertEqual(out[1, 0], F32(F32(32 * 4.0) / F32(127)))
        self.assertEqual(out[2].tolist(), [0.0] * 4)


class TestFloatCasts(unittest.TestCase):
    def test_f16_ties(self):
        x = f32([1 + 2 ** -11, 1 + 3 * 2 ** -11, -(1 + 2 ** -11), 65520.0])
        bits = formats.quantize(x, "f16").codes.view(np.uint16)
        self.assertEqual(bits.tolist(), [0x3C00, 0x3C02, 0xBC00, 0x7C00])

    def test_bf16_ties(self):
        x = f32([1 + 2 ** -8, 1 + 3 * 2 ** -8, 1 + 2 ** -8 + 2 ** -20, -(1 + 2 ** -8), np.inf, 0.0])
        bits = formats.quantize(x, "bf16").codes
        self.assertEqual(bits.tolist(), [0x3F80, 0x3F82, 0x3F81, 0xBF80, 0x7F80, 0x0000])
        big = np.array([0x7F7FFFFF], dtype=np.uint32).view(F32)   # largest float32
        self.assertEqual(safetensors_io.f32_to_bf16_bits(big).tolist(), [0x7F80])
        nan = safetensors_io.f32_to_bf16_bits(f32([np.nan]))
        self.assertTrue(np.isnan(safetensors_io.bf16_bits_to_f32(nan))[0])
        self.assertEqual(safetensors_io.bf16_bits_to_f32(np.array([0x3F82], np.uint16)).tolist(),
                         [1 + 2 ** -6])

    def test_f32_copy(self):
        w = np.arange(6, dtype=F32).reshape(2, 3)
        self.assertEqual(formats.dequantize(formats.quantize(w, "f32")).tobytes(), w.tobytes())


class TestSafetensors(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()

    def tearDown(self):
        self.dir.cleanup()

    def path(self, name):
        return os.path.join(self.dir.name, name)

    def test_round_trip_all_dtypes(self):
        rng = np.random.default_rng(0)
        tensors = {
            "f64": rng.standard_normal((2, 3)),
            "f32": rng.standard_normal((3,)).astype(F32),
            "f16": rng.standard_normal((1, 5)).astype(np.float16),
            "bf16": ("BF16", f32([1.0, 1 + 2 ** -8, -2.5])),
            "i64": np.array([-1, 2 ** 40], np.int64),
            "i32": np.array([[-7]], np.int32),
            "i16": np.array([300, -300], np.int16),
            "i8": np.array([-128, 127], np.int8),
            "u8": np.arange(7, dtype=np.uint8),
            "bool": np.array([True, False, True]),
            "scalar": np.float32(3.5),
            "empty": np.zeros((0, 4), F32),
        }
        p = self.path("a.safetensors")
        safetensors_io.save(p, tensors, metadata={"format": "pt", "note": "x"})
        with open(p, "rb") as f:
            raw = f.read()
        n = int.from_bytes(raw[:8], "little")
        self.assertEqual(n % 8, 0)
        self.assertTrue(raw[8:8 + n].rstrip(b" ").endswith(b"}"))
        got = safetensors_io.load(p)
        self.assertEqual(got.metadata, {"format": "pt", "note": "x"})
        self.assertEqual(got.dtypes["bf16"], "BF16")
        self.assertEqual(got["bf16"].tolist(), [0x3F80, 0x3F80, 0xC020])
        for k, v in tensors.items():
            if k == "bf16":
                continue
            self.assertEqual(got[k].dtype, np.asarray(v).dtype, k)
            self.assertEqual(got[k].shape, np.asarray(v).shape, k)
            self.assertEqual(got[k].tobytes(), np.asarray(v).tobytes(), k)
        # Alignment: every tensor begins at a multiple of its element size.
        header = json.loads(raw[8:8 + n])
        for k, info in header.items():
            if k != "__metadata__":
                size = safetensors_io.DTYPES[info["dtype"]].itemsize
                self.assertEqual(info["data_offsets"][0] % size, 0, k)
        # Serialization is deterministic.
        safetensors_io.save(self.path("b.safetensors"), tensors, metadata={"format": "pt", "note": "x"})
        with open(self.path("b.safetensors"), "rb") as f:
            self.assertEqual(f.read(), raw)
        self.assertEqual([f for f in os.listdir(self.dir.name) if f.endswith(".tmp")], [])

    def _write(self, header, data=b"", pad=True):
        text = json.dumps(header).encode()
        if pad:
            text += b" " * ((-len(text)) % 8)
        p = self.path("bad.safetensors")
        with open(p, "wb") as f:
            f.write(len(text).to_bytes(8, "little") + text + data)
        return p

    def test_validation(self):
        ok = {"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}
        safetensors_io.load(self._write(ok, b"\0" * 8))
        bad_cases = [
            (ok, b"\0" * 7),                                                     # short
            (ok, b"\0" * 9),                                                     # trailing byte
            ({"a": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}}, b"\0" * 8),
            ({"a": {"dtype": "X9", "shape": [2], "data_offsets": [0, 8]}}, b"\0" * 8),
            ({"a": {"dtype": "U8", "shape": [2], "data_offsets": [0, 2]},
              "b": {"dtype": "U8", "shape": [2], "data_offsets": [1, 3]}}, b"\0" * 3),  # overlap
            ({"a": {"dtype": "U8", "shape": [2], "data_offsets": [0, 2]},
              "b": {"dtype": "U8", "shape": [2], "data_offsets": [3, 5]}}, b"\0" * 5),  # gap
            ({"a": {"dtype": "U8", "shape": [-1], "data_offsets": [0, 0]}}, b""),
            ({"__metadata__": {"k": 1}}, b""),
        ]
        for header, data in bad_cases:
            with self.assertRaises(safetensors_io.SafetensorsError, msg=str(header)):
                safetensors_io.load(self._write(header, data))
        p = self.path("huge.safetensors")
        with open(p, "wb") as f:
            f.write((100_000_001).to_bytes(8, "little") + b"{}")
        with self.assertRaises(safetensors_io.SafetensorsError):
            safetensors_io.load(p)


class TestCheckpoint(unittest.TestCase):
    def test_names_and_round_trip(self):
        rng = np.random.default_rng(3)
        w = rng.standard_normal((6, 70)).astype(F32)     # 420 elements, 7 blocks of 64 (last partial)
        full = {"l.weight": w, "l.bias": rng.standard_normal(6).astype(F32),
                "n.weight": np.ones(70, F32)}
        with tempfile.TemporaryDirectory() as d:
            for fmt, block, dq in [("nf4", 64, False), ("nf4", 64, True), ("fp4", 32, True),
                                   ("fp4", 64, False), ("int4", 16, False), ("int8", None, False),
                                   ("f16", None, False), ("bf16", None, False), ("f32", None, False)]:
                with self.subTest(fmt=fmt, dq=dq):
                    p = os.path.join(d, f"{fmt}{dq}.safetensors")
                    safetensors_io.save(p, checkpoint.quantize_checkpoint(full, fmt, block, dq))
                    t = safetensors_io.load(p)
                    expected = formats.dequantize(formats.quantize(w, fmt, block, dq))
                    got = checkpoint.dequantize(t, "l.weight")
                    self.assertEqual(got.shape, (6, 70))
                    self.assertEqual(got.dtype, F32)
                    self.assertEqual(got.tobytes(), expected.tobytes())
                    self.assertEqual(t["l.bias"].tobytes(), full["l.bias"].tobytes())
                    self.assertEqual(t.dtypes["n.weight"], "F32")
                    self.assertEqual(checkpoint.weight_format(t, "l.weight"), fmt)

    def test_nf4_dq_layout(self):
        w = np.linspace(-1, 1, 6 * 70, dtype=F32).reshape(6, 70)
        out = checkpoint.quantize_checkpoint({"l.weight": w}, "nf4", 64, True)
        self.assertEqual(sorted(out), sorted([
            "l.weight", "l.weight.absmax", "l.weight.quant_map", "l.weight.nested_absmax",
            "l.weight.nested_quant_map", "l.weight.quant_state.bitsandbytes__nf4"]))
        self.assertEqual(out["l.weight"][0], "U8")
        self.assertEqual(out["l.weight"][1].shape, (210, 1))
        self.assertEqual(out["l.weight.absmax"][0], "U8")
        self.assertEqual(out["l.weight.absmax"][1].shape, (7,))
        self.assertEqual(out["l.weight.nested_absmax"][1].shape, (1,))
        self.assertEqual(out["l.weight.nested_quant_map"][1].shape, (256,))
        qs = out["l.weight.quant_state.bitsandbytes__nf4"][1].tobytes().decode()
        offset = formats.quantize(w, "nf4", 64, True).offset
        self.assertEqual(qs, '{"quant_type": "nf4", "blocksize": 64, "dtype": "float32", "shape": [6, 70], '
                             '"nested_blocksize": 256, "nested_dtype": "float32", '
                             f'"nested_offset": {float(offset)!r}}}')

    def test_index_of_shards(self):
        with tempfile.TemporaryDirectory() as d:
            a, b = np.arange(4, dtype=F32), np.ones((2, 2), F32)
            safetensors_io.save(os.path.join(d, "s1.safetensors"), {"a": a})
            safetensors_io.save(os.path.join(d, "s2.safetensors"), {"b": ("BF16", safetensors_io.f32_to_bf16_bits(b))})
            index = os.path.join(d, "m.index.json")
            with open(index, "w") as f:
                json.dump({"weight_map": {"a": "s1.safetensors", "b": "s2.safetensors"}}, f)
            t = safetensors_io.load(index)
            self.assertEqual(sorted(t), ["a", "b"])
            np.testing.assert_array_equal(t["a"], a)
            self.assertEqual(t.dtypes["b"], "BF16")
            with open(index, "w") as f:
                json.dump({"weight_map": {"a": "s2.safetensors"}}, f)
            with self.assertRaisesRegex(safetensors_io.SafetensorsError, "tensor 'a' is not in shard 's2.safetensors'"):
                safetensors_io.load(index)

    def test_overrides(self):
        w = np.linspace(-1, 1, 4 * 64, dtype=F32).reshape(4, 64)
        t = {"emb.weight": w, "head.weight": w, "a.l.weight": w, "b.l.weight": w}
        out = checkpoint.quantize_checkpoint(
            t, "nf4", 64, True, skip=("emb.", "head.weight"),
            overrides=(("head.", "int8"), ("a.", "f32"), ("head.", "f16")))
        # The first override that matches wins, before the skip list; f32 keeps.
        self.assertIn("head.weight.quant_state.lowmem__int8", out)
        self.assertEqual(out["a.l.weight"][1].dtype, F32)
        self.assertEqual(out["emb.weight"][1].dtype, F32)
        # The global format elsewhere, double quantization only where it exists.
        self.assertIn("b.l.weight.nested_absmax", out)
        out = checkpoint.quantize_checkpoint(t, "nf4", double_quant=True,
                                             overrides=(("emb.", "int4"), ("head.", "fp4")))
        self.assertIn("emb.weight.quant_state.lowmem__int4", out)
        self.assertNotIn("emb.weight.nested_absmax", out)
        self.assertIn("head.weight.quant_state.bitsandbytes__fp4", out)
        self.assertIn("head.weight.nested_absmax", out)

    def test_int4_int8_layout(self):
        w = np.linspace(-1, 1, 3 * 5, dtype=F32).reshape(3, 5)
        out = checkpoint.quantize_checkpoint({"p.weight": w}, "int4", 4)
        self.assertEqual(out["p.weight"][1].shape, (8,))
        self.assertEqual(out["p.weight.absmax"][0], "F16")
        self.assertEqual(out["p.weight.quant_state.lowmem__int4"][1].tobytes(),
                         b'{"quant_type": "int4", "blocksize": 4, "dtype": "float32", "shape": [3, 5]}')
        out = checkpoint.quantize_checkpoint({"p.weight": w}, "int8")
        self.assertEqual(sorted(out), ["p.SCB", "p.weight", "p.weight.quant_state.lowmem__int8"])
        self.assertEqual(out["p.weight"][0], "I8")
        self.assertEqual(out["p.SCB"][1].shape, (3,))
        self.assertEqual(out["p.weight.quant_state.lowmem__int8"][1].tobytes(),
                         b'{"quant_type": "int8", "dtype": "float32", "shape": [3, 5], "threshold": 6.0}')


class TestBigNet(unittest.TestCase):
    def hand_net(self):
        return {
            "model.0.model.0.weight": f32([[1, 0], [0, 1]]), "model.0.model.0.bias": f32([0, -3]),
            "model.0.model.2.weight": f32([[2, 0], [1, 1]]), "model.0.model.2.bias": f32([0, 0]),
            "model.0.model.4.weight": f32([[1, 1], [0, 1]]), "model.0.model.4.bias": f32([0.5, 0]),
        }

    def test_depth1(self):
        # x = [1, 2]: L1 -> [1, -1] relu [1, 0]; L2 -> [2, 1]; L3 -> [3.5, 1]; + x -> [4.5, 3].
        t = self.hand_net()
        self.assertEqual(bignet.infer_architecture(t), (2, 1))
        for dtype in (np.float64, np.float32):
            y = bignet.forward(t, f32([[1, 2], [0, 0]]), dtype=dtype)
            self.assertEqual(y.dtype, dtype)
            self.assertEqual(y.tolist(), [[4.5, 3.0], [0.5, 0.0]])

    def test_depth2_with_norm(self):
        # Block 2 all zeros, so it passes its input through; the norm of
        # [4.5, 3] is [+-0.75 / sqrt(0.5625 + 1e-5)] * w + b.
        t = self.hand_net()
        for j in (0, 2, 4):
            t[f"model.2.model.{j}.weight"] = np.zeros((2, 2), F32)
            t[f"model.2.model.{j}.bias"] = np.zeros(2, F32)
        t["model.1.weight"] = f32([2, 1])
        t["model.1.bias"] = f32([0, 1])
        self.assertEqual(bignet.infer_architecture(t), (2, 2))
        y = bignet.forward(t, f32([[1, 2]]))
        z = 0.75 / math.sqrt(0.5625 + 1e-5)
        self.assertAlmostEqual(y[0, 0], 2 * z, places=12)
        self.assertAlmostEqual(y[0, 1], 1 - z, places=12)

    def test_weight_fn_and_quantized(self):
        t = self.hand_net()
        calls = []
        y = bignet.forward(t, f32([[1, 2]]), weight_fn=lambda n: calls.append(n) or t[n])
        self.assertEqual(calls, ["model.0.model.0.weight", "model.0.model.2.weight", "model.0.model.4.weight"])
        self.assertEqual(y.tolist(), [[4.5, 3.0]])
        # Small integer weights survive f16 exactly.
        q = checkpoint.quantize_checkpoint(t, "f16")
        q = {k: (v[1] if isinstance(v, tuple) else v) for k, v in q.items()}
        self.assertEqual(bignet.forward(q, f32([[1, 2]])).tolist(), [[4.5, 3.0]])

    def test_init_params(self):
        p = bignet.init_params(8, 3, seed=5)
        self.assertEqual(bignet.infer_architecture(p), (8, 3))
        self.assertEqual(len(p), 3 * 6 + 2 * 2)
        bound = 1 / math.sqrt(8)
        self.assertTrue(all(float(np.abs(v).max()) <= bound for k, v in p.items() if ".model." in k))
        self.assertEqual(p["model.1.weight"].tolist(), [1.0] * 8)
        self.assertEqual(bignet.init_params(8, 3, seed=5)["model.4.model.2.weight"].tobytes(),
                         p["model.4.model.2.weight"].tobytes())


class TestLora(unittest.TestCase):
    """LoRA by hand: y = x W^T + b + s (x A^T) B^T, s = alpha/r or alpha/sqrt(r)."""

    def test_scale(self):
        self.assertEqual(lora.scale(8, 16), 2.0)
        self.assertEqual(lora.scale(4, 8, rslora=True), 4.0)

    def test_forward_by_hand(self):
        # dim 2, depth 1: identity weights, zero biases, unit norms unused.
        t = {}
        for j in (0, 2, 4):
            t[f"model.0.model.{j}.weight"] = np.eye(2, dtype=F32)
            t[f"model.0.model.{j}.bias"] = np.zeros(2, F32)
        x = f32([[1.0, 2.0]])
        a = f32([[1.0, 1.0]])           # r = 1: x A^T = 3
        b = f32([[1.0], [-1.0]])        # (x A^T) B^T = [3, -3]
        # Only the last Linear adapted, s = 0.5: [1, 2] + 0.5 [3, -3] = [2.5, 0.5],
        # then the residual adds x: [3.5, 2.5].
        y = bignet.forward(t, x, lora={"model.0.model.4": (a, b)}, lora_scale=0.5)
        np.testing.assert_allclose(y, [[3.5, 2.5]])
        # On the first Linear the ReLU comes after the branch: [2.5, 0.5] -> same,
        # and a negative branch is cut: s = 1 gives [4, -1] -> [4, 0] + x.
        y = bignet.forward(t, x, lora={"model.0.model.0": (a, b)}, lora_scale=1.0)
        np.testing.assert_allclose(y, [[5.0, 2.0]])

    def test_peft_round_trip(self):
        shapes = {"m.0": (3, 2), "m.1": (2, 3)}
        ad = lora.random_adapter(shapes, 2, seed=4)
        self.assertEqual(ad["m.0"][0].shape, (2, 2))
        self.assertEqual(ad["m.0"][1].shape, (3, 2))
        with tempfile.TemporaryDirectory() as d:
            lora.save_peft(d, ad, 2, 8.0, rslora=True)
            names = safetensors_io.load(os.path.join(d, "adapter_model.safetensors"))
            self.assertIn("base_model.model.m.1.lora_B.weight", names)
            back, config = lora.load_peft(d)
            self.assertEqual(config["r"], 2)
            self.assertTrue(config["use_rslora"])
            self.assertEqual(sorted(back), ["m.0", "m.1"])
            np.testing.assert_array_equal(back["m.1"][1], ad["m.1"][1])


class TestTrain(unittest.TestCase):
    """The hand-written backward against finite differences; the optimizers by hand."""

    def assert_match(self, grads, numeric, layers):
        for p in layers:
            for i, which in enumerate("AB"):
                want = np.zeros_like(grads[p][i])
                for idx in np.ndindex(want.shape):
                    want[idx] = numeric[(p, which, idx)]
                rel = np.abs(grads[p][i] - want).max() / np.abs(want).max()
                self.assertLess(rel, 1e-6, f"{p} d{which}")

    @staticmethod
    def problem(seed):
        """A BigNet 6x2 with an adapter on every layer, 5 input rows and 5
        regression targets."""
        rng = np.random.default_rng(seed)
        t = bignet.init_params(6, 2, seed=seed + 1)
        x = rng.standard_normal((5, 6))
        target = rng.standard_normal((5, 6))
        layers = lora.linear_layers(t)
        ad = {p: (rng.standard_normal((2, 6)) * 0.3, rng.standard_normal((6, 2)) * 0.3) for p in layers}
        return t, x, target, layers, ad

    def test_lora_grads_match_finite_differences(self):
        t, x, target, layers, ad = self.problem(0)
        loss, grads = train.loss_and_lora_grads(t, x, target, ad, 1.5)
        y = bignet.forward(t, x, lora=ad, lora_scale=1.5)
        self.assertAlmostEqual(loss, train.mse(y, target), places=12)
        numeric = train.numeric_lora_grads(t, x, target, ad, 1.5)
        self.assert_match(grads, numeric, layers)

    def test_cross_entropy_grads_match_finite_differences(self):
        t, x, _, layers, ad = self.problem(1)
        labels = np.array([0, 5, -100, 2, 2], dtype=np.int64)  # one ignored row
        loss, grads = train.loss_and_lora_grads(t, x, labels, ad, 1.5, loss="cross_entropy")
        y = bignet.forward(t, x, lora=ad, lora_scale=1.5)
        # By hand: mean over the 4 counted rows of logsumexp - the label's logit.
        rows = [0, 1, 3, 4]
        want = np.mean([np.log(np.exp(y[r]).sum()) - y[r, labels[r]] for r in rows])
        self.assertAlmostEqual(loss, want, places=12)
        numeric = train.numeric_lora_grads(t, x, labels, ad, 1.5, loss="cross_entropy")
        self.assert_match(grads, numeric, layers)
        self.assertTrue(np.isnan(train.cross_entropy(y[:2], np.array([-100, -100]))))

    def test_dropout_grads_match_finite_differences(self):
        t, x, target, layers, ad = self.problem(2)
        _, grads = train.loss_and_lora_grads(t, x, target, ad, 1.5, dropout=0.3, step=4)
        numeric = train.numeric_lora_grads(t, x, target, ad, 1.5, dropout=0.3, step=4)
        self.assert_match(grads, numeric, layers)
        # The masks drop about p of the elements, differ by stream and step,
        # and scale the rest by 1 / (1 - p).
        m = train.dropout_mask((1000, 64), 0.3, 0, 1)
        self.assertAlmostEqual(float((m == 0).mean()), 0.3, delta=0.01)
        np.testing.assert_allclose(m[m != 0], 1 / 0.7)
        self.assertFalse(np.array_equal(m, train.dropout_mask((1000, 64), 0.3, 1, 1)))
        self.assertFalse(np.array_equal(m, train.dropout_mask((1000, 64), 0.3, 0, 2)))

    def test_adamw_first_step_is_lr_sign(self):
        # Bias-corrected moments of the first step are g and g^2.
        p, m, v = np.array([1.0, 2.0]), np.zeros(2), np.zeros(2)
        train.adamw_step(p, np.array([0.5, -1.0]), m, v, 1, 0.1, weight_decay=0.5)
        np.testing.assert_allclose(p, [0.85, 2.0], rtol=1e-6)
        np.testing.assert_allclose(m, [0.05, -0.1])
        np.testing.assert_allclose(v, [0.00025, 0.001])

    def test_sgd_momentum(self):
        p, buf = np.array([1.0, 2.0]), np.ones(2)
        train.sgd_step(p, np.array([0.5, -1.0]), buf, 0.1, momentum=0.5, weight_decay=0.1)
        np.testing.assert_allclose(buf, [1.1, -0.3])
        np.testing.assert_allclose(p, [0.89, 2.03])


class TestCLI(unittest.TestCase):
    """End-to-end run of the example scripts (generate, quantize, forward, compare)."""

    def run_py(self, *args, ok=True):
        r = subprocess.run([sys.executable] + list(args), capture_output=True, text=True)
        if ok:
            self.assertEqual(r.returncode, 0, r.stderr + r.stdout)
        return r

    def test_pipeline(self):
        gen = os.path.join(REPO, "examples", "bignet", "generate.py")
        ref = os.path.join(REPO, "examples", "bignet", "reference.py")
        with tempfile.TemporaryDirectory() as d:
            w, x = os.path.join(d, "w.safetensors"), os.path.join(d, "x.npy")
            self.run_py(gen, "--dim", "64", "--depth", "3", "--seed", "0", "-o", w,
                        "--input-batch", "4", "-x", x)
            y = os.path.join(d, "y.npy")
            self.run_py(ref, "forward", "--weights", w, "--input", x, "-o", y)
            y32 = os.path.join(d, "y32.npy")
            self.run_py(ref, "forward", "--weights", w, "--input", x, "-o", y32, "--dtype", "float32")
            self.run_py(ref, "compare", y32, y, "--rtol", "1e-5")
            q = os.path.join(d, "q.safetensors")
            self.run_py(ref, "quantize", w, "-o", q, "--format", "nf4", "--double-quant")
            yq = os.path.join(d, "yq.npy")
            self.run_py(ref, "forward", "--weights", q, "--input", x, "-o", yq)
            r = self.run_py(ref, "compare", yq, y, "--rtol", "1e-6", ok=False)
            self.assertEqual(r.returncode, 1)
            self.run_py(ref, "compare", yq, y, "--rtol", "0.5", "--max-abs", "10")
            q2 = os.path.join(d, "q2.safetensors")
            self.run_py(ref, "quantize", w, "-o", q2, "--format=nf4", "--block-size=64", "--double-quant")
            self.run_py(ref, "compare-checkpoints", q, q2)
            q3 = os.path.join(d, "q3.safetensors")
            self.run_py(ref, "quantize", w, "-o", q3, "--format", "nf4")
            r = self.run_py(ref, "compare-checkpoints", q, q3, ok=False)
            self.assertEqual(r.returncode, 1)
            self.assertIn("model.0.model.0.weight.absmax", r.stderr)


if __name__ == "__main__":
    unittest.main()
