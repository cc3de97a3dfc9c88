"""Checks against a real ComfyUI checkout, run by test_comfyui.py in a subprocess (ComfyUI's imports are global).

Loads this folder as a custom node through ComfyUI's own loader, builds a tiny v-prediction UNet in-process
(random weights, CPU) and runs every node and some built-in samplers through the patched model.
"""
import asyncio
import os
import pathlib
import re
import sys

import numpy
import pytest
import torch

import zsnr_core as z

ROOT = pathlib.Path(__file__).resolve().parents[1]
COMFYUI = os.environ["COMFYUI_PATH"]

from comfyui_env import start_comfyui, tiny_vpred_model

comfy, comfy_nodes = start_comfyui(COMFYUI)
from comfy_extras.nodes_model_advanced import RescaleCFG as CoreRescaleCFG

NODE_IDS = ["ZSNR_ZeroTerminalSNR", "ZSNR_PaperTimesteps", "ZSNR_DDIMSampler", "ZSNR_RescaleCFG", "ZSNR_SNRInspector",
            "ZSNR_CheckpointLoader"]
LATENT = (1, 4, 8, 8)


@pytest.fixture(scope="module")
def node():
    assert asyncio.run(comfy_nodes.load_custom_node(str(ROOT))) is True
    return {i: comfy_nodes.NODE_CLASS_MAPPINGS[i] for i in NODE_IDS}


@pytest.fixture(scope="module")
def model():
    return tiny_vpred_model()


@pytest.fixture(scope="module")
def conds():
    g = torch.Generator().manual_seed(1)
    return [[torch.randn(1, 7, 32, generator=g), {}]], [[torch.randn(1, 7, 32, generator=g), {}]]


def run(ntype, **kwargs):
    return ntype.execute(**kwargs).args


def noise(seed=2):
    return torch.randn(LATENT, generator=torch.Generator().manual_seed(seed))


def test_nodes_load_with_tooltips_one_category_and_plain_names(node):
    categories = set()
    for ntype in node.values():
        schema = ntype.GET_SCHEMA()
        categories.add(schema.category)
        assert schema.display_name and not schema.display_name.startswith("ZSNR")
        for inp in schema.inputs:
            assert inp.tooltip, f"{schema.node_id}.{inp.id} has no tooltip"
    assert len(categories) == 1


def test_schedulers_registered_once_and_equal_paper_timesteps(node, model):
    asyncio.run(comfy_nodes.load_custom_node(str(ROOT)))  # a second load adds nothing
    for spacing in z.SPACINGS:
        assert comfy.samplers.KSampler.SCHEDULERS.count(f"zsnr_{spacing}") == 1
        assert list(comfy.samplers.SCHEDULER_HANDLERS).count(f"zsnr_{spacing}") == 1
        ms = model.get_model_object("model_sampling")
        from_list = comfy.samplers.calculate_sigmas(ms, f"zsnr_{spacing}", 10)
        (from_node,) = run(node["ZSNR_PaperTimesteps"], model=model, steps=10, spacing=spacing, denoise=1.0)
        assert torch.equal(from_list, from_node) and len(from_node) == 11
        assert torch.equal(ms.timestep(from_node[:-1]), z.timesteps(10, spacing))  # ComfyUI maps back to our t


def test_zero_snr_patches_a_clone_and_refuses_epsilon(node, model):
    before = model.get_model_object("model_sampling").sigmas.clone()
    (patched,) = run(node["ZSNR_ZeroTerminalSNR"], model=model, prediction_type="keep", zero_terminal_snr=True)
    assert torch.equal(model.get_model_object("model_sampling").sigmas, before)  # input model untouched
    ms = patched.get_model_object("model_sampling")
    assert float(ms.sigma_max) == pytest.approx(4518.76, abs=0.01) and ms.zsnr_alphas_cumprod[-1].item() == 0.0
    assert float(model.get_model_object("model_sampling").sigma_max) == pytest.approx(14.6146, abs=1e-3)
    with pytest.raises(ValueError, match="ε-prediction model"):
        run(node["ZSNR_ZeroTerminalSNR"], model=model, prediction_type="epsilon", zero_terminal_snr=True)


@pytest.fixture(scope="module")
def zsnr_model(node, model):
    (patched,) = run(node["ZSNR_ZeroTerminalSNR"], model=model, prediction_type="v_prediction", zero_terminal_snr=True)
    return patched


@pytest.mark.parametrize("sampler", ["euler", "euler_ancestral", "dpmpp_2m", "ddim"])
@pytest.mark.parametrize("scheduler", ["simple", "zsnr_trailing", "karras"])
def test_builtin_samplers_stay_finite_on_the_patched_model(node, zsnr_model, conds, sampler, scheduler):
    (m,) = run(node["ZSNR_RescaleCFG"], model=zsnr_model, phi=0.7, space="v")
    out = comfy.sample.sample(m, noise(), 6, 5.0, sampler, scheduler, conds[0], conds[1], torch.zeros(LATENT),
                              disable_pbar=True, seed=3)
    assert out.shape == LATENT and torch.isfinite(out).all() and out.abs().max() > 0


def test_our_ddim_equals_zsnr_core_sample_ddim(node, zsnr_model, conds):
    (sigmas,) = run(node["ZSNR_PaperTimesteps"], model=zsnr_model, steps=8, spacing="trailing", denoise=1.0)
    (sampler,) = run(node["ZSNR_DDIMSampler"], eta=0.0)
    steps = []
    out = comfy.sample.sample_custom(zsnr_model, noise(), 1.0, sampler, sigmas, conds[0], conds[1],
                                     torch.zeros(LATENT), callback=lambda i, den, x, total: steps.append((i, total)),
                                     disable_pbar=True, seed=3)
    unet = zsnr_model.model.diffusion_model
    context = conds[0][0][0]
    ac = zsnr_model.get_model_object("model_sampling").zsnr_alphas_cumprod

    def v_model(x_t, t):
        return unet(x_t, t.float(), context=context).float()

    with torch.no_grad():
        ref = z.sample_ddim(v_model, noise(), ac, z.timesteps(8, "trailing"), "v_prediction", disable=True)
    ref = zsnr_model.model.process_latent_out(ref)  # ComfyUI hands back latents in the VAE's scale
    # float32 on CPU: measured max difference 4.8e-6 on values up to ~14 (ComfyUI's float32 σ table and x·√(1+σ²)
    # round trip against sample_ddim's float64 ᾱ)
    assert torch.allclose(out, ref, rtol=1e-5, atol=2e-5), (out - ref).abs().max()
    assert steps == [(i, 8) for i in range(8)]  # the latent-preview/progress callback sees every step


