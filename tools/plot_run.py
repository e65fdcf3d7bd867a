#!/usr/bin/env python3
"""Plots of normlab run and sweep directories (matplotlib from Debian's python3-matplotlib).

    python3 tools/plot_run.py RUN_DIR
        -> RUN_DIR/curves.png, grad_norms.png, activations.png, and landscape.png when the run
           has a landscape.csv (normlab train --landscape-every N)
    python3 tools/plot_run.py SWEEP_DIR
        -> SWEEP_DIR/error_vs_<axis>.png: final test error against batch-size (or num-groups,
           group-size, else the first axis) with one line per value of the other axes; with a
           seed axis each point is the mean over the seeds and its error bar the sample std
        -> SWEEP_DIR/error_curves.png: train (dashed) and test (solid) error per epoch, mean over
           the seeds, one panel per batch size
    python3 tools/plot_run.py SWEEP1 SWEEP2 ... --out DIR
        -> the same two figures in DIR for the runs of several sweeps with the same axes (e.g. one
           sweep per norm)
    python3 tools/plot_run.py --landscape RUN1 RUN2 ... --out FILE.png
        -> the landscape panels of several runs in one figure (e.g. none / BN / GN / LN), and
           prints a Markdown table: per run, the medians over the measured steps after step 0 of
           β, of the loss range and of the gradient-change range over η, and the final test error

Reads only the CSV and JSON files that `normlab train` and `normlab sweep` write; a missing or
empty file leaves its figure out with a note instead of failing.
"""
import argparse
import csv
import json
import math
import os
import statistics
import sys
from collections import defaultdict

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

X_AXES = ("batch-size", "num-groups", "group-size")


def read_csv(path):
    """The rows of a CSV file as dicts; [] when the file is missing or unreadable."""
    try:
        with open(path, newline="") as f:
            return list(csv.DictReader(f))
    except OSError:
        return []


def note(msg):
    print(f"plot_run: {msg}", file=sys.stderr)


def number(text):
    try:
        return float(text)
    except (TypeError, ValueError):
        return math.nan


def save(fig, out):
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


# ---------------------------------------------------------------------------------------- runs


def plot_curves(run):
    steps = read_csv(os.path.join(run, "metrics_steps.csv"))
    epochs = read_csv(os.path.join(run, "metrics_epochs.csv"))
    if not steps and not epochs:
        note(f"{run} has no metrics_steps.csv or metrics_epochs.csv rows; no curves.png")
        return []
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    if steps:
        x = [int(r["step"]) for r in steps]
        ax1.plot(x, [number(r["loss"]) for r in steps], label="train loss (running, per epoch)")
        ax1.set_yscale("log")
        ax1.legend()
    ax1.set_xlabel("step")
    ax1.set_ylabel("cross-entropy")
    ax1.grid(alpha=0.3)
    if epochs:
        e = [int(r["epoch"]) for r in epochs]
        ax2.plot(e, [100 * number(r["train_accuracy"]) for r in epochs], "o-", label="train")
        ax2.plot(e, [100 * number(r["test_accuracy"]) for r in epochs], "s-", label="test")
        ax2.set_xticks(e)
        ax2.legend()
    ax2.set_xlabel("epoch")
    ax2.set_ylabel("accuracy (%)")
    ax2.grid(alpha=0.3)
    fig.suptitle(os.path.basename(os.path.normpath(run)))
    return [save(fig, os.path.join(run, "curves.png"))]


