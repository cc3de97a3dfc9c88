"""Checks of the command line's options, run before any sampling or training starts.

Each returns the value to use or raises ValueError naming the option, the bad value and the fix; `cli.main` turns
that into one line on stderr and exit code 2. Paths are probed by really opening them (as root, os.access says
yes to everything), and nothing that a check creates is left behind.
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import tempfile
from pathlib import Path

FIGURE_SUFFIXES = (".png", ".pdf", ".svg", ".jpg", ".jpeg")
DEFAULT_FIGURE_NAME = "zsnr_demo.png"


def device(option: str, name: str):
    """A torch.device the toy models can use: auto, cpu, cuda or cuda:N (N below the number of GPUs)."""
    import torch

    allowed = f"{option} must be auto, cpu, cuda or cuda:N"
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(name)
    except (RuntimeError, ValueError):
        raise ValueError(f"{allowed}, got {name!r}") from None
    if dev.type == "cpu":
        return dev
    if dev.type != "cuda":
        raise ValueError(f"{allowed}, got {name!r}: the toy models run on the CPU or an NVIDIA GPU only")
    if not torch.cuda.is_available():
        raise ValueError(f"{option} {name}: CUDA is not available on this machine; use {option} cpu (or auto)")
    count = torch.cuda.device_count()
    if dev.index is not None and dev.index >= count:
        raise ValueError(f"{option} {name}: this machine has {count} CUDA device(s), cuda:0 to cuda:{count - 1}")
    return dev


def needs(args, option: str, given: bool, dependents: dict) -> None:
    """Refuse options that do nothing without `option` (dependents: {name: was it given})."""
    for name, used in dependents.items():
        if used and not given:
            raise ValueError(f"{name} does nothing without {option}; add {option} or drop {name}")


def excludes(args, option: str, given: bool, others: dict) -> None:
    """Refuse options that `option` makes pointless (others: {name: was it given})."""
    for name, used in others.items():
        if used and given:
            raise ValueError(f"{name} and {option} exclude each other; drop one of them")


def weights_dir(option: str, path, names) -> Path:
    """A folder holding NAME.safetensors as a file for every name (the layout `train --out DIR` writes)."""
    if not str(path).strip():
        raise ValueError(f"{option} is empty; give the folder that holds the models, or leave {option} out for the "
                         "shipped ones")
    p = Path(path)
    files = " and ".join(f"{n}.safetensors" for n in names)
    if not p.exists():
        raise ValueError(f"{option} {path}: no such folder; give the folder that holds {files} "
                         f"(`python -m zsnr_core train --out {path}` makes one there)")
    if not p.is_dir():
        raise ValueError(f"{option} must be a folder that holds {files}, got the file {path}; pass its folder "
                         f"{str(p.parent)!r} instead")
    for name in names:
        f = p / f"{name}.safetensors"
        if not f.is_file():
            what = "is a folder, not a file" if f.exists() else "is missing"
            raise ValueError(f"{option} {path}: {f} {what}; rebuild the models with "
                             f"`python -m zsnr_core train --out {path}`")
    return p


def output_dir(option: str, path) -> Path:
    """A folder that training may write into: an existing writable folder, or a new one under a writable folder."""
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise ValueError(f"{option} {path}: is a file, not a folder; choose a folder (it is created if missing)")
    existing = p
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise ValueError(f"{option} {path}: {existing} is a file, so no folder can be made under it; choose another")
    _probe_folder(option, path, existing)
    return p


def figure_path(option: str, out, explicit: bool) -> Path | None:
    """The file the demo's figure is written to, checked writable; None (with no error) when matplotlib is missing
    and the user did not ask for a figure by name."""
    if not _has_matplotlib():
        if explicit:
            raise ValueError(f"{option} {out}: drawing the figure needs matplotlib, which is not installed; "
                             "pip install matplotlib (or the [demo] extra), or pass --no-figure")
        return None
    p = Path(out)
    try:
        if p.is_dir():
            p = p / DEFAULT_FIGURE_NAME
    except OSError as err:  # a name too long for the file system, say
        raise ValueError(f"{option} {str(out)[:60]!r}…: not a usable path ({err.strerror}); choose a shorter one") from None
    if p.suffix.lower() not in FIGURE_SUFFIXES:
        stem = "" if p.name.lower() in FIGURE_SUFFIXES else p.name  # ".png" is a suffix without a name
        example = p.with_name((stem or Path(DEFAULT_FIGURE_NAME).stem) + ".png")
        raise ValueError(f"{option} must name a {', '.join(FIGURE_SUFFIXES)} file or an existing folder, got "
                         f"{str(out)!r}; for example {str(example)!r}")
    if not p.parent.is_dir():
        what = "is a file" if p.parent.exists() else "does not exist"
        raise ValueError(f"{option} {out}: the folder {str(p.parent)!r} {what}; create the folder first "
                         f"(mkdir -p {p.parent}) or choose another path")
    if p.exists():
        if not p.is_file():
            raise ValueError(f"{option} {out}: {p} exists and is not a file; choose another path")
        try:
            with open(p, "ab"):
                pass
        except OSError as err:
            raise ValueError(f"{option} {out}: cannot write {p} ({err.strerror}); choose another path") from None
    else:
        _probe_folder(option, out, p.parent)
    return p


def _probe_folder(option: str, given, folder: Path) -> None:
    """Really create (then remove) a file in `folder`: a name of its own, so that processes checking the same
    folder at once do not remove each other's probe."""
    try:
        fd, name = tempfile.mkstemp(prefix=".zsnr_write_probe_", dir=folder)
        os.close(fd)
        os.unlink(name)
    except OSError as err:
        raise ValueError(f"{option} {given}: cannot write into {folder} ({err.strerror}); choose another path") from None


def _has_matplotlib() -> bool:
    return importlib.util.find_spec("matplotlib") is not None


def number_in(kind, low, high, fix: str = ""):
    """An argparse type: `kind` (int or float) in [low, high], with an error that names the range and the fix."""
    noun = "an integer" if kind is int else "a number"

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {noun} in [{low}, {high}], got {text!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be in [{low}, {high}], got {value}" + (f"; {fix}" if fix else ""))
        return value
    return parse
