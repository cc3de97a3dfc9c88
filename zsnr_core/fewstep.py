"""A few-step schedule for zero-terminal-SNR models: one exact step from t = T, then a Karras spread of the rest.

    sigma_table[t]   σ_t, ascending in t; its last entry is inf (from sigma_from_alpha_bar(ᾱ)) or the clamp's
                     4518.76 (a σ-space consumer's table, ComfyUI's model_sampling.sigmas)
    t_start, t_end   the training timesteps between which the Karras spread lies (t_start < T - 1)
    rho              ρ of Karras et al. (2022), eq. (5): σ_i = (σ_hi^(1/ρ) + i/(n-1)·(σ_lo^(1/ρ) - σ_hi^(1/ρ)))^ρ

Why this shape. The first model call is at t = T, where the paper puts it (Table 2) and where DDIM's step is exact
(eq. 21): x̂_0 is the data mean there and any σ_1 is reached in one step. Uniform-in-t spacings end at t = T/S
(σ ≈ 0.3 for 10 steps), whose x̂_0 is a posterior mean that shrinks the spread of the samples; Karras' spread from
the clamp's σ (4518.76) spends most calls above σ = 100. The defaults come from a sweep of (t_start, t_end, ρ) with
sample_dpmpp_2m_sigmas and the exact denoisers of the first edition of benchmarks/fewstep_benchmark.py (Gaussian
x0 ~ N(0.3, 0.5²): the error of the output std; toy images: brightness W1 of 256 samples against 4096 images), at
5 / 10 / 25 calls:
    t_start 960, 970, 980 (t_end 2, ρ 7): toy W1 0.109 / 0.061 / 0.066, 0.080 / 0.049 / 0.054, 0.052 / 0.044 / 0.049;
                                          Gaussian -32.7 / +2.7 / +0.9 %, -39.5 / +2.1 / +1.2 %, -48.6 / +0.7 / +1.5 %
    t_end 0, 2, 5 (t_start 980, ρ 7):     Gaussian at 10 calls +4.4, +0.7, -1.7 %
    ρ 5, 7 (t_start 980, t_end 2):        toy W1 at 5 calls 0.057, 0.052; Gaussian at 5 calls -59, -49 %
Images need the high start (a spread from t = 900, σ = 18, gave toy W1 0.19 at 5 calls); a Gaussian of std 0.5
needs calls near σ = 0.5, which ρ = 7 packs the rest towards. At 5 calls the two conflict and the default favours
images (the Gaussian is then 49 % off; see the README's few-step section). Every σ is an entry of the model's own
table, so a discrete model is evaluated at exactly the σ the solver assumes (ComfyUI maps each back to its t).
"""
from __future__ import annotations

import torch

from ._checks import check_float, check_int, schedule_alpha_bar
from .denoisers import timestep_from_sigma
from .parametrization import sigma_from_alpha_bar
from .sigma_tables import alphas_cumprod_from_sigma_table

# Chosen by measurement for T = 1000 (see the module docstring); scaled to other T by fewstep_timesteps.
FEWSTEP_T_START, FEWSTEP_T_END, FEWSTEP_RHO = 980, 2, 7.0


def fewstep_timesteps(alphas_cumprod, steps: int, t_start: int | None = None, t_end: int | None = None,
                      rho: float = FEWSTEP_RHO) -> torch.Tensor:
    """The `steps` training timesteps of the few-step schedule, strictly descending: T - 1, then a Karras spread
    (in σ, ρ = `rho`) from t_start to t_end, each mapped to its nearest timestep in log σ (ties kept apart).

    t_start and t_end default to 980 and 2 of T = 1000 (scaled to other T). Needs 1 <= steps <= t_start - t_end + 2.
    """
    ac = schedule_alpha_bar(alphas_cumprod)
    T = len(ac)
    scale = (T - 1) / 999
    t_start = round(FEWSTEP_T_START * scale) if t_start is None else t_start
    t_end = round(FEWSTEP_T_END * scale) if t_end is None else t_end
    t_start = check_int("t_start", t_start, 1, T - 2, fix="the first call is at T; the spread starts below it")
    t_end = check_int("t_end", t_end, 0, t_start - 1, fix="t_end must lie below t_start")
    steps = check_int("steps", steps, 1, t_start - t_end + 2,
                      fix=f"this spread has {t_start - t_end + 1} timesteps; for more calls use spaced_sigmas")
    rho = check_float("rho", rho, 1.0, 100.0, fix="7 is Karras et al.'s choice; 1 is uniform in σ")
    sigma = sigma_from_alpha_bar(ac)  # (T,), inf where ᾱ = 0; only t_start and t_end are read
    n = steps - 1
    ramp = torch.linspace(0, 1, n, dtype=torch.float64)
    hi, lo = sigma[t_start] ** (1 / rho), sigma[t_end] ** (1 / rho)
    ts = timestep_from_sigma((hi + ramp * (lo - hi)) ** rho, ac).tolist() if n else []
    for i in range(1, n):  # strictly descending: nudge repeats down, then back up from t_end
        ts[i] = min(ts[i], ts[i - 1] - 1)
    for i in range(n - 1, -1, -1):
        ts[i] = max(ts[i], t_end if i == n - 1 else ts[i + 1] + 1)
    return torch.tensor([T - 1, *ts], dtype=torch.long)


def fewstep_sigmas(sigma_table, steps: int, t_start: int | None = None, t_end: int | None = None,
                   rho: float = FEWSTEP_RHO) -> torch.Tensor:
    """The few-step schedule as σ: the table's σ at `fewstep_timesteps`, then 0; shape (steps + 1,), table's dtype.

    From sigma_from_alpha_bar(ᾱ) of a zero-SNR schedule, sigmas[0] = inf (for sample_dpmpp_2m_sigmas and
    sample_ddim_sigmas, exact); from ComfyUI's table it is the clamp's 4518.76, which every sampler can take.
    """
    table = torch.as_tensor(sigma_table)
    ac = alphas_cumprod_from_sigma_table(table)
    ts = fewstep_timesteps(ac, steps, t_start, t_end, rho)
    return torch.cat([table[ts], table.new_zeros(1)])
