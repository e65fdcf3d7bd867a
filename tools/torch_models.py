#!/usr/bin/python3
"""PyTorch twins of normlab's models (models/model.h), for Debian's python3-torch 1.13.

    import torch_models
    net = torch_models.build("resnet20", "group", in_channels=3, image_size=32, num_classes=10,
                             width=1.0, num_groups=32, eps=1e-5)

build() returns an nn.Module whose parameter and buffer names, shapes and order are those of
normlab's make_model for the same options, so a normlab checkpoint loads with strict=True
(tools/check_twin.py does that and compares the logits). The layers are PyTorch's where PyTorch
has them: nn.BatchNorm2d (batch), nn.GroupNorm (group, ws_group; layer is GroupNorm(1, C), as
normlab's make_norm2d), nn.InstanceNorm2d(C, affine=True) (instance). The layers PyTorch 1.13
lacks are written below from normlab's equations (layers/norm/*.h), with normlab's buffer names:
BatchRenorm2d (running_mean, running_std), BatchChannelNorm (batch_norm = EstimatedBatchNorm,
channel_norm = ChannelNorm with a per-group affine) and WSConv2d (biased variance, eps inside the
square root). Each of them has normlab's training and evaluation math.
"""
import os
from collections import OrderedDict

import torch
import torch.nn as nn
import torch.nn.functional as F

MODELS = ("tiny", "vgg", "resnet20")
NORMS = ("none", "batch", "group", "layer", "instance", "batch_renorm", "batch_channel",
         "ws_group", "sync_batch")


# ---- the norms PyTorch lacks ----

class BatchRenorm2d(nn.Module):
    """Batch Renormalization (Ioffe 2017), normlab's layers/norm/batch_renorm.h:
    training  z = (x − μ_B)/σ_B, σ_B = sqrt(σ²_B + ε), x̂ = z·r + d with r = clip(σ_B/σ, 1/r_max,
              r_max), d = clip((μ_B − μ)/σ, ±d_max) held constant; μ ← μ + α(μ_B − μ),
              σ ← σ + α(σ_B − σ)
    eval      x̂ = (x − μ)/σ;  y = γ_c·x̂ + β_c in both modes."""

    def __init__(self, num_features, eps=1e-5, momentum=0.1, r_max=3.0, d_max=5.0):
        super().__init__()
        self.eps, self.momentum, self.r_max, self.d_max = eps, momentum, r_max, d_max
        self.weight = nn.Parameter(torch.ones(num_features))
        self.bias = nn.Parameter(torch.zeros(num_features))
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_std", torch.ones(num_features))
        self.register_buffer("num_batches_tracked", torch.tensor(0, dtype=torch.long))

    def forward(self, x):
        shape = (1, -1) + (1,) * (x.dim() - 2)
        if not self.training:
            xhat = (x - self.running_mean.view(shape)) / self.running_std.view(shape)
        else:
            dims = [0] + list(range(2, x.dim()))
            mean = x.mean(dims)
            std = torch.sqrt(x.var(dims, unbiased=False) + self.eps)
            with torch.no_grad():
                r = (std / self.running_std).clamp(1.0 / self.r_max, self.r_max)
                d = ((mean - self.running_mean) / self.running_std).clamp(-self.d_max, self.d_max)
            z = (x - mean.view(shape)) / std.view(shape)
            xhat = z * r.view(shape) + d.view(shape)
            with torch.no_grad():
                self.running_mean += self.momentum * (mean.detach() - self.running_mean)
                self.running_std += self.momentum * (std.detach() - self.running_std)
                self.num_batches_tracked += 1
        return self.weight.view(shape) * xhat + self.bias.view(shape)


class EstimatedBatchNorm(nn.Module):
    """labml's estimated batch norm (layers/norm/batch_channel_norm.h): training first moves
    μ̂, σ̂² toward the batch's mean and biased variance (no gradient), then both modes compute
    y = γ_c·(x − μ̂_c)/sqrt(σ̂²_c + ε) + β_c."""

    def __init__(self, channels, eps=1e-5, momentum=0.1):
        super().__init__()
        self.eps, self.momentum = eps, momentum
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.register_buffer("running_mean", torch.zeros(channels))
        self.register_buffer("running_var", torch.ones(channels))

    def forward(self, x):
        shape = (1, -1) + (1,) * (x.dim() - 2)
        if self.training:
            with torch.no_grad():
                dims = [0] + list(range(2, x.dim()))
                self.running_mean += self.momentum * (x.mean(dims) - self.running_mean)
                self.running_var += self.momentum * (x.var(dims, unbiased=False) -
                                                     self.running_var)
        rstd = torch.rsqrt(self.running_var + self.eps)
        xhat = (x - self.running_mean.view(shape)) * rstd.view(shape)
        return self.weight.view(shape) * xhat + self.bias.view(shape)


