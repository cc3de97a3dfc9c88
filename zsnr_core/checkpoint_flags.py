"""What a checkpoint says about its prediction type and zero terminal SNR, read from its header or its config only.

Trainers and converters record the two facts a sampler needs (v-prediction or ε; trained with zero terminal SNR,
Algorithm 1 of Lin et al. 2024, or not) in different places, and each tool reads only some of them:

    __metadata__ "modelspec.prediction_type"   Stability's ModelSpec: "v" / "v_prediction" / "epsilon" / "eps" ...
    __metadata__ "modelspec.predict_key"       what ComfyUI's CheckpointSave writes: "v" or "epsilon"
    __metadata__ "ss_v_parameterization"       kohya sd-scripts: "True" (v) / "False" (ε)
    __metadata__ "ss_zero_terminal_snr"        kohya sd-scripts: "True" / "False"
    tensor key "v_pred"                        an empty marker tensor: v-prediction (ComfyUI, A1111/Forge, NoobAI-XL)
    tensor key "ztsnr"                         an empty marker tensor: zero terminal SNR
    scheduler/scheduler_config.json            diffusers: prediction_type, rescale_betas_zero_snr, timestep_spacing,
                                               steps_offset

A marker's absence says nothing (most files have neither). Statements that disagree are reported in `conflicts` (one
Conflict per fact, as data) and leave the value undecided (None); nothing is resolved silently. A metadata key that
the JSON repeats with different values is such a conflict too.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from .safetensors_header import SafetensorsError, read_header_details
from .spacing import timesteps

_PREDICTION_WORDS = {
    "v": "v_prediction", "v_prediction": "v_prediction", "v-prediction": "v_prediction", "vpred": "v_prediction",
    "v_pred": "v_prediction", "v-pred": "v_prediction",
    "epsilon": "epsilon", "eps": "epsilon", "e": "epsilon", "epsilon_prediction": "epsilon", "noise": "epsilon",
}
_BOOL_WORDS = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}
PREDICTION_KEYS = ("modelspec.prediction_type", "modelspec.predict_key", "ss_v_parameterization")
ZERO_SNR_KEYS = ("ss_zero_terminal_snr",)
MARKERS = {"prediction_type": "v_pred", "zero_terminal_snr": "ztsnr"}
FACTS = ("prediction_type", "zero_terminal_snr")
FACT_WORDS = {"prediction_type": "prediction type", "zero_terminal_snr": "zero terminal SNR"}
SCHEDULER_CONFIG = Path("scheduler") / "scheduler_config.json"


@dataclass(frozen=True)
class Statement:
    """One place that states a fact: `value` ('epsilon' / 'v_prediction', or True / False) and where (`source`)."""

    fact: str  # 'prediction_type' or 'zero_terminal_snr'
    value: object
    source: str


@dataclass(frozen=True)
class Conflict:
    """Two or more statements of one fact that disagree."""

    fact: str
    statements: tuple[Statement, ...]

    def __str__(self) -> str:
        return f"{FACT_WORDS[self.fact]}: " + ", ".join(s.source for s in self.statements)


@dataclass(frozen=True)
class CheckpointFlags:
    """The file's statements, resolved where they agree. Each `*_source` says where the value came from."""

    path: str
    prediction_type: str | None  # 'epsilon', 'v_prediction', or None (not stated, or conflicting)
    zero_terminal_snr: bool | None  # True / False, or None (not stated, or conflicting)
    prediction_type_source: str
    zero_terminal_snr_source: str
    conflicts: tuple[Conflict, ...] = ()
    unrecognised: tuple[str, ...] = ()  # statements in a known place whose value this reader does not know
    statements: tuple[Statement, ...] = ()
    family: str | None = None  # 'sd1', 'sd2', 'sdxl' from the tensor names and shapes; None when unknown
    form: str = "safetensors"  # or 'diffusers' (a model folder, read from its scheduler config)
    markers: tuple[str, ...] = ()  # the marker tensors present
    timestep_spacing: str | None = None  # diffusers only
    steps_offset: int | None = None  # diffusers only
    notes: tuple[str, ...] = field(default=())  # e.g. duplicate keys that do not touch the two facts

    def conflict(self, fact: str) -> Conflict | None:
        """The conflict about `fact` ('prediction_type' / 'zero_terminal_snr'), or None."""
        return next((c for c in self.conflicts if c.fact == fact), None)

    def summary(self) -> str:
        lines = [f"prediction type: {self.prediction_type or 'not stated'} ({self.prediction_type_source})",
                 f"zero terminal SNR: {_yes_no(self.zero_terminal_snr)} ({self.zero_terminal_snr_source})"]
        lines += [f"CONFLICT: {c}" for c in self.conflicts]
        lines += [f"unrecognised: {u}" for u in self.unrecognised]
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)


