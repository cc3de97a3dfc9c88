"""Which KSampler sampler × scheduler to use on a zero-SNR v-prediction model: measured on the trained fixed toy model.

    COMFYUI_PATH=/path/to/ComfyUI nice -n 10 python benchmarks/comfy_toy_compat.py [--samples 8] [--cfg 3]
        [--steps 10 25] [--threads 1] [--json benchmarks/comfy_toy_compat.json] [--figure benchmarks/comfy_toy_compat.png]
    python benchmarks/comfy_toy_compat.py --figure-only     # redraw the figure and reprint the summary from the JSON

Inside ComfyUI (in this process, on the CPU), the shipped `fixed` toy model (zero terminal SNR + v-prediction, as
Load Toy Model gives it, ComfyUI's own zero-SNR σ table with σ_max = 4518.76) is sampled through the stock KSampler
code path (`nodes.common_ksampler`) with every built-in sampler and scheduler, our `zsnr_*` schedulers and our
`zsnr_ddim` / `zsnr_ddpm` / `zsnr_dpmpp_2m` samplers, at each --steps, plain CFG at --cfg (no Rescale CFG: the map
is about the sampler and the schedule), the same seed and so the same starting noise in every cell. Sample i asks
for shape i mod 4, the negative is the null class. The shipped `flawed` model (SD's schedule, ε) is the reference
row: euler with every scheduler. Scores (`zsnr_core.toy.metrics.sample_metrics` against the reference data, with
the shipped classifier): brightness W1, shape accuracy, the share of pixels beyond ±1, and NaN / errors.

A cell is marked "avoid" when its samples are non-finite or it raised, its shape accuracy is below 0.75, more than
5 % of its pixels lie beyond ±1, or the spread (std) of its per-image brightness is no wider than the flawed model's
as Stable Diffusion samples it (euler × ddim_uniform, leading steps, at the same step count): on such a cell the
fixed model shows nothing of the paper's fix. (The spread, not W1, decides this: with a few samples per cell W1
carries sampling noise as large as the flawed-vs-fixed gap, while every cell starts from the same noise, so the
spreads compare like for like.) Also measured (Deliver item 4): the largest difference between ComfyUI's samples and the library's
own pipelines (`zsnr_core.toy.pipelines.sample`) on the same noise, and the library pipelines' own scores.

The JSON is written after every sampler (a run that is stopped resumes with --resume).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import pathlib
import sys
import time

import torch

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "harness"))
sys.path.insert(0, str(ROOT))

from zsnr_core.toy import comfy_bridge as bridge
from zsnr_core.toy.experiments import asked_classes
from zsnr_core.toy.metrics import sample_metrics
from zsnr_core.toy.pipelines import PIPELINES, sample
from zsnr_core.toy.zoo import WEIGHTS_DIR, load_model, reference_data, reference_features, shipped_classifier

MIN_ACCURACY, MAX_SATURATED = 0.75, 0.05
FLAWED_AS_SD = ("euler", "ddim_uniform")  # leading steps with steps_offset 1: Stable Diffusion's DDIM setup
POPULAR = ("euler", "euler_ancestral", "dpmpp_2m", "dpmpp_2m_sde", "dpmpp_sde", "uni_pc", "ddim", "heun", "zsnr_ddim",
           "zsnr_dpmpp_2m", "ipndm", "uni_pc_bh2")
SKIPPED = {
    "dpm_adaptive": "adaptive step size: its number of model calls is not set by steps",
    **{f"{s}_gpu": f"the same solver as {s}, with its Brownian noise drawn on the model's device instead of the CPU"
       for s in ("dpmpp_sde", "dpmpp_2m_sde", "dpmpp_2m_sde_heun", "dpmpp_3m_sde")},
}
# (what is compared, model, sampler, scheduler, library pipeline): the same setup in ComfyUI and in zsnr_core
AGREEMENT = [("fixed: euler × simple vs zsnr_v_trailing", "fixed", "euler", "simple", "zsnr_v_trailing"),
             ("fixed: zsnr_ddim × zsnr_trailing vs zsnr_v_trailing", "fixed", "zsnr_ddim", "zsnr_trailing",
              "zsnr_v_trailing"),
             ("flawed: euler × ddim_uniform vs sd", "flawed", "euler", "ddim_uniform", "sd")]


def verdict(cell: dict, flawed_std: float) -> str:
    if "error" in cell:
        return "error"
    if not cell["finite"]:
        return "nan"
    if cell["accuracy"] < MIN_ACCURACY:
        return "shapes lost"
    if cell["saturated"] > MAX_SATURATED:
        return "burnt"
    if cell["brightness_std"] <= flawed_std:
        return "flawed brightness"
    return "ok"


class Runner:
    def __init__(self, comfy_nodes, n: int, cfg: float, seed: int):
        self.nodes, self.n, self.cfg, self.seed = comfy_nodes, n, cfg, seed
        self.asked = asked_classes(n)
        self.positive = bridge.conditioning(self.asked)
        self.negative = bridge.conditioning(bridge.NULL_CLASS)
        self.reference = reference_data()
        self.classifier = shipped_classifier()
        self.features = reference_features(self.classifier, self.reference)

    def sample(self, model, sampler: str, scheduler: str, steps: int) -> torch.Tensor:
        latent = {"samples": bridge.empty_latent(self.n)}
        with torch.inference_mode():  # as ComfyUI's executor runs a node
            (out,) = self.nodes.common_ksampler(model, self.seed, steps, self.cfg, sampler, scheduler, self.positive,
                                                self.negative, latent)
        return out["samples"].float()

    def score(self, x: torch.Tensor) -> dict:
        if not bool(torch.isfinite(x).all()):
            return {"finite": False}
        m = sample_metrics(x, self.reference.images, self.asked, self.classifier, self.features)
        return {"finite": True, "w1": m.w1, "accuracy": m.accuracy, "saturated": m.saturated,
                "brightness_std": m.brightness_std, "brightness_mean": m.brightness_mean, "fd8": m.fd8}

    def cell(self, model, sampler: str, scheduler: str, steps: int) -> dict:
        t0 = time.perf_counter()
        try:
            x = self.sample(model, sampler, scheduler, steps)
        except Exception as e:  # noqa: BLE001 (a combination that cannot run on this model is a result)
            return {"error": f"{type(e).__name__}: {e}"[:160], "seconds": round(time.perf_counter() - t0, 2)}
        return {**self.score(x), "seconds": round(time.perf_counter() - t0, 2)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=8, help="samples per cell (shape i mod 4)")
    parser.add_argument("--cfg", type=float, default=3.0)
    parser.add_argument("--steps", type=int, nargs="+", default=[10, 25])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads (1: on a shared CPU two threads wait on each other)")
    parser.add_argument("--samplers", nargs="+", default=None, help="only these samplers (default: all)")
    parser.add_argument("--json", type=pathlib.Path, default=ROOT / "benchmarks" / "comfy_toy_compat.json")
    parser.add_argument("--figure", type=pathlib.Path, default=ROOT / "benchmarks" / "comfy_toy_compat.png")
    parser.add_argument("--resume", action="store_true", help="keep the cells already in --json")
    parser.add_argument("--figure-only", action="store_true", help="redraw --figure from --json and stop")
    args = parser.parse_args()
    if args.figure_only:
        results = json.loads(args.json.read_text())
        summarize(results)
        save_figure(results, args.figure)
        return 0
    if "COMFYUI_PATH" not in os.environ:
        sys.exit("set COMFYUI_PATH to a ComfyUI checkout")
    torch.set_num_threads(args.threads)
    t_all = time.perf_counter()
    from comfyui_env import start_comfyui

    comfy, comfy_nodes = start_comfyui(os.environ["COMFYUI_PATH"])
    comfy.utils.PROGRESS_BAR_ENABLED = False  # loaded with comfy.sample
    assert asyncio.run(comfy_nodes.load_custom_node(str(ROOT)))
    loader = comfy_nodes.NODE_CLASS_MAPPINGS["ZSNR_LoadToyModel"]
    models = {name: loader.execute(model_name=name).args[0] for name in ("fixed", "flawed")}
    run = Runner(comfy_nodes, args.samples, args.cfg, args.seed)
    config = {"samples": args.samples, "cfg": args.cfg, "steps": args.steps, "seed": args.seed, "plain_cfg": True,
              "model": "fixed (zero terminal SNR + v, ComfyUI's zsnr σ table)", "reference_row": "flawed × euler",
              "min_accuracy": MIN_ACCURACY, "max_saturated": MAX_SATURATED, "flawed_as_sd": list(FLAWED_AS_SD),
              "comfyui_version": __import__("comfyui_version").__version__, "torch": torch.__version__,
              "threads": args.threads}
    results = {"config": config, "skipped": SKIPPED, "fixed": {}, "flawed": {}, "library": {}, "agreement": {}}
    if args.resume and args.json.exists():
        old = json.loads(args.json.read_text())
        if all(old["config"].get(k) == v for k, v in config.items()):  # the same setup: its cells still hold
            results.update({k: old[k] for k in ("fixed", "flawed", "library", "agreement")})
            t_all -= old["config"].get("seconds", 0.0)  # the time of the runs it continues counts too
    samplers = [s for s in comfy.samplers.SAMPLER_NAMES if s not in SKIPPED]
    samplers = sorted(samplers, key=lambda s: s not in POPULAR)  # the most used first: a stopped run has them
    samplers = [s for s in samplers if args.samplers is None or s in args.samplers]
    schedulers = list(comfy.samplers.SCHEDULER_NAMES)
    config.update(samplers=samplers, schedulers=schedulers)
    print(f"{len(samplers)} samplers × {len(schedulers)} schedulers × {len(args.steps)} step counts, "
          f"{args.samples} samples each, CFG {args.cfg}", flush=True)

    def save():
        config["seconds"] = round(time.perf_counter() - t_all, 1)
        args.json.write_text(json.dumps(results, indent=1) + "\n")

    # the library's own pipelines on the same noise and labels, and the difference to ComfyUI (item 4)
    for steps in args.steps:
        key = str(steps)
        if all(key in results["agreement"].get(label, {}) for label, *_ in AGREEMENT):
            continue
        unets = {name: load_model(WEIGHTS_DIR / f"{name}.safetensors")[0] for name in ("fixed", "flawed")}
        for pipeline in ("zsnr_v_trailing", "zsnr_v_trailing_rescaled", "sd"):
            x = sample(unets[PIPELINES[pipeline].model], PIPELINES[pipeline], args.samples, steps, args.cfg,
                       seed=args.seed)
            results["library"].setdefault(pipeline, {})[key] = run.score(x)
        for label, name, sampler, scheduler, pipeline in AGREEMENT:
            ours = run.sample(models[name], sampler, scheduler, steps)
            lib = sample(unets[name], PIPELINES[pipeline], args.samples, steps, args.cfg, phi=0.0, seed=args.seed)
            d = (ours - lib).abs()
            results["agreement"].setdefault(label, {})[key] = {"max_abs": d.max().item(), "mean_abs": d.mean().item()}
            print(f"{label}, {steps} steps: max |Δ| {d.max().item():.2e}, mean {d.mean().item():.2e}", flush=True)
        save()

    for scheduler in schedulers:  # the reference row
        for steps in args.steps:
            done = results["flawed"].setdefault(f"euler × {scheduler}", {})
            if str(steps) not in done:
                done[str(steps)] = run.cell(models["flawed"], "euler", scheduler, steps)
    save()
    for steps in args.steps:  # the whole map at the first step count before the next
        for sampler in samplers:
            t0 = time.perf_counter()
            for scheduler in schedulers:
                done = results["fixed"].setdefault(f"{sampler} × {scheduler}", {})
                if str(steps) not in done:
                    done[str(steps)] = run.cell(models["fixed"], sampler, scheduler, steps)
            save()
            print(f"{steps} steps, {sampler}: {time.perf_counter() - t0:.1f} s", flush=True)
    summarize(results)
    save_figure(results, args.figure)
    print(f"wrote {args.json} and {args.figure}; total {time.perf_counter() - t_all:.1f} s")
    return 0


def flawed_reference(results: dict, steps: str) -> dict:
    return results["flawed"][" × ".join(FLAWED_AS_SD)][steps]


def flawed_w1(results: dict, steps: str) -> float:
    return flawed_reference(results, steps)["w1"]


def verdicts(results: dict) -> dict:
    """{steps: {"sampler × scheduler": verdict}} of the fixed model's cells."""
    return {s: {k: verdict(v[s], flawed_reference(results, s)["brightness_std"]) for k, v in results["fixed"].items()
                if s in v}
            for s in map(str, results["config"]["steps"])}


