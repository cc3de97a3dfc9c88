"""DDIM and DDPM-like ancestral samplers that start exactly at SNR = 0, after Lin et al. (2024), section 3.2.

Notation (variable → symbol):
    ts[i], ts[i+1]      t and the next entry of the given timesteps (never t - T//S: see spacing.py)
    ab[i]               ᾱ_t; after the last entry ᾱ = 1, so the last step returns x̂_0 itself
    x0, eps             x̂_0 (eq. 19) and ε̂ (eq. 17) from parametrization.py
    eta                 η of DDIM: 0 deterministic (eq. 21), 1 the DDPM posterior (eq. 20)
    sigmas[i]           σ of k-diffusion's σ-space, x_σ = x_0 + σ·ε
"""
from __future__ import annotations

import math

import torch

from ._checks import (
    as_float64_vector,
    check_choice,
    check_finite,
    check_float,
    check_model_output,
    schedule_alpha_bar,
)
from ._progress import progress
from .parametrization import (
    PREDICTION_TYPES,
    alpha_bar_from_sigma,
    conversion_coefficients,
    denoised_eps_coefficients,
    predict_x0,
)


def ddim_coefficients(alpha_bar_t: float, alpha_bar_next: float, eta: float = 0.0) -> tuple[float, float, float]:
    """(c_x0, c_eps, c_noise) of x_next = c_x0·x̂_0 + c_eps·ε̂ + c_noise·z: DDIM, eq. (12) of Song et al. (2021).

    With η = 0 this is equation (21) of Lin et al. (2024). With η = 1, c_noise² is the DDPM posterior variance
    β̃ = (1-ᾱ_next)/(1-ᾱ_t)·(1-ᾱ_t/ᾱ_next) and the mean is equation (20) in x̂_0-form; both stay finite at ᾱ_t = 0.
    Needs 0 <= ᾱ_t < 1 and ᾱ_t <= ᾱ_next, ᾱ_next > 0. Float64 throughout.
    """
    var = eta * eta * (1.0 - alpha_bar_next) / (1.0 - alpha_bar_t) * (1.0 - alpha_bar_t / alpha_bar_next)
    return math.sqrt(alpha_bar_next), math.sqrt(max(1.0 - alpha_bar_next - var, 0.0)), math.sqrt(var)


def _check_eta(eta) -> float:
    return check_float("eta", eta, 0.0, 1.0, fix="0 is deterministic DDIM, 1 the DDPM posterior")


def _check_timesteps(timesteps, num_train_timesteps: int) -> list[int]:
    ts = torch.as_tensor(timesteps)
    if ts.ndim != 1 or ts.numel() == 0 or ts.is_floating_point() or ts.is_complex() or ts.dtype == torch.bool:
        raise ValueError(
            f"timesteps must be a non-empty 1-D integer tensor, got dtype {ts.dtype} and shape {tuple(ts.shape)}; "
            "make them with zsnr_core.timesteps()"
        )
    ts = ts.tolist()
    if min(ts) < 0 or max(ts) >= num_train_timesteps:
        raise ValueError(f"timesteps must lie in [0, {num_train_timesteps - 1}], got min {min(ts)}, max {max(ts)}")
    for i in range(len(ts) - 1):
        if ts[i + 1] >= ts[i]:
            raise ValueError(
                f"timesteps must be strictly descending, got timesteps[{i}] = {ts[i]} then "
                f"timesteps[{i + 1}] = {ts[i + 1]}; sort them in descending order without repeats"
            )
    return ts


def _raise_if_nonfinite(sums: list[torch.Tensor], where: list) -> None:
    ok = torch.isfinite(torch.stack(sums))
    if not bool(ok.all()):
        i = int((~ok).nonzero()[0])
        raise FloatingPointError(
            f"the model returned NaN or inf at step {i} ({where[i]}), so the sample is not finite; "
            "check the model, its dtype (fp16 overflow?) and its inputs"
        )


