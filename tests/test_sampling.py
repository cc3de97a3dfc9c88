"""sample_ddim and sample_ddim_sigmas: exact trajectories, closed forms, diffusers, equation 20, refusals."""
import itertools
import math

import pytest
import torch

import zsnr_core as z
from zsnr_core.toy import gaussian_model


def point_model(x0_star, ac, kind):
    """The exact model for data that is one point x0*: with it, DDIM (η = 0) keeps ε fixed, so the sample after
    each step is exactly √ᾱ·x0* + √(1-ᾱ)·ε_0 at the ᾱ the sampler stepped to."""
    def model(x_t, t):
        ab = ac[t.cpu()].to(x_t.device, x_t.dtype).view(-1, *([1] * (x_t.ndim - 1)))
        a, b = ab.sqrt(), (1 - ab).sqrt()
        eps = (x_t - a * x0_star) / b
        return {"epsilon": eps, "v_prediction": a * eps - b * x0_star, "sample": x0_star.expand_as(x_t)}[kind]
    return model


def gaussian_v_model(s, ac):
    """The exact v-model for data x0 ~ N(0, s²I)."""
    return gaussian_model(0.0, s, ac, "v_prediction")


class Recorder:
    def __init__(self, model):
        self.model, self.calls = model, []

    def __call__(self, x, t):
        self.calls.append(t.clone())
        return self.model(x, t)


def _noise(shape=(2, 3, 8, 8), seed=0, device="cpu", dtype=torch.float32):
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed), dtype=dtype).to(device)


@pytest.mark.parametrize("spacing, steps", [("trailing", 10), ("trailing", 7), ("linspace", 10), ("leading", 13)])
@pytest.mark.parametrize("kind", ["v_prediction", "sample"])
def test_steps_land_exactly_on_the_next_given_timestep(sd_zero_snr_ac, spacing, steps, kind, device):
    ac = sd_zero_snr_ac
    ts = z.timesteps(steps, spacing)
    x0_star, eps0 = _noise(seed=1, device=device, dtype=torch.float64), _noise(seed=2, device=device, dtype=torch.float64)
    x_first = z.add_noise(x0_star, eps0, ac[ts[0]].item())
    model, seen = Recorder(point_model(x0_star, ac, kind)), []
    out = z.sample_ddim(model, x_first, ac, ts, kind, callback=lambda d: seen.append(d))
    # called once per timestep, at exactly those timesteps, with a (B,) LongTensor
    assert [c.tolist() for c in model.calls] == [[t, t] for t in ts.tolist()]
    assert all(c.dtype == torch.int64 and c.device.type == device.type for c in model.calls)
    # the sample entering step i sits at ᾱ of timesteps[i] (not t - T//S), and the result at ᾱ = 1
    for d, t in zip(seen, ts.tolist()):
        assert d["t"] == t and set(d) == {"i", "t", "x", "sigma", "sigma_hat", "denoised"}  # k-diffusion's keys and t
        assert d["sigma"] == d["sigma_hat"] == z.sigma_from_alpha_bar(ac[t].item())
        assert torch.allclose(d["x"], z.add_noise(x0_star, eps0, ac[t].item()), atol=1e-10)
        assert torch.allclose(d["denoised"], x0_star, atol=1e-9)
    assert torch.allclose(out, x0_star, atol=1e-9)


def test_diffusers_ddim_steps_to_t_minus_T_over_S_for_linspace(sd_zero_snr_ac):
    """The peer bug of diffusers' DDIMScheduler (issues #11347, #12633), shown with the same exact model: after 999 diffusers' sample sits at
    ᾱ_899 while its next model call is at t = 888; ours sits at ᾱ_888."""
    from diffusers import DDIMScheduler

    sched = DDIMScheduler(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012, clip_sample=False,
                          rescale_betas_zero_snr=True, prediction_type="v_prediction", timestep_spacing="linspace")
    sched.set_timesteps(10)
    ac = sched.alphas_cumprod.double()
    x0_star, eps0 = _noise(seed=1, dtype=torch.float64), _noise(seed=2, dtype=torch.float64)
    model = point_model(x0_star, ac, "v_prediction")
    x = eps0  # ᾱ_999 = 0
    x = sched.step(model(x, torch.tensor([999, 999])), 999, x).prev_sample
    assert sched.timesteps[1].item() == 888
    assert torch.allclose(x, z.add_noise(x0_star, eps0, ac[899].item()), atol=1e-6)
    assert not torch.allclose(x, z.add_noise(x0_star, eps0, ac[888].item()), atol=1e-3)


