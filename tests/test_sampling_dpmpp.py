"""sample_dpmpp_2m_sigmas: diffusers' DPM-Solver++(2M) as the oracle, the exact start at σ = ∞, second order."""
import itertools
import math

import pytest
import torch

import zsnr_core as z
from zsnr_core.sampling_dpmpp import dpmpp_2m_weights
from zsnr_core.toy import gaussian_denoiser

MU, S = 0.3, 0.5  # the closed-form benchmark: x0 ~ N(μ, s²) per element


def exact_denoiser():
    """The exact x̂0(x_σ, σ) = μ + s²/(s²+σ²)·(x_σ - μ) of x0 ~ N(μ, s²); E[x0] = μ at σ = inf."""
    return gaussian_denoiser(MU, S)


def nonlinear_denoiser(x, sigma):
    """Not the denoiser of any data, but smooth and nonlinear in x and σ, so that every term of a step shows."""
    sg = sigma.view(-1, *([1] * (x.ndim - 1))).to(x.dtype)
    return torch.tanh(x / (1 + sg)) * 0.8 + 0.1 / (1 + sg)  # finite at σ = inf too


def _noise(shape=(2, 3, 8, 8), seed=0, dtype=torch.float32, device="cpu"):
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed), dtype=dtype).to(device)


@pytest.mark.parametrize("steps", [10, 25])
@pytest.mark.parametrize("karras", [False, True])
@pytest.mark.parametrize("zero_snr", [False, True])
def test_equals_diffusers_dpm_solver_multistep_on_finite_sigmas(steps, karras, zero_snr):
    """diffusers' DPMSolverMultistepScheduler (dpmsolver++, order 2, midpoint, final σ = 0) as the reference, on its
    own finite sigmas (zero SNR there is its clamp ᾱ_T = 2⁻²⁴, σ = 4096): the model sees the same σ at every step."""
    from diffusers import DPMSolverMultistepScheduler

    sched = DPMSolverMultistepScheduler(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012,
                                        prediction_type="v_prediction", algorithm_type="dpmsolver++", solver_order=2,
                                        solver_type="midpoint", final_sigmas_type="zero", use_karras_sigmas=karras,
                                        timestep_spacing="trailing", rescale_betas_zero_snr=zero_snr)
    sched.set_timesteps(steps)
    sched.set_begin_index(0)  # karras at zero SNR repeats t = 999, 998 (the σ differ), which its t → step lookup misreads
    sigmas = sched.sigmas.double()  # (steps + 1,), float32 values, the last 0
    assert len(sigmas) == steps + 1 and sigmas[-1] == 0 and math.isfinite(sigmas[0])
    x_vp = _noise(seed=1)
    x = x_vp * sched.init_noise_sigma
    for i, t in enumerate(sched.timesteps):
        ab = z.alpha_bar_from_sigma(sigmas[i].item())
        x0 = nonlinear_denoiser(x * math.sqrt(1 + sigmas[i].item() ** 2), sigmas[i].expand(2))
        x = sched.step(z.predict_v(x0, x, ab, "sample"), t, x).prev_sample
    ours = z.sample_dpmpp_2m_sigmas(nonlinear_denoiser, x_vp * math.sqrt(1 + sigmas[0].item() ** 2), sigmas)
    # float32 both; measured max difference 3.6e-7 (largest over the 8 cases) on values up to 0.75
    assert torch.allclose(ours, x, atol=5e-6), (ours - x).abs().max()
    ddim = z.sample_ddim_sigmas(nonlinear_denoiser, x_vp * math.sqrt(1 + sigmas[0].item() ** 2), sigmas)
    assert (ddim - x).abs().max() > 1e-3  # the oracle tells first from second order apart


def test_weights_are_the_2m_ratio_with_first_order_at_the_ends():
    s = [math.inf, 20.0, 5.0, 1.0, 0.2, 0.0]
    w = dpmpp_2m_weights(s)
    h = [math.log(a / b) for a, b in itertools.pairwise(s[1:-1])]  # log(20/5), log(5/1), log(1/0.2)
    assert w[:2] == [0.0, 0.0]  # the first step, and the step after σ = ∞ (h_0 = ∞, r_1 = ∞)
    assert w[2] == pytest.approx(h[1] / (2 * h[0]), rel=1e-15) and w[3] == pytest.approx(h[2] / (2 * h[1]), rel=1e-15)
    assert w[4] == 0.0  # to σ = 0: first order, x̂0 itself


def test_exact_start_from_infinite_sigma_and_ddim_until_the_correction_starts():
    """From σ = ∞ with x = x_T: the first two steps are DDIM's (eq. 21 at ᾱ = 0, then w = 0), the third is not."""
    sigmas = torch.tensor([math.inf, 30.0, 8.0, 2.0, 0.5, 0.1, 0.0], dtype=torch.float64)
    x_T = _noise(seed=2, dtype=torch.float64)
    seen = {"2m": [], "ddim": []}
    for name, sampler in (("2m", z.sample_dpmpp_2m_sigmas), ("ddim", z.sample_ddim_sigmas)):
        sampler(exact_denoiser(), x_T, sigmas, callback=seen[name].append)
    seen = {k: [d["x"] for d in v] for k, v in seen.items()}
    assert torch.equal(seen["2m"][0], x_T)
    assert torch.allclose(seen["2m"][1], MU + 30.0 * x_T, atol=1e-13)  # x̂0 = E[x0] = μ at SNR 0, ε̂ = x_T
    for i in (1, 2):
        assert torch.equal(seen["2m"][i], seen["ddim"][i])
    assert (seen["2m"][3] - seen["ddim"][3]).abs().max() > 1e-3


