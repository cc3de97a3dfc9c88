"""The prediction-type probe's statistics and margins on the shipped toy models and on untrained networks.

    python benchmarks/probe_margins.py [--seeds 3]

For each shipped model (flawed = SD's scaled_linear schedule + ε, fixed = zero terminal SNR + v), every class
(0-3 and the null class) and `--seeds` noise seeds, probed with SD's schedule and with its zero-SNR rescale; then
TinyUNets that learnt nothing (output layer zero as initialised, small normal, Kaiming), three seeds each. Printed:
the answers, the ranges of the coefficient and of each hypothesis's denoising-check error, the margins to the cut
band and to the check's limit, and the model calls per probe. CPU, one thread, about a minute.
"""
from __future__ import annotations

import argparse
import pathlib
import sys

import torch

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
import zsnr_core as z
from zsnr_core.probe import CHECK_ERROR_LIMIT
from zsnr_core.toy.unet import TinyUNet
from zsnr_core.toy.zoo import WEIGHTS_DIR, load_model

SHAPE = (4, 3, 32, 32)
LABELS = (0, 1, 2, 3, None)


def labelled(model, label):
    return lambda x, t: model(x, t, None if label is None else torch.full((x.shape[0],), label, dtype=torch.long))


def report(name: str, results) -> None:
    answers = sorted({str(r.prediction_type) for r in results})
    c = [r.coefficient for r in results]
    lo_band, hi_band = results[0].cut - results[0].margin, results[0].cut + results[0].margin
    margin = min(min(abs(x - lo_band), abs(x - hi_band)) for x in c)
    errs = {k: [r.check_error[k] for r in results] for k in results[0].check_error}
    err_text = ", ".join(f"{k} {min(v):.3f}-{max(v):.3f}" for k, v in errs.items())
    print(f"{name:34s} {len(results):3d} probes -> {'/'.join(answers):14s} coefficient {min(c):+.3f}..{max(c):+.3f} "
          f"(outside the band [{lo_band:.3f}, {hi_band:.3f}] by {margin:.3f}); check error {err_text} "
          f"(limit {CHECK_ERROR_LIMIT:.2f}); {results[0].model_calls} calls, t = {results[0].timesteps}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    sd = z.alphas_cumprod(z.make_betas("scaled_linear"))
    schedules = {"SD schedule": sd, "zero-SNR schedule": z.rescale_alphas_cumprod_zero_terminal_snr(sd)}
    for name in ("flawed", "fixed"):
        model = load_model(WEIGHTS_DIR / f"{name}.safetensors")[0]
        for sname, ac in schedules.items():
            report(f"{name} ({sname})", [z.probe_prediction_type(labelled(model, label), ac, SHAPE, seed=seed)
                                        for label in LABELS for seed in range(args.seeds)])
    for init in ("zeros", "normal(0.02)", "kaiming"):
        results = []
        for seed in range(3):
            torch.manual_seed(seed)
            net = TinyUNet(num_brightness=3)
            if init == "normal(0.02)":
                torch.nn.init.normal_(net.out.weight, std=0.02)
            elif init == "kaiming":
                torch.nn.init.kaiming_normal_(net.out.weight)
            results += [z.probe_prediction_type(labelled(net, label), sd, SHAPE) for label in (0, None)]
        report(f"untrained, output {init}", results)


if __name__ == "__main__":
    main()
