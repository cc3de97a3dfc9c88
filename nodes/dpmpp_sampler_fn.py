"""The DPM++ 2M (zero-SNR exact) sampler function, k-diffusion's signature for comfy.samplers.KSAMPLER (no ComfyUI
import here), and the exact-start adapter it shares with any core σ-space sampler."""
from __future__ import annotations

from ..zsnr_core import exact_zero_snr_start, is_clamped_zero_snr, sample_dpmpp_2m_sigmas
from .model_sampling import prediction_type


def exact_start(model, x, sigmas, name: str):
    """(model, x, sigmas) with a clamped start at SNR = 0 made exact (σ = inf, x = x_T), else unchanged.

    `model` is ComfyUI's KSamplerX0Inpaint; KSAMPLER scaled x by √(1+σ₀²) when sigmas[0] is the model's σ_max.
    The exact start applies when both the model's table and sigmas[0] end at the clamp's σ (SNR = 0).
    """
    try:
        model_sampling = model.inner_model.inner_model.model_sampling
    except AttributeError as e:
        raise TypeError(
            f"{name} runs inside ComfyUI's samplers (KSAMPLER), which pass a wrapped model; got {type(model).__name__}"
        ) from e
    if is_clamped_zero_snr(model_sampling.sigmas[-1]):
        return exact_zero_snr_start(model, x, sigmas, prediction_type(model_sampling))
    return model, x, sigmas


def sample_dpmpp_2m_zero_snr(model, x, sigmas, extra_args=None, callback=None, disable=None):
    """DPM-Solver++(2M) along exactly these sigmas; from t = T of a zero-SNR model the exact step of eq. 21 first."""
    model, x, sigmas = exact_start(model, x, sigmas, "DPM++ 2M (zero-SNR exact)")
    return sample_dpmpp_2m_sigmas(model, x, sigmas, extra_args=extra_args, callback=callback, disable=disable)
