"""Stamping a large checkpoint against copying it with `cp`, side by side on the same disk.

    python benchmarks/stamp_speed.py [--gib 2] [--repeats 3] [--dir /tmp]

A `--gib` GiB safetensors file (2,500 float16 tensors of random bytes, so no file system can store them sparsely) is
written into a temporary folder under `--dir`; then, alternately, `cp` copies it and write_checkpoint_flags stamps it
into a new file beside it (v_prediction, zero terminal SNR on, markers). Each copy is deleted before the next run, and
the folder at the end. The stamp also compares the new file's data region with the original's, byte for byte, and
fsyncs; `cp` does neither, so `cp && sync` (the copy that reaches the disk) is timed too. Printed: medians over `--repeats` runs and the ratios.
"""
from __future__ import annotations

import argparse
import os
import pathlib
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
import zsnr_core as z

ENTRIES = 2500


def write_big(path: pathlib.Path, gib: float) -> None:
    """A valid safetensors file of about `gib` GiB written in chunks (never the whole file in memory)."""
    import json
    import struct

    per = int(gib * 2**30 / ENTRIES) // 2 * 2  # bytes per float16 tensor
    header = {"__metadata__": {"format": "pt"}}
    for i in range(ENTRIES):
        header[f"model.diffusion_model.block_{i}.weight"] = {"dtype": "F16", "shape": [per // 2],
                                                            "data_offsets": [i * per, (i + 1) * per]}
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)
    chunk = os.urandom(per)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(raw)) + raw)
        f.writelines(chunk for _ in range(ENTRIES))


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gib", type=float, default=2.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--dir", default="/tmp", help="where the temporary folder goes (the disk being measured)")
    args = parser.parse_args()
    folder = pathlib.Path(tempfile.mkdtemp(prefix="zsnr-stamp-bench-", dir=args.dir))
    try:
        src = folder / "big.safetensors"
        write_big(src, args.gib)
        size = src.stat().st_size
        times = {"cp": [], "cp && sync": [], "stamp": []}
        for _ in range(args.repeats):
            for name, took in times.items():
                out = folder / f"out_{name.split()[0]}.safetensors"
                if name == "stamp":
                    run = lambda: z.write_checkpoint_flags(src, "v_prediction", True, markers=True, out=out)  # noqa
                elif name == "cp":
                    run = lambda: subprocess.run(["cp", str(src), str(out)], check=True)  # noqa
                else:
                    run = lambda: subprocess.run(["sh", "-c", f"cp '{src}' '{out}' && sync '{out}'"], check=True)  # noqa
                took.append(timed(run))
                out.unlink()
    finally:
        shutil.rmtree(folder)
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"file: {size / 2**30:.2f} GiB in {args.dir}, median of {args.repeats} alternating runs")
    for name, t in med.items():
        print(f"  {name:12s} {t:7.2f} s   {size / t / 2**30:5.2f} GiB/s   runs: "
              + ", ".join(f"{x:.2f}" for x in times[name]))
    print(f"  stamp / cp = {med['stamp'] / med['cp']:.2f}x,  stamp / (cp && sync) = "
          f"{med['stamp'] / med['cp && sync']:.2f}x  (target: at most 1.5x the copy that reaches the disk)")


if __name__ == "__main__":
    main()
