#!/usr/bin/python3
"""Checks `normlab probe` against PyTorch on fresh random arrays, for every layer of the table.

    /usr/bin/python3 tools/check_probe.py build/dev/tools/normlab [--seed S] [--only LAYER ...]
        [--keep DIR] [--verbose]

For each case below (every layer of layers/layer_table.h, several option sets each) and for both
float32 and float64, the script draws a fresh x, an upstream gradient gy and random values for
every parameter and buffer of the layer, writes them as .npy files, runs

    normlab probe --layer L --set k=v ... --input x.npy --grad-output gy.npy --params p/ \\
        --mode train|eval --out out/

and compares every file the probe wrote (output, grad_input, grad_<param>, <buffer>) with the
same call in PyTorch 1.13: the torch.nn module where torch has one, and otherwise a plain-torch
module written from the formulas of docs/normalization/ with the same parameter and buffer names
(batch_renorm: Ioffe 2017 Algorithm 1 with r, d detached; rms_norm: nn.RMSNorm of torch 2.4;
batch_channel_norm: labml's estimated batch norm + channel norm; ws_conv2d: the paper's eq. 5-6
with F.conv2d). The set of files must equal the module's outputs, gradients and buffers by name.

An array passes when |normlab - torch| <= atol * max(1, max|torch|) + rtol * |torch| everywhere
(float32: rtol 1e-4, atol 1e-5; float64: rtol 1e-10, atol 1e-12; integer buffers exactly). The
seed (default: from the clock) is printed; --seed reruns the same arrays. Dropout in training
mode has its own row: its mask is normlab's, so the check is the law y = x*m/(1-p),
grad_input = gy*m/(1-p) with m in {0, 1} and a kept fraction near 1 - p.

Exit status: 0 when every case passes, 1 when one fails (the probe erred or an array differs).
"""
import argparse
import copy
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

TOLERANCES = {"float32": (1e-4, 1e-5), "float64": (1e-10, 1e-12)}  # (rtol, atol)
TORCH_DTYPES = {"float32": torch.float32, "float64": torch.float64}


# ---- option values as normlab's layer table reads them (layers/layer_options.h) ----

class Opts:
    def __init__(self, options):
        self.o = options

    def int(self, key, default=None):
        return int(self.o[key]) if key in self.o else default

    def float(self, key, default=None):
        return float(self.o[key]) if key in self.o else default

    def optional_float(self, key, default):
        if key not in self.o:
            return default
        return None if self.o[key] == "None" else float(self.o[key])

    def bool(self, key, default):
        if key not in self.o:
            return default
        return self.o[key] in ("true", "True", "1")

    def size2d(self, key, default=None):
        if key not in self.o:
            return default
        parts = [int(v) for v in self.o[key].strip("()[] ").split(",")]
        return parts[0] if len(parts) == 1 else tuple(parts)

    def shape(self, key):
        return tuple(int(v) for v in self.o[key].split("x"))


# ---- plain-torch modules for the layers torch 1.13 lacks, named as normlab names them ----

def channel_view(t, ndim):
    return t.view(1, -1, *([1] * (ndim - 2)))


class BatchRenormRef(nn.Module):
    """Ioffe 2017, Algorithm 1 (docs/normalization/batch_renorm.md, BRN1-BRN12)."""

    def __init__(self, c, eps, momentum, r_max, d_max, affine):
        super().__init__()
        self.eps, self.momentum, self.r_max, self.d_max = eps, momentum, r_max, d_max
        if affine:
            self.weight = nn.Parameter(torch.ones(c))
            self.bias = nn.Parameter(torch.zeros(c))
        else:
            self.weight = self.bias = None
        self.register_buffer("running_mean", torch.zeros(c))
        self.register_buffer("running_std", torch.ones(c))
        self.register_buffer("num_batches_tracked", torch.tensor(0, dtype=torch.long))

    def forward(self, x):
        dims = [0] + list(range(2, x.dim()))
        if self.training:
            mean = x.mean(dims)
            std = torch.sqrt(x.var(dims, unbiased=False) + self.eps)
            r = (std / self.running_std).clamp(1 / self.r_max, self.r_max).detach()
            d = ((mean - self.running_mean) / self.running_std).clamp(-self.d_max, self.d_max)
            d = d.detach()
            z = (x - channel_view(mean, x.dim())) / channel_view(std, x.dim())
            xhat = z * channel_view(r, x.dim()) + channel_view(d, x.dim())
            with torch.no_grad():
                self.running_mean += self.momentum * (mean - self.running_mean)
                self.running_std += self.momentum * (std - self.running_std)
                self.num_batches_tracked += 1
        else:
            n = x.dim()
            xhat = (x - channel_view(self.running_mean, n)) / channel_view(self.running_std, n)
        if self.weight is None:
            return xhat
        return xhat * channel_view(self.weight, x.dim()) + channel_view(self.bias, x.dim())


