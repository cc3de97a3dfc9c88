"""The paper's ablation as named pipelines, and one sampling function for the ideal denoiser and the trained UNets.

A pipeline fixes the schedule (Stable Diffusion's scaled_linear, optionally after Algorithm 1), the prediction type,
the sample-step spacing and the guidance rescale φ. Sampling is `zsnr_core.sample_ddim` with classifier-free
guidance by `zsnr_core.rescale_cfg` in the model's own output space (v for the fixed models, as in the paper).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from .._checks import check_choice, check_float, check_int
from ..guidance import rescale_cfg
from ..sampling import sample_ddim
from ..schedules import alphas_cumprod, make_betas, rescale_alphas_cumprod_zero_terminal_snr
from ..spacing import timesteps
from .data import BRIGHTNESS_CLASSES, NUM_CLASSES

BRIGHTNESS_NULL = len(BRIGHTNESS_CLASSES)  # the brightness condition's null value (TinyUNet's num_brightness)


@dataclass(frozen=True)
class Pipeline:
    label: str
    zero_snr: bool
    prediction_type: str
    spacing: str
    phi: float = 0.0

    @property
    def model(self) -> str:
        """Which trained toy model the pipeline needs: the ε-model on SD's schedule or the zero-SNR v-model."""
        return "fixed" if self.zero_snr else "flawed"

    @property
    def steps_offset(self) -> int:
        return 1 if self.spacing == "leading" else 0  # Stable Diffusion's scheduler config


PIPELINES = {
    "sd": Pipeline("SD baseline (scaled_linear, ε, leading)", False, "epsilon", "leading"),
    "sd_trailing": Pipeline("SD + trailing", False, "epsilon", "trailing"),
    "zsnr_v_leading": Pipeline("zero SNR + v, leading", True, "v_prediction", "leading"),
    "zsnr_v_trailing": Pipeline("zero SNR + v, trailing", True, "v_prediction", "trailing"),
    "zsnr_v_trailing_rescaled": Pipeline("zero SNR + v, trailing, rescaled CFG φ = 0.7", True, "v_prediction",
                                         "trailing", 0.7),
    "zsnr_eps": Pipeline("zero SNR + ε (trailing)", True, "epsilon", "trailing"),
}
FLAWED, FIXED = "sd", "zsnr_v_trailing_rescaled"


def toy_alphas_cumprod(zero_snr: bool, num_train_timesteps: int = 1000) -> torch.Tensor:
    """ᾱ of the toy models: Stable Diffusion's scaled_linear schedule, after Algorithm 1 when `zero_snr`."""
    ac = alphas_cumprod(make_betas("scaled_linear", num_train_timesteps))
    return rescale_alphas_cumprod_zero_terminal_snr(ac) if zero_snr else ac


schedule = toy_alphas_cumprod  # the name of 0.1 ("schedule" names a schedule's kind elsewhere: make_betas(schedule))


def guided(model, labels: torch.Tensor, guidance_scale: float, phi: float, null_label: int,
           brightness: torch.Tensor | None = None):
    """model(x_t, t) with classifier-free guidance: one batched call for the conditional and the null label.

    With `brightness` (B,) buckets the condition is (shape, brightness) and the unconditional branch drops both."""
    extra = () if brightness is None else (brightness,)
    if guidance_scale == 1.0:
        return lambda x, t: model(x, t, labels, *extra)
    null = torch.full_like(labels, null_label)
    extra2 = () if brightness is None else (torch.cat([brightness, torch.full_like(brightness, BRIGHTNESS_NULL)]),)

    def cfg(x, t):
        cond, uncond = model(torch.cat([x, x]), torch.cat([t, t]), torch.cat([labels, null]), *extra2).chunk(2)
        return rescale_cfg(cond, uncond, guidance_scale, phi)

    return cfg


def initial_noise(n: int, shape: tuple[int, ...], seed: int, device="cpu") -> torch.Tensor:
    """x_T for seed `seed`: the same noise, on any device, for every pipeline."""
    g = torch.Generator().manual_seed(seed)
    return torch.randn((n, *shape), generator=g).to(device)


def sample(model, pipeline: Pipeline, n: int, steps: int = 25, guidance_scale: float = 1.0, phi: float | None = None,
           seed: int = 0, eta: float = 0.0, num_classes: int = NUM_CLASSES, shape=(3, 32, 32), device="cpu",
           disable: bool | None = True, brightness: int | str | None = None, callback=None) -> torch.Tensor:
    """`n` samples (N, C, H, W) from `model(x_t, t, labels)` along `pipeline`, classes in turn, seeded by `seed`.

    `phi` overrides the pipeline's rescale; guidance 1 is the conditional model alone. ε-prediction on the zero-SNR
    schedule raises the library's ValueError before any model call, as it should. `brightness` (a bucket of
    `data.BRIGHTNESS_CLASSES`, by index or name) also asks every sample for that brightness; it needs a model
    trained with the brightness condition (the shipped ones are). `callback` goes to `sample_ddim`.
    """
    n = check_int("n", n, 1)
    guidance_scale = check_float("guidance_scale", guidance_scale, 0.0, 100.0, fix="1 is no guidance; 7.5 is SD's")
    phi = pipeline.phi if phi is None else phi
    ac = toy_alphas_cumprod(pipeline.zero_snr)
    ts = timesteps(steps, pipeline.spacing, len(ac), pipeline.steps_offset)
    labels = (torch.arange(n) % num_classes).to(device)
    bright = None
    if brightness is not None:
        if isinstance(brightness, str):
            bucket = check_choice("brightness", brightness, BRIGHTNESS_CLASSES)
            brightness = BRIGHTNESS_CLASSES.index(bucket)
        brightness = check_int("brightness", brightness, 0, len(BRIGHTNESS_CLASSES) - 1,
                               fix=f"the buckets are {', '.join(f'{i} {b}' for i, b in enumerate(BRIGHTNESS_CLASSES))}")
        bright = torch.full((n,), brightness, dtype=torch.long, device=device)
    x = initial_noise(n, shape, seed, device)
    gen = torch.Generator(device=device).manual_seed(seed + 1) if eta > 0 else None
    with torch.no_grad():
        return sample_ddim(guided(model, labels, guidance_scale, phi, num_classes, bright), x, ac, ts,
                           pipeline.prediction_type, eta=eta, generator=gen, disable=disable, callback=callback)
