"""PNG plots of a report, drawn with Pillow: bar charts with a frame, grid, ticks, axis labels and a title.

A plot takes a few milliseconds to draw (matplotlib took a fifth of a second a plot, plus half a second to
import), so a run draws its plots when its last record is written without keeping anyone waiting.
"""

from __future__ import annotations

import functools
import importlib.util
import io
import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, ImageFont

_MAX_BARS = 25
_COLOURS = ((31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40))  # matplotlib's first four
_INK = (34, 34, 34)
_GRID = (228, 228, 228)
_TICK, _LABEL, _TITLE = 12, 13, 15  # font sizes in pixels

Font = ImageFont.FreeTypeFont | ImageFont.ImageFont


@functools.cache
def _font(size: int) -> Font:
    """DejaVu Sans from matplotlib's data when it is installed (found without importing matplotlib), else
    Pillow's own font."""
    spec = importlib.util.find_spec("matplotlib")
    for folder in (spec.submodule_search_locations or []) if spec else []:
        path = Path(folder, "mpl-data", "fonts", "ttf", "DejaVuSans.ttf")
        if path.is_file():
            return ImageFont.truetype(str(path), size)
    return ImageFont.load_default(size)


def warm_up() -> None:
    """Load the fonts (what a first plot would otherwise load)."""
    for size in (_TICK, _LABEL, _TITLE):
        _font(size)


class _Panel:
    """One plot area of a chart: a pixel box with data ranges mapped onto it, drawn with its grid, frame,
    ticks, axis labels and title."""

    def __init__(
        self, chart: Image.Image, box: tuple[float, float, float, float], x: tuple[float, float], y: tuple[float, float]
    ) -> None:
        self.image, self.draw = chart, ImageDraw.Draw(chart)
        self.left, self.top, self.right, self.bottom = box
        self.x, self.y = x, y

    def px(self, value: float) -> float:
        low, high = self.x
        return self.left + (value - low) / ((high - low) or 1) * (self.right - self.left)

    def py(self, value: float) -> float:
        low, high = self.y
        return self.bottom - (value - low) / ((high - low) or 1) * (self.bottom - self.top)

    def bar(self, x0: float, x1: float, y0: float, y1: float, colour: tuple[int, int, int]) -> None:
        """A filled rectangle between data coordinates."""
        left, right = sorted((self.px(x0), self.px(x1)))
        top, bottom = sorted((self.py(y1), self.py(y0)))
        self.draw.rectangle((left, top, max(left, right - 1), bottom), fill=colour)

    def grid(self, ticks: Sequence[tuple[float, str]], axis: str) -> None:
        """Light lines across the panel at each tick of `axis` ("x": vertical lines, "y": horizontal)."""
        for value, _ in ticks:
            if axis == "x":
                self.draw.line((self.px(value), self.top, self.px(value), self.bottom), fill=_GRID)
            else:
                self.draw.line((self.left, self.py(value), self.right, self.py(value)), fill=_GRID)

    def frame(
        self,
        title: str,
        xlabel: str,
        ylabel: str,
        xticks: Sequence[tuple[float, str]],
        yticks: Sequence[tuple[float, str]],
    ) -> None:
        """Frame, ticks with their labels, axis labels and title, drawn over the bars."""
        draw, tick, label = self.draw, _font(_TICK), _font(_LABEL)
        draw.rectangle((self.left, self.top, self.right, self.bottom), outline=_INK)
        for value, text in xticks:
            x = self.px(value)
            draw.line((x, self.bottom, x, self.bottom + 4), fill=_INK)
            draw.text((x, self.bottom + 6), text, font=tick, fill=_INK, anchor="mt")
        for value, text in yticks:
            y = self.py(value)
            draw.line((self.left - 4, y, self.left, y), fill=_INK)
            draw.text((self.left - 6, y), text, font=tick, fill=_INK, anchor="rm")
        middle = (self.left + self.right) / 2
        draw.text((middle, self.bottom + 26), xlabel, font=label, fill=_INK, anchor="mt")
        draw.text((middle, self.top - 10), title, font=_font(_TITLE), fill=_INK, anchor="ms")
        if ylabel:
            widest = max((draw.textlength(text, font=tick) for _, text in yticks), default=0)
            _vertical_text(self.image, (self.left - 14 - widest, (self.top + self.bottom) / 2), ylabel, label)


def _vertical_text(image: Image.Image, centre: tuple[float, float], text: str, font: Font) -> None:
    left, top, right, bottom = font.getbbox(text)
    mask = Image.new("L", (int(right - left) + 2, int(bottom - top) + 2))
    ImageDraw.Draw(mask).text((1 - left, 1 - top), text, font=font, fill=255)
    mask = mask.rotate(90, expand=True)
    image.paste(_INK, (int(centre[0] - mask.width), int(centre[1] - mask.height / 2)), mask)


