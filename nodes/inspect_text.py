"""The SNR Inspector's text: what the core reports about a model's schedule and a σ list, in plain words."""
from __future__ import annotations

from ..zsnr_core import (
    classify_sigmas,
    rescale_alphas_cumprod_zero_terminal_snr,
    schedule_curves,
    terminal_snr_report,
)
from ..zsnr_core.errors import EpsilonAtZeroSNRError, UnsupportedModelFamilyError
from .patch_schedule import refuse_epsilon_at_zero_snr


def inspect(alphas_cumprod_model, sigma_table, prediction_type: str, sigmas=None, sources=None):
    """(curves for the plot, report text). `sigmas`, when given, is classified against the model's σ table;
    `sources` ({"prediction_type": ..., "zero_terminal_snr": ...}) says where each setting came from."""
    ac = alphas_cumprod_model
    rescaled = rescale_alphas_cumprod_zero_terminal_snr(ac)
    curves = [("model", schedule_curves(ac)), ("rescaled (Algorithm 1)", schedule_curves(rescaled))]
    report = terminal_snr_report(ac, name="model schedule")
    lines = [
        f"prediction type: {prediction_type}" + (f" (from {sources['prediction_type']})" if sources else ""),
        f"training timesteps: T = {len(ac)}",
        f"terminal SNR: {report.snr_last:.4g} (sqrt(alpha_bar_T) = {report.sqrt_alpha_bar_last:.4g})",
        report.summary(),
    ]
    if sources:
        lines.insert(3, f"zero terminal SNR state from: {sources['zero_terminal_snr']}")
    warnings = []
    try:
        refuse_epsilon_at_zero_snr(ac, prediction_type, "Here: this model's schedule ends at SNR = 0. Fix: if the "
                                   "checkpoint was trained with v-prediction, set prediction_type to v_prediction on "
                                   "Zero Terminal SNR; otherwise turn its zero_terminal_snr off.")
    except EpsilonAtZeroSNRError as err:
        warnings.append(f"WARNING: {err}")
    if not report.zero_terminal_snr and prediction_type == "v_prediction":
        lines.append(
            "note: a v-prediction model with SNR(T) > 0. If the checkpoint was trained with zero terminal SNR, "
            "add Zero Terminal SNR (zero_terminal_snr on); if not, leave it off, forcing it burns the output."
        )
    if sigmas is not None and not bool((sigmas > 0).any()):
        lines.append(f"note: the sigmas hold no value > 0 ({len(sigmas)} entries), so they make no model call; "
                     "a scheduler gives that for steps = 0 or denoise = 0")
    elif sigmas is not None:
        spacing = classify_sigmas(sigmas, sigma_table)
        lines.append(f"sigmas: {spacing.summary()}; first timestep t = {spacing.timesteps[0]}")
        if not spacing.starts_at_T:
            warnings.append(
                f"WARNING: the sigmas start at t = {spacing.timesteps[0]}, not at T = {len(ac) - 1}, so sampling "
                "skips the noisiest steps and cannot reach very dark or bright images (Lin et al., section 3.3). "
                "Use Paper Timesteps with trailing (or linspace) spacing; ignore this for img2img with denoise < 1."
            )
    return curves, "\n".join(lines + warnings)


def not_discrete(refusal: UnsupportedModelFamilyError) -> str:
    """The report for a model outside DDPM's discrete sampling (flow matching, EDM, LCM, ...): the nodes' refusal,
    reported instead of raised."""
    return f"{refusal}. Nothing is plotted: its sampling has no terminal SNR in the sense of Lin et al. (2024)."
