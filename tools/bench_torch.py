#!/usr/bin/env python3
"""Training throughput of normlab's PyTorch twins, measured exactly as `normlab bench` measures
normlab: random in-memory inputs, `--warmup` untimed steps, then `--repeats` timed blocks of
`--steps` steps (forward, cross-entropy, backward, SGD momentum update); prints the median
images/s per batch size. Uses Debian's python3-torch (run it with /usr/bin/python3).

    /usr/bin/python3 tools/bench_torch.py --model tiny --norm group --batch-sizes 2,8,32,128 --threads 2
"""
import argparse
import os
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_models  # noqa: E402


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
    rates = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        for _ in range(args.steps):
            step()
        rates.append(batch * args.steps / (time.perf_counter() - t0))
    return statistics.median(rates)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="tiny")
    p.add_argument("--norm", default="group")
    p.add_argument("--batch-sizes", default="2,8,32,128")
    p.add_argument("--image-size", type=int, default=28)
    p.add_argument("--channels", type=int, default=1)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--threads", type=int, default=0, help="0: every core")
    args = p.parse_args()
    torch.set_num_threads(args.threads or os.cpu_count())
    print(f"torch {torch.__version__} bench: {args.model} + {args.norm}, {args.channels}x"
          f"{args.image_size}x{args.image_size} inputs, {torch.get_num_threads()} threads, "
          f"median of {args.repeats} x {args.steps} steps")
    print(f"{'batch':>6}  {'images/s':>12}")
    for b in [int(s) for s in args.batch_sizes.split(",")]:
        print(f"{b:>6}  {images_per_second(args, b):>12.1f}", flush=True)


if __name__ == "__main__":
    main()
