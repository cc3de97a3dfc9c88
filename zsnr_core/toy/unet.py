"""A small UNet for the toy images: time and class embeddings, a null class for classifier-free guidance.

Three resolutions (32 → 16 → 8 for 32 × 32 inputs), one residual block per level on each side plus two in the
middle, GroupNorm + SiLU, no attention: about 0.4M parameters at the default widths. It predicts whatever it is
trained on (ε, v or x_0); the prediction type is a property of the checkpoint, not of the network.

An optional second condition, the brightness bucket (`num_brightness` > 0: dark / mid / bright), has its own
embedding with its own null value, added to the time and class embeddings; either condition can be left out.
"""
from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from .data import NUM_CLASSES


def timestep_embedding(t: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """Sinusoidal embedding of integer timesteps t (B,) → (B, dim), as in DDPM."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    args = t.float().view(-1, 1) * freqs.view(1, -1)
    return torch.cat([args.cos(), args.sin()], dim=1)


class ResBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, emb_dim: int):
        super().__init__()
        self.norm1, self.conv1 = nn.GroupNorm(8, c_in), nn.Conv2d(c_in, c_out, 3, padding=1)
        self.emb = nn.Linear(emb_dim, c_out)
        self.norm2, self.conv2 = nn.GroupNorm(8, c_out), nn.Conv2d(c_out, c_out, 3, padding=1)
        self.skip = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x, emb):
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.emb(emb)[:, :, None, None]
        h = self.conv2(F.silu(self.norm2(h)))
        return self.skip(x) + h


class TinyUNet(nn.Module):
    """model(x_t, t, labels, brightness) → output of x_t's shape; labels == num_classes is the null (unconditional)
    class, brightness == num_brightness the null bucket; None means null for either."""

    def __init__(self, channels: int = 3, widths: tuple[int, ...] = (32, 64, 64), num_classes: int = NUM_CLASSES,
                 emb_dim: int = 128, num_brightness: int = 0):
        super().__init__()
        self.config = {"channels": channels, "widths": list(widths), "num_classes": num_classes, "emb_dim": emb_dim,
                       "num_brightness": num_brightness}
        self.num_classes, self.num_brightness = num_classes, num_brightness
        self.time_mlp = nn.Sequential(nn.Linear(emb_dim, emb_dim), nn.SiLU(), nn.Linear(emb_dim, emb_dim))
        self.label_emb = nn.Embedding(num_classes + 1, emb_dim)
        self.brightness_emb = nn.Embedding(num_brightness + 1, emb_dim) if num_brightness else None
        self.stem = nn.Conv2d(channels, widths[0], 3, padding=1)
        self.down_blocks, self.downsamples = nn.ModuleList(), nn.ModuleList()
        c = widths[0]
        for i, w in enumerate(widths):
            self.down_blocks.append(ResBlock(c, w, emb_dim))
            c = w
            if i < len(widths) - 1:
                self.downsamples.append(nn.Conv2d(c, c, 3, stride=2, padding=1))
        self.mid = nn.ModuleList([ResBlock(c, c, emb_dim), ResBlock(c, c, emb_dim)])
        self.up_blocks = nn.ModuleList()
        for w in reversed(widths):
            self.up_blocks.append(ResBlock(c + w, w, emb_dim))
            c = w
        self.out_norm, self.out = nn.GroupNorm(8, c), nn.Conv2d(c, channels, 3, padding=1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, x: torch.Tensor, t: torch.Tensor, labels: torch.Tensor | None = None,
                brightness: torch.Tensor | None = None) -> torch.Tensor:
        if labels is None:
            labels = torch.full((x.shape[0],), self.num_classes, dtype=torch.long, device=x.device)
        emb = self.time_mlp(timestep_embedding(t, self.label_emb.embedding_dim)) + self.label_emb(labels)  # (B, E)
        if self.brightness_emb is not None:
            if brightness is None:
                brightness = torch.full((x.shape[0],), self.num_brightness, dtype=torch.long, device=x.device)
            emb = emb + self.brightness_emb(brightness)
        elif brightness is not None:
            raise ValueError("this model has no brightness condition (trained with brightness_condition=False); "
                             "pass brightness=None")
        h = self.stem(x)
        skips = []
        for i, block in enumerate(self.down_blocks):
            h = block(h, emb)
            skips.append(h)
            if i < len(self.downsamples):
                h = self.downsamples[i](h)
        for block in self.mid:
            h = block(h, emb)
        for block in self.up_blocks:
            skip = skips.pop()
            if h.shape[-1] != skip.shape[-1]:
                h = F.interpolate(h, size=skip.shape[-2:], mode="nearest")
            h = block(torch.cat([h, skip], dim=1), emb)
        return self.out(F.silu(self.out_norm(h)))
