#!/usr/bin/env python3
"""PyTorch measured exactly as `normlab bench` measures normlab (Debian's python3-torch; run it
with /usr/bin/python3).

Model mode: training images/s of normlab's PyTorch twin (tools/torch_models.py) on random
in-memory inputs, `--warmup` untimed steps, then `--repeats` timed blocks of `--steps` steps
(forward, cross-entropy, backward, SGD momentum update); the median per batch size, and how far
that batch size's training raised the resident memory (class PeakRss: the peak is reset before
each batch size, after `import torch`).

Layer mode (--layer NAME --set key=value ... --shape NxCxHxW): the torch.nn module that
tools/check_probe.py pairs with that layer of normlab's layer table, forward and forward +
backward (x requires a gradient; dy random), alternating blocks of `--steps` calls, medians in µs.

    /usr/bin/python3 tools/bench_torch.py --model tiny --norm group --batch-sizes 2,8,32,128 --threads 2
    /usr/bin/python3 tools/bench_torch.py --layer group_norm --set num_groups=32 \\
        --set num_channels=64 --shape 32x64x32x32 --threads 2

With --json, one JSON object per figure as well (tools/bench_compare.py reads them).
"""
import argparse
import ctypes
import json
import os
import resource
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import check_probe  # noqa: E402
import torch_models  # noqa: E402


def status_mib(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return float(line.split()[1]) / 1024.0  # kB
    return -1.0


class PeakRss:
    """How far one piece of work raises the resident memory, measured as `normlab bench` does:
    freed memory goes back to the system first (malloc_trim), then the peak (VmHWM) is reset to
    the current size through /proc/self/clear_refs; the lifetime peak's growth otherwise."""

    def __init__(self):
        try:
            ctypes.CDLL("libc.so.6").malloc_trim(0)
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")
            self.reset = status_mib("VmHWM") >= 0.0
        except OSError:
            self.reset = False
        self.baseline = status_mib("VmRSS") if self.reset else self.lifetime_peak()

    @staticmethod
    def lifetime_peak():
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0

    def growth_mib(self):
        now = status_mib("VmHWM") if self.reset else self.lifetime_peak()
        return max(0.0, now - self.baseline)


def seconds_per_call(calls, f):
    t0 = time.perf_counter()
    for _ in range(calls):
        f()
    return (time.perf_counter() - t0) / calls


def images_per_second(args, batch):
    torch.manual_seed(0)
    model = torch_models.build(args.model, args.norm, in_channels=args.channels,
                               image_size=args.image_size)
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x = torch.randn(batch, args.channels, args.image_size, args.image_size)
    y = torch.randint(0, 10, (batch,))
    loss_fn = torch.nn.CrossEntropyLoss()

    def step():
        loss = loss_fn(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    for _ in range(args.warmup):
        step()
    rates = [batch / seconds_per_call(args.steps, step) for _ in range(args.repeats)]
    return statistics.median(rates)


def run_models(args):
    print(f"torch {torch.__version__} bench: {args.model} + {args.norm}, {args.channels}x"
          f"{args.image_size}x{args.image_size} inputs, {torch.get_num_threads()} threads, "
          f"median of {args.repeats} x {args.steps} steps")
    print(f"{'batch':>6}  {'images/s':>12}  {'peak RSS MiB':>14}")
    for b in [int(s) for s in args.batch_sizes.split(",")]:
        peak = PeakRss()
        rate = images_per_second(args, b)
        rss = peak.growth_mib()
        print(f"{b:>6}  {rate:>12.1f}  {rss:>14.1f}", flush=True)
        if args.json:
            print(json.dumps({"kind": "model", "model": args.model, "norm": args.norm,
                              "input": f"{args.channels}x{args.image_size}x{args.image_size}",
                              "batch": b, "images_per_s": rate, "peak_rss_mib": rss}),
                  flush=True)


def run_layer(args):
    options = dict(s.split("=", 1) for s in args.set)
    shape = tuple(int(v) for v in args.shape.split("x"))
    dtype = check_probe.TORCH_DTYPES[args.dtype]
    torch.manual_seed(0)
    layer = check_probe.REFERENCES[args.layer](check_probe.Opts(options), len(shape)).to(dtype)
    layer.train(args.mode == "train")
    x = torch.randn(shape, dtype=dtype, requires_grad=True)
    dy = torch.randn_like(layer(x))

    def forward():
        return layer(x)

    def forward_backward():
        layer.zero_grad(set_to_none=True)
        x.grad = None
        layer(x).backward(dy)

    for _ in range(args.warmup):
        forward_backward()
    fwd, fwd_bwd = [], []
    for _ in range(args.repeats):
        fwd.append(seconds_per_call(args.steps, forward))
        fwd_bwd.append(seconds_per_call(args.steps, forward_backward))
    result = {"kind": "layer", "layer": args.layer, "settings": args.set, "shape": args.shape,
              "mode": args.mode, "forward_us": 1e6 * statistics.median(fwd),
              "forward_backward_us": 1e6 * statistics.median(fwd_bwd)}
    print(f"torch {torch.__version__} bench: {args.layer} {' '.join(args.set)} {args.shape} "
          f"{args.mode}, {torch.get_num_threads()} threads, median of {args.repeats} x "
          f"{args.steps} calls")
    print(f"{'pass':>18}  {'µs':>10}")
    print(f"{'forward':>18}  {result['forward_us']:>10.1f}")
    print(f"{'forward+backward':>18}  {result['forward_backward_us']:>10.1f}")
    if args.json:
        print(json.dumps(result), flush=True)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="tiny")
    p.add_argument("--norm", default="group")
    p.add_argument("--batch-sizes", default="2,8,32,128")
    p.add_argument("--image-size", type=int, default=28)
    p.add_argument("--channels", type=int, default=1)
    p.add_argument("--layer", default="")
    p.add_argument("--set", action="append", default=[])
    p.add_argument("--shape", default="")
    p.add_argument("--mode", default="train", choices=["train", "eval"])
    p.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--threads", type=int, default=0, help="0: every core")
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    torch.set_num_threads(args.threads or os.cpu_count())
    if args.layer:
        if not args.shape:
            p.error("--layer needs --shape")
        run_layer(args)
    else:
        run_models(args)


if __name__ == "__main__":
    main()
