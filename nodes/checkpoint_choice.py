"""The checkpoint loader's glue: what the file states (zsnr_core.read_checkpoint_flags) and the user's choices,
turned into the Zero Terminal SNR patch's settings and their sources (no ComfyUI import)."""
from __future__ import annotations

from ..zsnr_core import read_checkpoint_flags
from .model_sampling import AS_LOADED

FROM_FILE = "from file"
PREDICTION_LOAD_CHOICES = (FROM_FILE, "epsilon", "v_prediction")
ZERO_SNR_LOAD_CHOICES = (FROM_FILE, "on", "off")
_CONFLICT_LABELS = {"prediction_type": "prediction type:", "zero_terminal_snr": "zero terminal SNR:"}  # see
# zsnr_core.checkpoint_flags: each conflict starts with what it is about


def resolve(path, prediction_choice: str, zero_snr_choice: str):
    """(prediction choice for patch_model: 'keep' / 'epsilon' / 'v_prediction', zero SNR on?, sources, report text).

    "from file" takes the file's statement; where the file states nothing, the model stays as ComfyUI loaded it.
    Conflicting statements, or a file that is not safetensors, need an explicit choice: ValueError saying so.
    """
    if prediction_choice not in PREDICTION_LOAD_CHOICES or zero_snr_choice not in ZERO_SNR_LOAD_CHOICES:
        raise ValueError(f"prediction_type must be one of {PREDICTION_LOAD_CHOICES} and zero_terminal_snr one of "
                         f"{ZERO_SNR_LOAD_CHOICES}, got {prediction_choice!r} and {zero_snr_choice!r}")
    wanted = [what for what, choice in (("prediction_type", prediction_choice), ("zero_terminal_snr", zero_snr_choice))
              if choice == FROM_FILE]
    flags = None
    if wanted:
        try:
            flags = read_checkpoint_flags(path)
        except ValueError as err:
            raise ValueError(f"{err}. Only safetensors files state their flags: set {' and '.join(wanted)} "
                             "explicitly instead of 'from file'") from None
        for what in wanted:
            clash = [c for c in flags.conflicts if c.startswith(_CONFLICT_LABELS[what])]
            if clash:
                raise ValueError(f"{path}: the file contradicts itself about the {clash[0]}. Set {what} explicitly "
                                 "(the model card says which is right)")
    if prediction_choice == FROM_FILE:
        kind = flags.prediction_type or "keep"
        kind_source = (f"file: {flags.prediction_type_source}" if flags.prediction_type
                       else f"not stated in the file; {AS_LOADED}")
    else:
        kind, kind_source = prediction_choice, f"set on the loader (prediction_type = {prediction_choice})"
    if zero_snr_choice == FROM_FILE:
        zero_snr = bool(flags.zero_terminal_snr)
        zsnr_source = (f"file: {flags.zero_terminal_snr_source}" if flags.zero_terminal_snr is not None
                       else f"not stated in the file; {AS_LOADED}")
    else:
        zero_snr, zsnr_source = zero_snr_choice == "on", f"set on the loader (zero_terminal_snr = {zero_snr_choice})"
    source = {"prediction_type": kind_source, "zero_terminal_snr": zsnr_source}
    lines = [f"prediction type: {kind if kind != 'keep' else 'as loaded'} ({kind_source})",
             f"zero terminal SNR: {'on' if zero_snr else 'as loaded'} ({zsnr_source})"]
    if flags is not None:
        lines += [f"unrecognised in the file: {u}" for u in flags.unrecognised]
    return kind, zero_snr, source, "\n".join(lines)
