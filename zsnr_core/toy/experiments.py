"""The two measurements of the toy reproduction, shared by the demo, the manifest, the benchmarks and the notebooks.

- `shape_scores`: a pipeline sampled by shape alone (sample i asks for shape i mod 4), with every metric of
  `toy.metrics`: brightness (W1, FD₈) and, through the classifier, class accuracy, IS and toy-FID.
- `brightness_guidance`: the same, each sample also asked for one brightness bucket ("dark" or "bright"), with
  guidance w and rescale φ: how many samples land in the asked bucket, how many pixels leave [-1, 1] (over-exposure),
  the largest |x̂₀| the sampler met (Lin et al. 2024, section 3.4: guidance pushes x̂₀ out of range at SNR = 0),
  and whether the shape survives.
"""
from __future__ import annotations

import torch

from .classifier import predict
from .data import BRIGHTNESS_CLASSES, CLASSES, brightness_bucket
from .metrics import brightness, class_accuracy, sample_metrics, wasserstein1
from .pipelines import PIPELINES, sample


def asked_classes(n: int) -> torch.Tensor:
    """The class each of `n` samples of `pipelines.sample` asks for: i mod 4."""
    return torch.arange(n) % len(CLASSES)


def shape_scores(model, key: str, n: int, steps: int, guidance_scale: float, reference, phi: float | None = None,
                 seed: int = 0, device="cpu", classifier=None, features=None) -> dict:
    """`toy.metrics.sample_metrics` of `n` samples of pipeline `key`, as a dict (classifier metrics None without)."""
    x = sample(model, PIPELINES[key], n, steps, guidance_scale, phi, seed, device=device).cpu()
    return sample_metrics(x, reference.images, asked_classes(n), classifier, features).as_dict()


# The over-exposure experiment's grid (pipeline, w, φ): the flawed pipeline and the fixed one with and without
# Algorithm 2, at w = 1, 5 and 10; each row is asked for "dark" and for "bright".
BRIGHTNESS_GUIDANCE_ROWS = [("sd", w, 0.0) for w in (1.0, 5.0, 10.0)] + [
    ("zsnr_v_trailing", w, phi) for w in (1.0, 5.0, 10.0) for phi in (0.0, 0.7)]


def brightness_guidance(model, key: str, bucket: str, n: int, steps: int, guidance_scale: float,
                        phi: float | None = None, seed: int = 0, device="cpu", classifier=None,
                        data_images: torch.Tensor | None = None) -> dict:
    """Samples asked for shape i mod 4 and brightness `bucket`; the over-exposure and delivery figures as a dict.

    With `data_images`, also "w1_bucket": W1 between the samples' brightness and that of the data's images in the
    asked bucket (unclipped, as `sample_metrics` measures W1): whether what is asked for fits the data, not only
    lands in the bucket (section 5.4's "too bright or too dark")."""
    peaks = []

    def record(d):
        peaks.append(d["denoised"].flatten(1).abs().amax(1).cpu())  # (N,) largest |x̂₀| of each sample at this step

    x = sample(model, PIPELINES[key], n, steps, guidance_scale, phi, seed, device=device, brightness=bucket,
               callback=record).cpu()
    target = BRIGHTNESS_CLASSES.index(bucket)
    out = {
        "pipeline": key, "bucket": bucket, "guidance": guidance_scale,
        "phi": PIPELINES[key].phi if phi is None else phi, "n": n, "steps": steps,
        "hit": float((brightness_bucket(x.clamp(-1, 1)) == target).double().mean()),
        "brightness_mean": float(brightness(x).mean()),
        "saturated": float((x.abs() > 1).double().mean()),
        "x0_peak": float(torch.stack(peaks).amax(0).median()),
    }
    if classifier is not None:
        out["accuracy"] = class_accuracy(predict(classifier, x)[0], asked_classes(n))
    if data_images is not None:
        in_bucket = data_images[brightness_bucket(data_images) == target]
        out["w1_bucket"] = wasserstein1(brightness(x), brightness(in_bucket))
    return out
