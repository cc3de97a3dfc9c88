"""Zero Terminal SNR node: patch a clone's schedule (Algorithm 1) and prediction type, separately."""
from __future__ import annotations

import comfy.model_sampling as cms
import torch
from comfy_api.latest import io

from . import CATEGORY
from .model_sampling import prediction_type, require_ddpm, schedule, source
from .options import check_option
from .patch_schedule import PREDICTION_CHOICES, patched_schedule


class _ZeroSNRSampling(cms.ModelSamplingDiscrete):
    """ComfyUI's discrete sampling with a given σ table, the exact ᾱ beside it for our samplers, and where the
    prediction type and zero SNR came from (for the SNR Inspector)."""

    def __init__(self, model_config, alphas_cumprod, sigma_table, kind: str, source: dict[str, str]):
        super().__init__(model_config)
        self.set_sigmas(sigma_table)
        # ComfyUI's CheckpointSave writes the `ztsnr` marker from this flag, but only for a model its loader
        # detected as v-prediction (model.model.model_type); the prediction type it saves is that detection too.
        self.zsnr = bool(alphas_cumprod[-1].item() == 0.0)
        self.zsnr_alphas_cumprod = alphas_cumprod
        self.zsnr_prediction_type = kind
        self.zsnr_source = source


_PATCHED: dict[type, type] = {}


def _patched_class(mixin: type) -> type:
    """_ZeroSNRSampling with the mixin (EPS, V_PREDICTION, X0, IMG_TO_IMG, ...) that turns outputs into x̂0."""
    if mixin not in _PATCHED:
        _PATCHED[mixin] = type(f"ZeroSNR{mixin.__name__}", (_ZeroSNRSampling, mixin), {})
    return _PATCHED[mixin]


def _mixin(model_sampling) -> type:
    """The output-conversion mixin of a ComfyUI sampling class: the first base that is not a torch Module."""
    return next(c for c in type(model_sampling).__mro__ if not issubclass(c, torch.nn.Module) and c is not object)


_MIXIN_FOR = {"epsilon": cms.EPS, "v_prediction": cms.V_PREDICTION}


def patch_model(model, choice: str, zero_terminal_snr: bool, sources: dict[str, str], what: str = "Zero Terminal SNR"):
    """A clone of `model` with prediction type `choice` ('keep' keeps the model's own mixin, img-to-img included) and,
    when `zero_terminal_snr`, the schedule rescaled by Algorithm 1. Models outside DDPM's discrete sampling (flow,
    EDM, LCM, ...) are refused with their family named (`what` names the node): patching would replace their
    sampling."""
    check_option("prediction_type", choice, PREDICTION_CHOICES)
    old = model.get_model_object("model_sampling")
    require_ddpm(old, model.model, what)
    mixin = _mixin(old) if choice == "keep" else _MIXIN_FOR[choice]
    kind = prediction_type(old) if choice == "keep" else choice
    ac, table = patched_schedule(schedule(old), kind, zero_terminal_snr)
    m = model.clone()
    m.add_object_patch("model_sampling", _patched_class(mixin)(model.model.model_config, ac, table, kind, sources))
    return m


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
                                                "never changed. Flow, EDM and LCM models are refused."),
                io.Combo.Input("prediction_type", options=list(PREDICTION_CHOICES), default="keep",
                               tooltip="keep: what the checkpoint loader detected (core ComfyUI reads only the "
                                       "v_pred marker, and only for SDXL; Load Checkpoint (v-pred / zero SNR from "
                                       "file) reads more). v_prediction for v-pred checkpoints (SD 2.x 768, "
                                       "NoobAI-XL v-pred, ...). epsilon for classic checkpoints, which cannot be "
                                       "combined with zero terminal SNR."),
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
        earlier = source(model.get_model_object("model_sampling"))
        changed = {"prediction_type": f"Zero Terminal SNR node (prediction_type = {prediction_type})",
                   "zero_terminal_snr": "Zero Terminal SNR node (zero_terminal_snr = on)"}
        used = {"prediction_type": changed if prediction_type != "keep" else earlier,
                "zero_terminal_snr": changed if zero_terminal_snr else earlier}
        return io.NodeOutput(patch_model(model, prediction_type, zero_terminal_snr, {k: d[k] for k, d in used.items()}))
