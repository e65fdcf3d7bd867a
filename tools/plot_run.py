#!/usr/bin/env python3
"""Plots of a normlab run directory or a sweep directory (matplotlib from Debian's python3-matplotlib).

    python3 tools/plot_run.py RUN_DIR      -> RUN_DIR/curves.png, grad_norms.png, activations.png
    python3 tools/plot_run.py SWEEP_DIR    -> SWEEP_DIR/error_vs_batch.png (needs summary.csv)

Reads only the CSV files that `normlab train` and `normlab sweep` write.
"""
import csv
import math
import os
import sys
from collections import defaultdict

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def save(fig, path):
    """Lays out, writes (110 dpi) and closes fig; returns path."""
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def steps_axes(axes, legend):
    """The step axes of the statistics figures: label, grid, and a legend where legend(ax)."""
    for ax in axes:
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
        if legend(ax):
            ax.legend(fontsize=7)


def plot_curves(run):
    steps = read_csv(os.path.join(run, "metrics_steps.csv"))
    epochs = read_csv(os.path.join(run, "metrics_epochs.csv"))
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    if steps:
        x = [int(r["step"]) for r in steps]
        ax1.plot(x, [float(r["loss"]) for r in steps], label="train loss (running, per epoch)")
    ax1.set_xlabel("step")
    ax1.set_ylabel("cross-entropy")
    ax1.set_yscale("log")
    ax1.grid(alpha=0.3)
    if epochs:
        e = [int(r["epoch"]) for r in epochs]
        ax2.plot(e, [100 * float(r["train_accuracy"]) for r in epochs], "o-", label="train")
        ax2.plot(e, [100 * float(r["test_accuracy"]) for r in epochs], "s-", label="test")
        ax2.set_xticks(e)
    ax2.set_xlabel("epoch")
    ax2.set_ylabel("accuracy (%)")
    ax2.grid(alpha=0.3)
    ax1.legend()
    ax2.legend()
    fig.suptitle(os.path.basename(os.path.normpath(run)))
    return save(fig, os.path.join(run, "curves.png"))


def plot_norm_stats(run):
    path = os.path.join(run, "norm_stats.csv")
    if not os.path.exists(path):
        return []
    rows = read_csv(path)
    if not rows:
        return []
    by_layer = defaultdict(list)
    for r in rows:
        by_layer[r["layer"]].append(r)
    outs = []
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    for layer, rs in by_layer.items():
        x = [int(r["step"]) for r in rs]
        ax1.plot(x, [float(r["grad_in_norm"]) for r in rs], label=f"{layer} ({rs[0]['type']})")
        ratio = [float(r["grad_in_norm"]) / max(float(r["grad_out_norm"]), 1e-30) for r in rs]
        ax2.plot(x, ratio, label=layer)
    ax1.set_title("‖∂L/∂x‖ at each normalization input")
    ax1.set_yscale("log")
    ax2.set_title("gradient gain ‖∂L/∂x‖ / ‖∂L/∂y‖")
    ax2.set_yscale("log")
    steps_axes((ax1, ax2), legend=lambda ax: True)
    outs.append(save(fig, os.path.join(run, "grad_norms.png")))

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    for layer, rs in by_layer.items():
        x = [int(r["step"]) for r in rs]
        ax1.plot(x, [float(r["in_std"]) for r in rs], label=f"{layer} input")
        gap = [float(r["bn_mean_gap"]) for r in rs]
        if not all(math.isnan(g) for g in gap):
            ax2.plot(x, gap, label=layer)
    ax1.set_title("std of each normalization's input")
    ax1.set_yscale("log")
    ax2.set_title("BatchNorm: RMS gap batch mean vs running mean")
    if not ax2.lines:
        ax2.text(0.5, 0.5, "no layer keeps running statistics", ha="center", va="center",
                 transform=ax2.transAxes)
    steps_axes((ax1, ax2), legend=lambda ax: ax.lines)
    outs.append(save(fig, os.path.join(run, "activations.png")))
    return outs


def plot_sweep(sweep):
    rows = read_csv(os.path.join(sweep, "summary.csv"))
    if not rows or "batch-size" not in rows[0]:
        sys.exit("plot_run: summary.csv has no batch-size axis to plot against")
    series = defaultdict(lambda: defaultdict(list))
    for r in rows:
        if r["final_test_error"] == "failed":
            continue
        key = r.get("norm", "run")
        series[key][int(r["batch-size"])].append(float(r["final_test_error"].rstrip("%")))
    fig, ax = plt.subplots(figsize=(6, 4))
    for norm, pts in sorted(series.items()):
        bs = sorted(pts, reverse=True)
        mean = [sum(pts[b]) / len(pts[b]) for b in bs]
        lo = [mean[i] - min(pts[b]) for i, b in enumerate(bs)]
        hi = [max(pts[b]) - mean[i] for i, b in enumerate(bs)]
        ax.errorbar([str(b) for b in bs], mean, yerr=[lo, hi], marker="o", capsize=3, label=norm)
    ax.set_xlabel("batch size (images per worker)")
    ax.set_ylabel("test error (%)")
    ax.grid(alpha=0.3)
    ax.legend()
    ax.set_title("test error vs batch size")
    fig.tight_layout()
    out = os.path.join(sweep, "error_vs_batch.png")
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return [out]


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    d = sys.argv[1]
    if os.path.exists(os.path.join(d, "summary.csv")):
        outs = plot_sweep(d)
    elif os.path.exists(os.path.join(d, "metrics_epochs.csv")):
        outs = [plot_curves(d)] + plot_norm_stats(d)
    else:
        sys.exit(f"plot_run: {d} is neither a run directory nor a sweep directory")
    for o in outs:
        print(f"wrote {o}")


if __name__ == "__main__":
    main()