def _ticks(low: float, high: float, *, integer: bool = True, most: int = 6) -> list[tuple[float, str]]:
    """Round tick values (steps of 1, 2, 2.5 or 5 times a power of ten) from `low` to `high`, labelled."""
    if high <= low:
        return [(low, _number(low))]
    magnitude = 10 ** math.floor(math.log10((high - low) / most))
    steps = [m * magnitude for m in (1, 2, 2.5, 5, 10) if not integer or (m * magnitude) % 1 == 0]
    step = next((s for s in steps if (high - low) / s <= most), steps[-1]) if steps else 1
    first = math.ceil(low / step - 1e-9)
    count = math.floor(high / step + 1e-9) - first + 1
    return [(round((first + i) * step, 10), _number(round((first + i) * step, 10))) for i in range(count)]


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="png", compress_level=3)
    return buffer.getvalue()


def _short(value: str, width: int) -> str:
    return value if len(value) <= width else value[: width - 1] + "…"


def plot_lengths(report: Mapping[str, Any]) -> bytes | None:
    """Histograms of text length in characters and in words."""
    if not report["total"]:
        return None
    image = Image.new("RGB", (1000, 400), "white")
    for i, unit in enumerate(("chars", "words")):
        histogram = report["length"][unit]["histogram"]
        edges, counts = histogram["edges"], histogram["counts"]
        yticks = _ticks(0, max(counts) * 1.05)
        left = 500 * i + 40 + max(ImageDraw.Draw(image).textlength(t, font=_font(_TICK)) for _, t in yticks)
        panel = _Panel(image, (left, 40, 500 * i + 485, 345), (edges[0], edges[-1]), (0, max(counts) * 1.05))
        xticks = _ticks(edges[0], edges[-1])
        panel.grid(yticks, "y")
        for start, end, count in zip(edges, edges[1:], counts, strict=False):
            if count:
                panel.bar(start, end, 0, count, _COLOURS[0])
        panel.frame(f"Text length in {unit}", f"length ({unit})", "records", xticks, yticks)
    return _png(image)


def plot_counts(report: Mapping[str, Any]) -> bytes | None:
    """Bar charts of records per value of the main categorical columns (label, language, model, ...) and
    placeholders, up to four panels. A column with one value for every record would be a panel with one bar:
    such columns share one panel instead, a bar each, and only when no column has two values or more."""
    from datafast.quality.report import count_columns

    counted = [(name, counts) for name, counts in count_columns(report) if name != "prompt_template" and counts]
    columns = [(f"Records per {name}", counts) for name, counts in counted if len(counts) > 1][:4]
    if not columns and counted:
        same = {f"{name}: {value}": n for name, counts in counted for value, n in counts.items()}
        columns = [("One value for every record", same)]
    if not columns:
        return None
    image = Image.new("RGB", (500 * len(columns), 450), "white")
    measure: Callable[[str], float] = functools.partial(ImageDraw.Draw(image).textlength, font=_font(_TICK))
    for i, (title, counts) in enumerate(columns):
        items = list(counts.items())[:_MAX_BARS]
        labels = [_short(value, 24 if len(columns) > 1 else 40) for value, _ in items]
        most = max(c for _, c in items) * 1.05
        left = 500 * i + 16 + min(220, max(measure(label) for label in labels))
        panel = _Panel(image, (left, 40, 500 * i + 485, 395), (0, most), (len(items) - 0.5, -0.5))
        xticks = _ticks(0, most)
        panel.grid(xticks, "x")
        for row, (_, count) in enumerate(items):
            panel.bar(0, count, row - 0.4, row + 0.4, _COLOURS[0])
        panel.frame(title, "records", "", xticks, list(enumerate(labels)))
    return _png(image)


def plot_models(report: Mapping[str, Any]) -> bytes | None:
    """Distinct-1/2/3 and near-duplicate rate per model, side by side (one model: its four bars)."""
    models = report["per_model"]
    if not models:
        return None
    names = list(models)
    metrics = ("distinct_1", "distinct_2", "distinct_3", "near_duplicate_rate")
    image = Image.new("RGB", (max(600, 270 * len(names)), 450), "white")
    panel = _Panel(image, (60, 40, image.width - 16, 385), (-0.5, len(names) - 0.5), (0, 1))
    yticks = _ticks(0, 1, integer=False)
    panel.grid(yticks, "y")
    width = 0.8 / len(metrics)
    for m, metric in enumerate(metrics):
        for x, name in enumerate(names):
            start = x - 0.4 + m * width
            panel.bar(start, start + width, 0, models[name][metric], _COLOURS[m])
    panel.frame("Diversity per model", "", "", [(x, _short(n[-30:], 30)) for x, n in enumerate(names)], yticks)
    draw, font = ImageDraw.Draw(image), _font(_TICK)  # the legend: one row under the axis
    widths = [22 + draw.textlength(metric, font=font) for metric in metrics]
    left = (panel.left + panel.right - sum(widths) - 20 * (len(metrics) - 1)) / 2
    y = panel.bottom + 36
    for m, (metric, width) in enumerate(zip(metrics, widths, strict=True)):
        draw.rectangle((left, y - 5, left + 14, y + 5), fill=_COLOURS[m])
        draw.text((left + 20, y), metric, font=font, fill=_INK, anchor="lm")
        left += width + 20
    return _png(image)
