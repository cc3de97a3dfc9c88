"""DDIM and DDPM-like ancestral sampling that start exactly at SNR = 0 (arXiv 2305.08891, section 6, eqs. 17-22).

Notation (variable → symbol):
    ts[i]               t, and ts[i + 1] the next entry of the given timesteps (never t - T//S: see spacing.py)
    ab[i], ab[i + 1]    ᾱ_t and ᾱ of the next entry; after the last entry ᾱ = 1, so the last step returns x̂_0
    x0, eps             x̂_0 (eq. 19) and ε̂ (eq. 17) from the model's output
    eta, var            η of DDIM and σ_t(η)² of eq. 22: η = 0 is deterministic DDIM, η = 1 the DDPM posterior (eq. 20)
    sigmas[i]           σ of k-diffusion's σ-space, x_σ = x_0 + σ·ε = x_t/√ᾱ (sample_ddim_sigmas)
torch.add(a, b, alpha=c) is a + c·b in one kernel: a step's last sum, kept fused so that the loop costs the model
call and little else (benchmarks/sampler_overhead.py).
"""
from __future__ import annotations

import math

import torch

from ._checks import (
    FiniteWatch,
    check_choice,
    check_float,
    check_int,
    check_sample,
    check_sigmas,
    check_timesteps,
    noise_like,
)
from ._progress import progress
from .errors import EpsilonAtZeroSNRError
from .parametrization import (
    PREDICTION_TYPES,
    eps_from_denoised,
    eps_from_output,
    sigma_from_alpha_bar,
    x0_from_output,
)


def ddim_variance(alpha_bar_t: float, alpha_bar_next: float, eta: float) -> float:
    """σ_t(η)² of eq. 22, η²·(1-ᾱ_next)/(1-ᾱ_t)·(1-ᾱ_t/ᾱ_next): with η = 1, eq. 21 is the DDPM posterior (eq. 20) and
    this its variance β̃. Kept squared, so that 1 - ᾱ_next - σ² is exactly 0 at ᾱ_t = 0, η = 1 (no √ then square).
    Finite at ᾱ_t = 0; needs 0 <= ᾱ_t < 1, ᾱ_t <= ᾱ_next, ᾱ_next > 0."""
    return eta * eta * (1.0 - alpha_bar_next) / (1.0 - alpha_bar_t) * (1.0 - alpha_bar_t / alpha_bar_next)


def sample_ddim(model, x, alphas_cumprod, timesteps, prediction_type="v_prediction", eta=0.0, generator=None,
                callback=None, disable=None) -> torch.Tensor:
    """DDIM (Song et al. 2021) exactly at the given timesteps, exact at ᾱ = 0: eq. 21 of arXiv 2305.08891.

    `model(x_t, t)` returns the raw output (ε̂, v̂ or x̂_0 by `prediction_type`) for a LongTensor t of shape (B,),
    once per entry of `timesteps`, in order; its output must have x's shape (it is never broadcast). `x` is x_T
    (for a zero-SNR schedule, unit noise). `eta` = 1 gives DDPM-like ancestral steps whose noise `generator` draws
    (one generator for the batch, or a list of B generators so that each sample is reproducible alone).
    `callback` gets k-diffusion's keys {"i", "x", "sigma", "sigma_hat", "denoised"} and "t" after each model call. ε-prediction at ᾱ = 0 is refused, with
    every other bad input, before any model call.
    """
    ts, ab, eta = _check_ddim(x, alphas_cumprod, timesteps, prediction_type, eta)
    t_in = [torch.full((x.shape[0],), t, device=x.device) for t in ts]  # made once, not per step
    watch = FiniteWatch()
    for i in progress(len(ts), disable):
        out = watch(model(x, t_in[i]), x, f"t = {ts[i]}")
        x0 = x0_from_output(out, x, ab[i], prediction_type)  # eq. 19 for v
        eps = eps_from_output(out, x, ab[i], prediction_type)  # eq. 17 for v
        if callback is not None:  # the σ-space samplers' keys (k-diffusion's), and t
            sigma = sigma_from_alpha_bar(ab[i])
            callback({"i": i, "t": ts[i], "x": x, "sigma": sigma, "sigma_hat": sigma, "denoised": x0})
        var = ddim_variance(ab[i], ab[i + 1], eta)  # σ_t(η)², eq. 22
        x = torch.add(math.sqrt(ab[i + 1]) * x0, eps, alpha=math.sqrt(max(1.0 - ab[i + 1] - var, 0.0)))  # eq. 21
        if var > 0.0:
            x = x + math.sqrt(var) * noise_like(x, generator)
    return watch.result(x, f"the smallest ᾱ sampled is {min(ab):.3g}; with prediction_type={prediction_type!r} "
                           "x̂0 divides by √ᾱ")


