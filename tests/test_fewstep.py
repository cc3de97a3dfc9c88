"""fewstep_timesteps / fewstep_sigmas: shape of the schedule, table entries, refusals, and the accuracy it buys."""
import math

import pytest
import torch

import zsnr_core as z
from zsnr_core.sigma_tables import FEWSTEP_RHO, FEWSTEP_T_END, FEWSTEP_T_START
from zsnr_core.toy import gaussian_denoiser


@pytest.fixture(scope="module")
def exact_table(sd_zero_snr_ac):
    return z.sigma_from_alpha_bar(sd_zero_snr_ac)  # float64, inf at t = 999


@pytest.fixture(scope="module")
def comfy_table(sd_zero_snr_ac):
    return z.sigma_from_alpha_bar(sd_zero_snr_ac, clamp=True).float()  # what ComfyUI's patched model holds


@pytest.mark.parametrize("steps", [1, 2, 3, 5, 10, 25, 60])
def test_starts_at_T_then_spreads_from_t_start_to_t_end_along_table_entries(exact_table, comfy_table, steps):
    ts = z.fewstep_timesteps(z.alphas_cumprod_from_sigma_table(exact_table), steps)
    assert ts.dtype == torch.long and len(ts) == steps and ts[0] == 999
    assert bool((ts[1:] < ts[:-1]).all())
    if steps >= 2:
        assert ts[1] == FEWSTEP_T_START
    if steps >= 3:
        assert ts[-1] == FEWSTEP_T_END
    exact, comfy = z.fewstep_sigmas(exact_table, steps), z.fewstep_sigmas(comfy_table, steps)
    assert exact.dtype == torch.float64 and comfy.dtype == torch.float32
    assert math.isinf(exact[0]) and z.is_clamped_zero_snr(comfy[0]) and exact[-1] == 0 and comfy[-1] == 0
    assert torch.equal(exact[1:-1], exact_table[ts[1:]]) and torch.equal(comfy[1:-1], comfy_table[ts[1:]])
    assert z.timestep_from_sigma(comfy[:-1], z.alphas_cumprod_from_sigma_table(comfy_table)).tolist() == ts.tolist()


def test_the_spread_is_karras_rho_in_sigma_snapped_to_the_nearest_timestep(exact_table, sd_zero_snr_ac):
    steps = 10
    hi, lo = exact_table[FEWSTEP_T_START].item(), exact_table[FEWSTEP_T_END].item()
    ramp = torch.linspace(0, 1, steps - 1, dtype=torch.float64)
    karras = (hi ** (1 / FEWSTEP_RHO) + ramp * (lo ** (1 / FEWSTEP_RHO) - hi ** (1 / FEWSTEP_RHO))) ** FEWSTEP_RHO
    log_table = exact_table[:-1].log()
    nearest = (karras.log()[:, None] - log_table[None, :]).abs().argmin(1)
    assert z.fewstep_timesteps(sd_zero_snr_ac, steps)[1:].tolist() == nearest.tolist()


def test_as_many_steps_as_the_spread_has_timesteps(sd_zero_snr_ac):
    ts = z.fewstep_timesteps(sd_zero_snr_ac, 12, t_start=20, t_end=10)  # 11 timesteps in [10, 20], plus T
    assert ts.tolist() == [999, *range(20, 9, -1)]
    with pytest.raises(ValueError, match=r"steps must be in \[1, 12\], got 13; this spread has 11 timesteps"):
        z.fewstep_timesteps(sd_zero_snr_ac, 13, t_start=20, t_end=10)


def test_defaults_scale_with_the_number_of_training_timesteps():
    ac = z.rescale_alphas_cumprod_zero_terminal_snr(z.alphas_cumprod(z.make_betas("scaled_linear", 500)))
    ts = z.fewstep_timesteps(ac, 6)
    assert ts[0] == 499 and ts[1] == round(FEWSTEP_T_START * 499 / 999) and ts[-1] == round(FEWSTEP_T_END * 499 / 999)


def test_a_schedule_without_zero_snr_starts_at_its_own_finite_sigma_max(sd_ac):
    table = z.sigma_from_alpha_bar(sd_ac)
    sigmas = z.fewstep_sigmas(table, 8)
    assert sigmas[0] == table[-1] and math.isfinite(sigmas[0])


@pytest.mark.parametrize("kwargs, match", [
    ({"steps": 0}, r"steps must be in \[1, 980\], got 0"),
    ({"steps": 10.0}, r"steps must be an integer"),
    ({"steps": 10, "t_start": 999}, r"t_start must be in \[1, 998\], got 999"),
    ({"steps": 10, "t_end": 980}, r"t_end must be in \[0, 979\], got 980; t_end must lie below t_start"),
    ({"steps": 10, "rho": 0.5}, r"rho must be in \[1.0, 100.0\], got 0.5"),
])
def test_bad_arguments_are_named(sd_zero_snr_ac, kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        z.fewstep_timesteps(sd_zero_snr_ac, **kwargs)


def gain(sampler, sigmas, mu=0.3, s=0.5):
    """std(output)/s - 1 on x0 ~ N(μ, s²): the samplers are linear in x_T here, so x_T = 1 gives the gain exactly."""
    denoiser = gaussian_denoiser(mu, s)
    out = sampler(denoiser, torch.ones(1, 1, dtype=torch.float64), sigmas)
    mean = sampler(denoiser, torch.zeros(1, 1, dtype=torch.float64), sigmas)
    return (out - mean).item() / s - 1


def test_ten_calls_reach_the_data_std_within_three_percent(exact_table, sd_zero_snr_ac):
    """The benchmark's headline, closed form: 2M along the few-step schedule against DDIM along trailing."""
    fewstep = gain(z.sample_dpmpp_2m_sigmas, z.fewstep_sigmas(exact_table, 10))
    trailing = z.spaced_sigmas(exact_table, 10)
    ddim = gain(z.sample_ddim_sigmas, trailing)
    # measured: +0.0072 (2M, few-step) and -0.2418 (DDIM, trailing: std 0.379)
    assert abs(fewstep) < 0.01 and ddim < -0.2


@pytest.mark.parametrize("steps", [981, 1000, 1500])
def test_more_steps_than_the_spread_holds_are_trailing(exact_table, steps):
    # KSampler asks for steps/denoise (1000 for 20 steps at denoise 0.02): the few-step spread has 980 timesteps
    assert torch.equal(z.fewstep_sigmas(exact_table, steps), z.spaced_sigmas(exact_table, steps, "trailing"))
    assert len(z.fewstep_sigmas(exact_table, 980)) == 981  # the spread's own largest count is still the spread


def test_a_rising_schedule_is_refused():
    with pytest.raises(ValueError, match="non-increasing"):
        z.fewstep_timesteps(torch.tensor([0.9, 0.95, 0.5, 0.0]), 2, t_start=2, t_end=0)
