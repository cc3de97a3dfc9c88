"""Paper Timesteps node: sigmas at exactly the model's own timesteps of a Table 2 spacing (the same spacings are
KSampler schedulers, see ksampler_schedulers.py)."""
from __future__ import annotations

from comfy_api.latest import io

from ..zsnr_core import SPACINGS, spaced_sigmas
from . import CATEGORY
from .model_sampling import require_ddpm
from .options import check_option


class PaperTimesteps(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="ZSNR_PaperTimesteps",
            display_name="Paper Timesteps",
            category=CATEGORY,
            description="Sigmas at exactly the model's own training timesteps, spaced as in Table 2 of Lin et al. "
                        "(2024); trailing and linspace start at t = T. For discrete DDPM models (SD 1.x, 2.x, "
                        "SDXL); flow-matching, EDM and LCM models are refused.",
            inputs=[
                io.Model.Input("model", tooltip="The model whose sigma table (one sigma per training timestep) "
                                                "the sigmas are taken from: a discrete DDPM model."),
                io.Int.Input("steps", default=25, min=1, max=10000,
                             tooltip="Number of model calls; the result has exactly steps + 1 sigmas (last = 0). "
                                     "Any count the KSampler's zsnr_* schedulers take: where steps/denoise exceeds "
                                     "the model's training timesteps (1000) the spacings coincide and continue "
                                     "between the table's entries (30 steps at denoise 0.02 start at t = 19). "
                                     "steps/denoise up to 100000."),
                io.Combo.Input("spacing", options=list(SPACINGS), default="trailing",
                               tooltip="trailing (the paper's choice): t = T, T - T/S, ..., T/S; linspace: from T "
                                       "down to 0 (one step: t = T only); leading (old SD/DDIM default): never "
                                       "reaches T, avoid for zero SNR (one step would sit at t = 0: refused)."),
                io.Float.Input("denoise", default=1.0, min=0.01, max=1.0, step=0.01,
                               tooltip="1 for text-to-image. Below 1 (img2img) the last `steps` of a "
                                       "steps/denoise schedule are kept, as ComfyUI's schedulers do."),
            ],
            outputs=[io.Sigmas.Output(tooltip="Descending sigmas ending at 0, for SamplerCustom(Advanced).")],
        )

    @classmethod
    def execute(cls, model, steps, spacing, denoise) -> io.NodeOutput:
        check_option("spacing", spacing, SPACINGS)
        model_sampling = model.get_model_object("model_sampling")
        require_ddpm(model_sampling, model.model, "Paper Timesteps")
        return io.NodeOutput(spaced_sigmas(model_sampling.sigmas.detach().cpu(), steps, spacing, denoise))
