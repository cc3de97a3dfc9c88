"""Every ε / v / x̂0 / σ ↔ ᾱ conversion, exact at ᾱ = 0 (SNR = 0), arXiv 2305.08891 section 6 (eqs. 17, 19).

Notation (variable → symbol):
    alpha_bar_t   ᾱ_t                    x_t           √ᾱ_t·x_0 + √(1-ᾱ_t)·ε   (variance preserving)
    model_output  ε̂, v̂ or x̂_0           sigma         σ = √((1-ᾱ)/ᾱ), k-diffusion's noise level
    v             √ᾱ_t·ε - √(1-ᾱ_t)·x_0  x (σ-space)   x_σ = x_0 + σ·ε = x_t·√(1+σ²)

`alpha_bar_t` is a float, a 0-d tensor, or a tensor of shape (B,) with one ᾱ per sample.
"""
from __future__ import annotations

import math

import torch

from ._checks import check_choice, check_float, check_same_shape, check_unit_interval
from .errors import EpsilonAtZeroSNRError

PREDICTION_TYPES = ("epsilon", "v_prediction", "sample")

# σ-space consumers (k-diffusion, ComfyUI, A1111) cannot hold σ = ∞, so SNR = 0 needs a finite stand-in there.
# This is the one clamp in the library: ComfyUI, A1111 and Forge set ᾱ_T = 4.8973451890853435e-8
# (σ = 4518.76, √ᾱ = 2.2e-4); diffusers' Euler/DPM++/UniPC use 2⁻²⁴ (σ = 4096). We take ComfyUI's value so
# that a schedule exported with clamp=True gives the σ table ComfyUI itself builds for zero-SNR models.
# Everything in ᾱ-space, and the σ-space sampler given σ = inf, stays exact and never uses it.
ZERO_SNR_ALPHA_BAR_CLAMP = 4.8973451890853435e-08
_CLAMP_SIGMA = math.sqrt((1.0 - ZERO_SNR_ALPHA_BAR_CLAMP) / ZERO_SNR_ALPHA_BAR_CLAMP)  # 4518.76
# Tables store the clamp's σ in float32 (6e-8 relative); 1e-5 is ComfyUI's own tolerance for "σ is σ_max".
_CLAMP_RTOL = 1e-5

EPSILON_AT_ZERO_SNR = str(EpsilonAtZeroSNRError())  # the message, for readers of 0.1 (raise the type instead)


def _coefficients(alpha_bar_t, like: torch.Tensor):
    """(√ᾱ, √(1-ᾱ), ᾱ == 0 anywhere, ᾱ == 1 anywhere), broadcastable against `like` of shape (B, ...)."""
    if isinstance(alpha_bar_t, torch.Tensor) and alpha_bar_t.ndim > 0:
        if alpha_bar_t.ndim != 1 or alpha_bar_t.shape[0] != like.shape[0]:
            raise ValueError(
                f"alpha_bar_t must be a float or have shape (B,) = ({like.shape[0]},), "
                f"got shape {tuple(alpha_bar_t.shape)}"
            )
        ab = check_unit_interval("alpha_bar_t", alpha_bar_t)
        shape = (-1,) + (1,) * (like.ndim - 1)
        a = ab.sqrt().to(like.device, like.dtype).view(shape)
        b = (1 - ab).sqrt().to(like.device, like.dtype).view(shape)
        return a, b, bool((ab == 0).any()), bool((ab == 1).any())
    ab = check_float("alpha_bar_t", alpha_bar_t, 0.0, 1.0)
    return math.sqrt(ab), math.sqrt(1.0 - ab), ab == 0.0, ab == 1.0


def _x0_coefficients(a, b, prediction_type: str):
    """(p, q) with x̂_0 = p·x_t + q·output. v: equation (19); ε: (x_t - √(1-ᾱ)ε̂)/√ᾱ, which needs ᾱ > 0."""
    if prediction_type == "v_prediction":
        return a, -b
    if prediction_type == "epsilon":
        return 1.0 / a, -b / a
    return 0.0, 1.0


def _eps_coefficients(a, b, prediction_type: str):
    """(r, s) with ε̂ = r·x_t + s·output. v: equation (17); x_0: (x_t - √ᾱ·x̂_0)/√(1-ᾱ), which needs ᾱ < 1."""
    if prediction_type == "v_prediction":
        return b, a
    if prediction_type == "epsilon":
        return 0.0, 1.0
    return 1.0 / b, -a / b


