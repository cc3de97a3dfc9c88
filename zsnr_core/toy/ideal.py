"""The Bayes-optimal denoiser of a finite image set: the exact E[x_0 | x_t], with no training.

For data {x_i} drawn uniformly and x_t = √ᾱ·x_0 + √(1-ᾱ)·ε, the posterior over which image was noised is
    p(i | x_t) ∝ exp(-‖x_t - √ᾱ·x_i‖² / (2(1-ᾱ)))   = softmax_i((√ᾱ·x_t·x_i - ᾱ‖x_i‖²/2) / (1-ᾱ)),
so E[x_0 | x_t] = Σ_i p(i | x_t)·x_i. At ᾱ = 0 every image is equally likely and x̂_0 is the data mean; at ᾱ = 1
it is the image itself. A class label restricts the sum to that class (the exact conditional denoiser), which
makes classifier-free guidance well defined here too; a brightness bucket restricts it further, as the toy UNet's
second condition does. Any schedule and any prediction type (via parametrization).
"""
from __future__ import annotations

import torch

from .._checks import alpha_bar_vector, check_choice
from ..denoisers import vp_input
from ..parametrization import PREDICTION_TYPES, predict_eps, predict_v
from .data import BRIGHTNESS_CLASSES, brightness_bucket


class IdealDenoiser:
    """`denoiser(x_t, t, labels)` returns the exact ε̂, v̂ or x̂_0 for `data` under the schedule `alphas_cumprod`.

    `labels` (B,) selects a class; the value `data.num_classes` (the null label, as for the UNet) or `None` means
    unconditional. `brightness` (B,) likewise selects the images of one bucket of `toy.data.BRIGHTNESS_CLASSES`,
    its length (the UNet's null, `pipelines.BRIGHTNESS_NULL`) meaning any: the same call as the toy UNet's. A
    condition no image of `data` meets is refused (its posterior would be 0/0). Logits are formed in float64 so that
    the posterior stays exact down to ᾱ_0 ≈ 1.
    """

    def __init__(self, data, alphas_cumprod, prediction_type: str = "v_prediction"):
        self.prediction_type = check_choice("prediction_type", prediction_type, PREDICTION_TYPES)
        self.alphas_cumprod = alpha_bar_vector(alphas_cumprod)
        self.num_classes = data.num_classes
        self.flat = data.images.flatten(1).to(torch.float64)  # (N, D)
        self.half_sq_norm = 0.5 * self.flat.pow(2).sum(1)  # (N,)
        self.labels = data.labels
        self.buckets = brightness_bucket(data.images)

    def to(self, device):
        self.flat, self.half_sq_norm, self.labels, self.buckets = (
            t.to(device) for t in (self.flat, self.half_sq_norm, self.labels, self.buckets))
        return self

    def denoise(self, x_t: torch.Tensor, alpha_bar: torch.Tensor, labels: torch.Tensor | None = None,
                brightness: torch.Tensor | None = None) -> torch.Tensor:
        """E[x_0 | x_t] for per-sample ᾱ (B,) in [0, 1]."""
        ab = alpha_bar.to(self.flat.device, torch.float64).view(-1, 1)  # (B, 1)
        a = ab.sqrt()
        score = a * (x_t.flatten(1).to(torch.float64) @ self.flat.T) - ab * self.half_sq_norm  # (B, N)
        if labels is not None:
            labels = labels.to(self.labels.device)
            other = (labels.view(-1, 1) != self.labels.view(1, -1)) & (labels.view(-1, 1) != self.num_classes)
            score = score.masked_fill(other, -torch.inf)
        if brightness is not None:
            brightness = brightness.to(self.buckets.device).view(-1, 1)
            other = (brightness != self.buckets.view(1, -1)) & (brightness != len(BRIGHTNESS_CLASSES))
            score = score.masked_fill(other, -torch.inf)
        if labels is not None or brightness is not None:
            empty = torch.isneginf(score).all(1)
            if bool(empty.any()):
                i = int(empty.nonzero()[0])
                asked = ", ".join(f"{k} {int(v.flatten()[i])}" for k, v in (("class", labels), ("bucket", brightness))
                                  if v is not None)
                raise ValueError(f"IdealDenoiser: no image of the data set has {asked} (sample {i}); ask for a "
                                 "condition the data holds, or pass a larger data set")
        one_minus = 1 - ab
        exact = one_minus == 0  # ᾱ = 1: the softmax's limit is the nearest image
        nearest = torch.where(score == score.max(dim=1, keepdim=True).values, 0.0, -torch.inf)
        logits = torch.where(exact, nearest, score / torch.where(exact, 1.0, one_minus))
        x0 = torch.softmax(logits, dim=1) @ self.flat  # (B, D)
        return x0.view(x_t.shape).to(x_t.dtype)

    def __call__(self, x_t: torch.Tensor, t: torch.Tensor, labels: torch.Tensor | None = None,
                 brightness: torch.Tensor | None = None) -> torch.Tensor:
        ab = self.alphas_cumprod[t.cpu()]
        return as_prediction(self.denoise(x_t, ab, labels, brightness), x_t, ab, self.prediction_type)


