"""σ tables as ComfyUI stores schedules: spaced sigmas, classifying a σ list, the exact start from the clamp's σ."""
import math

import pytest
import torch

import zsnr_core as z


def test_betas_from_alphas_cumprod_inverts_alphas_cumprod():
    betas = z.rescale_zero_terminal_snr(z.make_betas("scaled_linear"))
    back = z.betas_from_alphas_cumprod(z.alphas_cumprod(betas))
    # float64 round trip through a cumulative product: measured max error 6.3e-16 relative to β
    assert torch.allclose(back, betas, rtol=1e-12, atol=1e-15) and back[-1].item() == 1.0


@pytest.mark.parametrize("ac, match", [
    ([0.9, 0.95], "non-increasing"), ([0.9, 0.0, 0.0], "0 at the last timestep only"), ([1.2, 0.5], r"\[0, 1\]"),
])
def test_betas_from_alphas_cumprod_refuses(ac, match):
    with pytest.raises(ValueError, match=match):
        z.betas_from_alphas_cumprod(torch.tensor(ac, dtype=torch.float64))


def test_table_reads_the_clamp_as_exact_zero_snr(zsnr_table, sd_table, sd_zero_snr_ac, sd_ac):
    ac = z.alphas_cumprod_from_sigma_table(zsnr_table)
    assert ac[-1].item() == 0.0
    # float32 table: measured max relative error of ᾱ 1.15e-7
    assert torch.allclose(ac[:-1], sd_zero_snr_ac[:-1], rtol=5e-7)
    assert z.alphas_cumprod_from_sigma_table(sd_table)[-1].item() > 0
    assert torch.allclose(z.alphas_cumprod_from_sigma_table(sd_table), sd_ac, rtol=5e-7)


@pytest.mark.parametrize("spacing", z.SPACINGS)
@pytest.mark.parametrize("steps", [2, 10, 25, 30, 61])
def test_spaced_sigmas_sit_on_the_table_at_the_spacings_timesteps(zsnr_table, sd_zero_snr_ac, spacing, steps):
    sigmas = z.spaced_sigmas(zsnr_table, steps, spacing)
    ts = z.timesteps(steps, spacing)
    assert sigmas.shape == (steps + 1,) and sigmas[-1].item() == 0.0 and sigmas.dtype == torch.float32
    assert torch.equal(sigmas[:-1], zsnr_table[ts])
    assert torch.equal(z.timestep_from_sigma(sigmas[:-1], sd_zero_snr_ac), ts)
    report = z.classify_sigmas(sigmas, zsnr_table)
    assert report.exact and report.timesteps == tuple(ts.tolist())
    assert report.starts_at_T == (ts[0].item() == 999)


@pytest.mark.parametrize("spacing", ["trailing", "linspace"])
def test_one_step_is_taken_at_t_equal_T(zsnr_table, spacing):
    # linspace's one point is its start; Table 2's round(linspace(1, T, 1)) = 1 would call the model at t = 0 only
    assert torch.equal(z.spaced_sigmas(zsnr_table, 1, spacing), torch.stack([zsnr_table[999], torch.tensor(0.0)]))
    assert torch.equal(z.spaced_sigmas(zsnr_table, 1, spacing, denoise=0.6), z.spaced_sigmas(zsnr_table, 1, spacing))


def test_one_leading_step_is_refused_saying_why(zsnr_table):
    with pytest.raises(ValueError, match=r"steps = 1 with leading spacing makes its only model call at t = 0 "
                                         r"\(σ = 0.0292\).*use trailing or linspace"):
        z.spaced_sigmas(zsnr_table, 1, "leading")