def sample_ddim(
    model,
    x: torch.Tensor,
    alphas_cumprod,
    timesteps,
    prediction_type: str = "v_prediction",
    eta: float = 0.0,
    generator: torch.Generator | None = None,
    callback=None,
    disable: bool | None = None,
) -> torch.Tensor:
    """DDIM with the sample steps of Lin et al. (2024): exactly at the given timesteps, exact at ᾱ = 0 (eq. 21).

    `model(x_t, t)` returns the raw model output for a LongTensor t of shape (B,) and is called once per entry of
    `timesteps`, in order. `x` is x_T (for a zero-SNR schedule, unit Gaussian noise). Each step goes to the next
    entry's ᾱ and the last to ᾱ = 1, so the result is the clean sample. `eta` = 1 gives DDPM-like ancestral steps
    whose noise is drawn with `generator` (on x's device): one generator draws the whole batch, so a sample's noise
    depends on the batch size; a list of B generators (one per sample) makes each sample reproducible on its own.
    The model's output must have x's shape (it is never broadcast). `callback` gets {"i", "t", "x", "denoised"} after each
    model call, before the step. ε-prediction at a first timestep with ᾱ = 0 is refused before any model call.
    """
    check_choice("prediction_type", prediction_type, PREDICTION_TYPES)
    eta = _check_eta(eta)
    ac = schedule_alpha_bar(alphas_cumprod)
    ts = _check_timesteps(timesteps, len(ac))
    ab = ac[ts].tolist() + [1.0]
    for i in range(len(ts)):
        if ab[i] >= 1.0 or (i > 0 and ab[i] == 0.0):
            raise ValueError(
                f"ᾱ at timestep {ts[i]} is {ab[i]}: the model can be evaluated where 0 < ᾱ < 1, or at ᾱ = 0 for the "
                "first timestep only; check the schedule"
            )
    check_finite("x", x)
    steps = []  # x_next = A·x_t + B·output + C·z: the DDIM step with x̂_0 and ε̂ (eqs. 17, 19) folded in;
    # conversion_coefficients refuses ε-prediction at ᾱ = 0 here, before any model call
    for i in range(len(ts)):
        p, q, r, s = conversion_coefficients(ab[i], prediction_type)
        c_x0, c_eps, c_noise = ddim_coefficients(ab[i], ab[i + 1], eta)
        steps.append((c_x0 * p + c_eps * r, c_x0 * q + c_eps * s, c_noise))
    _refuse_overflowing_steps(steps, ts, ab, prediction_type, x.dtype)
    t_in = [torch.full((x.shape[0],), t, dtype=torch.long, device=x.device) for t in ts]
    sums = []  # one float32 sum per model output, non-finite if the output is; read once, at the end
    for i in progress(len(ts), disable):
        out = check_model_output(model(x, t_in[i]), x)
        sums.append(out.sum(dtype=torch.float32))
        if callback is not None:
            callback({"i": i, "t": ts[i], "x": x, "denoised": predict_x0(out, x, ab[i], prediction_type)})
        A, B, C = steps[i]
        x = torch.add(A * x, out, alpha=B) if A != 0.0 else B * out
        if C > 0.0:
            x = x + C * _randn_like(x, generator)
    _raise_if_nonfinite(sums, [f"t = {t}" for t in ts])
    if not bool(torch.isfinite(x).all()):
        raise FloatingPointError(
            f"the sample is not finite although every model output was: a step overflowed {x.dtype} (the smallest ᾱ "
            f"sampled is {min(ab):.3g}; with prediction_type={prediction_type!r} x̂0 divides by √ᾱ); "
            "use a v_prediction model near SNR = 0 or sample in float64"
        )
    return x


def _refuse_overflowing_steps(steps, ts, ab, prediction_type: str, dtype: torch.dtype) -> None:
    """Refuse, before any model call, a step whose coefficient is beyond the sample's dtype (ε̂ → x̂_0 divides by
    √ᾱ, so an ε-model at ᾱ = 1e-300 needs 1e150): the sample could only come out inf or NaN."""
    limit = torch.finfo(dtype).max if dtype.is_floating_point else math.inf
    for i, coefficients in enumerate(steps):
        worst = max(abs(c) for c in coefficients)
        if worst > limit:
            raise ValueError(
                f"the step at timestep {ts[i]} (ᾱ = {ab[i]:.3g}) needs a coefficient of {worst:.3g}, beyond {dtype}'s "
                f"range, so the sample would be inf/NaN: prediction_type={prediction_type!r} is ill-conditioned there "
                "(ε-prediction divides by √ᾱ as SNR → 0); use a v_prediction model, or skip timesteps whose ᾱ is this small"
            )


def _randn_like(x: torch.Tensor, generator) -> torch.Tensor:
    """Unit noise for x; a list of generators (one per sample) makes each sample's noise independent of the batch."""
    if isinstance(generator, (list, tuple)):
        if len(generator) != x.shape[0]:
            raise ValueError(f"generator must be one torch.Generator or a list of B = {x.shape[0]}, got {len(generator)}")
        return torch.stack([torch.randn(x.shape[1:], generator=g, device=x.device, dtype=x.dtype) for g in generator])
    return torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)


