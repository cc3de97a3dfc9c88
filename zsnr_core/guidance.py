"""Algorithm 2 of Lin et al. (2024): classifier-free guidance rescaled to the conditional prediction's std."""
from __future__ import annotations

import math

import torch

from ._checks import check_float


def rescale_cfg(cond: torch.Tensor, uncond: torch.Tensor, guidance_scale: float, phi: float = 0.7) -> torch.Tensor:
    """Algorithm 2 of Lin et al. (2024), per sample, std over every non-batch dim (images, video latents, ...).

        x_cfg   = x_neg + w·(x_pos - x_neg)
        x_rescl = x_cfg · std(x_pos)/std(x_cfg)
        x_final = φ·x_rescl + (1 - φ)·x_cfg           so std(x_final) = φ·std(x_pos) + (1 - φ)·std(x_cfg)

    It acts on whatever the tensors are (v̂ in the paper, ε̂ or x̂_0 elsewhere): the space is the caller's choice.
    Where std(x_cfg) = 0 the sample has nothing to rescale and x_cfg is returned for it, so the result is finite
    wherever the inputs are. Stds are taken in at least float32 (population std; the ratio is the same).
    """
    _check_pair(cond, uncond, "cond", "uncond")
    w = check_float("guidance_scale", guidance_scale, -math.inf, math.inf)
    if not math.isfinite(w):
        raise ValueError(f"guidance_scale must be finite, got {w}; 1 is no guidance, the paper samples at 7.5")
    phi = check_phi(phi)
    x_cfg = uncond + w * (cond - uncond)
    if not bool(torch.isfinite(x_cfg).all()) and bool(torch.isfinite(cond).all() & torch.isfinite(uncond).all()):
        raise ValueError(f"guidance_scale = {w:g} overflows {x_cfg.dtype} in x_neg + w·(x_pos - x_neg); guidance "
                         "scales are single digits (the paper uses 7.5): lower it, or compute in float64")
    if phi == 0.0:
        return x_cfg
    return x_cfg * factor(cond, x_cfg, phi).to(x_cfg.dtype)


def check_phi(phi) -> float:
    """φ of Algorithm 2, in [0, 1]: the mix between the rescaled and the plain guided prediction."""
    return check_float("phi", phi, 0.0, 1.0, fix="phi = 0 is plain CFG, 1 fully rescaled; the paper uses 0.7")


def _check_pair(a, b, name_a: str, name_b: str) -> None:
    if not isinstance(a, torch.Tensor) or not isinstance(b, torch.Tensor):
        raise TypeError(f"{name_a} and {name_b} must be tensors, got {type(a).__name__} and {type(b).__name__}")
    if a.shape != b.shape:
        raise ValueError(f"{name_a} and {name_b} must have the same shape, got {tuple(a.shape)} and {tuple(b.shape)}")
    if a.ndim < 2:
        raise ValueError(f"Algorithm 2 needs a batch dim and at least one more, got shape {tuple(a.shape)}; add a "
                         "batch dim with x[None]")


def rescale_factor(cond: torch.Tensor, guided: torch.Tensor, phi: float) -> torch.Tensor:
    """The per-sample factor φ·std(x_pos)/std(x_cfg) + (1 - φ) of Algorithm 2, so x_final = factor·x_cfg.

    Shape (B, 1, ..., 1), in at least float32; 1 where std(x_cfg) = 0 (nothing to rescale). `guided` is x_cfg,
    however it was formed (plain CFG or another guidance rule), which lets Algorithm 2 run after other CFG patches.
    """
    _check_pair(cond, guided, "cond", "guided")
    return factor(cond, guided, check_phi(phi))


def factor(cond: torch.Tensor, guided: torch.Tensor, phi: float) -> torch.Tensor:
    """rescale_factor for callers that checked their inputs (rescale_cfg, cfg_spaces.rescale_cfg_denoised)."""
    dims = tuple(range(1, cond.ndim))
    work = torch.promote_types(cond.dtype, torch.float32)
    std_pos = cond.to(work).std(dim=dims, correction=0, keepdim=True)
    std_cfg = guided.to(work).std(dim=dims, correction=0, keepdim=True)
    nonzero = std_cfg > 0
    ratio = torch.where(nonzero, std_pos / torch.where(nonzero, std_cfg, 1.0), 1.0)
    return phi * ratio + (1.0 - phi)
