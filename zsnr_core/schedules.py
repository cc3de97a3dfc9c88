"""Noise schedules in ᾱ-space, where zero terminal SNR is exact, and Algorithm 1 of Lin et al. (2024).

Notation (0-indexed t = 0 … T-1, as in code; the paper writes 1 … T):
    betas            β_t
    alphas_cumprod   ᾱ_t = ∏_{s<=t} (1 - β_s)
    snr              SNR(t) = ᾱ_t / (1 - ᾱ_t)
All schedule arithmetic is float64 on the CPU; samplers cast the coefficients they need.
"""
from __future__ import annotations

import math

import torch

from ._checks import (
    alpha_bar_vector,
    as_float64_vector,
    check_choice,
    check_float,
    check_int,
    check_unit_interval,
    schedule_alpha_bar,
)

SCHEDULES = ("linear", "scaled_linear", "squaredcos_cap_v2")

# Defaults as diffusers uses them: DDPM's linear range, Stable Diffusion's √β-linear range.
_DEFAULT_RANGE = {"linear": (1e-4, 0.02), "scaled_linear": (0.00085, 0.012)}
# Nichol & Dhariwal (2021) clip the cosine schedule's β at 0.999 to avoid a singularity at t = T.
_COSINE_MAX_BETA = 0.999


def make_betas(
    schedule: str,
    num_train_timesteps: int = 1000,
    beta_start: float | None = None,
    beta_end: float | None = None,
) -> torch.Tensor:
    """β_t of a named schedule as a float64 tensor of shape (T,).

    "linear" (DDPM, β 1e-4 → 0.02), "scaled_linear" (Stable Diffusion, √β linear 0.00085 → 0.012),
    "squaredcos_cap_v2" (cosine ᾱ of Nichol & Dhariwal 2021, β clipped at 0.999; takes no range).
    """
    check_choice("schedule", schedule, SCHEDULES)
    T = check_int("num_train_timesteps", num_train_timesteps, 2, fix="a schedule needs at least 2 timesteps")
    if schedule == "squaredcos_cap_v2":
        if beta_start is not None or beta_end is not None:
            raise ValueError(
                "squaredcos_cap_v2 is defined by its cosine ᾱ and takes no beta_start/beta_end, "
                f"got beta_start={beta_start!r}, beta_end={beta_end!r}; leave both as None"
            )
        return _cosine_betas(T)
    default_start, default_end = _DEFAULT_RANGE[schedule]
    start = check_float("beta_start", default_start if beta_start is None else beta_start, 0.0, 1.0)
    end = check_float("beta_end", default_end if beta_end is None else beta_end, 0.0, 1.0)
    if not 0.0 < start <= end < 1.0:
        raise ValueError(
            f"betas must satisfy 0 < beta_start <= beta_end < 1, got beta_start={start}, beta_end={end}"
        )
    if schedule == "linear":
        return torch.linspace(start, end, T, dtype=torch.float64)
    return torch.linspace(math.sqrt(start), math.sqrt(end), T, dtype=torch.float64) ** 2


def _cosine_betas(T: int) -> torch.Tensor:
    t = torch.arange(T + 1, dtype=torch.float64) / T
    alpha_bar = torch.cos((t + 0.008) / 1.008 * math.pi / 2) ** 2
    return (1 - alpha_bar[1:] / alpha_bar[:-1]).clamp(max=_COSINE_MAX_BETA)


def alphas_cumprod(betas) -> torch.Tensor:
    """ᾱ_t = ∏_{s<=t} (1 - β_s), float64, shape (T,). β must lie in [0, 1]; β_T = 1 gives ᾱ_T = 0 exactly."""
    betas = check_unit_interval("betas", as_float64_vector("betas", betas))
    return torch.cumprod(1.0 - betas, dim=0)


def snr(alphas_cumprod) -> torch.Tensor:
    """SNR = ᾱ / (1 - ᾱ): exactly 0 where ᾱ = 0, and +inf where ᾱ = 1 (no noise), its exact value."""
    ac = alpha_bar_vector(alphas_cumprod)
    return ac / (1.0 - ac)