@pytest.mark.parametrize("zero_snr, eta", [(True, 0.0), (False, 0.0), (False, 1.0)])
def test_matches_diffusers_ddim_where_diffusers_is_right(zero_snr, eta):
    """Trailing with T/S whole steps and v-prediction: diffusers' DDIM is correct there. Not at zero SNR with η > 0:
    its first step takes √(1 - ᾱ_prev - σ²) with σ² = 1 - ᾱ_prev, which rounds below 0 on some torch builds and
    gives NaN (seen with torch 2.11 on CUDA machines, not with 2.13 on CPU); ddim_coefficients clamps that at 0."""
    from diffusers import DDIMScheduler

    sched = DDIMScheduler(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012, clip_sample=False,
                          rescale_betas_zero_snr=zero_snr, prediction_type="v_prediction", timestep_spacing="trailing")
    sched.set_timesteps(20)
    ac = sched.alphas_cumprod.double()
    model, x_T = gaussian_v_model(0.5, ac), _noise(seed=3)
    # sample_ddim draws one randn per step that has noise (all but the last, which lands on ᾱ = 1)
    g = torch.Generator().manual_seed(7)
    noises = [torch.randn(x_T.shape, generator=g) for _ in range(19)] + [torch.zeros_like(x_T)]
    x = x_T
    for i, t in enumerate(sched.timesteps):
        x = sched.step(model(x, t.expand(2)), t, x, eta=eta, variance_noise=noises[i]).prev_sample
    ours = z.sample_ddim(model, x_T, ac, sched.timesteps, "v_prediction", eta=eta,
                         generator=torch.Generator().manual_seed(7))
    # float32 both, 20 steps: measured max difference 9.5e-7 on values up to 1.24
    assert torch.allclose(ours, x, atol=1e-5)


@pytest.mark.parametrize("ab_t, ab_next", [(0.0, 0.05), (0.0, 1.0), (0.3, 0.31), (0.01, 0.9), (0.5, 1.0)])
def test_eta_one_is_the_ddpm_posterior_of_equation_20(ab_t, ab_next):
    """η = 1: mean √ᾱ'β/(1-ᾱ)·x̂0 + √α(1-ᾱ')/(1-ᾱ)·x_t and variance β̃ = (1-ᾱ')/(1-ᾱ)·β, with α = ᾱ/ᾱ', β = 1 - α."""
    x0_hat, x_t = _noise(seed=4, dtype=torch.float64), _noise(seed=5, dtype=torch.float64)
    alpha = ab_t / ab_next
    beta = 1 - alpha
    mean_eq20 = (math.sqrt(ab_next) * beta / (1 - ab_t) * x0_hat
                 + math.sqrt(alpha) * (1 - ab_next) / (1 - ab_t) * x_t)
    c_x0, c_eps, c_noise = z.ddim_coefficients(ab_t, ab_next, eta=1.0)
    eps_hat = (x_t - math.sqrt(ab_t) * x0_hat) / math.sqrt(1 - ab_t)
    assert torch.allclose(c_x0 * x0_hat + c_eps * eps_hat, mean_eq20, atol=1e-12)
    assert math.isclose(c_noise ** 2, (1 - ab_next) / (1 - ab_t) * beta, rel_tol=1e-12, abs_tol=1e-15)


def test_gaussian_closed_form_is_finite_from_zero_snr_and_converges(sd_zero_snr_ac):
    """x0 ~ N(0, s²I) has an exact denoiser, and DDIM with it is linear: x_out = c·x_T, so std(x_out) = c·1.
    The probability-flow ODE maps N(0, 1) to N(0, s²) exactly, so c → s as the steps shrink."""
    s, ac = 0.5, sd_zero_snr_ac
    model, first = gaussian_v_model(s, ac), []
    ones = torch.ones(1, 1, 1, 1, dtype=torch.float64)
    errors = []
    for steps in (10, 50, 250, 1000):
        c = z.sample_ddim(model, ones, ac, z.timesteps(steps), callback=lambda d: first.append(d["denoised"]))
        errors.append(abs(c.item() - s))
    assert all(bool(torch.isfinite(d).all()) for d in first)
    assert first[0].item() == 0.0  # x̂0 at SNR 0 is E[x0] = 0 exactly, not the clamp's 2e-4·x_T
    assert errors == sorted(errors, reverse=True)
    # measured: 0.121, 0.033, 0.0081, 0.0023 (the last is the T = 1000 grid's own discretisation error)
    assert errors[-1] < 0.003