def summarize(results: dict) -> None:
    """Print the figures the documentation quotes: the agreement with the library, the reference scores, the
    combinations to avoid (grouped by sampler where a sampler fails with every scheduler) and the best cells."""
    cfg = results["config"]
    print(f"\n{cfg['samples']} samples per cell, CFG {cfg['cfg']}, seed {cfg['seed']}, "
          f"{cfg.get('seconds', '?')} s")
    for label, by_steps in results["agreement"].items():
        print(f"  agreement {label}: " + ", ".join(f"{s} steps max |Δ| {v['max_abs']:.2e} (mean {v['mean_abs']:.1e})"
                                                   for s, v in by_steps.items()))
    for pipeline, by_steps in results["library"].items():
        print(f"  library {pipeline}: " + ", ".join(f"{s} steps W1 {v['w1']:.3f} acc {v['accuracy']:.2f} "
                                                    f"sat {v['saturated']:.3f}" for s, v in by_steps.items()))
    floors = sorted(data_w1(cfg["samples"], seed) for seed in range(1, 21))
    print(f"  W1 of {cfg['samples']} fresh data images (seeds 1-20) to the reference: median {floors[9]:.3f}, "
          f"largest {floors[-1]:.3f}: a perfect sampler's W1 at this sample size")
    for steps, marks in verdicts(results).items():
        ref = flawed_w1(results, steps)
        print(f"\n{steps} steps: flawed as SD samples it ({' × '.join(FLAWED_AS_SD)}) W1 {ref:.3f}, brightness std "
              f"{flawed_reference(results, steps)['brightness_std']:.3f}; "
              f"{sum(v == 'ok' for v in marks.values())} of {len(marks)} fixed-model cells ok")
        by_sampler = {}
        for key, v in marks.items():
            by_sampler.setdefault(key.split(" × ")[0], {})[key.split(" × ")[1]] = v
        for sampler, row in by_sampler.items():
            bad = {sch: v for sch, v in row.items() if v != "ok"}
            if len(bad) == len(row):
                print(f"  avoid {sampler} with every scheduler: {sorted(set(bad.values()))}")
            elif bad:
                print(f"  avoid {sampler} × " + ", ".join(f"{sch} ({v})" for sch, v in bad.items()))
        cells = sorted((v[steps]["w1"], k) for k, v in results["fixed"].items()
                       if steps in v and marks[k] == "ok")
        print("  lowest W1: " + ", ".join(f"{k} {w:.3f}" for w, k in cells[:6]))
        print(f"  cells measured: {len(marks)} of {len(cfg['samplers']) * len(cfg['schedulers'])}; to avoid: "
              f"{sum(v != 'ok' for v in marks.values())}")
    compare_fewstep(results)


