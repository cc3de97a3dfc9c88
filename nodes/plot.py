"""The SNR Inspector's picture, drawn with Pillow (which ComfyUI requires); the curves come from the core.

Sized for where users see it: a PreviewImage node of 400 × 260 (the example workflows' size) shows the image in
about 380 × 200 px (less its title bar and output row), i.e. at about half of WIDTH × HEIGHT, so text is drawn at
FONT_SIZE = 22 px to stay about 11 px tall there. The legend has its own row above the panels, off the curves.
"""
from __future__ import annotations

import importlib.util
import math
import pathlib
from functools import cache

import numpy as np
from PIL import Image, ImageDraw, ImageFont

WIDTH, HEIGHT = 768, 400
PREVIEW_AREA = (380, 200)  # the image area of a 400 × 260 PreviewImage node, as above
FONT_SIZE = 22
COLORS = ((31, 119, 180), (214, 39, 40))  # the model's schedule, the rescaled one
BLACK = (0, 0, 0)
# What a label says in a font without these glyphs (Pillow's built-in font has no Greek): plain text, not a box
PLAIN = {"ᾱ": "alpha_bar", "√": "sqrt ", "ε": "eps", "σ": "sigma", "−": "-", "…": "..."}
_SURELY_MISSING = "\U0010fffd"  # a private-use code point no font draws: its mask is the font's missing-glyph box


@cache
def font(size: int = FONT_SIZE):
    """DejaVu Sans, which has ᾱ and √: matplotlib's copy when it is installed (found without importing it), else the
    system's; Pillow's own font (labels then fall back to PLAIN) where neither exists."""
    spec = importlib.util.find_spec("matplotlib")
    candidates = [pathlib.Path(p) / "mpl-data" / "fonts" / "ttf" / "DejaVuSans.ttf"
                  for p in (spec.submodule_search_locations or [])] if spec else []
    for candidate in [*map(str, candidates), "DejaVuSans.ttf"]:  # a bare name: Pillow searches the system's fonts
        try:
            return ImageFont.truetype(candidate, size)
        except OSError:
            continue
    return ImageFont.load_default(size)


def has_glyph(fnt, char: str) -> bool:
    """Whether `fnt` draws `char` as itself rather than its missing-glyph box (ASCII is always there)."""
    if ord(char) < 128:
        return True
    mask, missing = fnt.getmask(char), fnt.getmask(_SURELY_MISSING)
    return mask.size != missing.size or bytes(mask) != bytes(missing)


def drawable(fnt, text: str) -> str:
    """`text` with every character `fnt` cannot draw replaced by its PLAIN words (or '?')."""
    return "".join(c if has_glyph(fnt, c) else PLAIN.get(c, "?") for c in text)


class _Canvas:
    """A white RGB image, its font, and the boxes of what was drawn (text and data), for the layout checks."""

    def __init__(self):
        self.image = Image.new("RGB", (WIDTH, HEIGHT), (255, 255, 255))
        self.draw = ImageDraw.Draw(self.image)
        self.font = font()
        self.texts: list[tuple[str, tuple[int, int, int, int]]] = []
        self.data: list[tuple[float, float]] = []

    def text(self, xy, text, fill=BLACK, anchor="la"):
        text = drawable(self.font, text)
        self.draw.text(xy, text, fill=fill, font=self.font, anchor=anchor)
        self.texts.append((text, self.draw.textbbox(xy, text, font=self.font, anchor=anchor)))


