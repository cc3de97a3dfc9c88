"""Inside a real ComfyUI: our DDIM sampler's per-step cost against ComfyUI's euler, and our Rescale CFG's per-call
cost against core RescaleCFG. Needs COMFYUI_PATH (a ComfyUI checkout with its requirements installed).

    COMFYUI_PATH=/path/to/ComfyUI python benchmarks/comfy_sampler_overhead.py [--steps 20] [--repeats 15]

Sampler: the tiny v-pred UNet of the integration test (tests/comfyui_env.py), zero-SNR patched, a (1, 4, 32, 32)
latent, CFG 5, the same Paper Timesteps (trailing) sigmas for both samplers; each repeat runs both back to back in
alternating order; printed: median per-step time of each and the median of the per-repeat ratios ours/euler. The
sampler's own work is also timed alone (the model replaced by one that returns a ready tensor). Target: <= 1.05.
Rescale CFG: comfy.samplers.cfg_function (the whole CFG stage of one model call) with our post-CFG patch against
core RescaleCFG's cfg function, on a (1, 4, 128, 128) latent (SDXL 1024²); median over calls. Target: ratio <= 1.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import pathlib
import statistics
import sys
import time

import torch

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "harness"))
from comfyui_env import start_comfyui, tiny_vpred_model

NODES = {}


def _load(comfy_nodes):
    assert asyncio.run(comfy_nodes.load_custom_node(str(ROOT)))
    for name in ("ZSNR_ZeroTerminalSNR", "ZSNR_PaperTimesteps", "ZSNR_DDIMSampler", "ZSNR_RescaleCFG"):
        NODES[name] = comfy_nodes.NODE_CLASS_MAPPINGS[name]


def _run(name, **kwargs):
    return NODES[name].execute(**kwargs).args


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


class _ReadyModel:
    """Stands in for ComfyUI's wrapped model: returns a ready x̂0, so only the sampler's own work is timed."""

    def __init__(self, model_sampling, like):
        self.inner_model = type("Guider", (), {})()
        self.inner_model.inner_model = type("BaseModel", (), {"model_sampling": model_sampling})()
        self.out = torch.zeros_like(like)

    def __call__(self, x, sigma, **kwargs):
        return self.out


def sampler_overhead(comfy, steps: int, repeats: int) -> None:
    from comfy.k_diffusion import sampling as k_sampling

    base = tiny_vpred_model()
    (model,) = _run("ZSNR_ZeroTerminalSNR", model=base, prediction_type="v_prediction", zero_terminal_snr=True)
    (sigmas,) = _run("ZSNR_PaperTimesteps", model=model, steps=steps, spacing="trailing", denoise=1.0)
    (ours,) = _run("ZSNR_DDIMSampler", eta=0.0)
    euler = comfy.samplers.ksampler("euler")
    g = torch.Generator().manual_seed(0)
    pos, neg = [[torch.randn(1, 7, 32, generator=g), {}]], [[torch.randn(1, 7, 32, generator=g), {}]]
    noise, latent = torch.randn(1, 4, 32, 32, generator=g), torch.zeros(1, 4, 32, 32)

    def run(sampler):
        return lambda: comfy.sample.sample_custom(model, noise, 5.0, sampler, sigmas, pos, neg, latent,
                                                  disable_pbar=True, seed=1)

    run(ours)(), run(euler)()  # warm-up
    t_ours, t_euler, ratios = [], [], []
    for r in range(repeats):
        pair = (ours, euler) if r % 2 == 0 else (euler, ours)
        times = {id(s): _timed(run(s)) / steps for s in pair}
        t_ours.append(times[id(ours)])
        t_euler.append(times[id(euler)])
        ratios.append(times[id(ours)] / times[id(euler)])
    ms = model.get_model_object("model_sampling")
    ready = _ReadyModel(ms, noise)
    own_ours = statistics.median(_timed(lambda: ours.sampler_function(ready, noise * 4518.76, sigmas, extra_args={},
                                                                       disable=True, eta=0.0)) / steps
                                 for _ in range(repeats))
    own_euler = statistics.median(_timed(lambda: k_sampling.sample_euler(ready, noise * 4518.76, sigmas,
                                                                          extra_args={}, disable=True)) / steps
                                  for _ in range(repeats))
    q = statistics.quantiles(ratios, n=4)
    print(f"sampler, {steps} steps, {repeats} repeats, (1, 4, 32, 32), CFG 5, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads")
    print(f"  ComfyUI euler          {1e3 * statistics.median(t_euler):8.3f} ms/step")
    print(f"  DDIM (zero-SNR exact)  {1e3 * statistics.median(t_ours):8.3f} ms/step")
    print(f"  ratio ours/euler       {statistics.median(ratios):8.4f} (quartiles {q[0]:.4f}-{q[2]:.4f})")
    print(f"  own work per step: ours {1e6 * own_ours:.1f} us, euler {1e6 * own_euler:.1f} us; "
          f"ratio from own work {(statistics.median(t_euler) - own_euler + own_ours) / statistics.median(t_euler):.4f}")


def rescale_cost(comfy, repeats: int) -> None:
    from comfy_extras.nodes_model_advanced import RescaleCFG

    base = tiny_vpred_model()
    (ours,) = _run("ZSNR_RescaleCFG", model=base, phi=0.7, space="v")
    (core,) = RescaleCFG().patch(base, 0.7)
    g = torch.Generator().manual_seed(0)
    shape = (1, 4, 128, 128)
    x = torch.randn(shape, generator=g) * 5
    cond, uncond = torch.randn(shape, generator=g), torch.randn(shape, generator=g)
    sigma = torch.tensor([4.0])

    def call(m):
        return lambda: comfy.samplers.cfg_function(m.model, cond, uncond, 6.0, x, sigma, model_options=m.model_options)

    for m in (ours, core):
        call(m)()
    t = {"ours": [], "core": []}
    for r in range(repeats * 20):
        for name, m in ((("ours", ours), ("core", core)) if r % 2 == 0 else (("core", core), ("ours", ours))):
            t[name].append(_timed(call(m)))
    ratios = [a / b for a, b in zip(t["ours"], t["core"])]
    print(f"Rescale CFG, cfg_function on {shape}, {len(ratios)} calls each")
    print(f"  core RescaleCFG        {1e6 * statistics.median(t['core']):8.1f} us/call")
    print(f"  ours (space v)         {1e6 * statistics.median(t['ours']):8.1f} us/call")
    print(f"  ratio ours/core        {statistics.median(ratios):8.4f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    if "COMFYUI_PATH" not in os.environ:
        sys.exit("set COMFYUI_PATH to a ComfyUI checkout")
    comfy, comfy_nodes = start_comfyui(os.environ["COMFYUI_PATH"])
    _load(comfy_nodes)
    sampler_overhead(comfy, args.steps, args.repeats)
    rescale_cost(comfy, args.repeats)


if __name__ == "__main__":
    main()