def test_our_ddim_with_eta_one_and_through_ksampler_scheduler(node, zsnr_model, conds):
    (sampler,) = run(node["ZSNR_DDIMSampler"], eta=1.0)
    sigmas = comfy.samplers.calculate_sigmas(zsnr_model.get_model_object("model_sampling"), "zsnr_linspace", 6)
    a = comfy.sample.sample_custom(zsnr_model, noise(), 5.0, sampler, sigmas, conds[0], conds[1],
                                   torch.zeros(LATENT), disable_pbar=True, seed=4)
    b = comfy.sample.sample_custom(zsnr_model, noise(), 5.0, sampler, sigmas, conds[0], conds[1],
                                   torch.zeros(LATENT), disable_pbar=True, seed=4)
    assert torch.isfinite(a).all() and torch.equal(a, b)  # seeded ancestral noise


@pytest.mark.parametrize("name, eta", [("zsnr_ddim", 0.0), ("zsnr_ddpm", 1.0)])
def test_ksampler_sampler_name_entries_equal_the_node_sampler(node, zsnr_model, conds, name, eta):
    asyncio.run(comfy_nodes.load_custom_node(str(ROOT)))  # a second load adds nothing
    for listing in (comfy.samplers.KSampler.SAMPLERS, comfy.samplers.KSAMPLER_NAMES,
                    comfy_nodes.KSamplerAdvanced.INPUT_TYPES()["required"]["sampler_name"][0]):
        assert listing.count(name) == 1
    out = comfy.sample.sample(zsnr_model, noise(), 6, 5.0, name, "zsnr_trailing", conds[0], conds[1],
                              torch.zeros(LATENT), disable_pbar=True, seed=4)
    (sampler,) = run(node["ZSNR_DDIMSampler"], eta=eta)
    sigmas = comfy.samplers.calculate_sigmas(zsnr_model.get_model_object("model_sampling"), "zsnr_trailing", 6)
    ref = comfy.sample.sample_custom(zsnr_model, noise(), 5.0, sampler, sigmas, conds[0], conds[1],
                                     torch.zeros(LATENT), disable_pbar=True, seed=4)
    assert torch.isfinite(out).all() and torch.equal(out, ref)  # the same function on the same inputs


def core_sampling(model, node_name, *args):
    """The model with core ComfyUI's ModelSampling* node applied (comfy_extras/nodes_model_advanced.py)."""
    from comfy_extras import nodes_model_advanced as adv

    ntype = getattr(adv, node_name)()
    return (ntype.patch_aura if node_name == "ModelSamplingAuraFlow" else ntype.patch)(model, *args)[0]


NON_DDPM = [  # core node, its arguments, the family words our refusal must name
    ("ModelSamplingSD3", (3.0,), "flow matching (SD3, AuraFlow"),
    ("ModelSamplingAuraFlow", (1.73,), "flow matching (SD3, AuraFlow"),
    ("ModelSamplingFlux", (1.15, 0.5, 1024, 1024), "flow matching with Flux's shift"),
    ("ModelSamplingContinuousEDM", ("edm", 120.0, 0.002), "continuous-time EDM"),
    ("ModelSamplingDiscrete", ("lcm", False), "LCM (a distilled 50-entry σ table)"),
]


@pytest.mark.parametrize("node_name, args, words", NON_DDPM, ids=[n[0] + "_" + str(n[1][0]) for n in NON_DDPM])
def test_zero_snr_refuses_non_ddpm_models_naming_the_family(node, model, node_name, args, words):
    other = core_sampling(model, node_name, *args)
    with pytest.raises(ValueError, match=r"Zero Terminal SNR works on discrete-time DDPM models .* cannot take "
                                         rf"BaseModel \({re.escape(words)}.*use the stock nodes") as err:
        run(node["ZSNR_ZeroTerminalSNR"], model=other, prediction_type="keep", zero_terminal_snr=False)
    assert "ModelSamplingAdvanced" not in str(err.value)


def test_zero_snr_keep_keeps_an_img_to_img_models_input_scaling(node, model):
    x0_model = core_sampling(model, "ModelSamplingDiscrete", "img_to_img", False)
    (patched,) = run(node["ZSNR_ZeroTerminalSNR"], model=x0_model, prediction_type="keep", zero_terminal_snr=False)
    ms = patched.get_model_object("model_sampling")
    x, sigma = torch.ones(1, 4, 2, 2), torch.tensor([3.0])
    assert torch.equal(ms.calculate_input(sigma, x), x)  # IMG_TO_IMG passes x through (X0 would scale it by 0.316)
    assert isinstance(ms, comfy.model_sampling.IMG_TO_IMG) and ms.zsnr_prediction_type == "sample"


@pytest.mark.parametrize("node_name, args, words", NON_DDPM[:4], ids=[n[0] for n in NON_DDPM[:4]])
def test_our_ddim_refuses_flow_and_edm_models_naming_the_family(node, model, conds, node_name, args, words):
    other = core_sampling(model, node_name, *args)
    (sampler,) = run(node["ZSNR_DDIMSampler"], eta=1.0)
    sigmas = comfy.samplers.calculate_sigmas(other.get_model_object("model_sampling"), "simple", 4)
    with pytest.raises(ValueError, match=rf"DDIM \(zero-SNR exact\) .* cannot take BaseModel \({re.escape(words)}"):
        comfy.sample.sample_custom(other, noise(), 5.0, sampler, sigmas, conds[0], conds[1], torch.zeros(LATENT),
                                   disable_pbar=True, seed=4)


