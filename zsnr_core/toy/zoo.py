"""The toy models the demo needs: their configs, the training command that makes them, loading, the manifest.

Shipped weights live in `weights/` beside this file, made by `python -m zsnr_core train --out zsnr_core/toy/weights`;
`manifest.json` there records for each model the command, seed, steps, wall time, device and final metrics.
"""
from __future__ import annotations

import hashlib
import json
import platform
import sys
import time
from dataclasses import replace
from pathlib import Path

import torch

from .data import make_shapes
from .metrics import frechet_distance8, sample_metrics
from .pipelines import PIPELINES, sample
from .safetensors_io import SafetensorsError, load_file
from .train import TrainConfig, export_weights, train
from .unet import TinyUNet

WEIGHTS_DIR = Path(__file__).with_name("weights")
RETRAIN_COMMAND = "python -m zsnr_core train --out {out}"
REFERENCE_SEED, REFERENCE_SIZE = 0, 4096  # the data set that metrics compare against and the ideal denoiser uses

MODELS = {
    "flawed": TrainConfig("flawed", zero_snr=False, prediction_type="epsilon"),
    "fixed": TrainConfig("fixed", zero_snr=True, prediction_type="v_prediction"),
}
OWN_PIPELINE = {"flawed": "sd", "fixed": "zsnr_v_trailing"}  # how a model is sampled when it is evaluated alone


def reference_data():
    return make_shapes(REFERENCE_SIZE, seed=REFERENCE_SEED)


def fd8_floor(n: int, reference=None) -> float:
    """FD₈ of `n` fresh data images (seed 1) against the reference set: a perfect sampler's score at that size."""
    reference = reference_data() if reference is None else reference
    return frechet_distance8(make_shapes(n, seed=REFERENCE_SEED + 1).images, reference.images)


def load_model(path: str | Path, device="cpu", verify: bool = True) -> tuple[TinyUNet, TrainConfig]:
    """A shipped or retrained toy model, from safetensors only; errors name the command that rebuilds it.

    With verify=True (the default) the file must match the sha256 that manifest.json beside it records for it
    (`train_models` writes both); verify=False loads a file that has no manifest or was changed on purpose.
    """
    path = Path(path)
    fix = f"rebuild it with `{RETRAIN_COMMAND.format(out=path.parent)}` (minutes on a CPU)"
    if not path.is_file():
        what = "is a folder, not a weights file" if path.exists() else "does not exist"
        raise FileNotFoundError(f"cannot load the toy model {path}: it {what}; {fix}")
    if verify:
        verify_weights(path)
    try:
        tensors, meta = load_file(path)
        if meta.get("format") != "zsnr-toy-unet/1":
            raise SafetensorsError(f"{path} is not a zsnr toy model (format {meta.get('format')!r})")
        config = TrainConfig.from_json(meta["config"])
        model = TinyUNet(3, config.widths, 4)
        model.load_state_dict(tensors)
    except (SafetensorsError, KeyError, RuntimeError, TypeError, ValueError) as err:
        raise FileNotFoundError(f"cannot load the toy model {path}: {err}; {fix}") from None
    return model.to(device).eval(), config


def verify_weights(path: str | Path) -> None:
    """Raise ValueError unless `path` has the sha256 that manifest.json in its folder records for its file name.

    Hashing a 3 MB file takes milliseconds; a damaged or swapped file is caught here, naming the file and the
    rebuild command, instead of surfacing as NaN samples later.
    """
    path = Path(path)
    manifest = path.parent / "manifest.json"
    fix = (f"rebuild it with `{RETRAIN_COMMAND.format(out=path.parent)}`, or load it unchecked "
           "(verify=False; --no-verify on the command line) if you changed it on purpose")
    try:
        entries = json.loads(manifest.read_text())["models"].values()
    except FileNotFoundError:
        raise ValueError(f"cannot check {path}: there is no manifest.json beside it; {fix}") from None
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as err:
        raise ValueError(f"cannot check {path}: {manifest} is not a readable manifest ({err}); {fix}") from None
    entry = next((e for e in entries if isinstance(e, dict) and e.get("file") == path.name), None)
    if entry is None or "sha256" not in entry:
        raise ValueError(f"cannot check {path}: {manifest} records no sha256 for {path.name}; {fix}")
    digest = _sha256(path)
    if digest != entry["sha256"]:
        raise ValueError(f"{path} is damaged or replaced: its sha256 is {digest[:16]}…, {manifest.name} records "
                         f"{entry['sha256'][:16]}…; {fix}")


def load_models(directory: str | Path = WEIGHTS_DIR, device="cpu", verify: bool = True) -> dict[str, TinyUNet]:
    return {name: load_model(Path(directory) / f"{name}.safetensors", device, verify)[0] for name in MODELS}


def evaluate(model, name: str, n: int = 256, steps: int = 25, device="cpu", reference=None) -> dict:
    """Metrics of `model` sampled along its own pipeline (no guidance) against the reference data."""
    reference = reference_data() if reference is None else reference
    samples = sample(model, PIPELINES[OWN_PIPELINE[name]], n, steps, device=device).cpu()
    return sample_metrics(samples, reference.images).as_dict()


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def train_models(names, out: str | Path, steps: int | None = None, device="cpu", disable=None, log=print,
                 eval_every: int = 250, command: str | None = None, final_samples: int = 256) -> dict:
    """Train `names` into `out` (resuming from out/checkpoints/), export the EMA weights, update out/manifest.json."""
    out = Path(out)
    (out / "checkpoints").mkdir(parents=True, exist_ok=True)
    manifest_path = out / "manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {"models": {}}
    reference = reference_data()
    for name in names:
        config = MODELS[name] if steps is None else replace(MODELS[name], steps=steps)

        def quick(model, name=name):
            m = evaluate(model, name, n=64, steps=10, device=device, reference=reference)
            return f"64 samples, 10 steps: brightness std {m['brightness_std']:.3f}, W1 {m['w1']:.3f}, FD8 {m['fd8']:.2f}"

        log(f"[{name}] training {config.steps} steps ({config.prediction_type}, "
            f"{'zero terminal SNR' if config.zero_snr else 'scaled_linear'}) on {device}")
        result = train(config, out / "checkpoints" / f"{name}.safetensors", device, disable,
                       evaluate=quick, eval_every=eval_every, log=log)
        path = out / f"{name}.safetensors"
        export_weights(result, path)
        t0 = time.perf_counter()
        final = evaluate(result.model, name, n=final_samples, device=device, reference=reference)
        manifest["models"][name] = {
            "file": path.name,
            "sha256": _sha256(path),
            "command": command or " ".join(["python -m zsnr_core", *sys.argv[1:]]),
            "config": json.loads(config.to_json()),
            "final_loss": result.history[-1][1],
            "wall_time_s": round(result.wall_time_s, 1),
            "device": str(device) if str(device) != "cpu" else f"cpu ({platform.processor() or platform.machine()}, "
                                                                  f"{torch.get_num_threads()} threads)",
            "torch": torch.__version__,
            "final_metrics": {"pipeline": OWN_PIPELINE[name], "samples": final_samples, "steps": 25, "guidance": 1.0,
                              **{k: round(v, 4) if isinstance(v, float) else v for k, v in final.items()}},
            "eval_time_s": round(time.perf_counter() - t0, 1),
        }
        manifest_path.write_text(json.dumps(manifest, indent=2) + "\n")
        log(f"[{name}] wrote {path} ({result.wall_time_s:.0f} s); final W1 {final['w1']:.3f}")
    return manifest
