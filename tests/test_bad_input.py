"""What bad input gets: one test per row of the table "What bad input gets" in docs/library.md.

Library calls raise an error naming the value, the allowed range and the fix; the command line prints one message,
exits with code 2 and never shows a traceback; paths are checked before any sampling or training.
"""
import hashlib
import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import zsnr_core as z
from zsnr_core.cli import checks as _cli_checks
from zsnr_core.cli import main
from zsnr_core.toy.zoo import WEIGHTS_DIR, load_model

ROOT = Path(__file__).resolve().parents[1]
X = torch.randn(2, 4, 8, 8, generator=torch.Generator().manual_seed(0))


def _cli_error(argv, capsys) -> str:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    err = capsys.readouterr().err
    assert exc.value.code == 2, err
    assert "Traceback" not in err
    return err


# --- the library ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("shape", [(1, 4, 8, 8), (2, 4, 8, 1), (4, 8, 8), (2, 4, 8, 8, 1)])
@pytest.mark.parametrize("convert", [z.predict_x0, z.predict_eps, z.predict_v])
def test_conversions_refuse_an_output_of_another_shape(convert, shape):
    with pytest.raises(ValueError, match=rf"must have the shape of x \(2, 4, 8, 8\), got {re_shape(shape)}"):
        convert(torch.zeros(shape), X, 0.5, "v_prediction")


def re_shape(shape) -> str:
    return r"\(" + r", ".join(str(n) for n in shape) + r"\)"


def test_forward_process_refuses_noise_of_another_shape():
    with pytest.raises(ValueError, match=r"noise must have the shape of x0 \(2, 4, 8, 8\), got \(1, 4, 8, 8\)"):
        z.add_noise(X, torch.zeros(1, 4, 8, 8), 0.5)
    with pytest.raises(ValueError, match=r"noise must have the shape"):
        z.v_target(X, torch.zeros(2, 4, 8, 1), 0.5)


def test_sigma_sampler_refuses_a_denoiser_output_of_another_shape():
    sigmas = torch.tensor([10.0, 1.0, 0.0])
    with pytest.raises(ValueError, match=r"denoiser's output must have the shape of x \(2, 4, 8, 8\), got \(1, 4, 8, 8\)"):
        z.sample_ddim_sigmas(lambda x, s: x[:1] * 0, X, sigmas, disable=True)


def test_ddim_checks_every_output_not_only_the_first(sd_zero_snr_ac):
    calls = []

    def model(x, t):
        calls.append(1)
        return x if len(calls) == 1 else x[:1]  # right at the first call, broadcastable at the second

    with pytest.raises(ValueError, match=r"got \(1, 4, 8, 8\)"):
        z.sample_ddim(model, X, sd_zero_snr_ac, [999, 500, 0], disable=True)


@pytest.mark.parametrize("sampler", ["ddim", "sigmas"])
def test_a_model_returning_a_tuple_is_named(sampler, sd_zero_snr_ac):
    with pytest.raises(TypeError, match=r"must be a tensor of the shape of x \(2, 4, 8, 8\), got tuple"):
        if sampler == "ddim":
            z.sample_ddim(lambda x, t: (x,), X, sd_zero_snr_ac, [999, 0], disable=True)
        else:
            z.sample_ddim_sigmas(lambda x, s: (x,), X, torch.tensor([3.0, 0.0]), disable=True)


def test_epsilon_prediction_near_zero_snr_is_refused_not_inf():
    eps = torch.randn_like(X)
    with pytest.raises(ValueError, match=r"prediction_type='epsilon' at ᾱ = 1e-300 divides by √ᾱ = 1e-150"):
        z.predict_x0(eps, X, 1e-300, "epsilon")
    with pytest.raises(ValueError, match=r"undefined at ᾱ = 0"):
        z.predict_x0(eps, X, 0.0, "epsilon")  # exactly 0: refused up front, as before
    small = z.predict_x0(eps, X, 1e-20, "epsilon")  # large (1e10) but finite in float32: returned as it is
    assert bool(torch.isfinite(small).all())


