"""Few-step sampling at zero terminal SNR: every ComfyUI sampler × scheduler against ours, per model call.

    COMFYUI_PATH=/path/to/ComfyUI python benchmarks/fewstep_benchmark.py [--calls 5 10 25] [--toy-n 64]
        [--toy-data 256] [--no-toy] [--json benchmarks/fewstep_results.json] [--figure benchmarks/fewstep_benchmark.png]

Both benchmarks run ComfyUI's own samplers (comfy.samplers.sampler_object(name).sample, which scales the noise and
calls the k-diffusion function, as CFGGuider does for a txt2img run at cfg 1) on sigmas from its
calculate_sigmas, for a zero-SNR v-prediction model (the tiny UNet of the integration test patched by our Zero
Terminal SNR node, so its σ table ends at the clamp's 4518.76). The guided network is replaced by an exact denoiser
at the sampler's own continuous σ:
- Gaussian: data x0 ~ N(0.3, 0.5²) per element, x̂0 = μ + s²/(s²+σ²)·(x - μ). The probability-flow ODE maps the
  noise to exactly N(μ, s²), so a perfect sampler returns std 0.5; reported: |std - 0.5|/0.5 over 16 384 elements
  of noise standardised to mean 0, std 1 (deterministic samplers: no sampling error at all).
- Toy: the exact denoiser of `--toy-data` toy images (zsnr_core.toy.IdealDenoiser, 3 × 32 × 32); reported: W1 of
  the brightness distribution and FD₈ of `--toy-n` samples against those images (zsnr_core.toy.metrics). To run in
  minutes on 2 shared cores it takes every sampler with six schedulers (--toy-schedulers) and leaves out the four
  Brownian-tree SDE samplers (--toy-sde adds them), which the Gaussian part covers.
Every built-in sampler (but dpm_adaptive, whose call count is not set by steps, the *_gpu copies and the *_cfg_pp
variants, which need CFG) runs with every scheduler (ours included) at the largest step count whose model calls fit
each budget (heun-type samplers use 2 per step); calls are counted, not assumed. Ours: DPM++ 2M (zero-SNR exact)
with zsnr_fewstep, through ComfyUI, and zsnr_core.sample_dpmpp_2m_sigmas from σ = inf directly (equal).
Writes every number as JSON and a figure (PNG) for notebook 4; prints tables and timings.
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
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))
from comfyui_env import start_comfyui, tiny_vpred_model

import zsnr_core as z
from zsnr_core.toy import IdealDenoiser, make_shapes
from zsnr_core.toy.metrics import brightness, frechet_distance8, wasserstein1

MU, S = 0.3, 0.5
OURS = "ours: dpmpp_2m_zsnr × zsnr_fewstep"
SKIP = {"dpm_adaptive"}  # adaptive step size: its call count is not set by steps
TOY_SCHEDULERS = ["simple", "karras", "exponential", "normal", "zsnr_trailing", "zsnr_fewstep"]
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


def gaussian_x0(x, sigma):
    sg = sigma.view(-1, *([1] * (x.ndim - 1))).to(x.dtype)
    return torch.where(torch.isinf(sg), MU, MU + S * S / (S * S + sg * sg) * (x - MU))


def toy_x0(ideal):
    def denoise(x, sigma):
        sigma = sigma.detach().to("cpu", torch.float64)
        ab = z.alpha_bar_from_sigma(sigma)
        scale = torch.where(torch.isinf(sigma), 1.0, ab.sqrt()).view(-1, 1, 1, 1).to(x.dtype)
        return ideal.denoise(x * scale, ab)
    return denoise


def standard_noise(shape, seed):
    n = torch.randn(shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    return ((n - n.mean()) / n.std()).float()


class Bench:
    def __init__(self, comfy, model_sampling):
        self.comfy, self.ms = comfy, model_sampling
        self.exact = ExactModel(model_sampling)

    def run(self, noise, sampler, scheduler, steps, sigmas=None):
        """(sample, model calls) for a built-in sampler name or a SAMPLER object: KSAMPLER.sample, as CFGGuider
        calls it for a txt2img run (empty latent, full denoise), on sigmas from calculate_sigmas."""
        comfy = self.comfy
        self.exact.calls = 0
        if sigmas is None:
            sigmas = comfy.samplers.calculate_sigmas(self.ms, scheduler, steps)
        if isinstance(sampler, str):
            sampler = comfy.samplers.sampler_object(sampler)
        extra_args = {"model_options": {}, "seed": 0}
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
    parser.add_argument("--toy-schedulers", nargs="+", default=TOY_SCHEDULERS,
                        help="schedulers the toy part runs (all samplers but the Brownian-tree SDE ones each)")
    parser.add_argument("--toy-sde", action="store_true", help="also run the Brownian-tree SDE samplers on the toy")
    parser.add_argument("--json", type=pathlib.Path, default=ROOT / "benchmarks" / "fewstep_results.json")
    parser.add_argument("--figure", type=pathlib.Path, default=ROOT / "benchmarks" / "fewstep_benchmark.png")
    args = parser.parse_args()
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
    (ours_sampler,) = nodes["ZSNR_DPMPP2MSampler"].execute().args
    samplers = [s for s in comfy.samplers.SAMPLER_NAMES
                if s not in SKIP and not s.endswith("_gpu") and "cfg_pp" not in s]
    schedulers = list(comfy.samplers.SCHEDULER_NAMES)
    print(f"ComfyUI samplers: {len(samplers)}, schedulers: {len(schedulers)} ({', '.join(schedulers)})")

    results = {"gaussian": {}, "toy": {}, "steps": {}}
    table = z.sigma_from_alpha_bar(bench.ms.zsnr_alphas_cumprod)  # inf at t = T

    # --- Gaussian ---------------------------------------------------------------------------------------------
    t0 = time.perf_counter()
    exact.denoise = gaussian_x0
    noise = standard_noise((1, 4, 64, 64), seed=0)
    errors = {}
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
                err = abs(out.std().item() - S) / S if torch.isfinite(out).all() else math.inf
                results["gaussian"].setdefault(key, {})[str(budget)] = err
        sig = comfy.samplers.calculate_sigmas(bench.ms, "zsnr_fewstep", budget)
        out, calls = bench.run(noise, ours_sampler, None, budget, sigmas=sig)
        core = z.sample_dpmpp_2m_sigmas(gaussian_x0, noise.double(), z.fewstep_sigmas(table, budget), disable=True)
        results["gaussian"].setdefault(OURS, {})[str(budget)] = abs(out.std().item() - S) / S
        results["steps"].setdefault(OURS, {})[str(budget)] = [budget, calls]
        results.setdefault("ours_comfy_vs_core", {})[str(budget)] = (out.double() - core).abs().max().item()
    t_gauss = time.perf_counter() - t0
    print(f"\nGaussian benchmark: {t_gauss:.1f} s; combinations that could not run: {len(set(errors))}")
    for key, why in sorted(errors.items())[:10]:
        print(f"  {key}: {why}")
    print_ranking(results["gaussian"], args.calls, "|std - 0.5|/0.5")

    # --- toy ------------------------------------------------------------------------------------------------
    if not args.no_toy:
        t0 = time.perf_counter()
        data = make_shapes(args.toy_data, seed=0)
        ac = bench.ms.zsnr_alphas_cumprod
        exact.denoise = toy_x0(IdealDenoiser(data, ac, "sample"))
        noise = torch.randn((args.toy_n, 3, 32, 32), generator=torch.Generator().manual_seed(1))
        ref_lum = brightness(data.images)
        for budget in args.calls:
            t_b = time.perf_counter()
            for key, by_budget in results["gaussian"].items():
                if str(budget) not in by_budget:
                    continue
                steps = results["steps"][key][str(budget)][0]
                if key != OURS and (key.split(" × ")[1] not in args.toy_schedulers
                                    or (not args.toy_sde and key.split(" × ")[0] in SLOW_SDE)):
                    continue
                if key == OURS:
                    sig = comfy.samplers.calculate_sigmas(bench.ms, "zsnr_fewstep", budget)
                    out, _ = bench.run(noise, ours_sampler, None, steps, sigmas=sig)
                else:
                    sampler, scheduler = key.split(" × ")
                    out, _ = bench.run(noise, sampler, scheduler, steps)
                if torch.isfinite(out).all():
                    metrics = [wasserstein1(brightness(out), ref_lum), frechet_distance8(out, data.images)]
                else:
                    metrics = [math.inf, math.inf]
                results["toy"].setdefault(key, {})[str(budget)] = metrics
            print(f"toy, {budget} calls: {time.perf_counter() - t_b:.1f} s", flush=True)
        floor = frechet_distance8(make_shapes(args.toy_n, seed=1).images, data.images)
        results["toy_fd8_floor"] = floor
        t_toy = time.perf_counter() - t0
        print(f"\nToy benchmark ({args.toy_n} samples, {args.toy_data} images): {t_toy:.1f} s; FD₈ of {args.toy_n} "
              f"fresh data images (a perfect sampler): {floor:.3f}")
        print_ranking({k: {b: v[0] for b, v in d.items()} for k, d in results["toy"].items()}, args.calls, "W1")
        print_ranking({k: {b: v[1] for b, v in d.items()} for k, d in results["toy"].items()}, args.calls, "FD₈")
    results["config"] = {"calls": args.calls, "toy_n": args.toy_n, "toy_data": args.toy_data,
                         "toy_schedulers": args.toy_schedulers, "toy_sde": args.toy_sde,
                         "gaussian": {"mu": MU, "s": S, "elements": 16384}, "popular": POPULAR,
                         "comfyui_version": __import__("comfyui_version").__version__,
                         "torch": torch.__version__, "seconds": round(time.perf_counter() - t_all, 1)}
    args.json.write_text(json.dumps(results, indent=1) + "\n")
    print(f"\nwrote {args.json}")
    save_figure(results, args.calls, args.figure)
    print(f"wrote {args.figure}; total {time.perf_counter() - t_all:.1f} s")
    return 0


def ranked(scores: dict, budget: int):
    rows = [(v[str(budget)], k) for k, v in scores.items() if str(budget) in v]
    return sorted(rows, key=lambda r: (math.isnan(r[0]), r[0]))


def print_ranking(scores: dict, calls, label: str, top: int = 8) -> None:
    for budget in calls:
        rows = ranked(scores, budget)
        ours = next(i for i, (_, k) in enumerate(rows) if k == OURS)
        best_builtin = next((v, k) for v, k in rows if k != OURS and "zsnr_" not in k)
        print(f"\n{label}, {budget} model calls: ours {scores[OURS][str(budget)]:.4f} (rank {ours + 1} of "
              f"{len(rows)}); best all-built-in {best_builtin[1]} {best_builtin[0]:.4f}")
        for v, k in rows[:top]:
            print(f"  {v:9.4f}  {k}")


def save_figure(results, calls, path) -> None:
    import matplotlib
    import matplotlib.ticker

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [("gaussian", None, "Gaussian: |std − 0.5| / 0.5")]
    if results["toy"]:
        panels += [("toy", 0, "toy, exact denoiser: brightness W1"), ("toy", 1, "toy, exact denoiser: FD₈")]
    fig, axes = plt.subplots(1, len(panels), figsize=(5.2 * len(panels), 4.2))
    axes = [axes] if len(panels) == 1 else axes
    for ax, (part, index, title) in zip(axes, panels):
        score = {k: {b: (v if index is None else v[index]) for b, v in d.items()} for k, d in results[part].items()}
        builtin = [min((score[k][str(b)] for k in score if k != OURS and "zsnr_" not in k and str(b) in score[k]),
                       default=math.nan) for b in calls]
        any_ours_schedule = [min((score[k][str(b)] for k in score if k != OURS and "zsnr_" in k
                                  and str(b) in score[k]), default=math.nan) for b in calls]
        ax.plot(calls, builtin, "s--", color="grey", label="best built-in sampler × built-in scheduler")
        ax.plot(calls, any_ours_schedule, "^--", color="tab:orange", label="best built-in sampler × zsnr_* scheduler")
        for sampler, scheduler in POPULAR[:4]:
            key = f"{sampler} × {scheduler}"
            if key in score:
                ax.plot(calls, [score[key].get(str(b), math.nan) for b in calls], ".:", alpha=0.7, label=key)
        ax.plot(calls, [score[OURS][str(b)] for b in calls], "o-", color="tab:red", lw=2.5, label=OURS)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xticks(calls, [str(b) for b in calls])
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.set_xlabel("model calls")
        ax.set_title(title, fontsize=10)
        ax.grid(alpha=0.3, which="both")
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    raise SystemExit(main())