def test_inspector_reports_a_non_ddpm_model_honestly_and_empty_sigmas_as_a_note(node, model, zsnr_model):
    edm = core_sampling(model, "ModelSamplingContinuousEDM", "v_prediction", 120.0, 0.002)
    image, text = run(node["ZSNR_SNRInspector"], model=edm)
    assert text.startswith("SNR Inspector works on discrete-time DDPM models") and "terminal SNR:" not in text
    assert image.shape == (1, 400, 768, 3) and "cannot take BaseModel (continuous-time EDM" in text
    _, text = run(node["ZSNR_SNRInspector"], model=zsnr_model, sigmas=torch.zeros(1))
    assert "note: the sigmas hold no value > 0" in text and "terminal SNR: 0" in text


def test_schedulers_take_any_count_ksampler_asks_for(zsnr_model, conds):
    ms = zsnr_model.get_model_object("model_sampling")
    for spacing in z.SPACINGS:  # steps 30 at denoise 0.02: KSampler asks the scheduler for 1500 sigmas
        ks = comfy.samplers.KSampler(zsnr_model, 30, "cpu", "euler", f"zsnr_{spacing}", denoise=0.02)
        assert len(ks.sigmas) == 31 and ks.sigmas[-1] == 0
        assert ms.timestep(ks.sigmas[:1]).item() == 19  # t = 999·29/1499 = 19.3, as denoise 0.02 asks
    out = comfy.sample.sample(zsnr_model, noise(), 30, 5.0, "euler", "zsnr_trailing", conds[0], conds[1],
                              torch.zeros(LATENT), denoise=0.02, disable_pbar=True, seed=3)
    assert torch.isfinite(out).all()


def test_one_step_starts_at_T_and_one_leading_step_is_refused(zsnr_model):
    ms = zsnr_model.get_model_object("model_sampling")
    for spacing in ("trailing", "linspace"):
        sigmas = comfy.samplers.calculate_sigmas(ms, f"zsnr_{spacing}", 1)
        assert torch.equal(sigmas, torch.stack([ms.sigma_max, torch.tensor(0.0)]))
    with pytest.raises(ValueError, match="steps = 1 with leading spacing makes its only model call at t = 0"):
        comfy.samplers.calculate_sigmas(ms, "zsnr_leading", 1)


def test_loader_applies_the_files_flags_and_the_inspector_names_the_source(node, model, tmp_path, monkeypatch):
    from safetensors.torch import save_file

    path = tmp_path / "ztsnr_vpred.safetensors"
    save_file({"w": torch.zeros(2), "ztsnr": torch.tensor([])}, str(path), metadata={"modelspec.prediction_type": "v"})
    eps_model = tiny_vpred_model(model_type="EPS")  # what core ComfyUI makes of an SD2 file without the markers
    loader = node["ZSNR_CheckpointLoader"]
    monkeypatch.setattr(sys.modules[loader.__module__], "load_checkpoint", lambda p: (eps_model, None, None))
    monkeypatch.setattr(comfy_nodes.folder_paths, "get_full_path_or_raise", lambda kind, name: str(tmp_path / name))
    m, _, _, report = run(loader, ckpt_name=path.name, prediction_type="from file", zero_terminal_snr="from file")
    ms = m.get_model_object("model_sampling")
    assert isinstance(ms, comfy.model_sampling.V_PREDICTION) and ms.zsnr_alphas_cumprod[-1].item() == 0.0
    assert isinstance(eps_model.get_model_object("model_sampling"), comfy.model_sampling.EPS)  # loaded one untouched
    assert report.splitlines() == ["prediction type: v_prediction (file: metadata modelspec.prediction_type = 'v')",
                                   "zero terminal SNR: on (file: marker tensor 'ztsnr')"]
    _, text = run(node["ZSNR_SNRInspector"], model=m)
    assert "prediction type: v_prediction (from file: metadata modelspec.prediction_type = 'v')" in text
    assert "zero terminal SNR state from: file: marker tensor 'ztsnr'" in text


@pytest.mark.parametrize("model_type, choice, saved", [
    ("V_PREDICTION", "keep", ("v_prediction", True)),  # the loader's v-model: v_pred and ztsnr written
    ("EPS", "v_prediction", ("epsilon", None)),  # switched by the node: saved as the loader detected it
])
def test_what_checkpoint_save_writes_after_zero_terminal_snr(node, tmp_path, model_type, choice, saved):
    from comfy_extras.nodes_model_merging import save_checkpoint

    (patched,) = run(node["ZSNR_ZeroTerminalSNR"], model=tiny_vpred_model(model_type=model_type),
                     prediction_type=choice, zero_terminal_snr=True)
    save_checkpoint(patched, filename_prefix="zsnr", output_dir=str(tmp_path))
    (path,) = tmp_path.glob("zsnr_*.safetensors")
    flags = z.read_checkpoint_flags(path)
    assert (flags.prediction_type, flags.zero_terminal_snr) == saved, flags.summary()


def test_rescale_cfg_in_v_matches_core_comfyui_and_chains(node, model, zsnr_model, conds):
    # On SD's own schedule (σ_max 14.6). From σ = 4518.76 core RescaleCFG loses ~2.7e-4 per step to float32 cancellation
    # (it gets x - x̂0 and subtracts it from x again, with |x| ≈ 4518); ours reads x̂0 directly.
    (ours,) = run(node["ZSNR_RescaleCFG"], model=model, phi=0.7, space="v")
    (core,) = CoreRescaleCFG().patch(model, 0.7)
    outs = [comfy.sample.sample(m, noise(), 5, 6.0, "euler", "normal", conds[0], conds[1], torch.zeros(LATENT),
                                disable_pbar=True, seed=5) for m in (ours, core)]
    # float32: measured max difference 8.6e-6 on values up to ~12 after 5 steps (2.7e-3 on the zero-SNR model)
    assert torch.allclose(outs[0], outs[1], rtol=1e-5, atol=1e-5), (outs[0] - outs[1]).abs().max()
    (chained,) = run(node["ZSNR_RescaleCFG"], model=core, phi=0.7, space="x0")
    assert "sampler_cfg_function" in chained.model_options  # the other patch is kept
    assert len(chained.model_options["sampler_post_cfg_function"]) == 1
    assert "sampler_post_cfg_function" not in zsnr_model.model_options  # input model untouched


