"""What a checkpoint file says about its prediction type and zero terminal SNR, read from its safetensors header.

Trainers and converters record the two facts a sampler needs (v-prediction or ε; trained with zero terminal SNR,
Algorithm 1 of Lin et al. 2024, or not) in different places, and ComfyUI's loader reads only two of them:

    __metadata__ "modelspec.prediction_type"   Stability's ModelSpec: "v" / "v_prediction" / "epsilon" / "eps" ...
    __metadata__ "modelspec.predict_key"       what ComfyUI's CheckpointSave writes: "v" or "epsilon"
    __metadata__ "ss_v_parameterization"       kohya sd-scripts: "True" (v) / "False" (ε)
    __metadata__ "ss_zero_terminal_snr"        kohya sd-scripts: "True" / "False"
    tensor key "v_pred"                        an empty marker tensor: v-prediction (ComfyUI, NoobAI-XL, ...)
    tensor key "ztsnr"                         an empty marker tensor: zero terminal SNR

A marker's absence says nothing (most files have neither). Statements that disagree are reported in `conflicts`
and leave the value undecided (None); nothing is resolved silently.
"""
from __future__ import annotations

from dataclasses import dataclass

from .safetensors_header import read_header

_PREDICTION_WORDS = {
    "v": "v_prediction", "v_prediction": "v_prediction", "v-prediction": "v_prediction", "vpred": "v_prediction",
    "v_pred": "v_prediction", "v-pred": "v_prediction",
    "epsilon": "epsilon", "eps": "epsilon", "e": "epsilon", "epsilon_prediction": "epsilon", "noise": "epsilon",
}
_BOOL_WORDS = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}
_PREDICTION_KEYS = ("modelspec.prediction_type", "modelspec.predict_key")


@dataclass(frozen=True)
class CheckpointFlags:
    """The file's statements, resolved where they agree. Each `*_source` says where the value came from."""

    path: str
    prediction_type: str | None  # 'epsilon', 'v_prediction', or None (not stated, or conflicting)
    zero_terminal_snr: bool | None  # True / False, or None (not stated, or conflicting)
    prediction_type_source: str
    zero_terminal_snr_source: str
    conflicts: tuple[str, ...] = ()
    unrecognised: tuple[str, ...] = ()  # statements in a known place whose value this reader does not know

    def summary(self) -> str:
        lines = [f"prediction type: {self.prediction_type or 'not stated'} ({self.prediction_type_source})",
                 f"zero terminal SNR: {_yes_no(self.zero_terminal_snr)} ({self.zero_terminal_snr_source})"]
        lines += [f"CONFLICT: {c}" for c in self.conflicts]
        lines += [f"unrecognised: {u}" for u in self.unrecognised]
        return "\n".join(lines)


def _yes_no(value: bool | None) -> str:
    return "not stated" if value is None else ("yes" if value else "no")


def read_checkpoint_flags(path) -> CheckpointFlags:
    """Read the header of the safetensors file at `path` (never its tensors) and say what it states.

    ValueError (SafetensorsError) naming the path for a file that is missing, too short or not safetensors.
    """
    header, _ = read_header(path)
    metadata = header.get("__metadata__") or {}
    prediction, zero_snr, unknown = [], [], []
    for key in _PREDICTION_KEYS:
        if key in metadata:
            word = str(metadata[key]).strip().lower()
            _state(prediction, unknown, _PREDICTION_WORDS.get(word), f"metadata {key} = {metadata[key]!r}")
    if "ss_v_parameterization" in metadata:
        flag = _BOOL_WORDS.get(str(metadata["ss_v_parameterization"]).strip().lower())
        kind = None if flag is None else ("v_prediction" if flag else "epsilon")
        _state(prediction, unknown, kind, f"metadata ss_v_parameterization = {metadata['ss_v_parameterization']!r}")
    if "ss_zero_terminal_snr" in metadata:
        flag = _BOOL_WORDS.get(str(metadata["ss_zero_terminal_snr"]).strip().lower())
        _state(zero_snr, unknown, flag, f"metadata ss_zero_terminal_snr = {metadata['ss_zero_terminal_snr']!r}")
    if "v_pred" in header:
        prediction.append(("v_prediction", "marker tensor 'v_pred'"))
    if "ztsnr" in header:
        zero_snr.append((True, "marker tensor 'ztsnr'"))
    conflicts = []
    kind, kind_source = _resolve("prediction type", prediction, conflicts)
    zsnr, zsnr_source = _resolve("zero terminal SNR", zero_snr, conflicts)
    return CheckpointFlags(str(path), kind, zsnr, kind_source, zsnr_source, tuple(conflicts), tuple(unknown))


def _state(statements: list, unknown: list, value, source: str) -> None:
    if value is None:
        unknown.append(source)
    else:
        statements.append((value, source))


def _resolve(what: str, statements: list, conflicts: list):
    values = {value for value, _ in statements}
    sources = ", ".join(source for _, source in statements)
    if not statements:
        return None, "not stated in the file"
    if len(values) > 1:
        conflicts.append(f"{what}: {sources}")
        return None, f"conflicting: {sources}"
    return values.pop(), sources
