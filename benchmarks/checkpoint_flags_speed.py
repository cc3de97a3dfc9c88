"""Reading checkpoint flags: header only, so the cost does not grow with the tensors. Two measurements, side by side
in one run:

    python benchmarks/checkpoint_flags_speed.py [--files 1000] [--gib 1] [--repeats 20]

1. Files per second over a folder of `--files` small checkpoints (SDXL-like header of 2,500 tensor entries each,
   modelspec and kohya metadata, the markers): `zsnr_core.read_checkpoint_flags` and the command's whole per-file
   report (`describe`: flags, stock tools' assumptions, traps), beside reading the same metadata and tensor names
   with `safetensors.safe_open` (what a script would use).
2. One `--gib` GiB checkpoint (skip with --gib 0): read_checkpoint_flags against loading its tensors with
   safetensors' load_file. The file sits in the page cache, so the tensor load is a memory copy; from disk it is
   slower still.

Files go to a temporary folder that is deleted at the end. Printed: medians and ratios.
"""
from __future__ import annotations

import argparse
import pathlib
import statistics
import sys
import tempfile
import time

import torch

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
import zsnr_core as z
from zsnr_core.cli.flags import describe

METADATA = {"modelspec.prediction_type": "v", "ss_v_parameterization": "True", "ss_zero_terminal_snr": "True"}
ENTRIES = 2500  # about as many tensors as an SDXL checkpoint


def write_checkpoint(path: pathlib.Path, bytes_per_tensor: int) -> None:
    from safetensors.torch import save_file

    per = max(0, bytes_per_tensor // 2)  # float16 elements
    tensors = {f"model.diffusion_model.block_{i}.weight": torch.zeros(per, dtype=torch.float16) for i in range(ENTRIES)}
    tensors.update(v_pred=torch.tensor([]), ztsnr=torch.tensor([]))
    save_file(tensors, str(path), metadata=METADATA)


def median_seconds(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def safe_open_metadata(path):
    from safetensors import safe_open

    with safe_open(str(path), "pt") as f:
        return f.metadata(), list(f.keys())


def folder_rate(files: int, repeats: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        first = pathlib.Path(tmp) / "ckpt_0000.safetensors"
        write_checkpoint(first, 2)  # one float16 each: the header dominates, as in a folder of LoRAs or stubs
        paths = [first] + [pathlib.Path(tmp) / f"ckpt_{i:04d}.safetensors" for i in range(1, files)]
        blob = first.read_bytes()
        for p in paths[1:]:
            p.write_bytes(blob)
        assert z.read_checkpoint_flags(paths[-1]).prediction_type == "v_prediction"
        rows = [("read_checkpoint_flags", lambda: [z.read_checkpoint_flags(p) for p in paths]),
                ("flags command's per-file report (describe)", lambda: [describe(p) for p in paths]),
                ("safetensors.safe_open: metadata + keys", lambda: [safe_open_metadata(p) for p in paths])]
        runs = max(3, repeats // 5)
        times = {name: median_seconds(fn, runs) for name, fn in rows}
        size = first.stat().st_size
    print(f"folder: {files} checkpoints of {size / 1024:.0f} KiB ({ENTRIES} tensor entries each), median of {runs}")
    ref = times[rows[-1][0]]
    for name, _ in rows:
        print(f"  {name:45s} {files / times[name]:9.0f} files/s   ({times[name] / ref:.2f}x safe_open's time)")


def big_file(gib: float, repeats: int) -> None:
    from safetensors.torch import load_file

    with tempfile.TemporaryDirectory() as tmp:
        path = pathlib.Path(tmp) / "big.safetensors"
        write_checkpoint(path, int(gib * 2**30 / ENTRIES))
        size = path.stat().st_size
        flags = z.read_checkpoint_flags(path)
        header = median_seconds(lambda: z.read_checkpoint_flags(path), repeats)
        full = median_seconds(lambda: load_file(str(path)), max(3, repeats // 5))
    print(f"file: {size / 2**30:.2f} GiB, flags: {flags.prediction_type}, zero terminal SNR {flags.zero_terminal_snr}")
    print(f"  read_checkpoint_flags (header only): median {header * 1e3:.3f} ms over {repeats} runs")
    print(f"  safetensors load_file (all tensors): median {full * 1e3:.1f} ms over {max(3, repeats // 5)} runs")
    print(f"  ratio: {full / header:.0f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--gib", type=float, default=1.0)
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    folder_rate(args.files, args.repeats)
    if args.gib > 0:
        big_file(args.gib, args.repeats)


if __name__ == "__main__":
    main()