class ChannelNorm(nn.Module):
    """Group statistics per (sample, group), affine per group g: y = γ_g·x̂ + β_g."""

    def __init__(self, channels, groups, eps=1e-5):
        super().__init__()
        self.groups, self.eps = groups, eps
        self.weight = nn.Parameter(torch.ones(groups))
        self.bias = nn.Parameter(torch.zeros(groups))

    def forward(self, x):
        g = x.reshape(x.shape[0], self.groups, -1)
        mean = g.mean(-1, keepdim=True)
        var = g.var(-1, unbiased=False, keepdim=True)
        xhat = (g - mean) / torch.sqrt(var + self.eps)
        y = self.weight.view(1, -1, 1) * xhat + self.bias.view(1, -1, 1)
        return y.reshape(x.shape)


class BatchChannelNorm(nn.Module):
    """Batch-Channel Normalization (Qiao et al. 2019) as labml builds it."""

    def __init__(self, channels, groups, eps=1e-5, momentum=0.1):
        super().__init__()
        self.batch_norm = EstimatedBatchNorm(channels, eps, momentum)
        self.channel_norm = ChannelNorm(channels, groups, eps)

    def forward(self, x):
        return self.channel_norm(self.batch_norm(x))


class WSConv2d(nn.Conv2d):
    """Weight Standardization (Qiao et al. 2019, eq. 5–6), normlab's layers/norm/
    weight_standardization.h: Ŵ = (W − μ_o)/sqrt(σ²_o + ε), σ² biased, per output channel."""

    def __init__(self, *args, eps=1e-5, **kwargs):
        super().__init__(*args, **kwargs)
        self.eps = eps

    def forward(self, x):
        w = self.weight.reshape(self.weight.shape[0], -1)
        mean = w.mean(1, keepdim=True)
        var = w.var(1, unbiased=False, keepdim=True)
        what = ((w - mean) / torch.sqrt(var + self.eps)).reshape(self.weight.shape)
        return F.conv2d(x, what, self.bias, self.stride, self.padding, self.dilation, self.groups)


# ---- the builders (models/model_blocks.cpp) ----

def clamp_num_groups(num_groups, channels):
    """The largest divisor of channels that is not above num_groups (normlab's norm_kind.h)."""
    g = min(num_groups, channels)
    while channels % g != 0:
        g -= 1
    return g


def scaled(channels, width):
    """max(1, round(c·width)), rounding halves away from zero as C++'s llround."""
    v = channels * width
    return max(1, int(v + 0.5) if v >= 0 else -int(-v + 0.5))


def out_size(size, kernel, stride, padding):
    return (size + 2 * padding - kernel) // stride + 1


class Builder:
    def __init__(self, norm, image_size, num_groups, eps, momentum, zero_init_last_gamma):
        if norm not in NORMS:
            raise ValueError(f"unknown norm '{norm}' (valid: {', '.join(NORMS)})")
        self.norm, self.image_size = norm, image_size
        self.num_groups, self.eps = num_groups, eps
        self.momentum = momentum
        self.zero_init_last_gamma = zero_init_last_gamma

    def conv(self, cin, cout, kernel, stride, padding):
        bias = self.norm == "none"
        if self.norm == "ws_group":
            c = WSConv2d(cin, cout, kernel, stride=stride, padding=padding, bias=bias, eps=self.eps)
        else:
            c = nn.Conv2d(cin, cout, kernel, stride=stride, padding=padding, bias=bias)
        nn.init.kaiming_normal_(c.weight, mode="fan_out", nonlinearity="relu")
        if c.bias is not None:
            nn.init.zeros_(c.bias)
        return c

    def norm_layer(self, channels, size, zero_gamma=False):
        n, eps = self.norm, self.eps
        momentum = 0.1 if self.momentum is None else self.momentum
        if n == "none":
            return nn.Identity()
        if n == "instance" and size <= 1:
            raise ValueError("InstanceNorm cannot train on a 1x1 feature map "
                             f"(channels: {channels}, image_size: {self.image_size})")
        groups = clamp_num_groups(self.num_groups, channels)
        layer = {
            "batch": lambda: nn.BatchNorm2d(channels, eps=eps, momentum=self.momentum),
            # one process: SyncBatchNorm is BatchNorm (layers/norm/sync_batch_norm.h)
            "sync_batch": lambda: nn.BatchNorm2d(channels, eps=eps, momentum=self.momentum),
            "group": lambda: nn.GroupNorm(groups, channels, eps=eps),
            "ws_group": lambda: nn.GroupNorm(groups, channels, eps=eps),
            "layer": lambda: nn.GroupNorm(1, channels, eps=eps),
            "instance": lambda: nn.InstanceNorm2d(channels, eps=eps, momentum=momentum,
                                                  affine=True),
            "batch_renorm": lambda: BatchRenorm2d(channels, eps=eps, momentum=momentum),
            "batch_channel": lambda: BatchChannelNorm(channels, groups, eps=eps,
                                                      momentum=momentum),
        }[n]()
        if zero_gamma:
            gamma = layer.channel_norm.weight if n == "batch_channel" else layer.weight
            nn.init.zeros_(gamma)
        return layer

    @staticmethod
    def pool(size):
        return nn.Identity() if size <= 1 else nn.MaxPool2d(2)


