"""read_checkpoint_flags on a large checkpoint: it reads the 8-byte length and the JSON header only, so its cost does
not grow with the tensors. Compared side by side with reading the same file's tensors (safetensors' own loader).

    python benchmarks/checkpoint_flags_speed.py [--gib 1] [--repeats 20]

The file is written to a temporary folder: an SDXL-sized header (2,500 tensor entries, modelspec and kohya metadata,
the v_pred / ztsnr markers) over `--gib` GiB of float16 zeros; it is deleted at the end. Printed: median times and
their ratio. The file sits in the page cache, so the tensor load is a memory copy; from disk it is slower still.
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


def write_checkpoint(path: pathlib.Path, gib: float) -> None:
    from safetensors.torch import save_file

    n = 2500
    per = int(gib * 2**30 / 2 / n)  # float16 elements per tensor
    tensors = {f"model.diffusion_model.block_{i}.weight": torch.zeros(per, dtype=torch.float16) for i in range(n)}
    tensors.update(v_pred=torch.tensor([]), ztsnr=torch.tensor([]))
    save_file(tensors, str(path), metadata={"modelspec.prediction_type": "v", "ss_v_parameterization": "True",
                                            "ss_zero_terminal_snr": "True"})


def median_seconds(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gib", type=float, default=1.0)
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    from safetensors.torch import load_file

    with tempfile.TemporaryDirectory() as tmp:
        path = pathlib.Path(tmp) / "big.safetensors"
        write_checkpoint(path, args.gib)
        size = path.stat().st_size
        flags = z.read_checkpoint_flags(path)
        header = median_seconds(lambda: z.read_checkpoint_flags(path), args.repeats)
        full = median_seconds(lambda: load_file(str(path)), max(3, args.repeats // 5))
    print(f"file: {size / 2**30:.2f} GiB, flags: {flags.prediction_type}, zero terminal SNR {flags.zero_terminal_snr}")
    print(f"read_checkpoint_flags (header only): median {header * 1e3:.3f} ms over {args.repeats} runs")
    print(f"safetensors load_file (all tensors): median {full * 1e3:.1f} ms over {max(3, args.repeats // 5)} runs")
    print(f"ratio: {full / header:.0f}x")


if __name__ == "__main__":
    main()
