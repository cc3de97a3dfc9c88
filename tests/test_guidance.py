"""Algorithm 2: against diffusers' rescale_noise_cfg, the std identity, any ndim, and std = 0."""
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import zsnr_core as z


def _diffusers_rescale():
    try:
        from diffusers.guiders.guider_utils import rescale_noise_cfg
    except ImportError:  # older diffusers keep it beside the SD pipeline
        from diffusers.pipelines.stable_diffusion.pipeline_stable_diffusion import rescale_noise_cfg
    return rescale_noise_cfg


def _pair(shape, seed=0, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    cond = torch.randn(shape, generator=g, dtype=dtype)
    return cond, cond + 0.3 * torch.randn(shape, generator=g, dtype=dtype)


@pytest.mark.parametrize("shape", [(2, 4, 8, 8), (2, 4, 3, 8, 8), (3, 16), (1, 4, 64, 64)])
@pytest.mark.parametrize("w, phi", [(7.5, 0.7), (3.0, 0.0), (12.0, 1.0)])
def test_matches_diffusers(shape, w, phi):
    cond, uncond = _pair(shape)
    x_cfg = uncond + w * (cond - uncond)
    ref = _diffusers_rescale()(x_cfg, cond, guidance_rescale=phi)
    # float32 both; measured max difference 4.8e-7 on values up to ~15 (ours folds φ into one factor)
    assert torch.allclose(z.rescale_cfg(cond, uncond, w, phi), ref, rtol=1e-6, atol=1e-5)


@settings(max_examples=100, deadline=None)
@given(w=st.floats(-5, 20), phi=st.floats(0, 1), seed=st.integers(0, 2**31), ndim=st.integers(2, 5))
def test_std_identity(w, phi, seed, ndim):
    """Algorithm 2's closed form: std(x_final) = φ·std(x_pos) + (1-φ)·std(x_cfg), per sample."""
    cond, uncond = _pair((3,) + (4,) * (ndim - 1), seed, torch.float64)
    out = z.rescale_cfg(cond, uncond, w, phi)
    x_cfg = uncond + w * (cond - uncond)
    dims = tuple(range(1, ndim))
    expected = phi * cond.std(dim=dims) + (1 - phi) * x_cfg.std(dim=dims)
    assert torch.allclose(out.std(dim=dims), expected, rtol=1e-10, atol=1e-12)


def test_phi_zero_is_plain_cfg_and_batch_samples_are_independent():
    cond, uncond = _pair((4, 3, 5, 5))
    assert torch.equal(z.rescale_cfg(cond, uncond, 5.0, 0.0), uncond + 5.0 * (cond - uncond))
    whole = z.rescale_cfg(cond, uncond, 5.0, 0.7)
    parts = torch.cat([z.rescale_cfg(cond[i:i + 1], uncond[i:i + 1], 5.0, 0.7) for i in range(4)])
    assert torch.allclose(whole, parts, atol=1e-6)


def test_zero_std_stays_finite_where_diffusers_gives_nan():
    cond, uncond = _pair((3, 4, 8, 8))
    cond[1], uncond[1] = 0.25, 0.25  # a flat sample: std(x_cfg) = 0
    out = z.rescale_cfg(cond, uncond, 7.5, 0.7)
    assert bool(torch.isfinite(out).all())
    assert torch.equal(out[1], torch.full_like(out[1], 0.25))  # nothing to rescale: x_cfg itself
    others = z.rescale_cfg(cond[[0, 2]], uncond[[0, 2]], 7.5, 0.7)
    assert torch.allclose(out[[0, 2]], others, atol=1e-6)  # the flat sample does not disturb the others
    x_cfg = uncond + 7.5 * (cond - uncond)
    assert bool(torch.isnan(_diffusers_rescale()(x_cfg, cond, 0.7)[1]).all())  # the peer failure we guard


def test_single_element_samples_are_finite():
    """Per-sample std over one element is 0 (population std), not NaN (unbiased std divides by 0)."""
    cond, uncond = torch.tensor([[1.0], [2.0]]), torch.tensor([[0.5], [1.0]])
    assert torch.equal(z.rescale_cfg(cond, uncond, 3.0, 0.7), uncond + 3.0 * (cond - uncond))


def test_half_precision_in_and_out(device):
    cond, uncond = (t.to(device) for t in _pair((2, 4, 16, 16)))
    out16 = z.rescale_cfg(cond.half(), uncond.half(), 7.5, 0.7)
    assert out16.dtype == torch.float16 and bool(torch.isfinite(out16).all())
    # fp16 keeps ~3 decimal digits: 2e-2 on values of size ~10
    assert torch.allclose(out16.float(), z.rescale_cfg(cond, uncond, 7.5, 0.7), rtol=5e-3, atol=2e-2)


@pytest.mark.parametrize("args, error, match", [
    ((torch.zeros(2, 3), torch.zeros(2, 4), 7.5), ValueError, r"same shape, got \(2, 3\) and \(2, 4\)"),
    ((torch.zeros(3), torch.zeros(3), 7.5), ValueError, r"needs a batch dim and at least one more"),
    ((torch.zeros(2, 3), torch.zeros(2, 3), float("nan")), ValueError, r"guidance_scale must be in"),
    ((torch.zeros(2, 3), torch.zeros(2, 3), 7.5, 1.5), ValueError, r"phi must be in \[0.0, 1.0\], got 1.5"),
    (([0.0], torch.zeros(2, 3), 7.5), TypeError, r"must be tensors"),
])
def test_bad_arguments(args, error, match):
    with pytest.raises(error, match=match):
        z.rescale_cfg(*args)