def plot_norm_stats(run):
    rows = read_csv(os.path.join(run, "norm_stats.csv"))
    if not rows:
        return []
    by_layer = defaultdict(list)
    for r in rows:
        by_layer[r["layer"]].append(r)
    outs = []
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    for layer, rs in by_layer.items():
        x = [int(r["step"]) for r in rs]
        ax1.plot(x, [number(r["grad_in_norm"]) for r in rs], label=f"{layer} ({rs[0]['type']})")
        ratio = [number(r["grad_in_norm"]) / max(number(r["grad_out_norm"]), 1e-30) for r in rs]
        ax2.plot(x, ratio, label=layer)
    ax1.set_title("‖∂L/∂x‖ at each normalization input")
    ax1.set_yscale("log")
    ax2.set_title("gradient gain ‖∂L/∂x‖ / ‖∂L/∂y‖")
    ax2.set_yscale("log")
    for ax in (ax1, ax2):
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    outs.append(save(fig, os.path.join(run, "grad_norms.png")))

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    for layer, rs in by_layer.items():
        x = [int(r["step"]) for r in rs]
        ax1.plot(x, [number(r["in_std"]) for r in rs], label=f"{layer} input")
        gap = [number(r["bn_mean_gap"]) for r in rs]
        if not all(math.isnan(g) for g in gap):
            ax2.plot(x, gap, label=layer)
    ax1.set_title("std of each normalization's input")
    ax1.set_yscale("log")
    ax2.set_title("BatchNorm: RMS gap batch mean vs running mean")
    if not ax2.lines:
        ax2.text(0.5, 0.5, "no layer keeps running statistics", ha="center", va="center",
                 transform=ax2.transAxes)
    for ax in (ax1, ax2):
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
        if ax.lines:
            ax.legend(fontsize=7)
    outs.append(save(fig, os.path.join(run, "activations.png")))
    return outs


# ----------------------------------------------------------------------------------- landscape


def read_landscape(run):
    """{step: {"loss": [...], "grad_change": [...], "beta": b}} from RUN/landscape.csv.

    Rows with an eta are the measurements at w − η·g; the row with an empty eta is the step's
    summary (loss at w, β = the largest grad_change / ‖η·g‖)."""
    steps = defaultdict(lambda: {"loss": [], "grad_change": [], "beta": math.nan})
    for r in read_csv(os.path.join(run, "landscape.csv")):
        s = steps[int(r["step"])]
        if r.get("eta"):
            s["loss"].append(number(r["loss"]))
            s["grad_change"].append(number(r["grad_change"]))
        else:
            s["beta"] = number(r["beta"])
    return dict(sorted(steps.items()))


def run_label(run):
    try:
        with open(os.path.join(run, "config.json")) as f:
            c = json.load(f)
        return f"{c.get('model', '?')} {c.get('norm', '?')} b{c.get('batch_size', '?')}"
    except (OSError, ValueError):
        return os.path.basename(os.path.normpath(run))


def draw_landscape(axes, steps, label, color):
    x = list(steps)
    if not x:
        return
    for ax, key in zip(axes[:2], ("loss", "grad_change")):
        lo = [min(steps[s][key], default=math.nan) for s in x]
        hi = [max(steps[s][key], default=math.nan) for s in x]
        ax.fill_between(x, lo, hi, color=color, alpha=0.35, label=label)
        ax.plot(x, lo, color=color, lw=0.6)
        ax.plot(x, hi, color=color, lw=0.6)
    axes[2].plot(x, [steps[s]["beta"] for s in x], color=color, label=label)


def median_after_step0(values):
    """The median of {step: value} over the steps after step 0 (the untrained net); NaN if none."""
    xs = [v for s, v in values.items() if s > 0 and not math.isnan(v)]
    return statistics.median(xs) if xs else math.nan


def landscape_summary_row(run, steps):
    """One Markdown row: the run's medians over its measured steps after step 0."""
    def spread(key):
        return {s: max(m[key]) - min(m[key]) if m[key] else math.nan for s, m in steps.items()}

    later = [m["beta"] for s, m in steps.items() if s > 0 and not math.isnan(m["beta"])]
    half = len(later) // 2
    epochs = read_csv(os.path.join(run, "metrics_epochs.csv"))
    test_error = (f"{100 * (1 - number(epochs[-1]['test_accuracy'])):.2f}%"
                  if epochs and epochs[-1].get("test_accuracy") else "")
    cells = [run_label(run), str(len(later)), f"{statistics.median(later):.2f}" if later else "",
             f"{statistics.median(later[:half]):.2f}" if half else "",
             f"{statistics.median(later[half:]):.2f}" if later else "",
             f"{max(later):.1f}" if later else "",
             f"{median_after_step0(spread('loss')):.3f}",
             f"{median_after_step0(spread('grad_change')):.3f}", test_error]
    return "| " + " | ".join(cells) + " |"


