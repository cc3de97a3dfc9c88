"""Adapters between a discrete-time model ε̂/v̂/x̂_0(x_t, t) and a σ-space denoiser x̂_0(x_σ, σ)."""
from __future__ import annotations

import math

import torch

from ._checks import alpha_bar_vector, check_choice
from .errors import EpsilonAtZeroSNRError
from .parametrization import (
    PREDICTION_TYPES,
    alpha_bar_from_sigma,
    is_clamped_zero_snr,
    predict_v,
    predict_x0,
    sigma_from_alpha_bar,
)


def timestep_from_sigma(sigma: torch.Tensor, alphas_cumprod) -> torch.Tensor:
    """The training timestep nearest to each σ in log σ (as ComfyUI maps σ back to t), shape (B,), int64.

    σ = inf maps to the schedule's ᾱ = 0 timestep, and so does ZERO_SNR_ALPHA_BAR_CLAMP's σ, as in ComfyUI's
    tables; a schedule without an ᾱ = 0 timestep refuses σ = inf.
    """
    return _SigmaTable(alphas_cumprod).timesteps(sigma)


class _SigmaTable:
    """log σ of every training timestep, built once (float64, CPU)."""

    def __init__(self, alphas_cumprod):
        ac = alpha_bar_vector(alphas_cumprod)
        log_table = sigma_from_alpha_bar(ac, clamp=True).log()  # (T,), the clamp's σ where ᾱ = 0
        self.index = torch.isfinite(log_table).nonzero().squeeze(1)  # all t but an ᾱ = 1 start
        self.log_sigma = log_table[self.index]
        self.last, self.zero_snr = len(ac) - 1, ac[-1].item() == 0.0
        self.last_alpha_bar = ac[-1].item()

    def timesteps(self, sigma) -> torch.Tensor:
        s = torch.as_tensor(sigma).detach().to("cpu", torch.float64).reshape(-1)
        if bool(torch.isnan(s).any()) or bool((s <= 0).any()):
            raise ValueError(f"sigma must be > 0 to pick a timestep, got {s.tolist()}")
        inf = torch.isinf(s)
        if bool(inf.any()) and not self.zero_snr:
            raise ValueError(
                f"σ = inf means SNR = 0, but this schedule's last ᾱ is {self.last_alpha_bar:.4g} > 0; "
                "rescale it with rescale_zero_terminal_snr or start from a finite σ"
            )
        t = self.index[(s.log()[:, None] - self.log_sigma[None, :]).abs().argmin(dim=1)]  # (B,)
        return torch.where(inf, torch.full_like(t, self.last), t)


def vp_input(x: torch.Tensor, sigma) -> tuple[torch.Tensor, torch.Tensor]:
    """(x_t, ᾱ) for a σ-space sample x at σ (scalar or (B,)): x_t = x_σ·√ᾱ with ᾱ = 1/(1+σ²), the continuous ᾱ
    (float64, on the CPU). At σ = inf, x is taken to be x_T already (the convention of sample_ddim_sigmas)."""
    sigma = torch.as_tensor(sigma).detach().to("cpu", torch.float64).reshape(-1).expand(x.shape[0])
    ab = alpha_bar_from_sigma(sigma)
    scale = torch.where(torch.isinf(sigma), 1.0, ab.sqrt())  # (B,)
    return x * scale.to(x.device, x.dtype).view((-1,) + (1,) * (x.ndim - 1)), ab


def denoiser_from_model(model, alphas_cumprod, prediction_type: str = "v_prediction"):
    """Wrap `model(x_t, t, **kw) -> raw output` as a σ-space denoiser `(x_σ, σ, **kw) -> x̂_0`.

    x_t = x_σ/√(1+σ²) with the continuous σ; t is the nearest training timestep. At σ = inf, x is taken to be x_T
    already (see sample_ddim_sigmas) and x̂_0 is exact (-v̂ for v-models). σ is read on the CPU (one small copy per
    call), so that the σ → t lookup runs in float64 on every device.
    """
    check_choice("prediction_type", prediction_type, PREDICTION_TYPES)
    table = _SigmaTable(alphas_cumprod)

    def denoiser(x: torch.Tensor, sigma: torch.Tensor, **kwargs) -> torch.Tensor:
        sigma = torch.as_tensor(sigma).detach().to("cpu", torch.float64).reshape(-1).expand(x.shape[0])
        x_t, ab = vp_input(x, sigma)
        return predict_x0(model(x_t, table.timesteps(sigma).to(x.device), **kwargs), x_t, ab, prediction_type)

    return denoiser


def exact_zero_snr_start(denoiser, x: torch.Tensor, sigmas: torch.Tensor, prediction_type: str = "v_prediction"):
    """(denoiser, x, sigmas) for `sample_ddim_sigmas`, with a clamped start at SNR = 0 turned into the exact one.

    σ-space consumers start a zero-SNR schedule at the clamp's σ_c = 4518.76 (ZERO_SNR_ALPHA_BAR_CLAMP) with
    x = x_T·√(1+σ_c²). If sigmas[0] is σ_c, this returns sigmas with sigmas[0] = inf, x_T = x/√(1+σ_c²), and a
    denoiser that answers σ = inf by calling `denoiser` at σ_c (the model's t = T) and converting its x̂_0,c to the
    exact x̂_0 at ᾱ = 0: v̂ = (√ᾱ_c·x_T - x̂_0,c)/√(1-ᾱ_c) (eq. 19 solved for v̂), then x̂_0 = -v̂ (eq. 19 at ᾱ = 0).
    Guidance mixes x̂_0,c linearly, so the conversion holds for the guided output too. x_0-prediction models
    already return the exact x̂_0; ε-prediction has none at ᾱ = 0 and is refused. Other sigmas pass through.
    """
    check_choice("prediction_type", prediction_type, PREDICTION_TYPES)
    sigma_c = float(sigmas[0])
    if not is_clamped_zero_snr(sigma_c):
        return denoiser, x, sigmas
    if prediction_type == "epsilon":
        raise EpsilonAtZeroSNRError()
    alpha_bar_c = alpha_bar_from_sigma(sigma_c)
    sigmas = torch.cat([torch.full_like(sigmas[:1], math.inf), sigmas[1:]])

    def exact(x_t: torch.Tensor, sigma: torch.Tensor, **kwargs) -> torch.Tensor:
        if not bool(torch.isinf(sigma).any()):
            return denoiser(x_t, sigma, **kwargs)
        x0_c = denoiser(x_t * math.sqrt(1.0 + sigma_c * sigma_c), torch.full_like(sigma, sigma_c), **kwargs)
        if prediction_type == "sample":
            return x0_c
        return predict_x0(predict_v(x0_c, x_t, alpha_bar_c, "sample"), x_t, 0.0, "v_prediction")

    return exact, x / math.sqrt(1.0 + sigma_c * sigma_c), sigmas
