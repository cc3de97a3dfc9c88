"""Training the toy UNets: ε- or v-loss on any schedule, EMA, label dropout, resumable safetensors checkpoints.

With `brightness_condition` the model also gets each image's brightness bucket (`data.brightness_bucket`), dropped
independently of the shape label (`brightness_dropout`), so one model serves p(x | shape), p(x | shape, brightness)
and p(x): sampling by shape alone stays what it was, and guidance towards "dark" or "bright" becomes possible.

`offset_noise` > 0 trains with offset noise (Guttenberg 2023; Lin et al. 2024, section 5.4): the noise of each
(sample, channel) is ε + s·δ with one δ ~ N(0, 1) shared by all its pixels, so its spatial mean varies and the model
learns to move whole-image brightness. `init_from` fine-tunes existing weights (the way offset noise was used on
Stable Diffusion); `min_timestep` restricts training to t ≥ that value (a fine-tune of the last timesteps only).

Every random draw of step k (its fresh batch of shapes, timesteps, noise and dropped labels) comes from seeds made of
(config.seed, k), so a run resumed from a checkpoint continues exactly as the uninterrupted run would have.
"""
from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, fields
from pathlib import Path

import torch

from .._checks import check_choice, check_float, check_int
from .._progress import progress
from ..losses import diffusion_loss
from ..parametrization import PREDICTION_TYPES, add_noise
from .config import JsonConfig
from .data import BRIGHTNESS_CLASSES, NUM_CLASSES, brightness_bucket, make_shapes
from .pipelines import toy_alphas_cumprod
from .safetensors_io import SafetensorsError, load_file, save_file
from .unet import TinyUNet


@dataclass(frozen=True)
class TrainConfig(JsonConfig):
    name: str
    zero_snr: bool
    prediction_type: str
    steps: int = 1200
    batch_size: int = 64
    lr: float = 2e-3
    warmup: int = 50
    ema_decay: float = 0.999
    label_dropout: float = 0.1
    size: int = 32
    widths: tuple[int, ...] = (32, 64, 64)
    seed: int = 0
    brightness_condition: bool = False
    brightness_dropout: float = 0.5
    min_snr_gamma: float | None = None  # None: λ_t = 1 (the paper's); else Min-SNR-γ weights (losses.loss_weight)
    offset_noise: float = 0.0  # s of the offset noise ε + s·δ; the paper (section 5.4) writes 0.1
    init_from: str | None = None  # fine-tune: the weights it starts from (a shipped model's name, for the record)
    min_timestep: int = 0  # t is drawn uniformly from [min_timestep, T)
    min_snr_floor: float = 0.0  # with min_snr_gamma: the least weight where SNR < γ (1: λ_t = 1 at t = T, §5.2)

    def __post_init__(self):
        check_choice("prediction_type", self.prediction_type, PREDICTION_TYPES)
        check_int("steps", self.steps, 1)
        check_int("batch_size", self.batch_size, 1)
        check_int("warmup", self.warmup, 0, fix="0 starts at the full learning rate")
        check_int("size", self.size, 8, 512, fix="the toy images are small; 32 is the default")
        check_int("seed", self.seed, 0, 2**63 - 1)
        if not isinstance(self.brightness_condition, bool):
            raise TypeError(f"brightness_condition must be true or false, got {self.brightness_condition!r}")
        check_float("lr", self.lr, 0.0, 1.0)
        check_float("ema_decay", self.ema_decay, 0.0, 1.0)
        check_float("label_dropout", self.label_dropout, 0.0, 1.0)
        check_float("brightness_dropout", self.brightness_dropout, 0.0, 1.0)
        if not (isinstance(self.widths, tuple) and self.widths
                and all(isinstance(w, int) and w > 0 and w % 8 == 0 for w in self.widths)):
            raise ValueError(f"widths must be a tuple of positive multiples of 8 (GroupNorm uses 8 groups), got "
                             f"{self.widths!r}; the default is (32, 64, 64)")
        check_float("offset_noise", self.offset_noise, 0.0, 10.0, fix="0 is plain noise; the paper's is 0.1")
        check_int("min_timestep", self.min_timestep, 0, 999, fix="0 trains every timestep of the 1000")
        if self.min_snr_gamma is not None and check_float("min_snr_gamma", self.min_snr_gamma, 0.0) == 0.0:
            raise ValueError("min_snr_gamma must be > 0 or None (λ_t = 1), got 0; the shipped models use 5")
        if check_float("min_snr_floor", self.min_snr_floor, 0.0, 1.0) and self.min_snr_gamma is None:
            raise ValueError(f"min_snr_floor={self.min_snr_floor} needs min_snr_gamma (without it λ_t = 1 already)")


