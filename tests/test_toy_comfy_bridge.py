"""zsnr_core.toy.comfy_bridge, the ComfyUI-free half of the toy-model nodes (the other half: comfyui_checks.py)."""
import json
import shutil

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from zsnr_core.toy import comfy_bridge as bridge
from zsnr_core.toy.data import BRIGHTNESS_CLASSES, CLASSES
from zsnr_core.toy.pipelines import BRIGHTNESS_NULL, schedule
from zsnr_core.toy.zoo import WEIGHTS_DIR, load_model


def test_the_shipped_unets_are_listed_and_the_classifier_is_not():
    from zsnr_core.toy.zoo import EXPERIMENTS, FINETUNES, MODELS

    assert bridge.shipped_models() == sorted([*MODELS, *EXPERIMENTS, *FINETUNES])  # every shipped UNet; no classifier


def test_sampling_settings_give_the_training_schedule():
    # ComfyUI's "linear" schedule is √β-linear: the same ᾱ as the library's scaled_linear, computed here the same way
    s = bridge.sampling_settings(False)
    betas = torch.linspace(s["linear_start"] ** 0.5, s["linear_end"] ** 0.5, s["timesteps"], dtype=torch.float64) ** 2
    assert torch.allclose(torch.cumprod(1 - betas, 0), schedule(False), rtol=1e-12, atol=0)
    assert bridge.sampling_settings(True)["zsnr"] is True and s["zsnr"] is False


@pytest.mark.parametrize("name, kind", [("fixed", "V_PREDICTION"), ("flawed", "EPS")])
def test_the_wrapped_unet_is_the_shipped_one(name, kind):
    network, config, model_type, settings = bridge.load_for_comfy(name)
    unet, _ = load_model(WEIGHTS_DIR / f"{name}.safetensors")
    assert model_type == kind and settings["zsnr"] == config.zero_snr
    g = torch.Generator().manual_seed(0)
    x, t = torch.randn(4, 3, 32, 32, generator=g), torch.tensor([999.0, 500.5, 20.0, 0.0])
    labels, bright = torch.tensor([0, 1, 2, bridge.NULL_CLASS]), torch.tensor([0, 1, 2, BRIGHTNESS_NULL])
    with torch.no_grad():
        got = network(x, t, context=torch.zeros(4, 1, 8), transformer_options={}, labels=labels, brightness=bright)
        assert torch.equal(got, unet(x, t, labels, bright))
        assert torch.equal(network(x, t), unet(x, t))  # no labels: the null class and bucket
    assert network.dtype == torch.float32


def test_a_damaged_weights_file_is_refused_with_the_rebuild_command(tmp_path):
    for name in ("fixed.safetensors", "manifest.json"):
        shutil.copy(WEIGHTS_DIR / name, tmp_path / name)
    data = bytearray((tmp_path / "fixed.safetensors").read_bytes())
    data[-1] ^= 1
    (tmp_path / "fixed.safetensors").write_bytes(bytes(data))
    with pytest.raises(ValueError, match="damaged or replaced.*python -m zsnr_core train"):
        bridge.load_for_comfy("fixed", tmp_path)
    with pytest.raises(ValueError, match="toy model must be one of"):
        bridge.load_for_comfy("classifier", tmp_path)


def test_a_folder_without_manifest_lists_nothing(tmp_path):
    assert bridge.shipped_models(tmp_path) == []
    (tmp_path / "manifest.json").write_text(json.dumps({"models": {"fixed": {"file": "gone.safetensors",
                                                                             "config": {"prediction_type": "v"}}}}))
    assert bridge.shipped_models(tmp_path) == []


def test_conditioning_carries_the_labels_and_a_context_for_stock_nodes():
    ((context, extra),) = bridge.conditioning(bridge.class_index("ring"), bridge.brightness_index("bright"))
    assert context.shape == bridge.CONTEXT_SHAPE and not context.any()
    assert extra[bridge.CLASS_KEY].tolist() == [CLASSES.index("ring")]
    assert extra[bridge.BRIGHTNESS_KEY].tolist() == [BRIGHTNESS_CLASSES.index("bright")]
    assert bridge.class_index("none") == bridge.NULL_CLASS == len(CLASSES)
    assert bridge.brightness_index("any") == BRIGHTNESS_NULL
    ((_, extra),) = bridge.conditioning(torch.arange(6) % 4)
    assert extra[bridge.CLASS_KEY].tolist() == [0, 1, 2, 3, 0, 1] and bridge.BRIGHTNESS_KEY not in extra


@pytest.mark.parametrize("call, match", [(lambda: bridge.class_index("circle"), "shape must be one of"),
                                         (lambda: bridge.brightness_index("grey"), "brightness must be one of"),
                                         (lambda: bridge.empty_latent(0), "batch_size"),
                                         (lambda: bridge.to_image(torch.zeros(1, 4, 8, 8)), "connect the toy"),
                                         (lambda: bridge.to_image(torch.full((1, 3, 2, 2), torch.nan)), "NaN")])
def test_bad_input_names_the_value_and_the_fix(call, match):
    with pytest.raises(ValueError, match=match):
        call()


@given(st.floats(-1e6, 1e6, allow_nan=False), st.integers(1, 3))
def test_images_are_clamped_to_the_unit_range_and_channels_last(value, batch):
    x = torch.full((batch, 3, 5, 7), value)
    x[:, 1] = 0.5
    img = bridge.to_image(x)
    assert img.shape == (batch, 5, 7, 3) and 0 <= img.min() and img.max() <= 1
    assert torch.all(img[..., 1] == 0.75)  # 0.5 in [-1, 1] is 0.75 in [0, 1], exactly in binary floating point
    if abs(value) >= 1:  # beyond the range: exactly black or white
        assert torch.all(img[..., 0] == (1.0 if value > 0 else 0.0))


def test_empty_latent_is_the_shipped_image_shape():
    assert bridge.empty_latent(5).shape == (5, 3, 32, 32) and not bridge.empty_latent(2).any()
