"""Our schedules in the stock KSampler's `scheduler` list: a table name → (model_sampling, steps) → sigmas.

KSampler resolves a scheduler through `comfy.samplers.SCHEDULER_HANDLERS[name]`; registering puts the function
there and the name in the listings, so KSampler("zsnr_trailing") gives what the Paper Timesteps node gives.
No ComfyUI import at module level: the functions and the table import and are tested without ComfyUI.
"""
from __future__ import annotations

from functools import partial

from ..zsnr_core import SPACINGS, fewstep_sigmas, spaced_sigmas
from .model_sampling import require_ddpm

SCHEDULER_PREFIX = "zsnr_"


def spaced(model_sampling, steps, spacing):
    """A Table 2 spacing on the model's own σ table. KSampler asks for steps/denoise sigmas (1500 for 30 steps at
    denoise 0.02); above the model's T the spacings coincide, and the schedule continues finer than one timestep
    (dense_sigmas)."""
    require_ddpm(model_sampling, what=f"the {SCHEDULER_PREFIX}{spacing} scheduler")
    return spaced_sigmas(model_sampling.sigmas.detach().cpu(), steps, spacing)


def fewstep(model_sampling, steps):
    """One call at t = T, then a Karras spread (zsnr_core.fewstep_sigmas) on the model's own σ table; past the
    spread's 980 timesteps (KSampler's steps/denoise), trailing spacing, as zsnr_trailing gives."""
    require_ddpm(model_sampling, what=f"the {SCHEDULER_PREFIX}fewstep scheduler")
    return fewstep_sigmas(model_sampling.sigmas.detach().cpu(), steps)


KSAMPLER_SCHEDULERS = {
    **{SCHEDULER_PREFIX + spacing: partial(spaced, spacing=spacing) for spacing in SPACINGS},
    SCHEDULER_PREFIX + "fewstep": fewstep,
}


def register_schedulers(handlers=None, listings=None, make_handler=None) -> list[str]:
    """Add every KSAMPLER_SCHEDULERS entry to KSampler; idempotent (name checks, an existing handler is kept).

    Defaults: ComfyUI's `comfy.samplers.SCHEDULER_HANDLERS`, the listings `SCHEDULER_NAMES` and
    `KSampler.SCHEDULERS`, and `SchedulerHandler` to wrap each function.
    """
    if handlers is None:
        import comfy.samplers

        handlers = comfy.samplers.SCHEDULER_HANDLERS
        listings = (comfy.samplers.SCHEDULER_NAMES, comfy.samplers.KSampler.SCHEDULERS)
        make_handler = comfy.samplers.SchedulerHandler
    for name, function in KSAMPLER_SCHEDULERS.items():
        if name not in handlers:
            handlers[name] = make_handler(function)
        for listing in listings:
            if name not in listing:
                listing.append(name)
    return list(KSAMPLER_SCHEDULERS)