def test_same_generator_seed_gives_identical_samples(sd_zero_snr_ac):
    model = gaussian_v_model(0.7, sd_zero_snr_ac)
    run = lambda seed: z.sample_ddim(model, _noise(), sd_zero_snr_ac, z.timesteps(8), eta=1.0,
                                     generator=torch.Generator().manual_seed(seed))
    assert torch.equal(run(1), run(1)) and not torch.equal(run(1), run(2))


def test_epsilon_model_on_zero_snr_is_refused_before_any_model_call(sd_zero_snr_ac):
    model = Recorder(lambda x, t: torch.zeros_like(x))
    with pytest.raises(ValueError, match=r"'epsilon' is undefined at ᾱ = 0.*use a v_prediction"):
        z.sample_ddim(model, _noise(), sd_zero_snr_ac, z.timesteps(10), "epsilon")
    assert model.calls == []


def test_epsilon_model_on_its_own_schedule_runs(sd_ac):
    x0_star = _noise(seed=1, dtype=torch.float64)
    out = z.sample_ddim(point_model(x0_star, sd_ac, "epsilon"), _noise(dtype=torch.float64), sd_ac,
                        z.timesteps(10, "leading", steps_offset=1), "epsilon")
    assert torch.allclose(out, x0_star, atol=1e-9)


def test_nan_from_the_model_is_reported_with_its_step(sd_zero_snr_ac):
    def model(x, t):
        out = torch.zeros_like(x)
        return out.fill_(float("nan")) if t[0].item() == 699 else out
    with pytest.raises(FloatingPointError, match=r"NaN or inf at step 3 \(t = 699\)"):
        z.sample_ddim(model, _noise(), sd_zero_snr_ac, z.timesteps(10))


@pytest.mark.parametrize("kwargs, match", [
    ({"timesteps": [999, 999, 500]}, r"strictly descending, got timesteps\[0\] = 999 then timesteps\[1\] = 999"),
    ({"timesteps": [500, 999]}, r"strictly descending"),
    ({"timesteps": [1000, 500]}, r"timesteps must lie in \[0, 999\], got min 500, max 1000"),
    ({"timesteps": torch.tensor([999.0, 500.0])}, r"integer tensor, got dtype torch.float32"),
    ({"timesteps": []}, r"non-empty 1-D integer tensor"),
    ({"eta": 1.5}, r"eta must be in \[0.0, 1.0\], got 1.5"),
    ({"prediction_type": "eps"}, r"prediction_type must be one of"),
    ({"x": torch.full((1, 4), float("nan"))}, r"x contains 4 non-finite value"),
    ({"alphas_cumprod": torch.tensor([0.9, 0.95, 0.5])}, r"non-increasing"),
    ({"alphas_cumprod": torch.tensor([0.9, float("nan"), 0.0])}, r"alphas_cumprod contains NaN at index 1"),
])
def test_bad_arguments(sd_zero_snr_ac, kwargs, match):
    args = {"model": lambda x, t: x, "x": _noise(), "alphas_cumprod": sd_zero_snr_ac, "timesteps": [999, 500]}
    args.update(kwargs)
    with pytest.raises((ValueError, TypeError), match=match):
        z.sample_ddim(**args)


def test_two_timesteps_at_zero_snr_are_refused():
    ac = torch.tensor([0.9, 0.5, 0.0, 0.0], dtype=torch.float64)
    with pytest.raises(ValueError, match=r"ᾱ = 0 for the\s+first timestep only"):
        z.sample_ddim(lambda x, t: x, _noise(), ac, [3, 2, 0])


