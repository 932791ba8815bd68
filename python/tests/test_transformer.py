#!/usr/bin/env python3
"""Self-checks of the numpy Qwen2/LLaMA reference (lowmem_ref.transformer):
properties the math implies, each computed another way."""

import os
import sys
import unittest

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(REPO, "python"))

from lowmem_ref import transformer  # noqa: E402


def config(**kw):
    d = dict(model_type="qwen2", hidden_size=32, intermediate_size=48, num_hidden_layers=2,
             num_attention_heads=4, num_key_value_heads=2, vocab_size=40, rms_norm_eps=1e-6)
    d.update(kw)
    return transformer.Config(d)


class TransformerTest(unittest.TestCase):
    def test_attention_matches_a_loop_over_rows(self):
        rng = np.random.default_rng(0)
        q = rng.standard_normal((2, 5, 4 * 8))
        k = rng.standard_normal((2, 7, 2 * 8))
        v = rng.standard_normal((2, 7, 2 * 8))
        out = transformer.attention(q, k, v, 4, 2)
        for b in range(2):
            for s in range(5):
                for h in range(4):
                    kv = h // 2
                    qs = q[b, s, h * 8:(h + 1) * 8]
                    last = s + 2  # the queries are the last 5 of 7 positions
                    scores = np.array([qs @ k[b, t, kv * 8:(kv + 1) * 8] / np.sqrt(8)
                                       for t in range(last + 1)])
                    p = np.exp(scores - scores.max())
                    p /= p.sum()
                    want = sum(p[t] * v[b, t, kv * 8:(kv + 1) * 8] for t in range(last + 1))
                    np.testing.assert_allclose(out[b, s, h * 8:(h + 1) * 8], want, rtol=1e-12)

    def test_rope_rotates_pairs_by_position(self):
        rng = np.random.default_rng(1)
        x = rng.standard_normal((1, 6, 2 * 8))
        freq = transformer.inv_freq(config(hidden_size=32, num_attention_heads=4))[:4]
        y = transformer._rope(x, 2, 8, freq)
        # Each (i, i + D/2) pair keeps its length and turns by p * f_i.
        for p in range(6):
            for h in range(2):
                for i in range(4):
                    a = complex(x[0, p, h * 8 + i], x[0, p, h * 8 + i + 4])
                    b = complex(y[0, p, h * 8 + i], y[0, p, h * 8 + i + 4])
                    self.assertAlmostEqual(b, a * np.exp(1j * p * freq[i]), places=12)

    def test_llama3_scaling_keeps_high_and_divides_low_frequencies(self):
        base = transformer.inv_freq(config(rope_theta=10000.0))
        scaled = transformer.inv_freq(config(rope_theta=10000.0, rope_scaling={
            "rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
            "high_freq_factor": 4.0, "original_max_position_embeddings": 64}))
        wavelen = 2 * np.pi / base
        high = wavelen < 64 / 4
        low = wavelen > 64 / 1
        np.testing.assert_allclose(scaled[high], base[high])
        np.testing.assert_allclose(scaled[low], base[low] / 8)
        self.assertTrue(high.any() and low.any())

    def test_forward_is_causal(self):
        cfg = config()
        params = transformer.init_params(cfg, 3)
        ids = np.random.default_rng(2).integers(0, 40, (1, 6))
        full = transformer.forward(params, cfg, ids)
        changed = ids.copy()
        changed[0, 4] = (changed[0, 4] + 1) % 40
        other = transformer.forward(params, cfg, changed)
        np.testing.assert_array_equal(full[0, :4], other[0, :4])
        self.assertGreater(np.abs(full[0, 4:] - other[0, 4:]).max(), 1e-6)

    def test_generate_continues_greedily(self):
        cfg = config()
        params = transformer.init_params(cfg, 5)
        prompt = np.random.default_rng(6).integers(0, 40, (2, 3))
        ids, logits = transformer.generate(params, cfg, prompt, 4)
        self.assertEqual(ids.shape, (2, 7))
        self.assertEqual(logits.shape, (2, 4, 40))
        np.testing.assert_array_equal(ids[:, :3], prompt)
        # Each new token is the argmax of its logits, which are those of the
        # last position of the sequence before it (and, by causality, of
        # that position in a forward over the whole sequence).
        np.testing.assert_array_equal(ids[:, 3:], logits.argmax(axis=-1))
        full = transformer.forward(params, cfg, ids[:, :-1])
        np.testing.assert_allclose(logits, full[:, 2:], rtol=1e-12, atol=1e-12)

    def test_bad_config_names_the_key(self):
        with self.assertRaisesRegex(ValueError, "vocab_size"):
            transformer.Config(dict(model_type="llama", hidden_size=8, intermediate_size=8,
                                    num_hidden_layers=1, num_attention_heads=2))
        with self.assertRaisesRegex(ValueError, "yarn"):
            transformer.inv_freq(config(rope_scaling={"rope_type": "yarn", "factor": 2.0}))


if __name__ == "__main__":
    unittest.main()