def test_epsilon_sampler_near_zero_snr_is_refused_before_any_model_call():
    ac = torch.tensor([0.9, 0.5, 1e-300], dtype=torch.float64)
    # x̂0 = (x_t - √(1-ᾱ)ε̂)/√ᾱ multiplies by 1/√ᾱ = 1e150 > float32's 3.4e38
    with pytest.raises(ValueError, match=r"timestep 2 \(ᾱ = 1e-300\) multiplies ε-prediction's x̂0 by 1/√ᾱ = "
                                         r"1e\+150, beyond torch.float32's range"):
        z.sample_ddim(_never_called, X, ac, [2, 1, 0], "epsilon", disable=True)
    # a float64 sample holds that coefficient, and the same numbers are finite there (ill-conditioned, not refused)
    out = z.sample_ddim(lambda x, t: torch.zeros_like(x), X.double(), ac, [2, 1, 0], "epsilon", disable=True)
    assert bool(torch.isfinite(out).all())


@pytest.mark.parametrize("w", [float("inf"), float("-inf"), float("nan")])
def test_rescale_cfg_refuses_a_non_finite_guidance_scale(w):
    with pytest.raises(ValueError, match="guidance_scale must be"):
        z.rescale_cfg(X, X * 0.5, guidance_scale=w)


def test_eta_noise_per_sample_generators_do_not_depend_on_the_batch(sd_zero_snr_ac):
    model = lambda x, t: 0.5 * x  # acts on each sample alone
    ts = z.timesteps(5, "trailing")

    def run(x, seeds, per_sample):
        gens = [torch.Generator().manual_seed(s) for s in seeds]
        return z.sample_ddim(model, x, sd_zero_snr_ac, ts, eta=1.0, disable=True,
                             generator=gens if per_sample else gens[0])

    pair = run(X, [7, 8], per_sample=True)
    alone = run(X[1:], [8], per_sample=True)
    # elementwise arithmetic on the same numbers: equal up to float32 rounding of fused vs unfused kernels
    assert torch.allclose(pair[1:], alone, rtol=0, atol=1e-6)
    # one generator for the batch (documented): sample 1 gets other noise in a batch of 2 than alone
    assert (run(X, [8, 8], per_sample=False)[1:] - run(X[1:], [8], per_sample=False)).abs().max() > 0.1
    with pytest.raises(ValueError, match=r"a list of B = 2, got 1"):
        run(X, [8], per_sample=True)


# --- weights ----------------------------------------------------------------------------------------------------

@pytest.fixture
def weights_copy(tmp_path):
    folder = tmp_path / "weights"
    shutil.copytree(WEIGHTS_DIR, folder, ignore=shutil.ignore_patterns("checkpoints"))
    return folder


