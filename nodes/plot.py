"""The SNR Inspector's picture, drawn with Pillow (which ComfyUI requires); the curves come from the core."""
from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageDraw

WIDTH, HEIGHT, MARGIN = 768, 384, 48
COLORS = ((31, 119, 180), (214, 39, 40))  # the model's schedule, the rescaled one


def _panel(draw, box, title, series, y_range, y_ticks):
    """Axes in `box` = (left, top, right, bottom) and one polyline per (label, t, y) in `series`."""
    left, top, right, bottom = box
    draw.rectangle(box, outline=(0, 0, 0))
    draw.text((left, top - 16), title, fill=(0, 0, 0))
    lo, hi = y_range

    def to_px(t, y, t_max):
        return left + (right - left) * t / t_max, bottom - (bottom - top) * (y - lo) / (hi - lo)

    for tick in y_ticks:
        _, py = to_px(0, tick, 1)
        draw.line((left - 4, py, left, py), fill=(0, 0, 0))
        draw.text((left - 40, py - 6), f"{tick:g}", fill=(0, 0, 0))
    for i, (label, t, y) in enumerate(series):
        t_max = max(float(t[-1]), 1.0)
        finite = np.isfinite(y)
        pts = [to_px(a, min(max(b, lo), hi), t_max) for a, b in zip(t[finite], y[finite])]
        draw.line(pts, fill=COLORS[i % 2], width=2)
        if not finite[-1]:  # SNR = 0: log SNR = -inf, marked at the bottom edge
            x, _ = to_px(t[-1], lo, t_max)
            draw.ellipse((x - 4, bottom - 4, x + 4, bottom + 4), outline=COLORS[i % 2], width=2)
            draw.text((x - 34, bottom - 20), "-inf", fill=COLORS[i % 2])
        draw.text((left + 8, top + 6 + 14 * i), label, fill=COLORS[i % 2])
    for frac in (0.0, 0.5, 1.0):
        draw.text((left + (right - left) * frac - 10, bottom + 4), f"{frac:g}T", fill=(0, 0, 0))


def schedule_plot(curves: list[tuple[str, dict]]) -> np.ndarray:
    """An RGB image (H, W, 3) in [0, 1]: √ᾱ and log SNR against t for each (label, schedule_curves(...))."""
    img = Image.new("RGB", (WIDTH, HEIGHT), (255, 255, 255))
    draw = ImageDraw.Draw(img)
    half = WIDTH // 2
    sqrt_series = [(label, c["t"].numpy(), c["sqrt_alpha_bar"].numpy()) for label, c in curves]
    log_series = [(label, c["t"].numpy(), c["log_snr"].numpy()) for label, c in curves]
    finite = np.concatenate([s[2][np.isfinite(s[2])] for s in log_series])
    lo, hi = math.floor(finite.min()) - 1, math.ceil(finite.max()) + 1
    _panel(draw, (MARGIN, MARGIN, half - 16, HEIGHT - MARGIN), "sqrt(alpha_bar) vs t", sqrt_series, (0.0, 1.0),
           (0.0, 0.5, 1.0))
    _panel(draw, (half + MARGIN, MARGIN, WIDTH - 16, HEIGHT - MARGIN), "log SNR vs t", log_series, (lo, hi),
           (lo, 0, hi))
    return np.asarray(img, dtype=np.float32) / 255.0


def message_image(text: str) -> np.ndarray:
    """An RGB image (H, W, 3) in [0, 1] holding `text`, for a model that has no schedule to plot."""
    img = Image.new("RGB", (WIDTH, HEIGHT), (255, 255, 255))
    draw = ImageDraw.Draw(img)
    words, lines = text.split(), [""]
    for word in words:  # wrap at about 110 characters of Pillow's default font
        lines[-1:] = [lines[-1] + " " + word] if len(lines[-1]) + len(word) < 110 else [lines[-1], word]
    draw.multiline_text((MARGIN // 2, MARGIN), "\n".join(line.strip() for line in lines), fill=(0, 0, 0), spacing=6)
    return np.asarray(img, dtype=np.float32) / 255.0
