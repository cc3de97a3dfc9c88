"""The few-step benchmark's scoring (benchmarks/fewstep_benchmark.py) and the README table it prints.

The benchmark itself needs a ComfyUI checkout and minutes; its scores and its table do not, so they are checked here
against closed forms and against the committed results JSON.
"""
import importlib.util
import itertools
import json
import math
import re
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]


def load_script(name: str):
    """A benchmarks/ script as a module (its main() is not run)."""
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def bench():
    return load_script("fewstep_benchmark")


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
    x = torch.linspace(-2, 2, 4 * 5, dtype=torch.float64).view(4, 5)
    sigma = torch.tensor([0.5, 1.0, math.inf, 3.0], dtype=torch.float64)
    out = bench.gaussian_x0(x, sigma)
    for i, (s, sg) in enumerate(zip(bench.SCALES, sigma.tolist())):
        if math.isinf(sg):
            want = torch.full_like(x[i], bench.MU)
        else:
            want = bench.MU + s * s / (s * s + sg * sg) * (x[i] - bench.MU)
        torch.testing.assert_close(out[i], want, rtol=1e-15, atol=1e-15)


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


def test_the_readme_table_is_the_one_the_committed_results_print(bench):
    results = json.loads((ROOT / "benchmarks" / "fewstep_results.json").read_text())
    table = bench.markdown_table(results)
    readme = (ROOT / "README.md").read_text()
    section = re.search(r"<!-- fewstep:start.*?<!-- fewstep:end -->", readme, re.DOTALL).group(0)
    assert table in section


@pytest.fixture(scope="module")
def search():
    return load_script("fewstep_search")


@pytest.mark.parametrize("k", [0, 1, 2])
def test_the_exploratory_lambda_weights_integrate_polynomials_in_lambda_exactly(search, k):
    # ∫_{u0}^{u1} λ^k du with λ = log u; closed forms: u, u(λ - 1), u(λ² - 2λ + 2).
    nodes, u0, u1 = [0.5, 1.1, 2.0], 1.3, 3.7
    w = search.weights_lambda(nodes, u0, u1)
    primitive = [lambda u: u, lambda u: u * (math.log(u) - 1), lambda u: u * (math.log(u) ** 2 - 2 * math.log(u) + 2)]
    got = sum(wj * math.log(n) ** k for wj, n in zip(w, nodes))
    assert got == pytest.approx(primitive[k](u1) - primitive[k](u0), rel=1e-12)


def test_the_exploratory_predictor_corrector_gains_an_order_from_its_corrector(search):
    # From σ = inf to σ_end = 0.2 along geometric steps from σ = 100, on N(0.3, 0.5²) per element, where x at σ_end
    # is exactly μ + √(s² + σ_end²)·ε. With the corrector the error falls one order faster than the predictor's
    # interpolant: ab2-am as N^-3 (measured slopes 2.87 and 3.05 for N = 16 → 32 → 64; bounds 3 ± 0.4), and ab3-am
    # far below ab2-am at N = 64 (measured 3.45e-6 vs 2.33e-4, 67×; bound 10×). Order 1 (DDIM predictor, trapezoid
    # corrector) measured slopes 2.09, 2.06.
    mu, s, end = 0.3, 0.5, 0.2
    noise = torch.randn(4096, generator=torch.Generator().manual_seed(0), dtype=torch.float64)

    def denoiser(x, sigma):
        sg = sigma.double().view(-1)[0]
        return torch.full_like(x, mu) if math.isinf(sg) else mu + s * s / (s * s + sg * sg) * (x - mu)

    def error(n, order):
        sig = torch.cat([torch.tensor([math.inf]), torch.logspace(2, math.log10(end), n, dtype=torch.float64)])
        out = search.sample_adams_pc(denoiser, noise.view(1, -1), sig, order).double().view(-1)
        return (out - (mu + math.sqrt(s * s + end * end) * noise)).abs().max().item()

    errors = [error(n, 2) for n in (16, 32, 64)]
    slopes = [math.log2(a / b) for a, b in itertools.pairwise(errors)]
    assert all(2.6 < v < 3.4 for v in slopes), (errors, slopes)
    assert error(64, 3) < errors[-1] / 10
