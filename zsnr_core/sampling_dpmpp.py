"""DPM-Solver++(2M) in k-diffusion's σ-space, exact from σ = ∞ (SNR = 0) as arXiv 2305.08891 requires.

Notation (variable → symbol):
    s[i]                σ_i; x_σ = x_0 + σ·ε = x_t·√(1+σ²) (σ-space); λ_i = -log σ_i, half the log-SNR
    h_i                 λ_{i+1} - λ_i = log(σ_i/σ_{i+1}), the step in λ (inf from σ = ∞ or to σ = 0)
    w[i]                1/(2 r_i) with r_i = h_{i-1}/h_i: the weight of the multistep correction
    x0, x0_prev         x̂_0 at σ_i and at σ_{i-1};  d: D_i of (b), the corrected x̂_0

Derivation. The probability-flow ODE in σ-space is dx/dσ = (x - x̂_0(x, σ))/σ (Karras et al. 2022), that is
dx/dλ = x̂_0 - x, whose linear part integrates exactly (Lu et al. 2022, "DPM-Solver++", arXiv 2211.01095):
    x_{σ'} = (σ'/σ)·x_σ + σ'·∫_λ^λ' e^u·x̂_0(u) du.                                                          (a)
Taking x̂_0 constant over the step gives (σ'/σ)·x + (1 - σ'/σ)·x̂_0 = x̂_0 + σ'·ε̂: DDIM, eq. 21 of arXiv
2305.08891 in σ-space. Taking x̂_0 linear in λ, with the slope read from the previous model call, and the weight of
the slope term approximated to the same order as Lu et al. do, turns (a) into their Algorithm 2 (2M):
    D_i = (1 + w_i)·x̂_0,i - w_i·x̂_0,i-1,   w_i = h_i/(2 h_{i-1}),   x_{i+1} = D_i + σ_{i+1}·(x_i - D_i)/σ_i,     (b)
second order in h. Three places where (b) meets an infinite h:
- From σ_0 = ∞ the ODE starts at SNR = 0, where x_σ is infinite; x is then carried as x_T (unit noise) and the
  step is eq. 21 at ᾱ = 0, x_1 = x̂_0 + σ_1·ε̂ with ε̂ = x_T (eq. 17 at ᾱ = 0): exact, as in sample_ddim_sigmas.
- The step after it has h_0 = ∞, so w_1 = 0: the slope from λ = -∞ is zero and (b) is DDIM again, without a
  special case. The correction starts at the third model call.
- A step to σ = 0 has h = ∞ and r = 0, where (b) has no limit; like the reference implementations (diffusers'
  final_sigmas_type="zero", k-diffusion) it takes the first-order step, which returns x̂_0 itself.
Finite sigmas (the clamp's 4518.76 too) are sampled as given, and there (b) is DPM-Solver++(2M) exactly.
"""
from __future__ import annotations

import itertools
import math

import torch

from ._checks import FiniteWatch, check_sigmas
from ._progress import progress
from .parametrization import eps_from_denoised


def dpmpp_2m_weights(sigmas: list[float]) -> list[float]:
    """w_i = h_i/(2 h_{i-1}) of step i along `sigmas` (descending floats): 0 for the first step, after σ = ∞
    (h_{i-1} = ∞) and for a step to σ = 0 (first order there), so that every step is (b) of the module docstring."""
    h = [math.log(a / b) if b > 0.0 else math.inf for a, b in itertools.pairwise(sigmas)]
    return [0.0 if i == 0 or sigmas[i + 1] == 0.0 else h[i] / (2.0 * h[i - 1]) for i in range(len(h))]


def sample_dpmpp_2m_sigmas(model, x, sigmas, extra_args=None, callback=None, disable=None) -> torch.Tensor:
    """DPM-Solver++(2M) (Lu et al. 2022, Algorithm 2) along exactly these sigmas, exact from σ = ∞ (eq. 21 of
    arXiv 2305.08891 for its first step).

    `model(x, sigma, **extra_args)` is a denoiser returning x̂_0 (as ComfyUI and k-diffusion provide), called once per
    entry of sigmas but the last, with sigma of shape (B,) (a broadcast view: do not write to it). `sigmas` is
    strictly descending, usually ending at 0. With sigmas[0] = inf (SNR = 0), x is x_T in variance-preserving scale
    (plain unit noise, not noise·σ); otherwise x = x_σ0 as k-diffusion takes it. Deterministic. `callback` gets
    k-diffusion's keys {"i", "x", "sigma", "sigma_hat", "denoised"} after each model call.
    """
    extra_args = {} if extra_args is None else extra_args
    s, sig = check_sigmas(sigmas, x)
    w = dpmpp_2m_weights(s)
    watch = FiniteWatch()
    x0_prev = None
    for i in progress(len(s) - 1, disable):
        x0 = watch(model(x, sig[i].expand(x.shape[0]), **extra_args), x, f"sigma = {s[i]}", "the denoiser's output")
        if callback is not None:
            callback({"i": i, "x": x, "sigma": sig[i], "sigma_hat": sig[i], "denoised": x0})
        d = x0 if w[i] == 0.0 else x0 + w[i] * (x0 - x0_prev)  # D_i of (b)
        x = torch.add(d, eps_from_denoised(x, d, s[i]), alpha=s[i + 1])  # (b): D + σ'·ε̂; eq. 21 when w = 0
        x0_prev = x0
    return watch.result(x)
