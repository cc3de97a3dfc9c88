"""σ tables: a discrete schedule as σ-space consumers (ComfyUI, A1111) store it, one σ per training timestep.

    sigma_table[t]   σ_t = √((1-ᾱ_t)/ᾱ_t), ascending in t, float32 in ComfyUI; its last entry is the σ of
                     ZERO_SNR_ALPHA_BAR_CLAMP (4518.76) for a zero-terminal-SNR model, which stands for ᾱ_T = 0
    sigmas           a sampler's descending σ list, usually ending at 0, as ComfyUI's schedulers return it

Sigmas taken from the table itself map back to the same t under ComfyUI's nearest-log-σ lookup, so a sampler
evaluates the model at exactly the timesteps of `spacing.timesteps` (Table 2 of arXiv 2305.08891, section 3.3).
Every schedule here is one formula over the table, as EDM writes its σ schedule: Table 2's timesteps
(`spaced_sigmas`), log-linear in t beyond T steps (`dense_sigmas`), or a Karras ρ-spread after one step at t = T
(`fewstep_sigmas`).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from ._checks import as_float64_vector, check_choice, check_float, check_int, schedule_alpha_bar
from .denoisers import timestep_from_sigma
from .parametrization import alpha_bar_from_sigma, is_clamped_zero_snr, sigma_from_alpha_bar
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
    its last `steps` entries are kept, so img2img starts partway down the same spacing. Beyond the table's T
    timesteps (steps' > T, as KSampler asks at low denoise: 1500 for 30 steps at 0.02) the three spacings coincide
    and the schedule continues between the table's entries (`dense_sigmas`).
    """
    check_choice("spacing", spacing, SPACINGS)
    table = torch.as_tensor(sigma_table)
    alphas_cumprod_from_sigma_table(table)  # validates
    T = table.shape[0]
    steps = check_int("steps", steps, 1, _MAX_STEPS, fix=f"this model has {T} training timesteps")
    denoise = check_float("denoise", denoise, 0.0, 1.0, fix="1 samples from pure noise, lower keeps more of the input")
    if denoise == 0.0:
        raise ValueError("denoise must be > 0 to take any step, got 0.0; use 1.0 for text-to-image")
    total = int(steps / denoise)
    if total > _MAX_STEPS:
        raise ValueError(f"steps/denoise = {steps}/{denoise} = {total} steps exceeds {_MAX_STEPS}; raise denoise")
    if total > T:
        return dense_sigmas(table, total)[-(steps + 1):]
    if total == 1 and spacing == "leading":
        raise ValueError(
            f"steps = 1 with leading spacing makes its only model call at t = 0 (σ = {table[0].item():.3g}), which "
            "returns the starting noise almost unchanged; use trailing or linspace, whose single step is at t = T"
        )
    # linspace's single point is its start, t = T (round(linspace(1, T, 1)) = 1 would call the model at t = 0 only)
    ts = timesteps(total, "trailing" if total == 1 else spacing, T)[-steps:]
    return torch.cat([table[ts], table.new_zeros(1)])


# More steps than this is a mistake, not a schedule (and would allocate without bound).
_MAX_STEPS = 100_000


def dense_sigmas(sigma_table, steps: int) -> torch.Tensor:
    """`steps` sigmas and a final 0 for more steps than the table has timesteps (steps > T), as a KSampler asks for at
    low denoise (steps/denoise): σ at evenly spaced continuous t from T - 1 down to 0, log-linear between the table's
    entries (ComfyUI's model_sampling.sigma rule). All three spacings become t = T - 1, ..., 0 at S = T; beyond it
    they are finer than one timestep, and the model is still called at its nearest training timestep."""
    table = torch.as_tensor(sigma_table)
    alphas_cumprod_from_sigma_table(table)  # validates
    T = table.shape[0]
    steps = check_int("steps", steps, T + 1, _MAX_STEPS, fix=f"up to {T} steps, use spaced_sigmas")
    t = torch.linspace(T - 1, 0, steps, dtype=torch.float64)  # (steps,)
    low = t.floor().long()
    high = t.ceil().long()
    # an exact zero-SNR table ends at σ = inf: between T - 2 and T - 1 interpolate towards the clamp's finite σ
    # (log-linear towards inf would be inf everywhere), and keep inf at t = T - 1 itself
    finite = torch.where(torch.isinf(table), sigma_from_alpha_bar(0.0, clamp=True), table.double())
    log_sigma = torch.lerp(finite.log()[low], finite.log()[high], t - low)
    sigma = torch.where(low == high, table.double()[low], log_sigma.exp())
    return torch.cat([sigma.to(table.dtype), table.new_zeros(1)])


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


# The few-step schedule's defaults for T = 1000 (scaled to other T), chosen by the sweep that
# benchmarks/fewstep_benchmark.py documents.
FEWSTEP_T_START, FEWSTEP_T_END, FEWSTEP_RHO = 980, 2, 7.0


def fewstep_timesteps(alphas_cumprod, steps: int, t_start: int | None = None, t_end: int | None = None,
                      rho: float = FEWSTEP_RHO) -> torch.Tensor:
    """The `steps` training timesteps of the few-step schedule, strictly descending: T - 1, then a Karras spread
    (in σ, ρ = `rho`, Karras et al. 2022 eq. 5) from t_start to t_end, each mapped to its nearest timestep in
    log σ (ties kept apart).

    Why this shape: the first call at t = T is where the paper starts (Table 2) and where DDIM's step is exact
    (eq. 21): x̂_0 is the data mean there and any σ_1 is reached in one step. Uniform-in-t spacings end at
    t = T/S (σ ≈ 0.3 at 10 steps), whose x̂_0 shrinks the samples' spread; a Karras spread from the clamp's σ
    (4518.76) would spend most calls above σ = 100.

    t_start and t_end default to 980 and 2 of T = 1000 (scaled to other T). Needs 1 <= steps <= t_start - t_end + 2.
    """
    ac = schedule_alpha_bar(alphas_cumprod)
    T = len(ac)
    t_start, t_end = _fewstep_range(T, t_start, t_end)
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
    With the default spread, more steps than it has timesteps (981 of T = 1000, as KSampler asks at low denoise)
    have nothing left to spread: the schedule is then `spaced_sigmas(table, steps, "trailing")`, which also starts
    at t = T and continues beyond T steps.
    """
    table = torch.as_tensor(sigma_table)
    ac = alphas_cumprod_from_sigma_table(table)
    if t_start is None and t_end is None and isinstance(steps, int) and not isinstance(steps, bool):
        start, end = _fewstep_range(len(ac), None, None)
        if steps > start - end + 2:
            return spaced_sigmas(table, steps, "trailing")
    ts = fewstep_timesteps(ac, steps, t_start, t_end, rho)
    return torch.cat([table[ts], table.new_zeros(1)])


def _fewstep_range(T: int, t_start, t_end) -> tuple:
    """The spread's ends, the defaults scaled from T = 1000 to T."""
    scale = (T - 1) / 999
    return (round(FEWSTEP_T_START * scale) if t_start is None else t_start,
            round(FEWSTEP_T_END * scale) if t_end is None else t_end)