@pytest.mark.parametrize("n", [1001, 1500, 4000])
def test_dense_sigmas_continue_past_T_on_the_tables_curve(zsnr_table, sd_zero_snr_ac, n):
    sigmas = z.dense_sigmas(zsnr_table, n)
    assert sigmas.shape == (n + 1,) and sigmas.dtype == torch.float32 and sigmas[-1].item() == 0.0
    assert sigmas[0] == zsnr_table[-1] and sigmas[-2] == zsnr_table[0]  # from t = T - 1 down to t = 0 exactly
    assert bool((sigmas[1:] <= sigmas[:-1]).all()) and torch.isfinite(sigmas).all()
    inside = (sigmas[:-1] >= zsnr_table[0]) & (sigmas[:-1] <= zsnr_table[-1])
    assert bool(inside.all())
    # KSampler at steps 30, denoise 0.02 asks for int(30 / 0.02) = 1500 and keeps the last 31: the first at
    # t = 999·29/1499 = 19.33, whose nearest training timestep is 19; then down to 0
    if n == 1500:
        tail = z.timestep_from_sigma(sigmas[-31:-1], sd_zero_snr_ac)
        assert tail[0].item() == 19 and tail[-1].item() == 0 and bool((tail[1:] <= tail[:-1]).all())


def test_dense_sigmas_are_for_counts_above_T_only(zsnr_table):
    with pytest.raises(ValueError, match=r"steps must be in \[1001, .*use spaced_sigmas"):
        z.dense_sigmas(zsnr_table, 1000)


def test_spaced_sigmas_with_denoise_keep_the_tail_of_a_longer_schedule(zsnr_table):
    sigmas = z.spaced_sigmas(zsnr_table, 10, "trailing", denoise=0.5)
    assert torch.equal(sigmas[:-1], zsnr_table[z.timesteps(20, "trailing")[-10:]])
    report = z.classify_sigmas(sigmas, zsnr_table)
    assert not report.starts_at_T and report.spacing == "leading-like"


