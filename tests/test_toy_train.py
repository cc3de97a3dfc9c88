"""Training the toy UNet, resuming it, the shipped weights and the demo command."""
import hashlib
import json
from dataclasses import replace

import pytest
import torch

from zsnr_core.cli import main
from zsnr_core.toy.pipelines import PIPELINES, sample
from zsnr_core.toy.safetensors_io import load_file
from zsnr_core.toy.train import TrainConfig, export_weights, train
from zsnr_core.toy.unet import TinyUNet
from zsnr_core.toy.zoo import MODELS, RETRAIN_COMMAND, WEIGHTS_DIR, load_model, load_models, train_models

TINY = TrainConfig("tiny", zero_snr=True, prediction_type="v_prediction", steps=60, batch_size=16, lr=3e-3, warmup=5,
                   size=16, widths=(8, 16))


def test_unet_shapes_and_null_label():
    net = TinyUNet(3, (8, 16), 4)
    x, t = torch.randn(2, 3, 16, 16), torch.tensor([0, 999])
    assert net(x, t, torch.tensor([0, 4])).shape == x.shape
    # the output layer starts at zero; perturb it so that labels matter, then None must equal the null label 4
    torch.nn.init.normal_(net.out.weight)
    torch.testing.assert_close(net(x, t), net(x, t, torch.tensor([4, 4])))


def test_training_reduces_the_loss():
    """60 steps of the tiny config. Measured ratio of the mean loss over steps 51-60 to that over steps 1-10:
    0.745 for seed 0 (0.80 and 0.80 for seeds 1, 2); with lr = 1e-9 (nothing learnt) 0.98, 1.10, 1.08. The bound
    0.88 lies between the two groups."""
    result = train(TINY, disable=True, log_every=10)
    losses = [loss for _, loss in result.history]
    assert len(losses) == 6 and all(torch.isfinite(torch.tensor(losses)))
    assert losses[-1] < 0.88 * losses[0], losses


def test_resumed_training_equals_uninterrupted(tmp_path):
    short = replace(TINY, steps=12)
    straight = train(short, disable=True, log_every=4)
    ckpt = tmp_path / "ck.safetensors"
    train(short, ckpt, disable=True, log_every=4, until=8)
    resumed = train(short, ckpt, disable=True, log_every=4, log=lambda *_: None)
    for a, b in zip(straight.model.state_dict().values(), resumed.model.state_dict().values()):
        assert torch.equal(a, b)
    assert [s for s, _ in resumed.history] == [4, 8, 12]


def test_resume_refuses_another_config(tmp_path):
    ckpt = tmp_path / "ck.safetensors"
    train(replace(TINY, steps=2), ckpt, disable=True)
    with pytest.raises(ValueError, match=r"another config \(lr = .* there, 0.001 now\).*delete it"):
        train(replace(TINY, steps=4, lr=1e-3), ckpt, disable=True)
    with pytest.raises(ValueError, match="past the 1 steps asked for"):
        train(replace(TINY, steps=1), ckpt, disable=True)


def test_exported_weights_round_trip(tmp_path):
    result = train(replace(TINY, steps=3), disable=True)
    export_weights(result, tmp_path / "tiny.safetensors")
    model, config = load_model(tmp_path / "tiny.safetensors", verify=False)  # no manifest beside it
    assert config == replace(TINY, steps=3)
    for a, b in zip(model.state_dict().values(), result.model.state_dict().values()):
        assert torch.equal(a, b)


def test_missing_or_damaged_weights_name_the_retrain_command(tmp_path):
    fix = RETRAIN_COMMAND.format(out=tmp_path)
    with pytest.raises(FileNotFoundError, match=fix):
        load_model(tmp_path / "fixed.safetensors")
    (tmp_path / "fixed.safetensors").write_bytes(b"not a model at all")
    with pytest.raises(ValueError, match="there is no manifest.json beside it; rebuild it with `" + fix):
        load_model(tmp_path / "fixed.safetensors")
    with pytest.raises(FileNotFoundError, match=fix):
        load_model(tmp_path / "fixed.safetensors", verify=False)


def test_train_command_writes_loadable_models_and_a_manifest(tmp_path, monkeypatch):
    monkeypatch.setitem(MODELS, "fixed", replace(TINY, name="fixed"))  # the shipped config, shrunk for speed
    manifest = train_models(["fixed"], tmp_path, steps=2, eval_every=0, log=lambda *_: None, final_samples=8,
                            command="python -m zsnr_core train --steps 2")
    entry = manifest["models"]["fixed"]
    assert entry["config"]["steps"] == 2 and entry["command"] == "python -m zsnr_core train --steps 2"
    assert json.loads((tmp_path / "manifest.json").read_text()) == manifest
    assert {"sha256", "wall_time_s", "device", "torch", "final_loss", "final_metrics"} <= entry.keys()
    _, config = load_model(tmp_path / entry["file"])
    assert config == replace(MODELS["fixed"], steps=2)
    assert hashlib.sha256((tmp_path / entry["file"]).read_bytes()).hexdigest() == entry["sha256"]
    assert (tmp_path / "checkpoints" / "fixed.safetensors").exists()  # resumable state beside the export


