"""The checkpoint loader's glue: what the file states (zsnr_core.read_checkpoint_flags), what a probe of the model
finds (zsnr_core.probe_prediction_type) and the user's choices, turned into the Zero Terminal SNR patch's settings
and their sources (no ComfyUI import)."""
from __future__ import annotations

from ..zsnr_core import PickleCheckpointError, SafetensorsError, read_checkpoint_flags
from ..zsnr_core.checkpoint_flags import FACT_WORDS
from .model_sampling import AS_LOADED

FROM_FILE = "from file"
FROM_FILE_ELSE_PROBE = "from file, else probe"
PREDICTION_LOAD_CHOICES = (FROM_FILE, FROM_FILE_ELSE_PROBE, "epsilon", "v_prediction")
ZERO_SNR_LOAD_CHOICES = (FROM_FILE, "on", "off")
PICKLE_NOTE = "the file is a pickle (.ckpt / .pt), and a pickle carries no header flags"


def read_flags(path, prediction_choice: str, zero_snr_choice: str):
    """(flags or None, note or None): the file's statements when a choice asks for them, read before the model loads.

    A pickle gives (None, PICKLE_NOTE): the loader falls back to what ComfyUI detected, or to the probe. A file that
    contradicts itself about an asked fact, or that is damaged, needs an explicit choice: ValueError saying so.
    """
    if prediction_choice not in PREDICTION_LOAD_CHOICES or zero_snr_choice not in ZERO_SNR_LOAD_CHOICES:
        raise ValueError(f"prediction_type must be one of {PREDICTION_LOAD_CHOICES} and zero_terminal_snr one of "
                         f"{ZERO_SNR_LOAD_CHOICES}, got {prediction_choice!r} and {zero_snr_choice!r}")
    wanted = [fact for fact, choice in (("prediction_type", prediction_choice), ("zero_terminal_snr", zero_snr_choice))
              if choice in (FROM_FILE, FROM_FILE_ELSE_PROBE)]
    if not wanted:
        return None, None
    try:
        flags = read_checkpoint_flags(path)
    except PickleCheckpointError:
        return None, PICKLE_NOTE
    except SafetensorsError as err:
        raise ValueError(f"{err}. Set {' and '.join(wanted)} explicitly instead of '{FROM_FILE}'") from None
    for fact in wanted:
        clash = flags.conflict(fact)
        if clash:
            raise ValueError(f"{path}: the file contradicts itself about the {clash}. Set {fact} explicitly "
                             "(the model card says which is right)")
    return flags, None


def decide(flags, note, prediction_choice: str, zero_snr_choice: str, probe=None):
    """(prediction choice for patch_model: 'keep' / 'epsilon' / 'v_prediction', zero SNR on?, sources, report text).

    A "from file" choice takes the file's statement; where the file states nothing, "from file, else probe" calls
    `probe()` (a zsnr_core ProbeResult) and takes its answer, and otherwise the model stays as ComfyUI loaded it.
    """
    silent = f"{note or 'not stated in the file'}; {AS_LOADED}"
    probed = None
    if prediction_choice in (FROM_FILE, FROM_FILE_ELSE_PROBE) and flags is not None and flags.prediction_type:
        kind, kind_source = flags.prediction_type, f"file: {flags.prediction_type_source}"
    elif prediction_choice == FROM_FILE_ELSE_PROBE and probe is not None:
        probed = probe()
        evidence = (f"coefficient {probed.coefficient:.3f} at t = {probed.timesteps[0]}, denoising check error "
                    f"{min(probed.check_error.values()):.3f}, {probed.model_calls} model calls")
        if probed.prediction_type:
            kind, kind_source = probed.prediction_type, f"probed ({note or 'not stated in the file'}): {evidence}"
        else:
            kind, kind_source = "keep", f"probed, cannot tell ({probed.reason}; {evidence}); {silent}"
    elif prediction_choice in (FROM_FILE, FROM_FILE_ELSE_PROBE):
        kind, kind_source = "keep", silent
    else:
        kind, kind_source = prediction_choice, f"set on the loader (prediction_type = {prediction_choice})"
    if zero_snr_choice == FROM_FILE:
        stated = flags.zero_terminal_snr if flags is not None else None
        zero_snr = bool(stated)
        zsnr_source = f"file: {flags.zero_terminal_snr_source}" if stated is not None else silent
    else:
        zero_snr, zsnr_source = zero_snr_choice == "on", f"set on the loader (zero_terminal_snr = {zero_snr_choice})"
    source = {"prediction_type": kind_source, "zero_terminal_snr": zsnr_source}
    lines = [f"{FACT_WORDS['prediction_type']}: {kind if kind != 'keep' else 'as loaded'} ({kind_source})",
             f"{FACT_WORDS['zero_terminal_snr']}: {'on' if zero_snr else 'as loaded'} ({zsnr_source})"]
    if flags is not None:
        lines += [f"unrecognised in the file: {u}" for u in flags.unrecognised]
    return kind, zero_snr, source, "\n".join(lines)


def resolve(path, prediction_choice: str, zero_snr_choice: str, probe=None):
    """read_flags then decide, for callers that have no model to load in between."""
    flags, note = read_flags(path, prediction_choice, zero_snr_choice)
    return decide(flags, note, prediction_choice, zero_snr_choice, probe)
