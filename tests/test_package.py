"""Packaging promises: torch and numpy only, a ComfyUI entry that is inert outside ComfyUI, the report command."""
import importlib.util
import pathlib
import re
import subprocess
import sys

import pytest

import zsnr_core as z

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120,
                          check=False)


@pytest.mark.parametrize("module", ["zsnr_core", "zsnr_core.toy", "zsnr_core.toy.demo", "zsnr_core.cli"])
def test_core_imports_only_torch_and_numpy(module):
    probe = _python(
        f"import sys, torch, numpy; before = set(sys.modules); import {module}; "
        "new = {m.split('.')[0] for m in set(sys.modules) - before}; print(sorted(new))")
    assert probe.returncode == 0, probe.stderr
    loaded = set(eval(probe.stdout))
    for banned in ("comfy", "comfy_api", "matplotlib", "diffusers", "tqdm", "IPython", "scipy", "safetensors"):
        assert banned not in loaded


SAMPLE = ("ac = z.alphas_cumprod(z.rescale_zero_terminal_snr(z.make_betas('linear'))); "
          "x = z.sample_ddim(lambda x, t: torch.zeros_like(x), torch.ones(1, 2), ac, z.timesteps(3), disable=False)")


def test_samplers_run_with_progress_bars_when_tqdm_is_missing():
    probe = _python(f"import sys; sys.modules['tqdm'] = None; import torch, zsnr_core as z; {SAMPLE}; print(x.tolist())")
    assert probe.returncode == 0, probe.stderr
    scope = {"torch": __import__("torch"), "z": z}
    exec(SAMPLE, scope)  # noqa: S102  (our own snippet, with tqdm, in this process)
    assert probe.stdout.strip() == str(scope["x"].tolist())


def test_every_public_name_is_exported():
    for name in z.__all__:
        assert getattr(z, name) is not None
    for name in ("make_betas", "alphas_cumprod", "snr", "rescale_zero_terminal_snr", "timesteps", "predict_x0",
                 "predict_eps", "v_target", "sample_ddim", "rescale_cfg", "sample_ddim_sigmas"):
        assert name in z.__all__  # the fixed API


def test_comfyui_entry_is_inert_without_comfyui():
    spec = importlib.util.spec_from_file_location("zsnr_custom_node", ROOT / "__init__.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    public = [n for n in vars(module) if not n.startswith("__")]
    assert public == [] and "comfy_api" not in sys.modules


def test_requirements_never_list_torch():
    lines = [ln.split("#")[0].strip() for ln in (ROOT / "requirements.txt").read_text().splitlines()]
    assert not any(re.match(r"^torch\b", ln, re.IGNORECASE) for ln in lines if ln)


def test_report_command_prints_sd_before_and_after():
    run = subprocess.run([sys.executable, "-m", "zsnr_core", "report"], capture_output=True, text=True, cwd=ROOT,
                         check=False)
    assert run.returncode == 0, run.stderr
    rows = {ln.split("  ")[0].strip(): ln for ln in run.stdout.splitlines() if ln.startswith("scaled_linear")}
    assert "0.0682649" in rows["scaled_linear"] and "4.6819e-03" in rows["scaled_linear"]
    after = rows["scaled_linear + Algorithm 1"].split()
    assert after[-5:-1] == ["0.999575", "0", "0", "inf"] and after[-1] == "(4518.76)"


@pytest.mark.parametrize("argv, message", [
    (["report", "--schedule", "cosine"], "invalid choice: 'cosine'"),
    (["report", "--timesteps", "1"], "argument --timesteps: must be in [2, 1000000], got 1"),
])
def test_report_command_bad_options(argv, message):
    run = subprocess.run([sys.executable, "-m", "zsnr_core", *argv], capture_output=True, text=True, cwd=ROOT,
                         check=False)
    assert run.returncode == 2 and message in run.stderr


def test_license_is_an_spdx_expression_and_the_paper_is_linked():
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["license"] == "MIT" and project["license-files"] == ["LICENSE"]  # not the whole text as License
    assert not any(c.startswith("License ::") for c in project["classifiers"])  # PEP 639 forbids both
    assert project["urls"]["Paper"] == "https://arxiv.org/abs/2305.08891"


def test_the_repository_stands_alone_and_cites_the_paper_itself():
    tracked = subprocess.run(["git", "ls-files"], capture_output=True, text=True, cwd=ROOT, check=False).stdout.split()
    if not tracked:
        pytest.skip("not a git checkout")
    outside = "PAPER" + ".md"  # a notes file that is not part of this repository
    citing = [f for f in tracked if f.endswith((".py", ".md", ".ipynb", ".toml", ".json"))
              and outside in (ROOT / f).read_text(errors="replace")]
    assert citing == []
