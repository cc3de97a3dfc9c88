"""ε / v / x̂0 / σ conversions: round trips, exactness at ᾱ = 0, refusals, and no NaN or inf anywhere."""
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import zsnr_core as z


def _data(seed, shape=(3, 2, 4, 4), dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(shape, generator=g, dtype=dtype), torch.randn(shape, generator=g, dtype=dtype)


@settings(max_examples=300, deadline=None)
@given(ab=st.floats(0.0, 0.999), seed=st.integers(0, 2**31))
def test_v_and_sample_round_trips(ab, seed):
    x0, eps = _data(seed)
    x_t = z.add_noise(x0, eps, ab)
    v = z.v_target(x0, eps, ab)
    for output, kind in ((v, "v_prediction"), (x0, "sample")):
        assert torch.allclose(z.predict_x0(output, x_t, ab, kind), x0, atol=1e-9 / math.sqrt(1 - ab))
        assert torch.allclose(z.predict_eps(output, x_t, ab, kind), eps, atol=1e-9 / math.sqrt(1 - ab))
        assert torch.allclose(z.predict_v(output, x_t, ab, kind), v, atol=1e-9 / math.sqrt(1 - ab))


@settings(max_examples=300, deadline=None)
@given(ab=st.floats(1e-6, 1.0), seed=st.integers(0, 2**31))
def test_epsilon_round_trips(ab, seed):
    x0, eps = _data(seed)
    x_t = z.add_noise(x0, eps, ab)
    # x̂0 = (x_t - √(1-ᾱ)ε)/√ᾱ amplifies rounding by 1/√ᾱ
    assert torch.allclose(z.predict_x0(eps, x_t, ab, "epsilon"), x0, atol=1e-9 / math.sqrt(ab))
    assert torch.equal(z.predict_eps(eps, x_t, ab, "epsilon"), eps)
    assert torch.allclose(z.predict_v(eps, x_t, ab, "epsilon"), z.v_target(x0, eps, ab), atol=1e-9 / math.sqrt(ab))


def test_exact_at_zero_snr():
    """Equations 17 and 19 at ᾱ = 0: x̂0 = -v̂ and ε̂ = x_T, to the bit."""
    v, x_T = _data(0, dtype=torch.float32)
    assert torch.equal(z.predict_x0(v, x_T, 0.0, "v_prediction"), -v)
    assert torch.equal(z.predict_eps(v, x_T, 0.0, "v_prediction"), x_T)
    assert torch.equal(z.predict_eps(v, x_T, 0.0, "sample"), x_T)
    assert torch.equal(z.add_noise(v, x_T, 0.0), x_T)
    assert torch.equal(z.v_target(v, x_T, 0.0), -v)


def test_per_sample_alpha_bar_equals_per_sample_floats(device):
    out, x_t = (t.to(device) for t in _data(1, dtype=torch.float32))
    ab = torch.tensor([0.0, 0.3, 0.999], dtype=torch.float64)
    for kind in ("v_prediction", "sample"):
        for fn in (z.predict_x0, z.predict_eps, z.predict_v):
            batched = fn(out, x_t, ab, kind)
            single = torch.cat([fn(out[i:i + 1], x_t[i:i + 1], ab[i].item(), kind) for i in range(3)])
            assert batched.device.type == device.type and torch.allclose(batched, single, atol=1e-6)


@pytest.mark.parametrize("fn", [z.predict_x0, z.predict_eps, z.predict_v])
@pytest.mark.parametrize("ab", [0.0, torch.tensor([0.5, 0.0, 0.5])])
def test_epsilon_at_zero_snr_is_refused_with_the_reason(fn, ab):
    out, x_t = _data(2)
    with pytest.raises(ValueError, match=r"'epsilon' is undefined at ᾱ = 0 \(SNR = 0\).*use a v_prediction"):
        fn(out, x_t, ab, "epsilon")


def test_sample_prediction_has_no_eps_at_alpha_bar_one():
    out, x_t = _data(3)
    with pytest.raises(ValueError, match=r"'sample' gives no ε̂ at ᾱ = 1"):
        z.predict_eps(out, x_t, 1.0, "sample")


@pytest.mark.parametrize("ab, error, match", [
    (float("nan"), ValueError, r"alpha_bar_t must be in \[0.0, 1.0\], got nan"),
    (1.5, ValueError, r"alpha_bar_t must be in \[0.0, 1.0\], got 1.5"),
    (torch.tensor([0.5, float("nan"), 0.5]), ValueError, r"alpha_bar_t must lie in \[0, 1\]"),
    (torch.tensor([0.5, 0.5]), ValueError, r"shape \(B,\) = \(3,\), got shape \(2,\)"),
    ("0.5", TypeError, r"alpha_bar_t must be a real number"),
])
def test_bad_alpha_bar(ab, error, match):
    out, x_t = _data(4)
    with pytest.raises(error, match=match):
        z.predict_x0(out, x_t, ab, "v_prediction")


def test_unknown_prediction_type():
    out, x_t = _data(5)
    with pytest.raises(ValueError, match=r"prediction_type must be one of 'epsilon', 'v_prediction', 'sample', got 'v'"):
        z.predict_x0(out, x_t, 0.5, "v")


# --- σ ↔ ᾱ ------------------------------------------------------------------------------------------------------

@settings(max_examples=300, deadline=None)
@given(st.floats(1e-12, 1.0))
def test_sigma_round_trip(ab):
    sigma = z.sigma_from_alpha_bar(ab)
    assert math.isclose(z.alpha_bar_from_sigma(sigma), ab, rel_tol=1e-12)
    t = torch.tensor([ab], dtype=torch.float64)
    assert torch.allclose(z.alpha_bar_from_sigma(z.sigma_from_alpha_bar(t)), t, rtol=1e-12, atol=0)


def test_sigma_end_points_are_exact():
    assert z.sigma_from_alpha_bar(0.0) == math.inf and z.alpha_bar_from_sigma(math.inf) == 0.0
    assert z.sigma_from_alpha_bar(1.0) == 0.0 and z.alpha_bar_from_sigma(0.0) == 1.0
    table = z.sigma_from_alpha_bar(torch.tensor([1.0, 0.5, 0.0], dtype=torch.float64))
    assert table.tolist() == [0.0, 1.0, math.inf]


def test_the_one_clamp_constant():
    """ComfyUI's zero-SNR stand-in, σ = 4518.76 (ᾱ = 4.8973451890853435e-8, ComfyUI's and A1111's value); applied to exact zeros only."""
    clamped = z.sigma_from_alpha_bar(0.0, clamp=True)
    assert abs(clamped - 4518.76) < 0.005 and math.sqrt(z.ZERO_SNR_ALPHA_BAR_CLAMP) < 2.3e-4
    cosine_last = z.alphas_cumprod(z.make_betas("squaredcos_cap_v2"))[-1].item()  # 2.4e-9 < the clamp's ᾱ
    assert z.sigma_from_alpha_bar(cosine_last, clamp=True) == z.sigma_from_alpha_bar(cosine_last)
    table = z.sigma_from_alpha_bar(torch.tensor([0.5, 0.0], dtype=torch.float64), clamp=True)
    assert table[1].item() == clamped and table[0].item() == 1.0


def test_bad_sigma():
    with pytest.raises(ValueError, match=r"sigma must be in \[0.0, inf\], got -1.0"):
        z.alpha_bar_from_sigma(-1.0)
    with pytest.raises(ValueError, match=r"sigma must be >= 0"):
        z.alpha_bar_from_sigma(torch.tensor([1.0, float("nan")]))


def test_no_nan_or_inf_leaks_anywhere_on_a_zero_snr_schedule(sd_zero_snr_ac, device):
    """Every conversion at every t of a zero-SNR schedule, t = T included, stays finite."""
    x0, eps = (t.to(device, torch.float32) for t in _data(6, shape=(1000, 4, 2, 2)))
    ab = sd_zero_snr_ac  # (1000,), one ᾱ per sample: every timestep at once
    x_t, v = z.add_noise(x0, eps, ab), z.v_target(x0, eps, ab)
    outputs = [x_t, v]
    for out, kind in ((v, "v_prediction"), (x0, "sample")):
        outputs += [z.predict_x0(out, x_t, ab, kind), z.predict_eps(out, x_t, ab, kind), z.predict_v(out, x_t, ab, kind)]
    outputs.append(z.predict_x0(eps[:-1], x_t[:-1], ab[:-1], "epsilon"))  # ε is fine wherever ᾱ > 0
    outputs.append(z.sigma_from_alpha_bar(ab, clamp=True))
    outputs.append(z.alpha_bar_from_sigma(z.sigma_from_alpha_bar(ab)))
    for o in outputs:
        assert bool(torch.isfinite(o).all())


@pytest.mark.parametrize("kind", z.PREDICTION_TYPES)
@pytest.mark.parametrize("ab", [0.0, 1e-8, 0.4, 0.999])
def test_conversion_coefficients_are_the_conversions(kind, ab):
    if kind == "epsilon" and ab == 0.0:
        with pytest.raises(ValueError, match="undefined at ᾱ = 0"):
            z.conversion_coefficients(ab, kind)
        return
    out, x_t = _data(7)
    p, q, r, s = z.conversion_coefficients(ab, kind)
    assert torch.allclose(p * x_t + q * out, z.predict_x0(out, x_t, ab, kind), rtol=1e-12, atol=1e-12)
    assert torch.allclose(r * x_t + s * out, z.predict_eps(out, x_t, ab, kind), rtol=1e-12, atol=1e-12)