def _combine(p, x_t, q, model_output):
    """p·x_t + q·output, skipping exact 0 and 1 scalars so that x̂_0 = -v̂ and ε̂ = x_T hold to the bit at ᾱ = 0."""
    if isinstance(p, float) and p == 0.0:
        return model_output if isinstance(q, float) and q == 1.0 else q * model_output
    scaled = x_t if isinstance(p, float) and p == 1.0 else p * x_t
    fused = isinstance(q, float) and model_output.is_floating_point()
    if fused and abs(q) <= torch.finfo(model_output.dtype).max:  # one kernel instead of two, twice per sampler step
        return torch.add(scaled, model_output, alpha=q)
    return scaled + q * model_output


def conversion_coefficients(alpha_bar_t: float, prediction_type: str) -> tuple[float, float, float, float]:
    """Scalars (p, q, r, s) with x̂_0 = p·x_t + q·output and ε̂ = r·x_t + s·output at one ᾱ (float64).

    Every conversion below is one of these linear maps; samplers fold them into their step. Refuses ε-prediction
    at ᾱ = 0 and x_0-prediction's ε̂ at ᾱ = 1, where the maps do not exist.
    """
    check_choice("prediction_type", prediction_type, PREDICTION_TYPES)
    a, b, zero, one = _coefficients(alpha_bar_t, torch.empty(1))
    _refuse_singular(prediction_type, zero, one, need_eps=True)
    return (*_x0_coefficients(a, b, prediction_type), *_eps_coefficients(a, b, prediction_type))


def _refuse_singular(prediction_type: str, zero: bool, one: bool, need_eps: bool) -> None:
    if prediction_type == "epsilon" and zero:
        raise EpsilonAtZeroSNRError()
    if prediction_type == "sample" and one and need_eps:
        raise ValueError(
            "prediction_type='sample' gives no ε̂ at ᾱ = 1: x_t = x_0 carries no noise; "
            "evaluate the model only at timesteps with ᾱ < 1"
        )


# The two conversions every sampler step makes, at one ᾱ (a Python float). Unchecked: a sampler checks its inputs
# once, at its door, and calls these once per step.

def x0_from_output(output: torch.Tensor, x_t: torch.Tensor, alpha_bar: float, prediction_type: str) -> torch.Tensor:
    """x̂_0 from the model's output: eq. 19 for v (x̂_0 = -v̂ at ᾱ = 0, to the bit); (x_t - √(1-ᾱ)·ε̂)/√ᾱ for ε."""
    p, q = _x0_coefficients(math.sqrt(alpha_bar), math.sqrt(1.0 - alpha_bar), prediction_type)
    return _combine(p, x_t, q, output)


def eps_from_output(output: torch.Tensor, x_t: torch.Tensor, alpha_bar: float, prediction_type: str) -> torch.Tensor:
    """ε̂ from the model's output: eq. 17 for v (ε̂ = x_T at ᾱ = 0, to the bit); (x_t - √ᾱ·x̂_0)/√(1-ᾱ) for x_0."""
    r, s = _eps_coefficients(math.sqrt(alpha_bar), math.sqrt(1.0 - alpha_bar), prediction_type)
    return _combine(r, x_t, s, output)


def eps_from_denoised(x: torch.Tensor, denoised: torch.Tensor, sigma: float) -> torch.Tensor:
    """ε̂ in σ-space, from x_σ = x̂_0 + σ·ε̂; at σ = inf x is carried as x_T (x_σ itself would be infinite) and
    ε̂ = x_T, eq. 17 at ᾱ = 0."""
    return x if math.isinf(sigma) else (x - denoised) / sigma


def predict_x0(model_output, x_t, alpha_bar_t, prediction_type: str) -> torch.Tensor:
    """x̂_0 from the model's output: equation (19) for v, exact at ᾱ = 0 where x̂_0 = -v̂."""
    return _convert(model_output, x_t, alpha_bar_t, prediction_type, _x0_coefficients, need_eps=False)


def predict_eps(model_output, x_t, alpha_bar_t, prediction_type: str) -> torch.Tensor:
    """ε̂ from the model's output: equation (17) for v, exact at ᾱ = 0 where ε̂ = x_T."""
    return _convert(model_output, x_t, alpha_bar_t, prediction_type, _eps_coefficients, need_eps=True)


def _convert(model_output, x_t, alpha_bar_t, prediction_type: str, coefficients, need_eps: bool) -> torch.Tensor:
    check_choice("prediction_type", prediction_type, PREDICTION_TYPES)
    check_same_shape(model_output, x_t)
    a, b, zero, one = _coefficients(alpha_bar_t, x_t)
    _refuse_singular(prediction_type, zero, one, need_eps)
    p, q = coefficients(a, b, prediction_type)
    out = _combine(p, x_t, q, model_output)
    if prediction_type == "epsilon" and not need_eps:
        _refuse_overflow(out, model_output, x_t, a)
    return out


