#!/usr/bin/env python3
"""Training references for BigNet with LoRA adapters, from the math.

The loss is the mean squared error ``mean((net(x) - target)**2)``.  The
backward pass is written by hand from the chain rule (no autodiff), and
:func:`numeric_lora_grads` checks it with central finite differences in
float64.  :func:`adamw_step` and :func:`sgd_step` follow PyTorch's update
rules.

Backward rules used (``s`` the adapter scale, ``dz`` the gradient at a
layer's pre-activation ``z = h W^T + b + s (h A^T) B^T``)::

    dh = dz W + s (dz B) A        dA = s (dz B)^T h      dB = s dz^T (h A^T)
    relu:   dz = dh * (z > 0)
    norm:   dx = rstd * (g - mean(g) - xhat * mean(g * xhat)),  g = dy * gamma
    block:  the residual adds the block output's gradient to its input's
"""

import numpy as np

from . import bignet, checkpoint

__all__ = ["mse", "cross_entropy", "loss_and_grad", "dropout_mask", "cached_weights", "loss_and_lora_grads", "numeric_lora_grads", "adamw_step", "sgd_step"]


def mse(prediction, target):
    d = np.asarray(prediction, dtype=np.float64) - np.asarray(target, dtype=np.float64)
    return float(np.mean(d * d)) if d.size else 0.0


def cross_entropy(logits, labels, ignore_index=-100):
    """PyTorch's CrossEntropyLoss (mean over the rows whose label is not
    ``ignore_index``; NaN when there are none): logits ``[..., classes]``,
    labels ``[...]``."""
    loss, _ = _cross_entropy_and_grad(logits, labels, ignore_index)
    return loss


def _cross_entropy_and_grad(logits, labels, ignore_index=-100):
    z = np.asarray(logits, np.float64)
    z = z.reshape(-1, z.shape[-1])
    lab = np.asarray(labels).reshape(-1)
    keep = lab != ignore_index
    n = int(keep.sum())
    zmax = z.max(axis=-1, keepdims=True)
    e = np.exp(z - zmax)
    total = e.sum(axis=-1, keepdims=True)
    picked = np.where(keep, lab, 0)
    rows = np.arange(z.shape[0])
    per_row = np.log(total[:, 0]) + zmax[:, 0] - z[rows, picked]
    loss = float(per_row[keep].sum() / n) if n else float("nan")
    grad = e / total
    grad[rows, picked] -= 1.0
    grad = np.where(keep[:, None], grad / max(n, 1), 0.0)
    return loss, grad.reshape(np.shape(logits))


def loss_and_grad(prediction, target, loss="mse"):
    """The loss (``mse`` or ``cross_entropy``) and its gradient with respect
    to the prediction, in float64."""
    y = np.asarray(prediction, np.float64)
    if loss == "mse":
        t = np.asarray(target, np.float64)
        return mse(y, t), 2.0 * (y - t) / max(y.size, 1)
    if loss == "cross_entropy":
        return _cross_entropy_and_grad(y, target)
    raise ValueError(f"unknown loss {loss!r}")


def dropout_mask(shape, probability, stream, step):
    """lowmem.dropout's mask, scaled: ``keep / (1 - p)`` as float64, from the
    element's row-major index, the stream and the 1-based step (u32
    arithmetic, the op's description)."""
    n = int(np.prod(shape))
    with np.errstate(over="ignore"):
        i = np.arange(n, dtype=np.uint64).astype(np.uint32)
        salt = np.uint32((stream * 0x9E3779B9 ^ step * 0x85EBCA6B) & 0xFFFFFFFF)
        h = i ^ salt
        h ^= h >> np.uint32(16)
        h *= np.uint32(0x7FEB352D)
        h ^= h >> np.uint32(15)
        h *= np.uint32(0x846CA68B)
        h ^= h >> np.uint32(16)
    u = (h >> np.uint32(8)).astype(np.float64) * 2.0 ** -24
    keep = u >= np.float32(probability)
    return (keep / (1.0 - probability)).reshape(shape)


def cached_weights(tensors):
    """A ``weight_fn`` that dequantizes each Linear weight once."""
    cache = {}

    def weight_fn(name):
        if name not in cache:
            cache[name] = checkpoint.dequantize(tensors, name)
        return cache[name]

    return weight_fn


def _prepare(tensors, weight_fn):
    dim, depth = bignet.infer_architecture(tensors)
    if weight_fn is None:
        def weight_fn(name):
            return checkpoint.dequantize(tensors, name)
    dtypes = getattr(tensors, "dtypes", {})

    def param(name):
        return checkpoint.to_float(tensors[name], dtypes.get(name)).astype(np.float64)

    def weight(name):
        return np.asarray(weight_fn(name)).astype(np.float64)

    return dim, depth, param, weight