def data_w1(n: int, seed: int) -> float:
    from zsnr_core.toy.data import make_shapes
    from zsnr_core.toy.metrics import brightness, wasserstein1

    return wasserstein1(brightness(make_shapes(n, seed=seed).images), brightness(reference_data().images))


def ranks(values: list[float]) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float64).argsort().argsort().double()


def compare_fewstep(results: dict, path: pathlib.Path = ROOT / "benchmarks" / "fewstep_results.json") -> None:
    """Where this map agrees with the exact-denoiser benchmark (fewstep_benchmark.py): for the combinations both
    ran with one model call per step at S calls = S steps, the Spearman rank correlation of our W1 with its toy ODE
    error, and where our cells to avoid rank there."""
    if not path.exists():
        return
    exact = json.loads(path.read_text())
    for steps, marks in verdicts(results).items():
        if steps not in exact["config"]["calls"] and int(steps) not in exact["config"]["calls"]:
            continue
        keys = [k for k in marks if marks[k] not in ("error", "nan") and steps in exact["toy_ode"].get(k, {})
                and exact["steps"][k][steps][0] == int(steps) and math.isfinite(exact["toy_ode"][k][steps])]
        if len(keys) < 3:
            continue
        ours = ranks([results["fixed"][k][steps]["w1"] for k in keys])
        theirs = ranks([exact["toy_ode"][k][steps] for k in keys])
        rho = float(torch.corrcoef(torch.stack([ours, theirs]))[0, 1])
        order = sorted(exact["toy_ode"], key=lambda k: exact["toy_ode"][k].get(steps, math.inf))
        pos = {k: i for i, k in enumerate(order)}
        avoid = [k for k in keys if marks[k] != "ok"]
        print(f"\n{steps} steps vs the exact-denoiser benchmark at {steps} calls ({len(keys)} deterministic "
              f"combinations in both): Spearman ρ(our W1, its toy ODE error) = {rho:.2f}")
        for k in avoid:
            print(f"  avoid here, rank {pos[k] + 1} of {len(order)} there: {k} ({marks[k]}; ODE error "
                  f"{exact['toy_ode'][k][steps]:.3f})")


