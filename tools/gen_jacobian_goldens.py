#!/usr/bin/python3
"""Writes the Jacobian goldens of tests/tools/test_jacobian.cpp with PyTorch 1.13, in float64.

    /usr/bin/python3 tools/gen_jacobian_goldens.py      # from the repository root

For each case: tests/golden/jacobian/<name>/x.npy, params/<name>.npy (every parameter and buffer,
random) and jacobian.npy = torch.autograd.functional.jacobian(module, x) reshaped to
(numel(y), numel(x)), on the reference modules of tools/check_probe.py.
"""
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from check_jacobian import torch_jacobian  # noqa: E402
from check_probe import REFERENCES, Opts, random_state  # noqa: E402

CASES = [  # (name, layer, options, x shape, mode)
    ("batch_norm_train", "batch_norm", {"num_features": "3"}, (3, 3, 2, 1), "train"),
    ("batch_norm_eval", "batch_norm", {"num_features": "3"}, (3, 3, 2, 1), "eval"),
    ("group_norm", "group_norm", {"num_groups": "2", "num_channels": "4"}, (2, 4, 2, 1), "train"),
    ("conv2d", "conv2d", {"in_channels": "2", "out_channels": "3", "kernel_size": "3",
                          "padding": "1"}, (1, 2, 3, 3), "train"),
]


def main():
    root = os.path.join("tests", "golden", "jacobian")
    for index, (name, layer, options, shape, mode) in enumerate(CASES):
        rng = np.random.default_rng([2024, index])
        module = REFERENCES[layer](Opts(options), len(shape)).double()
        out = os.path.join(root, name)
        os.makedirs(os.path.join(out, "params"), exist_ok=True)
        x = rng.normal(0.3, 1.5, shape)
        np.save(os.path.join(out, "x.npy"), x)
        with torch.no_grad():
            for pname, t in list(module.named_parameters()) + list(module.named_buffers()):
                v = random_state(pname, tuple(t.shape), rng)
                np.save(os.path.join(out, "params", pname + ".npy"), v)
                t.copy_(torch.from_numpy(np.asarray(v)))
        J = torch_jacobian(module, x, mode)
        np.save(os.path.join(out, "jacobian.npy"), J)
        print(f"{out}: x {shape}, J {J.shape}, max|J| {np.max(np.abs(J)):.4g}")


if __name__ == "__main__":
    main()
