"""Paper Timesteps node: sigmas at exactly the model's own timesteps of a Table 2 spacing, and the same spacings
in the stock KSampler's scheduler list."""
from __future__ import annotations

from functools import partial

import comfy.samplers
from comfy_api.latest import io

from ..zsnr_core import SPACINGS, dense_sigmas, spaced_sigmas
from . import CATEGORY

SCHEDULER_PREFIX = "zsnr_"


class PaperTimesteps(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="ZSNR_PaperTimesteps",
            display_name="Paper Timesteps",
            category=CATEGORY,
            description="Sigmas at exactly the model's own training timesteps, spaced as in Table 2 of Lin et al. "
                        "(2024); trailing and linspace start at t = T.",
            inputs=[
                io.Model.Input("model", tooltip="The model whose sigma table (one sigma per training timestep) "
                                                "the sigmas are taken from."),
                io.Int.Input("steps", default=25, min=1, max=1000,
                             tooltip="Number of model calls; the result has exactly steps + 1 sigmas (last = 0). "
                                     "steps/denoise may not exceed the model's training timesteps (1000)."),
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
        table = model.get_model_object("model_sampling").sigmas.detach().cpu()
        return io.NodeOutput(spaced_sigmas(table, steps, spacing, denoise))


def _scheduler(model_sampling, steps, spacing):
    """KSampler asks for steps/denoise sigmas (1500 for 30 steps at denoise 0.02); above the model's T the spacings
    coincide, and the schedule continues finer than one timestep (dense_sigmas)."""
    table = model_sampling.sigmas.detach().cpu()
    return spaced_sigmas(table, steps, spacing) if steps <= len(table) else dense_sigmas(table, steps)


def register_schedulers() -> list[str]:
    """Add zsnr_leading/linspace/trailing to KSampler's scheduler list; idempotent (name checks, no rebinding)."""
    names = []
    for spacing in SPACINGS:
        name = SCHEDULER_PREFIX + spacing
        if name not in comfy.samplers.SCHEDULER_HANDLERS:
            comfy.samplers.SCHEDULER_HANDLERS[name] = comfy.samplers.SchedulerHandler(partial(_scheduler,
                                                                                              spacing=spacing))
        for listing in (comfy.samplers.SCHEDULER_NAMES, comfy.samplers.KSampler.SCHEDULERS):
            if name not in listing:
                listing.append(name)
        names.append(name)
    return names
