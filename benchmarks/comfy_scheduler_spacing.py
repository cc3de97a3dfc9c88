"""Classify every ComfyUI built-in scheduler as leading / linspace / trailing on Stable Diffusion's schedule.

    COMFYUI_PATH=/path/to/ComfyUI python benchmarks/comfy_scheduler_spacing.py [--steps 10 30] [--save FILE.json]

Runs comfy.samplers.calculate_sigmas on ComfyUI's own SD σ table (scaled_linear, T = 1000, ε/v alike), maps each
σ > 0 to its timestep as ComfyUI does (nearest log σ) and names the spacing with zsnr_core.classify_sigmas: exact
when the timesteps equal Table 2's, '-like' by where they start and end. Prints a Markdown table. With --save it
also writes the σ lists and ComfyUI's σ table as JSON (benchmarks/comfy_scheduler_sigmas.json is that file), so
that notebook 4 can classify ComfyUI's schedulers without ComfyUI.
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "harness"))
from comfyui_env import start_comfyui

import zsnr_core as z


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, nargs="+", default=[10, 30])
    parser.add_argument("--save", type=pathlib.Path, help="write the σ lists and the σ table to this JSON file")
    args = parser.parse_args()
    if "COMFYUI_PATH" not in os.environ:
        sys.exit("set COMFYUI_PATH to a ComfyUI checkout")
    comfy, _ = start_comfyui(os.environ["COMFYUI_PATH"])  # imports comfy.model_sampling too
    ms = comfy.model_sampling.ModelSamplingDiscrete()  # SD's schedule, as ComfyUI builds it
    table = ms.sigmas
    head = " | ".join(f"S = {s}: model calls, first t … last t, spacing" for s in args.steps)
    print(f"| scheduler | {head} |")
    print("|---|" + "---|" * len(args.steps))
    saved = {}
    for name in comfy.samplers.SCHEDULER_NAMES:
        if name.startswith("zsnr_"):
            continue
        cells = []
        for steps in args.steps:
            sigmas = comfy.samplers.calculate_sigmas(ms, name, steps)
            saved.setdefault(name, {})[str(steps)] = sigmas.tolist()
            report = z.classify_sigmas(sigmas, table)
            ts = report.timesteps
            spacing = f"**{report.spacing}** (exact)" if report.exact else report.spacing
            cells.append(f"{len(ts)}, {ts[0]} … {ts[-1]}, {spacing}")
        print(f"| `{name}` | " + " | ".join(cells) + " |")
    if args.save:
        import comfyui_version

        record = {"source": "comfy.samplers.calculate_sigmas on ModelSamplingDiscrete() (SD's scaled_linear table)",
                  "comfyui_version": comfyui_version.__version__, "sigma_table": table.tolist(), "sigmas": saved}
        args.save.write_text(json.dumps(record, indent=1) + "\n")
        print(f"wrote {args.save}")


if __name__ == "__main__":
    main()