class RMSNormRef(nn.Module):
    """torch.nn.RMSNorm (2.4): x / sqrt(mean(x^2) + eps) * weight; eps None: finfo(dtype).eps."""

    def __init__(self, shape, eps, affine):
        super().__init__()
        self.shape, self.eps = shape, eps
        self.weight = nn.Parameter(torch.ones(shape)) if affine else None

    def forward(self, x):
        eps = torch.finfo(x.dtype).eps if self.eps is None else self.eps
        dims = list(range(x.dim() - len(self.shape), x.dim()))
        y = x * torch.rsqrt(x.pow(2).mean(dims, keepdim=True) + eps)
        return y if self.weight is None else y * self.weight


class EstimatedBatchNormRef(nn.Module):
    """labml's estimated batch norm (BCN1, BCN2): moves the estimates, then normalizes with them."""

    def __init__(self, c, eps, momentum):
        super().__init__()
        self.eps, self.momentum = eps, momentum
        self.weight = nn.Parameter(torch.ones(c))
        self.bias = nn.Parameter(torch.zeros(c))
        self.register_buffer("running_mean", torch.zeros(c))
        self.register_buffer("running_var", torch.ones(c))

    def forward(self, x):
        if self.training:
            dims = [0] + list(range(2, x.dim()))
            with torch.no_grad():
                r = self.momentum
                self.running_mean.mul_(1 - r).add_(r * x.mean(dims))
                self.running_var.mul_(1 - r).add_(r * x.var(dims, unbiased=False))
        n = x.dim()
        xhat = (x - channel_view(self.running_mean, n)) / torch.sqrt(
            channel_view(self.running_var, n) + self.eps)
        return xhat * channel_view(self.weight, n) + channel_view(self.bias, n)


class ChannelNormRef(nn.Module):
    """labml's channel norm (BCN3-BCN5): group statistics, one gamma and beta per group."""

    def __init__(self, groups, eps):
        super().__init__()
        self.groups, self.eps = groups, eps
        self.weight = nn.Parameter(torch.ones(groups))
        self.bias = nn.Parameter(torch.zeros(groups))

    def forward(self, x):
        xg = x.reshape(x.shape[0], self.groups, -1)
        mean = xg.mean(-1, keepdim=True)
        var = xg.var(-1, unbiased=False, keepdim=True)
        y = (xg - mean) / torch.sqrt(var + self.eps)
        return (self.weight.view(1, -1, 1) * y + self.bias.view(1, -1, 1)).view(x.shape)


class BatchChannelNormRef(nn.Module):
    def __init__(self, c, groups, eps, momentum, estimate, ndim):
        super().__init__()
        if estimate:
            self.batch_norm = EstimatedBatchNormRef(c, eps, momentum)
        else:
            self.batch_norm = batch_norm_class(ndim)(c, eps=eps, momentum=momentum)
        self.channel_norm = ChannelNormRef(groups, eps)

    def forward(self, x):
        return self.channel_norm(self.batch_norm(x))


