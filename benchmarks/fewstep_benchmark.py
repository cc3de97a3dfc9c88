"""Few-step sampling at zero terminal SNR: every ComfyUI sampler × scheduler against ours, per model call.

    COMFYUI_PATH=/path/to/ComfyUI python benchmarks/fewstep_benchmark.py [--calls 5 10 25] [--toy-n 64]
        [--toy-data 256] [--no-toy] [--json benchmarks/fewstep_results.json] [--figure benchmarks/fewstep_benchmark.png]
    python benchmarks/fewstep_benchmark.py --table    # the table of docs/fewstep.md from the JSON, without ComfyUI

Both benchmarks run ComfyUI's own samplers (comfy.samplers.sampler_object(name).sample, which scales the noise and
calls the k-diffusion function, as CFGGuider does for a txt2img run at cfg 1) on sigmas from its
calculate_sigmas, for a zero-SNR v-prediction model (the tiny UNet of the integration test patched by our Zero
Terminal SNR node, so its σ table ends at the clamp's 4518.76). The guided network is replaced by an exact denoiser
at the sampler's own continuous σ:
- Gaussian: four data sets x0 ~ N(0.3, s²) per element, s = 0.25, 0.5, 1 and 2 (one batch item each, 16 384
  elements), x̂0 = μ + s²/(s²+σ²)·(x - μ). The probability-flow ODE maps the noise to exactly N(μ, s²); the noise
  is standardised to mean 0, std 1 per item, so a deterministic sampler has no sampling error at all. Reported: the
  worst of the four max(|mean - μ|, |std - s|)/s, the error a sampler makes on data of some scale between 0.25 and
  2 (a single scale rewards a sampler whose error happens to cross zero there), and the old single number
  |std - 0.5|/0.5 beside it.
- Toy: the exact denoiser of `--toy-data` toy images (zsnr_core.toy.IdealDenoiser, 3 × 32 × 32). Reported: for
  deterministic samplers (found by running each twice with different seeds) the ODE error, the mean over `--toy-n`
  samples of the RMS distance to the exact probability-flow ODE endpoint of the same noise (DPM++ 2M along 2000
  steps uniform in the angle arctan(1/σ), checked against 4000); for every sampler W1 of the brightness
  distribution and FD₈ of the samples against those images (zsnr_core.toy.metrics), whose sampling floor (the exact
  ODE endpoints' own W1 and FD₈) is printed: differences below it are noise of `--toy-n` samples. To run in minutes
  on 2 shared cores it leaves out the four Brownian-tree SDE samplers (--toy-sde adds them), which the Gaussian part
  covers; --toy-schedulers narrows the schedulers.
Every built-in sampler (but dpm_adaptive, whose call count is not set by steps, the *_gpu copies and the *_cfg_pp
variants, which need CFG) runs with every scheduler (ours included) at the largest step count whose model calls fit
each budget (heun-type samplers use 2 per step); calls are counted, not assumed. Ours: DPM++ 2M (zero-SNR exact)
with zsnr_fewstep, through ComfyUI, and zsnr_core.sample_dpmpp_2m_sigmas from σ = inf directly (equal).
Our other KSampler entries (zsnr_dpmpp_2m, zsnr_ddim, zsnr_ddpm) run with every scheduler like the built-ins and
are ranked as ours. Writes every number as JSON and a figure (PNG) for notebook 4; prints rankings, timings and the
table of docs/fewstep.md.

How zsnr_core.fewstep_sigmas got its defaults (t_start 980, t_end 2, ρ 7). A sweep of (t_start, t_end, ρ) with
sample_dpmpp_2m_sigmas and this benchmark's exact denoisers in its first edition (Gaussian x0 ~ N(0.3, 0.5²): the
error of the output std; toy images: brightness W1 of 256 samples against 4096 images), at 5 / 10 / 25 calls:
    t_start 960, 970, 980 (t_end 2, ρ 7): toy W1 0.109 / 0.061 / 0.066, 0.080 / 0.049 / 0.054, 0.052 / 0.044 / 0.049;
                                          Gaussian -32.7 / +2.7 / +0.9 %, -39.5 / +2.1 / +1.2 %, -48.6 / +0.7 / +1.5 %
    t_end 0, 2, 5 (t_start 980, ρ 7):     Gaussian at 10 calls +4.4, +0.7, -1.7 %
    ρ 5, 7 (t_start 980, t_end 2):        toy W1 at 5 calls 0.057, 0.052; Gaussian at 5 calls -59, -49 %
Images need the high start (a spread from t = 900, σ = 18, gave toy W1 0.19 at 5 calls); a Gaussian of std 0.5
needs calls near σ = 0.5, which ρ = 7 packs the rest towards. At 5 calls the two conflict and the default favours
images (the Gaussian is then 49 % off).
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
from comfyui_env import start_comfyui, tiny_vpred_model
from fewstep_scoring import (
    CATEGORIES,
    MU,
    OUR_LABELS,
    SCALES,
    angle_sigmas,
    category,
    gaussian_errors,
    markdown_table,
    ranked,
    standard_noise,
)

import zsnr_core as z
from zsnr_core.denoisers import vp_input
from zsnr_core.toy import IdealDenoiser, gaussian_denoiser, make_shapes
from zsnr_core.toy.metrics import brightness, frechet_distance8, wasserstein1

# (label, our SAMPLER node, the same sampler in zsnr_core, our KSampler scheduler, the same sigmas from the core, from
# σ = inf where ComfyUI's start at the clamp's 4518.76); every label starts with "ours"
OURS = [("ours: dpmpp_2m_zsnr × zsnr_fewstep", "ZSNR_DPMPP2MSampler", z.sample_dpmpp_2m_sigmas, "zsnr_fewstep",
         z.fewstep_sigmas)]
assert [o[0] for o in OURS] == OUR_LABELS


SKIP = {"dpm_adaptive"}  # adaptive step size: its call count is not set by steps
SLOW_SDE = ("dpmpp_sde", "dpmpp_2m_sde", "dpmpp_2m_sde_heun", "dpmpp_3m_sde")  # Brownian-tree noise: minutes each
POPULAR = [("euler", "karras"), ("euler", "zsnr_trailing"), ("dpmpp_2m", "karras"), ("dpmpp_2m", "zsnr_trailing"),
           ("uni_pc", "zsnr_trailing"), ("heun", "karras"), ("dpmpp_2m", "zsnr_fewstep"), ("euler", "zsnr_fewstep")]


class ExactModel:
    """Stands in for CFGGuider as KSAMPLER.sample sees it (cfg 1: the guider returns the model's x̂0 unchanged):
    returns the exact x̂0 at the sampler's σ, counts model calls, and carries the patched model_sampling."""

    def __init__(self, model_sampling):
        patcher = type("ModelPatcher", (), {"get_model_object": lambda self, name: model_sampling})()
        self.inner_model = type("BaseModel", (), {"model_sampling": model_sampling})()
        self.model_patcher = patcher  # the SDE samplers read model_sampling from here
        self.denoise, self.calls = None, 0

    def __call__(self, x, sigma, **kwargs):
        self.calls += 1
        return self.denoise(x, sigma)


def per_sample_rms(a, b):
    return (a.double() - b.double()).flatten(1).pow(2).mean(1).sqrt()


def toy_x0(ideal):
    def denoise(x, sigma):  # at the sampler's continuous σ, not the nearest training timestep
        return ideal.denoise(*vp_input(x, sigma))
    return denoise


class Bench:
    def __init__(self, comfy, model_sampling):
        self.comfy, self.ms = comfy, model_sampling
        self.exact = ExactModel(model_sampling)

    def run(self, noise, sampler, scheduler, steps, sigmas=None, seed=0):
        """(sample, model calls) for a built-in sampler name or a SAMPLER object: KSAMPLER.sample, as CFGGuider
        calls it for a txt2img run (empty latent, full denoise), on sigmas from calculate_sigmas."""
        comfy = self.comfy
        self.exact.calls = 0
        if sigmas is None:
            sigmas = comfy.samplers.calculate_sigmas(self.ms, scheduler, steps)
        if isinstance(sampler, str):
            sampler = comfy.samplers.sampler_object(sampler)
        extra_args = {"model_options": {}, "seed": seed}
        out = sampler.sample(self.exact, sigmas, extra_args, None, noise, torch.zeros_like(noise), None, True)
        return out, self.exact.calls


def fit_steps(bench, noise, sampler, scheduler, budget):
    """The largest steps whose model calls fit the budget, and the sample and calls it gives."""
    steps, best = budget, None
    while steps >= 1:
        try:
            out, calls = bench.run(noise, sampler, scheduler, steps)
        except Exception as e:  # noqa: BLE001 (a sampler that cannot run this schedule at all is reported)
            return None, f"{type(e).__name__}: {e}"[:120]
        if calls <= budget:
            best = (steps, out, calls)
            break
        per = calls / steps
        steps = min(steps - 1, max(1, math.floor(budget / per)))
    return best, ""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, nargs="+", default=[5, 10, 25])
    parser.add_argument("--toy-n", type=int, default=64, help="toy samples per combination")
    parser.add_argument("--toy-data", type=int, default=256, help="toy images the exact denoiser and metrics use")
    parser.add_argument("--no-toy", action="store_true")
    parser.add_argument("--toy-schedulers", nargs="+", default=None,
                        help="schedulers the toy part runs (default: all; all samplers but the Brownian-tree SDE ones)")
    parser.add_argument("--toy-sde", action="store_true", help="also run the Brownian-tree SDE samplers on the toy")
    parser.add_argument("--json", type=pathlib.Path, default=ROOT / "benchmarks" / "fewstep_results.json")
    parser.add_argument("--figure", type=pathlib.Path, default=ROOT / "benchmarks" / "fewstep_benchmark.png")
    parser.add_argument("--table", action="store_true", help="print the table of docs/fewstep.md from --json and stop")
    parser.add_argument("--figure-only", action="store_true", help="redraw --figure from --json and stop")
    args = parser.parse_args()
    if args.table:
        print(markdown_table(json.loads(args.json.read_text())))
        return 0
    if args.figure_only:
        results = json.loads(args.json.read_text())
        save_figure(results, results["config"]["calls"], args.figure)
        return 0
    if "COMFYUI_PATH" not in os.environ:
        sys.exit("set COMFYUI_PATH to a ComfyUI checkout")
    t_all = time.perf_counter()
    comfy, comfy_nodes = start_comfyui(os.environ["COMFYUI_PATH"])
    assert asyncio.run(comfy_nodes.load_custom_node(str(ROOT)))
    nodes = comfy_nodes.NODE_CLASS_MAPPINGS
    (model,) = nodes["ZSNR_ZeroTerminalSNR"].execute(model=tiny_vpred_model(), prediction_type="v_prediction",
                                                    zero_terminal_snr=True).args
    bench = Bench(comfy, model.get_model_object("model_sampling"))
    exact = bench.exact
    ours = [(label, nodes[node].execute().args[0], core, scheduler, core_sigmas)
            for label, node, core, scheduler, core_sigmas in OURS]
    samplers = [s for s in comfy.samplers.SAMPLER_NAMES
                if s not in SKIP and not s.endswith("_gpu") and "cfg_pp" not in s]
    schedulers = list(comfy.samplers.SCHEDULER_NAMES)
    print(f"ComfyUI samplers: {len(samplers)}, schedulers: {len(schedulers)} ({', '.join(schedulers)})")
    args.toy_schedulers = args.toy_schedulers or schedulers

    results = {"gaussian": {}, "gaussian_s05": {}, "toy": {}, "toy_ode": {}, "steps": {}, "deterministic": {}}
    table = z.sigma_from_alpha_bar(bench.ms.zsnr_alphas_cumprod)  # inf at t = T

    # --- Gaussian ---------------------------------------------------------------------------------------------
    t0 = time.perf_counter()
    gaussian_x0 = gaussian_denoiser(MU, SCALES)  # one data set per batch item
    exact.denoise = gaussian_x0
    noise = standard_noise((len(SCALES), 4, 64, 64), seed=0)
    errors = {}
    for sampler in samplers:  # deterministic: the same output for two seeds of the sampler's own noise
        try:
            runs = [bench.run(noise, sampler, "simple", 4, seed=seed)[0] for seed in (0, 1)]
            results["deterministic"][sampler] = bool(torch.equal(*runs))
        except Exception as e:  # noqa: BLE001 (reported with the combinations below)
            results["deterministic"][sampler] = f"{type(e).__name__}: {e}"[:120]
    for budget in args.calls:
        for sampler in samplers:
            for scheduler in schedulers:
                best, why = fit_steps(bench, noise, sampler, scheduler, budget)
                key = f"{sampler} × {scheduler}"
                if best is None:
                    errors[key] = why
                    continue
                steps, out, calls = best
                results["steps"].setdefault(key, {})[str(budget)] = [steps, calls]
                results["gaussian"].setdefault(key, {})[str(budget)], \
                    results["gaussian_s05"].setdefault(key, {})[str(budget)] = gaussian_errors(out)
        for label, sampler_object, core_sampler, scheduler, core_sigmas in ours:
            sig = comfy.samplers.calculate_sigmas(bench.ms, scheduler, budget)
            out, calls = bench.run(noise, sampler_object, None, budget, sigmas=sig)
            core = core_sampler(gaussian_x0, noise.double(), core_sigmas(table, budget), disable=True)
            results["gaussian"].setdefault(label, {})[str(budget)], \
                results["gaussian_s05"].setdefault(label, {})[str(budget)] = gaussian_errors(out)
            results["steps"].setdefault(label, {})[str(budget)] = [budget, calls]
            results.setdefault("ours_comfy_vs_core", {}).setdefault(label, {})[str(budget)] = \
                (out.double() - core).abs().max().item()
    t_gauss = time.perf_counter() - t0
    print(f"\nGaussian benchmark: {t_gauss:.1f} s; combinations that could not run: {len(set(errors))}")
    for key, why in sorted(errors.items())[:10]:
        print(f"  {key}: {why}")
    print_ranking(results["gaussian"], args.calls,
                  "Gaussian, worst of s = 0.25, 0.5, 1, 2: max(|mean - μ|, |std - s|)/s")
    print_ranking(results["gaussian_s05"], args.calls, "Gaussian s = 0.5 alone: |std - 0.5|/0.5 (first edition)", top=3)

    # --- toy ------------------------------------------------------------------------------------------------
    if not args.no_toy:
        t0 = time.perf_counter()
        data = make_shapes(args.toy_data, seed=0)
        ac = bench.ms.zsnr_alphas_cumprod
        exact.denoise = toy_x0(IdealDenoiser(data, ac, "sample"))
        noise = torch.randn((args.toy_n, 3, 32, 32), generator=torch.Generator().manual_seed(1))
        sigma_min = bench.ms.sigma_min.item()
        ends = [z.sample_dpmpp_2m_sigmas(exact.denoise, noise.double(), angle_sigmas(n, sigma_min), disable=True)
                for n in (2000, 4000)]
        endpoint = ends[1]
        results["toy_endpoint_check"] = per_sample_rms(ends[0], ends[1]).max().item()
        ref_lum = brightness(data.images)
        results["toy_floor"] = [wasserstein1(brightness(endpoint), ref_lum), frechet_distance8(endpoint, data.images)]
        print(f"\ntoy: exact ODE endpoints ({time.perf_counter() - t0:.1f} s): 2000 vs 4000 steps differ by at most "
              f"{results['toy_endpoint_check']:.2e} RMS per sample; their W1 {results['toy_floor'][0]:.4f} and FD₈ "
              f"{results['toy_floor'][1]:.3f} are the floor of {args.toy_n} samples", flush=True)
        labels = [o[0] for o in ours]
        for budget in args.calls:
            t_b = time.perf_counter()
            for key, by_budget in results["gaussian"].items():
                if str(budget) not in by_budget:
                    continue
                steps = results["steps"][key][str(budget)][0]
                sampler, scheduler = (None, None) if key in labels else key.split(" × ")
                if key not in labels and (scheduler not in args.toy_schedulers
                                          or (not args.toy_sde and sampler in SLOW_SDE)):
                    continue
                if key in labels:
                    _, sampler_object, _, scheduler, _ = ours[labels.index(key)]
                    sig = comfy.samplers.calculate_sigmas(bench.ms, scheduler, budget)
                    out, _ = bench.run(noise, sampler_object, None, steps, sigmas=sig)
                else:
                    try:
                        out, _ = bench.run(noise, sampler, scheduler, steps)
                    except ValueError as e:  # a NaN σ from the sampler reaches the exact denoiser's check
                        print(f"  {key}, {budget} calls: {e}"[:160])
                        out = torch.full_like(noise, math.nan)
                if torch.isfinite(out).all():
                    metrics = [wasserstein1(brightness(out), ref_lum), frechet_distance8(out, data.images)]
                else:
                    metrics = [math.inf, math.inf]
                results["toy"].setdefault(key, {})[str(budget)] = metrics
                if key in labels or results["deterministic"].get(sampler) is True:
                    results["toy_ode"].setdefault(key, {})[str(budget)] = \
                        per_sample_rms(out, endpoint).mean().item() if torch.isfinite(out).all() else math.inf
            print(f"toy, {budget} calls: {time.perf_counter() - t_b:.1f} s", flush=True)
        t_toy = time.perf_counter() - t0
        print(f"\nToy benchmark ({args.toy_n} samples, {args.toy_data} images): {t_toy:.1f} s")
        print_ranking(results["toy_ode"], args.calls,
                      "toy ODE error (deterministic samplers): RMS to the exact endpoint")
        print_ranking({k: {b: v[0] for b, v in d.items()} for k, d in results["toy"].items()}, args.calls,
                      f"W1 (floor {results['toy_floor'][0]:.4f})", top=3)
        print_ranking({k: {b: v[1] for b, v in d.items()} for k, d in results["toy"].items()}, args.calls,
                      f"FD₈ (floor {results['toy_floor'][1]:.3f})", top=3)
    results["config"] = {"calls": args.calls, "toy_n": args.toy_n, "toy_data": args.toy_data,
                         "toy_schedulers": args.toy_schedulers, "toy_sde": args.toy_sde,
                         "gaussian": {"mu": MU, "s": SCALES, "elements": 16384}, "popular": POPULAR,
                         "comfyui_version": __import__("comfyui_version").__version__,
                         "torch": torch.__version__, "seconds": round(time.perf_counter() - t_all, 1)}
    args.json.write_text(json.dumps(results, indent=1) + "\n")
    print(f"\nwrote {args.json}\n\n{markdown_table(results)}")
    save_figure(results, args.calls, args.figure)
    print(f"wrote {args.figure}; total {time.perf_counter() - t_all:.1f} s")
    return 0


