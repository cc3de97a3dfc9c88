"""zsnr_core: the fixes of Lin et al., "Common Diffusion Noise Schedules and Sample Steps are Flawed" (WACV 2024).

Zero terminal SNR (Algorithm 1), v-prediction, sample steps that start at the last timestep, and rescaled
classifier-free guidance (Algorithm 2), exact at SNR = 0. Depends on torch and numpy only.
"""
import sys as _sys

if _sys.argv[:1] == ["-m"]:  # `python -m zsnr_core ...`: Ctrl-C while torch loads (seconds) exits without a traceback
    import signal as _signal

    def _interrupted(signum, frame):
        print("\npython -m zsnr_core: interrupted", file=_sys.stderr)
        raise SystemExit(130)

    _signal.signal(_signal.SIGINT, _interrupted)  # zsnr_core.cli.main hands Ctrl-C back to KeyboardInterrupt

try:
    import torch as _torch  # noqa: F401  (the one runtime dependency pip cannot choose for the user)
except ModuleNotFoundError as _err:
    if _err.name != "torch":
        raise
    _HINT = ("zsnr_core needs PyTorch, which is not installed in this Python. Install the build that fits your "
             "machine (pip install torch; for a CPU-only build see pytorch.org's install selector) or the "
             "[torch] extra: pip install 'zsnr[torch]'. ComfyUI users already have it inside ComfyUI's Python.")
    if _sys.argv[:1] == ["-m"]:  # `python -m zsnr_core ...` is importing its package: a message, not a traceback
        print(f"python -m zsnr_core: error: {_HINT}", file=_sys.stderr)
        raise SystemExit(2) from None
    raise ModuleNotFoundError(_HINT, name="torch") from None

from .cfg_spaces import CFG_SPACES, rescale_cfg_denoised
from .checkpoint_flags import CheckpointFlags, read_checkpoint_flags
from .denoisers import denoiser_from_model, exact_zero_snr_start, timestep_from_sigma
from .errors import EpsilonAtZeroSNRError, UnsupportedModelFamilyError
from .guidance import rescale_cfg, rescale_factor
from .losses import diffusion_loss, loss_weight, training_target, v_loss
from .parametrization import (
    PREDICTION_TYPES,
    ZERO_SNR_ALPHA_BAR_CLAMP,
    add_noise,
    alpha_bar_from_sigma,
    conversion_coefficients,
    is_clamped_zero_snr,
    predict_eps,
    predict_v,
    predict_x0,
    sigma_from_alpha_bar,
    v_target,
)
from .probe import ProbeResult, probe_prediction_type
from .report import TerminalSNRReport, schedule_curves, terminal_snr_report
from .safetensors_header import PickleCheckpointError, SafetensorsError
from .sampling import ddim_coefficients, sample_ddim, sample_ddim_sigmas
from .sampling_dpmpp import sample_dpmpp_2m_sigmas
from .schedules import (
    SCHEDULES,
    alphas_cumprod,
    betas_from_alphas_cumprod,
    make_betas,
    rescale_alphas_cumprod_zero_terminal_snr,
    rescale_zero_terminal_snr,
    snr,
)
from .sigma_tables import (
    SpacingReport,
    alphas_cumprod_from_sigma_table,
    classify_sigmas,
    dense_sigmas,
    fewstep_sigmas,
    fewstep_timesteps,
    spaced_sigmas,
)
from .spacing import SPACINGS, timesteps
from .stamp import StampError, StampResult, write_checkpoint_flags

__version__ = "0.1.0"

__all__ = [
    "CFG_SPACES", "PREDICTION_TYPES", "SCHEDULES", "SPACINGS", "ZERO_SNR_ALPHA_BAR_CLAMP", "CheckpointFlags",
    "EpsilonAtZeroSNRError", "PickleCheckpointError", "ProbeResult", "SafetensorsError", "SpacingReport", "StampError",
    "StampResult", "TerminalSNRReport", "UnsupportedModelFamilyError", "add_noise", "alpha_bar_from_sigma",
    "alphas_cumprod", "alphas_cumprod_from_sigma_table", "betas_from_alphas_cumprod", "classify_sigmas",
    "conversion_coefficients", "ddim_coefficients", "denoiser_from_model", "dense_sigmas", "diffusion_loss",
    "exact_zero_snr_start", "fewstep_sigmas", "fewstep_timesteps", "is_clamped_zero_snr", "loss_weight", "make_betas",
    "predict_eps", "predict_v", "predict_x0", "probe_prediction_type", "read_checkpoint_flags",
    "rescale_alphas_cumprod_zero_terminal_snr", "rescale_cfg", "rescale_cfg_denoised", "rescale_factor",
    "rescale_zero_terminal_snr", "sample_ddim", "sample_ddim_sigmas", "sample_dpmpp_2m_sigmas", "schedule_curves",
    "sigma_from_alpha_bar", "snr", "spaced_sigmas", "terminal_snr_report", "timestep_from_sigma", "timesteps",
    "training_target", "v_loss", "v_target", "write_checkpoint_flags"
]
