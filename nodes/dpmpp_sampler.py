"""DPM++ 2M (zero-SNR exact) node: the core's σ-space DPM-Solver++(2M) as a ComfyUI SAMPLER."""
from __future__ import annotations

import comfy.samplers
from comfy_api.latest import io

from . import CATEGORY
from .sampler_fn import sample_dpmpp_2m_zero_snr


class DPMPP2MZeroSNR(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="ZSNR_DPMPP2MSampler",
            display_name="DPM++ 2M (zero-SNR exact)",
            category=CATEGORY,
            description="DPM-Solver++(2M) along exactly the given sigmas. From t = T of a zero-SNR model its first "
                        "step is the paper's exact DDIM step (x0 = -v) instead of the clamp's approximation; the "
                        "second-order correction starts after it. Works with every scheduler; in this project's "
                        "few-step benchmark (exact denoisers) the higher-order ipndm and uni_pc_bh2 on the "
                        "zsnr_fewstep scheduler were more accurate at about 10 steps (README, few-step section).",
            inputs=[],
            outputs=[io.Sampler.Output(tooltip="For SamplerCustom / SamplerCustomAdvanced.")],
        )

    @classmethod
    def execute(cls) -> io.NodeOutput:
        return io.NodeOutput(comfy.samplers.KSAMPLER(sample_dpmpp_2m_zero_snr))
