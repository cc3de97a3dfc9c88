"""The paper's ablation at toy scale: every pipeline with the exact (ideal) denoiser and the trained toy models.

    python benchmarks/results_table.py [--num-samples 256] [--steps 25] [--device auto] [--json out.json]
                                       [--weights DIR] [--figure overexposure.png]

Prints five markdown tables: (1) rows SD baseline → + trailing → zero SNR + v (leading, trailing) → + rescaled CFG,
and zero SNR + ε (refused), with the shape metrics (class accuracy, IS, toy-FID), the brightness metrics and FD₈ at
guidance 1 and class accuracy, W1 and the over-exposure (share of pixel values beyond ±1) at guidance 1 / 3 / 7.5;
(2) the demo's two pipelines on the trained models at w = 1 and 3, every metric; (3) brightness guidance: each
sample asked for its shape and "dark" or "bright", at w = 1 / 5 / 10, φ = 0 and 0.7 (the share that lands in the
asked bucket, pixels beyond ±1, the largest |x̂₀| met, class accuracy); (4) W1 and FD₈ for 5 / 10 / 25 / 50 steps,
leading against trailing, for each schedule (quality per model call); (5) the ideal denoiser's flawed and fixed W1
as the image grows from 16 × 16 × 1 to 64 × 64 × 3. Every pipeline samples from the same seeds.

    python benchmarks/results_table.py --offset [--json benchmarks/results_toy.json] ...

runs only the offset-noise rows (Lin et al. 2024, section 5.4; minutes on a CPU): the flawed model, the model trained
from scratch with its recipe plus offset noise, the flawed model's fine-tune with offset noise and the control
fine-tuned as long without it, all on SD's pipeline, beside the fixed model on its own, at w = 1 (the manifest records w = 3 for each model), every metric plus the shares of the brightness buckets
against the data's; with --json it adds them to that file under "offset" and keeps the rest.

    python benchmarks/results_table.py --terminal [--num-samples 128] [--json benchmarks/results_toy.json] ...

runs only section 5.2's rows: the fixed model and `fixed_ft` (its fine-tune with weight at t = T): how much the first
prediction follows the noise and what it hands guidance at the first step, the demo's metrics at w = 1 and 3
(φ = 0.7) and 7.5 (φ = 0 and 0.7), and asked for dark and bright at w = 5 and 10 (φ = 0 and 0.7: over-exposure and
its cure), the exact denoiser asked the same, under "terminal" in the JSON.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch

from zsnr_core.toy import IdealDenoiser, make_shapes, sample, sample_metrics, schedule
from zsnr_core.toy.data import BRIGHTNESS_CLASSES, CLASSES, brightness_bucket, grid_column_centres, image_grid
from zsnr_core.toy.demo import data_scores, run_pipeline
from zsnr_core.toy.experiments import BRIGHTNESS_GUIDANCE_ROWS, brightness_guidance
from zsnr_core.toy.pipelines import FIXED, FLAWED, PIPELINES
from zsnr_core.toy.zoo import (
    CLASSIFIER_FILE,
    OWN_PIPELINE,
    WEIGHTS_DIR,
    fd8_floor,
    load_model,
    load_models,
    reference_data,
    reference_features,
    shipped_classifier,
)

ROWS = ("sd", "sd_trailing", "zsnr_v_leading", "zsnr_v_trailing", "zsnr_v_trailing_rescaled", "zsnr_eps")
GUIDANCE = (1.0, 3.0, 7.5)
SWEEP = (5, 10, 25, 50)
RESOLUTIONS = ((1, 16), (3, 16), (1, 32), (3, 32), (3, 64))  # (channels, side)
TERMINAL_MODELS = ("fixed", "fixed_ft")  # section 5.2: before and after the fine-tune with weight at t = T
TERMINAL_GUIDANCE = ((1.0, 0.7), (3.0, 0.7), (7.5, 0.0), (7.5, 0.7))  # (w, φ): the demo's, and over-exposure's
FIRST_GUIDED = (5.0, 0.7)  # (w, φ) of the guided first prediction at t = T, asked for "bright"
TERMINAL_ASKED = ((5.0, 0.0), (5.0, 0.7), (10.0, 0.0), (10.0, 0.7))  # (w, φ) asked dark / bright: docs/toy.md's cure
ASKED_GUIDANCE = 5.0  # brightness asked for in the offset rows
OFFSET_MODELS = ("flawed", "offset", "offset_ft_control", "offset_ft", "fixed")  # section 5.4: each on its own pipeline


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--num-samples", type=int, default=256)
    parser.add_argument("--steps", type=int, default=25)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--json", default=None, help="also write every figure to this JSON file")
    parser.add_argument("--weights", default=None, help="folder of the models (and classifier) to score: the shipped")
    parser.add_argument("--figure", default=None, help="write the brightness-guidance figure to this PNG")
    parser.add_argument("--offset", action="store_true", help="only the offset-noise rows (section 5.4)")
    parser.add_argument("--terminal", action="store_true",
                        help="only the section 5.2 rows: the fixed model against its fine-tune with weight at t = T")
    args = parser.parse_args()
    device = torch.device("cuda" if args.device == "auto" and torch.cuda.is_available() else
                          ("cpu" if args.device == "auto" else args.device))
    data = reference_data()
    weights = Path(args.weights or WEIGHTS_DIR)
    classifier = shipped_classifier(weights if (weights / CLASSIFIER_FILE).exists() else WEIGHTS_DIR, device)
    features = reference_features(classifier, data)
    if args.offset:
        return offset_main(args, weights, data, classifier, features, device)
    if args.terminal:
        return terminal_main(args, weights, data, classifier, features, device)
    models = load_models(weights, device=device)
    n, t_start = args.num_samples, time.perf_counter()
    acc, inception, fid = data_scores(n, classifier, features)
    results = {"num_samples": n, "steps": args.steps, "seed": args.seed, "device": str(device),
               "torch": torch.__version__, "weights": str(weights), "fd8_floor": fd8_floor(n, data),
               "data_scores": {"accuracy": acc, "inception": inception, "fid": fid},
               "ablation": [], "demo": [], "brightness": [], "sweep": []}

    def run(key, denoiser, steps, w, phi=None):
        row = run_pipeline(key, denoiser, models["fixed" if key.startswith("zsnr") else "flawed"], data, n, steps,
                           w, phi, args.seed, device, classifier=classifier, features=features)
        print(f"  {denoiser:>7} {key:<26} w={w:<4g} steps={steps:<3} {row.seconds:6.1f} s", file=sys.stderr)
        return {"pipeline": key, "label": row.pipeline.label, "denoiser": denoiser, "guidance": w, "steps": steps,
                "phi": row.phi, "error": row.error, **(row.metrics.as_dict() if row.metrics else {})}

    for key in (FLAWED, FIXED):
        for w in (1.0, 3.0):
            results["demo"].append(run(key, "trained", args.steps, w))
    shown = {}
    for key, w, phi in BRIGHTNESS_GUIDANCE_ROWS:
        for bucket in ("dark", "bright"):
            model = models["fixed" if key.startswith("zsnr") else "flawed"]
            r = brightness_guidance(model, key, bucket, n, args.steps, w, phi, args.seed, device, classifier)
            results["brightness"].append(r)
            print(f"  brightness {key:<20} {bucket:<6} w={w:<4g} φ={phi:g}: hit {r['hit']:.2f}", file=sys.stderr)
            if args.figure and w == 10.0:
                shown[(key, bucket, phi)] = sample(model, PIPELINES[key], 16, args.steps, w, phi, args.seed,
                                                   device=device, brightness=bucket).cpu()

    for denoiser in ("ideal", "trained"):
        for key in ROWS:
            if denoiser == "trained" and key == "zsnr_eps":
                continue  # no ε-model is trained on the zero-SNR schedule: the ideal row shows the refusal
            for w in GUIDANCE:
                results["ablation"].append(run(key, denoiser, args.steps, w))
                if results["ablation"][-1]["error"]:
                    break
        for key in ("sd", "sd_trailing", "zsnr_v_leading", "zsnr_v_trailing"):
            for steps in SWEEP:
                results["sweep"].append(run(key, denoiser, steps, 1.0))
    for channels, side in RESOLUTIONS:
        res_data = make_shapes(len(data), side, channels, seed=0)
        entry = {"channels": channels, "size": side}
        for key in ("sd", "zsnr_v_trailing"):
            pipe = PIPELINES[key]
            ideal = IdealDenoiser(res_data, schedule(pipe.zero_snr), pipe.prediction_type).to(device)
            t0 = time.perf_counter()
            x = sample(ideal, pipe, n, args.steps, seed=args.seed, shape=(channels, side, side), device=device).cpu()
            entry[key] = sample_metrics(x, res_data.images).w1
            print(f"    ideal {key:<26} {channels}×{side}×{side} {time.perf_counter() - t0:6.1f} s", file=sys.stderr)
        results.setdefault("resolution", []).append(entry)
    results["wall_time_s"] = round(time.perf_counter() - t_start, 1)
    print(format_results(results))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1) + "\n")
    if args.figure:
        save_brightness_figure(shown, results["brightness"], args.figure)
        print(f"\nfigure: {args.figure}")
    return 0


def offset_rows(weights: Path, data, n: int, steps: int, seed: int, device, classifier, features,
                guidance=(1.0,), names=OFFSET_MODELS, asked_n: int = 128) -> list[dict]:
    """Each model of `names` on its own pipeline at each guidance: every metric, and the share of samples (clipped to
    ±1, as `brightness_guidance` counts them) in each brightness bucket (`data.brightness_bucket`); then `asked_n`
    samples asked for "dark" and for "bright" at w = ASKED_GUIDANCE (φ = 0): the share that lands in that bucket."""
    rows = []
    for name in names:
        model = load_model(weights / f"{name}.safetensors", device)[0]
        for w in guidance:
            row = run_pipeline(OWN_PIPELINE[name], "trained", model, data, n, steps, w, None, seed, device,
                               classifier=classifier, features=features)
            buckets = torch.bincount(brightness_bucket(row.samples.clamp(-1, 1)), minlength=len(BRIGHTNESS_CLASSES)) / n
            print(f"  {name:<15} w={w:<4g} {row.seconds:6.1f} s", file=sys.stderr)
            rows.append({"model": name, "pipeline": OWN_PIPELINE[name], "label": row.pipeline.label, "guidance": w,
                         "steps": steps, "buckets": buckets.tolist(), **row.metrics.as_dict()})
        # reach when asked, as the paper's prompts ask for a dark or a bright image: the brightness condition at w = 5
        rows[-1]["asked"] = {bucket: brightness_guidance(model, OWN_PIPELINE[name], bucket, asked_n, steps,
                                                         ASKED_GUIDANCE, 0.0, seed, device,
                                                         data_images=data.images)
                             for bucket in ("dark", "bright")}
        print(f"  {name:<15} asked dark / bright: in bucket {rows[-1]['asked']['dark']['hit']:.2f} / "
              f"{rows[-1]['asked']['bright']['hit']:.2f}", file=sys.stderr)
    return rows


def offset_main(args, weights: Path, data, classifier, features, device) -> int:
    t0 = time.perf_counter()
    rows = offset_rows(weights, data, args.num_samples, args.steps, args.seed, device, classifier, features)
    return _report(args, "offset", rows, t0, format_offset, device)


def _report(args, key: str, rows: list[dict], t0: float, format_rows, device) -> int:
    """Print one partial run's table and, with --json, put it under `key` in that file, keeping the rest."""
    results = {"num_samples": args.num_samples, "steps": args.steps, "seed": args.seed, "device": str(device),
               "torch": torch.__version__, "rows": rows, "wall_time_s": round(time.perf_counter() - t0, 1)}
    print(format_rows(results))
    if args.json:
        path = Path(args.json)
        everything = json.loads(path.read_text()) if path.exists() else {}
        everything[key] = results
        path.write_text(json.dumps(everything, indent=1) + "\n")
    return 0


