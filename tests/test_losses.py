"""v-loss as an SNR-weighted x̂0-loss, and loss weights that stay finite at SNR = 0."""
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import zsnr_core as z


def _batch(seed, shape=(4, 3, 6, 6)):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(shape, generator=g, dtype=torch.float64) for _ in range(3)]


@settings(max_examples=200, deadline=None)
@given(ab=st.floats(0.0, 0.9999), seed=st.integers(0, 2**31))
def test_v_loss_is_one_plus_snr_times_the_x0_loss(ab, seed):
    """For a fixed x_t, ‖v - v̂‖² = (1 + SNR)·‖x0 - x̂0‖² and ‖ε - ε̂‖² = SNR·‖x0 - x̂0‖² (arXiv 2305.08891, section 3.2)."""
    x0, noise, x0_hat = _batch(seed)
    x_t = z.add_noise(x0, noise, ab)
    # the ε̂ and v̂ consistent with x̂0 at x_t, from equation (19) solved for v̂ (well conditioned at ᾱ → 0)
    eps_hat = (x_t - ab ** 0.5 * x0_hat) / (1 - ab) ** 0.5
    v_hat = (ab ** 0.5 * x_t - x0_hat) / (1 - ab) ** 0.5
    x0_loss = (x0 - x0_hat).pow(2).mean()
    snr = ab / (1 - ab)
    assert torch.isclose(z.v_loss(v_hat, x0, noise, ab), (1 + snr) * x0_loss, rtol=1e-9)
    assert torch.isclose(z.diffusion_loss(eps_hat, x0, noise, ab, "epsilon"), snr * x0_loss, rtol=1e-9, atol=1e-12)


def test_v_loss_at_zero_snr_is_the_x0_loss():
    x0, noise, v_hat = _batch(1)
    loss = z.v_loss(v_hat, x0, noise, 0.0)
    assert torch.isfinite(loss) and torch.isclose(loss, (x0 + v_hat).pow(2).mean())  # target v = -x0 at SNR 0


def test_training_targets():
    x0, noise, _ = _batch(2)
    assert torch.equal(z.training_target(x0, noise, 0.3, "epsilon"), noise)
    assert torch.equal(z.training_target(x0, noise, 0.3, "sample"), x0)
    assert torch.equal(z.training_target(x0, noise, 0.3, "v_prediction"), z.v_target(x0, noise, 0.3))


def test_unweighted_loss_is_plain_mse_with_per_sample_alpha_bar():
    x0, noise, out = _batch(3)
    ab = torch.tensor([0.0, 0.2, 0.7, 0.99], dtype=torch.float64)
    expected = torch.nn.functional.mse_loss(out, z.v_target(x0, noise, ab))
    assert torch.isclose(z.v_loss(out, x0, noise, ab), expected, rtol=1e-12)


ALL_AB = torch.cat([torch.tensor([0.0, 1e-300, 1e-12]), torch.linspace(0, 1, 1001, dtype=torch.float64),
                    torch.tensor([1 - 1e-12, 1.0])])


@pytest.mark.parametrize("kind", z.PREDICTION_TYPES)
@pytest.mark.parametrize("gamma", [None, 0.5, 5.0, 1e6])
def test_weights_are_finite_for_every_alpha_bar(kind, gamma):
    w = z.loss_weight(ALL_AB, kind, gamma)
    assert w.dtype == torch.float64 and bool(torch.isfinite(w).all()) and bool((w >= 0).all())


@pytest.mark.parametrize("kind, k", [("epsilon", lambda snr: snr), ("v_prediction", lambda snr: snr + 1),
                                     ("sample", lambda snr: torch.ones_like(snr))])
