"""`python -m zsnr_core flags`: what checkpoints state about v-prediction and zero terminal SNR, and stamping them.

    python -m zsnr_core flags PATH [PATH ...] [--json]
    python -m zsnr_core flags FILE --set-prediction {epsilon,v_prediction} --set-zero-snr {on,off} [--markers]
                                   (--out NEW | --in-place) [--dry-run]

Reading touches headers and configs only; a pickle (.ckpt / .pt / .pth / .bin) is named and never opened.
Exit codes of a read: 0 nothing to fix in the files (a "silent" file, which states neither fact, loads with each
tool's defaults; a tool that reads no flag at all for it is a warning); 1 a file contradicts itself, states a known
trap, or lacks the markers a stock tool reads (a stamp fixes it); 3 a path could not be read (a pickle, a damaged
file, a FIFO ...). A stamp exits 0 when written (or, with --dry-run, when it would be), 2 when refused.
"""
from __future__ import annotations

import argparse
import json
import os
from dataclasses import asdict
from pathlib import Path

from ..checkpoint_flags import SCHEDULER_CONFIG, mismatches, read_checkpoint_flags, stock_assumptions, traps
from ..safetensors_header import PickleCheckpointError, SafetensorsError
from ..stamp import write_checkpoint_flags

PICKLE_SUFFIXES = (".ckpt", ".pt", ".pth", ".bin")
EXIT_OK, EXIT_TO_FIX, EXIT_USAGE, EXIT_UNREADABLE = 0, 1, 2, 3


def _is_diffusers(folder: Path) -> bool:
    return (folder / "model_index.json").is_file() or (folder / SCHEDULER_CONFIG).is_file()


def expand(paths) -> list[Path]:
    """Every checkpoint under `paths`: files as given; a diffusers model folder as one entry; other folders searched
    recursively (sorted) for .safetensors files, pickles and diffusers model folders. Symlinked folders are not
    followed (a loop would never end)."""
    found = []
    for p in map(Path, paths):
        if not p.is_dir() or _is_diffusers(p):
            found.append(p)
            continue
        for root, dirs, files in os.walk(p):  # a folder's own files first, then its subfolders, each sorted
            here = Path(root)
            found += [here / f for f in sorted(files) if f.lower().endswith((".safetensors", *PICKLE_SUFFIXES))]
            models = [d for d in dirs if _is_diffusers(here / d)]
            found += [here / d for d in sorted(models)]
            dirs[:] = sorted(d for d in dirs if d not in models)
    return found


def describe(path: Path) -> dict:
    """One checkpoint as data: what it states, what stock tools assume, what is wrong, and its status word."""
    if path.suffix.lower() in PICKLE_SUFFIXES and path.is_file():
        try:
            read_checkpoint_flags(path)  # a misnamed safetensors file still gets read
        except PickleCheckpointError as err:
            return {"path": str(path), "status": "pickle", "error": str(err)}
        except SafetensorsError:
            return {"path": str(path), "status": "pickle", "error": str(PickleCheckpointError(path, "pickle file "
                                                                                                  f"({path.suffix})"))}
    try:
        flags = read_checkpoint_flags(path)
    except PickleCheckpointError as err:
        return {"path": str(path), "status": "pickle", "error": str(err)}
    except SafetensorsError as err:
        return {"path": str(path), "status": "unreadable", "error": str(err)}
    misread = mismatches(flags)
    found = {"conflicts": [str(c) for c in flags.conflicts], "traps": list(traps(flags)),
             "misreads": [m.text for m in misread if m.stampable]}
    silent = flags.prediction_type is None and flags.zero_terminal_snr is None and not flags.conflicts
    return {"path": str(path), "status": "to fix" if any(found.values()) else ("silent" if silent else "ok"),
            "warnings": [m.text for m in misread if not m.stampable],
            "form": flags.form, "family": flags.family,
            "prediction_type": flags.prediction_type, "prediction_type_source": flags.prediction_type_source,
            "zero_terminal_snr": flags.zero_terminal_snr, "zero_terminal_snr_source": flags.zero_terminal_snr_source,
            "statements": [asdict(s) for s in flags.statements], **found,
            "unrecognised": list(flags.unrecognised), "notes": list(flags.notes),
            "assumed_by": [asdict(a) for a in stock_assumptions(flags)]}


