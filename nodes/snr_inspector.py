"""SNR Inspector node: a plot of the model's schedule and a plain-language report of what will go wrong."""
from __future__ import annotations

import torch
from comfy_api.latest import io

from ..zsnr_core.errors import UnsupportedModelFamilyError
from . import CATEGORY
from .inspect_text import inspect, not_discrete
from .model_sampling import prediction_type, require_ddpm, schedule, source
from .plot import message_image, schedule_plot


class SNRInspector(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="ZSNR_SNRInspector",
            display_name="SNR Inspector",
            category=CATEGORY,
            description="Plot sqrt(alpha_bar) and log SNR of the model's schedule (and its zero-SNR rescale); "
                        "report the terminal SNR, prediction type (and where it came from) and where the given "
                        "sigmas start. Flow-matching, EDM and LCM models get a report saying why none of this "
                        "applies.",
            inputs=[
                io.Model.Input("model", tooltip="The model to inspect (after any Zero Terminal SNR patch)."),
                io.Sigmas.Input("sigmas", optional=True,
                                tooltip="Optional: sigmas from any scheduler, to see their spacing and whether "
                                        "they start at t = T."),
            ],
            outputs=[io.Image.Output(display_name="plot", tooltip="sqrt(alpha_bar) and log SNR against t."),
                     io.String.Output(display_name="report", tooltip="The findings and warnings, as text.")],
        )

    @classmethod
    def execute(cls, model, sigmas=None) -> io.NodeOutput:
        ms = model.get_model_object("model_sampling")
        try:
            require_ddpm(ms, model.model, "SNR Inspector")
        except UnsupportedModelFamilyError as refusal:  # reported, not raised: the report is the point
            text = not_discrete(refusal)
            return io.NodeOutput(torch.from_numpy(message_image(text))[None], text)
        curves, text = inspect(schedule(ms), ms.sigmas.detach().cpu(), prediction_type(ms), sigmas, source(ms))
        return io.NodeOutput(torch.from_numpy(schedule_plot(curves))[None], text)