def print_ranking(scores: dict, calls, label: str, top: int = 8) -> None:
    for budget in calls:
        rows = ranked(scores, budget)
        print(f"\n{label}, {budget} model calls:")
        for cat, name in CATEGORIES.items():
            v, k = next(((v, k) for v, k in rows if category(k) == cat), (math.nan, "-"))
            print(f"  {name}: {k} {v:.4f}")
        for i, (v, k) in enumerate(rows):
            if k in OUR_LABELS:
                print(f"  {k}: {v:.4f} (rank {i + 1} of {len(rows)})")
        for v, k in rows[:top]:
            print(f"  {v:9.4f}  {k}")


def save_figure(results, calls, path) -> None:
    import matplotlib
    import matplotlib.ticker

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [("gaussian", None, "Gaussian, worst of s = 0.25…2:\nmax(|mean − μ|, |std − s|) / s", None)]
    if results["toy"]:
        panels += [("toy_ode", None, ("toy, exact denoiser, deterministic samplers:\n"
                                      "RMS to the exact ODE endpoint (linear below 10⁻³)"), None),
                   ("toy", 0, "toy, exact denoiser: brightness W1\n(dotted: the exact endpoints' own, 64 samples)",
                    results["toy_floor"][0])]
    fig, axes = plt.subplots(1, len(panels), figsize=(5.2 * len(panels), 4.4))
    axes = [axes] if len(panels) == 1 else axes
    for ax, (part, index, title, floor) in zip(axes, panels):
        score = {k: {b: (v if index is None else v[index]) for b, v in d.items()} for k, d in results[part].items()}
        for (cat, name), style in zip(CATEGORIES.items(), [("s--", "grey"), ("^--", "tab:orange"), ("v--", "tab:red")]):
            best = [min((score[k][str(b)] for k in score if category(k) == cat and str(b) in score[k]),
                        default=math.nan) for b in calls]
            ax.plot(calls, best, style[0], color=style[1], label=name)
        for sampler, scheduler in POPULAR[:4]:
            key = f"{sampler} × {scheduler}"
            if key in score:
                ax.plot(calls, [score[key].get(str(b), math.nan) for b in calls], ".:", alpha=0.7, label=key)
        for label in OUR_LABELS:
            ax.plot(calls, [score[label][str(b)] for b in calls], "o-", color="darkred", lw=2.5, label=label)
        if floor is not None:
            ax.axhline(floor, color="k", ls=":", lw=1)
        ax.set_xscale("log")
        if part == "toy_ode":  # a sampler that lands every sample on the exact endpoint scores 0
            ax.set_yscale("symlog", linthresh=1e-3)
            ax.set_ylim(bottom=0)
        else:
            ax.set_yscale("log")
        ax.set_xticks(calls, [str(b) for b in calls])
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.set_xlabel("model calls")
        ax.set_title(title, fontsize=9)
        ax.grid(alpha=0.3, which="both")
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    raise SystemExit(main())
