"""Betas, ᾱ, SNR and Algorithm 1: against the paper's numbers (Table 1 of arXiv 2305.08891, recomputed in
float64), diffusers, and properties."""
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import zsnr_core as z

# Table 1 of the paper, recomputed in float64 and quoted to the digits below. Tolerance: one unit in the last quoted digit,
# because two of the quoted values are truncated (cosine √ᾱ_999 = 4.928252e-5 is quoted 4.9282e-5).
TABLE_1 = {
    "scaled_linear": ((0.999575, 1e-6), (0.068265, 1e-6), (4.6819e-3, 1e-7)),
    "linear": ((0.999950, 1e-6), (0.006353, 1e-6), (4.0360e-5, 1e-9)),
    "squaredcos_cap_v2": ((0.999979, 1e-6), (4.9282e-5, 1e-9), (2.4287e-9, 1e-13)),
}

# √ᾱ_t of Stable Diffusion's schedule after Algorithm 1 (computed in float64 from the paper's map), quoted to 6 decimals.
SD_RESCALED_SQRT_AB = {0: 0.999575, 1: 0.999116, 249: 0.808819, 499: 0.492300, 749: 0.182130,
                       899: 0.055073, 998: 0.000444}


@pytest.mark.parametrize("schedule", sorted(TABLE_1))
def test_table_1_of_the_paper(schedule):
    ac = z.alphas_cumprod(z.make_betas(schedule))
    (s0, tol0), (sT, tolT), (snrT, tol_snr) = TABLE_1[schedule]
    assert ac.dtype == torch.float64 and ac.shape == (1000,)
    assert abs(ac[0].sqrt().item() - s0) <= tol0
    assert abs(ac[-1].sqrt().item() - sT) <= tolT
    assert abs(z.snr(ac)[-1].item() - snrT) <= tol_snr


def test_rescaled_sd_schedule_matches_the_paper():
    ac = z.alphas_cumprod(z.rescale_zero_terminal_snr(z.make_betas("scaled_linear")))
    for t, expected in SD_RESCALED_SQRT_AB.items():
        assert abs(ac[t].sqrt().item() - expected) <= 1e-6, t
    assert ac[999].item() == 0.0
    assert z.snr(ac)[999].item() == 0.0


def test_report_of_sd_before_and_after():
    betas = z.make_betas("scaled_linear")
    before, after = z.terminal_snr_report(betas=betas, name="SD"), z.terminal_snr_report(z.alphas_cumprod(z.rescale_zero_terminal_snr(betas)))
    assert not before.zero_terminal_snr and abs(before.sigma_last - 14.6146) < 1e-4
    assert after.zero_terminal_snr and after.snr_last == 0.0 and math.isinf(after.sigma_last)
    assert after.sqrt_alpha_bar_first == before.sqrt_alpha_bar_first


# --- against diffusers (test-only oracle) -----------------------------------------------------------------------

@pytest.mark.parametrize("schedule", ["linear", "scaled_linear", "squaredcos_cap_v2"])
@pytest.mark.parametrize("T", [10, 1000])
def test_betas_match_diffusers(schedule, T):
    from diffusers import DDIMScheduler

    # diffusers' DDIMScheduler defaults to 1e-4 → 0.02 for every schedule; SD's range must be passed to it.
    sd_range = {"beta_start": 0.00085, "beta_end": 0.012} if schedule == "scaled_linear" else {}
    ref = DDIMScheduler(num_train_timesteps=T, beta_schedule=schedule, **sd_range).betas.double()
    ours = z.make_betas(schedule, T)
    # diffusers builds betas in float32: measured max relative difference 2.2e-7 (scaled_linear, T=1000), so
    # 1e-6 leaves ~5x margin and still fails on any formula difference (a wrong range is off by >1e-2).
    assert torch.allclose(ours, ref, rtol=1e-6, atol=0)


@pytest.mark.parametrize("schedule", ["linear", "scaled_linear", "squaredcos_cap_v2"])
def test_algorithm_1_matches_diffusers(schedule):
    from diffusers.schedulers.scheduling_ddim import rescale_zero_terminal_snr as diffusers_rescale

    betas = z.make_betas(schedule)
    ours, ref = z.rescale_zero_terminal_snr(betas), diffusers_rescale(betas.clone())
    # Both in float64; we pin the end points exactly where diffusers leaves them to rounding.
    assert torch.allclose(ours, ref, rtol=0, atol=1e-12)
    assert ours[-1].item() == 1.0


@pytest.mark.parametrize("schedule", ["linear", "scaled_linear"])
def test_custom_beta_range_matches_diffusers(schedule):
    from diffusers import DDIMScheduler

    ref = DDIMScheduler(beta_schedule=schedule, beta_start=0.0005, beta_end=0.03).betas.double()
    assert torch.allclose(z.make_betas(schedule, 1000, 0.0005, 0.03), ref, rtol=1e-6, atol=0)


# --- properties -----------------------------------------------------------------------------------------------

ULP = 2.0 ** -52  # float64's relative spacing at 1: a last-bit difference is at most this much relative

betas_strategy = st.lists(st.floats(1e-6, 0.2), min_size=2, max_size=300).map(
    lambda b: torch.tensor(b, dtype=torch.float64))


