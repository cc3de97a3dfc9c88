"""Search for a training recipe that makes both toy models learn shape: train candidates, score each pair alike.

    python benchmarks/train_search.py --out runs --steps 6000 [--candidates A,B] [--classifier-steps 3000]

Every model is trained by the project's own command, `python -m zsnr_core train --model NAME --out
OUT/CANDIDATE/NAME --set KEY=VALUE ...` (one process per model, all at once: on a GPU these tiny models are bound by
kernel launches, so several processes share it well), beside `python -m zsnr_core train-classifier --out
OUT/classifier`. Each candidate is one change to the shared recipe, applied to the flawed and the fixed model alike.
Then every pair is scored at 25 steps: class accuracy, IS, toy-FID, W1 and FD₈ at w = 1 and 3 for the demo's two
pipelines, and brightness guidance ("dark", "bright") at w = 5 and 10 with φ = 0 and 0.7. Prints one table per
measurement and writes everything to OUT/search.json.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch

from zsnr_core.toy.experiments import BRIGHTNESS_GUIDANCE_ROWS, brightness_guidance, shape_scores
from zsnr_core.toy.zoo import fid_floor, load_model, reference_data, reference_features, shipped_classifier

BASE = {"steps": None, "batch_size": 128, "brightness_condition": True}  # steps from --steps
CANDIDATES = {
    "A": {},  # the shipped recipe, longer and with twice the batch
    "B": {"lr": 1e-3, "ema_decay": 0.9995},  # half the learning rate, slower EMA
    "C": {"widths": [48, 96, 96]},  # 1.5× the width (2.2× the parameters)
    "D": {"min_snr_gamma": 5.0},  # Min-SNR-5 loss weights (Hang et al. 2023) for both losses
    "E": {"label_dropout": 0.2},  # a weaker conditional model, a stronger unconditional one
    "F": {"batch_size": 256},
}
SHAPE_ROWS = (("sd", 1.0, None), ("sd", 3.0, None), ("zsnr_v_trailing_rescaled", 1.0, None),
              ("zsnr_v_trailing_rescaled", 3.0, None), ("zsnr_v_trailing", 3.0, None))


def _set_args(recipe: dict) -> list[str]:
    return [a for k, v in recipe.items() for a in ("--set", f"{k}={json.dumps(v, separators=(',', ':'))}")]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="runs")
    parser.add_argument("--steps", type=int, default=6000)
    parser.add_argument("--candidates", default=",".join(CANDIDATES))
    parser.add_argument("--classifier-steps", type=int, default=None)
    parser.add_argument("--num-samples", type=int, default=256)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads per training process")
    parser.add_argument("--final-samples", type=int, default=256, help="samples of the manifest's final metrics")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "PYTHONUNBUFFERED": "1"}
    cmd = [sys.executable, "-m", "zsnr_core"]
    jobs = {}
    if not (out / "classifier" / "classifier.safetensors").exists():
        extra = [] if args.classifier_steps is None else ["--steps", str(args.classifier_steps)]
        jobs["classifier"] = cmd + ["train-classifier", "--out", str(out / "classifier"), "--device", args.device,
                                    *extra]
    names = [c for c in args.candidates.split(",") if c]
    for c in names:
        recipe = {**BASE, "steps": args.steps, **CANDIDATES[c]}
        for model in ("flawed", "fixed"):
            jobs[f"{c}/{model}"] = cmd + ["train", "--model", model, "--out", str(out / c / model), "--device",
                                          args.device, "--eval-every", "0", "--final-samples",
                                          str(args.final_samples), *_set_args(recipe)]
    t0 = time.perf_counter()
    procs = {}
    for key, argv in jobs.items():
        log = open(out / f"{key.replace('/', '_')}.log", "w")  # noqa: SIM115 (closed after wait)
        procs[key] = (subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env), log)
        print(f"started {key}: {' '.join(argv[1:])}", flush=True)
    for key, (proc, log) in procs.items():
        rc = proc.wait()
        log.close()
        print(f"{key} finished rc={rc} at {time.perf_counter() - t0:.0f} s", flush=True)
        if rc:
            print((out / f"{key.replace('/', '_')}.log").read_text()[-3000:], flush=True)
        if key == "classifier":  # first in `procs`: give it to every model's folder, for their final metrics
            for c in names:
                for model in ("flawed", "fixed"):
                    folder = out / c / model
                    folder.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(out / "classifier" / "classifier.safetensors", folder / "classifier.tmp")
                    os.replace(folder / "classifier.tmp", folder / "classifier.safetensors")
    train_s = time.perf_counter() - t0

    device = torch.device(args.device)
    classifier = shipped_classifier(out / "classifier", device)
    reference = reference_data()
    features = reference_features(classifier, reference)
    n = args.num_samples
    results = {"steps": args.steps, "train_wall_s": round(train_s, 1), "device": str(device),
               "torch": torch.__version__, "num_samples": n, "fid_floor": fid_floor(n, classifier, reference, features),
               "classifier": json.loads((out / "classifier" / "manifest.json").read_text())["models"]["classifier"],
               "candidates": {}}
    for c in names:
        models = {}
        for name in ("flawed", "fixed"):
            try:
                models[name] = load_model(out / c / name / f"{name}.safetensors", device)[0]
            except FileNotFoundError as err:
                print(f"{c}/{name}: {err}", flush=True)
        if len(models) < 2:
            continue
        entry = {"recipe": {**BASE, "steps": args.steps, **CANDIDATES[c]}, "shape": [], "brightness": []}
        for key, w, phi in SHAPE_ROWS:
            m = shape_scores(models["fixed" if key.startswith("zsnr") else "flawed"], key, n, 25, w, reference, phi,
                             device=device, classifier=classifier, features=features)
            entry["shape"].append({"pipeline": key, "guidance": w, **m})
        for key, w, phi in BRIGHTNESS_GUIDANCE_ROWS:
            for bucket in ("dark", "bright"):
                entry["brightness"].append(brightness_guidance(
                    models["fixed" if key.startswith("zsnr") else "flawed"], key, bucket, n, 25, w, phi,
                    device=device, classifier=classifier))
        results["candidates"][c] = entry
        print(f"\n== candidate {c}: {entry['recipe']}", flush=True)
        for r in entry["shape"]:
            print(f"  {r['pipeline']:<26} w={r['guidance']:<4g} acc {r['accuracy']:.3f} IS {r['inception']:.2f} "
                  f"FID {r['fid']:.2f} W1 {r['w1']:.3f} FD8 {r['fd8']:.2f}", flush=True)
        for r in entry["brightness"]:
            print(f"  {r['pipeline']:<26} {r['bucket']:<6} w={r['guidance']:<4g} φ={r['phi']:<3g} hit {r['hit']:.3f} "
                  f"mean {r['brightness_mean']:+.3f} sat {100 * r['saturated']:.2f}% x0peak {r['x0_peak']:.2f} "
                  f"acc {r['accuracy']:.3f}", flush=True)
        entry["criteria"] = criteria(entry["shape"])
        print(f"  criteria met: {sum(entry['criteria'].values())}/{len(entry['criteria'])} {entry['criteria']}")
    results["wall_s"] = round(time.perf_counter() - t0, 1)
    if results["candidates"]:
        best = max(results["candidates"], key=lambda c: (sum(results["candidates"][c]["criteria"].values()),
                                                          _min_acc3(results["candidates"][c]["shape"])))
        results["best"] = best
        assemble(out, best)
        print(f"\nbest: {best}; assembled in {out / 'best'}")
    (out / "search.json").write_text(json.dumps(results, indent=1) + "\n")
    print(f"\nfid floor {results['fid_floor']:.3f}; classifier {results['classifier']}; total {results['wall_s']} s")
    return 0


def _row(shape: list[dict], key: str, w: float) -> dict:
    return next(r for r in shape if r["pipeline"] == key and r["guidance"] == w)


def _min_acc3(shape: list[dict]) -> float:
    return min(_row(shape, "sd", 3.0)["accuracy"], _row(shape, "zsnr_v_trailing_rescaled", 3.0)["accuracy"])


def criteria(shape: list[dict]) -> dict:
    """The targets at 25 steps, w = 1 and 3: fixed ≥ flawed on accuracy and toy-FID, both ≥ 0.85 accuracy at
    w = 3, fixed W1 ≤ 0.10, flawed W1 ≥ 0.20."""
    out = {}
    for w in (1.0, 3.0):
        a, b = _row(shape, "sd", w), _row(shape, "zsnr_v_trailing_rescaled", w)
        out[f"acc fixed >= flawed, w={w:g}"] = b["accuracy"] >= a["accuracy"]
        out[f"fid fixed <= flawed, w={w:g}"] = b["fid"] <= a["fid"]
        out[f"W1 fixed <= 0.10, w={w:g}"] = b["w1"] <= 0.10
        out[f"W1 flawed >= 0.20, w={w:g}"] = a["w1"] >= 0.20
    out["acc both >= 0.85, w=3"] = _min_acc3(shape) >= 0.85
    return out


def assemble(out: Path, candidate: str) -> None:
    """out/best: the candidate's two models and the classifier, with one manifest holding their three entries."""
    best = out / "best"
    best.mkdir(exist_ok=True)
    manifest = {"models": {}}
    for name, folder in (("classifier", out / "classifier"), ("flawed", out / candidate / "flawed"),
                         ("fixed", out / candidate / "fixed")):
        entry = json.loads((folder / "manifest.json").read_text())["models"][name]
        shutil.copyfile(folder / entry["file"], best / entry["file"])
        manifest["models"][name] = entry
    (best / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")


if __name__ == "__main__":
    sys.exit(main())
