"""A procedural image set with a wide, known brightness distribution: shapes on backgrounds of random brightness.

Each image is a flat background of brightness b ~ U(-0.9, 0.9) with a small colour tint, and one shape (the class)
in a random colour, position and size, with anti-aliased edges. Pixel values lie in [-1, 1]. The per-image mean
brightness is therefore spread almost uniformly over [-0.9, 0.9]: this is the low-frequency content that a schedule
with non-zero terminal SNR leaks through x_T (Lin et al. 2024, section 2.2). Deterministic by seed.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from .._checks import check_int

CLASSES = ("disk", "square", "ring", "cross")
NUM_CLASSES = len(CLASSES)  # the null label (unconditional) is NUM_CLASSES
BRIGHTNESS_CLASSES = ("dark", "mid", "bright")
BACKGROUND_RANGE = (-0.9, 0.9)


@dataclass(frozen=True)
class ToyData:
    images: torch.Tensor  # (N, C, H, W) float32 in [-1, 1]
    labels: torch.Tensor  # (N,) int64 in [0, num_classes)
    num_classes: int = len(CLASSES)  # the null (unconditional) label is num_classes

    def __len__(self) -> int:
        return self.images.shape[0]


def make_shapes(n: int, size: int = 32, channels: int = 3, seed: int = 0) -> ToyData:
    """`n` images of `channels` × `size` × `size`, classes balanced in turn, reproducible from `seed` on any machine."""
    n = check_int("n", n, 1)
    size = check_int("size", size, 8, 512, fix="the toy images are small; 32 is the default")
    channels = check_int("channels", channels, 1, 4)
    g = torch.Generator().manual_seed(check_int("seed", seed, 0))
    u = lambda *shape: torch.rand(*shape, generator=g, dtype=torch.float64)
    lo, hi = BACKGROUND_RANGE
    brightness = lo + (hi - lo) * u(n, 1, 1, 1)
    background = brightness + 0.1 * (2 * u(n, channels, 1, 1) - 1)
    colour = 2 * u(n, channels, 1, 1) - 1
    centre = 0.3 + 0.4 * u(n, 2, 1, 1)  # in units of the image side
    radius = 0.12 + 0.14 * u(n, 1, 1, 1)
    labels = torch.arange(n) % len(CLASSES)

    coords = (torch.arange(size, dtype=torch.float64) + 0.5) / size
    dy = coords.view(1, size, 1) - centre[:, 0]  # (N, H, 1)
    dx = coords.view(1, 1, size) - centre[:, 1]  # (N, 1, W)
    r = radius[:, 0]  # (N, 1, 1)
    disk = r - (dx**2 + dy**2).sqrt()
    square = r - torch.maximum(dx.abs(), dy.abs())
    ring = 0.35 * r - ((dx**2 + dy**2).sqrt() - 0.7 * r).abs()
    cross = torch.minimum(r - torch.maximum(dx.abs(), dy.abs()), 0.35 * r - torch.minimum(dx.abs(), dy.abs()))
    inside = torch.stack([disk, square, ring, cross], dim=1)[torch.arange(n), labels]  # signed distance, (N, H, W)
    coverage = (inside * size + 0.5).clamp(0, 1).unsqueeze(1)  # one-pixel anti-aliased edge, (N, 1, H, W)
    images = (1 - coverage) * background + coverage * colour
    return ToyData(images.clamp(-1, 1).float(), labels)


# "Dark" has two meanings here, each with one name: a brightness bucket (a conditioning label: mean below -0.3,
# about 30 % of the data) and an extreme image (the dark% / bright% metric: mean beyond ±0.6, about 11 % / 13 %).
BRIGHTNESS_EDGES = (-0.3, 0.3)  # bucket edges: dark < -0.3 <= mid < 0.3 <= bright
EXTREME_DARK, EXTREME_BRIGHT = -0.6, 0.6  # dark% counts images below -0.6, bright% above 0.6


def brightness(images: torch.Tensor) -> torch.Tensor:
    """Per-image mean over pixels and channels, (N,): the low-frequency signal that leaks at non-zero terminal SNR."""
    return images.flatten(1).mean(1)


def extreme_shares(images: torch.Tensor) -> tuple[float, float]:
    """(dark, bright): the shares of images whose brightness is below EXTREME_DARK / above EXTREME_BRIGHT."""
    lum = brightness(images)
    return float((lum < EXTREME_DARK).double().mean()), float((lum > EXTREME_BRIGHT).double().mean())


def brightness_bucket(images: torch.Tensor, edges: tuple[float, float] = BRIGHTNESS_EDGES) -> torch.Tensor:
    """(N,) int64 bucket of each image's mean brightness: 0 dark (< edges[0]), 1 mid, 2 bright (>= edges[1])."""
    lo, hi = (float(e) for e in edges)
    if not -1.0 <= lo < hi <= 1.0:
        raise ValueError(f"edges must satisfy -1 <= edges[0] < edges[1] <= 1, got {edges}; the default is (-0.3, 0.3)")
    lum = brightness(images)  # (N,)
    return (lum >= lo).long() + (lum >= hi).long()


def label_by_brightness(data: ToyData, edges: tuple[float, float] = BRIGHTNESS_EDGES) -> ToyData:
    """The same images labelled by mean brightness: 0 dark (< edges[0]), 1 mid, 2 bright (>= edges[1]).

    The shape class carries no brightness, so guidance on it cannot over-expose; a brightness label does, which is
    where Lin et al. (2024) see over-exposure at high guidance (Algorithm 2).
    """
    return ToyData(data.images, brightness_bucket(data.images, edges), len(BRIGHTNESS_CLASSES))


def image_grid(images: torch.Tensor, cols: int | None = None, pad: int = 1):
    """(N, C, H, W) images in [-1, 1] as one (rows·(H+pad)+pad, cols·(W+pad)+pad, C) float array in [0, 1] for
    `imshow`, on a white background; values beyond ±1 are clipped, as a viewer clips them. `cols` defaults to
    ⌈√N⌉. Returns numpy (matplotlib's input) from torch alone."""
    if images.ndim != 4:
        raise ValueError(f"images must have shape (N, C, H, W), got {tuple(images.shape)}")
    n, c, h, w = images.shape
    cols = check_int("cols", cols if cols is not None else math.ceil(math.sqrt(n)), 1)
    pad = check_int("pad", pad, 0)
    rows = -(-n // cols)
    canvas = torch.ones(c, rows * (h + pad) + pad, cols * (w + pad) + pad)
    tiles = (images.detach().float().cpu().clamp(-1, 1) + 1) / 2
    for i in range(n):
        y, x = divmod(i, cols)
        top, left = pad + y * (h + pad), pad + x * (w + pad)
        canvas[:, top:top + h, left:left + w] = tiles[i]
    return canvas.permute(1, 2, 0).numpy()


def grid_column_centres(cols: int, width: int, pad: int = 1) -> list[float]:
    """x of each column's centre in an `image_grid` of images `width` pixels wide (imshow's pixel coordinates)."""
    return [pad + j * (width + pad) + (width - 1) / 2 for j in range(cols)]
