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

from ..guidance import rescale_cfg
from .classifier import (
    HELD_OUT_SEED,
    HELD_OUT_SIZE,
    ClassifierConfig,
    ShapeClassifier,
    accuracy,
    held_out_data,
    load_classifier,
    predict,
    save_classifier,
    train_classifier,
)
from .data import BRIGHTNESS_CLASSES, brightness_bucket, make_shapes
from .experiments import shape_scores
from .ideal import IdealDenoiser
from .metrics import class_accuracy, frechet_distance, frechet_distance8, inception_score
from .pipelines import guided, schedule
from .safetensors_io import SafetensorsError, load_file
from .train import TrainConfig, export_weights, train, unet_for
from .unet import TinyUNet

WEIGHTS_DIR = Path(__file__).with_name("weights")
RETRAIN_COMMAND = "python -m zsnr_core train --out {out}"
RETRAIN_CLASSIFIER_COMMAND = "python -m zsnr_core train-classifier --out {out}"
REFERENCE_SEED, REFERENCE_SIZE = 0, 4096  # the data set that metrics compare against and the ideal denoiser uses

# The shared recipe of both shipped models (apart from the paper's fixes): 6000 steps of 128 fresh images, Min-SNR-5
# loss weights, the optional brightness condition. Chosen by benchmarks/train_search.py among the candidates that
# manifest.json's "search" records: with λ_t = 1 the v-model drew shapes worse than the ε-model (0.90 vs 0.99 class
# accuracy at w = 3); with Min-SNR-5, which gives both models the same x̂₀ weight min(SNR, 5), it drew them better.
RECIPE = {"steps": 6000, "batch_size": 128, "min_snr_gamma": 5.0, "brightness_condition": True}
MODELS = {
    "flawed": TrainConfig("flawed", zero_snr=False, prediction_type="epsilon", **RECIPE),
    "fixed": TrainConfig("fixed", zero_snr=True, prediction_type="v_prediction", **RECIPE),
}
# Section 5.4 from scratch: the flawed model's recipe with offset noise of strength 0.1 (Guttenberg 2023), nothing
# else changed. The offset is drawn after every other draw of a batch, so with the same seed it sees the same images,
# timesteps, noise and labels as the flawed model: what differs between the two is the offset alone.
EXPERIMENTS = {"offset": replace(MODELS["flawed"], name="offset", offset_noise=0.1)}
# Fine-tunes of a shipped model, each a separate file (the shipped ones stay as they are). "offset_ft" is section 5.4
# the way Stable Diffusion fine-tunes used offset noise: the flawed model fine-tuned with it; "offset_ft_control" is
# the same fine-tune without it (same steps, lr and batches), so that what differs between the two is the offset
# alone. Seed 1 gives them batches the flawed model never saw (it used seed 0's). 150 steps of 128 images (19 200,
# 2.5 % of the flawed model's training): what fitted both runs in about half an hour on a 2-core CPU shared with
# other work; on a GPU each takes seconds.
FINETUNE = {"steps": 150, "lr": 1e-3, "warmup": 20, "seed": 1}
# Section 5.2: the fixed model's Min-SNR-5 weights give the v-loss weight ᾱ → 0 at t = T, so its first prediction
# still follows the noise. "fixed_ft" fine-tunes it with that weight raised to 1 where SNR < 5 (λ_t = 1 there, the
# paper's; the low-noise end keeps its Min-SNR cap), on every timestep so that the rest of the model is held in place
# (the last 100 timesteps alone, λ_t = 1: the coefficient fell from 0.19 to 0.06 in 200 steps but shape accuracy
# from 0.99 to 0.83 and W1 rose from 0.11 to 0.26, 128 samples). 1600 steps (17 min on a 2-core CPU): the coefficient
# goes 0.19 -> 0.076 / 0.055 / 0.042 after 400 / 800 / 1600 steps and the guided first x̂_0 reaches the exact one, but
# the closer the model gets to section 5.2, the less Rescale CFG cures over-exposure of images asked to be bright
# (docs/offset-noise.md measures the trade-off); the demo keeps "fixed".
FINETUNES = {
    "offset_ft": replace(MODELS["flawed"], name="offset_ft", init_from="flawed", offset_noise=0.1, **FINETUNE),
    "offset_ft_control": replace(MODELS["flawed"], name="offset_ft_control", init_from="flawed", **FINETUNE),
    "fixed_ft": replace(MODELS["fixed"], name="fixed_ft", init_from="fixed", min_snr_floor=1.0, steps=1600, lr=5e-4,
                        warmup=20, seed=1),
}
OWN_PIPELINE = {"flawed": "sd", "fixed": "zsnr_v_trailing",  # how a model is sampled when it is evaluated alone
                "offset": "sd", "offset_ft": "sd", "offset_ft_control": "sd", "fixed_ft": "zsnr_v_trailing"}