def test_wrong_output_shape_is_named(sd_zero_snr_ac):
    with pytest.raises(ValueError, match=r"output must have the shape of x \(2, 3, 8, 8\), got \(2, 3, 8\)"):
        z.sample_ddim(lambda x, t: x[..., 0], _noise(), sd_zero_snr_ac, [999, 500])


# --- σ-space --------------------------------------------------------------------------------------------------

def _sigmas(ac, ts):
    return torch.cat([z.sigma_from_alpha_bar(ac[ts]), torch.zeros(1, dtype=torch.float64)])


@pytest.mark.parametrize("eta", [0.0, 1.0])
@pytest.mark.parametrize("spacing, steps", [("trailing", 10), ("linspace", 7)])
def test_sigma_sampler_equals_sample_ddim_from_infinite_sigma(sd_zero_snr_ac, eta, spacing, steps, device):
    ac, ts = sd_zero_snr_ac, z.timesteps(steps, spacing)
    model, x_T = gaussian_v_model(0.6, ac), _noise(seed=8, device=device)
    sigmas = _sigmas(ac, ts).to(device)
    assert math.isinf(sigmas[0].item())
    ref = z.sample_ddim(model, x_T, ac, ts, eta=eta, generator=torch.Generator(device).manual_seed(3))
    g = torch.Generator(device).manual_seed(3)
    draws, keys = [], []
    noise_sampler = lambda s, s_next: torch.randn(x_T.shape, generator=g, device=device)
    out = z.sample_ddim_sigmas(z.denoiser_from_model(model, ac), x_T, sigmas, eta=eta, noise_sampler=noise_sampler,
                               callback=lambda d: (keys.append(set(d)), draws.append(d["sigma"])))
    # float32; measured max difference 3.6e-7 (η = 0 and 1) on values up to 1.6
    assert torch.allclose(out, ref, atol=1e-5)
    assert keys[0] == {"i", "x", "sigma", "sigma_hat", "denoised"} and math.isinf(draws[0])


def test_sigma_sampler_for_an_epsilon_model_on_its_own_schedule(sd_ac):
    ts = z.timesteps(12, "leading", steps_offset=1)
    x0_star, x_T = _noise(seed=1, dtype=torch.float64), _noise(seed=2, dtype=torch.float64)
    model = point_model(x0_star, sd_ac, "epsilon")
    sigmas = _sigmas(sd_ac, ts)
    ref = z.sample_ddim(model, x_T, sd_ac, ts, "epsilon")
    x_sigma = x_T * math.sqrt(1 + sigmas[0].item() ** 2)  # k-diffusion's start: x_σ = x_t·√(1+σ²)
    out = z.sample_ddim_sigmas(z.denoiser_from_model(model, sd_ac, "epsilon"), x_sigma, sigmas)
    assert torch.allclose(out, ref, atol=1e-9) and torch.allclose(out, x0_star, atol=1e-9)


def test_sigma_sampler_with_eta_zero_is_euler():
    """DDIM (η = 0) in σ-space is Euler's method on the probability-flow ODE (Karras et al. 2022)."""
    sigmas = torch.tensor([14.6, 7.0, 3.0, 1.0, 0.3, 0.0], dtype=torch.float64)
    denoiser = lambda x, s: torch.tanh(x) * (1 / (1 + s.view(-1, 1, 1, 1)))
    x = _noise(dtype=torch.float64) * 14.6
    euler = x
    for s, s_next in itertools.pairwise(sigmas):
        d = (euler - denoiser(euler, s.expand(2))) / s
        euler = euler + d * (s_next - s)
    assert torch.allclose(z.sample_ddim_sigmas(denoiser, x, sigmas), euler, atol=1e-12)


def test_clamped_first_sigma_only_approximates_the_exact_step(sd_zero_snr_ac):
    """ComfyUI-style start at σ = 4518.76 instead of ∞: close but not exact; exactness needs σ = inf."""
    ac, ts = sd_zero_snr_ac, z.timesteps(10)
    model, x_T = gaussian_v_model(0.6, ac), _noise(seed=9, dtype=torch.float64)
    exact = z.sample_ddim(model, x_T, ac, ts)
    sigmas = _sigmas(ac, ts)
    sigmas[0] = z.sigma_from_alpha_bar(0.0, clamp=True)
    approx = z.sample_ddim_sigmas(z.denoiser_from_model(model, ac), x_T * math.sqrt(1 + sigmas[0] ** 2), sigmas)
    assert z.timestep_from_sigma(sigmas[:1], ac).item() == 999  # the clamp's σ stands for t = T, as in ComfyUI
    gap = (approx - exact).abs().max().item()
    assert 0 < gap < 1e-4  # measured 2.0e-5 for this model and |x_T| <= 3.5