def loss_and_lora_grads(tensors, x, target, lora, lora_scale, weight_fn=None, loss="mse",
                        dropout=0.0, step=1):
    """Loss and ``{layer: (dA, dB)}`` for every adapted layer, in float64.

    Args:
        tensors: the BigNet state dict (full precision or quantized).
        x: ``[batch, dim]``; target: ``[batch, dim]`` for ``mse``, or
            class labels ``[batch]`` for ``cross_entropy`` (logits = y).
        lora: ``{layer: (A [r, dim], B [dim, r])}``.
        lora_scale: the adapter scale s.
        dropout, step: LoRA dropout on each adapter's input, with the masks
            lowmem draws at that step (streams in forward order).
    """
    dim, depth, param, weight = _prepare(tensors, weight_fn)
    s = float(lora_scale)
    lora = {k: (np.asarray(a, np.float64), np.asarray(b, np.float64)) for k, (a, b) in lora.items()}
    h = np.asarray(x, np.float64)
    streams = 0
    tape = []  # (kind, data) in forward order
    for k in range(depth):
        i = 2 * k
        if k:
            gamma = param(f"model.{i - 1}.weight")
            mean = h.mean(axis=-1, keepdims=True)
            centred = h - mean
            var = (centred * centred).mean(axis=-1, keepdims=True)
            rstd = 1.0 / np.sqrt(var + bignet.EPS)
            xhat = centred * rstd
            tape.append(("norm", (xhat, rstd, gamma)))
            h = xhat * gamma + param(f"model.{i - 1}.bias")
        inp = h
        for j in (0, 2, 4):
            p = f"model.{i}.model.{j}"
            w = weight(p + ".weight")
            z = h @ w.T + param(p + ".bias")
            mask = None
            if p in lora:
                a, b = lora[p]
                hd = h
                if dropout:
                    mask = dropout_mask(h.shape, dropout, streams, step)
                    streams += 1
                    hd = h * mask
                z = z + s * ((hd @ a.T) @ b.T)
            tape.append(("linear", (p, h, w, z, j != 4, mask)))
            h = np.maximum(z, 0.0) if j != 4 else z
        h = h + inp
        tape.append(("residual", None))
    y = h
    value, dy = loss_and_grad(y, target, loss)

    grads = {}
    residuals = []  # gradient reaching each block's input through its skip
    for kind, data in reversed(tape):
        if kind == "residual":
            residuals.append(dy)
        elif kind == "linear":
            p, hin, w, z, relu, mask = data
            dz = dy * (z > 0) if relu else dy
            dh = dz @ w
            if p in lora:
                a, b = lora[p]
                hd = hin if mask is None else hin * mask
                t_ = dz @ b  # [batch, r]
                grads[p] = (s * t_.T @ hd, s * dz.T @ (hd @ a.T))
                dx = s * t_ @ a
                dh = dh + (dx if mask is None else dx * mask)
            dy = dh
            if p.endswith(".model.0"):
                dy = dy + residuals.pop()
        else:
            xhat, rstd, gamma = data
            g = dy * gamma
            dy = rstd * (g - g.mean(axis=-1, keepdims=True) - xhat * (g * xhat).mean(axis=-1, keepdims=True))
    return value, grads


def numeric_lora_grads(tensors, x, target, lora, lora_scale, eps=1e-6, entries=None, weight_fn=None,
                       loss="mse", dropout=0.0, step=1):
    """Central finite differences of the loss w.r.t. adapter entries.

    Returns ``{(layer, which, index): derivative}`` for ``which`` in
    ``"A", "B"``; ``entries`` limits the entries checked (default: all).
    """
    lora = {k: (np.array(a, np.float64), np.array(b, np.float64)) for k, (a, b) in lora.items()}
    x = np.asarray(x, np.float64)
    if weight_fn is None:
        weight_fn = cached_weights(tensors)

    def value():
        if dropout:  # bignet.forward has no dropout: the same masks here
            return loss_and_lora_grads(tensors, x, target, lora, lora_scale, weight_fn, loss, dropout, step)[0]
        y = bignet.forward(tensors, x, weight_fn=weight_fn, dtype=np.float64, lora=lora, lora_scale=lora_scale)
        return loss_and_grad(y, target, loss)[0]

    out = {}
    if entries is None:
        entries = [(layer, which, idx) for layer, (a, b) in lora.items()
                   for which, arr in (("A", a), ("B", b)) for idx in np.ndindex(arr.shape)]
    for layer, which, idx in entries:
        arr = lora[layer][0 if which == "A" else 1]
        old = arr[idx]
        arr[idx] = old + eps
        up = value()
        arr[idx] = old - eps
        down = value()
        arr[idx] = old
        out[(layer, which, idx)] = (up - down) / (2 * eps)
    return out


def adamw_step(param, grad, exp_avg, exp_avg_sq, step, lr, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0):
    """One PyTorch AdamW step in float64, in place; ``step`` is 1-based."""
    param *= 1.0 - lr * weight_decay
    exp_avg *= beta1
    exp_avg += (1.0 - beta1) * grad
    exp_avg_sq *= beta2
    exp_avg_sq += (1.0 - beta2) * grad * grad
    bc1 = 1.0 - beta1 ** step
    bc2 = 1.0 - beta2 ** step
    denom = np.sqrt(exp_avg_sq) / np.sqrt(bc2) + eps
    param -= (lr / bc1) * exp_avg / denom


def sgd_step(param, grad, buf, lr, momentum=0.0, weight_decay=0.0):
    """One PyTorch SGD step (no dampening, no Nesterov) in place."""
    d = grad + weight_decay * param
    if momentum:
        buf *= momentum
        buf += d
        d = buf
    param -= lr * d
