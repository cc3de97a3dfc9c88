import pytest
import torch

import zsnr_core as z

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.fixture(params=DEVICES)
def device(request):
    return torch.device(request.param)


@pytest.fixture(scope="session")
def sd_zero_snr_ac():
    """Stable Diffusion's schedule after Algorithm 1: ᾱ_999 = 0."""
    return z.alphas_cumprod(z.rescale_zero_terminal_snr(z.make_betas("scaled_linear")))


@pytest.fixture(scope="session")
def sd_ac():
    return z.alphas_cumprod(z.make_betas("scaled_linear"))