# Below this √ᾱ, ε-prediction's x̂_0 = (x_t - √(1-ᾱ)ε̂)/√ᾱ multiplies by more than 1e6 and may overflow; only then
# is the result scanned for inf/NaN (one reduction), so ordinary calls cost nothing extra.
_EPS_CHECK_BELOW = 1e-6


def _refuse_overflow(out, model_output, x_t, a) -> None:
    smallest = float(a.min()) if isinstance(a, torch.Tensor) else a
    if smallest >= _EPS_CHECK_BELOW or bool(torch.isfinite(out).all()):
        return
    if not (bool(torch.isfinite(model_output).all()) and bool(torch.isfinite(x_t).all())):
        return  # non-finite in, non-finite out: the caller's inputs, not this conversion
    raise ValueError(
        f"prediction_type='epsilon' at ᾱ = {smallest ** 2:.3g} divides by √ᾱ = {smallest:.3g}, and x̂0 overflows "
        f"{out.dtype} (inf/NaN). ε-prediction is ill-conditioned as SNR → 0 (at ᾱ = 0 exactly it is undefined and "
        "refused): use a v_prediction model there, or evaluate at timesteps whose ᾱ is not this small"
    )


def predict_v(model_output, x_t, alpha_bar_t, prediction_type: str) -> torch.Tensor:
    """v̂ = √ᾱ·ε̂ - √(1-ᾱ)·x̂_0 from the model's output (ε-models: undefined at ᾱ = 0, refused)."""
    check_choice("prediction_type", prediction_type, PREDICTION_TYPES)
    check_same_shape(model_output, x_t)
    if prediction_type == "v_prediction":
        return model_output
    a, b, _, _ = _coefficients(alpha_bar_t, x_t)
    x0 = predict_x0(model_output, x_t, alpha_bar_t, prediction_type)
    eps = predict_eps(model_output, x_t, alpha_bar_t, prediction_type)
    return a * eps - b * x0


def v_target(x0, noise, alpha_bar_t) -> torch.Tensor:
    """The v-prediction training target v = √ᾱ·ε - √(1-ᾱ)·x_0 (Salimans & Ho 2022); -x_0 at ᾱ = 0."""
    check_same_shape(noise, x0, "noise", "x0")
    a, b, _, _ = _coefficients(alpha_bar_t, x0)
    return a * noise - b * x0


def add_noise(x0, noise, alpha_bar_t) -> torch.Tensor:
    """The forward process x_t = √ᾱ·x_0 + √(1-ᾱ)·ε; pure noise at ᾱ = 0."""
    check_same_shape(noise, x0, "noise", "x0")
    a, b, _, _ = _coefficients(alpha_bar_t, x0)
    return a * x0 + b * noise


def sigma_from_alpha_bar(alpha_bar, clamp: bool = False):
    """σ = √((1-ᾱ)/ᾱ): +inf where ᾱ = 0 (exact), or, with clamp=True, the σ of ZERO_SNR_ALPHA_BAR_CLAMP there.

    Only exact zeros are clamped: a schedule whose smallest ᾱ is below the clamp but positive (cosine's
    2.4e-9) keeps its own σ. Takes a float or a tensor; returns the same kind (tensors as float64).
    """
    if isinstance(alpha_bar, torch.Tensor):
        ab = check_unit_interval("alpha_bar", alpha_bar)
        if clamp:
            ab = torch.where(ab == 0, torch.full_like(ab, ZERO_SNR_ALPHA_BAR_CLAMP), ab)
        return ((1 - ab) / ab).sqrt()
    ab = check_float("alpha_bar", alpha_bar, 0.0, 1.0)
    if ab == 0.0:
        if not clamp:
            return math.inf
        ab = ZERO_SNR_ALPHA_BAR_CLAMP
    return math.sqrt((1.0 - ab) / ab)


def alpha_bar_from_sigma(sigma):
    """ᾱ = 1/(1+σ²): exactly 0 at σ = inf and 1 at σ = 0. Takes a float or a tensor; returns the same kind."""
    if isinstance(sigma, torch.Tensor):
        s = sigma.detach().to(torch.float64)
        if bool(torch.isnan(s).any()) or bool((s < 0).any()):
            raise ValueError(f"sigma must be >= 0 (inf allowed), got min {s.min().item()}")
        return 1.0 / (1.0 + s * s)
    s = check_float("sigma", sigma, 0.0, math.inf)
    return 1.0 / (1.0 + s * s)


def is_clamped_zero_snr(sigma) -> bool:
    """True if σ is the σ of ZERO_SNR_ALPHA_BAR_CLAMP (to float32 rounding): the finite stand-in for σ = ∞."""
    return math.isclose(float(sigma), _CLAMP_SIGMA, rel_tol=_CLAMP_RTOL)
