"""The few-step schedule (zsnr_core.fewstep_sigmas) in the stock KSampler's scheduler list as `zsnr_fewstep`."""
from __future__ import annotations

import comfy.samplers

from ..zsnr_core import fewstep_sigmas

FEWSTEP_SCHEDULER = "zsnr_fewstep"


def _scheduler(model_sampling, steps):
    return fewstep_sigmas(model_sampling.sigmas.detach().cpu(), steps)


def register_fewstep_scheduler() -> str:
    """Add zsnr_fewstep to KSampler's scheduler list; idempotent (name checks, no rebinding)."""
    if FEWSTEP_SCHEDULER not in comfy.samplers.SCHEDULER_HANDLERS:
        comfy.samplers.SCHEDULER_HANDLERS[FEWSTEP_SCHEDULER] = comfy.samplers.SchedulerHandler(_scheduler)
    for listing in (comfy.samplers.SCHEDULER_NAMES, comfy.samplers.KSampler.SCHEDULERS):
        if FEWSTEP_SCHEDULER not in listing:
            listing.append(FEWSTEP_SCHEDULER)
    return FEWSTEP_SCHEDULER