def test_snr_inspector(node, zsnr_model):
    (leading,) = run(node["ZSNR_PaperTimesteps"], model=zsnr_model, steps=10, spacing="leading", denoise=1.0)
    image, text = run(node["ZSNR_SNRInspector"], model=zsnr_model, sigmas=leading)
    assert image.ndim == 4 and image.shape[0] == 1 and image.shape[-1] == 3
    assert torch.isfinite(image).all() and 0 <= image.min() and image.max() <= 1
    assert "terminal SNR: 0" in text and "prediction type: v_prediction" in text and "WARNING: the sigmas" in text
    _, text = run(node["ZSNR_SNRInspector"], model=zsnr_model)
    assert "WARNING" not in text


WIDGET_TYPES = {"INT", "FLOAT", "STRING", "BOOLEAN", "COMBO"}


@pytest.mark.parametrize("path", sorted((ROOT / "example_workflows").glob("*.json")), ids=lambda p: p.stem)
def test_example_workflows_fit_the_node_schemas(node, path):
    import json

    asyncio.run(comfy_nodes.init_builtin_extra_nodes())  # SamplerCustomAdvanced, CFGGuider, PreviewAny, ...
    wf = json.loads(path.read_text())
    for n in wf["nodes"]:
        cls = comfy_nodes.NODE_CLASS_MAPPINGS[n["type"]]
        spec = cls.INPUT_TYPES()
        declared = {**spec.get("required", {}), **spec.get("optional", {})}
        sockets = {k: v[0] for k, v in declared.items() if not isinstance(v[0], list) and v[0] not in WIDGET_TYPES}
        assert {i["name"]: i["type"] for i in n["inputs"]}.items() <= {k: str(t) for k, t in sockets.items()}.items()
        assert [o["type"] for o in n["outputs"]] == list(cls.RETURN_TYPES), n["type"]
        widgets = [(k, v) for k, v in declared.items() if isinstance(v[0], list) or v[0] in WIDGET_TYPES]
        values = iter(n["widgets_values"])
        for name, (kind, *opts) in widgets:
            value = next(values)
            options = kind if isinstance(kind, list) else (opts[0].get("options") if opts else None)
            if options:  # an empty list is a folder of model files, empty in a bare checkout
                assert value in options, f"{n['type']}.{name} = {value!r} is not one of its options"
            if opts and opts[0].get("control_after_generate"):
                assert next(values) in ("fixed", "increment", "decrement", "randomize")
        assert next(values, None) is None, f"{n['type']} has more widget values than widgets"


# --- few-step sampling (issue 13): the zsnr_fewstep scheduler and DPM++ 2M (zero-SNR exact) -------------------

def test_fewstep_scheduler_registered_once_and_equals_the_core(node, zsnr_model):
    asyncio.run(comfy_nodes.load_custom_node(str(ROOT)))  # a second load adds nothing
    assert comfy.samplers.KSampler.SCHEDULERS.count("zsnr_fewstep") == 1
    assert list(comfy.samplers.SCHEDULER_HANDLERS).count("zsnr_fewstep") == 1
    ms = zsnr_model.get_model_object("model_sampling")
    sigmas = comfy.samplers.calculate_sigmas(ms, "zsnr_fewstep", 10)
    assert torch.equal(sigmas, z.fewstep_sigmas(ms.sigmas, 10)) and len(sigmas) == 11
    assert float(sigmas[0]) == pytest.approx(4518.76, abs=0.01)  # t = T, as the model's own σ_max
    assert torch.equal(ms.timestep(sigmas[:-1]).long(), z.fewstep_timesteps(ms.zsnr_alphas_cumprod, 10))


@pytest.mark.parametrize("sampler", ["euler", "heun", "dpmpp_2m", "uni_pc", "euler_ancestral"])
def test_builtin_samplers_run_the_fewstep_scheduler(zsnr_model, conds, sampler):
    out = comfy.sample.sample(zsnr_model, noise(), 5, 5.0, sampler, "zsnr_fewstep", conds[0], conds[1],
                              torch.zeros(LATENT), disable_pbar=True, seed=3)
    assert out.shape == LATENT and torch.isfinite(out).all() and out.abs().max() > 0


def test_dpmpp_2m_node_equals_zsnr_core_from_infinite_sigma(node, zsnr_model, conds):
    dpmpp = comfy_nodes.NODE_CLASS_MAPPINGS["ZSNR_DPMPP2MSampler"]
    schema = dpmpp.GET_SCHEMA()
    assert schema.category == node["ZSNR_DDIMSampler"].GET_SCHEMA().category and schema.display_name
    (sampler,) = run(dpmpp)
    ms = zsnr_model.get_model_object("model_sampling")
    sigmas = comfy.samplers.calculate_sigmas(ms, "zsnr_fewstep", 8)
    steps = []
    out = comfy.sample.sample_custom(zsnr_model, noise(), 1.0, sampler, sigmas, conds[0], conds[1],
                                     torch.zeros(LATENT), callback=lambda i, den, x, total: steps.append((i, total)),
                                     disable_pbar=True, seed=3)
    unet, context = zsnr_model.model.diffusion_model, conds[0][0][0]

    def v_model(x_t, t):
        return unet(x_t, t.float(), context=context).float()

    ac = ms.zsnr_alphas_cumprod
    with torch.no_grad():
        ref = z.sample_dpmpp_2m_sigmas(z.denoiser_from_model(v_model, ac), noise(),
                                       z.fewstep_sigmas(z.sigma_from_alpha_bar(ac), 8), disable=True)
    ref = zsnr_model.model.process_latent_out(ref)
    # float32 on CPU: measured max difference 3.8e-6 on values up to 16.5 (ComfyUI's float32 σ table and its
    # x·√(1+σ²) round trip against the core's float64 σ, as for DDIM above)
    assert torch.allclose(out, ref, rtol=1e-5, atol=2e-5), (out - ref).abs().max()
    assert steps == [(i, 8) for i in range(8)]


