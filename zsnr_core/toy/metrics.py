"""Sample metrics for the toy experiments: brightness statistics, W1 to the data, over-exposure, FD₈.

All take images in the data's range [-1, 1] of shape (N, C, H, W).
- brightness: per-image mean over pixels and channels; the low-frequency signal that leaks at non-zero terminal SNR.
- W1: 1-D Wasserstein distance between the sample's and the data's brightness distributions (same units).
- dark / bright: fraction of extreme images, brightness below -0.6 / above 0.6 (about 11 % / 13 % of the data;
  data.EXTREME_DARK / EXTREME_BRIGHT, not the -0.3 / 0.3 edges of the brightness buckets).
- saturated: fraction of pixel values beyond ±1, i.e. clipped when shown; guidance over-exposure shows up here.
- FD₈: Fréchet distance between Gaussian fits of the images average-pooled to 8 × 8 (192 numbers for RGB): how
  well the samples match the data's coarse layout, colour and brightness, mean and covariance together. It is an
  FID without a learned feature network (none can be downloaded here), so it sees no fine texture; with few samples
  it is biased upward, so compare it against `zoo.fd8_floor(n)`: the FD₈ of n fresh data images, what a perfect
  sampler scores at that size.
- Class accuracy, IS and toy-FID take a learned classifier's softmax (N, K) and penultimate features (N, D)
  (`toy.classifier`): the share of samples classified as the class they were asked for; the Inception Score
  exp(E_x KL(p(y|x) ‖ p(y))) (Salimans et al. 2016), between 1 and K; and the Fréchet distance of the features'
  Gaussian fits (FID, Heusel et al. 2017, on the toy's own network), whose floor at a sample size is that of fresh
  data images, as for FD₈.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch

from .classifier import predict
from .data import EXTREME_BRIGHT, EXTREME_DARK, brightness, extreme_shares

DARK, BRIGHT = EXTREME_DARK, EXTREME_BRIGHT  # the names of 0.1


def wasserstein1(a: torch.Tensor, b: torch.Tensor) -> float:
    """W1 = ∫|F_a - F_b| between two empirical 1-D distributions of any sizes (exact)."""
    a, b = a.detach().double().flatten().sort().values, b.detach().double().flatten().sort().values
    grid = torch.cat([a, b]).sort().values
    cdf_a = torch.searchsorted(a, grid[:-1], right=True) / a.numel()
    cdf_b = torch.searchsorted(b, grid[:-1], right=True) / b.numel()
    return float(((cdf_a - cdf_b).abs() * grid.diff()).sum())


def _pooled(images: torch.Tensor) -> torch.Tensor:
    return torch.nn.functional.adaptive_avg_pool2d(images.double(), 8).flatten(1)


def _sqrtm_psd(m: torch.Tensor) -> torch.Tensor:
    w, v = torch.linalg.eigh(m)
    return (v * w.clamp_min(0).sqrt()) @ v.T


def frechet_distance(fa: torch.Tensor, fb: torch.Tensor) -> float:
    """‖μ_a - μ_b‖² + Tr(C_a + C_b - 2(C_a^½ C_b C_a^½)^½) of the Gaussian fits of features (N_a, D), (N_b, D)."""
    fa, fb = fa.detach().double(), fb.detach().double()
    ca, cb = torch.cov(fa.T), torch.cov(fb.T)
    s = _sqrtm_psd(ca)
    cross = torch.linalg.eigvalsh(s @ cb @ s).clamp_min(0).sqrt().sum()
    return float((fa.mean(0) - fb.mean(0)).pow(2).sum() + ca.trace() + cb.trace() - 2 * cross)


def frechet_distance8(a: torch.Tensor, b: torch.Tensor) -> float:
    """The Fréchet distance of the 8 × 8 average-pooled images (FD₈)."""
    return frechet_distance(_pooled(a), _pooled(b))


def inception_score(probs: torch.Tensor) -> float:
    """exp(mean_x KL(p(y|x) ‖ p(y))) of softmax rows (N, K); p(y) is their mean. 1 ≤ IS ≤ K."""
    p = probs.detach().double()
    marginal = p.mean(0, keepdim=True)
    kl = torch.where(p > 0, p * (p.clamp_min(1e-300).log() - marginal.clamp_min(1e-300).log()), 0.0).sum(1)
    return float(kl.mean().exp())


def class_accuracy(probs: torch.Tensor, asked: torch.Tensor) -> float:
    """Share of samples whose most likely class is the one they were asked for."""
    return float((probs.argmax(1).cpu() == asked.cpu()).double().mean())


@dataclass(frozen=True)
class SampleMetrics:
    n: int
    brightness_mean: float
    brightness_std: float
    w1: float
    dark: float
    bright: float
    saturated: float
    fd8: float
    accuracy: float | None = None  # with a classifier: class accuracy of the asked class, IS, toy-FID
    inception: float | None = None
    fid: float | None = None

    def as_dict(self) -> dict:
        return asdict(self)


def sample_metrics(samples: torch.Tensor, data_images: torch.Tensor, asked: torch.Tensor | None = None,
                   classifier=None, data_features: torch.Tensor | None = None) -> SampleMetrics:
    """Every metric above for `samples` against the data set `data_images` (unclipped samples).

    With `classifier` (a `toy.classifier.ShapeClassifier`) and `asked` (N,), the classes the samples were asked for,
    also class accuracy, IS and toy-FID; `data_features` are the classifier's features of `data_images` if known.
    """
    if not bool(torch.isfinite(samples).all()):
        raise ValueError("samples contain NaN or inf; metrics are defined for finite samples only")
    learned = {}
    if classifier is not None:
        probs, feats = predict(classifier, samples)
        if data_features is None:
            data_features = predict(classifier, data_images)[1]
        learned = {"inception": inception_score(probs), "fid": frechet_distance(feats, data_features)}
        if asked is not None:
            learned["accuracy"] = class_accuracy(probs, asked)
    lum, ref = brightness(samples), brightness(data_images)
    dark, bright = extreme_shares(samples)
    return SampleMetrics(
        n=samples.shape[0],
        brightness_mean=float(lum.mean()),
        brightness_std=float(lum.std()),
        w1=wasserstein1(lum, ref),
        dark=dark,
        bright=bright,
        saturated=float((samples.abs() > 1).double().mean()),
        fd8=frechet_distance8(samples, data_images),
        **learned,
    )