def landscape_summary(rows):
    head = ("| run | steps | median β | first half | second half | max β | median loss range "
            "| median grad-change range | final test error |\n"
            "|---|---|---|---|---|---|---|---|---|\n")
    return head + "".join(r + "\n" for r in rows)


def landscape_figure(runs, out):
    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    rows = []
    for i, run in enumerate(runs):
        steps = read_landscape(run)
        if not steps:
            note(f"{run} has no landscape.csv rows (train with --landscape-every N); left out")
            continue
        draw_landscape(axes, steps, run_label(run), colors[i % len(colors)])
        rows.append(landscape_summary_row(run, steps))
    if not rows:
        plt.close(fig)
        return []
    titles = ("loss landscape: range of L(w − η·g) over η",
              "gradient predictiveness: range of ‖∇L(w − η·g) − ∇L(w)‖",
              "effective β-smoothness: max over η of ‖Δ∇L‖ / ‖η·g‖")
    for ax, title in zip(axes, titles):
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("step")
        ax.set_yscale("log")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    print(landscape_summary(rows), end="")
    return [save(fig, out)]


# -------------------------------------------------------------------------------------- sweeps


def sweep_axes(rows):
    """The grid's axes: the columns before final_test_error in summary.csv."""
    cols = list(rows[0].keys())
    return cols[:cols.index("final_test_error")] if "final_test_error" in cols else []


def error_of(row):
    text = row.get("final_test_error", "failed")
    return None if text in ("failed", "") else number(text.rstrip("%"))


def series_key(row, axes):
    return ", ".join(f"{a}={row[a]}" if a != "norm" else row[a] for a in axes) or "runs"


def mean_std(values):
    m = statistics.mean(values)
    return m, (statistics.stdev(values) if len(values) > 1 else 0.0)


def plot_sweep_errors(sweep, rows, axes):
    x_axis = next((a for a in X_AXES if a in axes), None)
    others = [a for a in axes if a not in ("seed", x_axis)]
    if x_axis is None:
        if not others:
            note("summary.csv has no axis besides the seed to plot against")
            return []
        x_axis, others = others[0], others[1:]
    series = defaultdict(lambda: defaultdict(list))
    for r in rows:
        e = error_of(r)
        if e is not None:
            series[series_key(r, others)][r[x_axis]].append(e)
    if not series:
        note("every run of the sweep failed; no error plot")
        return []
    seeded = "seed" in axes
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name, pts in sorted(series.items()):
        try:
            xs = sorted(pts, key=float, reverse=(x_axis == "batch-size"))
        except ValueError:
            xs = list(pts)
        stats = [mean_std(pts[x]) for x in xs]
        n = [len(pts[x]) for x in xs]
        label = name + (f" (n={min(n)}–{max(n)})" if seeded and min(n) != max(n) else "")
        label += f" (n={n[0]})" if seeded and min(n) == max(n) else ""
        ax.errorbar([str(x) for x in xs], [m for m, _ in stats], yerr=[s for _, s in stats],
                    marker="o", capsize=3, label=label)
    ax.set_xlabel(x_axis + (" (images per worker)" if x_axis == "batch-size" else ""))
    ax.set_ylabel("final test error (%)" + (", mean ± std over seeds" if seeded else ""))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(f"test error vs {x_axis}")
    name = "error_vs_batch.png" if x_axis == "batch-size" else f"error_vs_{x_axis}.png"
    return [save(fig, os.path.join(sweep, name))]


def run_dir_of(sweep, row, axes):
    """The run directory sweep named for a summary row (tools/cmd_sweep.cpp)."""
    name = "_".join(f"{a}-{row[a]}" for a in axes) or "run"
    for ch in "/ :":
        name = name.replace(ch, "_")
    return os.path.join(sweep, name)


