"""The few-step benchmark's scoring, shared by benchmarks/fewstep_benchmark.py (which runs ComfyUI's samplers) and
tests/test_fewstep_benchmark.py (which checks the scores against closed forms without ComfyUI).

Gaussian data sets x0 ~ N(MU, s²) per element, one per batch item (s in SCALES); exact denoiser:
zsnr_core.toy.gaussian_denoiser. Categories keep our samplers/schedules apart from the built-ins in the ranking.
"""
from __future__ import annotations

import math

import torch

MU, SCALES = 0.3, (0.25, 0.5, 1.0, 2.0)  # the Gaussian data sets, one per batch item
OLD_S = 1  # the item of the first edition's single data set, s = 0.5
OUR_LABELS = ["ours: dpmpp_2m_zsnr × zsnr_fewstep"]  # every label of ours starts with "ours"


CATEGORIES = {"built-in": "best built-in sampler × built-in scheduler",
              "schedule": "best built-in sampler × zsnr_* scheduler",
              "ours": "best of our samplers × any scheduler"}


def category(key: str) -> str:
    """Whose parts a combination uses: "ours" (our sampler: a zsnr_* KSampler entry or an OURS row), "schedule"
    (a built-in sampler with a zsnr_* scheduler) or "built-in" (both ComfyUI's)."""
    if key in OUR_LABELS or key.startswith("zsnr_"):
        return "ours"
    return "schedule" if key.split(" × ")[1].startswith("zsnr_") else "built-in"


def gaussian_errors(out):
    """(worst over the data sets of max(|mean - μ|, |std - s|)/s, |std - 0.5|/0.5 of the s = 0.5 set)."""
    if not torch.isfinite(out).all():
        return math.inf, math.inf
    out = out.double().flatten(1)
    s = torch.tensor(SCALES, dtype=torch.float64)
    err = torch.maximum((out.mean(1) - MU).abs(), (out.std(1) - s).abs()) / s
    return err.max().item(), abs(out[OLD_S].std().item() - SCALES[OLD_S]) / SCALES[OLD_S]


def angle_sigmas(steps, sigma_min):
    """inf, then σ = 1/tan(θ) for θ uniform from 0 to arctan(1/sigma_min) (the angle of √ᾱ = sin θ), then 0."""
    theta = torch.linspace(0, math.atan(1 / sigma_min), steps, dtype=torch.float64)[1:]
    inf, zero = torch.tensor([math.inf, 0.0], dtype=torch.float64).split(1)
    return torch.cat([inf, 1 / torch.tan(theta), zero])


def standard_noise(shape, seed):
    """Noise standardised to mean 0, std 1 per batch item."""
    n = torch.randn(shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64).flatten(1)
    return ((n - n.mean(1, keepdim=True)) / n.std(1, keepdim=True)).view(shape).float()


def ranked(scores: dict, budget: int):
    rows = [(v[str(budget)], k) for k, v in scores.items() if str(budget) in v]
    return sorted(rows, key=lambda r: (math.isnan(r[0]), r[0]))


def markdown_table(results: dict) -> str:
    """The table of docs/fewstep.md, from the results JSON: per call budget, ours, the best of each category, rank."""
    calls = results["config"]["calls"]
    label = OUR_LABELS[0]
    rows = [("| model calls | " + " | ".join(str(b) for b in calls) + " |"), "|---|" + "---|" * len(calls)]

    def cell(scores, budget, key=None, fmt="{:.2%}"):
        if key is None:
            return fmt.format(scores[label][str(budget)])
        return f"{fmt.format(scores[key][str(budget)])} ({key})" if key in scores and str(budget) in scores[key] \
            else "-"

    def best(scores, budget, cat):
        rows_ = [(v, k) for v, k in ranked(scores, budget) if category(k) == cat]
        return rows_[0][1] if rows_ else None

    parts = [("Gaussian, worst of s = 0.25…2", "{:.2%}", results["gaussian"]),
             ("Gaussian s = 0.5 alone, \\|std − 0.5\\|/0.5", "{:.2%}", results["gaussian_s05"])]
    if results.get("toy_ode"):
        parts += [("toy ODE error (RMS to the exact endpoint)", "{:.4f}", results["toy_ode"]),
                  (f"toy brightness W1 (exact endpoints: {results['toy_floor'][0]:.3f})", "{:.3f}",
                   {k: {b: v[0] for b, v in d.items()} for k, d in results["toy"].items()})]
    for title, fmt, scores in parts:
        rows.append(f"| {title}: **ours** ({label[6:]}) | " + " | ".join(f"**{cell(scores, b, fmt=fmt)}**"
                                                                         for b in calls) + " |")
        for cat, name in CATEGORIES.items():
            rows.append(f"| {name} | " + " | ".join(cell(scores, b, best(scores, b, cat), fmt) for b in calls) + " |")
        rows.append("| rank of ours | " + " | ".join(
            f"{[k for _, k in ranked(scores, b)].index(label) + 1} of {len(ranked(scores, b))}" for b in calls) + " |")
    return "\n".join(rows)