def sample_ddim_sigmas(model, x, sigmas, extra_args=None, callback=None, disable=None, eta=0.0, noise_sampler=None):
    """DDIM (Song et al. 2021) in k-diffusion's σ-space, exact from σ = ∞ (Lin et al. 2024, eq. 21).

    `model(x, sigma, **extra_args)` is a denoiser returning x̂_0 (as ComfyUI and k-diffusion provide), called with
    sigma of shape (B,) (a broadcast view of sigmas[i]; do not write to it); `sigmas` is descending, usually to 0.
    For finite σ this is DDIM along exactly these σ (with η = 0 it equals Euler).
    An infinite sigmas[0] means SNR = 0 exactly: x̂_0·(1+σ²)^½ cannot be stored there, so x is then carried in
    variance-preserving scale, x = x_T (plain unit noise, not noise·σ), the model is called with σ = inf, and
    ε̂ = x_T. A finite σ, ZERO_SNR_ALPHA_BAR_CLAMP's too, is taken as the finite noise level it is. η = 1 adds
    DDPM posterior noise from `noise_sampler(sigma, sigma_next)` (default: randn of the whole batch seeded by
    extra_args["seed"], so a sample's noise depends on the batch size; pass a noise_sampler for per-sample seeds).
    The denoiser's output must have x's shape (it is never broadcast).
    `callback` gets k-diffusion's keys {"i", "x", "sigma", "sigma_hat", "denoised"}.
    """
    extra_args = {} if extra_args is None else extra_args
    eta = _check_eta(eta)
    s = _check_sigmas(sigmas, x)
    if eta > 0.0 and noise_sampler is None:
        seed = extra_args.get("seed")
        gen = None if seed is None else torch.Generator(device=x.device).manual_seed(int(seed))

        def noise_sampler(sigma, sigma_next):
            return torch.randn(x.shape, generator=gen, device=x.device, dtype=x.dtype)

    steps = [_ddim_sigma_step(s[i], s[i + 1], eta) for i in range(len(s) - 1)]
    sig = _sigmas_on_device(sigmas, x)
    sums = []
    for i in progress(len(s) - 1, disable):
        denoised = check_model_output(model(x, sig[i].expand(x.shape[0]), **extra_args), x, "the denoiser's output")
        sums.append(denoised.sum(dtype=torch.float32))
        if callback is not None:
            callback({"i": i, "x": x, "sigma": sig[i], "sigma_hat": sig[i], "denoised": denoised})
        A, B, C = steps[i]
        x = denoised if A == 0.0 else torch.add(denoised if B == 1.0 else B * denoised, x, alpha=A)
        if C > 0.0:
            x = x + C * noise_sampler(sig[i], sig[i + 1])
    _raise_if_nonfinite(sums, [f"sigma = {v}" for v in s[:-1]])
    return x


def _ddim_sigma_step(sigma: float, sigma_next: float, eta: float = 0.0) -> tuple[float, float, float]:
    """(A, B, C) of x_next = A·x + B·x̂_0 + C·z: the DDIM step (eq. 21) in σ-space (x_σ = x_t/√ᾱ), ε̂ folded in.

    A = σ_next/σ and B = 1 - σ_next/σ when η = 0 and σ is finite; at σ = inf, where x is x_T, A = σ_next, B = 1.
    """
    c_x0, c_eps, c_noise = ddim_coefficients(alpha_bar_from_sigma(sigma), alpha_bar_from_sigma(sigma_next), eta)
    r, q = denoised_eps_coefficients(sigma)
    k = c_eps / c_x0  # dividing the VP step by c_x0 = √ᾱ_next puts it in σ-space; k = σ_next when η = 0
    return k * r, 1.0 + k * q, c_noise / c_x0


def _check_sigmas(sigmas, x: torch.Tensor) -> list[float]:
    """sigmas as float64 Python floats: >= 2 entries, strictly descending, >= 0 (inf first only); x finite."""
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
    check_finite("x", x, "with sigmas[0] = inf pass x = noise, not noise * sigmas[0]" if math.isinf(s[0])
                 else "pass finite values")
    return s


def _sigmas_on_device(sigmas, x: torch.Tensor) -> torch.Tensor:
    """sigmas as a tensor on x's device, for the model calls (each step's coefficients are float64 Python floats)."""
    sig = torch.as_tensor(sigmas)
    if x.device.type == "mps" and sig.dtype == torch.float64:
        sig = sig.float()  # MPS has no float64
    return sig.to(x.device)