def terminal_main(args, weights: Path, data, classifier, features, device) -> int:
    """Section 5.2: how much each model's first prediction follows the noise (`terminal_prediction`, 64 noises per
    class), and the demo's metrics on the fixed pipeline at the demo's w = 3, φ = 0.7, at w = 1, and at w = 7.5 with
    and without Rescale CFG; then asked for dark and bright at TERMINAL_ASKED (over-exposure and its cure, as
    docs/toy.md measures them): what the fine-tune must not lose."""
    from zsnr_core.toy.zoo import terminal_guided, terminal_prediction

    t0 = time.perf_counter()
    rows = []
    for name in TERMINAL_MODELS:
        model = load_model(weights / f"{name}.safetensors", device)[0]
        terminal = terminal_prediction(model, n=64, reference=data, device=device)
        terminal["guided"] = terminal_guided(model, "bright", *FIRST_GUIDED, n=64, reference=data, device=device)
        for w, phi in TERMINAL_GUIDANCE:
            row = run_pipeline(FIXED, "trained", model, data, args.num_samples, args.steps, w, phi, args.seed,
                               device, classifier=classifier, features=features)
            print(f"  {name:<9} w={w:<4g} φ={phi:g} {row.seconds:6.1f} s", file=sys.stderr)
            rows.append({"model": name, "guidance": w, "phi": phi, **row.metrics.as_dict()})
        rows[-len(TERMINAL_GUIDANCE)]["terminal"] = terminal
        rows[-1]["asked"] = [brightness_guidance(model, FIXED, bucket, args.num_samples, args.steps, w, phi, args.seed,
                                                 device, data_images=data.images)
                             for w, phi in TERMINAL_ASKED for bucket in ("dark", "bright")]
        print(f"  {name:<9} asked: beyond ±1 " + ", ".join(f"{100 * a['saturated']:.1f} %" for a in rows[-1]["asked"]),
              file=sys.stderr)
    # The same asks of the exact (shape, bucket)-conditional denoiser: it starts from the over-exposed guided x̂_0 a
    # model at section 5.2 starts from, so whether its samples end beyond ±1 says if that start forces over-exposure.
    exact = IdealDenoiser(data, schedule(True), "v_prediction").to(device)
    rows.append({"model": "exact denoiser", "asked": [
        brightness_guidance(exact, FIXED, bucket, args.num_samples, args.steps, w, phi, args.seed, device,
                            data_images=data.images) for w, phi in TERMINAL_ASKED for bucket in ("dark", "bright")]})
    return _report(args, "terminal", rows, t0, format_terminal, device)


