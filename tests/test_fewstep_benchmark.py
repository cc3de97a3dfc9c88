"""The few-step benchmark's scoring (harness/fewstep_scoring.py, which benchmarks/fewstep_benchmark.py uses) and the
table it prints.

The benchmark itself needs a ComfyUI checkout and minutes; its scores and its table do not, so they are checked here
against closed forms and against the committed results JSON.
"""
import json
import math
import re
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def bench():
    import fewstep_scoring

    return fewstep_scoring


def exact_map(bench, shrink=1.0, shift=0.0):
    """μ + s·ε per data set (what the probability-flow ODE returns from standardised noise ε), optionally
    with the spread scaled by `shrink` and the mean moved by `shift`·s."""
    noise = bench.standard_noise((len(bench.SCALES), 4, 8, 8), seed=3).double()
    s = torch.tensor(bench.SCALES, dtype=torch.float64).view(-1, 1, 1, 1)
    return bench.MU + s * (shrink * noise + shift)


def test_the_exact_map_scores_zero_and_errors_score_their_size(bench):
    # The exact map scores 0 up to the float32 rounding of the standardised noise (measured 5.4e-9; bound 1e-6).
    worst, old = bench.gaussian_errors(exact_map(bench))
    assert worst < 1e-6 and old < 1e-6
    # A spread 3 % too small is 3 % off on every data set; a mean 0.05·s off is 5 % off; the worst counts.
    assert bench.gaussian_errors(exact_map(bench, shrink=0.97))[0] == pytest.approx(0.03, abs=1e-6)
    assert bench.gaussian_errors(exact_map(bench, shrink=0.97, shift=0.05))[0] == pytest.approx(0.05, abs=1e-6)
    assert bench.gaussian_errors(exact_map(bench, shrink=0.97, shift=0.05))[1] == pytest.approx(0.03, abs=1e-6)
    bad = exact_map(bench)
    bad[2, 0, 0, 0] = math.nan
    assert bench.gaussian_errors(bad) == (math.inf, math.inf)


def test_the_gaussian_denoiser_is_the_posterior_mean_of_each_data_set(bench):
    # x̂0 = μ + s²/(s²+σ²)(x - μ) per batch item; at σ = inf the data mean. Reference computed by hand per item.
    from zsnr_core.toy import gaussian_denoiser

    x = torch.linspace(-2, 2, 4 * 5, dtype=torch.float64).view(4, 5)
    sigma = torch.tensor([0.5, 1.0, math.inf, 3.0], dtype=torch.float64)
    out = gaussian_denoiser(bench.MU, bench.SCALES)(x, sigma)
    for i, (s, sg) in enumerate(zip(bench.SCALES, sigma.tolist())):
        if math.isinf(sg):
            want = torch.full_like(x[i], bench.MU)
        else:
            want = bench.MU + s * s / (s * s + sg * sg) * (x[i] - bench.MU)
        # through x_t = x_σ·√ᾱ and back: a few ulp apart from the σ-space formula (bound 1e-14 for |x| <= 2)
        torch.testing.assert_close(out[i], want, rtol=1e-14, atol=1e-14)


def test_angle_sigmas_start_at_inf_end_at_zero_and_are_uniform_in_the_angle(bench):
    sig = bench.angle_sigmas(11, 0.03)
    assert math.isinf(sig[0]) and sig[-1] == 0.0 and len(sig) == 12
    assert sig[-2].item() == pytest.approx(0.03, rel=1e-12)
    theta = torch.atan(1 / sig[1:-1])
    torch.testing.assert_close(theta.diff(), torch.full((9,), theta[0].item(), dtype=torch.float64))


def test_categories_keep_ours_apart_from_the_built_ins(bench):
    assert bench.category(bench.OUR_LABELS[0]) == "ours"
    assert bench.category("zsnr_dpmpp_2m × karras") == "ours"
    assert bench.category("ipndm × zsnr_fewstep") == "schedule"
    assert bench.category("uni_pc × exponential") == "built-in"


def test_the_docs_table_is_the_one_the_committed_results_print(bench):
    results = json.loads((ROOT / "benchmarks" / "fewstep_results.json").read_text())
    table = bench.markdown_table(results)
    page = (ROOT / "docs" / "fewstep.md").read_text()
    section = re.search(r"<!-- fewstep:start.*?<!-- fewstep:end -->", page, re.DOTALL).group(0)
    assert table in section
