"""Input checks shared by every module: each error names the value, the allowed range and the fix."""
from __future__ import annotations

import math
import numbers

import torch


def check_choice(name: str, value, choices: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value not in choices:
        allowed = ", ".join(repr(c) for c in choices)
        raise ValueError(f"{name} must be one of {allowed}, got {value!r}")
    return value


def check_int(name: str, value, low: int, high: int | None = None, fix: str = "") -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {value!r} ({type(value).__name__})")
    value = int(value)
    if value < low or (high is not None and value > high):
        span = f"in [{low}, {high}]" if high is not None else f">= {low}"
        raise ValueError(f"{name} must be {span}, got {value}" + (f"; {fix}" if fix else ""))
    return value


def check_float(name: str, value, low: float = -math.inf, high: float = math.inf, fix: str = "") -> float:
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {value!r} ({type(value).__name__})")
    value = float(value)
    if not (low <= value <= high):  # also false for NaN
        raise ValueError(f"{name} must be in [{low}, {high}], got {value}" + (f"; {fix}" if fix else ""))
    return value


def check_finite(name: str, tensor: torch.Tensor, fix: str = "pass finite values") -> None:
    if not bool(torch.isfinite(tensor).all()):
        bad = (~torch.isfinite(tensor)).sum().item()
        raise ValueError(f"{name} contains {bad} non-finite value(s) (NaN or inf); {fix}")


def check_unit_interval(name: str, values: torch.Tensor) -> torch.Tensor:
    """values as float64 on their own device, refusing NaN and anything outside [0, 1] (β, ᾱ), first offender named."""
    t = values.detach().to(torch.float64)
    bad = (torch.isnan(t) | (t < 0) | (t > 1)).reshape(-1)
    if bool(bad.any()):
        i = int(bad.nonzero()[0])
        raise ValueError(f"{name} must lie in [0, 1], got {name}[{i}] = {t.reshape(-1)[i].item()}")
    return t


def as_float64_vector(name: str, values) -> torch.Tensor:
    """A 1-D float64 CPU tensor from a tensor, array or sequence, with no NaN."""
    t = torch.as_tensor(values).detach().to("cpu", torch.float64)
    if t.ndim != 1 or t.numel() == 0:
        raise ValueError(f"{name} must be a non-empty 1-D sequence, got shape {tuple(t.shape)}")
    if bool(torch.isnan(t).any()):
        raise ValueError(f"{name} contains NaN at index {torch.isnan(t).nonzero()[0].item()}; pass finite values")
    return t


def alpha_bar_vector(values) -> torch.Tensor:
    """A schedule's ᾱ as a 1-D float64 CPU tensor, each entry checked to lie in [0, 1]."""
    return check_unit_interval("alphas_cumprod", as_float64_vector("alphas_cumprod", values))


def schedule_alpha_bar(values) -> torch.Tensor:
    """A schedule's ᾱ as `alpha_bar_vector` gives it, also checked to be non-increasing in t (first rise named)."""
    ac = alpha_bar_vector(values)
    rise = (ac[1:] > ac[:-1]).nonzero()
    if rise.numel():
        i = int(rise[0]) + 1
        raise ValueError(
            f"alphas_cumprod must be non-increasing in t, got ᾱ[{i - 1}] = {ac[i - 1].item()} < ᾱ[{i}] = "
            f"{ac[i].item()}; build it with zsnr_core.alphas_cumprod(betas)"
        )
    return ac


def check_model_output(output, x: torch.Tensor, what: str = "the model's output") -> torch.Tensor:
    """`output` if it is a tensor of x's shape; no broadcasting, which would silently mix samples or channels."""
    if not isinstance(output, torch.Tensor):
        raise TypeError(
            f"{what} must be a tensor of the shape of x {tuple(x.shape)}, got {type(output).__name__}; "
            "if the model returns a tuple or a dict, wrap it so that it returns the prediction tensor alone"
        )
    if output.shape != x.shape:
        raise ValueError(
            f"{what} must have the shape of x {tuple(x.shape)}, got {tuple(output.shape)}; "
            "it is not broadcast: return one prediction per element of x"
        )
    return output