def test_point_data_is_sampled_exactly_from_infinite_sigma():
    """Data that is one point x0*: x̂0 = x0* at every σ, so the correction is 0 and x_σ = x0* + σ·x_T throughout."""
    x0_star, x_T = _noise(seed=3, dtype=torch.float64), _noise(seed=4, dtype=torch.float64)
    sigmas = torch.tensor([math.inf, 40.0, 9.0, 1.5, 0.3, 0.0], dtype=torch.float64)
    seen = []
    out = z.sample_dpmpp_2m_sigmas(lambda x, s: x0_star.clone(), x_T, sigmas,
                                   callback=lambda d: seen.append((d["sigma"].item(), d["x"])))
    for sigma, x in seen[1:]:
        assert torch.allclose(x, x0_star + sigma * x_T, atol=1e-12)
    assert torch.allclose(out, x0_star, atol=1e-12)


def _order_errors(sampler, counts, sigma_max=20.0, sigma_min=0.05):
    """|x(σ_min) - exact| of the Gaussian ODE on log-uniform sigmas (no step to 0, whose first-order x̂0 is exact
    here anyway): the PF-ODE maps x_σ to μ + √(s²+σ'²)/√(s²+σ²)·(x_σ - μ)."""
    x = torch.linspace(-3, 3, 7, dtype=torch.float64).view(1, 7) * sigma_max
    exact = MU + math.sqrt(S * S + sigma_min ** 2) / math.sqrt(S * S + sigma_max ** 2) * (x - MU)
    errors = []
    for n in counts:
        sigmas = torch.logspace(math.log10(sigma_max), math.log10(sigma_min), n + 1, dtype=torch.float64)
        errors.append((sampler(exact_denoiser(), x, sigmas) - exact).abs().max().item())
    return errors


def test_order_of_accuracy_is_two_and_ddims_is_one():
    """On the closed-form Gaussian, error ∝ N^(-p): the slope of log error against log N is -2 for 2M, -1 for DDIM."""
    counts = (32, 64, 128, 256)
    slope = {}
    for name, sampler in (("2m", z.sample_dpmpp_2m_sigmas), ("ddim", z.sample_ddim_sigmas)):
        e = _order_errors(sampler, counts)
        slope[name] = [math.log(e[i] / e[i + 1]) / math.log(2) for i in range(len(e) - 1)]
    # measured: 2M 1.969, 1.990, 1.996; DDIM 0.983, 0.992, 0.996. A first-order slip (a wrong w) gives about 1.
    assert all(1.9 < p < 2.1 for p in slope["2m"]), slope
    assert all(0.9 < p < 1.1 for p in slope["ddim"]), slope


def test_sigmas_as_given_on_the_device_with_k_diffusion_keys(device):
    sigmas = torch.tensor([math.inf, 12.0, 3.0, 0.4, 0.0], dtype=torch.float64, device=device)
    keys, seen_sigmas = [], []

    def model(x, sigma):
        assert sigma.shape == (x.shape[0],) and sigma.device.type == device.type
        seen_sigmas.append(sigma[0].item())
        return exact_denoiser()(x, sigma)

    out = z.sample_dpmpp_2m_sigmas(model, _noise(device=device), sigmas, callback=lambda d: keys.append(set(d)))
    assert seen_sigmas == [math.inf, 12.0, 3.0, 0.4] and out.device.type == device.type
    assert keys[0] == {"i", "x", "sigma", "sigma_hat", "denoised"} and len(keys) == 4


def test_batch_members_are_sampled_independently():
    sigmas = torch.tensor([math.inf, 12.0, 3.0, 0.4, 0.05, 0.0], dtype=torch.float64)
    x = _noise(shape=(3, 2, 4, 4), seed=5, dtype=torch.float64)
    whole = z.sample_dpmpp_2m_sigmas(nonlinear_denoiser, x, sigmas)
    alone = torch.cat([z.sample_dpmpp_2m_sigmas(nonlinear_denoiser, x[i:i + 1], sigmas) for i in range(3)])
    assert torch.equal(whole, alone)  # elementwise model: the same float64 operations per element


def test_k_diffusion_scaling_at_infinite_sigma_is_refused():
    with pytest.raises(ValueError, match=r"pass x = noise, not noise \* sigmas\[0\]"):
        z.sample_dpmpp_2m_sigmas(lambda x, s: x, torch.full((1, 4), math.inf), torch.tensor([math.inf, 1.0, 0.0]))


def test_wrong_output_shape_is_named():
    with pytest.raises(ValueError, match=r"denoiser's output must have the shape of x \(2, 3, 8, 8\), got \(2, 3, 8\)"):
        z.sample_dpmpp_2m_sigmas(lambda x, s: x[..., 0], _noise(), torch.tensor([math.inf, 1.0, 0.0]))


def test_nan_from_the_model_is_reported_with_its_step():
    def model(x, sigma):
        return torch.full_like(x, math.nan) if sigma[0].item() == 3.0 else x * 0.5
    with pytest.raises(FloatingPointError, match=r"NaN or inf at step 2 \(sigma = 3.0\)"):
        z.sample_dpmpp_2m_sigmas(model, _noise(), torch.tensor([math.inf, 12.0, 3.0, 0.4, 0.0]))
