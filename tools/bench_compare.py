#!/usr/bin/env python3
"""normlab and PyTorch side by side: `normlab bench` and tools/bench_torch.py on the same layer and
model configurations, alternating (normlab, PyTorch, normlab, ...) over `--rounds` rounds in this
one invocation, so that drift of a shared machine hits both alike. Each figure is the median over
the rounds of each tool's own median; the ratio is speed(normlab) / speed(PyTorch), so above 1
means normlab is faster. The machine's measured bandwidth and sgemm peak come first, and every
layer figure stands next to its bandwidth bound (the fewest bytes the pass must move).

    /usr/bin/python3 tools/bench_compare.py --normlab build/release/tools/normlab --threads 2 \\
        --suite layers --rounds 3

Suites: layers (the four core norms at three shapes, the relatives at one, and the largest
convolutions of VGG, whose GEMM work also gets a GFLOP/s table), tiny (the tiny CNN
on 1x28x28 and 3x32x32 with norms none, batch, group at batch 2, 8, 32, 128), deep (resnet20 and
vgg at batch 32 and 128), all. Prints Markdown tables on stdout (docs/benchmarks.md holds one run).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SHAPES = ["32x64x32x32", "128x128x16x16", "8x256x8x8"]


def core_norms(shape):
    C = shape.split("x")[1]
    chw = "x".join(shape.split("x")[1:])
    return [
        ("BatchNorm2d, train", "batch_norm", [f"num_features={C}"]),
        (f"GroupNorm(32, {C})", "group_norm", ["num_groups=32", f"num_channels={C}"]),
        ("LayerNorm((C,H,W))", "layer_norm", [f"normalized_shape={chw}"]),
        ("InstanceNorm2d(affine)", "instance_norm", [f"num_features={C}", "affine=true"]),
    ]


def relatives(shape):
    C = shape.split("x")[1]
    chw = "x".join(shape.split("x")[1:])
    return [
        ("BatchRenorm, train", "batch_renorm", [f"num_features={C}"]),
        ("BatchChannelNorm(32)", "batch_channel_norm", [f"num_channels={C}", "num_groups=32"]),
        ("RMSNorm((C,H,W))", "rms_norm", [f"normalized_shape={chw}"]),
        ("LocalResponseNorm(5)", "local_response_norm", ["size=5"]),
        ("Conv2d 3x3, same channels", "conv2d",
         [f"in_channels={C}", f"out_channels={C}", "kernel_size=3", "padding=1", "bias=false"]),
        ("WS Conv2d 3x3", "ws_conv2d",
         [f"in_channels={C}", f"out_channels={C}", "kernel_size=3", "padding=1", "bias=false"]),
    ]


# VGG's 128-, 256- and 512-channel convolutions at batch 32, beyond the relatives' 64 -> 64 at
# 32x32 (its first block): the GEMM work whose GFLOP/s the layer suite puts next to the sgemm peak.
LARGE_CONVS = [(128, "32x128x16x16"), (256, "32x256x8x8"), (512, "32x512x4x4")]


def large_convs():
    return [(f"Conv2d 3x3, {c} -> {c}", "conv2d",
             [f"in_channels={c}", f"out_channels={c}", "kernel_size=3", "padding=1", "bias=false"],
             shape) for c, shape in LARGE_CONVS]


def layer_configs():
    out = []
    for shape in SHAPES:
        out += [(label, layer, sets, shape) for label, layer, sets in core_norms(shape)]
    out += [(label, layer, sets, SHAPES[0]) for label, layer, sets in relatives(SHAPES[0])]
    return out + large_convs()


def model_configs(suite):
    out = []
    if suite in ("tiny", "all"):
        for channels, size in ((1, 28), (3, 32)):
            for norm in ("none", "batch", "group"):
                out.append(("tiny", norm, channels, size, "2,8,32,128", 20, 5))
    if suite in ("deep", "all"):
        for model in ("resnet20", "vgg"):
            for norm in ("batch", "group"):
                out.append((model, norm, 3, 32, "32,128", 5, 3))
    return out


def run_json(cmd):
    done = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]


def layer_commands(args, layer, sets, shape):
    flags = ["--layer", layer, "--shape", shape, "--threads", str(args.threads), "--json",
             "--steps", str(args.steps), "--repeats", str(args.repeats)]
    for s in sets:
        flags += ["--set", s]
    return ([args.normlab, "bench", "--skip-machine"] + flags,
            [sys.executable, os.path.join(HERE, "bench_torch.py")] + flags)


def model_commands(args, model, norm, channels, size, batches, steps, repeats):
    flags = ["--model", model, "--norm", norm, "--channels", str(channels), "--image-size",
             str(size), "--batch-sizes", batches, "--threads", str(args.threads), "--json",
             "--steps", str(steps), "--repeats", str(repeats)]
    return ([args.normlab, "bench", "--skip-machine"] + flags,
            [sys.executable, os.path.join(HERE, "bench_torch.py")] + flags)


def alternate(rounds, pairs):
    """Runs every (normlab, torch) command pair `rounds` times, in turn; returns, per pair, the
    lists of JSON records of each side, one list per round."""
    results = [([], []) for _ in pairs]
    for r in range(rounds):
        for i, (ours, theirs) in enumerate(pairs):
            print(f"round {r + 1}/{rounds}: {' '.join(ours[1:])}", file=sys.stderr, flush=True)
            results[i][0].append(run_json(ours))
            results[i][1].append(run_json(theirs))
    return results


def med(rounds, key, pick=lambda recs: recs[0]):
    return statistics.median(pick(recs)[key] for recs in rounds)


def print_layers(args, machine):
    configs = layer_configs()
    pairs = [layer_commands(args, layer, sets, shape) for _, layer, sets, shape in configs]
    results = alternate(args.rounds, pairs)
    bw = machine["copy_gbps"]
    print("| layer | shape | pass | normlab µs | PyTorch µs | speed ratio | normlab GB/s |"
          " bound µs | normlab / bound |")
    print("|---|---|---|---|---|---|---|---|---|")
    for (label, _, _, shape), (ours, theirs) in zip(configs, results):
        for key, bytes_key, name in (("forward_us", "forward_bytes", "forward"),
                                     ("forward_backward_us", "forward_backward_bytes",
                                      "forward+backward")):
            n, t = med(ours, key), med(theirs, key)
            nbytes = ours[0][0][bytes_key]
            bound = nbytes / (bw * 1e9) * 1e6
            print(f"| {label} | {shape} | {name} | {n:.0f} | {t:.0f} | {t / n:.2f} |"
                  f" {nbytes / (n * 1e-6) / 1e9:.1f} | {bound:.0f} | {n / bound:.2f} |")
    print_gemm_layers(configs, results, machine["sgemm_gflops"])


def print_gemm_layers(configs, results, peak):
    """The convolutions' GEMM work (normlab's count, the same for both) per second, against the
    sgemm peak."""
    print()
    print("| convolution | shape | pass | normlab GFLOP/s | of sgemm peak | PyTorch GFLOP/s |"
          " of sgemm peak |")
    print("|---|---|---|---|---|---|---|")
    for (label, _, _, shape), (ours, theirs) in zip(configs, results):
        if ours[0][0].get("forward_flops", 0.0) <= 0.0:
            continue
        for key, flops_key, name in (("forward_us", "forward_flops", "forward"),
                                     ("forward_backward_us", "forward_backward_flops",
                                      "forward+backward")):
            flops = ours[0][0][flops_key]
            n, t = flops / med(ours, key) / 1e3, flops / med(theirs, key) / 1e3
            print(f"| {label} | {shape} | {name} | {n:.1f} | {100 * n / peak:.0f}% | {t:.1f} |"
                  f" {100 * t / peak:.0f}% |")


def print_models(args, machine):
    configs = model_configs(args.suite)
    pairs = [model_commands(args, *c) for c in configs]
    results = alternate(args.rounds, pairs)
    peak = machine["sgemm_gflops"]
    print("| model | input | norm | batch | normlab images/s | PyTorch images/s | ratio |"
          " normlab GEMM GFLOP/s | of sgemm peak | normlab peak RSS MiB | PyTorch peak RSS MiB |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for (model, norm, channels, size, batches, _, _), (ours, theirs) in zip(configs, results):
        for i, b in enumerate(batches.split(",")):
            pick = lambda recs, i=i: recs[i]  # noqa: E731
            n, t = med(ours, "images_per_s", pick), med(theirs, "images_per_s", pick)
            rn, rt = med(ours, "peak_rss_mib", pick), med(theirs, "peak_rss_mib", pick)
            # the GEMM work of a step at the median images/s
            gemm = ours[0][i]["gemm_flops_per_step"] * n / int(b) / 1e9
            print(f"| {model} | {channels}x{size}x{size} | {norm} | {b} | {n:.0f} | {t:.0f} |"
                  f" {n / t:.2f} | {gemm:.1f} | {100 * gemm / peak:.0f}% | {rn:.0f} | {rt:.0f} |")


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--normlab", default="build/release/tools/normlab")
    p.add_argument("--suite", default="layers", choices=["layers", "tiny", "deep", "all"])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--steps", type=int, default=20, help="layer calls per timed block")
    p.add_argument("--repeats", type=int, default=5, help="timed blocks per layer figure")
    args = p.parse_args()
    machine = run_json([args.normlab, "bench", "--machine-only", "--threads", str(args.threads),
                        "--json"])[0]
    print(f"machine: {machine['threads']} threads, copy {machine['copy_gbps']:.1f} GB/s, triad "
          f"{machine['triad_gbps']:.1f} GB/s, sgemm {machine['sgemm_gflops']:.1f} GFLOP/s "
          f"(OpenBLAS {machine['blas_core']} kernels)")
    print()
    if args.suite in ("layers", "all"):
        print_layers(args, machine)
        print()
    if args.suite != "layers":
        print_models(args, machine)


if __name__ == "__main__":
    main()
