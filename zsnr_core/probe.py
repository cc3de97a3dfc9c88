"""Tell an ε-prediction model from a v-prediction model by calling it, for checkpoints whose files say nothing.

The statistic (arXiv 2305.08891 §2 and eq. 17 for the two parametrisations). Feed the model unit Gaussian noise x
(d numbers) as x_t at a timestep t₁ near T, where ᾱ = ᾱ_{t₁} is small, and fit its output f by least squares on x:
c = ⟨f, x⟩ / ⟨x, x⟩. With x_t = √ᾱ·x₀ + √(1-ᾱ)·ε and the model's estimate x̂₀ = E[x₀ | x_t]:

    ε-model   f = ε̂ = (x - √ᾱ·x̂₀) / √(1-ᾱ)              c = 1/√(1-ᾱ) - √(ᾱ/(1-ᾱ))·k
    v-model   f = v̂ = √ᾱ·ε̂ - √(1-ᾱ)·x̂₀ = (√ᾱ·x - x̂₀)/√(1-ᾱ)   c = √(ᾱ/(1-ᾱ)) - k/√(1-ᾱ)

where k = ⟨x̂₀, x⟩/⟨x, x⟩. For data of mean μ and per-element variance s² (images in [-1, 1] and SD latents have
s² ≤ 1) the posterior mean at small ᾱ is x̂₀ ≈ μ + √ᾱ·s²·x, so k ≈ √ᾱ·s² (⟨μ, x⟩ averages to 0 over unit noise):

    E[c | ε] ≈ (1 - ᾱ·s²)/√(1-ᾱ)  ∈ [√(1-ᾱ), 1/√(1-ᾱ)]  ≈ 1
    E[c | v] ≈ √ᾱ·(1 - s²)/√(1-ᾱ) ∈ [0, √(ᾱ/(1-ᾱ))]     = 0.068 at most for Stable Diffusion's t = T (ᾱ = 0.0047),
                                                          0 at zero terminal SNR.

The two are separated by scale, not by direction: cosine(f, x) is ≈ 1 for both whenever x̂₀ is small next to the
noise. The probe cuts halfway between the two expectations, and answers None (cannot tell) within `margin` of the
cut. Measured on the shipped toy models (tests/test_probe.py, docs/checkpoint-flags.md): ε-model 1.00, v-model 0.19
at t = 999 (a trained v-model is not the ideal posterior mean; 0.19 is still 0.34 below the cut).

A small coefficient alone cannot tell a v-model from a network that has learnt nothing (one whose output is zero
or random noise also has c ≈ 0). So the answer must also pass a denoising check under its hypothesis H: take the
model's own x̂₀ under H (eq. 19), noise it afresh to ᾱ₂ = 0.8 (SNR 4) with new noise ε', call the model there and
convert its output to ε̂ under H (eq. 17). A trained H-model denoises its own x̂₀ well: the relative error
e_H = ‖ε̂ - ε'‖²/‖ε'‖² is small. Under the wrong H, or for an untrained network, x̂₀ is noise-like and e_H is large:
a network that outputs zeros scores e = 1 as ε and e ≥ ᾱ₂² = 0.64 as v (ε̂ = √(1-ᾱ₂)·x_t), so the check accepts
e_H below half of that, ᾱ₂²/2 = 0.32. Cost: three model calls on one batch (one at t₁, one per hypothesis at t₂).

The check needs data that a denoiser can tell from noise. For white Gaussian data of variance s² even the exact
denoiser scores e = (ᾱ₂s²/(ᾱ₂s² + 1 - ᾱ₂))², under 0.32 only for s² < 0.33; above that the probe says None (never
the wrong type: tests/test_probe.py). Images have structure that trained models use (the toy models score 0.07-0.09),
but no real Stable Diffusion checkpoint has been probed here: there are no such weights in this repository.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ._checks import check_float, check_model_output, schedule_alpha_bar
from .parametrization import add_noise, predict_eps, predict_x0

ALPHA_BAR_FLOOR = 1e-3  # t₁'s ᾱ at least this: the ε-form x̂₀ divides by √ᾱ, so a 32x amplification at most
CHECK_ALPHA_BAR = 0.8  # ᾱ₂ of the denoising check: SNR 4
CHECK_ERROR_LIMIT = CHECK_ALPHA_BAR ** 2 / 2  # half the error of a network that outputs zeros (see above)
DEFAULT_MARGIN = 0.15  # the "cannot tell" half-width around the cut, in units of the coefficient


@dataclass(frozen=True)
class ProbeResult:
    """The probe's answer and its evidence. `prediction_type` is 'epsilon', 'v_prediction' or None (cannot tell,
    `reason` says why)."""

    prediction_type: str | None
    coefficient: float  # least-squares coefficient of the output on the input at t₁
    expected: dict  # {'epsilon': E[c | ε], 'v_prediction': upper end of E[c | v]} at t₁ (s² = 0, the bounds)
    cut: float
    margin: float
    check_error: dict  # {'epsilon': e_ε, 'v_prediction': e_v}: the denoising check's relative ε error (nan: not run)
    check_limit: float
    timesteps: tuple[int, int]  # (t₁, t₂)
    model_calls: int
    reason: str

    def summary(self) -> str:
        errs = ", ".join(f"{k} {v:.3f}" for k, v in self.check_error.items())
        return (f"probed: {self.prediction_type or 'cannot tell'} ({self.reason}); coefficient {self.coefficient:.3f} "
                f"at t = {self.timesteps[0]} (ε ≈ {self.expected['epsilon']:.3f}, v ≤ "
                f"{self.expected['v_prediction']:.3f}, cut {self.cut:.3f} ± {self.margin}); denoising check at "
                f"t = {self.timesteps[1]}: {errs} (accept < {self.check_limit:.2f}); {self.model_calls} model calls")


def _timestep_near(ac: torch.Tensor, predicate) -> int:
    hits = torch.nonzero(predicate(ac)).flatten()
    return int(hits[-1]) if len(hits) else -1


@torch.no_grad()
def probe_prediction_type(model, alphas_cumprod, sample_shape, *, margin: float = DEFAULT_MARGIN, seed: int = 0,
                          device=None, dtype=torch.float32) -> ProbeResult:
    """Call `model(x_t, t)` (as in sample_ddim: raw output, t a LongTensor (B,)) on a seeded batch of unit noise of
    `sample_shape` (B, C, H, W), three times, and say whether it predicts ε or v (module docstring).

    `alphas_cumprod` is the schedule the model was trained with, as far as the caller knows (Stable Diffusion's for a
    silent SD checkpoint); t₁ is its last timestep whose ᾱ ≥ 1e-3 (t = T for SD's schedule).
    """
    ac = schedule_alpha_bar(alphas_cumprod)
    margin = check_float("margin", margin, 0.0, 0.5, "the cut is 0.5 from either side at most")
    shape = tuple(int(s) for s in sample_shape)
    if len(shape) < 2 or min(shape) < 1:
        raise ValueError(f"sample_shape must be (B, C, ...) with every size ≥ 1, got {tuple(sample_shape)}")
    t1 = _timestep_near(ac, lambda a: a >= ALPHA_BAR_FLOOR)
    t2 = int(torch.argmin((ac - CHECK_ALPHA_BAR).abs()))
    if t1 < 0 or t1 <= t2:
        raise ValueError(f"the schedule has no timestep with ᾱ ≥ {ALPHA_BAR_FLOOR} above its ᾱ ≈ {CHECK_ALPHA_BAR} "
                         f"step (ᾱ runs from {float(ac[0]):.3g} to {float(ac[-1]):.3g}); pass the model's training "
                         "schedule")
    a1, a2 = float(ac[t1]), float(ac[t2])
    gen = torch.Generator(device="cpu").manual_seed(seed)
    x = torch.randn(shape, generator=gen).to(device=device, dtype=dtype)
    fresh = torch.randn(shape, generator=gen).to(device=device, dtype=dtype)

    def call(x_t, t):
        return check_model_output(model(x_t, torch.full((shape[0],), t, dtype=torch.long, device=x_t.device)), x_t)

    out = call(x, t1).to(torch.float64)
    x64 = x.to(torch.float64)
    coefficient = float((out * x64).sum() / (x64 * x64).sum())
    expected = {"epsilon": 1 / (1 - a1) ** 0.5, "v_prediction": (a1 / (1 - a1)) ** 0.5}
    cut = (expected["epsilon"] + expected["v_prediction"]) / 2
    check_error = {}
    for kind in expected:
        x0 = predict_x0(out, x64, a1, kind)
        x_t2 = add_noise(x0, fresh.to(torch.float64), a2).to(dtype)  # x̂0 noised again to ᾱ₂
        eps = predict_eps(call(x_t2, t2).to(torch.float64), x_t2.to(torch.float64), a2, kind)
        err = float((eps - fresh).pow(2).sum() / fresh.to(torch.float64).pow(2).sum())
        check_error[kind] = float("inf") if math.isnan(err) else err  # an overflowed x̂0 fails the check
    candidate = "epsilon" if coefficient > cut else "v_prediction"
    other = "v_prediction" if candidate == "epsilon" else "epsilon"
    if abs(coefficient - cut) < margin:
        answer, reason = None, f"coefficient within {margin} of the cut"
    elif not check_error[candidate] < CHECK_ERROR_LIMIT:
        answer, reason = None, (f"the coefficient says {candidate}, but the model does not denoise as one (error "
                                f"{check_error[candidate]:.3f}): untrained, or trained on another schedule")
    elif not check_error[candidate] < check_error[other]:
        answer, reason = None, f"the denoising check fits {other} better than the coefficient's {candidate}"
    else:
        answer, reason = candidate, "coefficient and denoising check agree"
    return ProbeResult(answer, coefficient, expected, cut, margin, check_error, CHECK_ERROR_LIMIT, (t1, t2), 3, reason)