@settings(max_examples=200, deadline=None)
@given(betas_strategy)
def test_alphas_cumprod_is_monotone_and_in_range(betas):
    ac = z.alphas_cumprod(betas)
    assert bool((ac[1:] <= ac[:-1]).all()) and bool((ac > 0).all()) and bool((ac < 1).all())


@settings(max_examples=200, deadline=None)
@given(betas_strategy)
def test_algorithm_1_properties(betas):
    ac = z.alphas_cumprod(betas)
    new = z.rescale_zero_terminal_snr(betas)
    ac_new = z.alphas_cumprod(new)
    assert ac_new[-1].item() == 0.0 and new[-1].item() == 1.0  # zero terminal SNR, exactly
    assert ac_new[0].item() == ac[0].item()  # ᾱ_0 kept, exactly
    assert bool((ac_new[1:] <= ac_new[:-1]).all())  # still a noise schedule
    s = ac.sqrt()
    a = s[0] / (s[0] - s[-1])
    # affine in √ᾱ, checked in ᾱ: going back through β = 1 - ᾱ_t/ᾱ_{t-1} costs ~1e-16 absolute in ᾱ, which √
    # blows up near ᾱ = 0 (hypothesis found 7e-12 in √ᾱ for betas [0.125, 0.125, 1e-6])
    assert torch.allclose(ac_new, (a * (s - s[-1])) ** 2, rtol=0, atol=1e-12)
    assert torch.allclose(z.rescale_zero_terminal_snr(new), new, rtol=0, atol=1e-12)  # idempotent


@settings(max_examples=200, deadline=None)
@given(betas_strategy)
def test_algorithm_1_in_alpha_bar_space_is_the_same_map_without_the_round_trip(betas):
    ac = z.alphas_cumprod(betas)
    direct = z.rescale_alphas_cumprod_zero_terminal_snr(ac)
    s = ac.sqrt()
    a = s[0] / (s[0] - s[-1])
    want = (a * (s - s[-1])) ** 2
    want[0], want[-1] = ac[0], 0.0
    assert torch.equal(direct, want)  # the affine map of √ᾱ itself, bit for bit: no trip through β
    # the β-space function is this map followed by β = 1 - ᾱ_t/ᾱ_{t-1} and back (~1e-16 absolute, see above)
    assert torch.allclose(z.alphas_cumprod(z.rescale_zero_terminal_snr(betas)), direct, rtol=0, atol=1e-12)
    # Idempotent up to rounding: a second pass takes √ of the squares and squares again, which IEEE arithmetic
    # returns unchanged only where the platform's sqrt is correctly rounded; a last-bit difference was seen for
    # about 1 schedule in 1000 on one machine (ᾱ[1] ...6621 vs ...662). The endpoints are set, so they are exact.
    again = z.rescale_alphas_cumprod_zero_terminal_snr(direct)
    assert again[0].item() == direct[0].item() and again[-1].item() == 0.0
    assert torch.allclose(again, direct, rtol=4 * ULP, atol=0)


def test_algorithm_1_in_alpha_bar_space_refuses_a_rising_schedule():
    with pytest.raises(ValueError, match=r"non-increasing in t, got ᾱ\[1\] = 0.5 < ᾱ\[2\] = 0.6"):
        z.rescale_alphas_cumprod_zero_terminal_snr([0.9, 0.5, 0.6])


# --- errors ---------------------------------------------------------------------------------------------------

def test_unknown_schedule_names_the_choices():
    with pytest.raises(ValueError, match=r"schedule must be one of 'linear', 'scaled_linear', 'squaredcos_cap_v2', got 'cosine'"):
        z.make_betas("cosine")


@pytest.mark.parametrize("kwargs, match", [
    ({"num_train_timesteps": 1}, r"num_train_timesteps must be >= 2, got 1"),
    ({"beta_start": 0.0}, r"0 < beta_start <= beta_end < 1"),
    ({"beta_start": 0.02, "beta_end": 0.01}, r"0 < beta_start <= beta_end < 1"),
    ({"beta_end": float("nan")}, r"beta_end must be in \[0.0, 1.0\], got nan"),
])
def test_bad_schedule_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        z.make_betas("linear", **kwargs)


def test_cosine_takes_no_range():
    with pytest.raises(ValueError, match="takes no beta_start/beta_end"):
        z.make_betas("squaredcos_cap_v2", beta_start=1e-4)


def test_betas_with_nan_or_out_of_range_are_refused():
    with pytest.raises(ValueError, match=r"betas contains NaN at index 2"):
        z.alphas_cumprod([0.1, 0.1, float("nan")])
    with pytest.raises(ValueError, match=r"betas must lie in \[0, 1\], got betas\[1\] = 1.5"):
        z.alphas_cumprod([0.1, 1.5])
    with pytest.raises(ValueError, match=r"alphas_cumprod must lie in \[0, 1\]"):
        z.snr([0.5, -0.1])


def test_algorithm_1_refuses_what_it_cannot_rescale():
    with pytest.raises(ValueError, match="adds no noise"):
        z.rescale_zero_terminal_snr([0.0, 0.0, 0.0])
    with pytest.raises(ValueError, match=r"drop the trailing zero betas"):
        z.rescale_zero_terminal_snr([0.1, 0.2, 0.0])