class WSConv2dRef(nn.Module):
    """Weight Standardization (Qiao et al. 2019, eq. 5-6): biased variance, eps inside the root."""

    def __init__(self, conv, eps):
        super().__init__()
        self.stride, self.padding, self.dilation = conv.stride, conv.padding, conv.dilation
        self.groups, self.eps = conv.groups, eps
        self.weight = conv.weight
        if conv.bias is None:
            self.register_parameter("bias", None)
        else:
            self.bias = conv.bias

    def forward(self, x):
        w = self.weight
        wf = w.reshape(w.shape[0], -1)
        mean = wf.mean(1, keepdim=True)
        var = wf.var(1, unbiased=False, keepdim=True)
        what = ((wf - mean) / torch.sqrt(var + self.eps)).view_as(w)
        return F.conv2d(x, what, self.bias, self.stride, self.padding, self.dilation, self.groups)


def batch_norm_class(ndim):
    return {2: nn.BatchNorm1d, 3: nn.BatchNorm1d, 4: nn.BatchNorm2d, 5: nn.BatchNorm3d}[ndim]


def conv2d(o):
    return nn.Conv2d(o.int("in_channels"), o.int("out_channels"), o.size2d("kernel_size"),
                     stride=o.size2d("stride", 1), padding=o.size2d("padding", 0),
                     dilation=o.size2d("dilation", 1), groups=o.int("groups", 1),
                     bias=o.bool("bias", True))


# The reference module of each layer of the table, from normlab's options and x's ndim.
REFERENCES = {
    "linear": lambda o, n: nn.Linear(o.int("in_features"), o.int("out_features"),
                                     bias=o.bool("bias", True)),
    "conv2d": lambda o, n: conv2d(o),
    "max_pool2d": lambda o, n: nn.MaxPool2d(o.size2d("kernel_size"), o.size2d("stride"),
                                            o.size2d("padding", 0), o.size2d("dilation", 1)),
    "avg_pool2d": lambda o, n: nn.AvgPool2d(o.size2d("kernel_size"), o.size2d("stride"),
                                            o.size2d("padding", 0),
                                            count_include_pad=o.bool("count_include_pad", True)),
    "global_avg_pool2d": lambda o, n: nn.AdaptiveAvgPool2d(1),
    "relu": lambda o, n: nn.ReLU(),
    "leaky_relu": lambda o, n: nn.LeakyReLU(o.float("negative_slope", 0.01)),
    "gelu": lambda o, n: nn.GELU(),
    "dropout": lambda o, n: nn.Dropout(o.float("p", 0.5)),
    "flatten": lambda o, n: nn.Flatten(o.int("start_dim", 1), o.int("end_dim", -1)),
    "identity": lambda o, n: nn.Identity(),
    "batch_norm": lambda o, n: batch_norm_class(n)(
        o.int("num_features"), eps=o.float("eps", 1e-5),
        momentum=o.optional_float("momentum", 0.1), affine=o.bool("affine", True),
        track_running_stats=o.bool("track_running_stats", True)),
    "layer_norm": lambda o, n: nn.LayerNorm(o.shape("normalized_shape"), eps=o.float("eps", 1e-5),
                                            elementwise_affine=o.bool("elementwise_affine", True)),
    "instance_norm": lambda o, n: nn.InstanceNorm2d(
        o.int("num_features"), eps=o.float("eps", 1e-5), momentum=o.float("momentum", 0.1),
        affine=o.bool("affine", False), track_running_stats=o.bool("track_running_stats", False)),
    "group_norm": lambda o, n: nn.GroupNorm(o.int("num_groups"), o.int("num_channels"),
                                            eps=o.float("eps", 1e-5),
                                            affine=o.bool("affine", True)),
    "batch_renorm": lambda o, n: BatchRenormRef(
        o.int("num_features"), o.float("eps", 1e-5), o.float("momentum", 0.1),
        o.float("r_max", 3.0), o.float("d_max", 5.0), o.bool("affine", True)),
    "rms_norm": lambda o, n: RMSNormRef(o.shape("normalized_shape"),
                                        o.optional_float("eps", None),
                                        o.bool("elementwise_affine", True)),
    "local_response_norm": lambda o, n: nn.LocalResponseNorm(
        o.int("size"), alpha=o.float("alpha", 1e-4), beta=o.float("beta", 0.75),
        k=o.float("k", 1.0)),
    "batch_channel_norm": lambda o, n: BatchChannelNormRef(
        o.int("num_channels"), o.int("num_groups"), o.float("eps", 1e-5),
        o.float("momentum", 0.1), o.bool("estimate", True), n),
    "ws_conv2d": lambda o, n: WSConv2dRef(conv2d(o), o.float("eps", 1e-5)),
}

