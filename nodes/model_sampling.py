"""Reading a ComfyUI model_sampling object: its prediction type, its family and its exact schedule (no ComfyUI
import here: classes are recognised by name, so that this file imports and is tested without ComfyUI)."""
from __future__ import annotations

from ..zsnr_core import alphas_cumprod_from_sigma_table
from ..zsnr_core.errors import UnsupportedModelFamilyError

# ComfyUI's model_sampling mixins by class name (comfy/model_sampling.py), most specific first: V_PREDICTION and
# X0 subclass EPS, EDM subclasses V_PREDICTION.
_MIXINS = (("EDM", None), ("V_PREDICTION", "v_prediction"), ("X0", "sample"), ("EPS", "epsilon"))

# Samplings that are not DDPM's discrete σ table, by class name (comfy/model_sampling.py and
# comfy_extras/nodes_model_advanced.py), most specific first, with the family in a user's words.
_FAMILIES = (
    ("ModelSamplingFlux", "flow matching with Flux's shift"),
    ("ModelSamplingCosmosRFlow", "rectified flow (Cosmos)"),
    ("ModelSamplingDiscreteFlow", "flow matching (SD3, AuraFlow, HiDream, Wan, ...)"),
    ("ModelSamplingContinuousV", "continuous-time v-prediction"),
    ("ModelSamplingContinuousEDM", "continuous-time EDM (Playground v2.5, EDM fine-tunes, ...)"),
    ("ModelSamplingDiscreteEDM", "discrete EDM"),
    ("StableCascadeSampling", "Stable Cascade's continuous cosine schedule"),
    ("ModelSamplingDiscreteDistilled", "LCM (a distilled 50-entry σ table)"),
    ("CONST", "flow matching"),
    ("COSMOS_RFLOW", "rectified flow (Cosmos)"),
    ("EDM", "EDM"),
    ("LCM", "LCM"),
)


_GENERIC_NAMES = ("ModelSampling", "ModelSamplingAdvanced")
# what core ComfyUI's ModelSamplingDiscrete node calls each mixin (its `sampling` dropdown), most specific first
_CORE_SAMPLING_NAMES = {"IMG_TO_IMG": "img_to_img", "V_PREDICTION": "v_prediction", "X0": "x0", "EPS": "eps"}


def _names(model_sampling) -> list[str]:
    return [cls.__name__ for cls in type(model_sampling).__mro__]


def _shown(model_sampling) -> str:
    """The sampling's class in words: ComfyUI builds classes named ModelSampling(Advanced) from (sampling, mixin)."""
    cls = type(model_sampling)
    return " + ".join(b.__name__ for b in cls.__bases__) if cls.__name__ in _GENERIC_NAMES else cls.__name__


def family(model_sampling, base_model=None) -> str | None:
    """None for DDPM's discrete sampling (ModelSamplingDiscrete with an ε / v / x0 mixin); else, in words, what the
    model is: "SD3 (flow matching (SD3, AuraFlow, ...); model_sampling ModelSamplingDiscreteFlow + CONST)".

    `base_model` (ComfyUI's BaseModel: SD3, Flux, AuraFlow, SDXL, ...) adds the architecture's name.
    """
    names = _names(model_sampling)
    kinds = [words for name, words in _FAMILIES if name in names]
    if not kinds and "ModelSamplingDiscrete" in names and any(name in names for name, _ in _MIXINS):
        return None
    kind = kinds[0] if kinds else "a sampling without a discrete DDPM ᾱ table"
    arch = f"{type(base_model).__name__} " if base_model is not None else ""
    return f"{arch}({kind}; model_sampling {_shown(model_sampling)})"


def require_ddpm(model_sampling, base_model=None, what: str = "this node") -> None:
    """The one refusal of a model outside DDPM's discrete sampling (flow matching, EDM, LCM, ...), for every node:
    UnsupportedModelFamilyError naming `what` refuses it and what the model is."""
    other = family(model_sampling, base_model)
    if other is not None:
        raise UnsupportedModelFamilyError(other, what)


def prediction_type(model_sampling, base_model=None) -> str:
    """'epsilon', 'v_prediction' or 'sample' for a discrete ComfyUI model; UnsupportedModelFamilyError otherwise."""
    own = getattr(model_sampling, "zsnr_prediction_type", None)
    if own is not None:
        return own
    require_ddpm(model_sampling, base_model)
    names = set(_names(model_sampling))
    return next(kind for name, kind in _MIXINS if name in names)


AS_LOADED = "the model as loaded (ComfyUI's loader reads only the v_pred / ztsnr markers, and only for SDXL)"


def source(model_sampling) -> dict[str, str]:
    """Where the prediction type and the zero-SNR state came from: set by our nodes; else by core's
    ModelSamplingDiscrete node or another node's patch (told by class name: ComfyUI's loader names its class
    ModelSampling, core's ModelSampling* nodes ModelSamplingAdvanced); else the model as loaded."""
    own = getattr(model_sampling, "zsnr_source", None)
    if own:
        return dict(own)
    cls, names = type(model_sampling), _names(model_sampling)
    if cls.__name__ == "ModelSamplingAdvanced" and cls.__bases__[0].__name__ == "ModelSamplingDiscrete":
        sampling = next((words for name, words in _CORE_SAMPLING_NAMES.items() if name in names), "?")
        zsnr = ("true: Algorithm 1 with ᾱ_T clamped to σ = 4518.76" if getattr(model_sampling, "zsnr", False)
                else "false")
        return {"prediction_type": f"core ModelSamplingDiscrete node (sampling = {sampling})",
                "zero_terminal_snr": f"core ModelSamplingDiscrete node (zsnr = {zsnr})"}
    if cls.__name__ != "ModelSampling":
        patched = f"a model_sampling patch by another node ({_shown(model_sampling)})"
        return {"prediction_type": patched, "zero_terminal_snr": patched}
    return {"prediction_type": AS_LOADED, "zero_terminal_snr": AS_LOADED}


def schedule(model_sampling):
    """The model's ᾱ (float64): the exact one a Zero Terminal SNR node stored, else read from its σ table."""
    own = getattr(model_sampling, "zsnr_alphas_cumprod", None)
    if own is not None:
        return own
    return alphas_cumprod_from_sigma_table(model_sampling.sigmas.detach().cpu())