def reference_data():
    return make_shapes(REFERENCE_SIZE, seed=REFERENCE_SEED)


def fd8_floor(n: int, reference=None) -> float:
    """FD₈ of `n` fresh data images (seed 1) against the reference set: a perfect sampler's score at that size."""
    reference = reference_data() if reference is None else reference
    return frechet_distance8(make_shapes(n, seed=REFERENCE_SEED + 1).images, reference.images)


CLASSIFIER_FILE = "classifier.safetensors"


def shipped_classifier(directory: str | Path = WEIGHTS_DIR, device="cpu", verify: bool = True) -> ShapeClassifier:
    """The classifier behind class accuracy, IS and toy-FID (`python -m zsnr_core train-classifier`), checked
    against its manifest's sha256 unless verify=False."""
    path = Path(directory) / CLASSIFIER_FILE
    if verify and path.is_file():
        verify_weights(path, RETRAIN_CLASSIFIER_COMMAND)
    return load_classifier(path, device)[0]


def reference_features(classifier: ShapeClassifier, reference=None) -> torch.Tensor:
    """The classifier's features of the reference set, the other side of every toy-FID."""
    reference = reference_data() if reference is None else reference
    return predict(classifier, reference.images)[1]


def fid_floor(n: int, classifier: ShapeClassifier, reference=None, features=None) -> float:
    """Toy-FID of `n` fresh data images (seed 1) against the reference set: a perfect sampler's score at that size."""
    features = reference_features(classifier, reference) if features is None else features
    return frechet_distance(predict(classifier, make_shapes(n, seed=REFERENCE_SEED + 1).images)[1], features)


def load_model(path: str | Path, device="cpu", verify: bool = True) -> tuple[TinyUNet, TrainConfig]:
    """A shipped or retrained toy model, from safetensors only; errors name the command that rebuilds it.

    With verify=True (the default) the file must match the sha256 that manifest.json beside it records for it
    (`train_models` writes both); verify=False loads a file that has no manifest or was changed on purpose.
    """
    path = Path(path)
    fix = f"rebuild it with `{RETRAIN_COMMAND.format(out=path.parent)}` (minutes on a GPU; hours on a CPU)"
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
        model = unet_for(config)
        model.load_state_dict(tensors)
    except (SafetensorsError, KeyError, RuntimeError, TypeError, ValueError) as err:
        raise FileNotFoundError(f"cannot load the toy model {path}: {err}; {fix}") from None
    return model.to(device).eval(), config


def verify_weights(path: str | Path, rebuild: str = RETRAIN_COMMAND) -> None:
    """Raise ValueError unless `path` has the sha256 that manifest.json in its folder records for its file name.

    Hashing a 3 MB file takes milliseconds; a damaged or swapped file is caught here, naming the file and the
    rebuild command, instead of surfacing as NaN samples later.
    """
    path = Path(path)
    manifest = path.parent / "manifest.json"
    fix = (f"rebuild it with `{rebuild.format(out=path.parent)}`, or load it unchecked "
           "(verify=False; --no-verify on the command line) if you changed it on purpose")
    try:
        entries = json.loads(manifest.read_text())["models"].values()
    except FileNotFoundError:
        raise ValueError(f"cannot check {path}: there is no manifest.json beside it; {fix}") from None
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as err:
        raise ValueError(f"cannot check {path}: {manifest} is not a readable manifest ({err}); {fix}") from None
    entry = next((e for e in entries if isinstance(e, dict) and e.get("file") == path.name), None)
    if entry is None or not isinstance(entry.get("sha256"), str):
        what = "no sha256" if entry is None or "sha256" not in entry else f"sha256 {entry['sha256']!r}, not a hex string,"
        raise ValueError(f"cannot check {path}: {manifest} records {what} for {path.name}; {fix}")
    digest = _sha256(path)
    if digest != entry["sha256"]:
        raise ValueError(f"{path} is damaged or replaced: its sha256 is {digest[:16]}…, {manifest.name} records "
                         f"{entry['sha256'][:16]}…; {fix}")


