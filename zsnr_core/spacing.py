"""Sample-step spacings of Table 2 of Lin et al. (2024), 0-indexed and descending, as diffusers' DDIMScheduler.

    leading   (DDIM, PNDM, SD)   t_i = i·⌊T/S⌋ + steps_offset    never reaches T - 1
    linspace  (iDDPM, DPM-Solv.) round(linspace(0, T-1, S))       starts at T - 1 (one step: t = 0), ends at 0
    trailing  (the paper's)      round(T - i·T/S) - 1             starts at T - 1

The values are diffusers' to the last rounding tie, with one difference: diffusers' trailing spacing returns
S + 1 timesteps ending at t = -1 for some non-divisible (T, S), e.g. T = 1000, S = 61 (np.arange overshoots by a
rounding error). Here the result always has exactly S entries.
"""
from __future__ import annotations

import numpy as np
import torch

from ._checks import check_choice, check_int

SPACINGS = ("leading", "linspace", "trailing")


def timesteps(
    steps: int | None = None,
    spacing: str = "trailing",
    num_train_timesteps: int = 1000,
    steps_offset: int = 0,
    *,
    num_inference_steps: int | None = None,
) -> torch.Tensor:
    """The S = `steps` sample timesteps as a descending int64 tensor of shape (S,).

    `steps` is the number of model calls, as everywhere in the library (`num_inference_steps=`, diffusers' word
    and this function's keyword in 0.1, still works).

    `steps_offset` shifts "leading" only (SD uses 1); the other spacings already end at the ends of [0, T-1], so
    a non-zero offset there is refused rather than silently ignored as diffusers does.
    """
    check_choice("spacing", spacing, SPACINGS)
    if (steps is None) == (num_inference_steps is None):
        raise TypeError("timesteps takes the step count once: timesteps(steps, ...) or num_inference_steps=...")
    T = check_int("num_train_timesteps", num_train_timesteps, 1)
    S = check_int("steps", steps if steps is not None else num_inference_steps, 1, T,
                  fix=f"a model trained with {T} timesteps can be sampled with at most {T} steps")
    if spacing == "linspace":
        ts = np.linspace(0, T - 1, S).round()[::-1]
    elif spacing == "trailing":
        ts = np.round(np.arange(T, 0, -T / S))[:S] - 1
    else:
        ratio = T // S
        top = T - 1 - (S - 1) * ratio
        first = (S - 1) * ratio
        check_int("steps_offset", steps_offset, 0, top,
                  fix=f"with {S} leading steps of {ratio} the first timestep {first} + offset must stay <= {T - 1}")
        ts = (np.arange(0, S) * ratio)[::-1] + steps_offset
    if spacing != "leading" and steps_offset != 0:
        raise ValueError(
            f"steps_offset applies to spacing='leading' only, got steps_offset={steps_offset!r} with "
            f"spacing={spacing!r}; pass steps_offset=0"
        )
    return torch.from_numpy(np.ascontiguousarray(ts).astype(np.int64))