class ResidualBlock(nn.Module):
    """normlab's layers/sequential.h ResidualBlock: y = activation(body(x) + shortcut(x))."""

    def __init__(self, body, shortcut=None):
        super().__init__()
        self.body = body
        self.shortcut = shortcut
        self.activation = nn.ReLU()

    def forward(self, x):
        skip = x if self.shortcut is None else self.shortcut(x)
        return self.activation(self.body(x) + skip)


def network(features, channels, num_classes):
    """normlab's models/network.h: named children run in order."""
    return nn.Sequential(OrderedDict([
        *features,
        ("pool", nn.AdaptiveAvgPool2d(1)),
        ("flatten", nn.Flatten()),
        ("classifier", nn.Linear(channels, num_classes)),
    ]))


def conv_norm_relu_stack(b, blocks, in_channels, width):
    """tiny and vgg: per block, [conv3×3 – norm – ReLU] per entry, then a max-pool."""
    layers, cin, size = [], in_channels, b.image_size
    for block in blocks:
        for c in block:
            cout = scaled(c, width)
            layers += [b.conv(cin, cout, 3, 1, 1), b.norm_layer(cout, size), nn.ReLU()]
            cin = cout
        layers.append(b.pool(size))
        size = out_size(size, 2, 2, 0) if size > 1 else size
    return nn.Sequential(*layers), cin


def basic_block(b, cin, cout, stride, size):
    osize = out_size(size, 3, stride, 1)
    body = nn.Sequential(b.conv(cin, cout, 3, stride, 1), b.norm_layer(cout, osize), nn.ReLU(),
                         b.conv(cout, cout, 3, 1, 1),
                         b.norm_layer(cout, osize, b.zero_init_last_gamma))
    shortcut = None
    if stride != 1 or cin != cout:
        shortcut = nn.Sequential(b.conv(cin, cout, 1, stride, 0), b.norm_layer(cout, osize))
    return ResidualBlock(body, shortcut)


def build(model, norm, in_channels=1, image_size=28, num_classes=10, width=1.0, num_groups=32,
          eps=1e-5, momentum=0.1, zero_init_last_gamma=False):
    """The twin of normlab's make_model(kind, options) (float32, training mode)."""
    if model not in MODELS:
        raise ValueError(f"unknown model '{model}' (valid: {', '.join(MODELS)})")
    b = Builder(norm, image_size, num_groups, eps, momentum, zero_init_last_gamma)
    if model == "tiny":
        features, c = conv_norm_relu_stack(b, [[32], [64], [128]], in_channels, width)
        return network([("features", features)], c, num_classes)
    if model == "vgg":
        blocks = [[64, 64], [128, 128], [256, 256, 256], [512, 512, 512], [512, 512, 512]]
        features, c = conv_norm_relu_stack(b, blocks, in_channels, width)
        return network([("features", features)], c, num_classes)
    c = scaled(16, width)
    size = image_size
    children = [("stem", nn.Sequential(b.conv(in_channels, c, 3, 1, 1), b.norm_layer(c, size),
                                       nn.ReLU()))]
    for s, channels in enumerate((16, 32, 64)):
        cout = scaled(channels, width)
        blocks = []
        for i in range(3):
            stride = 2 if s > 0 and i == 0 else 1
            blocks.append(basic_block(b, c, cout, stride, size))
            size = out_size(size, 3, stride, 1)
            c = cout
        children.append((f"layer{s + 1}", nn.Sequential(*blocks)))
    return network(children, c, num_classes)


def num_parameters(net):
    return sum(p.numel() for p in net.parameters())


# The small configurations the tests build (tests/models/model_test_util.h).
TEST_CONFIGS = {
    "tiny": dict(in_channels=1, image_size=28),
    "vgg": dict(in_channels=3, image_size=32, width=0.125),
    "resnet20": dict(in_channels=1, image_size=28),
}


def write_name_goldens(out_dir):
    """tests/golden/models/<model>_<norm>.txt: one line per parameter ("param") and buffer
    ("buffer") in PyTorch's order, "<kind> <name> [<shape>]"."""
    os.makedirs(out_dir, exist_ok=True)
    for m, kw in TEST_CONFIGS.items():
        for n in NORMS:
            net = build(m, n, **kw)
            lines = [f"param {k} {list(v.shape)}" for k, v in net.named_parameters()]
            lines += [f"buffer {k} {list(v.shape)}" for k, v in net.named_buffers()]
            with open(os.path.join(out_dir, f"{m}_{n}.txt"), "w") as f:
                f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    # /usr/bin/python3 tools/torch_models.py: rewrites tests/golden/models/*.txt and prints the
    # parameter counts that tests/models/test_model_build.cpp hardcodes.
    here = os.path.dirname(os.path.abspath(__file__))
    write_name_goldens(os.path.join(here, "..", "tests", "golden", "models"))
    for m, kw in TEST_CONFIGS.items():
        print(m, kw, {n: num_parameters(build(m, n, **kw)) for n in NORMS})
