"""Offset noise (Guttenberg 2023; Lin et al. 2024, section 5.4), fine-tunes, and the shipped offset-noise models."""
import hashlib
import json
from dataclasses import replace

import numpy as np
import pytest
import torch

from zsnr_core.toy.pipelines import PIPELINES, sample, schedule
from zsnr_core.toy.safetensors_io import load_file
from zsnr_core.toy.train import TrainConfig, _batch, offset, train
from zsnr_core.toy.zoo import EXPERIMENTS, FINETUNES, MODELS, OWN_PIPELINE, WEIGHTS_DIR, load_model, train_models

TINY = TrainConfig("tiny", zero_snr=False, prediction_type="epsilon", steps=2, batch_size=16, lr=3e-3, warmup=1,
                   size=16, widths=(8, 16))


def test_offset_zero_is_the_plain_noise_bit_for_bit():
    noise = torch.randn(4, 3, 8, 8)
    assert offset(noise, 0.0) is noise
    ac = schedule(False)
    plain = _batch(TINY, 5, ac, 4, "cpu")
    explicit = _batch(replace(TINY, offset_noise=0.0), 5, ac, 4, "cpu")
    for a, b in zip(plain, explicit):
        assert a is None and b is None or torch.equal(a, b)


def test_offset_is_one_shift_per_sample_and_channel_with_the_right_variance():
    """The spatial mean of each (sample, channel) of ε + s·δ has variance s² + 1/(H·W). 4000 × 3 means: the
    sample variance's relative standard error is √(2/12000) = 1.3 %, so the 6 % margin is 4.5 standard errors
    (seed 0 measured 0.3 % low); with s = 0 the same bound would fail by a factor of 11."""
    g = torch.Generator().manual_seed(0)
    noise = torch.randn(4000, 3, 32, 32, generator=g)
    shifted = offset(noise, 0.1, g)
    shift = shifted - noise
    assert torch.allclose(shift, shift[:, :, :1, :1].expand_as(shift), atol=1e-6, rtol=0)  # constant over pixels
    assert shift[:, :, 0, 0].std() > 0.09  # and different across samples and channels
    variance = shifted.mean((2, 3)).var().item()
    expected = 0.1 ** 2 + 1 / 32 ** 2
    assert abs(variance / expected - 1) < 0.06, (variance, expected)


def test_offset_noise_leaves_the_other_draws_of_a_batch_alone():
    """A fine-tune and its control with the same seed see the same images, timesteps, labels and ε: only the
    per-channel shift differs."""
    ac = schedule(False)
    plain = _batch(TINY, 3, ac, 4, "cpu")
    shifted = _batch(replace(TINY, offset_noise=0.1), 3, ac, 4, "cpu")
    for i in (0, 2, 3, 5):
        assert torch.equal(plain[i], shifted[i])
    shift = shifted[1] - plain[1]
    assert torch.allclose(shift, shift.mean((2, 3), keepdim=True).expand_as(shift), atol=1e-6, rtol=0)
    assert not torch.equal(plain[1], shifted[1])


def test_min_timestep_bounds_the_drawn_timesteps():
    t = _batch(replace(TINY, batch_size=512, min_timestep=900), 0, schedule(True), 4, "cpu")[2]
    assert int(t.min()) >= 900 and int(t.max()) <= 999


@pytest.mark.parametrize("field, value, message", [
    ("offset_noise", -0.1, "offset_noise must be"),
    ("offset_noise", float("nan"), "offset_noise"),
    ("min_timestep", 1000, "min_timestep must be"),
    ("min_snr_floor", 1.5, "min_snr_floor must be"),
    ("min_snr_floor", 0.5, "min_snr_floor=0.5 needs min_snr_gamma"),  # TINY trains with λ_t = 1
])
def test_config_refuses_bad_values(field, value, message):
    with pytest.raises(ValueError, match=message):
        replace(TINY, **{field: value})


