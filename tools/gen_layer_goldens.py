#!/usr/bin/python3
"""Writes PyTorch golden values for normlab's layers to tests/golden/layers/.

Each case builds one torch.nn layer from the same options that normlab's layer table takes
(layers/layer_table.h), feeds it a seeded input, and stores, as .npy:
  <case>_input, <case>_weight, <case>_bias            float32 (what the test loads into normlab)
  <case>_grad_output                                  float32 (the upstream gradient dy)
  <case>_output, <case>_grad_input,
  <case>_grad_weight, <case>_grad_bias                float64, computed by torch in float64 from
                                                      the float32 values above
manifest.json lists every case with its layer name, options (strings, as make_layer reads them)
and files. Run from the repository root:  /usr/bin/python3 tools/gen_layer_goldens.py
Deterministic: every case seeds torch from its index. Needs torch (Debian python3-torch) and numpy.
"""

import json
import os
import sys

import numpy as np
import torch

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "golden", "layers")

# (case name, layer name, options, input shape)
CASES = [
    ("conv2d_basic", "conv2d",
     dict(in_channels=3, out_channels=4, kernel_size=3, padding=1), (2, 3, 5, 5)),
    ("conv2d_stride2", "conv2d",
     dict(in_channels=3, out_channels=5, kernel_size=3, stride=2, padding=1), (2, 3, 7, 6)),
    ("conv2d_dilation2", "conv2d",
     dict(in_channels=2, out_channels=3, kernel_size=3, dilation=2, padding=2), (2, 2, 9, 8)),
    ("conv2d_groups2", "conv2d",
     dict(in_channels=4, out_channels=6, kernel_size=3, padding=1, groups=2), (2, 4, 5, 5)),
    ("conv2d_1x1", "conv2d",
     dict(in_channels=4, out_channels=3, kernel_size=1), (2, 4, 4, 5)),
    ("conv2d_batch1_rect", "conv2d",
     dict(in_channels=3, out_channels=2, kernel_size=(2, 3), stride=(1, 2), padding=(1, 0),
          bias=False), (1, 3, 6, 7)),
    ("conv2d_odd_all", "conv2d",
     dict(in_channels=6, out_channels=3, kernel_size=3, stride=2, padding=1, dilation=2,
          groups=3), (3, 6, 9, 7)),
    ("linear_basic", "linear", dict(in_features=5, out_features=3), (4, 5)),
    ("linear_3d_nobias", "linear", dict(in_features=5, out_features=4, bias=False), (2, 3, 5)),
    ("max_pool2d_k2", "max_pool2d", dict(kernel_size=2), (2, 3, 6, 6)),
    ("max_pool2d_k3s2p1", "max_pool2d", dict(kernel_size=3, stride=2, padding=1), (2, 2, 7, 7)),
    ("max_pool2d_dilation2", "max_pool2d",
     dict(kernel_size=(3, 2), stride=(2, 1), padding=1, dilation=2), (1, 2, 8, 7)),
    ("avg_pool2d_k2", "avg_pool2d", dict(kernel_size=2), (2, 3, 6, 5)),
    ("avg_pool2d_pad_include", "avg_pool2d",
     dict(kernel_size=3, stride=2, padding=1, count_include_pad=True), (2, 2, 7, 6)),
    ("avg_pool2d_pad_exclude", "avg_pool2d",
     dict(kernel_size=3, stride=2, padding=1, count_include_pad=False), (2, 2, 7, 6)),
    ("avg_pool2d_rect_exclude", "avg_pool2d",
     dict(kernel_size=(2, 4), stride=(1, 3), padding=(1, 2), count_include_pad=False),
     (1, 2, 5, 8)),
    ("global_avg_pool2d", "global_avg_pool2d", dict(), (2, 3, 4, 5)),
    ("gelu", "gelu", dict(), (3, 4, 5)),
    ("leaky_relu_default", "leaky_relu", dict(), (3, 4, 5)),
    ("leaky_relu_0.2", "leaky_relu", dict(negative_slope=0.2), (2, 3, 4, 4)),
]


def make_module(layer, opts):
    if layer == "conv2d":
        return torch.nn.Conv2d(**opts)
    if layer == "linear":
        return torch.nn.Linear(**opts)
    if layer == "max_pool2d":
        return torch.nn.MaxPool2d(**opts)
    if layer == "avg_pool2d":
        return torch.nn.AvgPool2d(**opts)
    if layer == "global_avg_pool2d":
        return torch.nn.AdaptiveAvgPool2d(1)
    if layer == "gelu":
        return torch.nn.GELU()
    if layer == "leaky_relu":
        return torch.nn.LeakyReLU(**opts)
    raise ValueError(layer)


def option_string(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple):
        return "(" + ", ".join(str(v) for v in value) + ")"
    return repr(value)


def save(case, key, array, files):
    name = f"{case}_{key}.npy"
    np.save(os.path.join(OUT, name), np.ascontiguousarray(array))
    files[key] = name


def run_case(index, case, layer, opts, shape):
    torch.manual_seed(1000 + index)
    module = make_module(layer, opts)
    x32 = torch.randn(*shape, dtype=torch.float32)
    params32 = {name: p.detach().clone() for name, p in module.named_parameters()}
    # Reference in float64 from the exact float32 inputs.
    module = module.double()
    x = x32.double().requires_grad_(True)
    y = module(x)
    dy32 = torch.randn(*y.shape, dtype=torch.float32)
    y.backward(dy32.double())
    files = {}
    save(case, "input", x32.numpy(), files)
    for name, p in params32.items():
        save(case, name, p.numpy(), files)
    save(case, "grad_output", dy32.numpy(), files)
    save(case, "output", y.detach().numpy(), files)
    save(case, "grad_input", x.grad.numpy(), files)
    for name, p in module.named_parameters():
        save(case, "grad_" + name, p.grad.numpy(), files)
    return {
        "name": case,
        "layer": layer,
        "options": {k: option_string(v) for k, v in opts.items()},
        "parameters": sorted(params32.keys()),
        "files": files,
    }


def main():
    os.makedirs(OUT, exist_ok=True)
    for f in os.listdir(OUT):
        if f.endswith(".npy"):
            os.remove(os.path.join(OUT, f))
    manifest = [run_case(i, *case) for i, case in enumerate(CASES)]
    with open(os.path.join(OUT, "manifest.json"), "w") as out:
        json.dump({"generator": "tools/gen_layer_goldens.py", "torch": torch.__version__,
                   "cases": manifest}, out, indent=1)
        out.write("\n")
    total = sum(os.path.getsize(os.path.join(OUT, f)) for f in os.listdir(OUT))
    print(f"wrote {len(manifest)} cases, {total} bytes, to {os.path.normpath(OUT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