def rescale_zero_terminal_snr(betas) -> torch.Tensor:
    """Algorithm 1 of Lin et al. (2024): rescale β so that SNR(T) = 0 exactly.

    √ᾱ is shifted so √ᾱ_T = 0 and scaled so √ᾱ_0 is unchanged: an affine map of √ᾱ. Returns float64 β with
    β_T = 1 and ᾱ_0 equal to the input's, both exactly (set, not left to rounding). Idempotent up to rounding: a
    second pass leaves ᾱ_0, ᾱ_T and β_T exactly as they are and moves the rest by rounding only (on Stable Diffusion's
    schedule: β by up to 2.2e-16, ᾱ by up to 2.7e-16 relative), since β = 1 - ᾱ_t/ᾱ_{t-1} and back rounds twice.
    """
    return betas_from_alphas_cumprod(rescale_alphas_cumprod_zero_terminal_snr(alphas_cumprod(betas)))


def rescale_alphas_cumprod_zero_terminal_snr(alphas_cumprod) -> torch.Tensor:
    """Algorithm 1 in ᾱ-space, for schedules given as ᾱ (a σ table, a checkpoint): float64 ᾱ with ᾱ_T = 0 and ᾱ_0
    kept, both exactly. Same map as `rescale_zero_terminal_snr`, without a round trip through β. A second pass
    returns ᾱ_0 and ᾱ_T exactly and the rest to within a few ulp (√ then square, each rounded)."""
    ac = schedule_alpha_bar(alphas_cumprod)
    if len(ac) < 2:
        raise ValueError("Algorithm 1 needs at least 2 timesteps, got 1")
    s = ac.sqrt()
    s0, sT = s[0].item(), s[-1].item()
    if not s0 > sT:
        raise ValueError(
            f"Algorithm 1 needs √ᾱ_0 > √ᾱ_T to rescale, got √ᾱ_0 = {s0} and √ᾱ_T = {sT}; "
            "the schedule adds no noise, check the betas"
        )
    scale = s0 / (s0 - sT)
    ac_new = ((s - sT) * scale) ** 2
    ac_new[0] = ac[0]
    ac_new[-1] = 0.0
    if bool((ac_new[:-1] == 0).any()):
        i = int((ac_new[:-1] == 0).nonzero()[0])
        if ac[i].item() > ac[-1].item():  # noise was added after t = i, but ᾱ is too small for float64 to rescale
            raise ValueError(
                f"ᾱ is {ac[i].item():.3g} at t = {i} of {len(ac)} timesteps, so small that Algorithm 1's rescaled ᾱ "
                "underflows float64 to 0 there, long before the last timestep: this schedule has no signal left "
                "already; use fewer timesteps or smaller betas (DDPM's linear range is made for T = 1000)"
            )
        raise ValueError(
            f"Algorithm 1 maps ᾱ to 0 before the last timestep (at t = {i}) because betas[{i + 1}:] add no noise; "
            "drop the trailing zero betas"
        )
    return ac_new


def betas_from_alphas_cumprod(alphas_cumprod) -> torch.Tensor:
    """β_t = 1 - ᾱ_t/ᾱ_{t-1} (β_0 = 1 - ᾱ_0), float64: the inverse of `alphas_cumprod`, for schedules given as ᾱ.

    ᾱ must be non-increasing; a zero may only come last (β_T = 1 exactly), since ᾱ_{t-1} = 0 leaves β_t undefined.
    """
    ac = schedule_alpha_bar(alphas_cumprod)
    if bool((ac[:-1] == 0).any()):
        i = int((ac[:-1] == 0).nonzero()[0])
        raise ValueError(
            f"alphas_cumprod may be 0 at the last timestep only, got ᾱ[{i}] = 0 with {len(ac) - 1 - i} more after it; "
            "drop the timesteps past the first ᾱ = 0"
        )
    return 1.0 - torch.cat([ac[:1], ac[1:] / ac[:-1]])