def _corrupt(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[-4000:-3000] = b"\xff" * 1000  # inside the tensor bytes, size unchanged: float32 NaNs
    path.write_bytes(bytes(data))


def test_damaged_weights_are_refused_on_load_naming_file_and_command(weights_copy):
    _corrupt(weights_copy / "fixed.safetensors")
    with pytest.raises(ValueError, match=r"fixed.safetensors is damaged or replaced: its sha256 is .*"
                                         r"python -m zsnr_core train --out "):
        load_model(weights_copy / "fixed.safetensors")
    load_model(weights_copy / "fixed.safetensors", verify=False)  # the opt-out loads it as it is


def test_weights_without_a_manifest_need_the_opt_out(weights_copy):
    (weights_copy / "manifest.json").unlink()
    with pytest.raises(ValueError, match=r"no manifest.json beside it.*verify=False; --no-verify"):
        load_model(weights_copy / "flawed.safetensors")
    assert load_model(weights_copy / "flawed.safetensors", verify=False)[1].name == "flawed"


def test_shipped_manifest_hashes_are_the_files():
    entries = json.loads((WEIGHTS_DIR / "manifest.json").read_text())["models"]
    for entry in entries.values():
        assert hashlib.sha256((WEIGHTS_DIR / entry["file"]).read_bytes()).hexdigest() == entry["sha256"]


def test_cli_damaged_weights_are_one_message(weights_copy, capsys, monkeypatch):
    _corrupt(weights_copy / "flawed.safetensors")
    monkeypatch.setattr("zsnr_core.toy.demo.run_pipeline", _never_called)
    err = _cli_error(["demo", "--weights", str(weights_copy), "--no-figure", "--device", "cpu"], capsys)
    assert "flawed.safetensors is damaged or replaced" in err and f"train --out {weights_copy}" in err


# --- the command line ---------------------------------------------------------------------------------------------

def _never_called(*args, **kwargs):
    raise AssertionError("sampling started before the options were checked")


@pytest.mark.parametrize("device, message", [
    ("mps", "--device must be auto, cpu, cuda or cuda:N, got 'mps': the toy models run on the CPU or an NVIDIA GPU"),
    ("tpu", "--device must be auto, cpu, cuda or cuda:N, got 'tpu'"),
    ("cuda:99", "--device cuda:99:"),
])
def test_cli_device_is_checked(device, message, capsys, monkeypatch):
    if device == "cuda:99" and not torch.cuda.is_available():
        message = "CUDA is not available on this machine; use --device cpu"
    monkeypatch.setattr("zsnr_core.toy.demo.run_pipeline", _never_called)
    assert message in _cli_error(["demo", "--device", device], capsys)


def test_cli_weights_must_be_a_folder(tmp_path, capsys):
    f = tmp_path / "fixed.safetensors"
    f.write_bytes(b"x")
    err = _cli_error(["demo", "--weights", str(f), "--device", "cpu"], capsys)
    assert f"--weights must be a folder that holds flawed.safetensors and fixed.safetensors, got the file {f}" in err


def test_cli_weights_file_that_is_a_folder(weights_copy, capsys):
    (weights_copy / "fixed.safetensors").unlink()
    (weights_copy / "fixed.safetensors").mkdir()
    err = _cli_error(["demo", "--weights", str(weights_copy), "--device", "cpu"], capsys)
    assert "fixed.safetensors is a folder, not a file" in err


def test_cli_train_out_must_not_be_a_file(tmp_path, capsys, monkeypatch):
    f = tmp_path / "taken"
    f.write_text("")
    monkeypatch.setattr("zsnr_core.toy.zoo.train_models", _never_called)
    assert f"--out {f}: is a file, not a folder" in _cli_error(["train", "--out", str(f), "--device", "cpu"], capsys)
    err = _cli_error(["demo", "--train", "--train-dir", str(f), "--device", "cpu"], capsys)
    assert f"--train-dir {f}: is a file" in err


def test_cli_train_and_weights_exclude_each_other(capsys):
    assert "exclude each other" in _cli_error(["demo", "--train", "--weights", str(WEIGHTS_DIR)], capsys)


@pytest.mark.parametrize("out, message", [
    ("figs/noext", "--out must name a .png, .pdf, .svg, .jpg, .jpeg file or an existing folder, got "),
    ("missing_folder/demo.png", "the folder 'missing_folder' does not exist; create the folder first"),
    ("/proc/zsnr_demo.png", "--out /proc/zsnr_demo.png: cannot write into /proc"),
])
def test_cli_out_is_checked_before_sampling(out, message, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("zsnr_core.toy.demo.run_pipeline", _never_called)
    assert message in _cli_error(["demo", "--out", out, "--device", "cpu"], capsys)
    assert not (tmp_path / "missing_folder").exists()  # nothing created on the way


def test_cli_out_folder_gets_the_default_name_and_prints_the_written_path(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    assert main(["demo", "--num-samples", "4", "--steps", "2", "--no-ideal", "--out", str(tmp_path),
                 "--device", "cpu"]) == 0
    printed = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("figure: ")]
    written = tmp_path / "zsnr_demo.png"
    assert printed == [f"figure: {written}"] and written.stat().st_size > 10_000
    assert [p.name for p in tmp_path.iterdir()] == ["zsnr_demo.png"]  # the write probe left nothing behind


def test_cli_out_without_matplotlib(capsys, monkeypatch, tmp_path):
    monkeypatch.setattr(_cli_checks, "_has_matplotlib", lambda: False)
    monkeypatch.setattr("zsnr_core.toy.demo.run_pipeline", _never_called)
    err = _cli_error(["demo", "--out", str(tmp_path / "f.png"), "--device", "cpu"], capsys)
    assert "needs matplotlib, which is not installed; pip install matplotlib" in err


def test_cli_steps_range_is_what_works(capsys):
    err = _cli_error(["demo", "--steps", "1000"], capsys)
    assert "argument --steps: must be in [1, 999], got 1000; the SD baseline's leading spacing" in err
    assert "steps_offset must be" not in err


def test_cli_without_torch_says_how_to_install_it(tmp_path):
    blocker = tmp_path / "torch"
    blocker.mkdir()
    (blocker / "__init__.py").write_text("raise ModuleNotFoundError(\"No module named 'torch'\", name='torch')\n")
    env = {"PYTHONPATH": f"{tmp_path}:{ROOT}", "PATH": "/usr/bin:/bin"}
    run = subprocess.run([sys.executable, "-m", "zsnr_core", "report"], capture_output=True, text=True, env=env,
                         cwd=tmp_path, timeout=120, check=False)
    assert run.returncode == 2 and "Traceback" not in run.stderr
    assert "zsnr_core needs PyTorch" in run.stderr and "zsnr[torch]" in run.stderr
    imp = subprocess.run([sys.executable, "-c", "import zsnr_core"], capture_output=True, text=True, env=env,
                         cwd=tmp_path, timeout=120, check=False)
    assert imp.returncode == 1 and "ModuleNotFoundError: zsnr_core needs PyTorch" in imp.stderr


# --- the third reliability pass: options that do nothing, --set types, paths ------------------------------------

@pytest.mark.parametrize("args, message", [
    (["--train-steps", "5"], "--train-steps does nothing without --train; add --train or drop --train-steps"),
    (["--train-dir", "elsewhere"], "--train-dir does nothing without --train"),
    (["--no-figure", "--out", "x.png"], "--out and --no-figure exclude each other"),
    (["--out", ".png"], "got '.png'; for example 'zsnr_demo.png'"),
    (["--out", "a" * 300 + ".png"], "not a usable path (File name too long); choose a shorter one"),
    (["--weights", ""], "--weights is empty; give the folder that holds the models"),
])
def test_cli_demo_options_that_cannot_work_are_refused_before_sampling(args, message, capsys, monkeypatch):
    monkeypatch.setattr("zsnr_core.toy.demo.run_pipeline", _never_called)
    assert message in _cli_error(["demo", *args, "--device", "cpu"], capsys)


@pytest.mark.parametrize("pair, message", [
    ("seed=1.5", "--set seed: must be int (as JSON: 64), got 1.5"),
    ('brightness_condition="yes"', '--set brightness_condition: must be bool (as JSON: true or false), got "yes"'),
    ("steps=5", "--set steps=5: the step count has its own option; use --steps 5"),
    ("lr=true", "--set lr: must be float"),
    ("widths=[32, 60]", "widths must be a tuple of positive multiples of 8"),
])
def test_cli_set_fields_are_type_and_range_checked_before_training(pair, message, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("zsnr_core.toy.zoo.train_models", _never_called)
    assert message in _cli_error(["train", "--out", str(tmp_path / "m"), "--set", pair, "--device", "cpu"], capsys)
    assert not (tmp_path / "m").exists()


def test_cli_write_probes_of_parallel_checks_do_not_collide(tmp_path):
    # each check creates and removes a file of its own name in the folder; 40 at once never see "cannot write"
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(8) as pool:
        done = list(pool.map(lambda i: _cli_checks.output_dir("--out", tmp_path), range(40)))
    assert done == [tmp_path] * 40 and list(tmp_path.iterdir()) == []


# --- the third reliability pass: the library ------------------------------------------------------------------

@pytest.mark.parametrize("shape", [(2, 4, 8, 1), (1, 4, 8, 8), (4, 8, 8)])
@pytest.mark.parametrize("loss", ["diffusion_loss", "v_loss"])
def test_losses_never_broadcast_a_prediction(loss, shape):
    with pytest.raises(ValueError, match=rf"model_output must have the shape of x0 \(2, 4, 8, 8\), got {re_shape(shape)}"):
        getattr(z, loss)(torch.zeros(shape), X, torch.randn_like(X), 0.5)


def test_losses_refuse_noise_of_another_shape_and_an_empty_batch():
    with pytest.raises(ValueError, match=r"noise must have the shape of x0 \(2, 4, 8, 8\), got \(1, 4, 8, 8\)"):
        z.v_loss(X, X, torch.zeros(1, 4, 8, 8), 0.5)
    with pytest.raises(ValueError, match=r"x0 must be a tensor of shape \(B, \.\.\.\) with B >= 1, got shape \(0, 4\)"):
        z.v_loss(torch.zeros(0, 4), torch.zeros(0, 4), torch.zeros(0, 4), 0.5)
    with pytest.raises(ValueError, match=r"alpha_bar_t must be a float or have shape \(B,\) = \(2,\), got shape \(3,\)"):
        z.v_loss(X, X, X, torch.full((3,), 0.5))


@pytest.mark.parametrize("phi", [2.0, -1.0, float("nan")])
def test_rescale_factor_checks_phi(phi):
    with pytest.raises(ValueError, match=r"phi must be in \[0.0, 1.0\]"):
        z.rescale_factor(X, X, phi)


def test_rescale_factor_refuses_mismatched_shapes():
    with pytest.raises(ValueError, match=r"cond and guided must have the same shape, got \(2, 4, 8, 8\) and \(1, 4, 8, 8\)"):
        z.rescale_factor(X, X[:1], 0.7)


def test_rescale_cfg_refuses_a_guidance_scale_that_overflows_the_dtype():
    with pytest.raises(ValueError, match=r"guidance_scale = 1e\+300 overflows torch.float32"):
        z.rescale_cfg(X, X * 0.5, guidance_scale=1e300)
    assert torch.isfinite(z.rescale_cfg(X.double(), X.double() * 0.5, guidance_scale=1e300, phi=0.7)).all()


@pytest.mark.parametrize("x, error, match", [
    (torch.zeros(2, 4, dtype=torch.complex64), ValueError, r"real floating-point tensor of shape \(B, \.\.\.\), got dtype torch.complex64"),
    (torch.tensor(0.5), ValueError, r"got dtype torch.float32 and shape \(\); add a batch dim"),
    (torch.zeros(2, 4, dtype=torch.long), ValueError, r"got dtype torch.int64"),
])
def test_samplers_refuse_a_sample_that_is_not_a_real_batch(x, error, match, sd_zero_snr_ac):
    with pytest.raises(error, match=match):
        z.sample_ddim(_never_called, x, sd_zero_snr_ac, [999, 500], disable=True)
    with pytest.raises(error, match=match):
        z.sample_dpmpp_2m_sigmas(_never_called, x, torch.tensor([3.0, 0.0]), disable=True)


def test_samplers_refuse_numpy_input_with_the_conversion(sd_zero_snr_ac):
    import numpy as np

    with pytest.raises(TypeError, match=r"x must be a torch.Tensor, got ndarray; convert it with torch.as_tensor"):
        z.sample_ddim(_never_called, np.zeros((2, 4), dtype=np.float32), sd_zero_snr_ac, [999, 500], disable=True)


@pytest.mark.parametrize("sampler", [z.sample_ddim_sigmas, z.sample_dpmpp_2m_sigmas])
def test_sigma_samplers_take_a_tiny_sigma(sampler):
    # 0.1 raised ZeroDivisionError at σ = 1e-8, where ᾱ = 1/(1 + σ²) rounds to 1
    out = sampler(lambda x, s: torch.zeros_like(x), torch.ones(1, 2, dtype=torch.float64),
                  torch.tensor([1.0, 1e-8, 0.0], dtype=torch.float64), disable=True)
    assert torch.equal(out, torch.zeros(1, 2, dtype=torch.float64))  # x̂0 = 0 at every call, the last step returns it


def test_sigma_sampler_seed_must_be_an_integer(sd_zero_snr_ac):
    with pytest.raises(TypeError, match=r"extra_args\['seed'\] must be an integer, got 'abc'"):
        z.sample_ddim_sigmas(lambda x, s, seed: x, X, torch.tensor([3.0, 0.0]), extra_args={"seed": "abc"}, eta=1.0)


def test_terminal_snr_report_of_a_schedule_without_noise_says_so():
    with pytest.raises(ValueError, match=r"this schedule adds no noise .* check the betas"):
        z.terminal_snr_report(betas=torch.zeros(5))
    with pytest.raises(ValueError, match=r"terminal_snr_report takes ᾱ since 0.2; for β pass betas="):
        z.terminal_snr_report(z.make_betas("linear"))  # β rises: not a ᾱ schedule


def test_report_names_float64_underflow_instead_of_zero_betas(capsys):
    err = _cli_error(["report", "--timesteps", "100000", "--schedule", "linear"], capsys)
    assert "underflows float64 to 0 there" in err and "zero betas" not in err


def test_cli_ctrl_c_while_torch_loads_exits_130_without_a_traceback(tmp_path):
    # a stand-in torch that takes 60 s to import, so that the SIGINT surely lands during the import
    slow = tmp_path / "torch"
    slow.mkdir()
    (slow / "__init__.py").write_text("import time\ntime.sleep(60)\n")
    env = {"PYTHONPATH": f"{tmp_path}:{ROOT}", "PATH": "/usr/bin:/bin"}
    proc = subprocess.Popen([sys.executable, "-m", "zsnr_core", "report"], stderr=subprocess.PIPE, text=True,
                            env=env, cwd=tmp_path)
    time.sleep(3)  # python itself starts in well under a second
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "Traceback" not in err and "interrupted" in err


# --- the third reliability pass: weights, manifests and checkpoints -------------------------------------------

def test_cli_swapped_weights_are_refused_even_without_verify(weights_copy, capsys, monkeypatch):
    flawed, fixed = weights_copy / "flawed.safetensors", weights_copy / "fixed.safetensors"
    tmp = weights_copy / "swap"
    flawed.rename(tmp), fixed.rename(flawed), tmp.rename(fixed)
    monkeypatch.setattr("zsnr_core.toy.demo.run_pipeline", _never_called)
    err = _cli_error(["demo", "--weights", str(weights_copy), "--no-verify", "--no-figure", "--device", "cpu"], capsys)
    assert f"{flawed} holds the model 'fixed' (v_prediction, zero SNR True), not 'flawed' (epsilon" in err


def test_a_manifest_whose_sha256_is_not_a_string_is_named(weights_copy):
    manifest = weights_copy / "manifest.json"
    data = json.loads(manifest.read_text())
    data["models"]["fixed"]["sha256"] = 12345
    manifest.write_text(json.dumps(data))
    with pytest.raises(ValueError, match=r"records sha256 12345, not a hex string, for fixed.safetensors"):
        load_model(weights_copy / "fixed.safetensors")


def test_a_damaged_classifier_names_the_command_that_rebuilds_it(weights_copy):
    from zsnr_core.toy.zoo import shipped_classifier

    _corrupt(weights_copy / "classifier.safetensors")
    with pytest.raises(ValueError, match=r"python -m zsnr_core train-classifier --out"):
        shipped_classifier(weights_copy)


def test_a_resumed_run_names_the_field_that_differs_and_a_truncated_checkpoint_says_delete_it(tmp_path):
    from dataclasses import replace

    from zsnr_core.toy.train import TrainConfig, train

    config = TrainConfig("t", True, "v_prediction", steps=2, batch_size=2, size=8, widths=(8,))
    checkpoint = tmp_path / "c.safetensors"
    train(config, checkpoint, disable=True, log=lambda *_: None, until=1)
    with pytest.raises(ValueError, match=r"another config \(lr = 0.002 there, 0.001 now\); resume with the same"):
        train(replace(config, lr=1e-3), checkpoint, disable=True, log=lambda *_: None)
    checkpoint.write_bytes(checkpoint.read_bytes()[:100])
    with pytest.raises(ValueError, match=r"truncated; delete it to start over"):
        train(config, checkpoint, disable=True, log=lambda *_: None)


def test_cli_set_size_zero_is_refused_before_training_starts(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("zsnr_core.toy.zoo.train_models", _never_called)  # 0.1 printed "[fixed] training" first
    err = _cli_error(["train", "--out", str(tmp_path / "m"), "--set", "size=0", "--steps", "1"], capsys)
    assert "size must be in [8, 512], got 0" in err
