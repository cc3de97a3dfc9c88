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


def check_same_shape(tensor, like: torch.Tensor, what: str = "the model's output", like_name: str = "x"):
    """`tensor` if it is a tensor of `like`'s shape; no broadcasting, which would silently mix samples or channels
    (a model's output against x, noise or a prediction against x0)."""
    if not isinstance(tensor, torch.Tensor):
        raise TypeError(
            f"{what} must be a tensor of the shape of {like_name} {tuple(like.shape)}, got {type(tensor).__name__}; "
            "if the model returns a tuple or a dict, wrap it so that it returns the prediction tensor alone"
        )
    if tensor.shape != like.shape:
        raise ValueError(
            f"{what} must have the shape of {like_name} {tuple(like.shape)}, got {tuple(tensor.shape)}; "
            f"it is not broadcast: give one value per element of {like_name}"
        )
    return tensor


check_model_output = check_same_shape  # the name of 0.1


def check_sample(x) -> torch.Tensor:
    """x, a sampler's starting sample: a real floating-point tensor with a batch dim, every value finite."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"x must be a torch.Tensor, got {type(x).__name__}; convert it with torch.as_tensor(x)")
    if x.ndim < 1 or x.is_complex() or not x.is_floating_point():
        raise ValueError(f"x must be a real floating-point tensor of shape (B, ...), got dtype {x.dtype} and shape "
                         f"{tuple(x.shape)}; add a batch dim with x[None], or convert with x.float()")
    check_finite("x", x)
    return x


def check_timesteps(timesteps, alphas_cumprod) -> tuple[list[int], list[float]]:
    """(t, ᾱ_t) for each entry of `timesteps`: a non-empty 1-D integer sequence, strictly descending, within the
    schedule; ᾱ_t < 1 everywhere (the model sees noise) and ᾱ_t = 0 (SNR = 0) at the first entry only."""
    ac = schedule_alpha_bar(alphas_cumprod)
    ts = torch.as_tensor(timesteps)
    if ts.ndim != 1 or ts.numel() == 0 or ts.is_floating_point() or ts.is_complex() or ts.dtype == torch.bool:
        raise ValueError(
            f"timesteps must be a non-empty 1-D integer tensor, got dtype {ts.dtype} and shape {tuple(ts.shape)}; "
            "make them with zsnr_core.timesteps()"
        )
    ts = ts.tolist()
    if min(ts) < 0 or max(ts) >= len(ac):
        raise ValueError(f"timesteps must lie in [0, {len(ac) - 1}], got min {min(ts)}, max {max(ts)}")
    for i in range(len(ts) - 1):
        if ts[i + 1] >= ts[i]:
            raise ValueError(
                f"timesteps must be strictly descending, got timesteps[{i}] = {ts[i]} then "
                f"timesteps[{i + 1}] = {ts[i + 1]}; sort them in descending order without repeats"
            )
    ab = ac[ts].tolist()
    for i, (t, alpha_bar) in enumerate(zip(ts, ab)):
        if alpha_bar >= 1.0 or (i > 0 and alpha_bar == 0.0):
            raise ValueError(
                f"ᾱ at timestep {t} is {alpha_bar}: the model can be evaluated where 0 < ᾱ < 1, or at ᾱ = 0 for the "
                "first timestep only; check the schedule"
            )
    return ts, ab


def check_sigmas(sigmas, x) -> tuple[list[float], torch.Tensor]:
    """(σ as float64 Python floats, σ as a tensor on x's device) for a σ-space sampler: >= 2 entries, strictly
    descending, >= 0 (inf first only); x checked as check_sample does, and finite even where σ_0 = inf."""
    s = as_float64_vector("sigmas", sigmas).tolist()
    if len(s) < 2:
        raise ValueError(f"sigmas needs at least 2 entries (from and to), got {len(s)}")
    for i in range(len(s) - 1):
        if not s[i + 1] < s[i]:
            raise ValueError(
                f"sigmas must be strictly descending, got sigmas[{i}] = {s[i]} then sigmas[{i + 1}] = {s[i + 1]}"
            )
    if s[-1] < 0:
        raise ValueError(f"sigmas must be >= 0, got sigmas[-1] = {s[-1]}")
    if math.isinf(s[0]) and isinstance(x, torch.Tensor) and not bool(torch.isfinite(x).all()):
        check_finite("x", x, "with sigmas[0] = inf pass x = noise, not noise * sigmas[0]")
    check_sample(x)
    on_device = torch.as_tensor(sigmas)
    if x.device.type == "mps" and on_device.dtype == torch.float64:
        on_device = on_device.float()  # MPS has no float64
    return s, on_device.to(x.device)


def noise_like(x: torch.Tensor, generator) -> torch.Tensor:
    """Unit noise for x; a list of B generators (one per sample) makes each sample's noise independent of the batch."""
    if isinstance(generator, (list, tuple)):
        if len(generator) != x.shape[0]:
            raise ValueError(f"generator must be one torch.Generator or a list of B = {x.shape[0]}, got {len(generator)}")
        return torch.stack([torch.randn(x.shape[1:], generator=g, device=x.device, dtype=x.dtype) for g in generator])
    return torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)


class FiniteWatch:
    """A sampler's model outputs checked for shape at once and for NaN/inf at the end: one float32 sum per output,
    read once (no device sync per step), so that a non-finite output is named by its step."""

    def __init__(self):
        self.sums, self.where = [], []

    def __call__(self, output, x: torch.Tensor, where: str, what: str = "the model's output") -> torch.Tensor:
        output = check_same_shape(output, x, what)
        self.sums.append(output.sum(dtype=torch.float32))
        self.where.append(where)
        return output

    def result(self, x: torch.Tensor, hint: str = "") -> torch.Tensor:
        ok = torch.isfinite(torch.stack(self.sums)) if self.sums else torch.ones(0, dtype=torch.bool)
        if not bool(ok.all()):
            i = int((~ok).nonzero()[0])
            raise FloatingPointError(
                f"the model returned NaN or inf at step {i} ({self.where[i]}), so the sample is not finite; "
                "check the model, its dtype (fp16 overflow?) and its inputs"
            )
        if not bool(torch.isfinite(x).all()):
            raise FloatingPointError(
                f"the sample is not finite although every model output was: a step overflowed {x.dtype}"
                + (f" ({hint})" if hint else "") + "; use a v_prediction model near SNR = 0 or sample in float64"
            )
        return x