# --- reliability (issue 19): answers at the door --------------------------------------------------------------

COMBOS = [  # node, its other inputs, the dropdown, a value an API prompt can send (ComfyUI 0.3.64 passes it on)
    ("ZSNR_ZeroTerminalSNR", {"zero_terminal_snr": True}, "prediction_type", "V_prediction"),
    ("ZSNR_PaperTimesteps", {"steps": 10, "denoise": 1.0}, "spacing", "Trailing"),
    ("ZSNR_RescaleCFG", {"phi": 0.7}, "space", "V"),
]


@pytest.mark.parametrize("node_id, others, name, value", COMBOS, ids=[c[0] for c in COMBOS])
def test_each_node_checks_its_dropdown_values(node, model, node_id, others, name, value):
    """A bare KeyError before (Zero Terminal SNR with prediction_type = "V_prediction"); now the value, the options
    and the fix, before the model is touched."""
    options = next(i.options for i in node[node_id].GET_SCHEMA().inputs if i.id == name)
    with pytest.raises(ValueError, match=rf"{name} = '{value}' is not one of its options "
                                         rf"{re.escape(', '.join(map(repr, options)))} \(did you mean"):
        run(node[node_id], model=model, **others, **{name: value})


def test_the_loader_checks_its_dropdown_values(node, model, tmp_path, monkeypatch):
    loader = node["ZSNR_CheckpointLoader"]
    monkeypatch.setattr(comfy_nodes.folder_paths, "get_full_path_or_raise", lambda kind, name: str(tmp_path / name))
    for name in ("prediction_type", "zero_terminal_snr"):
        values = {"prediction_type": "from file", "zero_terminal_snr": "from file", name: "V_prediction"}
        with pytest.raises(ValueError, match="'V_prediction'"):  # the loader's own wording, named either way
            run(loader, ckpt_name="none.safetensors", **values)


def test_low_denoise_counts_through_ksampler_fewstep_and_paper_timesteps(node, zsnr_model, conds):
    """KSampler asks its scheduler for steps/denoise sigmas: 1000 for 20 steps at denoise 0.02, past zsnr_fewstep's
    980-timestep spread (refused before, naming spaced_sigmas); Paper Timesteps took at most 1000 at any denoise."""
    ks = comfy.samplers.KSampler(zsnr_model, 20, "cpu", "euler", "zsnr_fewstep", denoise=0.02)
    trailing = comfy.samplers.KSampler(zsnr_model, 20, "cpu", "euler", "zsnr_trailing", denoise=0.02)
    assert len(ks.sigmas) == 21 and torch.equal(ks.sigmas, trailing.sigmas)  # past the spread: trailing
    out = comfy.sample.sample(zsnr_model, noise(), 20, 5.0, "euler", "zsnr_fewstep", conds[0], conds[1],
                              torch.zeros(LATENT), denoise=0.02, disable_pbar=True, seed=3)
    assert torch.isfinite(out).all()
    (sigmas,) = run(node["ZSNR_PaperTimesteps"], model=zsnr_model, steps=30, spacing="trailing", denoise=0.02)
    ks = comfy.samplers.KSampler(zsnr_model, 30, "cpu", "euler", "zsnr_trailing", denoise=0.02)
    assert len(sigmas) == 31 and torch.equal(sigmas, ks.sigmas)  # the same schedule as the KSampler entry
    (sampler,) = run(node["ZSNR_DDIMSampler"], eta=0.0)
    out = comfy.sample.sample_custom(zsnr_model, noise(), 5.0, sampler, sigmas, conds[0], conds[1],
                                     torch.zeros(LATENT), disable_pbar=True, seed=3)
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("node_name, args, words", NON_DDPM[:4], ids=[n[0] for n in NON_DDPM[:4]])
def test_paper_timesteps_and_the_schedulers_refuse_flow_and_edm_models(node, model, node_name, args, words):
    other = core_sampling(model, node_name, *args)
    with pytest.raises(ValueError, match=rf"Paper Timesteps works on discrete-time DDPM models .* cannot take "
                                         rf"BaseModel \({re.escape(words)}") as err:
        run(node["ZSNR_PaperTimesteps"], model=other, steps=10, spacing="trailing", denoise=1.0)
    assert type(err.value).__name__ == "UnsupportedModelFamilyError"  # the node pack's own copy of zsnr_core's
    with pytest.raises(ValueError, match=rf"the zsnr_trailing scheduler works on .* \({re.escape(words)}"):
        comfy.samplers.calculate_sigmas(other.get_model_object("model_sampling"), "zsnr_trailing", 10)


def test_inspector_names_core_modelsamplingdiscrete_as_the_source(node, model):
    core = core_sampling(model, "ModelSamplingDiscrete", "v_prediction", True)
    _, text = run(node["ZSNR_SNRInspector"], model=core)
    assert "prediction type: v_prediction (from core ModelSamplingDiscrete node (sampling = v_prediction))" in text
    assert "zero terminal SNR state from: core ModelSamplingDiscrete node (zsnr = true: Algorithm 1" in text
    assert "the model as loaded" not in text
    (kept,) = run(node["ZSNR_ZeroTerminalSNR"], model=core, prediction_type="keep", zero_terminal_snr=False)
    _, text = run(node["ZSNR_SNRInspector"], model=kept)  # a Zero Terminal SNR node that changed nothing keeps it
    assert "prediction type: v_prediction (from core ModelSamplingDiscrete node (sampling = v_prediction))" in text
    _, text = run(node["ZSNR_SNRInspector"], model=model)
    assert "prediction type: v_prediction (from the model as loaded" in text