def plot_sweep_curves(sweep, rows, axes):
    """Train and test error per epoch, mean over seeds; a panel per batch size if it is an axis."""
    panel_axis = "batch-size" if "batch-size" in axes else None
    others = [a for a in axes if a not in ("seed", panel_axis)]
    curves = defaultdict(lambda: defaultdict(list))  # (panel, series) -> epoch -> [(tr, te)]
    for r in rows:
        epochs = read_csv(os.path.join(run_dir_of(r["_sweep"], r, axes), "metrics_epochs.csv"))
        for e in epochs:
            key = (r[panel_axis] if panel_axis else "", series_key(r, others))
            curves[key][int(e["epoch"])].append(
                (100 * (1 - number(e["train_accuracy"])), 100 * (1 - number(e["test_accuracy"]))))
    if not curves:
        note("no run directory of the sweep has a metrics_epochs.csv; no error_curves.png")
        return []
    panels = sorted({p for p, _ in curves}, key=lambda p: -number(p) if p else 0)
    fig, axs = plt.subplots(1, len(panels), figsize=(5 * len(panels), 4), squeeze=False)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    names = sorted({s for _, s in curves})
    for ax, panel in zip(axs[0], panels):
        for i, name in enumerate(names):
            pts = curves.get((panel, name))
            if not pts:
                continue
            ep = sorted(pts)
            color = colors[i % len(colors)]
            ax.plot(ep, [statistics.mean(t for t, _ in pts[e]) for e in ep], "--", color=color)
            ax.plot(ep, [statistics.mean(v for _, v in pts[e]) for e in ep], "-", color=color,
                    label=name)
        ax.set_title(f"batch {panel}" if panel else "error curves")
        ax.set_xlabel("epoch")
        ax.set_ylabel("error (%): train dashed, test solid")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    return [save(fig, os.path.join(sweep, "error_curves.png"))]


def plot_sweep(sweeps, out):
    """The figures of the runs of one or more sweeps (with the same axes), written into out."""
    rows, axes = [], None
    for sweep in sweeps:
        these = read_csv(os.path.join(sweep, "summary.csv"))
        if not these:
            note(f"{sweep}/summary.csv has no rows; left out")
            continue
        if axes is not None and sweep_axes(these) != axes:
            sys.exit(f"plot_run: {sweep} has the axes {sweep_axes(these)}, not {axes}")
        axes = sweep_axes(these)
        for r in these:
            r["_sweep"] = sweep
        rows += these
    if not rows:
        return []
    os.makedirs(out, exist_ok=True)
    return plot_sweep_errors(out, rows, axes) + plot_sweep_curves(out, rows, axes)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog=__doc__.split("\n", 1)[1])
    p.add_argument("dirs", nargs="+", metavar="DIR", help="a run or sweep directory")
    p.add_argument("--landscape", action="store_true",
                   help="one figure of the landscape panels of every run given")
    p.add_argument("--out", help="the figure file for --landscape; the folder for several sweeps")
    a = p.parse_args()
    outs = []
    if a.landscape:
        if not a.out:
            p.error("--landscape needs --out FILE.png")
        outs = landscape_figure(a.dirs, a.out)
    elif len(a.dirs) > 1:
        if not a.out:
            p.error("several sweep directories need --out DIR")
        outs = plot_sweep(a.dirs, a.out)
    else:
        d = a.dirs[0]
        if os.path.exists(os.path.join(d, "summary.csv")):
            outs = plot_sweep([d], a.out or d)
        elif os.path.isdir(d) and (os.path.exists(os.path.join(d, "metrics_epochs.csv")) or
                                   os.path.exists(os.path.join(d, "metrics_steps.csv"))):
            outs = plot_curves(d) + plot_norm_stats(d)
            if read_landscape(d):
                outs += landscape_figure([d], os.path.join(d, "landscape.png"))
        else:
            sys.exit(f"plot_run: {d} is neither a run directory nor a sweep directory")
    for o in outs:
        print(f"wrote {o}")
    if not outs:
        sys.exit("plot_run: nothing to plot")


if __name__ == "__main__":
    main()
