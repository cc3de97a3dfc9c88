"""The nodes' answers at the door, without ComfyUI: one dropdown check, one refusal of non-DDPM models (worded once,
in zsnr_core.errors), where a setting came from, and the Inspector's image as a user sees it in a preview node."""
import pathlib

import numpy as np
import pytest
import torch
from PIL import ImageFont
from test_nodes import CONST, EDM, EPS, LCM, SD3, V_PREDICTION, X0, FakeSampling, _errors, _module, sampling_like

import zsnr_core as z

NODES = pathlib.Path(__file__).resolve().parents[1] / "nodes"


# --- dropdown values ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("value, near", [("V_prediction", "v_prediction"), (" keep", "keep"), ("vpred", None),
                                         (None, None), (1, None)])
def test_check_option_names_the_value_the_options_and_the_fix(value, near):
    with pytest.raises(ValueError) as err:
        _module("options").check_option("prediction_type", value, ("keep", "epsilon", "v_prediction"))
    text = str(err.value)
    assert text.startswith(f"prediction_type = {value!r} is not one of its options 'keep', 'epsilon', 'v_prediction'")
    assert text.endswith("pick one in the node's dropdown, or send one of these exact strings in an API prompt")
    assert (f"did you mean {near!r}?" in text) == (near is not None)


def test_check_option_passes_an_option_through():
    assert _module("options").check_option("space", "x0", ("v", "x0", "eps")) == "x0"


# --- one refusal of models outside DDPM's discrete sampling ---------------------------------------------------

NON_DDPM = [
    (("ModelSamplingDiscreteFlow", CONST), "flow matching (SD3, AuraFlow, HiDream, Wan, ...)"),
    (("ModelSamplingContinuousEDM", EDM), "continuous-time EDM (Playground v2.5, EDM fine-tunes, ...)"),
    (("ModelSamplingDiscreteDistilled", LCM), "LCM (a distilled 50-entry σ table)"),
    (("ModelSamplingSomeoneElses", EPS), "a sampling without a discrete DDPM ᾱ table"),  # not ModelSamplingDiscrete
]


@pytest.mark.parametrize("bases, words", NON_DDPM, ids=lambda b: b[0] if isinstance(b, tuple) else None)
def test_require_ddpm_raises_the_one_typed_refusal(bases, words):
    ms = sampling_like("ModelSamplingAdvanced", *bases)
    errors = _errors()
    with pytest.raises(errors.UnsupportedModelFamilyError) as err:
        _module("model_sampling").require_ddpm(ms, SD3(), "Paper Timesteps")
    names = " + ".join(b if isinstance(b, str) else b.__name__ for b in bases)
    family = f"SD3 ({words}; model_sampling {names})"
    assert err.value.family == family and isinstance(err.value, ValueError)
    assert str(err.value) == str(errors.UnsupportedModelFamilyError(family, "Paper Timesteps"))


@pytest.mark.parametrize("mixin", [EPS, V_PREDICTION, X0])
def test_require_ddpm_passes_discrete_ddpm_models(sd_table, mixin):
    assert _module("model_sampling").require_ddpm(FakeSampling(sd_table, mixin), SD3(), "Paper Timesteps") is None


def test_every_node_refuses_through_require_ddpm_and_none_words_its_own():
    """The refusal is raised in one place (model_sampling.require_ddpm); the files that refuse call it."""
    sources = {p.name: p.read_text() for p in NODES.glob("*.py")}
    for name in ("zero_snr.py", "paper_timesteps.py", "sampler_fn.py", "snr_inspector.py", "ksampler_schedulers.py"):
        assert "require_ddpm(" in sources[name], name
    raising = [name for name, text in sources.items() if "raise UnsupportedModelFamilyError" in text]
    assert raising == ["model_sampling.py"]
    assert not [name for name, text in sources.items() if "discrete-time" in text and name != "zero_snr.py"]


@pytest.mark.parametrize("name", ["zsnr_trailing", "zsnr_fewstep"])
def test_ksampler_schedulers_refuse_a_flow_model(sd_table, name):
    ms = sampling_like("ModelSamplingAdvanced", "ModelSamplingDiscreteFlow", CONST, table=sd_table)
    with pytest.raises(_errors().UnsupportedModelFamilyError, match=f"the {name} scheduler works on discrete-time"):
        _module("ksampler_schedulers").KSAMPLER_SCHEDULERS[name](ms, 10)