def test_rescale_cfg_runs_in_chain_order_with_other_post_cfg_patches(node, model, conds):
    """Post-CFG patches run in the order the nodes are chained (the one nearer the sampler last), so Rescale CFG
    before or after CFGZeroStar gives different samples; recorders on either side of it see it run between them."""
    from comfy_extras.nodes_cfg import CFGZeroStar

    def sample(m):
        return comfy.sample.sample(m, noise(), 4, 6.0, "euler", "normal", conds[0], conds[1], torch.zeros(LATENT),
                                   disable_pbar=True, seed=5)

    (ours_then_star,) = run(CFGZeroStar, model=run(node["ZSNR_RescaleCFG"], model=model, phi=0.7, space="v")[0])
    (star_then_ours,) = run(node["ZSNR_RescaleCFG"], model=run(CFGZeroStar, model=model)[0], phi=0.7, space="v")
    a, b = sample(ours_then_star), sample(star_then_ours)
    assert torch.isfinite(a).all() and torch.isfinite(b).all()
    assert (a - b).abs().max() > 1e-3, (a - b).abs().max()  # measured 0.056 (values up to 10.7) on the tiny UNet
    seen = []

    def recorder(tag):
        def record(args):
            seen.append((tag, args["denoised"].clone()))
            return args["denoised"]
        return record

    m = model.clone()
    m.set_model_sampler_post_cfg_function(recorder("before"))
    (m,) = run(node["ZSNR_RescaleCFG"], model=m, phi=0.7, space="v")
    m.set_model_sampler_post_cfg_function(recorder("after"))
    sample(m)
    assert [tag for tag, _ in seen] == ["before", "after"] * 4
    assert all((seen[i][1] - seen[i + 1][1]).abs().max() > 0 for i in range(0, 8, 2))  # ours ran between them


# --- checkpoint flags (issue 20): stamped files through the stock loader and ours, pickles, the probe ---------------

def tiny_sd15_checkpoint(path):
    """A checkpoint that stock ComfyUI detects as SD 1.x (its unet_config: 320 channels, 768-wide context) but with
    one level and fp16 random weights: 52 MB, no text encoder, no VAE. ComfyUI zero-inits the output layer."""
    from safetensors.torch import save_file

    unet = {"image_size": 8, "in_channels": 4, "out_channels": 4, "model_channels": 320, "num_res_blocks": 1,
            "channel_mult": [1], "transformer_depth": [1], "transformer_depth_output": [1, 1],
            "transformer_depth_middle": 1, "context_dim": 768, "use_spatial_transformer": True,
            "use_linear_in_transformer": False, "adm_in_channels": None, "use_temporal_attention": False,
            "use_temporal_resblock": False, "legacy": False, "num_head_channels": 64}
    base = comfy.model_base.BaseModel(comfy.supported_models.SD15(unet), device=torch.device("cpu"))
    state = {"model.diffusion_model." + k: v.half() for k, v in base.diffusion_model.state_dict().items()}
    save_file(state, str(path))
    return path


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    folder = tmp_path_factory.mktemp("checkpoints")
    plain = tiny_sd15_checkpoint(folder / "plain.safetensors")
    z.write_checkpoint_flags(plain, "v_prediction", True, markers=True, out=folder / "stamped.safetensors")
    from safetensors.torch import load_file

    torch.save(load_file(str(plain)), folder / "plain.ckpt")  # a zip pickle, as PyTorch writes .ckpt files
    return folder


@pytest.fixture()
def loader(node, checkpoints, monkeypatch):
    monkeypatch.setattr(comfy_nodes.folder_paths, "get_full_path_or_raise", lambda kind, name: str(checkpoints / name))
    return node["ZSNR_CheckpointLoader"]


def test_a_stamped_sd1_file_through_the_stock_loader_keeps_epsilon(checkpoints):
    # stock ComfyUI reads the v_pred / ztsnr markers for SDXL only: an SD 1.x file loads as ε whatever it states,
    # which is what `flags` predicts for it
    model = comfy.sd.load_checkpoint_guess_config(str(checkpoints / "stamped.safetensors"))[0]
    ms = model.get_model_object("model_sampling")
    assert isinstance(ms, comfy.model_sampling.EPS) and not isinstance(ms, comfy.model_sampling.V_PREDICTION)
    from zsnr_core.checkpoint_flags import stock_assumptions

    flags = z.read_checkpoint_flags(checkpoints / "stamped.safetensors")
    comfy_view = next(a for a in stock_assumptions(flags) if a.tool == "ComfyUI")
    assert flags.family == "sd1" and (comfy_view.prediction_type, comfy_view.zero_terminal_snr) == ("epsilon", False)


@pytest.mark.parametrize("stamp, zsnr", [(("v_prediction", True), True), (("v_prediction", False), False)])
def test_stamped_markers_drive_stock_sdxl_detection(tmp_path, stamp, zsnr):
    # SDXL's own model_type() on the stamped file's tensors (a real SDXL UNet is 2.6B parameters: too big for CPU CI)
    from safetensors.torch import load_file, save_file

    path = tmp_path / "x.safetensors"
    save_file({"model.diffusion_model.label_emb.0.0.weight": torch.zeros(2, 2)}, str(path))
    z.write_checkpoint_flags(path, *stamp, markers=True, in_place=True)
    config = comfy.supported_models.SDXL(dict(comfy.supported_models.SDXL.unet_config))
    assert config.model_type(load_file(str(path))) == comfy.model_base.ModelType.V_PREDICTION
    assert config.sampling_settings.get("zsnr", False) is zsnr


