"""Load Toy Model: a shipped toy UNet (zsnr_core/toy/weights) as a ComfyUI MODEL that the stock KSampler samples.

ComfyUI glue only: a latent format of three pixel channels at scale 1, a model config with the training schedule,
and a BaseModel whose network is `zsnr_core.toy.comfy_bridge.ComfyTinyUNet` and whose extra conditions carry the
toy labels from the conditioning to it.
"""
from __future__ import annotations

from typing import ClassVar

import comfy.conds
import comfy.latent_formats
import comfy.model_base
import comfy.model_management
import comfy.model_patcher
import comfy.supported_models_base
import torch
from comfy_api.latest import io

from ..zsnr_core.toy import comfy_bridge as bridge
from . import CATEGORY

TOY_CATEGORY = f"{CATEGORY}/toy"


class ToyLatentFormat(comfy.latent_formats.LatentFormat):
    """The latent is the image: 3 channels, scale 1; previews map it to RGB one to one. KSampler fits the stock
    Empty Latent Image (4 channels) to 3 because it is all zeros (comfy.sample.fix_empty_latent_channels)."""
    latent_channels = bridge.CHANNELS
    scale_factor = 1.0

    def __init__(self):
        self.latent_rgb_factors = bridge.IDENTITY_RGB


class ToyModelConfig(comfy.supported_models_base.BASE):
    unet_config: ClassVar[dict] = {"disable_unet_model_creation": True}  # the network is set after BaseModel.__init__
    unet_extra_config: ClassVar[dict] = {}
    latent_format = ToyLatentFormat
    supported_inference_dtypes: ClassVar[list] = [torch.float32]
    memory_usage_factor = 1.0


class ToyBaseModel(comfy.model_base.BaseModel):
    def __init__(self, network, model_type: str, sampling_settings: dict, device=None):
        config = ToyModelConfig(ToyModelConfig.unet_config)
        config.sampling_settings = dict(sampling_settings)
        super().__init__(config, model_type=comfy.model_base.ModelType[model_type], device=device)
        self.diffusion_model = network

    def extra_conds(self, **kwargs):
        out = super().extra_conds(**kwargs)
        for key, name in ((bridge.CLASS_KEY, "labels"), (bridge.BRIGHTNESS_KEY, "brightness")):
            if kwargs.get(key) is not None:  # (1,) or (B,): CONDRegular repeats it to the batch
                out[name] = comfy.conds.CONDRegular(kwargs[key])
        return out


def toy_model_patcher(name: str):
    """The ModelPatcher of shipped toy model `name`, with the TrainConfig it was trained with."""
    network, config, model_type, settings = bridge.load_for_comfy(name)
    base = ToyBaseModel(network, model_type, settings, device=comfy.model_management.unet_offload_device())
    patcher = comfy.model_patcher.ModelPatcher(base, load_device=comfy.model_management.get_torch_device(),
                                               offload_device=comfy.model_management.unet_offload_device())
    return patcher, config


class LoadToyModel(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="ZSNR_LoadToyModel",
            display_name="Load Toy Model (shipped, no download)",
            category=TOY_CATEGORY,
            description="One of the toy diffusion models shipped with this pack (3 MB each, 32 × 32 shapes on "
                        "backgrounds of every brightness): 'flawed' was trained as Stable Diffusion was (scaled_linear "
                        "schedule, SNR(T) > 0, ε-prediction), 'fixed' with the paper's fixes (zero terminal SNR, "
                        "v-prediction). Checked against the sha256 in the pack's manifest. Pixel space: sample with "
                        "Empty Toy Image, condition with Toy Condition, view with Toy Image.",
            inputs=[
                io.Combo.Input("model_name", options=bridge.shipped_models() or ["fixed"], default="fixed",
                               tooltip="fixed: zero terminal SNR + v-prediction (sample it with trailing steps "
                                       "and Rescale CFG). flawed: SD's schedule + ε (what the paper fixes)."),
            ],
            outputs=[io.Model.Output(tooltip="The toy model, for the stock KSampler and this pack's nodes."),
                     io.String.Output(display_name="info",
                                      tooltip="How it was trained: schedule, prediction type, steps.")],
        )

    @classmethod
    def execute(cls, model_name) -> io.NodeOutput:
        patcher, config = toy_model_patcher(model_name)
        info = (f"toy model '{model_name}': {'zero terminal SNR' if config.zero_snr else 'scaled_linear, SNR(T) > 0'}"
                f", {config.prediction_type}, {config.steps} training steps, {config.size} × {config.size} RGB")
        return io.NodeOutput(patcher, info)
