"""Zero Terminal SNR node: patch a clone's schedule (Algorithm 1) and prediction type, separately."""
from __future__ import annotations

import comfy.model_sampling as cms
from comfy_api.latest import io

from . import CATEGORY
from .model_sampling import prediction_type, schedule
from .patch_schedule import PREDICTION_CHOICES, patched_schedule


class _ZeroSNRSampling(cms.ModelSamplingDiscrete):
    """ComfyUI's discrete sampling with a given σ table, and the exact ᾱ beside it for our DDIM sampler."""

    def __init__(self, model_config, alphas_cumprod, sigma_table, kind: str):
        super().__init__(model_config)
        self.set_sigmas(sigma_table)
        self.zsnr = bool(alphas_cumprod[-1].item() == 0.0)  # read by ComfyUI's checkpoint savers ("ztsnr")
        self.zsnr_alphas_cumprod = alphas_cumprod
        self.zsnr_prediction_type = kind


class ZeroSNRV(_ZeroSNRSampling, cms.V_PREDICTION):
    pass


class ZeroSNREps(_ZeroSNRSampling, cms.EPS):
    pass


class ZeroSNRX0(_ZeroSNRSampling, cms.X0):
    pass


_CLASSES = {"v_prediction": ZeroSNRV, "epsilon": ZeroSNREps, "sample": ZeroSNRX0}


class ZeroTerminalSNR(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="ZSNR_ZeroTerminalSNR",
            display_name="Zero Terminal SNR",
            category=CATEGORY,
            description="Rescale the model's noise schedule to zero terminal SNR (Lin et al. 2024, Algorithm 1) "
                        "and/or set its prediction type, on a copy of the model.",
            inputs=[
                io.Model.Input("model", tooltip="A discrete-time (SD 1.x/2.x, SDXL-style) model; it is cloned, "
                                                "never changed."),
                io.Combo.Input("prediction_type", options=list(PREDICTION_CHOICES), default="keep",
                               tooltip="keep: what the checkpoint loader detected. v_prediction for v-pred "
                                       "checkpoints (SD 2.x 768, NoobAI-XL v-pred, ...). epsilon for classic "
                                       "checkpoints, which cannot be combined with zero terminal SNR."),
                io.Boolean.Input("zero_terminal_snr", default=True,
                                 tooltip="On: SNR(T) = 0 exactly (Algorithm 1). Only for checkpoints trained with "
                                         "it; forcing it onto other v-pred models burns the output. Built-in "
                                         "samplers see ComfyUI's finite clamp (sigma_max 4518.76); DDIM "
                                         "(zero-SNR exact) uses the exact schedule."),
            ],
            outputs=[io.Model.Output(tooltip="The patched copy of the model.")],
        )

    @classmethod
    def execute(cls, model, prediction_type, zero_terminal_snr) -> io.NodeOutput:
        old = model.get_model_object("model_sampling")
        if not isinstance(old, cms.ModelSamplingDiscrete) or isinstance(old, cms.ModelSamplingDiscreteEDM):
            raise TypeError(
                f"Zero Terminal SNR needs a discrete-time model (ModelSamplingDiscrete), got "
                f"{type(old).__name__}; flow-matching and EDM models have no ᾱ schedule to rescale"
            )
        kind = _resolve(old, prediction_type)
        ac, table = patched_schedule(schedule(old), kind, zero_terminal_snr)
        m = model.clone()
        m.add_object_patch("model_sampling", _CLASSES[kind](model.model.model_config, ac, table, kind))
        return io.NodeOutput(m)


def _resolve(model_sampling, choice: str) -> str:
    return prediction_type(model_sampling) if choice == "keep" else choice
