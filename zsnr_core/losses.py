"""Training targets, the v-loss of Lin et al. (2024) and SNR-based loss weights that stay finite at SNR = 0.

For a fixed x_t the three MSEs are one x̂_0-error seen through different factors:
    ‖ε - ε̂‖² = SNR·‖x_0 - x̂_0‖²      ‖v - v̂‖² = (1 + SNR)·‖x_0 - x̂_0‖²      ‖x_0 - x̂_0‖²
so the v-loss keeps weight 1 on x̂_0 at SNR = 0, where the ε-loss gives it none.
"""
from __future__ import annotations

import torch

from ._checks import check_choice, check_float, check_same_shape, check_unit_interval
from .parametrization import PREDICTION_TYPES, v_target

_WEIGHTINGS = ("constant", "min_snr")


def training_target(x0, noise, alpha_bar_t, prediction_type: str) -> torch.Tensor:
    """What a model of `prediction_type` learns to output at x_t = √ᾱ·x_0 + √(1-ᾱ)·ε: ε, v or x_0."""
    check_choice("prediction_type", prediction_type, PREDICTION_TYPES)
    check_same_shape(noise, x0, "noise", "x0")
    if prediction_type == "epsilon":
        return noise
    if prediction_type == "sample":
        return x0
    return v_target(x0, noise, alpha_bar_t)


def loss_weight(alpha_bar_t, prediction_type: str, min_snr_gamma: float | None = None,
                min_snr_floor: float = 0.0) -> torch.Tensor:
    """Per-sample weight λ_t of the MSE in the model's own output space, finite for every ᾱ in [0, 1].

    None: λ = 1, the paper's choice. With γ: Min-SNR-γ (Hang et al. 2023), whose x̂_0-weight min(SNR, γ) becomes
        ε:  min(SNR, γ)/SNR       = 1 if SNR <= γ else γ(1-ᾱ)/ᾱ    (1 at SNR = 0, the limit; peers get 0/0)
        v:  min(SNR, γ)/(SNR + 1) = min(ᾱ, γ(1-ᾱ))                 (0 at SNR = 0: t = T then carries no loss)
        x0: min(SNR, γ)                                              (γ at ᾱ = 1)
    `min_snr_floor` f (with γ) raises the weight to at least f where SNR < γ, the noisy end: Min-SNR's v-weight ᾱ
    vanishes as ᾱ → 0, so t = T, where section 5.2 wants the model to predict the mean, carries no loss at all;
    f = 1 gives λ = 1 there (the paper's), min(1, γ(1-ᾱ)) overall. The ε-weight is already 1 there; f <= 1.
    Computed from ᾱ in float64 so that no SNR = ∞ or 0/0 is formed; returns float64 of ᾱ's shape.
    """
    check_choice("prediction_type", prediction_type, PREDICTION_TYPES)
    ab = check_unit_interval("alpha_bar_t", torch.as_tensor(alpha_bar_t))
    floor = check_float("min_snr_floor", min_snr_floor, 0.0, 1.0, fix="0 is Min-SNR as published; 1 gives λ = 1 "
                        "where SNR < γ")
    if min_snr_gamma is None:
        if floor:
            raise ValueError(f"min_snr_floor={floor} needs a Min-SNR γ (without one λ = 1 already)")
        return torch.ones_like(ab)
    gamma = check_float("min_snr_gamma", min_snr_gamma, 0.0, float("inf"), fix="Hang et al. use 5")
    if gamma == 0.0:
        raise ValueError("min_snr_gamma must be > 0, got 0; Hang et al. use 5, or pass None for λ = 1")
    capped = gamma * (1.0 - ab)  # γ·(1-ᾱ) <= ᾱ  ⇔  SNR >= γ
    if prediction_type == "v_prediction":
        return torch.minimum(ab.clamp(min=floor), capped)
    if prediction_type == "epsilon":
        return torch.where(capped < ab, capped / torch.where(ab > 0, ab, 1.0), 1.0)
    return torch.where(capped < ab, gamma, (ab / torch.where(ab < 1, 1.0 - ab, 1.0)).clamp(min=floor))


def diffusion_loss(model_output, x0, noise, alpha_bar_t, prediction_type: str = "v_prediction",
                   min_snr_gamma: float | None = None, min_snr_floor: float = 0.0) -> torch.Tensor:
    """Mean over the batch of λ_t·‖target - output‖² (mean over non-batch dims); the v-loss by default.

    `model_output`, `x0` and `noise` share one shape (B, ...), B >= 1; `alpha_bar_t` is a float or one ᾱ per sample.
    Nothing is broadcast: a prediction of another shape would silently train on the wrong pairs.
    """
    check_choice("prediction_type", prediction_type, PREDICTION_TYPES)
    if not isinstance(x0, torch.Tensor) or x0.ndim < 1 or x0.shape[0] == 0:
        got = f"shape {tuple(x0.shape)}" if isinstance(x0, torch.Tensor) else type(x0).__name__
        raise ValueError(f"x0 must be a tensor of shape (B, ...) with B >= 1, got {got}; a loss needs samples")
    check_same_shape(model_output, x0, "model_output", "x0")
    target = training_target(x0, noise, alpha_bar_t, prediction_type)
    per_sample = (model_output - target).pow(2).flatten(1).mean(dim=1)  # (B,)
    ab = torch.as_tensor(alpha_bar_t, dtype=torch.float64)
    if ab.ndim > 1 or (ab.ndim == 1 and ab.shape[0] != per_sample.shape[0]):
        raise ValueError(f"alpha_bar_t must be a float or have shape (B,) = ({per_sample.shape[0]},), got shape "
                         f"{tuple(ab.shape)}")
    ab = ab.expand(per_sample.shape[0])
    weight = loss_weight(ab, prediction_type, min_snr_gamma, min_snr_floor).to(per_sample.device, per_sample.dtype)
    return (weight * per_sample).mean()


def v_loss(v_pred, x0, noise, alpha_bar_t, min_snr_gamma: float | None = None) -> torch.Tensor:
    """The v-loss ‖v - v̂‖² of Lin et al. (2024), λ_t = 1 unless a Min-SNR γ is given; finite at SNR = 0."""
    return diffusion_loss(v_pred, x0, noise, alpha_bar_t, "v_prediction", min_snr_gamma)
