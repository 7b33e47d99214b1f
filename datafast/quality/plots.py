"""PNG plots of a report, drawn with matplotlib's object API on the Agg canvas (no pyplot, so the
caller's interactive backend is never touched)."""

from __future__ import annotations

import io
import itertools
from collections.abc import Mapping
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

_MAX_BARS = 25


def _png(figure: Figure) -> bytes:
    FigureCanvasAgg(figure)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()


def plot_lengths(report: Mapping[str, Any]) -> bytes | None:
    """Histograms of text length in characters and in words."""
    if not report["total"]:
        return None
    figure = Figure(figsize=(10, 4), layout="constrained")
    for axes, unit in zip(figure.subplots(1, 2), ("chars", "words"), strict=True):
        histogram = report["length"][unit]["histogram"]
        edges, counts = histogram["edges"], histogram["counts"]
        widths = [b - a for a, b in itertools.pairwise(edges)]
        axes.bar(edges[:-1], counts, width=widths, align="edge", edgecolor="white")
        axes.set_xlabel(f"length ({unit})")
        axes.set_ylabel("records")
        axes.set_title(f"Text length in {unit}")
    return _png(figure)


def plot_counts(report: Mapping[str, Any]) -> bytes | None:
    """Bar charts of records per value of the main categorical columns (label, language, model, ...)."""
    columns = [(k, v) for k, v in report["counts"].items() if k != "prompt_template" and len(v) > 0][:4]
    if not columns:
        return None
    figure = Figure(figsize=(5 * len(columns), 4.5), layout="constrained")
    axes_list = figure.subplots(1, len(columns), squeeze=False)[0]
    for axes, (name, counts) in zip(axes_list, columns, strict=True):
        items = list(counts.items())[:_MAX_BARS]
        labels = [value if len(value) <= 24 else value[:23] + "…" for value, _ in items]
        axes.barh(range(len(items)), [c for _, c in items])
        axes.set_yticks(range(len(items)), labels)
        axes.invert_yaxis()
        axes.set_xlabel("records")
        axes.set_title(f"Records per {name}")
    return _png(figure)


def plot_models(report: Mapping[str, Any]) -> bytes | None:
    """Distinct-1/2/3 and near-duplicate rate per model, side by side (only with two models or more)."""
    models = report["per_model"]
    if len(models) < 2:
        return None
    names = list(models)
    metrics = ("distinct_1", "distinct_2", "distinct_3", "near_duplicate_rate")
    figure = Figure(figsize=(max(6, 1.8 * len(names) * 1.5), 4.5), layout="constrained")
    axes = figure.subplots()
    width = 0.8 / len(metrics)
    for i, metric in enumerate(metrics):
        axes.bar([x + i * width for x in range(len(names))], [models[n][metric] for n in names], width, label=metric)
    axes.set_xticks([x + 0.4 - width / 2 for x in range(len(names))], [n[-30:] for n in names])
    axes.set_ylim(0, 1)
    axes.legend()
    axes.set_title("Diversity per model")
    return _png(figure)