def test_a_fine_tune_needs_its_starting_weights_and_starts_from_them(tmp_path):
    start = train(TINY, disable=True).model.state_dict()
    with pytest.raises(ValueError, match="init weights were not given"):
        train(replace(TINY, init_from="tiny"), disable=True)
    with pytest.raises(ValueError, match="init_from is None"):
        train(TINY, disable=True, init=start)
    tuned = train(replace(TINY, init_from="tiny", lr=1e-12), disable=True, init=start).model.state_dict()
    # lr ≈ 0: the fine-tune's EMA stays where it started (a fresh run would start from the seed's random init)
    for key, value in start.items():
        torch.testing.assert_close(tuned[key], value, rtol=0, atol=1e-6)


def test_fine_tune_command_records_its_starting_model(tmp_path, monkeypatch):
    monkeypatch.setitem(MODELS, "flawed", replace(TINY, name="flawed"))
    monkeypatch.setitem(FINETUNES, "offset_ft", replace(TINY, name="offset_ft", init_from="flawed", offset_noise=0.1))
    quiet = {"eval_every": 0, "log": lambda *_: None, "final_samples": 8}
    train_models(["flawed"], tmp_path, **quiet)
    manifest = train_models(["offset_ft"], tmp_path, command="python -m zsnr_core train --model offset_ft", **quiet)
    entry = manifest["models"]["offset_ft"]
    flawed_sha = hashlib.sha256((tmp_path / "flawed.safetensors").read_bytes()).hexdigest()
    assert entry["init_from"] == {"file": "flawed.safetensors", "sha256": flawed_sha}
    assert entry["config"]["offset_noise"] == 0.1 and entry["config"]["init_from"] == "flawed"
    assert load_model(tmp_path / "offset_ft.safetensors")[1] == FINETUNES["offset_ft"]


def test_the_from_scratch_offset_model_is_the_flawed_recipe_with_the_offset_alone():
    assert EXPERIMENTS["offset"].offset_noise == 0.1  # the paper's section 5.4
    assert replace(EXPERIMENTS["offset"], name="flawed", offset_noise=0.0) == MODELS["flawed"]


def test_the_offset_pair_differs_only_by_the_offset():
    offset_config, control = FINETUNES["offset_ft"], FINETUNES["offset_ft_control"]
    assert offset_config.offset_noise == 0.1 and control.offset_noise == 0.0  # 0.1: the paper's section 5.4
    assert replace(offset_config, name="x", offset_noise=0.0) == replace(control, name="x")
    assert replace(control, name="flawed", init_from=None, steps=MODELS["flawed"].steps, lr=MODELS["flawed"].lr,
                   warmup=MODELS["flawed"].warmup, seed=MODELS["flawed"].seed) == MODELS["flawed"]


@pytest.mark.parametrize("name", sorted(FINETUNES))
def test_shipped_fine_tunes_load_verify_match_their_manifest_entry_and_sample(name):
    manifest = json.loads((WEIGHTS_DIR / "manifest.json").read_text())["models"]
    entry = manifest[name]
    model, config = load_model(WEIGHTS_DIR / entry["file"])  # verifies the sha256 against the manifest
    # the entry reads back as the same config (a field added since it was written takes its default)
    assert config == FINETUNES[name] == TrainConfig.from_json(json.dumps(entry["config"]))
    assert TrainConfig.from_json(load_file(WEIGHTS_DIR / entry["file"])[1]["config"]) == config
    assert entry["command"].startswith(f"python -m zsnr_core train --model {name} --out ")
    start = config.init_from
    assert entry["init_from"] == {"file": f"{start}.safetensors", "sha256": manifest[start]["sha256"]}
    assert {"wall_time_s", "device", "torch", "final_loss", "final_metrics", "final_metrics_w3"} <= entry.keys()
    assert entry["final_metrics"]["pipeline"] == OWN_PIPELINE[name] == OWN_PIPELINE[start]  # sampled as its start
    x = sample(model, PIPELINES[OWN_PIPELINE[name]], 4, steps=3)
    assert x.shape == (4, 3, 32, 32) and bool(torch.isfinite(x).all())