@pytest.mark.parametrize("choice, zsnr_choice, sampling, zsnr_on, words", [
    ("from file", "from file", "V_PREDICTION", True, "file: metadata modelspec.prediction_type = 'v'"),
    ("from file, else probe", "from file", "V_PREDICTION", True, "file: metadata modelspec.prediction_type = 'v'"),
    ("epsilon", "off", "EPS", False, "set on the loader (prediction_type = epsilon)"),
    ("v_prediction", "on", "V_PREDICTION", True, "set on the loader (prediction_type = v_prediction)"),
])
def test_our_loader_applies_a_stamped_file_with_every_source(loader, choice, zsnr_choice, sampling, zsnr_on, words):
    m, _, _, report = run(loader, ckpt_name="stamped.safetensors", prediction_type=choice,
                               zero_terminal_snr=zsnr_choice)
    ms = m.get_model_object("model_sampling")
    assert isinstance(ms, getattr(comfy.model_sampling, sampling)) and words in report
    assert (float(ms.zsnr_alphas_cumprod[-1]) == 0.0) is zsnr_on


def test_our_loader_opens_a_ckpt_as_the_stock_loader_does_and_says_it_has_no_flags(loader):
    m, _, _, report = run(loader, ckpt_name="plain.ckpt", prediction_type="from file", zero_terminal_snr="from file")
    ms = m.get_model_object("model_sampling")
    assert isinstance(ms, comfy.model_sampling.EPS) and float(ms.zsnr_alphas_cumprod[-1]) > 0  # as stock detected
    assert report.splitlines() == [f"{what}: as loaded (the file is a pickle (.ckpt / .pt), and a pickle carries no "
                                   "header flags; the model as loaded (ComfyUI's loader reads only the v_pred / ztsnr "
                                   "markers, and only for SDXL))" for what in ("prediction type", "zero terminal SNR")]


def test_probe_on_a_silent_file_says_probed_and_cannot_tell_an_untrained_unet(loader, monkeypatch):
    monkeypatch.setattr(sys.modules[loader.__module__], "PROBE_LATENT", (1, 16, 16))  # CPU time
    m, _, _, report = run(loader, ckpt_name="plain.safetensors", prediction_type="from file, else probe",
                          zero_terminal_snr="from file")
    assert isinstance(m.get_model_object("model_sampling"), comfy.model_sampling.EPS)  # kept as loaded
    assert report.startswith("prediction type: as loaded (probed, cannot tell (the coefficient says v_prediction, "
                             "but the model does not denoise as one")


@pytest.mark.parametrize("kind", ["epsilon", "v_prediction"])
def test_probe_on_a_silent_pickle_applies_what_an_exact_denoiser_predicts(loader, monkeypatch, kind):
    # the exact posterior-mean denoiser of Gaussian data (x0 ~ N(0, 0.5²) per element) in the model's place: the
    # probe's answer must be applied and named "probed"
    from test_probe import exact_denoiser

    module = sys.modules[loader.__module__]
    ac = z.alphas_cumprod(z.make_betas("scaled_linear"))  # SD's schedule, as ComfyUI loads the SD 1.x file
    monkeypatch.setattr(module, "unet_call", lambda model, clip: exact_denoiser(kind, ac, 0.25, 0.0))
    monkeypatch.setattr(module, "PROBE_LATENT", (1, 16, 16))
    m, _, _, report = run(loader, ckpt_name="plain.ckpt", prediction_type="from file, else probe",
                          zero_terminal_snr="off")
    ms = m.get_model_object("model_sampling")
    assert isinstance(ms, comfy.model_sampling.V_PREDICTION if kind == "v_prediction" else comfy.model_sampling.EPS)
    assert report.startswith(f"prediction type: {kind} (probed (the file is a pickle")


def test_the_loaders_outputs_all_have_tooltips(node):
    outputs = node["ZSNR_CheckpointLoader"].GET_SCHEMA().outputs
    assert [o.io_type for o in outputs] == ["MODEL", "CLIP", "VAE", "STRING"]
    assert all(o.tooltip for o in outputs), [o.io_type for o in outputs if not o.tooltip]


# --- the shipped toy models as ComfyUI models (issue 22) -------------------------------------------------------

TOY_IDS = ["ZSNR_LoadToyModel", "ZSNR_ToyCondition", "ZSNR_EmptyToyImage", "ZSNR_ToyImage"]


@pytest.fixture(scope="module")
def toy(node):
    from zsnr_core.toy import comfy_bridge

    comfy.utils.PROGRESS_BAR_ENABLED = False
    nodes = {i: comfy_nodes.NODE_CLASS_MAPPINGS[i] for i in TOY_IDS}
    models = {name: run(nodes["ZSNR_LoadToyModel"], model_name=name)[0] for name in ("fixed", "flawed")}
    return nodes, models, comfy_bridge


def toy_ksampler(model, positive, negative, latent, steps=10, sampler="euler", scheduler="simple", cfg=3.0):
    with torch.inference_mode():  # as ComfyUI's executor runs a node
        return comfy_nodes.common_ksampler(model, 0, steps, cfg, sampler, scheduler, positive, negative, latent)[0]


def test_toy_nodes_have_tooltips_and_their_own_category(toy):
    for ntype in toy[0].values():
        schema = ntype.GET_SCHEMA()
        assert schema.category == "sampling/zero terminal SNR/toy" and schema.description
        assert all(inp.tooltip for inp in schema.inputs), schema.node_id


@pytest.mark.parametrize("name, sampler, scheduler, pipeline, tol", [
    # measured max |Δ| over 16 samples at 10 steps: 1.9e-3 (ComfyUI starts at its clamp σ = 4518.76, the library
    # at SNR = 0 exactly), 5.6e-6 (the DDIM node's exact start: float32 rounding only)
    ("fixed", "euler", "simple", "zsnr_v_trailing", 1e-2),
    ("fixed", "zsnr_ddim", "zsnr_trailing", "zsnr_v_trailing", 1e-4),
])
def test_the_stock_ksampler_on_a_toy_model_matches_the_librarys_pipeline(toy, name, sampler, scheduler, pipeline, tol):
    from zsnr_core.toy.pipelines import PIPELINES, sample
    from zsnr_core.toy.zoo import WEIGHTS_DIR, load_model

    _, models, bridge = toy
    n = 4
    out = toy_ksampler(models[name], bridge.conditioning(torch.arange(n)), bridge.conditioning(bridge.NULL_CLASS),
                       {"samples": bridge.empty_latent(n)}, sampler=sampler, scheduler=scheduler)["samples"]
    unet = load_model(WEIGHTS_DIR / f"{name}.safetensors")[0]
    lib = sample(unet, PIPELINES[pipeline], n, 10, 3.0, phi=0.0, seed=0)
    assert out.shape == (n, 3, 32, 32) and (out - lib).abs().max().item() < tol


