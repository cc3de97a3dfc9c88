"""Algorithm 2 on σ-space x̂_0 in a chosen space: against rescale_cfg on converted predictions, std = 0, any ndim."""
import math

import pytest
import torch

import zsnr_core as z


def _case(shape, sigma, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(shape, generator=g, dtype=torch.float64) * math.sqrt(1 + sigma**2)
    cond = torch.randn(shape, generator=g, dtype=torch.float64)
    uncond = cond + 0.3 * torch.randn(shape, generator=g, dtype=torch.float64)
    return x, cond, uncond


def _oracle(x, sigma, cond, uncond, w, phi, space):
    """Convert x̂_0 to the space with parametrization.py, run rescale_cfg there, convert back."""
    ab = z.alpha_bar_from_sigma(sigma)
    x_t = x * math.sqrt(ab)
    kind = {"v": "v_prediction", "eps": "epsilon", "x0": "sample"}[space]
    to = {"v": z.predict_v, "eps": z.predict_eps, "x0": z.predict_x0}[space]
    out = z.rescale_cfg(to(cond, x_t, ab, "sample"), to(uncond, x_t, ab, "sample"), w, phi)
    return z.predict_x0(out, x_t, ab, kind)


@pytest.mark.parametrize("space", z.CFG_SPACES)
@pytest.mark.parametrize("shape", [(2, 4, 8, 8), (2, 4, 3, 8, 8), (3, 16)])
@pytest.mark.parametrize("sigma", [0.03, 1.0, 14.6, 4518.76])
def test_equals_rescale_cfg_in_that_space(space, shape, sigma):
    x, cond, uncond = _case(shape, sigma)
    w, phi = 7.5, 0.7
    guided = uncond + w * (cond - uncond)
    out = z.rescale_cfg_denoised(x, torch.full((shape[0],), sigma, dtype=torch.float64), guided, cond, phi, space)
    ref = _oracle(x, sigma, cond, uncond, w, phi, space)
    # float64: measured max difference 1.5e-11 (ε at σ = 4518.76 divides by √ᾱ = 2.2e-4 in the oracle's way back)
    assert torch.allclose(out, ref, rtol=0, atol=1e-9)


def test_spaces_differ():
    x, cond, uncond = _case((2, 4, 8, 8), 1.0)
    guided = uncond + 7.5 * (cond - uncond)
    outs = [z.rescale_cfg_denoised(x, 1.0, guided, cond, 0.7, s) for s in z.CFG_SPACES]
    assert (outs[0] - outs[1]).abs().max() > 1e-2 and (outs[0] - outs[2]).abs().max() > 1e-2


def test_at_infinite_sigma_v_is_minus_x0_and_eps_is_untouched():
    x, cond, uncond = _case((2, 4, 8, 8), 0.0)
    guided = uncond + 7.5 * (cond - uncond)
    v = z.rescale_cfg_denoised(x, math.inf, guided, cond, 0.7, "v")
    assert torch.allclose(v, -z.rescale_cfg(-cond, -uncond, 7.5, 0.7), rtol=0, atol=1e-12)
    assert z.rescale_cfg_denoised(x, math.inf, guided, cond, 0.7, "eps") is guided


def test_finite_where_std_is_zero_and_chains_after_any_guided_result():
    x = torch.zeros(2, 4, 8, 8)
    cond = torch.zeros(2, 4, 8, 8)
    out = z.rescale_cfg_denoised(x, torch.tensor([1.0, 2.0]), torch.zeros_like(x), cond, 0.7, "v")
    assert torch.equal(out, torch.zeros_like(x))
    # a guided x̂_0 from some other rule: its std in v is pulled to φ·std(v_pos) + (1-φ)·std(v_cfg)
    x, cond, _ = _case((1, 4, 8, 8), 2.0)
    other = 3.0 * cond + 0.5
    out = z.rescale_cfg_denoised(x, 2.0, other, cond, 0.7, "v")
    m = z.alpha_bar_from_sigma(2.0)
    assert math.isclose((out - m * x).std().item(), 0.7 * (cond - m * x).std().item() + 0.3 * (other - m * x).std().item(),
                        rel_tol=1e-12)


def test_phi_zero_and_fp16_keep_dtype():
    x, cond, uncond = _case((2, 4, 8, 8), 1.0)
    guided = uncond + 5 * (cond - uncond)
    assert z.rescale_cfg_denoised(x, 1.0, guided, cond, 0.0, "v") is guided
    out = z.rescale_cfg_denoised(x.half(), 1.0, guided.half(), cond.half(), 0.7, "v")
    assert out.dtype == torch.float16 and torch.isfinite(out).all()


@pytest.mark.parametrize("kwargs, match", [
    ({"space": "velocity"}, "space must be one of 'v', 'x0', 'eps', got 'velocity'"),
    ({"phi": 1.5}, r"phi must be in \[0.0, 1.0\], got 1.5; phi = 0 is plain CFG"),
    ({"sigma": torch.ones(3)}, r"sigma must be a float or have shape \(B,\) = \(2,\)"),
])
def test_bad_arguments(kwargs, match):
    x, cond, _ = _case((2, 4), 1.0)
    args = {"x": x, "sigma": 1.0, "denoised": cond, "cond_denoised": cond, "phi": 0.7, "space": "v", **kwargs}
    with pytest.raises(ValueError, match=match):
        z.rescale_cfg_denoised(**args)


def test_shape_mismatch_is_named():
    with pytest.raises(ValueError, match=r"\(2, 4\), \(2, 5\) and \(2, 4\)"):
        z.rescale_cfg_denoised(torch.zeros(2, 4), 1.0, torch.zeros(2, 5), torch.zeros(2, 4))
