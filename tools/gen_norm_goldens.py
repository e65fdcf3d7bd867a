#!/usr/bin/python3
"""PyTorch references for normlab's normalization layers (tests/layers/norm/test_norm_goldens.cpp).

Run from anywhere with Debian's python3-torch 1.13 and numpy:
    /usr/bin/python3 tools/gen_norm_goldens.py
It rewrites tests/golden/norm/*.npy. Inputs, parameters and the upstream gradient dy are stored once
in float64; the float32 references are computed by PyTorch from the same values rounded to float32.
For a case C and dtype D (f32 or f64) the files are:
    C.x.npy  C.dy.npy  C.weight.npy  C.bias.npy                 inputs (float64)
    C.y.D.npy  C.dx.D.npy  C.dweight.D.npy  C.dbias.D.npy       forward output and gradients
    C.running_mean.D.npy  C.running_var.D.npy  ...              buffers after the training steps
Layers PyTorch 1.13 lacks (RMSNorm, Batch Renormalization, labml's Batch-Channel Normalization,
Weight Standardization) are written below in plain torch from their papers' formulas.
"""
import os

import numpy as np
import torch
import torch.nn.functional as F

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "golden", "norm")
DTYPES = {"f64": torch.float64, "f32": torch.float32}


def save(case, name, tensor):
    np.save(os.path.join(OUT, f"{case}.{name}.npy"), tensor.detach().cpu().numpy())


def inputs(case, shape, mean=0.0, std=1.0, params=None, steps=0, y_shape=None):
    """Random float64 inputs, saved once: x (or x for `steps` training steps), dy and parameters."""
    g = torch.Generator().manual_seed(sum(map(ord, case)))
    x_shape = (steps, *shape) if steps else shape
    x = mean + std * torch.randn(x_shape, generator=g, dtype=torch.float64)
    dy = torch.randn(y_shape or shape, generator=g, dtype=torch.float64)
    save(case, "x", x)
    save(case, "dy", dy)
    ps = {}
    for name, pshape in (params or {}).items():
        ps[name] = (1.0 if name == "weight" else 0.0) + 0.5 * torch.randn(pshape, generator=g,
                                                                            dtype=torch.float64)
        save(case, name, ps[name])
    return x, dy, ps


def forward_backward(case, tag, fn, x, dy, params):
    """y = fn(x, params); saves y and the gradients of x and of every parameter for upstream dy."""
    x = x.detach().clone().requires_grad_(True)
    ps = {k: v.detach().clone().requires_grad_(True) for k, v in params.items()}
    y = fn(x, ps)
    y.backward(dy.to(y.dtype))
    save(case, f"y.{tag}", y)
    save(case, f"dx.{tag}", x.grad)
    for k, v in ps.items():
        save(case, f"d{k}.{tag}", v.grad)


def module_case(case, make, shape, params, mean=0.0, std=1.0, steps=0, buffers=()):
    """A torch.nn module: `steps` training forwards (if any), then forward + backward on the first
    x in the module's mode after them (training when steps = 0, eval otherwise)."""
    x, dy, ps = inputs(case, shape, mean, std, params, steps)
    for tag, dtype in DTYPES.items():
        m = make().to(dtype)
        with torch.no_grad():
            for k, v in ps.items():
                getattr(m, k).copy_(v)
            for s in range(steps):
                m(x[s].to(dtype))
        if steps:
            m.eval()
            for b in buffers:
                save(case, f"{b}.{tag}", getattr(m, b))
        xx = (x[0] if steps else x).to(dtype).detach().clone().requires_grad_(True)
        y = m(xx)
        y.backward(dy.to(dtype))
        save(case, f"y.{tag}", y)
        save(case, f"dx.{tag}", xx.grad)
        for k in ps:
            save(case, f"d{k}.{tag}", getattr(m, k).grad)


def functional_case(case, fn, shape, params, mean=0.0, std=1.0, y_shape=None):
    x, dy, ps = inputs(case, shape, mean, std, params, y_shape=y_shape)
    for tag, dtype in DTYPES.items():
        forward_backward(case, tag, fn, x.to(dtype), dy, {k: v.to(dtype) for k, v in ps.items()})


def rms_norm(x, p, eps=1e-6):  # Zhang & Sennrich 2019; torch.nn.RMSNorm (2.4) over the last dim
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * p["weight"]


