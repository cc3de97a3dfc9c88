"""Our samplers in the stock KSampler's `sampler_name` list: a table name → (sampler function, its options).

A sampler function has k-diffusion's signature `fn(model, x, sigmas, extra_args=None, callback=None, disable=None,
**options)`. KSampler resolves a name through `comfy.samplers.ksampler(name)`, which looks up `sample_<name>` in
`comfy.k_diffusion.sampling`; registering puts the function there (options bound) and the name in the listings, so
KSampler("zsnr_ddim") runs exactly what SamplerCustom runs with the DDIM (zero-SNR exact) node at the same η.
No ComfyUI import at module level: the tests run `register_samplers` on stand-ins.

One line adds a sampler: a core σ-space sampler that reads sigmas[0] = inf as SNR = 0 (as sample_ddim_sigmas does)
goes in as `comfy_sampler(core_fn, "display name")`, which adds the model checks and the exact zero-SNR start;
any ready KSAMPLER function goes in as it is.
"""
from __future__ import annotations

from functools import partial

from .sampler_fn import sample_ddim_zero_snr, sample_dpmpp_2m_zero_snr

KSAMPLER_SAMPLERS = {
    "zsnr_ddim": (sample_ddim_zero_snr, {"eta": 0.0}),  # DDIM (zero-SNR exact), η = 0: deterministic
    "zsnr_ddpm": (sample_ddim_zero_snr, {"eta": 1.0}),  # the same with η = 1: DDPM-posterior (ancestral) steps
    "zsnr_dpmpp_2m": (sample_dpmpp_2m_zero_snr, {}),  # DPM-Solver++(2M), exact first step; pair with zsnr_fewstep
}


def register_samplers(k_diffusion_sampling=None, listings=None) -> list[str]:
    """Add every KSAMPLER_SAMPLERS entry to KSampler; idempotent (name checks, an existing function is kept).

    Defaults: ComfyUI's `comfy.k_diffusion.sampling` and the two name lists `comfy.samplers.KSAMPLER_NAMES` and
    `SAMPLER_NAMES` (the latter is `KSampler.SAMPLERS`, the `sampler_name` combo of KSampler and KSamplerSelect).
    """
    if k_diffusion_sampling is None:
        import comfy.k_diffusion.sampling as k_diffusion_sampling
        import comfy.samplers

        listings = (comfy.samplers.KSAMPLER_NAMES, comfy.samplers.SAMPLER_NAMES)
    for name, (function, options) in KSAMPLER_SAMPLERS.items():
        attribute = f"sample_{name}"
        if not hasattr(k_diffusion_sampling, attribute):
            setattr(k_diffusion_sampling, attribute, partial(function, **options))
        for listing in listings:
            if name not in listing:
                listing.append(name)
    return list(KSAMPLER_SAMPLERS)