def _guided(terminal: dict, who: str) -> str:
    g = terminal.get("guided", {}).get(who)
    return f"{g['brightness']:.3f} | {100 * g['beyond']:.1f}" if g else " | "


def format_terminal(results: dict) -> str:
    out = [(f"Section 5.2: {results['num_samples']} samples per row on the fixed pipeline (zero SNR + v, trailing), "
            f"{results['steps']} steps, seed {results['seed']}, {results['device']}, {results['wall_time_s']} s in all."),
           "", ("| model | coef. of v̂ on x_T | residual | x̂₀ spread | x̂₀ brightness spread | guided x̂₀: brightness | "
                "beyond ±1 % |"), "|---|---|---|---|---|---|---|"]
    terminal = [(r["model"], r["terminal"]) for r in results["rows"] if "terminal" in r]
    for name, t in terminal:
        m = t["model"]
        out.append(f"| {name} | {m['coef']:.3f} | {m['residual']:.3f} | {m['spread']:.3f} | "
                   f"{m['brightness_spread']:.3f} | {_guided(t, 'model')} |")
    e, d = terminal[0][1]["exact"], terminal[0][1].get("data")  # the same for every model
    out.append(f"| exact denoiser | {e['coef']:.3f} | {e['residual']:.3f} | {e['spread']:.3f} | "
               f"{e['brightness_spread']:.3f} | {_guided(terminal[0][1], 'exact')} |")
    if d:  # the variation the samples end with: the scale of the two spreads above
        out.append(f"| data, within a class | | | {d['spread']:.3f} | {d['brightness_spread']:.3f} | | |")
    w, phi = FIRST_GUIDED
    out += ["", (f"Guided x̂₀: the first prediction at t = T asked for \"bright\" at w = {w:g}, φ = {phi:g} "
                 "(zoo.terminal_guided); for the exact denoiser, the data's mean images extrapolated and rescaled.")]
    out += ["",
            "| model | w | φ | acc | W1 | dark % | bright % | std | FD₈ | toy-FID | beyond ±1 % |",
            "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in (r for r in results["rows"] if "accuracy" in r):  # the exact denoiser's row has only "asked"
        out.append(f"| {r['model']} | {r['guidance']:g} | {r['phi']:g} | {r['accuracy']:.3f} | {r['w1']:.3f} | "
                   f"{100 * r['dark']:.1f} | {100 * r['bright']:.1f} | {r['brightness_std']:.3f} | {r['fd8']:.2f} | "
                   f"{r['fid']:.2f} | {100 * r['saturated']:.2f} |")
    asked = [(r["model"], r["asked"]) for r in results["rows"] if "asked" in r]
    if asked:
        out += ["", (f"Asked for dark and bright ({results['num_samples']} samples each): the share in the asked "
                     "bucket, mean brightness, W1 against the data's images in that bucket, pixels beyond ±1. "
                     "The exact denoiser ends each sample on an image of the data set (it knows nothing else)."), "",
                ("| model | w | φ | dark: in bucket % | mean | W1 | beyond ±1 % | bright: in bucket % | mean | W1 | "
                 "beyond ±1 % |"), "|---|---|---|---|---|---|---|---|---|---|---|"]
        for name, rows in asked:
            for d, b in zip(rows[::2], rows[1::2]):
                out.append(f"| {name} | {d['guidance']:g} | {d['phi']:g} | " + " | ".join(
                    f"{100 * a['hit']:.1f} | {a['brightness_mean']:+.3f} | {a['w1_bucket']:.3f} | "
                    f"{100 * a['saturated']:.2f}" for a in (d, b)) + " |")
    return "\n".join(out)


def format_offset(results: dict) -> str:
    """The offset-noise table: reach (dark / bright %), fit (W1, bucket shares against the data's) and shape."""
    lum = reference_data().images.flatten(1).mean(1)
    data_buckets = torch.bincount(brightness_bucket(reference_data().images), minlength=3) / len(lum)
    out = [(f"Offset noise (section 5.4): {results['num_samples']} samples per row, {results['steps']} DDIM steps "
            f"(η = 0), seed {results['seed']}, {results['device']}, torch {results['torch']}, "
            f"{results['wall_time_s']} s in all."),
           (f"Data: brightness mean {lum.mean():+.3f}, std {lum.std():.3f}, dark {100 * (lum < -0.6).double().mean():.1f} "
            f"%, bright {100 * (lum > 0.6).double().mean():.1f} %, buckets dark / mid / bright "
            + " / ".join(f"{100 * b:.0f}" for b in data_buckets) + " %."),
           "",
           "| model | w | mean | std | W1 | dark % | bright % | buckets % | FD₈ | acc | toy-FID | sat. % |",
           "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in results["rows"]:
        out.append(f"| {r['model']} ({r['pipeline']}) | {r['guidance']:g} | {r['brightness_mean']:+.3f} | "
                   f"{r['brightness_std']:.3f} | {r['w1']:.3f} | {100 * r['dark']:.1f} | {100 * r['bright']:.1f} | "
                   + " / ".join(f"{100 * b:.0f}" for b in r["buckets"])
                   + f" | {r['fd8']:.2f} | {r['accuracy']:.3f} | {r['fid']:.2f} | {100 * r['saturated']:.2f} |")
    asked = [r for r in results["rows"] if "asked" in r]
    if asked:
        bucket_mean = [float(lum[brightness_bucket(reference_data().images) == i].mean()) for i in (0, 2)]
        n, w = asked[0]["asked"]["dark"]["n"], asked[0]["asked"]["dark"]["guidance"]
        out += ["", (f"Asked for a dark or a bright image (the brightness condition, w = {w:g}, φ = 0, {n} samples "
                     f"each): the share in the asked bucket, the mean brightness (the data's dark / bright buckets: "
                     f"{bucket_mean[0]:+.3f} / {bucket_mean[1]:+.3f}), W1 between the samples' brightness and the "
                     f"data's images in that bucket, and pixels beyond ±1."), "",
                "| model | dark: in bucket % | mean | W1 | beyond ±1 % | bright: in bucket % | mean | W1 | beyond ±1 % |",
                "|---|---|---|---|---|---|---|---|---|"]
        for r in asked:
            out.append(f"| {r['model']} ({r['pipeline']}) | " + " | ".join(
                f"{100 * a['hit']:.1f} | {a['brightness_mean']:+.3f} | {a['w1_bucket']:.3f} | {100 * a['saturated']:.2f}"
                for a in (r["asked"]["dark"], r["asked"]["bright"])) + " |")
    return "\n".join(out)


def save_brightness_figure(shown: dict, rows: list[dict], path: str) -> None:
    """16 samples per (model, asked bucket, φ) at w = 10, titled with the table's figures for that row."""
    from matplotlib.figure import Figure

    keys = sorted(shown, key=lambda k: (k[0] != "sd", k[2], k[1]))
    fig = Figure(figsize=(4 * 2, 2.6 * len(keys) / 2 + 0.6))
    axes = fig.subplots(len(keys) // 2, 2, squeeze=False)
    for ax, key in zip(axes.flat, keys):
        model_key, bucket, phi = key
        r = next(r for r in rows if (r["pipeline"], r["bucket"], r["phi"], r["guidance"]) == (*key, 10.0))
        ax.imshow(image_grid(shown[key], cols=8), interpolation="nearest")
        name = "flawed (SD)" if model_key == "sd" else f"fixed, φ = {phi:g}"
        ax.set_title(f"{name}, asked {bucket}, w = 10\nin bucket {100 * r['hit']:.0f} %, beyond ±1 "
                     f"{100 * r['saturated']:.1f} %, |x̂₀| peak {r['x0_peak']:.1f}", fontsize=8)
        ax.set_xticks(grid_column_centres(8, shown[key].shape[-1]), [CLASSES[j % 4] for j in range(8)], fontsize=6)
        ax.set_yticks([])
        ax.tick_params(length=0)
    fig.suptitle("Brightness guidance at w = 10 on the trained toy models (25 steps)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def format_results(results: dict) -> str:
    n, floor = results["num_samples"], results["fd8_floor"]
    lum = reference_data().images.flatten(1).mean(1)
    out = [(f"Ablation: {n} samples per row, {results['steps']} DDIM steps (η = 0), seed {results['seed']}, "
            f"{results['device']}, torch {results['torch']}, {results['wall_time_s']} s in all."),
           (f"Data: brightness std {lum.std():.3f}, dark {100 * (lum < -0.6).double().mean():.1f} %, "
            f"bright {100 * (lum > 0.6).double().mean():.1f} %; FD₈ of {n} fresh data images (the floor) {floor:.2f}."),
           "",
           ("| pipeline | denoiser | acc | IS | toy-FID | bright. std | W1 | dark % | bright % | FD₈ | "
            "acc at w = 3 / 7.5 | W1 at w = 3 / 7.5 | saturated % at w = 1 / 3 / 7.5 |"),
           "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    by = {}
    for r in results["ablation"]:
        by.setdefault((r["pipeline"], r["denoiser"]), {})[r["guidance"]] = r
    for (key, denoiser), g in by.items():
        first = g[min(g)]
        if first["error"]:
            out.append(f"| {first['label']} | {denoiser} | refused: {first['error']} ||||||||||||")
            continue
        sat = " / ".join(f"{100 * g[w]['saturated']:.2f}" for w in sorted(g))
        w1s = " / ".join(f"{g[w]['w1']:.3f}" for w in sorted(g) if w != 1.0)
        accs = " / ".join(f"{g[w]['accuracy']:.2f}" for w in sorted(g) if w != 1.0)
        out.append(f"| {first['label']} | {denoiser} | {first['accuracy']:.2f} | {first['inception']:.2f} | "
                   f"{first['fid']:.2f} | {first['brightness_std']:.3f} | {first['w1']:.3f} | "
                   f"{100 * first['dark']:.1f} | {100 * first['bright']:.1f} | {first['fd8']:.2f} | {accs} | {w1s} | "
                   f"{sat} |")
    d = results["data_scores"]
    out += ["", (f"The demo's pipelines on the trained models, {n} samples, {results['steps']} steps. Data ({n} fresh "
                 f"images): acc {d['accuracy']:.3f}, IS {d['inception']:.2f}, toy-FID {d['fid']:.2f} (the ceiling "
                 f"and floor at this size), FD₈ {floor:.2f}."), "",
            "| pipeline | w | acc | IS | toy-FID | W1 | FD₈ | saturated % |", "|---|---|---|---|---|---|---|---|"]
    for r in results["demo"]:
        out.append(f"| {r['label']} | {r['guidance']:g} | {r['accuracy']:.3f} | {r['inception']:.2f} | {r['fid']:.2f} | "
                   f"{r['w1']:.3f} | {r['fd8']:.2f} | {100 * r['saturated']:.2f} |")
    out += ["", ("Brightness guidance: sample i asks for shape i mod 4 and the bucket (dark: mean < -0.3, bright: "
                 "≥ 0.3; 30 % / 31 % of the data); in bucket: share of the samples (clipped to ±1) whose mean lands "
                 "there; beyond ±1: share of pixel values; |x̂₀| peak: median over samples of the largest |x̂₀| "
                 "the sampler met."), "",
            "| model, pipeline | asked | w | φ | in bucket % | mean brightness | beyond ±1 % | |x̂₀| peak | acc |",
            "|---|---|---|---|---|---|---|---|---|"]
    for r in results["brightness"]:
        name = "flawed, SD baseline" if r["pipeline"] == "sd" else "fixed, zero SNR + v, trailing"
        out.append(f"| {name} | {r['bucket']} | {r['guidance']:g} | {r['phi']:g} | {100 * r['hit']:.1f} | "
                   f"{r['brightness_mean']:+.3f} | {100 * r['saturated']:.2f} | {r['x0_peak']:.2f} | "
                   f"{r['accuracy']:.3f} |")
    out += ["", "Steps sweep at w = 1: W1 / FD₈ per number of model calls.", "",
            "| pipeline | denoiser | " + " | ".join(f"{s} steps" for s in SWEEP) + " |",
            "|---|---|" + "---|" * len(SWEEP)]
    sweep = {}
    for r in results["sweep"]:
        sweep.setdefault((r["label"], r["denoiser"]), {})[r["steps"]] = r
    for (label, denoiser), s in sweep.items():
        out.append(f"| {label} | {denoiser} | " + " | ".join(f"{s[k]['w1']:.3f} / {s[k]['fd8']:.2f}" for k in SWEEP)
                   + " |")
    out += ["", ("Resolution sweep, ideal denoiser, w = 1: brightness W1 of SD + leading (flawed) and zero SNR + v + "
            "trailing (fixed); the leak is the per-image mean, whose noise shrinks as 1/√(pixels)."), "",
            "| image | pixels | flawed W1 | fixed W1 |", "|---|---|---|---|"]
    for e in results.get("resolution", []):
        out.append(f"| {e['channels']}×{e['size']}×{e['size']} | {e['channels'] * e['size'] ** 2} | "
                   f"{e['sd']:.3f} | {e['zsnr_v_trailing']:.3f} |")
    return "\n".join(out)


if __name__ == "__main__":
    sys.exit(main())
