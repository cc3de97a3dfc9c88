"""The Bayes-optimal denoiser of a finite image set: the exact E[x_0 | x_t], with no training.

For data {x_i} drawn uniformly and x_t = √ᾱ·x_0 + √(1-ᾱ)·ε, the posterior over which image was noised is
    p(i | x_t) ∝ exp(-‖x_t - √ᾱ·x_i‖² / (2(1-ᾱ)))   = softmax_i((√ᾱ·x_t·x_i - ᾱ‖x_i‖²/2) / (1-ᾱ)),
so E[x_0 | x_t] = Σ_i p(i | x_t)·x_i. At ᾱ = 0 every image is equally likely and x̂_0 is the data mean; at ᾱ = 1
it is the image itself. A class label restricts the sum to that class (the exact conditional denoiser), which
makes classifier-free guidance well defined here too. Any schedule and any prediction type (via parametrization).
"""
from __future__ import annotations

import torch

from .._checks import alpha_bar_vector, check_choice
from ..parametrization import PREDICTION_TYPES, predict_eps, predict_v


class IdealDenoiser:
    """`denoiser(x_t, t, labels)` returns the exact ε̂, v̂ or x̂_0 for `data` under the schedule `alphas_cumprod`.

    `labels` (B,) selects a class; the value `data.num_classes` (the null label, as for the UNet) or `None` means
    unconditional. Logits are formed in float64 so that the posterior stays exact down to ᾱ_0 ≈ 1.
    """

    def __init__(self, data, alphas_cumprod, prediction_type: str = "v_prediction"):
        self.prediction_type = check_choice("prediction_type", prediction_type, PREDICTION_TYPES)
        self.alphas_cumprod = alpha_bar_vector(alphas_cumprod)
        self.num_classes = data.num_classes
        self.flat = data.images.flatten(1).to(torch.float64)  # (N, D)
        self.half_sq_norm = 0.5 * self.flat.pow(2).sum(1)  # (N,)
        self.labels = data.labels

    def to(self, device):
        self.flat, self.half_sq_norm, self.labels = (t.to(device) for t in (self.flat, self.half_sq_norm, self.labels))
        return self

    def denoise(self, x_t: torch.Tensor, alpha_bar: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """E[x_0 | x_t] for per-sample ᾱ (B,) in [0, 1]."""
        ab = alpha_bar.to(self.flat.device, torch.float64).view(-1, 1)  # (B, 1)
        a = ab.sqrt()
        score = a * (x_t.flatten(1).to(torch.float64) @ self.flat.T) - ab * self.half_sq_norm  # (B, N)
        if labels is not None:
            labels = labels.to(self.labels.device)
            other = (labels.view(-1, 1) != self.labels.view(1, -1)) & (labels.view(-1, 1) != self.num_classes)
            score = score.masked_fill(other, -torch.inf)
        one_minus = 1 - ab
        exact = one_minus == 0  # ᾱ = 1: the softmax's limit is the nearest image
        nearest = torch.where(score == score.max(dim=1, keepdim=True).values, 0.0, -torch.inf)
        logits = torch.where(exact, nearest, score / torch.where(exact, 1.0, one_minus))
        x0 = torch.softmax(logits, dim=1) @ self.flat  # (B, D)
        return x0.view(x_t.shape).to(x_t.dtype)

    def __call__(self, x_t: torch.Tensor, t: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        ab = self.alphas_cumprod[t.cpu()]
        x0 = self.denoise(x_t, ab, labels)
        if self.prediction_type == "sample":
            return x0
        convert = predict_eps if self.prediction_type == "epsilon" else predict_v
        return convert(x0, x_t, ab, "sample")