def _yes_no(value: bool | None) -> str:
    return "not stated" if value is None else ("yes" if value else "no")


def read_checkpoint_flags(path) -> CheckpointFlags:
    """Read what the checkpoint at `path` states: a safetensors file (its header only, never its tensors) or a
    diffusers model folder (its scheduler config).

    SafetensorsError (a ValueError) naming the path for a file that is missing, unreadable, not a regular file or not
    safetensors; PickleCheckpointError (a SafetensorsError) for a pickle, which is never opened.
    """
    path = Path(path)
    if path.is_dir() and ((path / "model_index.json").is_file() or (path / SCHEDULER_CONFIG).is_file()):
        return _read_diffusers(path)
    h = read_header_details(path)
    statements, unknown, notes = [], [], []
    for key in (*PREDICTION_KEYS, *ZERO_SNR_KEYS):
        values = next((v for where, k, v in h.duplicates if where == "__metadata__" and k == key), None)
        for value in values or ((h.metadata[key],) if key in h.metadata else ()):
            source = f"metadata {key} = {value!r}"
            word = value.strip().lower() if isinstance(value, str) else None
            if key in ZERO_SNR_KEYS:
                statement = Statement("zero_terminal_snr", _BOOL_WORDS.get(word), source)
            elif key == "ss_v_parameterization":
                flag = _BOOL_WORDS.get(word)
                statement = Statement("prediction_type", None if flag is None else
                                      ("v_prediction" if flag else "epsilon"), source)
            else:
                statement = Statement("prediction_type", _PREDICTION_WORDS.get(word), source)
            (unknown.append(source) if statement.value is None else statements.append(statement))
    markers = tuple(m for m in MARKERS.values() if m in h.tensors)
    statements += [Statement(fact, "v_prediction" if fact == "prediction_type" else True, f"marker tensor {m!r}")
                   for fact, m in MARKERS.items() if m in h.tensors]
    for where, key, values in h.duplicates:
        if key not in (*PREDICTION_KEYS, *ZERO_SNR_KEYS) or where != "__metadata__":
            notes.append(f"the header repeats {'tensor' if not where else 'metadata key'} {key!r} {len(values)} times "
                         "(JSON readers keep the last silently)")
    return _resolved(str(path), statements, unknown, notes, family=_family(h.tensors), markers=markers)


def _resolved(path: str, statements: list, unknown: list, notes: list, **extra) -> CheckpointFlags:
    values, sources, conflicts = {}, {}, []
    for fact in FACTS:
        mine = [s for s in statements if s.fact == fact]
        distinct = {s.value for s in mine}
        text = ", ".join(s.source for s in mine)
        if not mine:
            values[fact], sources[fact] = None, "not stated in the file"
        elif len(distinct) > 1:
            conflicts.append(Conflict(fact, tuple(mine)))
            values[fact], sources[fact] = None, f"conflicting: {text}"
        else:
            values[fact], sources[fact] = distinct.pop(), text
    return CheckpointFlags(path, values["prediction_type"], values["zero_terminal_snr"], sources["prediction_type"],
                           sources["zero_terminal_snr"], tuple(conflicts), tuple(unknown), tuple(statements),
                           notes=tuple(notes), **extra)