def save_figure(results: dict, path: pathlib.Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    cfg = results["config"]
    samplers, schedulers = cfg["samplers"], cfg["schedulers"]
    steps_list = [str(s) for s in cfg["steps"]]
    marks = verdicts(results)
    short = {"error": "E", "nan": "N", "shapes lost": "S", "burnt": "B", "flawed brightness": "F"}
    fig, axes = plt.subplots(1, len(steps_list), figsize=(7 * len(steps_list), 0.26 * len(samplers) + 3.5),
                             squeeze=False)
    for ax, steps in zip(axes[0], steps_list):
        rows = ["flawed model × euler"] + samplers
        w1 = np.full((len(rows), len(schedulers)), np.nan)
        for j, sch in enumerate(schedulers):
            cell = results["flawed"].get(f"euler × {sch}", {}).get(steps, {})
            w1[0, j] = cell.get("w1", np.nan)
            for i, s in enumerate(samplers, start=1):
                cell = results["fixed"].get(f"{s} × {sch}", {}).get(steps, {})
                w1[i, j] = cell.get("w1", np.nan)
        image = ax.imshow(np.clip(w1, 0, 0.5), cmap="viridis_r", vmin=0, vmax=0.5, aspect="auto")
        for i, s in enumerate(samplers, start=1):
            for j, sch in enumerate(schedulers):
                v = marks[steps].get(f"{s} × {sch}")
                if v and v != "ok":
                    ax.text(j, i, short[v], ha="center", va="center", fontsize=7, color="red", weight="bold")
        ax.axhline(0.5, color="white", lw=2)
        ax.set_xticks(range(len(schedulers)), schedulers, rotation=60, ha="right", fontsize=7)
        ax.set_yticks(range(len(rows)), rows, fontsize=7)
        ref = flawed_reference(results, steps)
        ax.set_title(f"{steps} steps: brightness W1 to the data (lower is better)\nflawed as SD samples it: W1 "
                     f"{ref['w1']:.3f}, brightness std {ref['brightness_std']:.3f}", fontsize=9)
        fig.colorbar(image, ax=ax, fraction=0.03, label="W1 (clipped at 0.5)")
    fig.suptitle(f"fixed toy model (zero terminal SNR + v) in ComfyUI's KSampler, {cfg['samples']} samples per cell, "
                 f"CFG {cfg['cfg']}, same seed in every cell\nred: avoid (E error, N NaN, S accuracy < {cfg['min_accuracy']}, "
                 f"B > {cfg['max_saturated']:.0%} pixels beyond ±1, F brightness spread no wider than the flawed model's); "
                 "white: not measured",
                 fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())