def test_shipped_weights_load_match_the_manifest_and_sample_finite():
    manifest = json.loads((WEIGHTS_DIR / "manifest.json").read_text())
    models = load_models()
    for name, config in MODELS.items():
        entry = manifest["models"][name]
        _, meta = load_file(WEIGHTS_DIR / entry["file"])
        assert TrainConfig.from_json(meta["config"]) == config  # shipped = what the training command makes
        # a config recorded before a field existed (offset_noise, init_from, min_timestep) reads as its default
        assert TrainConfig.from_json(json.dumps(entry["config"])) == config
        assert entry["command"].startswith("python -m zsnr_core train")
        assert hashlib.sha256((WEIGHTS_DIR / entry["file"]).read_bytes()).hexdigest() == entry["sha256"]
    for key in ("sd", "zsnr_v_trailing_rescaled"):
        pipe = PIPELINES[key]
        x = sample(models[pipe.model], pipe, 4, steps=3, guidance_scale=3.0)
        assert x.shape == (4, 3, 32, 32) and bool(torch.isfinite(x).all())
        assert torch.equal(x, sample(models[pipe.model], pipe, 4, steps=3, guidance_scale=3.0))  # same seed


def test_demo_runs_end_to_end(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    out = tmp_path / "demo.png"
    assert main(["demo", "--num-samples", "4", "--steps", "2", "--out", str(out), "--device", "cpu"]) == 0
    text = capsys.readouterr().out
    assert "SD baseline" in text and "rescaled CFG" in text and "refused" in text
    assert out.stat().st_size > 10_000


@pytest.mark.parametrize("argv, message", [
    (["demo", "--steps", "0"], "must be in [1, 999]"),
    (["demo", "--phi", "1.5"], "the paper uses 0.7"),
    (["demo", "--guidance", "abc"], "must be a number"),
    (["demo", "--device", "tpu"], "--device must be"),
    (["demo", "--weights", "/nonexistent"], "python -m zsnr_core train --out /nonexistent"),
    (["train", "--set", "depth=3"], "--set takes KEY=VALUE with KEY one of"),
    (["train", "--set", "lr=fast"], "VALUE must be JSON"),
    (["train", "--set", "lr=2.0"], "lr must be"),
])
def test_demo_rejects_bad_options(argv, message, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2 and message in capsys.readouterr().err


def test_brightness_condition_is_optional_and_null_by_default():
    net = TinyUNet(3, (8, 16), 4, num_brightness=3)
    torch.nn.init.normal_(net.out.weight)
    x, t, labels = torch.randn(2, 3, 16, 16), torch.tensor([0, 999]), torch.tensor([1, 2])
    torch.testing.assert_close(net(x, t, labels), net(x, t, labels, torch.tensor([3, 3])))
    assert not torch.allclose(net(x, t, labels), net(x, t, labels, torch.tensor([0, 2])))
    with pytest.raises(ValueError, match="no brightness condition"):
        TinyUNet(3, (8, 16), 4)(x, t, labels, torch.tensor([0, 2]))


def test_brightness_condition_leaves_the_other_draws_of_a_batch_alone():
    from zsnr_core.toy.pipelines import schedule
    from zsnr_core.toy.train import _batch

    ac = schedule(True)
    plain = _batch(TINY, 3, ac, 4, "cpu")
    bright = _batch(replace(TINY, brightness_condition=True), 3, ac, 4, "cpu")
    assert plain[4] is None and bright[4].shape == (TINY.batch_size,)
    assert set(bright[4].tolist()) <= {0, 1, 2, 3}
    for a, b in zip(plain[:4], bright[:4]):
        assert torch.equal(a, b)


def test_sample_by_brightness_checks_its_bucket():
    model, _ = load_model(WEIGHTS_DIR / "fixed.safetensors")
    pipe = PIPELINES["zsnr_v_trailing"]
    by_name = sample(model, pipe, 4, steps=2, brightness="bright")
    assert torch.equal(by_name, sample(model, pipe, 4, steps=2, brightness=2))
    with pytest.raises(ValueError, match="brightness must be one of"):
        sample(model, pipe, 4, steps=2, brightness="light")
    with pytest.raises(ValueError, match="0 dark, 1 mid, 2 bright"):
        sample(model, pipe, 4, steps=2, brightness=3)


def test_shipped_fixed_model_follows_the_brightness_condition():
    """8 samples, 10 steps, w = 1, seed 0: measured mean brightness -0.466 asked dark, +0.298 asked bright (the
    buckets start at ∓0.3; the data's mean is +0.006). The bounds ∓0.15 keep half of the smaller distance."""
    model, _ = load_model(WEIGHTS_DIR / "fixed.safetensors")
    pipe = PIPELINES["zsnr_v_trailing"]
    dark = sample(model, pipe, 8, steps=10, brightness="dark").mean()
    bright = sample(model, pipe, 8, steps=10, brightness="bright").mean()
    assert dark < -0.15 and bright > 0.15


def test_train_classifier_command_writes_a_loadable_classifier_and_its_manifest_entry(tmp_path):
    from zsnr_core.toy.classifier import load_classifier

    assert main(["train-classifier", "--out", str(tmp_path), "--steps", "2", "--device", "cpu"]) == 0
    entry = json.loads((tmp_path / "manifest.json").read_text())["models"]["classifier"]
    assert entry["command"] == f"python -m zsnr_core train-classifier --out {tmp_path} --steps 2 --device cpu"
    assert hashlib.sha256((tmp_path / entry["file"]).read_bytes()).hexdigest() == entry["sha256"]
    assert 0.0 <= entry["held_out_accuracy"] <= 1.0 and entry["config"]["steps"] == 2
    _, config = load_classifier(tmp_path / entry["file"])
    assert config.steps == 2
