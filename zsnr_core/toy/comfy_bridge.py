"""The shipped toy models as ComfyUI models need them, without importing ComfyUI (the nodes in `nodes/toy_*.py` do).

A toy model is a pixel-space diffusion model on 3 × 32 × 32 images in [-1, 1], so its "latent" is the image itself:
three channels at scale 1, decoded by clamping and moving to [0, 1] (no VAE). ComfyUI's BaseModel calls its network
as `diffusion_model(x, t, context=..., control=..., transformer_options=..., **extra_conds)` with a continuous t
(ComfyUI's σ → t map); `ComfyTinyUNet` takes that call and hands TinyUNet the class and brightness labels that the
conditioning carries. The schedule is Stable Diffusion's scaled_linear (ComfyUI's "linear" with SD's range), with
ComfyUI's own zero-SNR rescale (`zsnr`, ᾱ_T clamped to 4.9e-8, σ_max = 4518.76) for a model trained with
Algorithm 1 (arXiv 2305.08891, section 3.1); the SNR = 0 of the training schedule is exact only after our Zero
Terminal SNR node, as for any other checkpoint.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import nn

from .._checks import check_choice, check_int
from .data import BRIGHTNESS_CLASSES, CLASSES, NUM_CLASSES
from .pipelines import BRIGHTNESS_NULL
from .zoo import WEIGHTS_DIR, load_model

CHANNELS, SIZE = 3, 32  # the shipped models' images (TrainConfig.size)
NULL_CLASS = NUM_CLASSES  # TinyUNet's unconditional label
NO_SHAPE, ANY_BRIGHTNESS = "none", "any"
SHAPE_CHOICES = (*CLASSES, NO_SHAPE)
BRIGHTNESS_CHOICES = (ANY_BRIGHTNESS, *BRIGHTNESS_CLASSES)
# Keys in a CONDITIONING entry's dict: ComfyUI passes its entries to BaseModel.extra_conds as keyword arguments.
CLASS_KEY, BRIGHTNESS_KEY = "zsnr_toy_class", "zsnr_toy_brightness"
# Cross-attention context of a toy condition: TinyUNet has no attention and ignores it; it is there so that stock
# conditioning nodes (Combine, Concat, Average, ZeroOut, SetArea, ...) find the tensor they edit.
CONTEXT_SHAPE = (1, 1, 8)
IDENTITY_RGB = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]  # latent previews: the latent is the image
COMFY_MODEL_TYPE = {"epsilon": "EPS", "v_prediction": "V_PREDICTION", "sample": "X0"}  # comfy.model_base.ModelType


def shipped_models(directory: str | Path = WEIGHTS_DIR) -> list[str]:
    """Names of the toy UNets that manifest.json in `directory` records and that are there (not the classifier)."""
    directory = Path(directory)
    try:
        entries = json.loads((directory / "manifest.json").read_text())["models"]
    except (OSError, ValueError, KeyError):
        return []
    return sorted(name for name, e in entries.items()
                  if isinstance(e, dict) and "prediction_type" in e.get("config", {})
                  and (directory / e.get("file", "")).is_file())


def sampling_settings(zero_snr: bool) -> dict:
    """ComfyUI's `sampling_settings` for the training schedule: scaled_linear 0.00085 → 0.012 over 1000 steps
    (ComfyUI calls it "linear"), and its zero-SNR rescale when the model was trained with Algorithm 1."""
    return {"beta_schedule": "linear", "linear_start": 0.00085, "linear_end": 0.012, "timesteps": 1000,
            "zsnr": bool(zero_snr)}


class ComfyTinyUNet(nn.Module):
    """A TinyUNet behind the call signature of ComfyUI's diffusion models; `labels` / `brightness` come from the
    conditioning (None: the null class / bucket, unconditional). ComfyUI's t is continuous; TinyUNet's sinusoidal
    embedding takes it as it is."""

    def __init__(self, unet: nn.Module):
        super().__init__()
        self.unet = unet

    @property
    def dtype(self) -> torch.dtype:
        return next(self.unet.parameters()).dtype

    def forward(self, x, timesteps, context=None, control=None, transformer_options=None, labels=None,
                brightness=None, **unused):
        if control is not None:
            raise ValueError("the toy models take no ControlNet / T2I adapter; remove it from the conditioning")
        labels = None if labels is None else labels.long().to(x.device)
        brightness = None if brightness is None else brightness.long().to(x.device)
        return self.unet(x, timesteps, labels, brightness)


def load_for_comfy(name: str, directory: str | Path = WEIGHTS_DIR):
    """(ComfyTinyUNet, TrainConfig, ComfyUI model type name, sampling_settings) of a shipped toy model, its
    sha256 checked against the manifest (zoo.load_model)."""
    name = check_choice("toy model", name, shipped_models(directory) or ["flawed", "fixed"])
    unet, config = load_model(Path(directory) / f"{name}.safetensors", verify=True)
    return (ComfyTinyUNet(unet), config, COMFY_MODEL_TYPE[config.prediction_type],
            sampling_settings(config.zero_snr))


def class_index(shape: str) -> int:
    shape = check_choice("shape", shape, SHAPE_CHOICES)
    return NULL_CLASS if shape == NO_SHAPE else CLASSES.index(shape)


def brightness_index(bucket: str) -> int:
    bucket = check_choice("brightness", bucket, BRIGHTNESS_CHOICES)
    return BRIGHTNESS_NULL if bucket == ANY_BRIGHTNESS else BRIGHTNESS_CLASSES.index(bucket)


def conditioning(labels, brightness=None) -> list:
    """A ComfyUI CONDITIONING for toy labels: an int or a (B,) tensor of shape classes (NULL_CLASS: none) and of
    brightness buckets (None or BRIGHTNESS_NULL: any). A (B,) tensor gives each batch item its own label."""
    labels = torch.as_tensor(labels, dtype=torch.long).reshape(-1)
    extra = {CLASS_KEY: labels}
    if brightness is not None:
        extra[BRIGHTNESS_KEY] = torch.as_tensor(brightness, dtype=torch.long).reshape(-1)
    return [[torch.zeros(CONTEXT_SHAPE), extra]]


def empty_latent(batch_size: int) -> torch.Tensor:
    batch_size = check_int("batch_size", batch_size, 1, 4096, fix="a few dozen toy images take seconds on a CPU")
    return torch.zeros(batch_size, CHANNELS, SIZE, SIZE)


def to_image(latent: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) samples in [-1, 1] → ComfyUI IMAGE (B, H, W, 3) in [0, 1], clamped; NaN is an error."""
    if latent.ndim != 4 or latent.shape[1] != CHANNELS:
        raise ValueError(f"a toy image is (batch, {CHANNELS}, height, width), got a latent of shape "
                         f"{tuple(latent.shape)}; connect the toy models' KSampler output (from Empty Toy Image)")
    if not bool(torch.isfinite(latent).all()):
        raise ValueError("the sampled toy images contain NaN or inf: the sampler diverged on this model; try "
                         "another sampler / scheduler (docs/comfyui-toy.md lists the combinations to avoid)")
    return ((latent.float().clamp(-1, 1) + 1) / 2).permute(0, 2, 3, 1).contiguous()
