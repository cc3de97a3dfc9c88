"""The ComfyUI nodes' glue, without ComfyUI: the schedule patch, the post-CFG function, the sampler function, the
inspector's text and plot. The node files themselves (schemas) run in test_comfyui.py against a real ComfyUI."""
import importlib
import importlib.util
import math
import pathlib
import sys
from functools import partial

import pytest
import torch

import zsnr_core as z

ROOT = pathlib.Path(__file__).resolve().parents[1]
PKG = "zsnr_custom_node_under_test"


def _module(name):
    """nodes/<name>.py, imported as part of this folder loaded as a package, the way ComfyUI loads it."""
    if PKG not in sys.modules:
        spec = importlib.util.spec_from_file_location(PKG, ROOT / "__init__.py", submodule_search_locations=[str(ROOT)])
        pkg = importlib.util.module_from_spec(spec)
        sys.modules[PKG] = pkg
        spec.loader.exec_module(pkg)
    return importlib.import_module(f"{PKG}.nodes.{name}")


def _errors():
    """zsnr_core.errors as the nodes import it: the package's own copy, whose classes are not the test's z.*"""
    _module("model_sampling")
    return importlib.import_module(f"{PKG}.zsnr_core.errors")


# Stand-ins for ComfyUI's model_sampling mixins; the glue reads class names only (see nodes/model_sampling.py).
class EPS:
    pass


class V_PREDICTION(EPS):
    pass


class X0(EPS):
    pass


class EDM(V_PREDICTION):
    pass


class CONST:
    pass


class ModelSamplingDiscrete:  # ComfyUI's discrete σ table, the base of every DDPM model's sampling
    pass


class FakeSampling(ModelSamplingDiscrete):
    def __init__(self, table, mixin=V_PREDICTION):
        self.sigmas = table
        self.__class__ = type("ModelSampling", (FakeSampling, mixin), {})


# --- Zero Terminal SNR -------------------------------------------------------------------------------------------

def test_zero_snr_patch_is_exact_and_its_table_is_comfyuis_clamp(sd_table, sd_zero_snr_ac):
    patched_schedule = _module("patch_schedule").patched_schedule
    ac, table = patched_schedule(z.alphas_cumprod_from_sigma_table(sd_table), "v_prediction", True)
    assert ac[-1].item() == 0.0 and ac.dtype == torch.float64
    # ᾱ read back from a float32 table: measured max relative difference 3.3e-6 from the float64 Algorithm 1, at
    # t = 997 where ᾱ = 2e-7 (the float32 rounding of √ᾱ_T is shifted out); 1.1e-7 for the idempotence below
    assert torch.allclose(ac, sd_zero_snr_ac, rtol=1e-5, atol=0)
    assert table.dtype == torch.float32 and torch.isfinite(table).all()
    assert table[-1].item() == pytest.approx(4518.76, abs=0.01) and z.is_clamped_zero_snr(table[-1])
    again, _ = patched_schedule(z.alphas_cumprod_from_sigma_table(table), "v_prediction", True)
    assert torch.allclose(again, ac, rtol=1e-6, atol=0)  # Algorithm 1 is idempotent, the clamp read as ᾱ_T = 0


def test_zero_snr_off_keeps_the_schedule(sd_table):
    base = z.alphas_cumprod_from_sigma_table(sd_table)
    ac, _table = _module("patch_schedule").patched_schedule(base, "epsilon", False)
    assert torch.equal(ac, base) and ac[-1].item() > 0


@pytest.mark.parametrize("zero_snr", [True, False])
def test_zero_snr_on_an_epsilon_model_is_refused_with_the_fix(zsnr_table, sd_table, zero_snr):
    table = sd_table if zero_snr else zsnr_table  # off, but the model is zero-SNR already: still refused
    with pytest.raises(ValueError, match="ε-prediction model.*set prediction_type to v_prediction.*turn "
                                         "zero_terminal_snr off"):
        _module("patch_schedule").patched_schedule(z.alphas_cumprod_from_sigma_table(table), "epsilon", zero_snr)


@pytest.mark.parametrize("mixin, kind", [(V_PREDICTION, "v_prediction"), (EPS, "epsilon"), (X0, "sample")])
def test_prediction_type_from_comfyuis_mixins(sd_table, mixin, kind):
    assert _module("model_sampling").prediction_type(FakeSampling(sd_table, mixin)) == kind