# (label, layer, options, x shape, mode, state): state "all" writes every parameter and buffer
# with random values, "none" writes no --params directory (both sides keep their default state,
# which is deterministic for the norms). x is drawn as N(x_mean, x_std) from the case's options.
CASES = [
    ("linear", "linear", {"in_features": "5", "out_features": "3"}, (4, 5), "train", "all"),
    ("linear 3-d, no bias", "linear", {"in_features": "5", "out_features": "4", "bias": "false"},
     (2, 3, 5), "train", "all"),
    ("conv2d stride 2 pad 1 groups 2", "conv2d",
     {"in_channels": "4", "out_channels": "6", "kernel_size": "3", "stride": "2", "padding": "1",
      "groups": "2"}, (2, 4, 7, 7), "train", "all"),
    ("conv2d 3x2 dilation 2 no bias", "conv2d",
     {"in_channels": "3", "out_channels": "2", "kernel_size": "3,2", "padding": "1,0",
      "dilation": "2", "bias": "false"}, (2, 3, 8, 7), "train", "all"),
    ("max_pool2d k3 s2 p1", "max_pool2d", {"kernel_size": "3", "stride": "2", "padding": "1"},
     (2, 3, 7, 7), "train", "none"),
    ("max_pool2d k2 dilation 2", "max_pool2d", {"kernel_size": "2", "dilation": "2"},
     (2, 2, 7, 6), "train", "none"),
    ("avg_pool2d k3 s2 p1 no pad count", "avg_pool2d",
     {"kernel_size": "3", "stride": "2", "padding": "1", "count_include_pad": "false"},
     (2, 3, 7, 7), "train", "none"),
    ("avg_pool2d k2", "avg_pool2d", {"kernel_size": "2"}, (2, 2, 6, 5), "train", "none"),
    ("global_avg_pool2d", "global_avg_pool2d", {}, (3, 4, 5, 3), "train", "none"),
    ("relu", "relu", {}, (3, 4, 5), "train", "none"),
    ("leaky_relu 0.2", "leaky_relu", {"negative_slope": "0.2"}, (3, 4, 5), "train", "none"),
    ("gelu", "gelu", {}, (3, 4, 5), "train", "none"),
    ("dropout eval", "dropout", {"p": "0.3"}, (3, 4, 5), "eval", "none"),
    ("flatten", "flatten", {}, (2, 3, 4, 2), "train", "none"),
    ("flatten 1..2", "flatten", {"start_dim": "1", "end_dim": "2"}, (2, 3, 4, 2), "train",
     "none"),
    ("identity", "identity", {}, (2, 3, 4), "train", "none"),
    ("batch_norm train 4-d", "batch_norm", {"num_features": "3", "momentum": "0.2"},
     (4, 3, 3, 2), "train", "all"),
    # 2 MiB of float32 and more: the kernels sweep BatchNorm's sets by rows in memory order
    ("batch_norm train 2 MiB (by rows)", "batch_norm", {"num_features": "4"}, (8, 4, 128, 128),
     "train", "all"),
    ("batch_norm train 2-d cumulative", "batch_norm",
     {"num_features": "5", "momentum": "None", "eps": "1e-3"}, (6, 5), "train", "all"),
    ("batch_norm train 3-d default state", "batch_norm", {"num_features": "4"}, (3, 4, 5),
     "train", "none"),
    ("batch_norm eval", "batch_norm", {"num_features": "3"}, (4, 3, 3, 2), "eval", "all"),
    ("batch_norm eval untracked", "batch_norm",
     {"num_features": "3", "track_running_stats": "false", "affine": "false"}, (4, 3, 2, 2),
     "eval", "none"),
    ("layer_norm (C,H,W)", "layer_norm", {"normalized_shape": "4x3x3"}, (2, 4, 3, 3), "train",
     "all"),
    ("layer_norm last dim no affine", "layer_norm",
     {"normalized_shape": "5", "elementwise_affine": "false", "eps": "1e-3"}, (3, 2, 5), "train",
     "none"),
    ("instance_norm affine", "instance_norm", {"num_features": "3", "affine": "true"},
     (2, 3, 4, 4), "train", "all"),
    ("instance_norm tracked train", "instance_norm",
     {"num_features": "3", "affine": "true", "track_running_stats": "true", "momentum": "0.3"},
     (2, 3, 3, 4), "train", "all"),
    ("instance_norm tracked eval", "instance_norm",
     {"num_features": "3", "track_running_stats": "true"}, (2, 3, 3, 4), "eval", "all"),
    ("group_norm G=2", "group_norm", {"num_groups": "2", "num_channels": "6"}, (2, 6, 3, 3),
     "train", "all"),
    ("group_norm G=1", "group_norm", {"num_groups": "1", "num_channels": "4", "eps": "1e-4"},
     (3, 4, 2, 2), "train", "all"),
    ("group_norm G=C no affine", "group_norm",
     {"num_groups": "4", "num_channels": "4", "affine": "false"}, (2, 4, 3), "train", "none"),
    ("batch_renorm train clipped", "batch_renorm",
     {"num_features": "4", "r_max": "1.5", "d_max": "0.5", "momentum": "0.2"}, (5, 4, 2, 3),
     "train", "all"),
    ("batch_renorm train 2-d", "batch_renorm", {"num_features": "3"}, (6, 3), "train", "all"),
    ("batch_renorm eval", "batch_renorm", {"num_features": "3"}, (4, 3, 2, 2), "eval", "all"),
    ("rms_norm (H,W) eps None", "rms_norm", {"normalized_shape": "3x4"}, (2, 5, 3, 4), "train",
     "all"),
    ("rms_norm last dim no affine", "rms_norm",
     {"normalized_shape": "6", "eps": "1e-3", "elementwise_affine": "false"}, (4, 6), "train",
     "none"),
    ("local_response_norm 4-d", "local_response_norm",
     {"size": "3", "alpha": "0.5", "beta": "0.75", "k": "2"}, (2, 5, 3, 3), "train", "none"),
    ("local_response_norm 3-d even size", "local_response_norm",
     {"size": "4", "alpha": "1.0", "beta": "0.5"}, (2, 6, 4), "train", "none"),
    ("batch_channel_norm train", "batch_channel_norm",
     {"num_channels": "6", "num_groups": "2", "momentum": "0.2"}, (3, 6, 2, 2), "train", "all"),
    ("batch_channel_norm eval", "batch_channel_norm", {"num_channels": "4", "num_groups": "2"},
     (3, 4, 2, 2), "eval", "all"),
    ("batch_channel_norm no estimate", "batch_channel_norm",
     {"num_channels": "6", "num_groups": "3", "estimate": "false"}, (3, 6, 2, 2), "train", "all"),
    ("ws_conv2d pad 1 groups 2", "ws_conv2d",
     {"in_channels": "4", "out_channels": "6", "kernel_size": "3", "padding": "1",
      "groups": "2"}, (2, 4, 5, 5), "train", "all"),
    ("ws_conv2d stride 2 no bias", "ws_conv2d",
     {"in_channels": "2", "out_channels": "3", "kernel_size": "3", "stride": "2",
      "bias": "false", "eps": "1e-4"}, (2, 2, 7, 6), "train", "all"),
]


