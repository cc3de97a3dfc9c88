"""Algorithm 2 of Lin et al. (2024) on a σ-space denoiser's x̂_0, rescaled in a chosen space: v, x_0 or ε.

Samplers in σ-space (k-diffusion, ComfyUI) combine guidance on x̂_0. Algorithm 2's result depends on the space
its stds are taken in (Algorithm 2 of arXiv 2305.08891): the paper and ComfyUI use v, diffusers uses whatever the model predicts.
In VP terms (x_t = √ᾱ·x_0 + √(1-ᾱ)·ε, x_σ = x_t/√ᾱ) each space is x̂_0 shifted and scaled per sample:

    v̂  = (√ᾱ·x_t - x̂_0)/√(1-ᾱ)  = -(x̂_0 - ᾱ·x_σ)/√(1-ᾱ)          u = x̂_0 - m·x_σ with m = ᾱ
    ε̂  = (x_t - √ᾱ·x̂_0)/√(1-ᾱ)  = -(x̂_0 - x_σ)/σ                   m = 1
    x̂_0                                                            m = 0

The per-sample scale cancels in std(u_pos)/std(u_cfg), and CFG commutes with the shift (its weights sum to 1), so
x̂_0,final = m·x_σ + factor·(x̂_0,cfg - m·x_σ) is exactly Algorithm 2 in that space, with no division by σ.
At σ = ∞ (x carried as x_T, see sampling.py) v̂ = -x̂_0 and ε̂ = x_T whatever x̂_0 is, so the ε-space factor is 1.
"""
from __future__ import annotations

import torch

from . import guidance
from ._checks import check_choice
from .guidance import check_phi
from .parametrization import alpha_bar_from_sigma

CFG_SPACES = ("v", "x0", "eps")


def rescale_cfg_denoised(
    x: torch.Tensor,
    sigma,
    denoised: torch.Tensor,
    cond_denoised: torch.Tensor,
    phi: float = 0.7,
    space: str = "v",
) -> torch.Tensor:
    """Algorithm 2 applied to a guided x̂_0 (`denoised`, x̂_0 of x_cfg) with the conditional x̂_0 as x_pos.

    `x` is the sampler's x_σ, `sigma` a float or a tensor of shape (B,) (ComfyUI passes its timestep tensor).
    `denoised` may come from plain CFG or from any other guidance rule: only x_cfg and x_pos enter Algorithm 2, so
    this chains after other CFG patches. Any ndim >= 2; finite where a std is 0 (the factor is 1 there).
    """
    check_choice("space", space, CFG_SPACES)
    phi = check_phi(phi)
    if denoised.shape != x.shape or cond_denoised.shape != x.shape:
        raise ValueError(
            f"x, denoised and cond_denoised must have one shape, got {tuple(x.shape)}, {tuple(denoised.shape)} and "
            f"{tuple(cond_denoised.shape)}"
        )
    if x.ndim < 2:
        raise ValueError(f"rescale_cfg_denoised needs a batch dim and at least one more, got shape {tuple(x.shape)}")
    if phi == 0.0:
        return denoised
    s = torch.as_tensor(sigma, dtype=torch.float64).detach().to("cpu").reshape(-1)
    if s.numel() not in (1, x.shape[0]):
        raise ValueError(f"sigma must be a float or have shape (B,) = ({x.shape[0]},), got shape {tuple(s.shape)}")
    view = (-1,) + (1,) * (x.ndim - 1)
    if space == "x0":
        factor = guidance.factor(cond_denoised, denoised, phi)
        return denoised * factor.to(denoised.dtype)
    if space == "eps" and bool(torch.isinf(s).any()):
        if not bool(torch.isinf(s).all()):
            raise ValueError("sigma mixes inf and finite values within a batch; sample them in separate batches")
        return denoised  # ε̂ = x_T for every x̂_0 at SNR = 0: nothing to rescale
    m = alpha_bar_from_sigma(s) if space == "v" else torch.ones_like(s)  # (B,) or (1,)
    shift = m.to(x.device, x.dtype).view(view) * x
    u_cfg = denoised - shift
    factor = guidance.factor(cond_denoised - shift, u_cfg, phi).to(denoised.dtype)
    return shift + factor * u_cfg