@pytest.mark.parametrize("mixin, words", [(EDM, "EDM"), (CONST, "flow matching")])
def test_prediction_type_refuses_continuous_models_naming_the_family(sd_table, mixin, words):
    with pytest.raises(_errors().UnsupportedModelFamilyError, match=rf"discrete-time .* cannot take \({words}; model_sampling "
                                                            rf"FakeSampling \+ {mixin.__name__}\)"):
        _module("model_sampling").prediction_type(FakeSampling(sd_table, mixin))


def sampling_like(class_name, *bases, table=None):
    """An object whose class and bases carry ComfyUI's names: ModelSamplingAdvanced(ModelSamplingDiscreteFlow, CONST)."""
    bases = tuple(type(b, (), {}) if isinstance(b, str) else b for b in bases)
    obj = type(class_name, bases, {})()
    obj.sigmas = table
    return obj


class SD3:  # stands for comfy.model_base.SD3, the base model whose class name is the architecture
    pass


LCM = type("LCM", (EPS,), {})  # comfy_extras' LCM mixin


@pytest.mark.parametrize("bases, words", [
    (("ModelSamplingDiscreteFlow", CONST), "flow matching (SD3, AuraFlow, HiDream, Wan, ...)"),
    (("ModelSamplingFlux", CONST), "flow matching with Flux's shift"),
    (("ModelSamplingContinuousEDM", EDM), "continuous-time EDM (Playground v2.5, EDM fine-tunes, ...)"),
    (("ModelSamplingDiscreteDistilled", LCM), "LCM (a distilled 50-entry σ table)"),
])
def test_family_names_the_model_not_the_class_modelsamplingadvanced(bases, words):
    ms = sampling_like("ModelSamplingAdvanced", *bases)
    names = " + ".join(b if isinstance(b, str) else b.__name__ for b in bases)
    assert _module("model_sampling").family(ms, SD3()) == f"SD3 ({words}; model_sampling {names})"


@pytest.mark.parametrize("mixin", [EPS, V_PREDICTION, X0])
def test_family_is_none_for_ddpms_discrete_sampling(mixin):
    assert _module("model_sampling").family(sampling_like("ModelSampling", "ModelSamplingDiscrete", mixin)) is None


def test_schedule_prefers_the_stored_exact_one(sd_table, sd_zero_snr_ac):
    ms = FakeSampling(sd_table)
    assert torch.allclose(_module("model_sampling").schedule(ms), z.alphas_cumprod_from_sigma_table(sd_table))
    ms.zsnr_alphas_cumprod, ms.zsnr_prediction_type = sd_zero_snr_ac, "sample"
    assert _module("model_sampling").schedule(ms) is sd_zero_snr_ac
    assert _module("model_sampling").prediction_type(ms) == "sample"


# --- Rescale CFG -------------------------------------------------------------------------------------------------

