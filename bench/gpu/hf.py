#!/usr/bin/env python3
"""The Hugging Face peer, on the GPU machine (PyTorch, transformers; peft
and bitsandbytes if present). Commands:

    logits   --model DIR --ids IDS.npy -o LOGITS.npy
             transformers' forward in float32 (eager attention, no TF32)
    compare  A.npy B.npy [--rtol R]
             max |a - b| / max |b|; exits 1 above R
    make     --config CONFIG.json -o DIR
             random bfloat16 weights of that configuration, saved in
             Hugging Face's layout (the model's own initialisation)
    generate --model DIR --prompt-len S --new N [--format bf16|nf4] -o R.json
             greedy generation with transformers' KV cache: prefill and
             decode tokens/s, the peak of torch.cuda.max_memory_allocated
    train    --model DIR --seq S --rank R [--format bf16|nf4] [--steps K] -o R.json
             LoRA (peft) on every projection of the layers, alpha 16,
             gradient checkpointing, AdamW, batch 1: the peak memory of a
             step and its time
"""
import argparse
import json
import sys
import time

import numpy as np


def torch_setup():
    import torch
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    return torch


def load(model_dir, fmt, dtype_name="bfloat16", **extra):
    torch = torch_setup()
    from transformers import AutoModelForCausalLM
    kwargs = dict(extra, torch_dtype=getattr(torch, dtype_name))
    if fmt == "nf4":
        from transformers import BitsAndBytesConfig
        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4",
            bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=torch.bfloat16)
        kwargs["device_map"] = {"": 0}
    model = AutoModelForCausalLM.from_pretrained(model_dir, **kwargs)
    if fmt != "nf4":
        model = model.cuda()
    return torch, model


def cmd_logits(a):
    torch, model = load(a.model, "f32", "float32", attn_implementation="eager")
    model.eval()
    ids = torch.from_numpy(np.load(a.ids)).cuda()
    with torch.no_grad():
        logits = model(ids).logits.float().cpu().numpy()
    np.save(a.output, logits)


def cmd_compare(a):
    x, y = np.load(a.a).astype(np.float64), np.load(a.b).astype(np.float64)
    if x.shape != y.shape:
        sys.exit(f"shapes differ: {x.shape} vs {y.shape}")
    rel = np.abs(x - y).max() / max(np.abs(y).max(), 1e-30)
    print(f"max rel {rel:.3e} (max |a-b| {np.abs(x - y).max():.3e}, shape {list(x.shape)})")
    if rel > a.rtol:
        sys.exit(f"max rel {rel:.3e} > {a.rtol}")


def cmd_make(a):
    torch = torch_setup()
    from transformers import AutoConfig, AutoModelForCausalLM
    config = AutoConfig.from_pretrained(a.config)
    torch.manual_seed(0)
    with torch.device("cuda"):
        model = AutoModelForCausalLM.from_config(config, torch_dtype=torch.bfloat16)
    model.save_pretrained(a.output, safe_serialization=True)
    print("parameters", sum(p.numel() for p in model.parameters()))


def sync_time(torch):
    torch.cuda.synchronize()
    return time.perf_counter()


def cmd_generate(a):
    torch, model = load(a.model, a.format)
    model.eval()
    ids = torch.from_numpy(np.load(a.prompt)).cuda()
    torch.cuda.reset_peak_memory_stats()
    with torch.no_grad():
        # Warm up, then time the prefill (one forward) and the whole run.
        model.generate(ids[:, :8], max_new_tokens=2, do_sample=False)
        torch.cuda.reset_peak_memory_stats()
        t0 = sync_time(torch)
        model(ids, use_cache=True)
        t1 = sync_time(torch)
        out = model.generate(ids, max_new_tokens=a.new, min_new_tokens=a.new,
                             do_sample=False)
        t2 = sync_time(torch)
    prefill = t1 - t0
    decode = max((t2 - t1) - prefill, 1e-9)
    r = {"peer": f"transformers {a.format}", "prompt": list(ids.shape),
         "new_tokens": a.new, "prefill_tokens_per_s": ids.numel() / prefill,
         "decode_tokens_per_s": ids.shape[0] * (a.new - 1) / decode,
         "peak_bytes": torch.cuda.max_memory_allocated(),
         "ids": out.cpu().numpy().tolist()}
    json.dump(r, open(a.output, "w"))
    print({k: v for k, v in r.items() if k != "ids"})


def cmd_train(a):
    torch, model = load(a.model, a.format)
    from peft import LoraConfig, get_peft_model
    if a.format == "nf4":
        from peft import prepare_model_for_kbit_training
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=True)
    else:
        model.gradient_checkpointing_enable()
        model.enable_input_require_grads()
    model.config.use_cache = False
    model = get_peft_model(model, LoraConfig(
        r=a.rank, lora_alpha=16, lora_dropout=0.0,
        target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj",
                        "up_proj", "down_proj"]))
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    g = torch.Generator().manual_seed(0)
    vocab = model.config.vocab_size
    ids = torch.randint(0, vocab, (1, a.seq), generator=g).cuda()
    times = []
    torch.cuda.reset_peak_memory_stats()
    for _ in range(a.steps):
        t0 = sync_time(torch)
        loss = model(input_ids=ids, labels=ids).loss
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        times.append(sync_time(torch) - t0)
    r = {"peer": f"transformers + peft {a.format}, gradient checkpointing",
         "seq": a.seq, "rank": a.rank, "peak_bytes": torch.cuda.max_memory_allocated(),
         "step_s": times, "loss": float(loss)}
    json.dump(r, open(a.output, "w"))
    print(r)


def main():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("logits")
    s.add_argument("--model", required=True)
    s.add_argument("--ids", required=True)
    s.add_argument("-o", "--output", required=True)
    s = sub.add_parser("compare")
    s.add_argument("a")
    s.add_argument("b")
    s.add_argument("--rtol", type=float, default=1e-4)
    s = sub.add_parser("make")
    s.add_argument("--config", required=True)
    s.add_argument("-o", "--output", required=True)
    s = sub.add_parser("generate")
    s.add_argument("--model", required=True)
    s.add_argument("--prompt", required=True)
    s.add_argument("--new", type=int, default=64)
    s.add_argument("--format", choices=["bf16", "nf4"], default="bf16")
    s.add_argument("-o", "--output", required=True)
    s = sub.add_parser("train")
    s.add_argument("--model", required=True)
    s.add_argument("--seq", type=int, required=True)
    s.add_argument("--rank", type=int, default=8)
    s.add_argument("--steps", type=int, default=3)
    s.add_argument("--format", choices=["bf16", "nf4"], default="bf16")
    s.add_argument("-o", "--output", required=True)
    a = p.parse_args()
    {"logits": cmd_logits, "compare": cmd_compare, "make": cmd_make,
     "generate": cmd_generate, "train": cmd_train}[a.cmd](a)


if __name__ == "__main__":
    main()
