#!/usr/bin/python3
"""Checks `normlab jacobian` against torch.autograd.functional.jacobian in float64.

    /usr/bin/python3 tools/check_jacobian.py build/dev/tools/normlab [--seed S] [--only LAYER ...]
        [--keep DIR]

For every case below (every normalization layer of layers/layer_table.h in train and in eval
mode, and conv2d, linear and the poolings) the script draws x and random values for every
parameter and buffer of the layer (float64), runs

    normlab jacobian --layer L --set k=v ... --input x.npy --params p/ --mode train|eval --out out/

and compares out/jacobian.npy, shape (numel(y), numel(x)), with
torch.autograd.functional.jacobian(module, x) reshaped the same way, on the reference module of
tools/check_probe.py loaded with the same values. A case passes when
max |J_normlab - J_torch| <= 1e-10 * max |J_torch|. Both sides run the module's forward once, so
running statistics (which Batch Renorm reads in training) are those before the update on both.

Exit status: 0 when every case passes, 1 otherwise.
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from check_probe import REFERENCES, Opts, random_state  # noqa: E402

TOLERANCE = 1e-10  # relative to max |J_torch|

NORMS = [
    ("batch_norm", {"num_features": "3"}, (4, 3, 2, 2)),
    ("batch_norm 2-d", {"num_features": "5", "eps": "1e-3"}, (6, 5)),
    ("layer_norm", {"normalized_shape": "3x2x2"}, (2, 3, 2, 2)),
    ("instance_norm affine", {"num_features": "3", "affine": "true"}, (2, 3, 2, 3)),
    ("instance_norm tracked", {"num_features": "3", "affine": "true",
                               "track_running_stats": "true"}, (2, 3, 2, 3)),
    ("group_norm", {"num_groups": "2", "num_channels": "4"}, (2, 4, 2, 2)),
    ("batch_renorm", {"num_features": "3", "r_max": "1.5", "d_max": "0.5"}, (4, 3, 2, 2)),
    ("rms_norm", {"normalized_shape": "2x3"}, (3, 2, 2, 3)),
    ("local_response_norm", {"size": "3", "alpha": "0.5", "k": "2"}, (2, 5, 2, 2)),
    ("batch_channel_norm", {"num_channels": "4", "num_groups": "2"}, (3, 4, 2, 2)),
    ("ws_conv2d", {"in_channels": "2", "out_channels": "3", "kernel_size": "3",
                   "padding": "1"}, (2, 2, 4, 4)),
]
OTHERS = [
    ("conv2d", {"in_channels": "3", "out_channels": "4", "kernel_size": "3", "stride": "2",
                "padding": "1", "groups": "1"}, (2, 3, 5, 5)),
    ("conv2d groups 2", {"in_channels": "4", "out_channels": "2", "kernel_size": "2",
                         "groups": "2"}, (2, 4, 3, 3)),
    ("linear", {"in_features": "6", "out_features": "4"}, (3, 6)),
    ("max_pool2d", {"kernel_size": "3", "stride": "2", "padding": "1"}, (2, 2, 5, 5)),
    ("avg_pool2d", {"kernel_size": "2", "stride": "1"}, (2, 2, 4, 3)),
    ("global_avg_pool2d", {}, (2, 3, 3, 3)),
    ("group_norm 2048 elements", {"num_groups": "4", "num_channels": "8"}, (4, 8, 8, 8)),
]
# (label, layer, options, x shape, mode): the norms in both modes, the others (and one large
# GroupNorm, to show the size the command is meant for) in training.
CASES = ([(label, label.split()[0], o, s, mode) for label, o, s in NORMS
          for mode in ("train", "eval")] +
         [(label, label.split()[0], o, s, "train") for label, o, s in OTHERS])


def torch_jacobian(module, x, mode):
    module.train(mode == "train")
    xt = torch.from_numpy(x)
    J = torch.autograd.functional.jacobian(module, xt)
    y_numel = J.numel() // xt.numel()
    return J.reshape(y_numel, xt.numel()).numpy()


def check(binary, case, rng, workdir):
    label, layer, options, shape, mode = case
    module = REFERENCES[layer](Opts(options), len(shape)).double()
    x = rng.normal(rng.uniform(-1, 1), rng.uniform(0.5, 2.0), shape)
    params = os.path.join(workdir, "params")
    out = os.path.join(workdir, "out")
    os.makedirs(params, exist_ok=True)
    np.save(os.path.join(workdir, "x.npy"), x)
    with torch.no_grad():
        for name, t in list(module.named_parameters()) + list(module.named_buffers()):
            v = random_state(name, tuple(t.shape), rng)
            np.save(os.path.join(params, name + ".npy"), v)
            t.copy_(torch.from_numpy(np.asarray(v)))
    cmd = [binary, "jacobian", "--layer", layer, "--input", os.path.join(workdir, "x.npy"),
           "--params", params, "--mode", mode, "--out", out]
    for k, v in options.items():
        cmd += ["--set", f"{k}={v}"]
    start = time.time()
    r = subprocess.run(cmd, capture_output=True, text=True,
                       env=dict(os.environ, OPENBLAS_NUM_THREADS="1"))
    seconds = time.time() - start
    if r.returncode != 0:
        raise RuntimeError(f"normlab jacobian exited {r.returncode}: {r.stderr.strip()}")
    got = np.load(os.path.join(out, "jacobian.npy"))
    want = torch_jacobian(module, x, mode)
    if got.shape != want.shape:
        return float("inf"), 0.0, f"shape {got.shape} vs {want.shape}", seconds
    scale = max(float(np.max(np.abs(want))), 1e-300)
    return float(np.max(np.abs(got - want))) / scale, scale, "", seconds


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("normlab", help="path of the normlab binary, e.g. build/dev/tools/normlab")
    ap.add_argument("--seed", type=int, default=None, help="default: from the clock")
    ap.add_argument("--only", nargs="+", default=None, help="layer names to check")
    ap.add_argument("--keep", default=None, help="keep every case's files under this dir")
    args = ap.parse_args()
    seed = args.seed if args.seed is not None else int(time.time() * 1000) % 2**32
    print(f"seed {seed} (rerun: {sys.argv[0]} {args.normlab} --seed {seed})")
    print(f"torch {torch.__version__}; pass: max|J - J_torch| <= {TOLERANCE:g} * max|J_torch|")
    print(f"{'case':<26} {'mode':<6} {'J shape':>10} {'max|J|':>9} {'rel err':>9} {'s':>5}  result")
    root = args.keep or tempfile.mkdtemp(prefix="normlab_check_jacobian_")
    failures = 0
    cases = [c for c in CASES if args.only is None or c[1] in args.only]
    for index, case in enumerate(cases):
        rng = np.random.default_rng([seed, index])
        workdir = os.path.join(root, f"{index:02d}")
        os.makedirs(workdir, exist_ok=True)
        try:
            err, scale, note, seconds = check(args.normlab, case, rng, workdir)
        except (RuntimeError, KeyError, ValueError) as e:
            print(f"{case[0]:<26} {case[4]:<6} {str(e)}  FAIL")
            failures += 1
            continue
        n = int(np.prod(case[3]))
        ok = err <= TOLERANCE
        failures += not ok
        print(f"{case[0]:<26} {case[4]:<6} {'x ' + str(n):>10} {scale:>9.3g} {err:>9.1e} "
              f"{seconds:>5.2f}  {'ok' if ok else 'FAIL'} {note}")
    if not args.keep:
        subprocess.run(["rm", "-rf", root], check=False)
    print(f"{len(cases) - failures} of {len(cases)} cases match torch.autograd.functional.jacobian"
          + ("" if failures == 0 else f"; {failures} FAIL"))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