def _cfg_args(shape, sigma, w=7.0, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(shape, generator=g) * math.sqrt(1 + sigma**2)
    cond, uncond = torch.randn(shape, generator=g), torch.randn(shape, generator=g)
    return {"input": x, "sigma": torch.full((shape[0],), sigma), "cond_denoised": cond, "uncond_denoised": uncond,
            "denoised": uncond + w * (cond - uncond), "cond_scale": w}


@pytest.mark.parametrize("shape", [(2, 4, 8, 8), (1, 16, 3, 8, 8)])  # image and video latents
def test_post_cfg_function_is_algorithm_2_in_v(shape):
    args = _cfg_args(shape, 3.0)
    out = _module("patch_cfg").post_cfg_function(0.7, "v")(args)
    ab = z.alpha_bar_from_sigma(3.0)
    x_t = args["input"] * math.sqrt(ab)
    v = [z.predict_v(args[k], x_t, ab, "sample") for k in ("cond_denoised", "uncond_denoised")]
    ref = z.predict_x0(z.rescale_cfg(v[0], v[1], 7.0, 0.7), x_t, ab, "v_prediction")
    # float32: measured max difference 1.9e-6 on values up to ~12
    assert torch.allclose(out, ref, rtol=1e-5, atol=1e-5)


def test_post_cfg_function_is_finite_where_std_is_zero():
    args = {"input": torch.zeros(2, 4, 8, 8), "sigma": torch.ones(2), "cond_denoised": torch.zeros(2, 4, 8, 8),
            "denoised": torch.zeros(2, 4, 8, 8)}
    assert torch.equal(_module("patch_cfg").post_cfg_function(0.7, "eps")(args), torch.zeros(2, 4, 8, 8))


@pytest.mark.parametrize("phi, space, match", [(1.5, "v", r"phi must be in \[0.0, 1.0\]"),
                                               (0.7, "V", "space = 'V' is not one of its options 'v', 'x0', 'eps'")])
def test_post_cfg_function_refuses_bad_settings_when_patching(phi, space, match):
    with pytest.raises(ValueError, match=match):
        _module("patch_cfg").post_cfg_function(phi, space)


# --- DDIM (zero-SNR exact) ---------------------------------------------------------------------------------------

def v_model(x_t, t):
    return 0.5 * x_t + 0.01 * (t.float() / 1000).view(-1, 1, 1, 1) - 0.2


class FakeKSamplerModel:
    """ComfyUI's KSamplerX0Inpaint → CFGGuider → BaseModel chain: x̂0 from x_σ and σ via the clamped table."""

    def __init__(self, table, mixin=V_PREDICTION):
        self.inner_model = type("Guider", (), {})()
        self.inner_model.inner_model = type("BaseModel", (), {})()
        self.inner_model.inner_model.model_sampling = FakeSampling(table, mixin)
        ac = z.alpha_bar_from_sigma(table.double())  # the clamp's ᾱ, as ComfyUI evaluates its model
        self.denoiser = z.denoiser_from_model(v_model, ac, "v_prediction")
        self.calls = []

    def __call__(self, x, sigma, **kwargs):
        self.calls.append(float(sigma[0]))
        return self.denoiser(x, sigma)


def test_sampler_function_from_the_clamp_equals_sample_ddim(zsnr_table, sd_zero_snr_ac):
    sample = _module("sampler_fn").sample_ddim_zero_snr
    ts = z.timesteps(10)
    noise = torch.randn(2, 4, 8, 8, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    sigmas = z.spaced_sigmas(zsnr_table, 10).double()
    model = FakeKSamplerModel(zsnr_table)
    seen = []
    out = sample(model, noise * math.sqrt(1 + sigmas[0].item() ** 2), sigmas, extra_args={},
                 callback=seen.append, disable=True)
    ref = z.sample_ddim(v_model, noise, sd_zero_snr_ac, ts, "v_prediction")
    # measured max difference 8.5e-10 (ᾱ read from the float32 table vs float64)
    assert torch.allclose(out, ref, rtol=0, atol=1e-8)
    assert model.calls[0] == pytest.approx(4518.76, abs=0.01) and len(model.calls) == 10
    assert [c["i"] for c in seen] == list(range(10)) and all(torch.isfinite(c["denoised"]).all() for c in seen)


def test_sampler_function_on_a_finite_schedule_is_plain_ddim(sd_table):
    sample = _module("sampler_fn").sample_ddim_zero_snr
    sigmas = z.spaced_sigmas(sd_table, 5).double()
    model = FakeKSamplerModel(sd_table, EPS)
    x = torch.randn(1, 4, 8, 8, dtype=torch.float64) * sigmas[0].item()
    ref = z.sample_ddim_sigmas(model.denoiser, x, sigmas, disable=True)
    assert torch.equal(sample(model, x, sigmas, disable=True), ref)


def test_sampler_function_refuses_epsilon_at_zero_snr(zsnr_table):
    sigmas = z.spaced_sigmas(zsnr_table, 5)
    with pytest.raises(ValueError, match="undefined at ᾱ = 0"):
        _module("sampler_fn").sample_ddim_zero_snr(FakeKSamplerModel(zsnr_table, EPS), torch.randn(1, 4, 8, 8), sigmas)


@pytest.mark.parametrize("bases, words", [(("ModelSamplingDiscreteFlow", CONST), "flow matching"),
                                          (("ModelSamplingContinuousEDM", EDM), "continuous-time EDM")])
def test_sampler_function_refuses_flow_and_edm_models_naming_the_family(sd_table, bases, words):
    model = FakeKSamplerModel(sd_table)
    model.inner_model.inner_model = SD3()
    model.inner_model.inner_model.model_sampling = sampling_like("ModelSamplingAdvanced", *bases, table=sd_table)
    sigmas = z.spaced_sigmas(sd_table, 5)
    with pytest.raises(_errors().UnsupportedModelFamilyError, match=rf"DDIM \(zero-SNR exact\) works on discrete-time DDPM "
                                                            rf"models .* cannot take SD3 \({words}"):
        _module("sampler_fn").sample_ddim_zero_snr(model, torch.randn(1, 4, 8, 8), sigmas, eta=1.0)
    assert model.calls == []  # refused before the first model call


def test_sampler_function_outside_ksampler_names_what_it_needs(zsnr_table):
    with pytest.raises(TypeError, match="runs inside ComfyUI's samplers"):
        _module("sampler_fn").sample_ddim_zero_snr(v_model, torch.randn(1, 4), z.spaced_sigmas(zsnr_table, 5))


# --- KSampler's sampler_name entries --------------------------------------------------------------------------

def test_ksampler_entries_register_once_with_their_options():
    mod = _module("ksampler_samplers")
    k_sampling, listings = type("KDiffusionSampling", (), {})(), (["euler"], ["euler", "ddim"])
    for _ in range(2):  # ComfyUI may build the node list more than once
        assert mod.register_samplers(k_sampling, listings) == ["zsnr_ddim", "zsnr_ddpm", "zsnr_dpmpp_2m"]
    ours = ["zsnr_ddim", "zsnr_ddpm", "zsnr_dpmpp_2m"]
    assert listings == (["euler", *ours], ["euler", "ddim", *ours])
    ddim, ddpm = k_sampling.sample_zsnr_ddim, k_sampling.sample_zsnr_ddpm
    fn = _module("sampler_fn")
    assert ddim.func is fn.sample_ddim_zero_snr and ddim.keywords == {"eta": 0.0} and ddpm.keywords == {"eta": 1.0}
    assert k_sampling.sample_zsnr_dpmpp_2m.func is fn.sample_dpmpp_2m_zero_snr
    kept = k_sampling.sample_zsnr_ddim
    mod.register_samplers(k_sampling, listings)
    assert k_sampling.sample_zsnr_ddim is kept  # an existing function is not rebound


def test_ksampler_schedulers_register_once_from_one_table(zsnr_table):
    mod = _module("ksampler_schedulers")
    handlers, listings = {"simple": "kept"}, (["simple"], ["simple", "karras"])
    ours = ["zsnr_leading", "zsnr_linspace", "zsnr_trailing", "zsnr_fewstep"]
    for _ in range(2):  # ComfyUI may build the node list more than once
        assert mod.register_schedulers(handlers, listings, make_handler=lambda f: f) == ours
    assert listings == (["simple", *ours], ["simple", "karras", *ours]) and handlers["simple"] == "kept"
    ms = FakeSampling(zsnr_table)
    assert torch.equal(handlers["zsnr_trailing"](ms, 10), z.spaced_sigmas(zsnr_table, 10, "trailing"))
    assert torch.equal(handlers["zsnr_fewstep"](ms, 10), z.fewstep_sigmas(zsnr_table, 10))
    assert torch.equal(handlers["zsnr_linspace"](ms, 1500), z.dense_sigmas(zsnr_table, 1500))  # above T


def test_ksampler_entry_equals_the_node_sampler(zsnr_table):
    mod = _module("ksampler_samplers")
    k_sampling = type("KDiffusionSampling", (), {})()
    mod.register_samplers(k_sampling, ([],))
    sigmas = z.spaced_sigmas(zsnr_table, 6).double()
    x = torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(3), dtype=torch.float64) * 4518.76
    for name, eta in (("zsnr_ddim", 0.0), ("zsnr_ddpm", 1.0)):
        entry = getattr(k_sampling, f"sample_{name}")
        outs = [f(FakeKSamplerModel(zsnr_table), x, sigmas, extra_args={"seed": 1}, disable=True)
                for f in (entry, partial(_module("sampler_fn").sample_ddim_zero_snr, eta=eta))]
        assert torch.equal(outs[0], outs[1]), name
    entry = k_sampling.sample_zsnr_dpmpp_2m  # the DPM++ 2M (zero-SNR exact) node's function, same result
    node = _module("sampler_fn").sample_dpmpp_2m_zero_snr
    outs = [f(FakeKSamplerModel(zsnr_table), x, sigmas, disable=True) for f in (entry, node)]
    assert torch.equal(outs[0], outs[1])


# --- Load Checkpoint (v-pred / zero SNR from file) ----------------------------------------------------------

def write_checkpoint(path, metadata=None, markers=()):
    from safetensors.torch import save_file

    save_file({"w": torch.zeros(2), **{m: torch.tensor([]) for m in markers}}, str(path), metadata=metadata)
    return path


def test_loader_choice_from_file(tmp_path):
    resolve = _module("checkpoint_choice").resolve
    path = write_checkpoint(tmp_path / "a.safetensors", {"ss_zero_terminal_snr": "True"}, ("v_pred",))
    kind, zero_snr, source, report = resolve(path, "from file", "from file")
    assert (kind, zero_snr) == ("v_prediction", True)
    assert source == {"prediction_type": "file: marker tensor 'v_pred'",
                      "zero_terminal_snr": "file: metadata ss_zero_terminal_snr = 'True'"}
    assert report.splitlines() == ["prediction type: v_prediction (file: marker tensor 'v_pred')",
                                   "zero terminal SNR: on (file: metadata ss_zero_terminal_snr = 'True')"]


def test_loader_choice_keeps_the_model_where_the_file_is_silent_and_obeys_explicit_choices(tmp_path):
    resolve = _module("checkpoint_choice").resolve
    path = write_checkpoint(tmp_path / "b.safetensors")
    kind, zero_snr, source, _ = resolve(path, "from file", "from file")
    assert (kind, zero_snr) == ("keep", False) and source["prediction_type"].startswith("not stated in the file; ")
    kind, zero_snr, source, _ = resolve(path, "epsilon", "off")
    assert (kind, zero_snr) == ("epsilon", False)
    assert source["zero_terminal_snr"] == "set on the loader (zero_terminal_snr = off)"


def test_loader_choice_refuses_a_conflict_and_a_non_safetensors_file_unless_set_explicitly(tmp_path):
    resolve = _module("checkpoint_choice").resolve
    path = write_checkpoint(tmp_path / "c.safetensors", {"modelspec.prediction_type": "epsilon"}, ("v_pred",))
    with pytest.raises(ValueError, match="contradicts itself about the prediction type: metadata modelspec.predicti"
                                         "on_type = 'epsilon', marker tensor 'v_pred'. Set prediction_type explicitly"):
        resolve(path, "from file", "off")
    assert resolve(path, "v_prediction", "from file")[:2] == ("v_prediction", False)  # the conflict is not asked
    damaged = tmp_path / "d.safetensors"
    damaged.write_bytes((10**6).to_bytes(8, "little") + bytes(56))
    with pytest.raises(ValueError, match="d.safetensors: header length .* Set zero_terminal_snr explicitly"):
        resolve(damaged, "v_prediction", "from file")
    assert resolve(damaged, "v_prediction", "on")[:2] == ("v_prediction", True)  # the file is never opened
    ckpt = tmp_path / "e.ckpt"  # a pickle loads as the stock loader loads it, with no flags from the file
    ckpt.write_bytes(b"PK\x03\x04" + bytes(60))
    kind, zero_snr, source, _ = resolve(ckpt, "from file", "from file")
    assert (kind, zero_snr) == ("keep", False) and "a pickle carries no header flags" in source["prediction_type"]


# --- SNR Inspector -----------------------------------------------------------------------------------------------

def test_inspector_warns_about_epsilon_on_zero_snr_and_late_starts(zsnr_table, sd_zero_snr_ac):
    inspect = _module("inspect_text").inspect
    leading = z.spaced_sigmas(zsnr_table, 10, "leading")
    _, text = inspect(sd_zero_snr_ac, zsnr_table, "epsilon", leading)
    assert "terminal SNR: 0" in text and f"WARNING: {z.EpsilonAtZeroSNRError()}" in text
    assert "WARNING: the sigmas start at t = 900, not at T = 999" in text and "exactly leading spacing" in text
    _, text = inspect(sd_zero_snr_ac, zsnr_table, "v_prediction", z.spaced_sigmas(zsnr_table, 10))
    assert "WARNING" not in text and "exactly trailing spacing, starts at T" in text


def test_inspector_notes_a_v_model_without_zero_snr(sd_table, sd_ac):
    curves, text = _module("inspect_text").inspect(sd_ac, sd_table, "v_prediction")
    assert "terminal SNR: 0.004682" in text and "add Zero Terminal SNR" in text
    assert [label for label, _ in curves] == ["model", "rescaled (Algorithm 1)"]
    assert curves[1][1]["log_snr"][-1].item() == -math.inf


def test_inspector_reports_sources_and_treats_empty_sigmas_as_a_note(zsnr_table, sd_zero_snr_ac):
    sources = {"prediction_type": "file: marker tensor 'v_pred'", "zero_terminal_snr": "file: marker tensor 'ztsnr'"}
    _, text = _module("inspect_text").inspect(sd_zero_snr_ac, zsnr_table, "v_prediction", torch.tensor([0.0]),
                                              sources)
    assert "prediction type: v_prediction (from file: marker tensor 'v_pred')" in text
    assert "zero terminal SNR state from: file: marker tensor 'ztsnr'" in text
    assert "note: the sigmas hold no value > 0 (1 entries), so they make no model call" in text
    _, text = _module("inspect_text").inspect(sd_zero_snr_ac, zsnr_table, "v_prediction", torch.zeros(0))
    assert "(0 entries)" in text and "WARNING" not in text


