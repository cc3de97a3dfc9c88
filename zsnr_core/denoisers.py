"""Adapters between a discrete-time model ε̂/v̂/x̂_0(x_t, t) and a σ-space denoiser x̂_0(x_σ, σ)."""
from __future__ import annotations

import torch

from ._checks import alpha_bar_vector, check_choice
from .parametrization import PREDICTION_TYPES, alpha_bar_from_sigma, predict_x0, sigma_from_alpha_bar


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
        t = table.timesteps(sigma).to(x.device)
        ab = alpha_bar_from_sigma(sigma)
        scale = torch.where(torch.isinf(sigma), 1.0, ab.sqrt())  # (B,)
        x_t = x * scale.to(x.device, x.dtype).view((-1,) + (1,) * (x.ndim - 1))
        return predict_x0(model(x_t, t, **kwargs), x_t, ab, prediction_type)

    return denoiser