def load_models(directory: str | Path = WEIGHTS_DIR, device="cpu", verify: bool = True) -> dict[str, TinyUNet]:
    """The models of MODELS from `directory`. Each file's own config must be the one of its name (the name, the
    prediction type, zero SNR), also with verify=False, which skips the hash, not the identity: two swapped files
    would otherwise sample an ε-model as v."""
    models = {}
    for name, expected in MODELS.items():
        path = Path(directory) / f"{name}.safetensors"
        models[name], config = load_model(path, device, verify)
        held = (config.name, config.prediction_type, config.zero_snr)
        if held != (expected.name, expected.prediction_type, expected.zero_snr):
            raise ValueError(
                f"{path} holds the model {config.name!r} ({config.prediction_type}, zero SNR {config.zero_snr}), not "
                f"{name!r} ({expected.prediction_type}, zero SNR {expected.zero_snr}); put each file under its own "
                f"name, or rebuild them with `{RETRAIN_COMMAND.format(out=path.parent)}`")
    return models


def evaluate(model, name: str, n: int = 256, steps: int = 25, device="cpu", reference=None, classifier=None,
             guidance_scale: float = 1.0) -> dict:
    """Metrics of `model` sampled along its own pipeline against the reference data (with `classifier`: class
    accuracy, IS and toy-FID too)."""
    reference = reference_data() if reference is None else reference
    features = reference_features(classifier, reference) if classifier is not None else None
    return shape_scores(model, OWN_PIPELINE[name], n, steps, guidance_scale, reference, device=device,
                        classifier=classifier, features=features)


def terminal_prediction(model, n: int = 64, seed: int = 0, reference=None, device="cpu") -> dict:
    """Section 5.2 on a zero-SNR v-model: how much its first prediction, at t = T, still depends on the noise.

    At ᾱ_T = 0, x_T = ε carries no signal, so the exact v̂ = -E[x_0 | class] whatever the noise (and x̂_0 = -v̂):
    the variation between samples starts at the second step (the paper's Figure 5). For `n` noises per class
    (shape label, brightness left out), returns for the model and for the exact denoiser of the reference data:
    - coef: the least-squares coefficient of v̂ - v̂_exact on x_T (pooled over samples and pixels); 0 ideally;
    - residual: |v̂ - v̂_exact - coef·x_T| / |x_T|, what is left after that; 0 ideally;
    - spread: the std of x̂_0 across the noises, per pixel and class, averaged; 0 ideally;
    - brightness_spread: the std across the noises of x̂_0's brightness (its mean), averaged over the classes.
    and under "data" the same two spreads of the reference images within a class: the variation the samples must end
    with, the scale against which the first prediction's spread is small or not.
    """
    reference = reference_data() if reference is None else reference
    ac = schedule(True)
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(4 * n, 3, reference.images.shape[-1], reference.images.shape[-1], generator=g)
    labels = torch.arange(4).repeat_interleave(n)
    t = torch.full((4 * n,), len(ac) - 1)
    exact = IdealDenoiser(reference, ac, "v_prediction")(x, t, labels)
    out = {}
    for name, denoiser in (("model", model), ("exact", None)):
        with torch.no_grad():
            v = exact if denoiser is None else denoiser(x.to(device), t.to(device), labels.to(device)).cpu()
        r = (v - exact).double().flatten(1)
        xf = x.double().flatten(1)
        coef = float((r * xf).sum() / xf.pow(2).sum())
        x0 = -v.double().view(4, n, -1)  # (class, noise, pixel)
        out[name] = {"coef": coef, "residual": float((r - coef * xf).norm() / xf.norm()),
                     "spread": float(x0.std(1).mean()), "brightness_spread": float(x0.mean(2).std(1).mean())}
    within = [reference.images[reference.labels == c].double().flatten(1) for c in range(4)]
    out["data"] = {"spread": sum(float(d.std(0).mean()) for d in within) / 4,
                   "brightness_spread": sum(float(d.mean(1).std()) for d in within) / 4}
    return out


