"""The main job: Stable Diffusion's flawed pipeline and the paper's fixed one on the toy models, side by side.

Both pipelines sample from the same seeds, once with the trained toy UNets and once with the exact (ideal) denoiser
of the reference data; the table gives the brightness metrics of `toy.metrics`, the figure shows sample grids and
brightness histograms against the data. matplotlib is imported only to draw the figure.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import torch

from .parametrization import EPSILON_AT_ZERO_SNR
from .toy.data import image_grid
from .toy.ideal import IdealDenoiser
from .toy.metrics import SampleMetrics, sample_metrics
from .toy.pipelines import FIXED, FLAWED, PIPELINES, Pipeline, sample, schedule
from .toy.zoo import fd8_floor


@dataclass
class DemoRow:
    key: str
    pipeline: Pipeline
    denoiser: str  # "trained" or "ideal"
    guidance_scale: float
    phi: float
    metrics: SampleMetrics | None
    samples: torch.Tensor | None
    error: str = ""
    seconds: float = 0.0


def run_pipeline(key: str, denoiser: str, model, data, n: int, steps: int, guidance_scale: float, phi: float | None,
                 seed: int, device="cpu", eta: float = 0.0, disable: bool | None = True) -> DemoRow:
    """Sample one pipeline with a trained model (or, for denoiser='ideal', the exact denoiser of `data`)."""
    pipe = PIPELINES[key]
    phi = pipe.phi if phi is None else phi
    if denoiser == "ideal":
        model = IdealDenoiser(data, schedule(pipe.zero_snr), pipe.prediction_type).to(device)
    t0 = time.perf_counter()
    try:
        samples = sample(model, pipe, n, steps, guidance_scale, phi, seed, eta, device=device, disable=disable).cpu()
    except ValueError as err:  # ε-prediction on the zero-SNR schedule: refused by the library, shown as such
        if str(err) != EPSILON_AT_ZERO_SNR:
            raise
        return DemoRow(key, pipe, denoiser, guidance_scale, phi, None, None, str(err).split(":")[0],
                       time.perf_counter() - t0)
    return DemoRow(key, pipe, denoiser, guidance_scale, phi, sample_metrics(samples, data.images), samples,
                   seconds=time.perf_counter() - t0)


def format_table(rows: list[DemoRow], data, n: int) -> str:
    lum = data.images.flatten(1).mean(1)
    head = (f"{'pipeline':<46} {'denoiser':<8} {'w':>4} {'bright std':>10} {'W1':>6} {'dark%':>6} {'bright%':>7} "
            f"{'sat%':>6} {'FD8':>6}")
    lines = [head, "-" * len(head)]
    data_row = (f"{'data (' + str(len(data)) + ' images)':<46} {'':<8} {'':>4} {lum.std():>10.3f} {0:>6.3f} "
                f"{100 * (lum < -0.6).double().mean():>6.1f} {100 * (lum > 0.6).double().mean():>7.1f} "
                f"{0:>6.1f} {fd8_floor(n, data):>6.2f}")
    lines.append(data_row)
    for r in rows:
        label = r.pipeline.label if r.phi == r.pipeline.phi else f"{r.pipeline.label}, φ = {r.phi}"
        start = f"{label:<46} {r.denoiser:<8} {r.guidance_scale:>4g}"
        if r.metrics is None:
            lines.append(f"{start} refused: {r.error}")
            continue
        m = r.metrics
        lines.append(f"{start} {m.brightness_std:>10.3f} {m.w1:>6.3f} {100 * m.dark:>6.1f} {100 * m.bright:>7.1f} "
                     f"{100 * m.saturated:>6.1f} {m.fd8:>6.2f}")
    lines.append(f"\nbright std: std of per-image mean brightness; W1: Wasserstein-1 distance to the data's brightness "
                 f"distribution;\ndark%/bright%: images with mean below -0.6 / above 0.6; sat%: pixel values beyond ±1; "
                 f"FD8: Fréchet distance of 8×8-pooled\nimages to the data (the data row: {n} fresh data images, "
                 f"the floor at this sample size).")
    return "\n".join(lines)


def save_figure(rows: list[DemoRow], data, path: str | Path) -> Path:
    """Sample grids of the flawed and fixed pipelines and their brightness histograms against the data, as one PNG."""
    from matplotlib.figure import Figure  # no pyplot: the caller's backend and open figures are left alone

    shown = [r for r in rows if r.samples is not None]
    fig = Figure(figsize=(13, 4.4 * (len(shown) // 2)))
    axes = fig.subplots(len(shown) // 2, 3, squeeze=False)
    bins = torch.linspace(-1, 1, 41).numpy()
    lum_data = data.images.flatten(1).mean(1).numpy()
    for row_axes, pair in zip(axes, [shown[i:i + 2] for i in range(0, len(shown) - 1, 2)]):
        for ax, r in zip(row_axes[:2], pair):
            ax.imshow(image_grid(r.samples[:64]))
            ax.set_title(f"{r.pipeline.label}\n{r.denoiser} denoiser, w = {r.guidance_scale:g}: "
                         f"W1 = {r.metrics.w1:.3f}", fontsize=9)
            ax.axis("off")
        hist = row_axes[2]
        hist.hist(lum_data, bins=bins, density=True, color="0.75", label="data")
        for r, colour in zip(pair, ("tab:red", "tab:blue")):
            hist.hist(r.samples.flatten(1).mean(1).numpy(), bins=bins, density=True, histtype="step", lw=2,
                      color=colour, label=f"{'flawed' if r.key == FLAWED else 'fixed'} (W1 {r.metrics.w1:.3f})")
        hist.set_xlabel("per-image mean brightness")
        hist.set_ylabel("density")
        hist.set_title(f"brightness, {pair[0].denoiser} denoiser", fontsize=9)
        hist.legend(fontsize=8)
    flawed = next(r for r in shown if r.key == FLAWED)
    fixed = next(r for r in shown if r.key == FIXED)
    a, b = flawed.metrics.w1, fixed.metrics.w1
    verdict = "the fixes recover the data's spread" if b < a else "the fixes do not help at these settings"
    fig.suptitle(f"Brightness vs the data (W1, lower is better): flawed {a:.3f}, fixed {b:.3f} — {verdict}",
                 fontsize=11)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    return path