def random_state(name, shape, rng):
    """Values for a parameter or buffer, drawn by the kind its name says."""
    leaf = name.rsplit(".", 1)[-1]
    if leaf == "num_batches_tracked":
        return np.array(rng.integers(0, 6), dtype=np.int64)
    if leaf in ("running_var", "running_std"):
        return rng.uniform(0.5, 2.0, shape)
    if leaf == "weight":
        return rng.normal(0.8, 0.5, shape)
    return rng.normal(0.0, 0.5, shape)  # bias, running_mean


def run_normlab(binary, layer, options, mode, paths, use_params, seed):
    cmd = [binary, "probe", "--layer", layer, "--seed", str(seed)]
    for k, v in options.items():
        cmd += ["--set", f"{k}={v}"]
    cmd += ["--input", paths["x"], "--grad-output", paths["gy"], "--mode", mode, "--out",
            paths["out"]]
    if use_params:
        cmd += ["--params", paths["params"]]
    r = subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ,
                                                                     OPENBLAS_NUM_THREADS="1"))
    if r.returncode != 0:
        raise RuntimeError(f"normlab probe exited {r.returncode}: {r.stderr.strip()}")
    return {f[:-4]: np.load(os.path.join(paths["out"], f)) for f in os.listdir(paths["out"])}