def test_the_shipped_from_scratch_offset_model_loads_verifies_and_matches_its_manifest_entry():
    manifest = json.loads((WEIGHTS_DIR / "manifest.json").read_text())["models"]
    entry = manifest["offset"]
    model, config = load_model(WEIGHTS_DIR / entry["file"])  # verifies the sha256 against the manifest
    assert config == EXPERIMENTS["offset"] == TrainConfig.from_json(json.dumps(entry["config"]))
    assert "init_from" not in entry and entry["command"].startswith("python -m zsnr_core train --model offset --out ")
    assert {"wall_time_s", "device", "torch", "final_loss", "final_metrics", "final_metrics_w3"} <= entry.keys()
    assert entry["final_metrics"]["pipeline"] == OWN_PIPELINE["offset"] == "sd"
    x = sample(model, PIPELINES["sd"], 4, steps=3)
    assert x.shape == (4, 3, 32, 32) and bool(torch.isfinite(x).all())


def test_terminal_prediction_measures_how_much_v_hat_at_t_T_follows_the_noise():
    """Section 5.2: the exact denoiser's v̂ at t = T is -E[x_0 | class] for every noise (coefficient, residual and
    spread 0); a model that adds 0.3·x_T to it gets coefficient 0.3 and no residual; one that adds a noise-independent
    image gets coefficient 0 but a residual."""
    from zsnr_core.toy.data import make_shapes
    from zsnr_core.toy.ideal import IdealDenoiser
    from zsnr_core.toy.zoo import terminal_prediction

    data = make_shapes(64, seed=0)
    exact = IdealDenoiser(data, schedule(True), "v_prediction")
    follows = terminal_prediction(lambda x, t, labels: exact(x, t, labels) + 0.3 * x, n=8, reference=data)
    assert follows["exact"] == {"coef": 0.0, "residual": 0.0, "spread": 0.0, "brightness_spread": 0.0}
    assert abs(follows["model"]["coef"] - 0.3) < 1e-5 and follows["model"]["residual"] < 1e-5
    # x̂_0 = -v̂ varies with x_T: std 0.3 per pixel, whose sample std over 8 noises has mean 0.965·0.3 = 0.290
    # (measured 0.2897, an average over 4 × 3072 pixels); the bounds are ±0.02
    assert 0.27 < follows["model"]["spread"] < 0.31
    shifted = terminal_prediction(lambda x, t, labels: exact(x, t, labels) + 0.5, n=8, reference=data)["model"]
    assert abs(shifted["coef"]) < 0.02 and shifted["residual"] > 0.4 and shifted["spread"] < 1e-6
    # the data's own spreads within a class (the scale of "small"), whatever the model, checked against numpy
    images, labels = data.images.double().numpy(), data.labels.numpy()
    spread = np.mean([images[labels == c].std(0, ddof=1).mean() for c in range(4)])
    brightness_spread = np.mean([images[labels == c].mean((1, 2, 3)).std(ddof=1) for c in range(4)])
    assert abs(follows["data"]["spread"] - spread) < 1e-9 and abs(follows["data"]["brightness_spread"]
                                                                 - brightness_spread) < 1e-9
    assert follows["data"]["spread"] > 0.3  # images of one class differ: positions, sizes, brightness


def test_terminal_guided_is_the_rescaled_extrapolation_of_the_data_means():
    """At t = T a model that returns the exact means (minus them, as v̂) must get the same guided x̂_0 as the closed
    form; with φ = 0 that x̂_0 is m_u + w (m_c - m_u) exactly, so its brightness is checked against numpy."""
    from zsnr_core.toy.data import BRIGHTNESS_CLASSES, brightness_bucket, make_shapes
    from zsnr_core.toy.pipelines import BRIGHTNESS_NULL
    from zsnr_core.toy.zoo import terminal_guided

    data = make_shapes(256, seed=0)
    images, labels = data.images.double().numpy(), data.labels.numpy()
    buckets = brightness_bucket(data.images).numpy()
    target = BRIGHTNESS_CLASSES.index("bright")
    m_u = images.mean(0)
    m_c = np.stack([images[(labels == c) & (buckets == target)].mean(0) for c in range(4)])

    def means(x, t, shape, bright):  # the exact v̂ at ᾱ = 0 for each (shape, brightness) condition, or for none
        assert bool((t == 999).all())
        rows = [m_u if int(s) == 4 else m_c[int(s)] for s in shape]
        assert all((int(s) == 4) == (int(b) == BRIGHTNESS_NULL) for s, b in zip(shape, bright))
        return -torch.from_numpy(np.stack(rows)).to(x.dtype)

    for phi in (0.0, 0.7):
        r = terminal_guided(means, "bright", 5.0, phi, n=2, reference=data)
        # float32 model output against the float64 closed form: agreement to float32 rounding (|x̂_0| < 10)
        assert abs(r["model"]["brightness"] - r["exact"]["brightness"]) < 1e-5
        assert abs(r["model"]["beyond"] - r["exact"]["beyond"]) < 0.01
    r = terminal_guided(means, "bright", 5.0, 0.0, n=2, reference=data)
    assert abs(r["exact"]["brightness"] - float((m_u + 5.0 * (m_c - m_u)).mean())) < 1e-12
    assert r["exact"]["brightness"] > 2.0 and r["exact"]["beyond"] > 0.9  # five times a bright bucket's mean