@pytest.mark.parametrize("steps, denoise", [(20, 0.02), (30, 0.02), (1000, 1.0), (5, 0.004)])
def test_fewstep_takes_every_count_trailing_takes(zsnr_table, steps, denoise):
    """KSampler asks a scheduler for int(steps/denoise) sigmas and keeps the last steps + 1."""
    ms = FakeSampling(zsnr_table)
    handlers = _module("ksampler_schedulers").KSAMPLER_SCHEDULERS
    total = int(steps / denoise)
    fewstep, trailing = handlers["zsnr_fewstep"](ms, total), handlers["zsnr_trailing"](ms, total)
    assert len(fewstep) == len(trailing) == total + 1 and torch.isfinite(fewstep).all()
    assert fewstep[0] == trailing[0] == zsnr_table[-1]  # both start at t = T


def test_the_inspector_reports_the_refusal_it_does_not_raise():
    errors = _errors()
    refusal = errors.UnsupportedModelFamilyError("SD3 (flow matching; model_sampling X)", "SNR Inspector")
    text = _module("inspect_text").not_discrete(refusal)
    assert text.startswith(str(refusal)) and "Nothing is plotted" in text


def test_the_inspector_warns_with_the_typed_epsilon_message(sd_zero_snr_ac, zsnr_table):
    errors = _errors()
    with pytest.raises(errors.EpsilonAtZeroSNRError):
        _module("patch_schedule").refuse_epsilon_at_zero_snr(sd_zero_snr_ac, "epsilon", "detail")
    _module("patch_schedule").refuse_epsilon_at_zero_snr(sd_zero_snr_ac, "v_prediction", "detail")  # no error
    _, text = _module("inspect_text").inspect(sd_zero_snr_ac, zsnr_table, "epsilon")
    assert f"WARNING: {errors.EpsilonAtZeroSNRError()} Here: this model's schedule ends at SNR = 0." in text and "set prediction_type to v_prediction" in text


# --- where a setting came from --------------------------------------------------------------------------------

IMG_TO_IMG = type("IMG_TO_IMG", (X0,), {})


@pytest.mark.parametrize("mixin, zsnr, sampling", [(V_PREDICTION, True, "v_prediction"), (EPS, False, "eps"),
                                                   (IMG_TO_IMG, False, "img_to_img")])
def test_source_names_core_modelsamplingdiscrete_not_the_model_as_loaded(sd_table, mixin, zsnr, sampling):
    ms = sampling_like("ModelSamplingAdvanced", "ModelSamplingDiscrete", mixin, table=sd_table)
    ms.zsnr = zsnr
    source = _module("model_sampling").source(ms)
    assert source["prediction_type"] == f"core ModelSamplingDiscrete node (sampling = {sampling})"
    assert source["zero_terminal_snr"] == ("core ModelSamplingDiscrete node (zsnr = true: Algorithm 1 with ᾱ_T "
                                           "clamped to σ = 4518.76)" if zsnr else
                                           "core ModelSamplingDiscrete node (zsnr = false)")
    _, text = _module("inspect_text").inspect(z.alphas_cumprod_from_sigma_table(sd_table), sd_table, "v_prediction",
                                              sources=source)
    assert f"prediction type: v_prediction (from core ModelSamplingDiscrete node (sampling = {sampling}))" in text


def test_source_of_another_nodes_patch_and_of_the_model_as_loaded(sd_table):
    model_sampling = _module("model_sampling")
    loaded = sampling_like("ModelSampling", "ModelSamplingDiscrete", V_PREDICTION, table=sd_table)  # the loader's
    other = sampling_like("SomePackSampling", "ModelSamplingDiscrete", V_PREDICTION, table=sd_table)
    assert model_sampling.source(other)["prediction_type"] == "a model_sampling patch by another node (SomePackSampling)"
    assert model_sampling.source(loaded) == {"prediction_type": model_sampling.AS_LOADED,
                                             "zero_terminal_snr": model_sampling.AS_LOADED}