def _family(tensors: dict) -> str | None:
    """SD 1.x / SD 2.x / SDXL from tensor names and shapes (the header's, never the data): SDXL has a second text
    encoder and an ADM (label) embedding; SD 2.x's cross-attention keys are 1024 wide where SD 1.x's are 768."""
    names = tensors.keys()
    if any(n.startswith("conditioner.embedders.1.") for n in names) or "model.diffusion_model.label_emb.0.0.weight" \
            in tensors and "model.diffusion_model.input_blocks.4.1.transformer_blocks.1.attn2.to_k.weight" in tensors:
        return "sdxl"
    key = tensors.get("model.diffusion_model.input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight")
    if isinstance(key, dict) and isinstance(key.get("shape"), list) and key["shape"]:
        return {768: "sd1", 1024: "sd2"}.get(key["shape"][-1])
    return None


def _read_diffusers(folder: Path) -> CheckpointFlags:
    config_path = folder / SCHEDULER_CONFIG
    if not config_path.is_file():
        raise SafetensorsError(f"{folder} has model_index.json but no {SCHEDULER_CONFIG}: diffusers will use the "
                               "scheduler's defaults (epsilon, no zero terminal SNR); add the config to state them")
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as err:
        raise SafetensorsError(f"{config_path} cannot be read as JSON: {err}") from None
    if not isinstance(config, dict):
        raise SafetensorsError(f"{config_path} is JSON {type(config).__name__}, not an object")
    statements, unknown = [], []
    where = f"{SCHEDULER_CONFIG.as_posix()}"
    if "prediction_type" in config:
        value = config["prediction_type"]
        kind = _PREDICTION_WORDS.get(value.strip().lower()) if isinstance(value, str) else None
        source = f"{where} prediction_type = {value!r}"
        (statements.append(Statement("prediction_type", kind, source)) if kind else unknown.append(source))
    if "rescale_betas_zero_snr" in config:
        value = config["rescale_betas_zero_snr"]
        source = f"{where} rescale_betas_zero_snr = {json.dumps(value)}"
        (statements.append(Statement("zero_terminal_snr", value, source)) if isinstance(value, bool)
         else unknown.append(source))
    spacing = config.get("timestep_spacing")
    offset = config.get("steps_offset")
    return _resolved(str(folder), statements, unknown, [], form="diffusers",
                     timestep_spacing=spacing if isinstance(spacing, str) else None,
                     steps_offset=offset if isinstance(offset, int) and not isinstance(offset, bool) else None)


# --- what other tools make of a file, and the known traps ------------------------------------------------------

@dataclass(frozen=True)
class Assumption:
    tool: str
    prediction_type: str | None  # None: decided by something this reader does not see (named in `why`)
    zero_terminal_snr: bool
    why: str