def unet_for(config: TrainConfig, num_classes: int = NUM_CLASSES) -> TinyUNet:
    """The (untrained) network that `config` describes."""
    return TinyUNet(3, config.widths, num_classes,
                    num_brightness=len(BRIGHTNESS_CLASSES) if config.brightness_condition else 0)


def build_model(config: TrainConfig, num_classes: int = NUM_CLASSES) -> TinyUNet:
    torch.manual_seed(config.seed)
    return unet_for(config, num_classes)


def _lr(config: TrainConfig, step: int) -> float:
    """Linear warm-up, then cosine decay to a tenth of the peak."""
    if step < config.warmup:
        return config.lr * (step + 1) / config.warmup
    progress = (step - config.warmup) / max(1, config.steps - config.warmup)
    return config.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0))))


def offset(noise: torch.Tensor, strength: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """Offset noise (Guttenberg 2023): noise + strength·δ, one δ ~ N(0, 1) per (sample, channel) for all pixels.

    The spatial mean of each channel then has variance strength² + 1/(H·W) instead of 1/(H·W): with H = W = 32 and
    strength 0.1, 0.011 instead of 0.001, so whole-image brightness is no longer nearly fixed by the noise.
    Strength 0 returns `noise` itself and draws nothing."""
    if strength == 0:
        return noise
    delta = torch.randn((*noise.shape[:2], *([1] * (noise.dim() - 2))), generator=generator)
    return noise + strength * delta.to(noise.device, noise.dtype)


def _batch(config: TrainConfig, step: int, alphas_cumprod: torch.Tensor, num_classes: int, device):
    seed = (config.seed + 1) * 10_000_000 + step  # never the reference set's seed 0
    data = make_shapes(config.batch_size, config.size, seed=seed)
    g = torch.Generator().manual_seed(seed)
    t = torch.randint(config.min_timestep, len(alphas_cumprod), (config.batch_size,), generator=g)
    noise = torch.randn(data.images.shape, generator=g)
    drop = torch.rand(config.batch_size, generator=g) < config.label_dropout
    labels = torch.where(drop, num_classes, data.labels)
    bright = None
    if config.brightness_condition:  # drawn after the draws above, so those stay what they were without it
        drop_b = torch.rand(config.batch_size, generator=g) < config.brightness_dropout
        bright = torch.where(drop_b, len(BRIGHTNESS_CLASSES), brightness_bucket(data.images)).to(device)
    # drawn last, so that a run with and one without offset noise (same seed) see the same images, t, ε and labels
    noise = offset(noise, config.offset_noise, g)
    return data.images.to(device), noise.to(device), t.to(device), labels.to(device), bright, alphas_cumprod[t]


def _save_checkpoint(path: Path, model, ema, optimizer, config: TrainConfig, step: int, history: list, wall: float):
    tensors = {f"model.{k}": v for k, v in model.state_dict().items()}
    tensors.update({f"ema.{k}": v for k, v in ema.state_dict().items()})
    for i, state in optimizer.state_dict()["state"].items():
        for k, v in state.items():
            tensors[f"optim.{i}.{k}"] = torch.as_tensor(v)
    save_file(tensors, path, {"config": config.to_json(), "step": str(step), "history": json.dumps(history),
                              "wall_time_s": f"{wall:.1f}"})


def _load_checkpoint(path: Path, model, ema, optimizer, config: TrainConfig):
    try:
        tensors, meta = load_file(path)
        saved = TrainConfig.from_json(meta["config"])
    except (SafetensorsError, KeyError, TypeError, ValueError) as err:
        raise ValueError(f"checkpoint {path} cannot be read ({err}): a run interrupted while writing it leaves it "
                         "truncated; delete it to start over (or pass another checkpoint path)") from None
    differ = [f"{f.name} = {getattr(saved, f.name)!r} there, {getattr(config, f.name)!r} now"
              for f in fields(TrainConfig) if f.name != "steps" and getattr(saved, f.name) != getattr(config, f.name)]
    if differ:
        raise ValueError(f"checkpoint {path} was trained with another config ({'; '.join(differ)}); resume with the "
                         "same settings, or delete it (or pass another checkpoint path) to start over")
    model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
    ema.load_state_dict({k[4:]: v for k, v in tensors.items() if k.startswith("ema.")})
    state = optimizer.state_dict()
    for key, v in tensors.items():
        if key.startswith("optim."):
            _, i, k = key.split(".", 2)
            state["state"].setdefault(int(i), {})[k] = v
    optimizer.load_state_dict(state)
    return int(meta["step"]), json.loads(meta["history"]), float(meta["wall_time_s"])


@dataclass
class TrainResult:
    model: TinyUNet  # the EMA weights, in eval mode
    config: TrainConfig
    history: list  # [step, mean loss over the last `log_every` steps]
    wall_time_s: float


def train(config: TrainConfig, checkpoint: str | Path | None = None, device="cpu", disable: bool | None = None,
          checkpoint_every: int = 250, log_every: int = 25, evaluate=None, eval_every: int = 0,
          log=print, until: int | None = None, init: dict | None = None) -> TrainResult:
    """Train `config`, resuming from `checkpoint` when it exists; returns the EMA model.

    `until` stops after that step (a checkpoint is written there), to split a long run into sessions.

    `init` (a state dict; required when `config.init_from` is set, refused otherwise) is where both the model and
    its EMA start: a fine-tune. A checkpoint, when there is one, takes precedence (it already holds the fine-tune).

    `evaluate(ema_model) -> str`, if given, runs every `eval_every` steps and its line is logged.
    """
    ac = toy_alphas_cumprod(config.zero_snr)
    num_classes = NUM_CLASSES
    model = build_model(config, num_classes).to(device)
    ema = build_model(config, num_classes).to(device)
    if (init is None) != (config.init_from is None):
        raise ValueError(f"[{config.name}] init_from is {config.init_from!r} but init weights were "
                         f"{'not ' if init is None else ''}given; pass both (a fine-tune) or neither")
    if init is not None:
        model.load_state_dict(init)
    ema.load_state_dict(model.state_dict())
    ema.requires_grad_(False)
    fused = torch.device(device).type == "cuda"  # one kernel per step instead of one per tensor
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=0.0, fused=fused or None)
    start, history, wall = 0, [], 0.0
    checkpoint = Path(checkpoint) if checkpoint is not None else None
    if checkpoint is not None and checkpoint.exists():
        start, history, wall = _load_checkpoint(checkpoint, model, ema, optimizer, config)
        if start > config.steps:
            raise ValueError(f"checkpoint {checkpoint} is at step {start}, past the {config.steps} steps asked for; "
                             "ask for at least as many steps, or delete it to start over")
        log(f"[{config.name}] resumed at step {start} from {checkpoint}")
    stop = config.steps if until is None else min(config.steps, check_int("until", until, 1))
    bar = progress(max(0, stop - start), disable)
    window, t0 = [], time.perf_counter()
    for i in bar:
        step = start + i
        for group in optimizer.param_groups:
            group["lr"] = _lr(config, step)
        x0, noise, t, labels, bright, ab = _batch(config, step, ac, num_classes, device)
        out = model(add_noise(x0, noise, ab), t, labels, bright)
        loss = diffusion_loss(out, x0, noise, ab, config.prediction_type, config.min_snr_gamma, config.min_snr_floor)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"[{config.name}] loss became {loss.item()} at step {step}; lower lr ({config.lr})")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        decay = min(config.ema_decay, (1 + step) / (10 + step))
        with torch.no_grad():
            torch._foreach_lerp_(list(ema.parameters()), list(model.parameters()), 1 - decay)
        window.append(loss.item())
        done = step + 1
        if done % log_every == 0 or done == config.steps:
            history.append([done, sum(window) / len(window)])
            window = []
            if hasattr(bar, "set_postfix"):
                bar.set_postfix(loss=f"{history[-1][1]:.4f}")
        if evaluate is not None and eval_every and (done % eval_every == 0 or done == config.steps):
            ema.eval()
            log(f"[{config.name}] step {done}: loss {history[-1][1]:.4f}, {evaluate(ema)}")
        if checkpoint is not None and (done % checkpoint_every == 0 or done == stop):
            _save_checkpoint(checkpoint, model, ema, optimizer, config, done,
                             history, wall + time.perf_counter() - t0)
    ema.eval()
    return TrainResult(ema, config, history, wall + time.perf_counter() - t0)


def export_weights(result: TrainResult, path: str | Path, metadata: dict[str, str] | None = None) -> None:
    """The EMA weights and the config as a standalone safetensors file (what the demo loads)."""
    meta = {"format": "zsnr-toy-unet/1", "config": result.config.to_json(), **(metadata or {})}
    save_file(result.model.state_dict(), path, meta)