def _word(value) -> str:
    return {None: "not stated", True: "yes", False: "no"}.get(value, value) if not isinstance(value, str) else value


def format_entry(d: dict) -> str:
    if "error" in d:
        return f"{d['path']}: {d['status'].upper()}\n  {d['error']}"
    lines = [f"{d['path']}: {d['status'].upper()}: prediction {_word(d['prediction_type'])}, zero terminal SNR "
             f"{_word(d['zero_terminal_snr'])}" + (f" ({d['family']})" if d["family"] else ""),
             f"  prediction type from: {d['prediction_type_source']}",
             f"  zero terminal SNR from: {d['zero_terminal_snr_source']}"]
    for a in d["assumed_by"]:
        lines.append(f"  {a['tool']} loads it as: {a['prediction_type'] or 'undecided here'}, zero terminal SNR "
                     f"{_word(a['zero_terminal_snr'])} ({a['why']})")
    for key, label in (("conflicts", "CONFLICT"), ("traps", "TRAP"), ("misreads", "MISREAD"), ("warnings", "warning"),
                       ("unrecognised", "unrecognised"), ("notes", "note")):
        lines += [f"  {label}: {x}" for x in d[key]]
    return "\n".join(lines)


def exit_code(entries) -> int:
    statuses = {d["status"] for d in entries}
    if statuses & {"pickle", "unreadable"}:
        return EXIT_UNREADABLE
    return EXIT_TO_FIX if "to fix" in statuses else EXIT_OK


def read(args) -> int:
    paths = expand(args.paths)
    entries = [describe(p) for p in paths]
    if args.json:
        print(json.dumps(entries, indent=2, ensure_ascii=False))
    else:
        for d in entries:
            print(format_entry(d))
        counts = {s: sum(d["status"] == s for d in entries) for s in ("ok", "silent", "to fix", "pickle", "unreadable")}
        print(f"{len(entries)} checkpoint(s): " + ", ".join(f"{n} {s}" for s, n in counts.items()) +
              ("" if entries else f" (no .safetensors, pickle or diffusers model under {' '.join(args.paths)})"))
    return exit_code(entries)


def stamp(args) -> int:
    if len(args.paths) != 1:
        raise ValueError(f"stamping takes one FILE, got {len(args.paths)} paths; stamp each file on its own")
    if (args.out is None) == (not args.in_place):
        raise ValueError("a stamp writes nowhere unless asked: give --out NEW (a new file) or --in-place")
    zsnr = None if args.set_zero_snr is None else args.set_zero_snr == "on"
    result = write_checkpoint_flags(args.paths[0], args.set_prediction, zsnr, markers=args.markers, out=args.out,
                                    in_place=args.in_place, dry_run=args.dry_run)
    if args.json:
        print(json.dumps(asdict(result), indent=2, ensure_ascii=False))
    else:
        print(result.summary())
    return EXIT_OK


def run(args) -> int:
    stamping = args.set_prediction is not None or args.set_zero_snr is not None
    if not stamping and (args.out or args.in_place or args.markers or args.dry_run):
        raise ValueError("--out, --in-place, --markers and --dry-run belong to a stamp: add --set-prediction "
                         "and/or --set-zero-snr")
    return stamp(args) if stamping else read(args)


def register(sub):
    p = sub.add_parser("flags", help="what checkpoints state about v-prediction / zero terminal SNR; stamp them",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("paths", nargs="+", metavar="PATH",
                   help="a .safetensors file, a diffusers model folder, or a folder searched recursively")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    p.add_argument("--set-prediction", choices=("epsilon", "v_prediction"),
                   help="stamp this prediction type (modelspec.prediction_type; kohya's and ComfyUI's keys made to "
                        "agree where present)")
    p.add_argument("--set-zero-snr", choices=("on", "off"), help="stamp zero terminal SNR (ss_zero_terminal_snr)")
    p.add_argument("--markers", action="store_true",
                   help="also add the empty v_pred / ztsnr marker tensors that stock ComfyUI (SDXL) and A1111/Forge "
                        "read; markers that contradict the stamp are always removed")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--out", metavar="NEW", help="write the stamped checkpoint to this new file")
    where.add_argument("--in-place", action="store_true",
                       help="replace FILE (through a temporary file beside it, renamed when complete)")
    p.add_argument("--dry-run", action="store_true", help="say what a stamp would change; write nothing")
    p.set_defaults(run=run, parser=p)
    return p
