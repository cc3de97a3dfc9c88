"""The few-step glue without ComfyUI: DPM++ 2M (zero-SNR exact)'s sampler function (nodes/sampler_fn.py)."""
import math

import pytest
import torch
from test_nodes import EPS, FakeKSamplerModel, _module, v_model

import zsnr_core as z


def test_from_the_clamp_equals_the_core_from_infinite_sigma(zsnr_table, sd_zero_snr_ac):
    sample = _module("sampler_fn").sample_dpmpp_2m_zero_snr
    noise = torch.randn(2, 4, 8, 8, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    sigmas = z.fewstep_sigmas(zsnr_table, 10).double()
    model, seen = FakeKSamplerModel(zsnr_table), []
    out = sample(model, noise * math.sqrt(1 + sigmas[0].item() ** 2), sigmas, extra_args={}, callback=seen.append,
                 disable=True)
    exact = z.fewstep_sigmas(z.sigma_from_alpha_bar(sd_zero_snr_ac), 10)
    ref = z.sample_dpmpp_2m_sigmas(z.denoiser_from_model(v_model, sd_zero_snr_ac), noise, exact, disable=True)
    # measured max difference 6.0e-10 (ᾱ read from the float32 table against float64)
    assert torch.allclose(out, ref, rtol=0, atol=1e-8), (out - ref).abs().max()
    assert model.calls[0] == pytest.approx(4518.76, abs=0.01) and len(model.calls) == 10
    assert [c["i"] for c in seen] == list(range(10))


def test_on_a_finite_schedule_it_is_plain_dpmpp_2m(sd_ac):
    table = z.sigma_from_alpha_bar(sd_ac).float()
    sigmas = z.fewstep_sigmas(table, 6).double()
    model = FakeKSamplerModel(table, EPS)
    x = torch.randn(1, 4, 8, 8, dtype=torch.float64) * sigmas[0].item()
    sample = _module("sampler_fn").sample_dpmpp_2m_zero_snr
    assert torch.equal(sample(model, x, sigmas, disable=True), z.sample_dpmpp_2m_sigmas(model.denoiser, x, sigmas))


def test_refuses_epsilon_at_zero_snr_and_names_what_it_needs(zsnr_table):
    sample = _module("sampler_fn").sample_dpmpp_2m_zero_snr
    sigmas = z.fewstep_sigmas(zsnr_table, 5)
    with pytest.raises(ValueError, match="undefined at ᾱ = 0"):
        sample(FakeKSamplerModel(zsnr_table, EPS), torch.randn(1, 4, 8, 8), sigmas)
    with pytest.raises(TypeError, match=r"DPM\+\+ 2M \(zero-SNR exact\) runs inside ComfyUI's samplers"):
        sample(v_model, torch.randn(1, 4), sigmas)
