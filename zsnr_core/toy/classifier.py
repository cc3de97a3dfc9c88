"""A small shape classifier of the toy images: the learned feature network behind class accuracy, IS and toy-FID.

FID and IS (Heusel et al. 2017; Salimans et al. 2016) score samples through an Inception network trained on real
images; the toy has no such network to download, so this one is trained here, on the toy data, by
`python -m zsnr_core train-classifier`. It sees shape, which FD₈ (8 × 8 pooling) cannot: four conv layers
(32 → 16 → 8 → 4), a global average pool to `FEATURES` numbers (the penultimate features toy-FID is computed on)
and a linear head over the four classes (the softmax IS is computed on). Batch normalisation speeds training (a
plain stack learnt half as fast in a measured 300-step run); in eval mode it is a fixed affine map per channel, so
the features keep the images' brightness and colour. Samples are clipped to [-1, 1] first, as a viewer shows them.

Training uses fresh images every step (seeds apart from the reference set's and the UNets'), with a little Gaussian
noise so that the slight grain of diffusion samples does not throw it; accuracy is measured on a held-out set.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from .._checks import check_float, check_int
from .._progress import progress
from .config import JsonConfig
from .data import CLASSES, make_shapes
from .safetensors_io import SafetensorsError, load_file, save_file

FEATURES = 64
FORMAT = "zsnr-toy-classifier/1"
HELD_OUT_SEED, HELD_OUT_SIZE = 2, 4096  # the held-out set (seed 0 is the reference set, 1 the FD floor's)
TRAIN_SEED_BASE = 50_000_000  # step k trains on make_shapes(batch, seed=TRAIN_SEED_BASE + k): never 0, 1, 2


class ShapeClassifier(nn.Module):
    """classifier(images) → logits (B, 4); `features(images)` → the (B, FEATURES) penultimate layer."""

    def __init__(self, channels: int = 3, width: int = 32, num_classes: int = len(CLASSES)):
        super().__init__()
        self.config = {"channels": channels, "width": width, "num_classes": num_classes}
        self.body = nn.Sequential(
            nn.Conv2d(channels, width, 3, padding=1), nn.BatchNorm2d(width), nn.SiLU(),
            nn.Conv2d(width, width, 3, stride=2, padding=1), nn.BatchNorm2d(width), nn.SiLU(),  # 16 × 16
            nn.Conv2d(width, 2 * width, 3, stride=2, padding=1), nn.BatchNorm2d(2 * width), nn.SiLU(),  # 8 × 8
            nn.Conv2d(2 * width, FEATURES, 3, stride=2, padding=1), nn.SiLU(),  # 4 × 4
        )
        self.head = nn.Linear(FEATURES, num_classes)

    def features(self, images: torch.Tensor) -> torch.Tensor:
        return self.body(images.clamp(-1, 1)).mean(dim=(2, 3))  # (B, FEATURES)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(images))


@dataclass(frozen=True)
class ClassifierConfig(JsonConfig):
    steps: int = 4000
    batch_size: int = 128
    lr: float = 3e-3
    noise: float = 0.1  # std of the Gaussian noise added to training images (a random share of it per image)
    width: int = 32
    seed: int = 0

    def __post_init__(self):
        check_int("steps", self.steps, 1)
        check_int("batch_size", self.batch_size, 1)
        check_float("lr", self.lr, 0.0, 1.0)
        check_float("noise", self.noise, 0.0, 1.0)


def held_out_data():
    return make_shapes(HELD_OUT_SIZE, seed=HELD_OUT_SEED)


@torch.no_grad()
def predict(classifier: ShapeClassifier, images: torch.Tensor, batch: int = 1024) -> tuple[torch.Tensor, torch.Tensor]:
    """Softmax probabilities (N, 4) and features (N, FEATURES) of `images`, in float64 on the CPU."""
    device = next(classifier.parameters()).device
    probs, feats = [], []
    for chunk in images.split(batch):
        f = classifier.features(chunk.to(device, torch.float32))
        probs.append(torch.softmax(classifier.head(f), dim=1).double().cpu())
        feats.append(f.double().cpu())
    return torch.cat(probs), torch.cat(feats)


def accuracy(classifier: ShapeClassifier, data) -> float:
    probs, _ = predict(classifier, data.images)
    return float((probs.argmax(1) == data.labels).double().mean())


def train_classifier(config: ClassifierConfig = ClassifierConfig(), device="cpu", disable: bool | None = None):
    """Train a ShapeClassifier with AdamW and a cosine learning rate; returns (model in eval mode, seconds, losses),
    the last being the training loss of every step."""
    torch.manual_seed(config.seed)
    model = ShapeClassifier(3, config.width).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=1e-4)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, config.steps)
    t0, losses = time.perf_counter(), []
    bar = progress(config.steps, disable)
    for step in bar:
        seed = TRAIN_SEED_BASE + config.seed * 1_000_000 + step
        data = make_shapes(config.batch_size, seed=seed)
        g = torch.Generator().manual_seed(seed)
        scale = config.noise * torch.rand(config.batch_size, 1, 1, 1, generator=g)
        images = data.images + scale * torch.randn(data.images.shape, generator=g)
        loss = F.cross_entropy(model(images.to(device)), data.labels.to(device))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        losses.append(loss.item())
        if hasattr(bar, "set_postfix") and step % 50 == 0:
            bar.set_postfix(loss=f"{loss.item():.4f}")
    return model.eval(), time.perf_counter() - t0, losses


def save_classifier(model: ShapeClassifier, config: ClassifierConfig, path: str | Path) -> None:
    save_file({k: v.detach().cpu() for k, v in model.state_dict().items()}, path,
              {"format": FORMAT, "config": config.to_json()})


def load_classifier(path: str | Path, device="cpu") -> tuple[ShapeClassifier, ClassifierConfig]:
    """The shipped or retrained classifier, from safetensors only; errors name the command that rebuilds it."""
    path = Path(path)
    fix = f"rebuild it with `python -m zsnr_core train-classifier --out {path.parent}` (about a minute on a GPU)"
    try:
        tensors, meta = load_file(path)
        if meta.get("format") != FORMAT:
            raise SafetensorsError(f"{path} is not a zsnr toy classifier (format {meta.get('format')!r})")
        config = ClassifierConfig.from_json(meta["config"])
        model = ShapeClassifier(3, config.width)
        model.load_state_dict(tensors)
    except (SafetensorsError, KeyError, RuntimeError, TypeError, ValueError) as err:
        raise FileNotFoundError(f"cannot load the toy classifier {path}: {err}; {fix}") from None
    return model.to(device).eval(), config