def test_min_snr_weights_match_the_formula_and_diffusers_where_it_is_defined(kind, k, sd_zero_snr_ac):
    """Hang et al.'s min(SNR, γ)/k as diffusers' training scripts compute it, on every t with 0 < SNR < ∞."""
    from diffusers import DDPMScheduler
    from diffusers.training_utils import compute_snr

    sched = DDPMScheduler(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012, rescale_betas_zero_snr=True)
    t = torch.arange(1000)
    snr = compute_snr(sched, t).double()
    ref = torch.stack([snr, 5.0 * torch.ones_like(snr)], dim=1).min(dim=1)[0] / k(snr)
    ours = z.loss_weight(sched.alphas_cumprod.double(), kind, 5.0)
    # diffusers' SNR comes from float32 ᾱ: measured max relative difference 3.2e-7 over t = 0..998
    assert torch.allclose(ours[:999], ref[:999], rtol=1e-6)
    # at t = T (SNR = 0): diffusers' ε-weight is 0/0 = NaN; ours is the limit 1; the v-weight is 0 in both
    if kind == "epsilon":
        assert torch.isnan(ref[999]) and ours[999].item() == 1.0
    elif kind == "v_prediction":
        assert ref[999].item() == 0.0 and ours[999].item() == 0.0


@pytest.mark.parametrize("floor", [0.25, 1.0])
def test_a_min_snr_floor_raises_the_noisy_end_only(floor):
    """With the floor f the v-weight is min(max(ᾱ, f), γ(1-ᾱ)) (f = 1: λ = 1 wherever SNR < γ, t = T included, as
    section 5.2 needs), the x̂0-weight max(SNR, f) below γ; the ε-weight is 1 there already; where SNR >= γ nothing
    changes; f = 0 is Min-SNR itself. Compared on every ᾱ of ALL_AB, each side one float64 min/max of the same
    numbers, so equal exactly."""
    plain = {kind: z.loss_weight(ALL_AB, kind, 5.0) for kind in z.PREDICTION_TYPES}
    raised = {kind: z.loss_weight(ALL_AB, kind, 5.0, floor) for kind in z.PREDICTION_TYPES}
    noisy = 5.0 * (1.0 - ALL_AB) >= ALL_AB  # SNR <= γ
    assert torch.equal(raised["v_prediction"], torch.minimum(ALL_AB.clamp(min=floor), 5.0 * (1.0 - ALL_AB)))
    assert raised["v_prediction"][0].item() == floor  # t = T now carries loss
    assert torch.equal(raised["sample"][noisy], plain["sample"][noisy].clamp(min=floor))
    assert torch.equal(raised["epsilon"], plain["epsilon"])
    for kind in z.PREDICTION_TYPES:
        assert torch.equal(raised[kind][~noisy], plain[kind][~noisy])
        assert torch.equal(z.loss_weight(ALL_AB, kind, 5.0, 0.0), plain[kind])


def test_a_floor_is_refused_without_gamma_or_above_one():
    with pytest.raises(ValueError, match=r"min_snr_floor=0.5 needs a Min-SNR γ"):
        z.loss_weight(0.5, "v_prediction", None, 0.5)
    with pytest.raises(ValueError, match=r"min_snr_floor must be in \[0.0, 1.0\], got 2.0"):
        z.loss_weight(0.5, "v_prediction", 5.0, 2.0)


def test_weighted_loss_applies_the_weights_per_sample():
    x0, noise, out = _batch(4)
    ab = torch.tensor([0.0, 0.5, 0.9, 0.999], dtype=torch.float64)
    per_sample = (out - z.v_target(x0, noise, ab)).pow(2).flatten(1).mean(1)
    expected = (z.loss_weight(ab, "v_prediction", 5.0) * per_sample).mean()
    assert torch.isclose(z.v_loss(out, x0, noise, ab, min_snr_gamma=5.0), expected, rtol=1e-12)


@pytest.mark.parametrize("args, match", [
    ((0.5, "v_prediction", 0.0), r"min_snr_gamma must be > 0"),
    ((0.5, "v_prediction", -1.0), r"min_snr_gamma must be in \[0.0, inf\], got -1.0; Hang et al. use 5"),
    ((1.5, "v_prediction"), r"alpha_bar_t must lie in \[0, 1\]"),
    ((0.5, "x0"), r"prediction_type must be one of"),
])
def test_bad_weight_arguments(args, match):
    with pytest.raises(ValueError, match=match):
        z.loss_weight(*args)