def torch_reference(module, x, gy, mode):
    module.train(mode == "train")
    xt = torch.from_numpy(x).requires_grad_(True)
    y = module(xt)
    y.backward(torch.from_numpy(gy))
    out = {"output": y.detach(), "grad_input": xt.grad}
    for name, p in module.named_parameters():
        out["grad_" + name] = p.grad if p.grad is not None else torch.zeros_like(p)
    for name, b in module.named_buffers():
        out[name] = b
    return {k: v.numpy() for k, v in out.items()}


def compare(got, want, dtype):
    """(max |err|, worst err/allowed ratio); ratio <= 1 passes."""
    if got.shape != want.shape:
        return float("inf"), float("inf")
    if not np.issubdtype(want.dtype, np.floating):
        err = float(np.max(np.abs(got.astype(np.int64) - want), initial=0))
        return err, float("inf") if err > 0 else 0.0
    rtol, atol = TOLERANCES[dtype]
    w = want.astype(np.float64)
    err = np.abs(got.astype(np.float64) - w)
    allowed = atol * max(1.0, float(np.max(np.abs(w), initial=0))) + rtol * np.abs(w)
    return float(np.max(err, initial=0)), float(np.max(err / allowed, initial=0))


def check_case(binary, case, dtype, rng, workdir):
    label, layer, options, shape, mode, state = case
    module = REFERENCES[layer](Opts(options), len(shape)).to(TORCH_DTYPES[dtype])
    x = rng.normal(rng.uniform(-1, 1), rng.uniform(0.5, 2.0), shape).astype(dtype)
    with torch.no_grad():
        probe_copy = copy.deepcopy(module).train(mode == "train")
        y_shape = tuple(probe_copy(torch.from_numpy(x)).shape)
    gy = rng.normal(0.0, 1.0, y_shape).astype(dtype)
    paths = {k: os.path.join(workdir, v) for k, v in
             {"x": "x.npy", "gy": "gy.npy", "params": "params", "out": "out"}.items()}
    os.makedirs(paths["params"], exist_ok=True)
    os.makedirs(paths["out"], exist_ok=True)
    np.save(paths["x"], x)
    np.save(paths["gy"], gy)
    if state == "all":
        named = list(module.named_parameters()) + list(module.named_buffers())
        with torch.no_grad():
            for name, t in named:
                v = random_state(name, tuple(t.shape), rng)
                v = v if v.dtype == np.int64 else v.astype(dtype)
                np.save(os.path.join(paths["params"], name + ".npy"), v)
                t.copy_(torch.from_numpy(v))
    want = torch_reference(module, x, gy, mode)
    got = run_normlab(binary, layer, options, mode, paths, state == "all", rng.integers(2**31))
    rows = []
    for name in sorted(set(want) | set(got)):
        if name not in got or name not in want:
            side = "normlab" if name not in got else "torch"
            rows.append((name, float("inf"), float("inf"), f"missing in {side}"))
            continue
        err, ratio = compare(got[name], want[name], dtype)
        note = "" if got[name].shape == want[name].shape else (
            f"shape {got[name].shape} vs {want[name].shape}")
        rows.append((name, err, ratio, note))
    return rows


