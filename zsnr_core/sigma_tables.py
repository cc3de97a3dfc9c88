"""σ tables: a discrete schedule as σ-space consumers (ComfyUI, A1111) store it, one σ per training timestep.

    sigma_table[t]   σ_t = √((1-ᾱ_t)/ᾱ_t), ascending in t, float32 in ComfyUI; its last entry is the σ of
                     ZERO_SNR_ALPHA_BAR_CLAMP (4518.76) for a zero-terminal-SNR model, which stands for ᾱ_T = 0
    sigmas           a sampler's descending σ list, usually ending at 0, as ComfyUI's schedulers return it

Sigmas taken from the table itself map back to the same t under ComfyUI's nearest-log-σ lookup, so a sampler
evaluates the model at exactly the timesteps of `spacing.timesteps` (Table 2 of Lin et al. 2024).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from ._checks import as_float64_vector, check_choice, check_float, check_int
from .denoisers import timestep_from_sigma
from .parametrization import alpha_bar_from_sigma, is_clamped_zero_snr
from .spacing import SPACINGS, timesteps


def alphas_cumprod_from_sigma_table(sigma_table) -> torch.Tensor:
    """ᾱ_t = 1/(1+σ_t²) as float64, with the clamp's σ at the last entry read as ᾱ_T = 0 exactly (what it stands for)."""
    table = as_float64_vector("sigma_table", sigma_table)
    if bool((table <= 0).any()) or bool(torch.isinf(table[:-1]).any()):
        raise ValueError(
            f"sigma_table must hold one σ > 0 per training timestep (inf at the last only), got min "
            f"{table.min().item()}; pass the model's own table (ComfyUI: model_sampling.sigmas)"
        )
    if bool((table[1:] < table[:-1]).any()):
        raise ValueError("sigma_table must be ascending in t (σ_0 smallest); pass the model's own table")
    ac = alpha_bar_from_sigma(table)
    if is_clamped_zero_snr(table[-1].item()):
        ac[-1] = 0.0
    return ac


def spaced_sigmas(sigma_table, steps: int, spacing: str = "trailing", denoise: float = 1.0) -> torch.Tensor:
    """The σ of the table at `timesteps(steps', spacing)`, followed by 0: shape (steps + 1,), the table's dtype.

    With denoise < 1, as ComfyUI's schedulers do, the schedule is made for steps' = int(steps/denoise) steps and
    its last `steps` entries are kept, so img2img starts partway down the same spacing.
    """
    check_choice("spacing", spacing, SPACINGS)
    table = torch.as_tensor(sigma_table)
    alphas_cumprod_from_sigma_table(table)  # validates
    T = table.shape[0]
    steps = check_int("steps", steps, 1, T, fix=f"this model has {T} training timesteps")
    denoise = check_float("denoise", denoise, 0.0, 1.0, fix="1 samples from pure noise, lower keeps more of the input")
    if denoise == 0.0:
        raise ValueError("denoise must be > 0 to take any step, got 0.0; use 1.0 for text-to-image")
    total = int(steps / denoise)
    if total > T:
        raise ValueError(
            f"steps/denoise = {steps}/{denoise} = {total} steps exceeds the model's {T} training timesteps; "
            f"use at most {int(T * denoise)} steps at this denoise, or raise denoise"
        )
    if total == 1 and spacing == "leading":
        raise ValueError(
            f"steps = 1 with leading spacing makes its only model call at t = 0 (σ = {table[0].item():.3g}), which "
            "returns the starting noise almost unchanged; use trailing or linspace, whose single step is at t = T"
        )
    # linspace's single point is its start, t = T (round(linspace(1, T, 1)) = 1 would call the model at t = 0 only)
    ts = timesteps(total, "trailing" if total == 1 else spacing, T)[-steps:]
    return torch.cat([table[ts], table.new_zeros(1)])


def dense_sigmas(sigma_table, n: int) -> torch.Tensor:
    """n sigmas and a final 0 for more steps than the table has timesteps (n > T), as a KSampler asks for at low
    denoise (steps/denoise): σ at n evenly spaced continuous t from T - 1 down to 0, log-linear between the table's
    entries (ComfyUI's model_sampling.sigma rule). All three spacings become t = T - 1, ..., 0 at S = T; beyond it
    they are finer than one timestep, and the model is still called at its nearest training timestep."""
    table = torch.as_tensor(sigma_table)
    alphas_cumprod_from_sigma_table(table)  # validates
    T = table.shape[0]
    n = check_int("n", n, T + 1, fix=f"up to {T} steps, use spaced_sigmas")
    t = torch.linspace(T - 1, 0, n, dtype=torch.float64)  # (n,)
    low = t.floor().long()
    high = t.ceil().long()
    log_table = table.double().log()
    log_sigma = torch.lerp(log_table[low], log_table[high], t - low)
    return torch.cat([log_sigma.exp().to(table.dtype), table.new_zeros(1)])


@dataclass(frozen=True)
class SpacingReport:
    """Where a σ list puts its model calls, in training timesteps, and which spacing of Table 2 that is."""

    timesteps: tuple[int, ...]
    num_train_timesteps: int
    spacing: str  # 'leading', 'linspace' or 'trailing'; '-like' appended where only the endpoints match
    exact: bool

    @property
    def starts_at_T(self) -> bool:
        return self.timesteps[0] == self.num_train_timesteps - 1

    def summary(self) -> str:
        ts = self.timesteps
        shown = ", ".join(map(str, ts[:4])) + (f", …, {ts[-1]}" if len(ts) > 4 else "")
        kind = "exactly" if self.exact else "like"
        start = "starts at T" if self.starts_at_T else f"never reaches T = {self.num_train_timesteps - 1}"
        return f"{len(ts)} steps at t = {shown}: {kind} {self.spacing.removesuffix('-like')} spacing, {start}"


def classify_sigmas(sigmas, sigma_table) -> SpacingReport:
    """Map each σ > 0 to its training timestep (nearest in log σ, as ComfyUI does) and name the spacing.

    Exact: the timesteps equal `timesteps(S, spacing)` (leading with steps_offset 0 or 1). Otherwise by endpoints:
    not starting at T is leading-like; starting at T and ending within half a stride of t = 0 is linspace-like;
    starting at T and ending a stride above 0 is trailing-like. σ = inf counts as t = T on a zero-SNR table.
    """
    s = as_float64_vector("sigmas", sigmas)
    s = s[s > 0]
    if s.numel() == 0:
        raise ValueError("sigmas has no entry > 0, so no model call to classify; pass a scheduler's output")
    ac = alphas_cumprod_from_sigma_table(sigma_table)
    T = len(ac)
    ts = tuple(timestep_from_sigma(s, ac).tolist())
    S = len(ts)
    for spacing, offset in (("trailing", 0), ("linspace", 0), ("leading", 0), ("leading", 1)):
        try:
            ref = timesteps(S, spacing, T, offset)
        except ValueError:  # S > T, or an offset that leading spacing cannot take at this S
            continue
        if tuple(ref.tolist()) == ts:
            return SpacingReport(ts, T, spacing, exact=True)
    if ts[0] != T - 1:
        label = "leading-like"
    else:
        label = "linspace-like" if ts[-1] < T / (2 * S) else "trailing-like"
    return SpacingReport(ts, T, label, exact=False)