def batch_renorm(x, p, mu=0.3, sigma=0.8, r_max=1.5, d_max=0.25, eps=1e-5):
    """Ioffe 2017, Algorithm 1, training: r and d are stop-gradient (detach)."""
    mean = x.mean(dim=(0, 2, 3))
    std = torch.sqrt(x.var(dim=(0, 2, 3), unbiased=False) + eps)
    r = (std / sigma).clamp(1 / r_max, r_max).detach()
    d = ((mean - mu) / sigma).clamp(-d_max, d_max).detach()
    xhat = (x - mean[None, :, None, None]) / std[None, :, None, None] * r[None, :, None, None]
    xhat = xhat + d[None, :, None, None]
    return p["weight"][None, :, None, None] * xhat + p["bias"][None, :, None, None]


def channel_norm(x, p, groups=2, eps=1e-5):
    """labml's ChannelNorm: group statistics, per-group affine."""
    n = x.shape[0]
    xg = x.reshape(n, groups, -1)
    mean = xg.mean(-1, keepdim=True)
    var = xg.var(-1, unbiased=False, keepdim=True)
    y = (xg - mean) / torch.sqrt(var + eps)
    y = p["weight"].view(1, -1, 1) * y + p["bias"].view(1, -1, 1)
    return y.view(x.shape)


def ws_conv2d(x, p, eps=1e-5):
    """Weight Standardization (Qiao et al. 2019, eq. 5): Ŵ = (W − μ)/sqrt(σ² + ε), biased σ²."""
    w = p["weight"]
    wf = w.reshape(w.shape[0], -1)
    mean = wf.mean(1, keepdim=True)
    var = wf.var(1, unbiased=False, keepdim=True)
    what = ((wf - mean) / torch.sqrt(var + eps)).view_as(w)
    return F.conv2d(x, what, p["bias"], stride=1, padding=1)


def main():
    os.makedirs(OUT, exist_ok=True)
    for f in os.listdir(OUT):
        if f.endswith(".npy"):
            os.remove(os.path.join(OUT, f))
    affine3 = {"weight": (3,), "bias": (3,)}
    bn_buffers = ("running_mean", "running_var", "num_batches_tracked")
    module_case("batch_norm2d", lambda: torch.nn.BatchNorm2d(3), (4, 3, 2, 2), affine3, 1.0, 2.0)
    module_case("batch_norm1d", lambda: torch.nn.BatchNorm1d(5), (6, 5),
                {"weight": (5,), "bias": (5,)}, -0.5, 1.5)
    module_case("batch_norm2d_steps", lambda: torch.nn.BatchNorm2d(3, momentum=0.2), (4, 3, 2, 2),
                affine3, 1.0, 2.0, steps=3, buffers=bn_buffers)
    module_case("batch_norm2d_cumulative", lambda: torch.nn.BatchNorm2d(3, momentum=None),
                (4, 3, 2, 2), affine3, 1.0, 2.0, steps=3, buffers=bn_buffers)
    module_case("layer_norm", lambda: torch.nn.LayerNorm((3, 4)), (2, 2, 3, 4),
                {"weight": (3, 4), "bias": (3, 4)}, 0.5, 1.5)
    module_case("group_norm", lambda: torch.nn.GroupNorm(2, 6), (2, 6, 2, 2),
                {"weight": (6,), "bias": (6,)}, 2.0, 1.0)
    module_case("instance_norm", lambda: torch.nn.InstanceNorm2d(3, affine=True), (2, 3, 3, 2),
                affine3, -1.0, 2.0)
    module_case("instance_norm_steps",
                lambda: torch.nn.InstanceNorm2d(3, affine=True, track_running_stats=True),
                (2, 3, 3, 2), affine3, -1.0, 2.0, steps=3, buffers=("running_mean", "running_var"))
    module_case("local_response_norm", lambda: torch.nn.LocalResponseNorm(4, 0.5, 0.75, 2.0),
                (2, 5, 2, 2), {}, 0.0, 1.5)
    functional_case("rms_norm", rms_norm, (3, 5), {"weight": (5,)}, 0.5, 1.0)
    functional_case("batch_renorm", batch_renorm, (4, 3, 2, 2), affine3, 1.0, 2.0)
    functional_case("channel_norm", channel_norm, (2, 6, 2, 2), {"weight": (2,), "bias": (2,)},
                    1.0, 1.0)
    functional_case("ws_conv2d", ws_conv2d, (2, 2, 4, 4), {"weight": (3, 2, 3, 3), "bias": (3,)},
                    y_shape=(2, 3, 4, 4))


if __name__ == "__main__":
    main()