def check_dropout_train(binary, dtype, rng, workdir):
    """normlab's own mask: y = x*m/(1-p), dx = gy*m/(1-p), m in {0, 1}, kept fraction ~ 1-p."""
    p, shape = 0.3, (8, 16, 8)
    x = rng.normal(0.0, 1.0, shape).astype(dtype)
    gy = rng.normal(0.0, 1.0, shape).astype(dtype)
    paths = {k: os.path.join(workdir, v) for k, v in
             {"x": "x.npy", "gy": "gy.npy", "params": "params", "out": "out"}.items()}
    os.makedirs(paths["out"], exist_ok=True)
    np.save(paths["x"], x)
    np.save(paths["gy"], gy)
    got = run_normlab(binary, "dropout", {"p": str(p)}, "train", paths, False, rng.integers(2**31))
    kept = got["output"] != 0
    scale = 1.0 / (1.0 - p)
    rows = [
        ("output", *compare(got["output"], np.where(kept, x * scale, 0).astype(dtype), dtype), ""),
        ("grad_input",
         *compare(got["grad_input"], np.where(kept, gy * scale, 0).astype(dtype), dtype), ""),
    ]
    frac, n = kept.mean(), kept.size
    bound = 5 * np.sqrt(p * (1 - p) / n)
    rows.append(("kept fraction", abs(frac - (1 - p)), abs(frac - (1 - p)) / bound,
                 f"{frac:.3f} kept, want {1 - p:.3f} +- {bound:.3f}"))
    if set(got) != {"output", "grad_input"}:
        rows.append(("files", float("inf"), float("inf"), f"unexpected {sorted(got)}"))
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("normlab", help="path of the normlab binary, e.g. build/dev/tools/normlab")
    ap.add_argument("--seed", type=int, default=None, help="default: from the clock")
    ap.add_argument("--only", nargs="+", default=None, help="layer names to check")
    ap.add_argument("--keep", default=None, help="keep the arrays of every case under this dir")
    ap.add_argument("--verbose", action="store_true", help="one row per array, not per case")
    args = ap.parse_args()
    seed = args.seed if args.seed is not None else int(time.time() * 1000) % 2**32
    print(f"seed {seed} (rerun: {sys.argv[0]} {args.normlab} --seed {seed})")
    print(f"torch {torch.__version__}; tolerances (rtol, atol): {TOLERANCES}")
    covered = {c[1] for c in CASES} | {"dropout"}
    missing = set(REFERENCES) - covered
    if missing:
        print(f"layers without a case: {sorted(missing)}")
        return 1
    cases = [c for c in CASES if args.only is None or c[1] in args.only]
    jobs = [(i, c) for i, c in enumerate(cases)]
    if args.only is None or "dropout" in args.only:
        jobs.append((len(CASES), None))
    print(f"{'case':<36} {'dtype':<8} {'files':>5}  {'worst array':<24} {'max|err|':>9} "
          f"{'err/tol':>8}  result")
    failures = 0
    root = args.keep or tempfile.mkdtemp(prefix="normlab_check_probe_")
    for index, case in jobs:
        for dtype in ("float32", "float64"):
            label = case[0] if case else "dropout train (mask law)"
            rng = np.random.default_rng([seed, index, int(dtype == "float64")])
            workdir = os.path.join(root, f"{index:02d}_{dtype}")
            os.makedirs(workdir, exist_ok=True)
            try:
                rows = (check_case(args.normlab, case, dtype, rng, workdir) if case else
                        check_dropout_train(args.normlab, dtype, rng, workdir))
            except (RuntimeError, KeyError, ValueError) as e:
                print(f"{label:<36} {dtype:<8} {'':>5}  {str(e)}  FAIL")
                failures += 1
                continue
            bad = [r for r in rows if not r[2] <= 1.0]
            worst = max(rows, key=lambda r: r[2])
            result = "ok" if not bad else "FAIL"
            print(f"{label:<36} {dtype:<8} {len(rows):>5}  {worst[0]:<24} {worst[1]:>9.2e} "
                  f"{worst[2]:>8.1e}  {result}")
            for name, err, ratio, note in rows if (args.verbose or bad) else []:
                mark = "" if ratio <= 1.0 else "  <-- mismatch"
                print(f"    {name:<32} max|err| {err:.3e}  err/tol {ratio:.1e} {note}{mark}")
            failures += bool(bad)
    if not args.keep:
        subprocess.run(["rm", "-rf", root], check=False)
    total = 2 * len(jobs)
    print(f"{total - failures} of {total} cases match PyTorch" + (
        "" if failures == 0 else f"; {failures} FAIL"))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
