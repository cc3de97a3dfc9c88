"""The terminal-SNR report of a schedule: how much signal is left at t = T, before and after Algorithm 1."""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ._checks import alpha_bar_vector, schedule_alpha_bar
from .parametrization import sigma_from_alpha_bar
from .schedules import alphas_cumprod as cumulative_product


@dataclass(frozen=True)
class TerminalSNRReport:
    """√ᾱ at both ends, SNR and σ at the last timestep T - 1 (σ = inf when SNR = 0)."""

    name: str
    num_train_timesteps: int
    sqrt_alpha_bar_first: float
    sqrt_alpha_bar_last: float
    snr_last: float
    sigma_last: float

    @property
    def zero_terminal_snr(self) -> bool:
        return self.snr_last == 0.0

    def summary(self) -> str:
        if self.zero_terminal_snr:
            return f"{self.name}: SNR(T) = 0 exactly; x_T is pure noise, as sampling assumes."
        return (
            f"{self.name}: SNR(T) = {self.snr_last:.4e} > 0; x_T keeps {100 * self.sqrt_alpha_bar_last:.2f}% of the "
            "image's amplitude, so its mean (brightness) leaks to the model in training but not in sampling."
        )


def terminal_snr_report(alphas_cumprod=None, name: str = "schedule", *, betas=None) -> TerminalSNRReport:
    """How much signal a schedule leaves at t = T (Table 1 of arXiv 2305.08891), from its ᾱ (or `betas=`)."""
    if (alphas_cumprod is None) == (betas is None):
        raise ValueError("terminal_snr_report takes a schedule as alphas_cumprod or as betas=..., exactly one of them")
    if betas is not None:
        ac = cumulative_product(betas)
    else:
        try:
            ac = schedule_alpha_bar(alphas_cumprod)
        except ValueError as err:
            raise ValueError(f"{err}. (terminal_snr_report takes ᾱ since 0.2; for β pass betas=...)") from None
    last = ac[-1].item()
    if last == 1.0:
        raise ValueError("this schedule adds no noise (ᾱ = 1 at every timestep, β = 0): there is no terminal SNR to "
                         "report; check the betas")
    return TerminalSNRReport(
        name=name,
        num_train_timesteps=len(ac),
        sqrt_alpha_bar_first=math.sqrt(ac[0].item()),
        sqrt_alpha_bar_last=math.sqrt(last),
        snr_last=last / (1.0 - last),
        sigma_last=sigma_from_alpha_bar(last),
    )


def format_reports(reports: list[TerminalSNRReport]) -> str:
    """A plain-text table of reports, one row each, and a one-line reading of each below it."""
    width = max(len("schedule"), *(len(r.name) for r in reports))
    head = f"{'schedule':<{width}}  {'T':>5}  {'√ᾱ_0':>9}  {'√ᾱ_T':>11}  {'SNR_T':>11}  {'σ_T':>14}"
    rows = [head, "-" * len(head)]
    for r in reports:
        sigma = "inf" if math.isinf(r.sigma_last) else f"{r.sigma_last:.6g}"
        if math.isinf(r.sigma_last):
            sigma += f" ({sigma_from_alpha_bar(0.0, clamp=True):.6g})"
        snr_t = "0" if r.zero_terminal_snr else f"{r.snr_last:.4e}"
        rows.append(
            f"{r.name:<{width}}  {r.num_train_timesteps:>5}  {r.sqrt_alpha_bar_first:>9.6f}  "
            f"{r.sqrt_alpha_bar_last:>11.6g}  {snr_t:>11}  {sigma:>14}"
        )
    rows.append("")
    rows.extend(r.summary() for r in reports)
    if any(math.isinf(r.sigma_last) for r in reports):
        rows.append("σ_T in parentheses: the finite stand-in ZERO_SNR_ALPHA_BAR_CLAMP gives σ-space samplers.")
    return "\n".join(rows)


def schedule_curves(alphas_cumprod) -> dict[str, torch.Tensor]:
    """The data of a schedule plot, float64 over t = 0 … T-1: "t", "sqrt_alpha_bar" and "log_snr" (natural log;
    -inf where ᾱ = 0, i.e. SNR = 0, which a plot must mark rather than draw)."""
    ac = alpha_bar_vector(alphas_cumprod)
    return {"t": torch.arange(len(ac), dtype=torch.float64), "sqrt_alpha_bar": ac.sqrt(),
            "log_snr": ac.log() - torch.log1p(-ac)}
