"""DPM-Solver++(2M) in k-diffusion's σ-space, exact from σ = ∞ (SNR = 0) as Lin et al. (2024) require.

Notation (variable → symbol):
    sigmas[i], s[i]     σ_i; x_σ = x_0 + σ·ε = x_t·√(1+σ²) (σ-space); λ_i = -log σ_i, half the log-SNR
    h[i]                h_i = λ_{i+1} - λ_i = log(σ_i/σ_{i+1}), the step in λ (inf from σ = ∞ or to σ = 0)
    w[i]                1/(2 r_i) with r_i = h_{i-1}/h_i: the weight of the multistep correction
    denoised, old       x̂_0 at σ_i and at σ_{i-1}

Derivation. The probability-flow ODE in σ-space is dx/dσ = (x - x̂_0(x, σ))/σ (Karras et al. 2022), that is
dx/dλ = x̂_0 - x, whose linear part integrates exactly (Lu et al. 2022, "DPM-Solver++", arXiv 2211.01095):
    x_{σ'} = (σ'/σ)·x_σ + σ'·∫_λ^λ' e^u·x̂_0(u) du.                                                          (a)
Taking x̂_0 constant over the step gives (σ'/σ)·x + (1 - σ'/σ)·x̂_0: DDIM, equation (21) of Lin et al. (2024)
in σ-space. Taking x̂_0 linear in λ, with the slope read from the previous model call,
x̂_0(u) ≈ x̂_0,i + (u - λ_i)·(x̂_0,i - x̂_0,i-1)/h_{i-1}, and the weight of the slope term approximated to the same
order as Lu et al. do, turns (a) into Algorithm 2 of DPM-Solver++ (2M, the "midpoint" form):
    D_i = (1 + w_i)·x̂_0,i - w_i·x̂_0,i-1,   w_i = 1/(2 r_i) = h_i/(2 h_{i-1}),
    x_{i+1} = (σ_{i+1}/σ_i)·x_i + (1 - σ_{i+1}/σ_i)·D_i,                                                   (b)
second order in h. Three places where (b) meets an infinite h:
- From σ_0 = ∞ the ODE starts at SNR = 0, where x_σ is infinite; x is then carried as x_T (unit noise) and the
  step is eq. (21) at ᾱ = 0, x_1 = x̂_0 + σ_1·ε̂ with ε̂ = x_T (eq. 17 at ᾱ = 0): exact, as in sample_ddim_sigmas.
- The step after it has h_0 = ∞, so r_1 = ∞ and w_1 = 0: the slope from λ = -∞ is zero and (b) is DDIM again,
  without a special case. The correction starts at the third model call.
- A step to σ = 0 has h = ∞ and r = 0, where (b) has no limit; like the reference implementations (diffusers'
  final_sigmas_type="zero", k-diffusion) it takes the first-order step, which returns x̂_0 itself.
Finite sigmas (the clamp's 4518.76 too) are sampled as given, and there (b) is DPM-Solver++(2M) exactly.
"""
from __future__ import annotations

import itertools
import math

import torch

from ._checks import check_model_output
from ._progress import progress
from .sampling import _check_sigmas, _ddim_sigma_step, _raise_if_nonfinite, _sigmas_on_device


def dpmpp_2m_weights(sigmas: list[float]) -> list[float]:
    """w_i = h_i/(2 h_{i-1}) of step i along `sigmas` (descending floats): 0 for the first step, after σ = ∞
    (h_{i-1} = ∞) and for a step to σ = 0 (first order there), so that every step is (b) of the module docstring."""
    h = [math.log(a / b) if b > 0.0 else math.inf for a, b in itertools.pairwise(sigmas)]
    return [0.0 if i == 0 or sigmas[i + 1] == 0.0 else h[i] / (2.0 * h[i - 1]) for i in range(len(h))]


def sample_dpmpp_2m_sigmas(model, x, sigmas, extra_args=None, callback=None, disable=None):
    """DPM-Solver++(2M) (Lu et al. 2022, Algorithm 2) along exactly these sigmas, exact from σ = ∞ (Lin et al. eq. 21).

    `model(x, sigma, **extra_args)` is a denoiser returning x̂_0 (as ComfyUI and k-diffusion provide), called once per
    entry of sigmas but the last, with sigma of shape (B,) (a broadcast view; do not write to it). `sigmas` is
    strictly descending, usually ending at 0. With sigmas[0] = inf (SNR = 0), x is x_T in variance-preserving scale
    (plain unit noise, not noise·σ) and the first step is equation (21) exactly; otherwise x = x_σ0 as k-diffusion
    takes it. Deterministic; one x̂_0 more is kept in memory than DDIM keeps. `callback` gets k-diffusion's keys
    {"i", "x", "sigma", "sigma_hat", "denoised"} after each model call. A model output of another shape than x, or
    one that is NaN or inf, is an error that names the step. The derivation is in the module docstring.
    """
    extra_args = {} if extra_args is None else extra_args
    s = _check_sigmas(sigmas, x)
    steps = [_ddim_sigma_step(s[i], s[i + 1])[:2] for i in range(len(s) - 1)]  # (σ'/σ, 1 - σ'/σ) of (b)
    weights = dpmpp_2m_weights(s)
    sig = _sigmas_on_device(sigmas, x)
    sums, old = [], None
    for i in progress(len(s) - 1, disable):
        denoised = check_model_output(model(x, sig[i].expand(x.shape[0]), **extra_args), x, "the denoiser's output")
        sums.append(denoised.sum(dtype=torch.float32))
        if callback is not None:
            callback({"i": i, "x": x, "sigma": sig[i], "sigma_hat": sig[i], "denoised": denoised})
        A, B = steps[i]
        w = weights[i]
        D = denoised if w == 0.0 else denoised + w * (denoised - old)  # D_i of (b)
        x = D if A == 0.0 else torch.add(D if B == 1.0 else B * D, x, alpha=A)  # (b); eq. (21) when w = 0
        old = denoised
    _raise_if_nonfinite(sums, [f"sigma = {v}" for v in s[:-1]])
    return x
