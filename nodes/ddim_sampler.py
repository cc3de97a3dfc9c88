"""DDIM (zero-SNR exact) node: the core's σ-space DDIM as a ComfyUI SAMPLER."""
from __future__ import annotations

import comfy.samplers
from comfy_api.latest import io

from . import CATEGORY
from .sampler_fn import sample_ddim_zero_snr


class DDIMZeroSNR(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="ZSNR_DDIMSampler",
            display_name="DDIM (zero-SNR exact)",
            category=CATEGORY,
            description="DDIM that steps exactly along the given sigmas; from t = T of a zero-SNR model it takes "
                        "the paper's exact first step (x0 = -v) instead of the clamp's approximation. The stock KSampler "
                        "offers the same sampler as sampler_name zsnr_ddim (eta 0) and zsnr_ddpm (eta 1).",
            inputs=[
                io.Float.Input("eta", default=0.0, min=0.0, max=1.0, step=0.01,
                               tooltip="0: deterministic DDIM. 1: DDPM-like ancestral steps (the DDPM posterior "
                                       "noise, seeded by the sampler's noise seed). In between: partial noise."),
            ],
            outputs=[io.Sampler.Output(tooltip="For SamplerCustom / SamplerCustomAdvanced.")],
        )

    @classmethod
    def execute(cls, eta) -> io.NodeOutput:
        return io.NodeOutput(comfy.samplers.KSAMPLER(sample_ddim_zero_snr, extra_options={"eta": eta}))
