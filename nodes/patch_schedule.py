"""The Zero Terminal SNR node's glue: which schedule and σ table a patched model gets (no ComfyUI import)."""
from __future__ import annotations

from ..zsnr_core import rescale_alphas_cumprod_zero_terminal_snr, sigma_from_alpha_bar
from ..zsnr_core.errors import EpsilonAtZeroSNRError

PREDICTION_CHOICES = ("keep", "epsilon", "v_prediction")


def patched_schedule(base_alphas_cumprod, prediction_type: str, zero_snr: bool):
    """(ᾱ float64 exact, σ table float32 for ComfyUI's samplers). Algorithm 1 when zero_snr; ε-models refused.

    The σ table clamps ᾱ_T = 0 to ZERO_SNR_ALPHA_BAR_CLAMP (σ = 4518.76), ComfyUI's own value, so built-in
    samplers stay finite; the exact ᾱ is kept beside it for the DDIM (zero-SNR exact) sampler.
    """
    ac = base_alphas_cumprod
    if zero_snr:
        ac = rescale_alphas_cumprod_zero_terminal_snr(ac)
    refuse_epsilon_at_zero_snr(
        ac, prediction_type,
        f"Here: an ε-prediction model with SNR = 0 at t = T (zero_terminal_snr = {zero_snr}). Fix: if the checkpoint "
        "was trained with v-prediction, set prediction_type to v_prediction; otherwise turn zero_terminal_snr off.")
    return ac, sigma_from_alpha_bar(ac, clamp=True).float()


def refuse_epsilon_at_zero_snr(alphas_cumprod, prediction_type: str, detail: str) -> None:
    """EpsilonAtZeroSNRError (with `detail`: where and the fix) for an ε-model whose schedule ends at ᾱ_T = 0."""
    if prediction_type == "epsilon" and alphas_cumprod[-1].item() == 0.0:
        raise EpsilonAtZeroSNRError(detail)