@pytest.mark.parametrize("kwargs, match", [
    ({"steps": 0}, r"steps must be in \[1, 100000\]"),
    ({"steps": 10, "spacing": "trail"}, "spacing must be one of"),
    ({"steps": 10, "denoise": 0.0}, "denoise must be > 0"),
    ({"steps": 10, "denoise": 1.5}, r"denoise must be in \[0.0, 1.0\]"),
    ({"steps": 600, "denoise": 0.005}, "steps/denoise = 600/0.005 = 120000 steps exceeds 100000"),
])
def test_spaced_sigmas_bad_arguments(zsnr_table, kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        z.spaced_sigmas(zsnr_table, **kwargs)


@pytest.mark.parametrize("spacing", ["leading", "linspace", "trailing"])
def test_spaced_sigmas_beyond_T_continue_densely_as_ksampler_asks(zsnr_table, spacing):
    # KSampler at 30 steps and denoise 0.02 asks for 1500; the tail of dense_sigmas is the only schedule there
    sigmas = z.spaced_sigmas(zsnr_table, 30, spacing, denoise=0.02)
    assert torch.equal(sigmas, z.dense_sigmas(zsnr_table, 1500)[-31:])
    assert torch.equal(z.spaced_sigmas(zsnr_table, 1500, spacing), z.dense_sigmas(zsnr_table, 1500))


def test_dense_sigmas_on_an_exact_table_start_at_inf_then_stay_finite_and_descending(zsnr_table):
    exact = z.sigma_from_alpha_bar(z.alphas_cumprod_from_sigma_table(zsnr_table))  # ends at inf, not the clamp
    sigmas = z.dense_sigmas(exact, 1500)
    assert math.isinf(sigmas[0]) and bool(torch.isfinite(sigmas[1:]).all())
    assert bool((sigmas[1:] < sigmas[:-1]).all())


def test_spaced_sigmas_refuses_a_descending_table(zsnr_table):
    with pytest.raises(ValueError, match="ascending"):
        z.spaced_sigmas(zsnr_table.flip(0), 10)


def test_classify_names_leading_with_sd_offset_and_endpoint_likes(sd_table):
    leading = sd_table[z.timesteps(10, "leading", steps_offset=1)]
    assert z.classify_sigmas(leading, sd_table).spacing == "leading"
    # ComfyUI's `simple` scheduler style: T - 1 - floor(i·T/S), which misses trailing's rounding for S = 30
    ts = [999 - int(i * 1000 / 30) for i in range(30)]
    r = z.classify_sigmas(torch.cat([sd_table[ts], torch.zeros(1)]), sd_table)
    assert r.starts_at_T and r.spacing in ("trailing", "trailing-like")
    karras_like = torch.tensor([sd_table[-1].item(), 3.0, 1.0, 0.3, sd_table[0].item(), 0.0])
    assert z.classify_sigmas(karras_like, sd_table).spacing == "linspace-like"
    assert "starts at T" in z.classify_sigmas(karras_like, sd_table).summary()


def test_classify_counts_infinite_sigma_as_T_on_a_zero_snr_table(zsnr_table):
    sigmas = z.spaced_sigmas(zsnr_table, 5)
    sigmas[0] = math.inf
    assert z.classify_sigmas(sigmas, zsnr_table).spacing == "trailing"


def test_classify_refuses_an_empty_list(zsnr_table):
    with pytest.raises(ValueError, match="no entry > 0"):
        z.classify_sigmas(torch.zeros(1), zsnr_table)


def v_model(x_t, t):
    """A fixed, t-dependent linear v-model, to compare the clamped and exact paths on."""
    return 0.5 * x_t + 0.01 * (t.float() / 1000).view(-1, 1, 1, 1) - 0.2


def test_exact_zero_snr_start_equals_the_infinite_sigma_sampler(sd_zero_snr_ac, zsnr_table):
    """A host hands the clamp's σ and noise·√(1+σ²): the result must be sample_ddim's exact one."""
    ts = z.timesteps(10)
    noise = torch.randn(2, 4, 8, 8, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    ref = z.sample_ddim(v_model, noise, sd_zero_snr_ac, ts, "v_prediction")
    sigmas = z.spaced_sigmas(zsnr_table.double(), 10)
    clamped_alpha_bar = z.alphas_cumprod(z.rescale_zero_terminal_snr(z.make_betas("scaled_linear")))
    clamped_alpha_bar[-1] = z.ZERO_SNR_ALPHA_BAR_CLAMP
    host = z.denoiser_from_model(v_model, clamped_alpha_bar)  # the host's model, evaluated at the clamp's ᾱ
    x = noise * math.sqrt(1 + sigmas[0].item() ** 2)
    denoiser, x_T, exact_sigmas = z.exact_zero_snr_start(host, x, sigmas, "v_prediction")
    assert math.isinf(exact_sigmas[0].item()) and torch.equal(exact_sigmas[1:], sigmas[1:])
    out = z.sample_ddim_sigmas(denoiser, x_T, exact_sigmas, disable=True)
    # measured max difference 8.5e-10: the σ path reads ᾱ back from the float32 table, sample_ddim has float64 ᾱ
    assert torch.allclose(out, ref, rtol=0, atol=1e-8)
    naive = z.sample_ddim_sigmas(host, x, sigmas, disable=True)
    assert (naive - ref).abs().max() > 1e-5  # the clamp alone is off by 1.6e-4 here (√ᾱ at the clamp is 2.2e-4)


def test_exact_zero_snr_start_leaves_finite_starts_alone(zsnr_table):
    sigmas = z.spaced_sigmas(zsnr_table, 10, "leading")
    x = torch.randn(1, 4, 8, 8)
    den, x2, s2 = z.exact_zero_snr_start(v_model, x, sigmas, "epsilon")
    assert den is v_model and x2 is x and s2 is sigmas


def test_exact_zero_snr_start_refuses_epsilon(zsnr_table):
    with pytest.raises(ValueError, match="undefined at ᾱ = 0"):
        z.exact_zero_snr_start(v_model, torch.randn(1, 4, 8, 8), z.spaced_sigmas(zsnr_table, 10), "epsilon")


def test_schedule_curves_mark_zero_snr_as_minus_infinity(sd_zero_snr_ac, sd_ac):
    c = z.schedule_curves(sd_zero_snr_ac)
    assert c["log_snr"][-1].item() == -math.inf and torch.isfinite(c["log_snr"][:-1]).all()
    assert c["sqrt_alpha_bar"][-1].item() == 0.0 and c["t"][-1].item() == 999
    assert torch.allclose(z.schedule_curves(sd_ac)["log_snr"], z.snr(sd_ac).log(), rtol=1e-12)