def _panel(canvas, box, title, series, y_range, y_ticks):
    """Axes in `box` = (left, top, right, bottom) and one polyline per (t, y) in `series`, coloured as COLORS."""
    left, top, right, bottom = box
    canvas.draw.rectangle(box, outline=BLACK)
    canvas.text(((left + right) / 2, top - 6), title, anchor="md")
    lo, hi = y_range
    t_max = max(max(float(t[-1]) for t, _ in series), 1.0)

    def to_px(t, y):
        return left + (right - left) * t / t_max, bottom - (bottom - top) * (y - lo) / (hi - lo)

    for tick in y_ticks:
        _, py = to_px(0, tick)
        canvas.draw.line((left - 5, py, left, py), fill=BLACK)
        canvas.text((left - 8, py), f"{tick:g}".replace("-", "−"), anchor="rm")
    for tick, anchor in ((0, "la"), (round(t_max / 2), "ma"), (round(t_max), "ra")):
        px, _ = to_px(tick, lo)
        canvas.draw.line((px, bottom, px, bottom + 5), fill=BLACK)
        canvas.text((px, bottom + 6), f"{tick}", anchor=anchor)
    zero_snr_at = None
    for i, (t, y) in enumerate(series):
        finite = np.isfinite(y)
        pts = [to_px(a, min(max(b, lo), hi)) for a, b in zip(t[finite], y[finite])]
        canvas.draw.line(pts, fill=COLORS[i % 2], width=3)
        canvas.data += pts
        if not finite[-1]:  # SNR = 0: log SNR = -inf, marked on the bottom edge
            zero_snr_at, _ = to_px(t[-1], lo)
            canvas.draw.ellipse((zero_snr_at - 6, bottom - 6, zero_snr_at + 6, bottom + 6), outline=COLORS[i % 2],
                                width=3)
            canvas.data.append((zero_snr_at, bottom))
    if zero_snr_at is not None:  # one label, even where both curves end there
        canvas.text((zero_snr_at - 12, bottom - 8), "SNR = 0", anchor="rb")


def draw_schedule(curves: list[tuple[str, dict]]):
    """(PIL image, layout): √ᾱ and log SNR against t for each (label, schedule_curves(...)), side by side, legend
    above. `layout` holds the boxes the tests check: "legend", "data" (all plotted points) and "texts"."""
    canvas = _Canvas()
    x = 60
    for i, (label, _) in enumerate(curves):  # the legend row
        canvas.draw.line((x, 18, x + 28, 18), fill=COLORS[i % 2], width=4)
        canvas.text((x + 36, 18), label, fill=COLORS[i % 2], anchor="lm")
        x = canvas.texts[-1][1][2] + 32
    legend = (56, 2, x - 28, 34)
    sqrt_series = [(c["t"].numpy(), c["sqrt_alpha_bar"].numpy()) for _, c in curves]
    log_series = [(c["t"].numpy(), c["log_snr"].numpy()) for _, c in curves]
    finite = np.concatenate([y[np.isfinite(y)] for _, y in log_series])
    lo, hi = math.floor(finite.min()) - 1, math.ceil(finite.max()) + 1
    top, bottom, half = 76, HEIGHT - 40, WIDTH // 2
    _panel(canvas, (60, top, half - 16, bottom), "√ᾱ against t", sqrt_series, (0.0, 1.0), (0.0, 0.5, 1.0))
    _panel(canvas, (half + 58, top, WIDTH - 16, bottom), "log SNR against t", log_series, (lo, hi), (lo, 0, hi))
    xs, ys = zip(*canvas.data)
    return canvas.image, {"legend": legend, "data": (min(xs), min(ys), max(xs), max(ys)), "texts": canvas.texts}


def schedule_plot(curves: list[tuple[str, dict]]) -> np.ndarray:
    """An RGB image (H, W, 3) in [0, 1]: √ᾱ and log SNR against t for each (label, schedule_curves(...))."""
    return np.asarray(draw_schedule(curves)[0], dtype=np.float32) / 255.0


def draw_message(text: str):
    """(PIL image, layout) holding `text`, wrapped by its drawn width, for a model that has no schedule to plot."""
    canvas = _Canvas()
    margin, words, lines = 24, drawable(canvas.font, text).split(), [""]
    for word in words:
        wider = f"{lines[-1]} {word}".strip()
        lines[-1:] = [wider] if canvas.font.getlength(wider) <= WIDTH - 2 * margin else [lines[-1], word]
    for i, line in enumerate(lines):
        canvas.text((margin, margin + i * round(FONT_SIZE * 1.4)), line)
    return canvas.image, {"texts": canvas.texts}


def message_image(text: str) -> np.ndarray:
    """An RGB image (H, W, 3) in [0, 1] holding `text`, for a model that has no schedule to plot."""
    return np.asarray(draw_message(text)[0], dtype=np.float32) / 255.0