def sample_ddim_sigmas(model, x, sigmas, extra_args=None, callback=None, disable=None, eta=0.0, noise_sampler=None):
    """DDIM (Song et al. 2021) in k-diffusion's σ-space, exact from σ = ∞ (eq. 21 of arXiv 2305.08891).

    `model(x, sigma, **extra_args)` is a denoiser returning x̂_0 (as ComfyUI and k-diffusion provide), called with
    sigma of shape (B,) (a broadcast view: do not write to it); `sigmas` is strictly descending, usually to 0. At a
    finite σ this is DDIM along exactly these σ (η = 0: Euler; η > 0: Euler ancestral). sigmas[0] = inf is SNR = 0
    exactly: x_σ would be infinite there, so x is then x_T itself (plain unit noise, not noise·σ), the model is
    called with σ = inf, and ε̂ = x_T. η > 0 draws noise from `noise_sampler(sigma, sigma_next)` (default: randn
    of the whole batch seeded by extra_args["seed"]). `callback` gets k-diffusion's keys
    {"i", "x", "sigma", "sigma_hat", "denoised"}.
    """
    extra_args = {} if extra_args is None else extra_args
    eta = check_float("eta", eta, 0.0, 1.0, fix="0 is deterministic DDIM, 1 the DDPM posterior")
    s, sig = check_sigmas(sigmas, x)
    noise_sampler = noise_sampler or _seeded_noise(x, extra_args, eta)
    watch = FiniteWatch()
    for i in progress(len(s) - 1, disable):
        x0 = watch(model(x, sig[i].expand(x.shape[0]), **extra_args), x, f"sigma = {s[i]}", "the denoiser's output")
        if callback is not None:
            callback({"i": i, "x": x, "sigma": sig[i], "sigma_hat": sig[i], "denoised": x0})
        sigma_down, sigma_up = ancestral_step(s[i], s[i + 1], eta)  # eq. 22 in σ-space
        x = torch.add(x0, eps_from_denoised(x, x0, s[i]), alpha=sigma_down)  # eq. 21 in σ-space: x̂_0 + σ'·ε̂
        if sigma_up > 0.0:
            x = x + sigma_up * noise_sampler(sig[i], sig[i + 1])
    return watch.result(x)


def ancestral_step(sigma: float, sigma_next: float, eta: float) -> tuple[float, float]:
    """(σ_down, σ_up) of eq. 21-22 in σ-space: x_σ' = x̂_0 + σ_down·ε̂ + σ_up·z with σ_up = σ_t(η)/√ᾱ' =
    η·σ'·√(1 - σ'²/σ²) (k-diffusion's ancestral step) and σ_down² + σ_up² = σ'²; σ_up = η·σ' from σ = ∞."""
    if eta == 0.0:
        return sigma_next, 0.0
    up = eta * sigma_next * math.sqrt(1.0 - (sigma_next / sigma) ** 2)
    return math.sqrt(max(sigma_next**2 - up**2, 0.0)), up


def _check_ddim(x, alphas_cumprod, timesteps, prediction_type, eta):
    """The door of sample_ddim: every input checked once; returns (timesteps, ᾱ per step + [1.0], η)."""
    check_choice("prediction_type", prediction_type, PREDICTION_TYPES)
    eta = check_float("eta", eta, 0.0, 1.0, fix="0 is deterministic DDIM, 1 the DDPM posterior")
    ts, ab = check_timesteps(timesteps, alphas_cumprod)
    if prediction_type == "epsilon":
        _refuse_epsilon_overflow(ts, ab, x.dtype)
    check_sample(x)
    return ts, ab + [1.0], eta


def _refuse_epsilon_overflow(ts, ab, dtype: torch.dtype) -> None:
    """x̂_0 = (x_t - √(1-ᾱ)·ε̂)/√ᾱ is undefined at ᾱ = 0 and multiplies by 1/√ᾱ near it: refuse a step where that
    factor is beyond the sample's dtype (an ε-model at ᾱ = 1e-300 needs 1e150), since the sample would be inf."""
    limit = torch.finfo(dtype).max if dtype.is_floating_point else math.inf
    for t, alpha_bar in zip(ts, ab):
        if alpha_bar == 0.0:
            raise EpsilonAtZeroSNRError()
        if 1.0 / math.sqrt(alpha_bar) > limit:
            raise ValueError(
                f"the step at timestep {t} (ᾱ = {alpha_bar:.3g}) multiplies ε-prediction's x̂0 by 1/√ᾱ = "
                f"{1.0 / math.sqrt(alpha_bar):.3g}, beyond {dtype}'s range, so the sample would be inf/NaN: "
                "ε-prediction is ill-conditioned as SNR → 0; use a v_prediction model, sample in float64, or skip "
                "timesteps whose ᾱ is this small"
            )


def _seeded_noise(x, extra_args: dict, eta: float):
    """sample_ddim_sigmas' default noise: randn of the whole batch from extra_args["seed"] (ComfyUI's seed)."""
    if eta == 0.0:
        return None
    seed = extra_args.get("seed")
    if seed is not None:
        seed = check_int("extra_args['seed']", seed, -(2**63), 2**64 - 1, fix="pass an integer seed, as ComfyUI does")
    generator = None if seed is None else torch.Generator(device=x.device).manual_seed(seed)
    return lambda sigma, sigma_next: noise_like(x, generator)


def ddim_coefficients(alpha_bar_t: float, alpha_bar_next: float, eta: float = 0.0) -> tuple[float, float, float]:
    """(c_x0, c_eps, c_noise) of x_next = c_x0·x̂_0 + c_eps·ε̂ + c_noise·z: eq. 21 with σ_t(η) of eq. 22 (kept for
    callers of 0.1; sample_ddim writes the two equations out)."""
    var = ddim_variance(alpha_bar_t, alpha_bar_next, eta)
    return math.sqrt(alpha_bar_next), math.sqrt(max(1.0 - alpha_bar_next - var, 0.0)), math.sqrt(var)