def test_the_stock_empty_latent_is_fitted_to_the_toy_image(toy):
    _, models, bridge = toy
    (latent,) = comfy_nodes.EmptyLatentImage().generate(256, 256, 2)  # 4 × 32 × 32, all zeros
    out = toy_ksampler(models["fixed"], bridge.conditioning(0), bridge.conditioning(bridge.NULL_CLASS), latent,
                       steps=2)["samples"]
    assert out.shape == (2, 3, 32, 32) and torch.isfinite(out).all()


def test_stock_conditioning_nodes_work_on_toy_conditions(toy):
    nodes, models, bridge = toy
    (ring,) = run(nodes["ZSNR_ToyCondition"], shape="ring", brightness="bright")
    (null,) = run(nodes["ZSNR_ToyCondition"], shape="none", brightness="any")
    edited = [comfy_nodes.ConditioningCombine().combine(ring, null)[0],
              comfy_nodes.ConditioningConcat().concat(ring, null)[0],
              comfy_nodes.ConditioningAverage().addWeighted(ring, null, 0.5)[0],
              comfy_nodes.ConditioningZeroOut().zero_out(ring)[0],
              comfy_nodes.ConditioningSetArea().append(ring, 128, 128, 0, 0, 1.0)[0],
              comfy_nodes.ConditioningSetTimestepRange().set_range(ring, 0.0, 0.5)[0]]
    for cond in edited:
        out = toy_ksampler(models["fixed"], cond, null, {"samples": bridge.empty_latent(2)}, steps=2)["samples"]
        assert torch.isfinite(out).all()


def test_asking_for_brightness_moves_the_fixed_models_images_further_than_the_flawed_ones(toy):
    """The paper's claim through the stock KSampler: only the zero-SNR model reaches a bright or dark background
    from pure noise (Lin et al. 2024, section 2.2). One seed, 8 samples, 10 steps, CFG 3 (deterministic)."""
    nodes, models, bridge = toy
    n, neg = 8, bridge.conditioning(bridge.NULL_CLASS)
    gap = {}
    for name, scheduler in (("fixed", "simple"), ("flawed", "ddim_uniform")):
        means = []
        for bucket in ("dark", "bright"):
            (cond,) = run(nodes["ZSNR_ToyCondition"], shape="disk", brightness=bucket)
            (image,) = run(nodes["ZSNR_ToyImage"],
                           samples=toy_ksampler(models[name], cond, neg, run(nodes["ZSNR_EmptyToyImage"],
                                                                            batch_size=n)[0], scheduler=scheduler))
            means.append(image.mean().item() * 2 - 1)  # back to the data's [-1, 1]
        gap[name] = means[1] - means[0]
    assert gap["fixed"] > gap["flawed"] + 0.2, gap


def test_toy_model_previews_and_inspector(toy, node, monkeypatch):
    import latent_preview

    _, models, _ = toy
    fmt = models["fixed"].get_model_object("latent_format")
    monkeypatch.setattr(latent_preview.args, "preview_method", latent_preview.LatentPreviewMethod.Auto)
    previewer = latent_preview.get_previewer("cpu", fmt)  # the server's default is no previews
    x0 = torch.linspace(-1, 1, 3 * 4 * 4).view(1, 3, 4, 4)
    # identity RGB factors: the preview is the image, 8-bit rounded by ComfyUI
    expected = ((x0[0].permute(1, 2, 0) + 1) / 2 * 255).round().numpy()
    assert abs(numpy.asarray(previewer.decode_latent_to_preview(x0), dtype=float) - expected).max() <= 1
    (_, report) = run(node["ZSNR_SNRInspector"], model=models["flawed"])
    assert "prediction type: epsilon" in report


def test_toy_flawed_model_differs_from_the_library_only_by_comfyuis_start(toy):
    """Why the flawed model differs from the library's SD pipeline in ComfyUI: a schedule that does not start at
    σ_max (ddim_uniform: t = 901 for 10 steps) starts from σ·noise, i.e. x_t = √(1 - ᾱ_t)·ε, where diffusers starts
    from ε. The ε-model amplifies that 0.7 % through 1/√ᾱ_t (0.38 apart at 10 steps); from ComfyUI's start the
    library's DDIM gives ComfyUI's euler."""
    from zsnr_core.sampling import sample_ddim
    from zsnr_core.spacing import timesteps
    from zsnr_core.toy.pipelines import guided, initial_noise, schedule
    from zsnr_core.toy.zoo import WEIGHTS_DIR, load_model

    _, models, bridge = toy
    n, steps = 4, 10
    out = toy_ksampler(models["flawed"], bridge.conditioning(torch.arange(n)), bridge.conditioning(bridge.NULL_CLASS),
                       {"samples": bridge.empty_latent(n)}, steps=steps, scheduler="ddim_uniform")["samples"]
    ac = schedule(False)
    ts = timesteps(steps, "leading", len(ac), 1)
    unet = load_model(WEIGHTS_DIR / "flawed.safetensors")[0]
    start = initial_noise(n, (3, 32, 32), 0) * (1 - ac[ts[0]]).sqrt().float()
    with torch.no_grad():
        lib = sample_ddim(guided(unet, torch.arange(n), 3.0, 0.0, bridge.NULL_CLASS), start, ac, ts, "epsilon",
                          disable=True)
    assert (out - lib).abs().max().item() < 1e-4  # measured 3.9e-6: float32 rounding only