def stock_assumptions(flags: CheckpointFlags) -> tuple[Assumption, ...]:
    """What stock ComfyUI (0.3.64), A1111/Forge and diffusers will assume when they load this checkpoint, from the
    same header. None of them reads modelspec or kohya metadata; see docs/checkpoint-flags.md for the sources."""
    if flags.form == "diffusers":
        kind = flags.prediction_type or "epsilon"
        zsnr = bool(flags.zero_terminal_snr)
        return (Assumption("diffusers", kind, zsnr, "reads scheduler_config.json (missing keys: epsilon, no zero "
                                                    "terminal SNR)"),)
    v, z = "v_pred" in flags.markers, "ztsnr" in flags.markers
    fam = flags.family
    if fam == "sdxl":
        comfy = Assumption("ComfyUI", "v_prediction" if v else "epsilon", v and z,
                           "SDXL: the v_pred marker, and ztsnr only beside v_pred")
    elif fam == "sd2":
        comfy = Assumption("ComfyUI", None, False, "SD 2.x: a statistic of one norm bias's weights (std > 0.09: v); "
                                                   "markers and metadata ignored")
    elif fam == "sd1":
        comfy = Assumption("ComfyUI", "epsilon", False, "SD 1.x: always epsilon; markers and metadata ignored")
    else:
        comfy = Assumption("ComfyUI", None, False, "architecture not recognised from the header")
    a1111 = Assumption("A1111/Forge", "v_prediction" if v else ("epsilon" if fam in ("sd1", "sdxl") else None), z,
                       "the v_pred / ztsnr markers" + ("; otherwise SD 2.x is tested by running the model"
                                                       if fam == "sd2" and not v else ""))
    single = {"sd2": "v_prediction", "sd1": "epsilon", "sdxl": "epsilon"}.get(fam)
    diffusers = Assumption("diffusers", single, False, "from_single_file ignores metadata and markers: " +
                           (f"{single} for {fam}" if single else "architecture not recognised from the header") +
                           ", no zero terminal SNR")
    return comfy, a1111, diffusers


def traps(flags: CheckpointFlags) -> tuple[str, ...]:
    """Known bad combinations this checkpoint states (arXiv 2305.08891 §3.1-3.3 and §6), each with what goes wrong."""
    found = []
    if flags.prediction_type == "epsilon" and flags.zero_terminal_snr:
        found.append("epsilon with zero terminal SNR: at t = T the ε-form x̂0 divides 0 by 0 (§6, eq. 19), the first step "
                     "returns NaN or black; zero terminal SNR needs a v-prediction model")
    spacing = flags.timestep_spacing or ("leading" if flags.form == "diffusers" else None)  # diffusers' default
    if flags.zero_terminal_snr and spacing == "leading":
        first = int(timesteps(50, "leading")[0]) + (flags.steps_offset or 0)
        found.append(f"zero terminal SNR with timestep_spacing = 'leading'{'' if flags.timestep_spacing else ' (the default)'}"
                     f": 50 steps start at t = {first}, not the SNR = 0 step t = 999 (§3.3, Table 2); "
                     "set timestep_spacing to 'trailing'")
    elif spacing == "leading" and flags.steps_offset:
        first = int(timesteps(50, "leading")[0]) + flags.steps_offset
        found.append(f"timestep_spacing = 'leading' with steps_offset = {flags.steps_offset}: 50 steps start at "
                     f"t = {first}, not t = 999 (§3.3, Table 2); 'trailing' starts at the last timestep")
    return tuple(found)


_FIXES = {"ComfyUI": "load it with Load Checkpoint (v-pred / zero SNR from file)",
          "A1111/Forge": "stamp the markers (--markers)",
          "diffusers": "pass the scheduler a config that states it"}


@dataclass(frozen=True)
class Mismatch:
    """A stock tool that will load the checkpoint differently from what it states. `stampable`: the markers fix it
    (the tool reads them for this family); otherwise the tool reads no flag here and the fix is on its side."""

    tool: str
    text: str
    stampable: bool


def mismatches(flags: CheckpointFlags) -> tuple[Mismatch, ...]:
    """Where a stock tool will load this checkpoint differently from what it states, each with a fix."""
    found = []
    for a in stock_assumptions(flags):
        stampable = a.tool == "A1111/Forge" or (a.tool == "ComfyUI" and flags.family == "sdxl")
        fix = "stamp the markers (--markers)" if stampable else _FIXES[a.tool]
        if flags.prediction_type and a.prediction_type and a.prediction_type != flags.prediction_type:
            found.append(Mismatch(a.tool, f"{a.tool} will load it as {a.prediction_type}, the file states "
                                          f"{flags.prediction_type}: {fix}", stampable))
        if flags.zero_terminal_snr and not a.zero_terminal_snr:
            found.append(Mismatch(a.tool, f"{a.tool} will not apply zero terminal SNR, which the file states: {fix}",
                                  stampable))
    return tuple(found)
