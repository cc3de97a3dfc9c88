"""Per-step overhead of zsnr_core's samplers over a bare loop of the same model calls.

    python benchmarks/sampler_overhead.py [--steps 50] [--repeats 15] [--width 64] [--device cpu|cuda]

A (1, 4, 64, 64) latent and a small conv net (three 3x3 convs, 64 channels, a timestep embedding). Two figures:
- ratio: each repeat times the bare loop and the sampler back to back (in alternating order), so both see the same
  machine load; the figure is the median over repeats of sampler/bare, with the quartiles beside it;
- free-model overhead: the sampler driven by a model that returns a ready tensor, so all that is timed is the
  sampler's own per-step work; divided by the bare per-step model time it gives the same ratio without the noise
  of timing the conv net twice. Target: ratio <= 1.05.
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch import nn

import zsnr_core as z


class SmallConvNet(nn.Module):
    def __init__(self, channels: int = 4, width: int = 64, num_train_timesteps: int = 1000):
        super().__init__()
        self.inp = nn.Conv2d(channels, width, 3, padding=1)
        self.mid = nn.Conv2d(width, width, 3, padding=1)
        self.out = nn.Conv2d(width, channels, 3, padding=1)
        self.emb = nn.Embedding(num_train_timesteps, width)

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        h = nn.functional.silu(self.inp(x) + self.emb(t)[:, :, None, None])  # (B, W, H, W)
        return self.out(nn.functional.silu(self.mid(h)))


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def _time(fn, device) -> float:
    _sync(device)
    start = time.perf_counter()
    fn()
    _sync(device)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--width", type=int, default=64, help="conv channels of the model (default: 64)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    device = torch.device(args.device)
    torch.manual_seed(0)
    model = SmallConvNet(width=args.width).to(device).eval()
    ac = z.alphas_cumprod(z.rescale_zero_terminal_snr(z.make_betas("scaled_linear")))
    ts = z.timesteps(args.steps)
    x = torch.randn(1, 4, 64, 64, device=device)
    t_in = [torch.full((1,), t, dtype=torch.long, device=device) for t in ts.tolist()]
    denoiser = z.denoiser_from_model(model, ac)
    sigmas = torch.cat([z.sigma_from_alpha_bar(ac[ts]), torch.zeros(1, dtype=torch.float64)]).to(device)
    s_in = [sigmas[i] * x.new_ones(1) for i in range(args.steps)]

    def loop(fn, args_list):  # keeps no outputs alive, as a sampler would not
        for a in args_list:
            fn(x, a)

    cases = {
        "sample_ddim vs bare model(x, t) loop": (
            lambda: loop(model, t_in),
            lambda: z.sample_ddim(model, x, ac, ts, disable=True)),
        "sample_ddim_sigmas vs bare denoiser(x, σ) loop": (
            lambda: loop(denoiser, s_in),
            lambda: z.sample_ddim_sigmas(denoiser, x, sigmas, disable=True)),
    }
    print(f"device {device}, torch {torch.__version__}, {torch.get_num_threads()} threads, latent {tuple(x.shape)}, "
          f"width {args.width}, {args.steps} steps, {args.repeats} repeats")
    ready = model(x, t_in[0]).detach()
    free = {"sample_ddim": lambda: z.sample_ddim(lambda x, t: ready, x, ac, ts, disable=True),
            "sample_ddim_sigmas": lambda: z.sample_ddim_sigmas(lambda x, s: ready, x, sigmas, disable=True)}
    with torch.inference_mode():
        for name, (bare, sampler) in cases.items():
            bare(), sampler()  # warm-up
            bare_t, ratios = [], []
            for r in range(args.repeats):
                if r % 2:
                    s, b = _time(sampler, device), _time(bare, device)
                else:
                    b, s = _time(bare, device), _time(sampler, device)
                bare_t.append(b)
                ratios.append(s / b)
            q1, med, q3 = statistics.quantiles(ratios, n=4)
            per_model = statistics.median(bare_t) / args.steps
            sampler_name = name.split()[0]
            free[sampler_name]()
            own = statistics.median(_time(free[sampler_name], device) for _ in range(args.repeats)) / args.steps
            print(f"{name}: model {per_model * 1e3:.3f} ms/step; ratio {med:.3f} (quartiles {q1:.3f}-{q3:.3f}); "
                  f"free-model overhead {own * 1e6:.1f} us/step = ratio {1 + own / per_model:.4f} (target <= 1.05)")


if __name__ == "__main__":
    main()