def test_sigma_sampler_refuses_k_diffusion_scaling_at_infinite_sigma(sd_zero_snr_ac):
    sigmas = _sigmas(sd_zero_snr_ac, z.timesteps(4))
    x = _noise() * sigmas[0].item()
    with pytest.raises(ValueError, match=r"pass x = noise, not noise \* sigmas\[0\]"):
        z.sample_ddim_sigmas(lambda x, s: x, x, sigmas)


@pytest.mark.parametrize("sigmas, match", [
    ([5.0], r"at least 2 entries"),
    ([5.0, 5.0, 0.0], r"strictly descending, got sigmas\[0\] = 5.0 then sigmas\[1\] = 5.0"),
    ([5.0, float("inf"), 0.0], r"strictly descending"),
    ([5.0, 1.0, -1.0], r"sigmas must be >= 0"),
    ([5.0, float("nan"), 0.0], r"sigmas contains NaN at index 1"),
])
@pytest.mark.parametrize("sampler", ["sample_ddim_sigmas", "sample_dpmpp_2m_sigmas"])
def test_sigma_samplers_refuse_bad_sigmas(sampler, sigmas, match):
    with pytest.raises(ValueError, match=match):
        getattr(z, sampler)(lambda x, s: x, _noise(), torch.tensor(sigmas))


def test_sigma_sampler_seeds_its_noise_from_extra_args(sd_zero_snr_ac):
    sigmas = _sigmas(sd_zero_snr_ac, z.timesteps(6))
    denoiser = z.denoiser_from_model(gaussian_v_model(0.5, sd_zero_snr_ac), sd_zero_snr_ac)
    run = lambda seed: z.sample_ddim_sigmas(lambda x, s, seed: denoiser(x, s), _noise(), sigmas,
                                            extra_args={"seed": seed}, eta=1.0)
    assert torch.equal(run(5), run(5)) and not torch.equal(run(5), run(6))


def test_timestep_from_sigma_round_trips_the_table(sd_zero_snr_ac, sd_ac):
    for ac in (sd_zero_snr_ac, sd_ac):
        table = z.sigma_from_alpha_bar(ac)
        assert z.timestep_from_sigma(table, ac).tolist() == list(range(1000))
    with pytest.raises(ValueError, match=r"σ = inf means SNR = 0, but this schedule's last ᾱ is 0.00466"):
        z.timestep_from_sigma(torch.tensor([math.inf]), sd_ac)


def test_batch_samples_are_sampled_independently(sd_zero_snr_ac):
    """Sampling a batch equals sampling each of its samples alone (η = 0): the sampler mixes nothing across B."""
    ac, ts = sd_zero_snr_ac, z.timesteps(9, "linspace")
    model, x = gaussian_v_model(0.8, ac), _noise(shape=(3, 2, 4, 4), seed=11)
    whole = z.sample_ddim(model, x, ac, ts)
    alone = torch.cat([z.sample_ddim(model, x[i:i + 1], ac, ts) for i in range(3)])
    assert torch.allclose(whole, alone, atol=1e-6)


def test_sigma_sampler_can_stop_at_a_nonzero_sigma(sd_zero_snr_ac):
    """sigmas need not end at 0 (img2img-style partial runs): the result is then x_σ at the last σ."""
    ac, ts = sd_zero_snr_ac, z.timesteps(10)
    x0_star, eps0 = _noise(seed=1, dtype=torch.float64), _noise(seed=2, dtype=torch.float64)
    model = point_model(x0_star, ac, "v_prediction")
    sigmas = z.sigma_from_alpha_bar(ac[ts[:6]])  # inf ... σ at t = 499, no trailing 0
    out = z.sample_ddim_sigmas(z.denoiser_from_model(model, ac), eps0, sigmas)
    assert torch.allclose(out, x0_star + sigmas[-1].item() * eps0, atol=1e-9)  # x_σ = x_0 + σ·ε