def test_ideal_denoiser_brightness_condition_is_the_bucket_restricted_posterior():
    """The exact denoiser asked for (shape, bucket) is the toy UNet's condition made exact: at ᾱ = 0 its x̂_0 is the
    mean of the data's images of that shape in that bucket (checked against numpy); the null bucket changes nothing
    (the same logits, so equal bit for bit); and at t = T guidance on it gives terminal_guided's closed form."""
    from zsnr_core.toy.data import BRIGHTNESS_CLASSES, brightness_bucket, make_shapes
    from zsnr_core.toy.ideal import IdealDenoiser
    from zsnr_core.toy.pipelines import BRIGHTNESS_NULL
    from zsnr_core.toy.zoo import terminal_guided

    data = make_shapes(256, seed=0)
    images, labels = data.images.double().numpy(), data.labels.numpy()
    buckets = brightness_bucket(data.images).numpy()
    exact = IdealDenoiser(data, schedule(True), "sample")
    x = torch.randn(6, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    shape, bright = torch.tensor([0, 1, 2, 3, 0, 2]), torch.tensor([0, 2, 2, 0, 1, 0])
    x0 = exact(x, torch.full((6,), 999), shape, bright).double().numpy()
    for i, (s, b) in enumerate(zip(shape.tolist(), bright.tolist())):
        assert ((labels == s) & (buckets == b)).sum() >= 5  # every pair asked for has images to average
        # a float32 output of a float64 average of values in [-1, 1]: equal to float32 rounding
        assert np.abs(x0[i] - images[(labels == s) & (buckets == b)].mean(0)).max() < 1e-6
    t = torch.full((6,), 500)
    assert torch.equal(exact(x, t, shape, torch.full((6,), BRIGHTNESS_NULL)), exact(x, t, shape))
    v = IdealDenoiser(data, schedule(True), "v_prediction")
    r = terminal_guided(v, "bright", 5.0, 0.7, n=2, reference=data)
    assert BRIGHTNESS_CLASSES[2] == "bright" and abs(r["model"]["brightness"] - r["exact"]["brightness"]) < 1e-5


def test_ideal_denoiser_refuses_a_condition_no_image_meets():
    """A (shape, bucket) with no image would make the posterior 0/0 (a silent NaN); it is refused by name."""
    from zsnr_core.toy.data import ToyData
    from zsnr_core.toy.ideal import IdealDenoiser

    dark = ToyData(torch.full((3, 3, 8, 8), -0.8), torch.tensor([0, 1, 2]))  # every image dark, no class 3
    exact = IdealDenoiser(dark, schedule(True), "sample")
    x, t = torch.zeros(2, 3, 8, 8), torch.full((2,), 500)
    assert bool(torch.isfinite(exact(x, t, torch.tensor([0, 1]), torch.tensor([0, 0]))).all())
    with pytest.raises(ValueError, match="bucket 2"):
        exact(x, t, torch.tensor([0, 1]), torch.tensor([0, 2]))
    with pytest.raises(ValueError, match="class 3"):
        exact(x, t, torch.tensor([3, 0]))