def terminal_guided(model, bucket: str = "bright", guidance_scale: float = 5.0, phi: float = 0.7, n: int = 64,
                    seed: int = 0, reference=None, device="cpu") -> dict:
    """The guided first prediction at t = T, asked for brightness `bucket`: what a model that has reached section 5.2
    hands classifier-free guidance (Algorithm 2 with `phi`) at the first step.

    At ᾱ_T = 0 the exact conditional and unconditional v̂ are minus the mean images of the data (given shape and
    bucket, and given nothing: CFG's null branch drops both), so the exact guided x̂_0 = -v̂ is the mean image pushed
    `guidance_scale` times further from the data's mean and then rescaled. Returns, for `model` (n noises per class)
    and for the exact means (one image per class): the mean brightness of that x̂_0 and its share of pixels beyond ±1.
    """
    reference = reference_data() if reference is None else reference
    target = BRIGHTNESS_CLASSES.index(bucket)
    images, labels, buckets = reference.images.double(), reference.labels, brightness_bucket(reference.images)
    classes = torch.arange(4)
    means = torch.stack([images[(labels == c) & (buckets == target)].mean(0) for c in classes])
    exact = -rescale_cfg(-means, -images.mean(0, keepdim=True).expand_as(means), guidance_scale, phi)
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(4 * n, *images.shape[1:], generator=g).to(device)
    asked = classes.repeat_interleave(n).to(device)
    cfg = guided(model, asked, guidance_scale, phi, 4, torch.full_like(asked, target))
    with torch.no_grad():
        x0 = -cfg(x, torch.full_like(asked, len(schedule(True)) - 1)).double().cpu()
    return {who: {"brightness": float(v.mean()), "beyond": float((v.abs() > 1).double().mean())}
            for who, v in (("model", x0), ("exact", exact))}


def _rounded(metrics: dict) -> dict:
    return {k: round(v, 4) if isinstance(v, float) else v for k, v in metrics.items()}


def _classifier_for(out: Path, device):
    """The classifier in `out` if there is one, else the shipped one, else None (metrics without it)."""
    for directory in (out, WEIGHTS_DIR):
        if (directory / CLASSIFIER_FILE).exists():
            return shipped_classifier(directory, device)
    return None


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _device_name(device) -> str:
    if str(device) == "cpu":
        return f"cpu ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"
    return f"{device} ({torch.cuda.get_device_name(device)})" if torch.device(device).type == "cuda" else str(device)


def _manifest(out: Path) -> tuple[Path, dict]:
    path = out / "manifest.json"
    return path, (json.loads(path.read_text()) if path.exists() else {"models": {}})