# --- the Inspector's image -------------------------------------------------------------------------------------

@pytest.fixture(scope="module", params=["sd", "zero_snr"])
def drawn(request, sd_ac, sd_table, sd_zero_snr_ac, zsnr_table):
    """SD's schedule (one curve ends at SNR = 0) and a zero-SNR one (both do, on top of each other)."""
    ac, table = (sd_ac, sd_table) if request.param == "sd" else (sd_zero_snr_ac, zsnr_table)
    curves, _ = _module("inspect_text").inspect(ac, table, "v_prediction")
    return _module("plot").draw_schedule(curves)


def test_plot_draws_every_character_with_a_real_glyph(drawn):
    plot = _module("plot")
    fnt = plot.font()
    assert not plot.has_glyph(fnt, "中")  # DejaVu Sans has no CJK: the check can tell a missing glyph
    _, layout = drawn
    texts = [text for text, _ in layout["texts"]]
    assert "√ᾱ against t" in texts and "log SNR against t" in texts  # DejaVu Sans (matplotlib's or the system's)
    assert all(plot.has_glyph(fnt, c) for text in texts for c in text)


def test_plot_labels_fall_back_to_plain_text_in_a_font_without_greek():
    plot = _module("plot")
    builtin = ImageFont.load_default(plot.FONT_SIZE)  # Pillow's own font has no ᾱ or √
    assert plot.drawable(builtin, "√ᾱ against t") == "sqrt alpha_bar against t"


def test_plot_legend_sits_off_the_curves_and_no_text_overlaps(drawn):
    plot = _module("plot")
    _, layout = drawn
    (l1, t1, r1, b1), (l2, t2, r2, b2) = layout["legend"], layout["data"]
    assert r1 < l2 or r2 < l1 or b1 < t2 or b2 < t1, (layout["legend"], layout["data"])
    boxes = [box for _, box in layout["texts"]]
    for i, (l, t, r, b) in enumerate(boxes):
        assert 0 <= l and 0 <= t and r <= plot.WIDTH and b <= plot.HEIGHT, layout["texts"][i]
        for j, (l2, t2, r2, b2) in enumerate(boxes[:i]):
            assert r <= l2 or r2 <= l or b <= t2 or b2 <= t, (layout["texts"][i], layout["texts"][j])


def test_plot_text_is_legible_at_the_preview_nodes_size(drawn):
    plot = _module("plot")
    scale = min(plot.PREVIEW_AREA[0] / plot.WIDTH, plot.PREVIEW_AREA[1] / plot.HEIGHT)
    assert plot.font().size * scale >= 10  # px on screen in the 400 × 260 PreviewImage of the example workflows
    _, layout = drawn
    digit_height = max(b - t for text, (l, t, r, b) in layout["texts"] if text == "500")
    assert digit_height * scale >= 7  # a digit's ink, measured 16 px in the image: 7.9 px on screen


def test_message_image_keeps_the_spaces_between_words_and_fits():
    plot = _module("plot")
    image, layout = plot.draw_message("Its sampling")
    ink = np.flatnonzero((np.asarray(image.convert("L")) < 128).any(axis=0))  # columns holding text
    end_of_its = layout["texts"][0][1][0] + plot.font().getlength("Its")  # where the space begins
    gap = ink[ink >= end_of_its].min() - ink[ink < end_of_its].max() - 1
    # DejaVu's space is 0.32 em (7 px at 22 px) plus the letters' side bearings: 10 px measured; Pillow's built-in
    # font at its default size left about 2 px, read as "Itssampling"
    assert gap >= plot.FONT_SIZE / 4, gap
    long = str(_errors().UnsupportedModelFamilyError("SD3 (flow matching; model_sampling ModelSamplingDiscreteFlow "
                                                     "+ CONST)", "SNR Inspector")) * 2
    _, layout = plot.draw_message(long)
    assert all(r <= plot.WIDTH and b <= plot.HEIGHT for _, (l, t, r, b) in layout["texts"])
    assert " ".join(text for text, _ in layout["texts"]) == " ".join(long.split())
