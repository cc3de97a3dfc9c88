"""Our samplers as ComfyUI sampler functions (k-diffusion's signature, for comfy.samplers.KSAMPLER)."""
from __future__ import annotations

from ..zsnr_core import exact_zero_snr_start, is_clamped_zero_snr, sample_ddim_sigmas, sample_dpmpp_2m_sigmas
from .model_sampling import prediction_type, require_ddpm


def comfy_sampler(core_sampler, name: str):
    """A KSAMPLER function around a core σ-space sampler that takes sigmas[0] = inf as SNR = 0 (sample_ddim_sigmas).

    `model` is ComfyUI's KSamplerX0Inpaint; KSAMPLER scaled x by √(1+σ₀²) when sigmas[0] is the model's σ_max.
    Models outside DDPM's σ space (flow matching, EDM, ...) are refused with their family named. From t = T of a
    zero-SNR model (the table and sigmas[0] at the clamp's σ) the sampler gets the exact start (x̂0 = -v̂, eq. 19).
    """

    def sample(model, x, sigmas, extra_args=None, callback=None, disable=None, **options):
        try:
            base_model = model.inner_model.inner_model
            model_sampling = base_model.model_sampling
        except AttributeError as e:
            raise TypeError(
                f"{name} runs inside ComfyUI's samplers (KSAMPLER), which pass a wrapped model; "
                f"got {type(model).__name__}"
            ) from e
        require_ddpm(model_sampling, base_model, name)
        if is_clamped_zero_snr(model_sampling.sigmas[-1]):
            model, x, sigmas = exact_zero_snr_start(model, x, sigmas, prediction_type(model_sampling))
        return core_sampler(model, x, sigmas, extra_args=extra_args, callback=callback, disable=disable, **options)

    own = getattr(core_sampler, "__name__", "sample")
    sample.__name__ = sample.__qualname__ = own.removesuffix("_sigmas") + "_zero_snr"
    return sample


sample_ddim_zero_snr = comfy_sampler(sample_ddim_sigmas, "DDIM (zero-SNR exact)")
sample_ddim_zero_snr.__doc__ = "DDIM along exactly these sigmas; from t = T of a zero-SNR model, eq. 21 at ᾱ_T = 0."

sample_dpmpp_2m_zero_snr = comfy_sampler(sample_dpmpp_2m_sigmas, "DPM++ 2M (zero-SNR exact)")
sample_dpmpp_2m_zero_snr.__doc__ = ("DPM-Solver++(2M) along exactly these sigmas; from t = T of a zero-SNR model the "
                                    "exact step of eq. 21 first.")