def gaussian_posterior_mean(x_t: torch.Tensor, alpha_bar, mean: float, std) -> torch.Tensor:
    """E[x_0 | x_t] for data x_0 ~ N(mean, std²) per element: μ + √ᾱ·s²/(ᾱs² + 1 - ᾱ)·(x_t - √ᾱ·μ), exactly μ at
    ᾱ = 0. `alpha_bar` is a float or one per sample (B,); `std` a float or one per sample (a sequence of B). The
    closed form behind the library's exactness tests: sampling it from SNR = 0 must return N(μ, s²) exactly."""
    view = (-1,) + (1,) * (x_t.ndim - 1)
    ab = torch.as_tensor(alpha_bar, dtype=torch.float64).to(x_t.device).reshape(-1).view(view).to(x_t.dtype)
    s2 = torch.as_tensor(std, dtype=torch.float64).to(x_t.device).reshape(-1).view(view).to(x_t.dtype) ** 2
    a = ab.sqrt()
    return mean + a * s2 / (ab * s2 + 1 - ab) * (x_t - a * mean)


def gaussian_denoiser(mean: float, std):
    """The exact σ-space denoiser x̂_0(x_σ, σ) = μ + s²/(s² + σ²)·(x_σ - μ) of N(mean, std²), μ at σ = inf (where x
    is carried as x_T, as zsnr_core's σ-space samplers do): `gaussian_posterior_mean` seen through vp_input."""
    def denoiser(x: torch.Tensor, sigma, **kwargs) -> torch.Tensor:
        x_t, ab = vp_input(x, sigma)
        return gaussian_posterior_mean(x_t, ab, mean, std)
    return denoiser


def gaussian_model(mean: float, std, alphas_cumprod, prediction_type: str = "v_prediction"):
    """The exact discrete-time model `model(x_t, t)` of N(mean, std²) under a schedule: its ε̂, v̂ or x̂_0."""
    check_choice("prediction_type", prediction_type, PREDICTION_TYPES)
    ac = alpha_bar_vector(alphas_cumprod)

    def model(x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        ab = ac[t.cpu()]
        return as_prediction(gaussian_posterior_mean(x_t, ab, mean, std), x_t, ab, prediction_type)
    return model


def as_prediction(x0: torch.Tensor, x_t: torch.Tensor, alpha_bar, prediction_type: str) -> torch.Tensor:
    """What a model of `prediction_type` outputs when its x̂_0 is `x0`: x̂_0 itself, ε̂ or v̂ (eqs. 17, 19 inverted)."""
    if prediction_type == "sample":
        return x0
    convert = predict_eps if prediction_type == "epsilon" else predict_v
    return convert(x0, x_t, alpha_bar, "sample")