def train_models(names, out: str | Path, steps: int | None = None, device="cpu", disable=None, log=print,
                 eval_every: int = 250, command: str | None = None, final_samples: int = 256,
                 overrides: dict | None = None) -> dict:
    """Train `names` into `out` (resuming from out/checkpoints/), export the EMA weights, update out/manifest.json.

    `overrides` replaces fields of the shipped configs (the same for every model: the recipe stays shared). With a
    classifier in `out` or the shipped one, the final metrics include class accuracy, IS and toy-FID at w = 1, 3."""
    out = Path(out)
    (out / "checkpoints").mkdir(parents=True, exist_ok=True)
    manifest_path, manifest = _manifest(out)
    reference = reference_data()
    for name in names:
        config = replace({**MODELS, **EXPERIMENTS, **FINETUNES}[name], **(overrides or {}))  # looked up now: tests patch them
        config = config if steps is None else replace(config, steps=steps)
        init, start = None, {}
        if config.init_from is not None:  # a fine-tune starts from `out`'s model of that name, else the shipped one
            start_path = out / f"{config.init_from}.safetensors"
            start_path = start_path if start_path.is_file() else WEIGHTS_DIR / start_path.name
            init = load_model(start_path, device)[0].state_dict()
            start = {"init_from": {"file": start_path.name, "sha256": _sha256(start_path)}}

        def quick(model, name=name):
            m = evaluate(model, name, n=64, steps=10, device=device, reference=reference)
            return f"64 samples, 10 steps: brightness std {m['brightness_std']:.3f}, W1 {m['w1']:.3f}, FD8 {m['fd8']:.2f}"

        log(f"[{name}] training {config.steps} steps ({config.prediction_type}, "
            f"{'zero terminal SNR' if config.zero_snr else 'scaled_linear'}) on {device}")
        result = train(config, out / "checkpoints" / f"{name}.safetensors", device, disable,
                       evaluate=quick, eval_every=eval_every, log=log, init=init)
        path = out / f"{name}.safetensors"
        export_weights(result, path)
        t0 = time.perf_counter()
        classifier = _classifier_for(out, device)  # looked up now: a search may put one beside the models meanwhile
        final = evaluate(result.model, name, n=final_samples, device=device, reference=reference,
                         classifier=classifier)
        guided3 = evaluate(result.model, name, n=final_samples, device=device, reference=reference,
                           classifier=classifier, guidance_scale=3.0)
        manifest["models"][name] = {
            "file": path.name,
            "sha256": _sha256(path),
            "command": command or " ".join(["python -m zsnr_core", *sys.argv[1:]]),
            "config": json.loads(config.to_json()),
            **start,
            "final_loss": result.history[-1][1],
            "wall_time_s": round(result.wall_time_s, 1),
            "device": _device_name(device),
            "torch": torch.__version__,
            "final_metrics": {"pipeline": OWN_PIPELINE[name], "samples": final_samples, "steps": 25, "guidance": 1.0,
                              **_rounded(final)},
            "final_metrics_w3": {"pipeline": OWN_PIPELINE[name], "samples": final_samples, "steps": 25,
                                 "guidance": 3.0, "phi": 0.0, **_rounded(guided3)},
            "eval_time_s": round(time.perf_counter() - t0, 1),
        }
        manifest_path.write_text(json.dumps(manifest, indent=2) + "\n")
        log(f"[{name}] wrote {path} ({result.wall_time_s:.0f} s); final W1 {final['w1']:.3f}")
    return manifest


def train_classifier_model(out: str | Path, config: ClassifierConfig | None = None, device="cpu",
                           disable=None, log=print, command: str | None = None) -> dict:
    """Train the shape classifier into out/classifier.safetensors and record it in out/manifest.json, with its
    held-out accuracy and the reference data's own scores (the ceiling of every sampler's)."""
    out, config = Path(out), config or ClassifierConfig()
    out.mkdir(parents=True, exist_ok=True)
    log(f"[classifier] training {config.steps} steps on {device}")
    model, seconds, _ = train_classifier(config, device, disable)
    path = out / CLASSIFIER_FILE
    save_classifier(model, config, path)
    reference, held_out = reference_data(), held_out_data()
    probs, _ = predict(model, reference.images)
    manifest_path, manifest = _manifest(out)
    manifest["models"]["classifier"] = {
        "file": path.name,
        "sha256": _sha256(path),
        "command": command or " ".join(["python -m zsnr_core", *sys.argv[1:]]),
        "config": json.loads(config.to_json()),
        "held_out_accuracy": round(accuracy(model, held_out), 4),
        "held_out": f"make_shapes({HELD_OUT_SIZE}, seed={HELD_OUT_SEED})",
        "reference_accuracy": round(class_accuracy(probs, reference.labels), 4),
        "reference_inception": round(inception_score(probs), 4),
        "wall_time_s": round(seconds, 1),
        "device": _device_name(device),
        "torch": torch.__version__,
    }
    manifest_path.write_text(json.dumps(manifest, indent=2) + "\n")
    log(f"[classifier] wrote {path} ({seconds:.0f} s); held-out accuracy "
        f"{manifest['models']['classifier']['held_out_accuracy']:.4f}")
    return manifest
