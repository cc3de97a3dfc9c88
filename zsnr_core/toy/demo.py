"""The main job: Stable Diffusion's flawed pipeline and the paper's fixed one on the toy models, side by side.

Both pipelines sample from the same seeds, once with the trained toy UNets and once with the exact (ideal) denoiser
of the reference data; the table gives the brightness metrics of `toy.metrics` and, through the toy's shape
classifier, class accuracy, IS and toy-FID; the figure shows sample grids (one asked shape per column) and
brightness histograms against the data. matplotlib is imported only to draw the figure.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import torch

from ..errors import EpsilonAtZeroSNRError
from .classifier import predict
from .data import (
    CLASSES,
    EXTREME_BRIGHT,
    EXTREME_DARK,
    brightness,
    extreme_shares,
    grid_column_centres,
    image_grid,
    make_shapes,
)
from .experiments import asked_classes
from .ideal import IdealDenoiser
from .metrics import SampleMetrics, class_accuracy, inception_score, sample_metrics
from .pipelines import FIXED, FLAWED, PIPELINES, Pipeline, sample, toy_alphas_cumprod
from .zoo import REFERENCE_SEED, fd8_floor, fid_floor


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
                 seed: int, device="cpu", eta: float = 0.0, disable: bool | None = True, classifier=None,
                 features=None) -> DemoRow:
    """Sample one pipeline with a trained model (or, for denoiser='ideal', the exact denoiser of `data`); with
    `classifier` (and the reference `features`, else computed) the metrics include accuracy, IS and toy-FID."""
    pipe = PIPELINES[key]
    phi = pipe.phi if phi is None else phi
    if denoiser == "ideal":
        model = IdealDenoiser(data, toy_alphas_cumprod(pipe.zero_snr), pipe.prediction_type).to(device)
    t0 = time.perf_counter()
    try:
        samples = sample(model, pipe, n, steps, guidance_scale, phi, seed, eta, device=device, disable=disable).cpu()
    except EpsilonAtZeroSNRError as err:  # ε-prediction on the zero-SNR schedule: refused by the library, shown
        return DemoRow(key, pipe, denoiser, guidance_scale, phi, None, None, err.short, time.perf_counter() - t0)
    metrics = sample_metrics(samples, data.images, asked_classes(n), classifier, features)
    return DemoRow(key, pipe, denoiser, guidance_scale, phi, metrics, samples, seconds=time.perf_counter() - t0)


def demo_rows(models, data, n: int, steps: int, guidance_scale: float, phi: float, seed: int, device, classifier,
              features, ideal: bool = True, log=None) -> list[DemoRow]:
    """The demo's rows: flawed and fixed with the trained `models` ({"flawed", "fixed"}), then with the exact
    denoiser and zero SNR + ε (refused) when `ideal`; `log(text)` after each sampled pipeline."""
    rows = []
    for denoiser in ("trained",) + (("ideal",) if ideal else ()):
        for key in (FLAWED, FIXED):
            rows.append(run_pipeline(key, denoiser, models["fixed" if key == FIXED else "flawed"], data, n, steps,
                                     guidance_scale, phi if key == FIXED else None, seed, device,
                                     classifier=classifier, features=features))
            if log is not None:
                log(f"  sampled {rows[-1].pipeline.label} ({denoiser} denoiser) in {rows[-1].seconds:.1f} s")
    if ideal:
        rows.append(run_pipeline("zsnr_eps", "ideal", None, data, n, steps, guidance_scale, None, seed, device))
    return rows


def _learned(value, spec: str, width: int) -> str:
    return f"{'—' if value is None else format(value, spec):>{width}}"


def data_scores(n: int, classifier, features) -> tuple[float, float, float]:
    """Class accuracy, IS and toy-FID of `n` fresh data images (the FD floor's set): the ceiling of any sampler."""
    fresh = make_shapes(n, seed=REFERENCE_SEED + 1)
    probs, _ = predict(classifier, fresh.images)
    return (class_accuracy(probs, fresh.labels), inception_score(probs),
            fid_floor(n, classifier, features=features))


def format_table(rows: list[DemoRow], data, n: int, classifier=None, features=None, scores=None) -> str:
    """The demo's table; with `classifier` the data row also gives the data's own accuracy, IS and toy-FID
    (`scores`, from `data_scores`, if already computed)."""
    lum = brightness(data.images)
    dark, bright = extreme_shares(data.images)
    head = (f"{'pipeline':<46} {'denoiser':<8} {'w':>4} {'acc':>5} {'IS':>5} {'FID':>6} {'bright std':>10} {'W1':>6} "
            f"{'dark%':>6} {'bright%':>7} {'sat%':>6} {'FD8':>6}")
    lines = [head, "-" * len(head)]
    acc = inception = fid = None
    if scores is not None or classifier is not None:
        acc, inception, fid = scores or data_scores(n, classifier, features)
    label = f"data ({len(data)} images; scores: {n} fresh)"
    data_row = (f"{label:<46} {'':<8} {'':>4} {_learned(acc, '.2f', 5)} "
                f"{_learned(inception, '.2f', 5)} {_learned(fid, '.2f', 6)} {lum.std():>10.3f} {0:>6.3f} "
                f"{100 * dark:>6.1f} {100 * bright:>7.1f} "
                f"{0:>6.1f} {fd8_floor(n, data):>6.2f}")
    lines.append(data_row)
    for r in rows:
        label = r.pipeline.label if r.phi == r.pipeline.phi else f"{r.pipeline.label}, φ = {r.phi}"
        start = f"{label:<46} {r.denoiser:<8} {r.guidance_scale:>4g}"
        if r.metrics is None:
            lines.append(f"{start} refused: {r.error}")
            continue
        m = r.metrics
        lines.append(f"{start} {_learned(m.accuracy, '.2f', 5)} {_learned(m.inception, '.2f', 5)} "
                     f"{_learned(m.fid, '.2f', 6)} {m.brightness_std:>10.3f} {m.w1:>6.3f} {100 * m.dark:>6.1f} "
                     f"{100 * m.bright:>7.1f} {100 * m.saturated:>6.1f} {m.fd8:>6.2f}")
    lines.append(f"\nacc: share of samples the toy's shape classifier puts in the class they were asked for; IS: its "
                 f"Inception Score (1 to 4);\nFID: Fréchet distance of its penultimate features to the data's "
                 f"(toy-FID); bright std: std of per-image mean\nbrightness; W1: Wasserstein-1 distance to the data's "
                 f"brightness distribution; dark%/bright%: images with mean below {EXTREME_DARK} /\nabove "
                 f"{EXTREME_BRIGHT}; sat%: pixel values beyond ±1; FD8: Fréchet distance of 8×8-pooled images to the "
                 f"data. The data row: brightness\nfrom the {len(data)} reference images; acc, IS, FID and FD8 from "
                 f"{n} fresh data images, the ceiling (acc, IS) and floor\n(FID, FD8) at this sample size.")
    return "\n".join(lines)


def _verdict(flawed: SampleMetrics, fixed: SampleMetrics, data_fid: float | None = None) -> str:
    """One clause per metric the rows have: what the table says, no more."""
    parts = [f"brightness W1 {flawed.w1:.3f} → {fixed.w1:.3f} ({'better' if fixed.w1 < flawed.w1 else 'not better'})"]
    if flawed.accuracy is not None and fixed.accuracy is not None:
        parts.append(f"shape accuracy {flawed.accuracy:.2f} → {fixed.accuracy:.2f} "
                     f"({'as good or better' if fixed.accuracy >= flawed.accuracy else 'worse'})")
        floor = "" if data_fid is None else f"; fresh data: {data_fid:.2f}"
        parts.append(f"toy-FID {flawed.fid:.2f} → {fixed.fid:.2f} "
                     f"({'better' if fixed.fid <= flawed.fid else 'worse'}{floor})")
    return "flawed → fixed: " + "; ".join(parts)


def save_figure(rows: list[DemoRow], data, path: str | Path, per_grid: int = 32, data_fid: float | None = None) -> Path:
    """Sample grids of the flawed and fixed pipelines (8 columns: column j asks for shape j mod 4) and their
    brightness histograms against the data, as one PNG; `data_fid` (fresh data's toy-FID) goes into the title."""
    from matplotlib.figure import Figure  # no pyplot: the caller's backend and open figures are left alone

    shown = [r for r in rows if r.samples is not None]
    cols = 2 * len(CLASSES)
    fig = Figure(figsize=(15, 4.2 * (len(shown) // 2)))
    axes = fig.subplots(len(shown) // 2, 3, squeeze=False, gridspec_kw={"width_ratios": [1.25, 1.25, 1]})
    bins = torch.linspace(-1, 1, 41).numpy()
    lum_data = brightness(data.images).numpy()
    for row_axes, pair in zip(axes, [shown[i:i + 2] for i in range(0, len(shown) - 1, 2)]):
        for ax, r in zip(row_axes[:2], pair):
            ax.imshow(image_grid(r.samples[:per_grid], cols=cols), interpolation="nearest")
            m = r.metrics
            score = "" if m.accuracy is None else f"acc {m.accuracy:.2f}, FID {m.fid:.2f}, "
            ax.set_title(f"{r.pipeline.label}\n{r.denoiser} denoiser, w = {r.guidance_scale:g}: {score}W1 {m.w1:.3f}",
                         fontsize=9)
            ax.set_xticks(grid_column_centres(cols, r.samples.shape[-1]),
                          [CLASSES[j % len(CLASSES)] for j in range(cols)], fontsize=7)
            ax.set_yticks([])
            ax.tick_params(length=0)
            for spine in ax.spines.values():
                spine.set_visible(False)
        hist = row_axes[2]
        hist.hist(lum_data, bins=bins, density=True, color="0.75", label="data")
        for r, colour in zip(pair, ("tab:red", "tab:blue")):
            hist.hist(brightness(r.samples).numpy(), bins=bins, density=True, histtype="step", lw=2,
                      color=colour, label=f"{'flawed' if r.key == FLAWED else 'fixed'} (W1 {r.metrics.w1:.3f})")
        hist.set_xlabel("per-image mean brightness")
        hist.set_ylabel("density")
        hist.set_title(f"brightness, {pair[0].denoiser} denoiser", fontsize=9)
        hist.legend(fontsize=8)
    flawed = next(r for r in shown if r.key == FLAWED and r.denoiser == "trained")
    fixed = next(r for r in shown if r.key == FIXED and r.denoiser == "trained")
    fig.suptitle(f"Trained toy models, {len(flawed.samples)} samples each: {_verdict(flawed.metrics, fixed.metrics, data_fid)}",
                 fontsize=10)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    return path
