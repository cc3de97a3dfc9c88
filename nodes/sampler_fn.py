"""The DDIM (zero-SNR exact) node's sampler function, k-diffusion's signature for comfy.samplers.KSAMPLER."""
from __future__ import annotations

from ..zsnr_core import exact_zero_snr_start, is_clamped_zero_snr, sample_ddim_sigmas
from .model_sampling import prediction_type


def sample_ddim_zero_snr(model, x, sigmas, extra_args=None, callback=None, disable=None, eta=0.0):
    """DDIM along exactly these sigmas; from t = T of a zero-SNR model, the exact step of eq. 21 (x̂0 = -v̂).

    `model` is ComfyUI's KSamplerX0Inpaint; KSAMPLER scaled x by √(1+σ₀²) when sigmas[0] is the model's σ_max.
    The exact start applies when both the model's table and sigmas[0] end at the clamp's σ (SNR = 0).
    """
    try:
        model_sampling = model.inner_model.inner_model.model_sampling
    except AttributeError as e:
        raise TypeError(
            "DDIM (zero-SNR exact) runs inside ComfyUI's samplers (KSAMPLER), which pass a wrapped model; "
            f"got {type(model).__name__}"
        ) from e
    if is_clamped_zero_snr(model_sampling.sigmas[-1]):
        model, x, sigmas = exact_zero_snr_start(model, x, sigmas, prediction_type(model_sampling))
    return sample_ddim_sigmas(model, x, sigmas, extra_args=extra_args, callback=callback, disable=disable, eta=eta)
