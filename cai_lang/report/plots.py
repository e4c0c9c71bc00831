"""The report's plots (matplotlib, Agg backend, PNG files): one metric per panel, bars that never show a placeholder.

`plot_panels` draws a grid of small panels, one per metric, with one line
per model on each, so a loss of 7 and an accuracy of 0.6 never share an
axis. Lines carry markers while there are few points (a two-step run reads
as two dots joined, not as an empty frame) and thin them out when there
are thousands; the step axis has integer ticks. `plot_bars` and
`grouped_bars` draw shares and counts, leaving out categories without a
name instead of labelling a bar `None`. matplotlib is imported only when a
plot is drawn, so the page module stays importable without the train extra.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

COLOURS = ("#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3", "#937860")
MARKERS_UP_TO = 60  # points per line drawn with a marker on every point


def pyplot():
    """matplotlib's pyplot on the Agg backend (files only, no display needed)."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=100, metadata={"Software": "caic"})
    pyplot().close(fig)
    return path


Series = Mapping[str, tuple[Sequence[float], Sequence[float]]]  # model -> (steps, values)


def plot_panels(panels: Mapping[str, Series], path: Path, columns: int = 2) -> Path | None:
    """One panel per metric title, one line per model in it; None when there is nothing to draw."""
    panels = {title: series for title, series in panels.items() if any(values for _, values in series.values())}
    if not panels:
        return None
    from matplotlib.ticker import MaxNLocator

    plt = pyplot()
    columns = min(columns, len(panels))
    rows = math.ceil(len(panels) / columns)
    fig, axes = plt.subplots(rows, columns, figsize=(5.2 * columns, 2.9 * rows), squeeze=False)
    models = sorted({name for series in panels.values() for name in series})
    colour = {name: COLOURS[i % len(COLOURS)] for i, name in enumerate(models)}
    for ax, (title, series) in zip(axes.flat, panels.items()):
        for name, (steps, values) in series.items():
            if not values:
                continue
            every = 1 if len(values) <= MARKERS_UP_TO else max(1, len(values) // 30)
            ax.plot(steps, values, marker="o", markersize=4 if every == 1 else 3, markevery=every, linewidth=1.4, color=colour[name], label=name)
            if len(values) == 1:
                ax.annotate(f"{values[0]:.4g}", (steps[0], values[0]), textcoords="offset points", xytext=(6, 4), fontsize=8)
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("training step", fontsize=8)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.tick_params(labelsize=8)
        ax.grid(alpha=0.3)
        if len(series) > 1:
            ax.legend(fontsize=7)
    for ax in list(axes.flat)[len(panels) :]:
        ax.axis("off")
    return save_figure(fig, path)


def plot_histograms(values: Mapping[str, Sequence[float]], xlabel: str, path: Path) -> Path | None:
    """A small histogram per item over [0, 1]."""
    values = {name: list(v) for name, v in values.items() if v}
    if not values:
        return None
    plt = pyplot()
    names = sorted(values)
    columns = min(4, len(names))
    rows = math.ceil(len(names) / columns)
    fig, axes = plt.subplots(rows, columns, figsize=(2.9 * columns, 2.2 * rows), squeeze=False)
    bins = [i / 20 for i in range(21)]
    for ax, name in zip(axes.flat, names):
        ax.hist(values[name], bins=bins, color=COLOURS[0], edgecolor="white")
        ax.set_title(f"{name} (n={len(values[name])})", fontsize=8)
        ax.set_xlim(0, 1)
        ax.set_xlabel(xlabel, fontsize=7)
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[len(names) :]:
        ax.axis("off")
    return save_figure(fig, path)


def plot_bars(counts: Mapping[str, float], title: str, ylabel: str, path: Path, *, reference: float | None = None,
              limits: tuple[float, float] | None = None) -> Path | None:
    """One bar per named category; None (no figure) when fewer than two categories are left to compare."""
    counts = {str(k): v for k, v in counts.items() if k not in (None, "None", "") and v is not None}
    if len(counts) < 2:
        return None
    return grouped_bars({k: [v] for k, v in counts.items()}, [ylabel], title, path, reference=reference, limits=limits, legend=False)


def grouped_bars(values: Mapping[str, Sequence[float]], sides: Sequence[str], title: str, path: Path, *,
                 reference: float | None = None, limits: tuple[float, float] | None = (0, 1.05), legend: bool = True) -> Path | None:
    """Bars per category, one per side (model, baseline), with the value written on each bar."""
    if not values:
        return None
    plt = pyplot()
    names = list(values)
    fig, ax = plt.subplots(figsize=(min(12, max(4.8, 0.9 * len(names) * len(sides) + 2.5)), 3.4))
    width = 0.8 / len(sides)
    for k, side in enumerate(sides):
        xs = [i + (k - (len(sides) - 1) / 2) * width for i in range(len(names))]
        heights = [values[n][k] for n in names]
        bars = ax.bar(xs, heights, width=width, label=side, color=COLOURS[k % len(COLOURS)])
        ax.bar_label(bars, labels=[f"{h:.2g}" for h in heights], fontsize=7, padding=1)
    ax.set_xticks(range(len(names)), names, rotation=20 if len(names) > 3 else 0, ha="right" if len(names) > 3 else "center", fontsize=8)
    if reference is not None:
        ax.axhline(reference, color="#c44e52", linestyle="--", linewidth=1)
    if limits:
        ax.set_ylim(*limits)
    ax.set_title(title, fontsize=10)
    if legend and len(sides) > 1:
        ax.legend(fontsize=8)
    return save_figure(fig, path)


def plot_reliability(curves: Mapping[str, Sequence[Mapping]], path: Path) -> Path | None:
    """Reliability diagram: per curve, each non-empty bin's mean predicted probability against the observed frequency.

    `curves` maps a name to calibration bins (`low`, `high`, `count`,
    `mean_predicted`, `observed`); the diagonal is perfect calibration, and
    each point's size follows its bin's count.
    """
    curves = {name: [b for b in bins if b["count"]] for name, bins in curves.items()}
    curves = {name: bins for name, bins in curves.items() if bins}
    if not curves:
        return None
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5.2, 4.6))
    ax.plot([0, 1], [0, 1], color="#888888", linestyle="--", linewidth=1, label="perfect calibration")
    for k, (name, bins) in enumerate(curves.items()):
        total = sum(b["count"] for b in bins)
        xs, ys = [b["mean_predicted"] for b in bins], [b["observed"] for b in bins]
        sizes = [20 + 180 * b["count"] / total for b in bins]
        ax.plot(xs, ys, color=COLOURS[k % len(COLOURS)], linewidth=1.2, label=name)
        ax.scatter(xs, ys, s=sizes, color=COLOURS[k % len(COLOURS)], zorder=3)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("predicted P(A better)", fontsize=9)
    ax.set_ylabel("observed frequency A preferred by people", fontsize=9)
    ax.set_title("Calibration of the feedback model", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    return save_figure(fig, path)
