"""Reading a ComfyUI model_sampling object: its prediction type, its family and its exact schedule (no ComfyUI
import here: classes are recognised by name, so that this file imports and is tested without ComfyUI)."""
from __future__ import annotations

from ..zsnr_core import alphas_cumprod_from_sigma_table

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


def _names(model_sampling) -> list[str]:
    return [cls.__name__ for cls in type(model_sampling).__mro__]


def family(model_sampling, base_model=None) -> str | None:
    """None for DDPM's discrete sampling (ModelSamplingDiscrete with an ε / v / x0 mixin); else, in words, what the
    model is: "SD3 (flow matching (SD3, AuraFlow, ...); model_sampling ModelSamplingDiscreteFlow + CONST)".

    `base_model` (ComfyUI's BaseModel: SD3, Flux, AuraFlow, SDXL, ...) adds the architecture's name.
    """
    names = _names(model_sampling)
    kinds = [words for name, words in _FAMILIES if name in names]
    if not kinds:
        return None
    cls = type(model_sampling)  # ComfyUI builds classes named ModelSampling(Advanced) from (sampling, mixin)
    shown = [b.__name__ for b in cls.__bases__] if cls.__name__ in _GENERIC_NAMES else [cls.__name__]
    arch = f"{type(base_model).__name__} " if base_model is not None else ""
    return f"{arch}({kinds[0]}; model_sampling {' + '.join(shown)})"


def prediction_type(model_sampling, base_model=None) -> str:
    """'epsilon', 'v_prediction' or 'sample' for a discrete ComfyUI model; ValueError naming the family otherwise."""
    own = getattr(model_sampling, "zsnr_prediction_type", None)
    if own is not None:
        return own
    names = set(_names(model_sampling))
    kind = next((kind for name, kind in _MIXINS if name in names), None)
    if kind is None or family(model_sampling) is not None:
        raise ValueError(
            f"this node needs a discrete-time (DDPM-style) ε-, v- or x0-prediction model such as SD 1.x, SD 2.x or "
            f"SDXL, got {family(model_sampling, base_model) or type(model_sampling).__name__}, whose sampling has "
            "no DDPM ᾱ schedule to work on"
        )
    return kind


AS_LOADED = "the model as loaded (ComfyUI's loader reads only the v_pred / ztsnr markers, and only for SDXL)"


def source(model_sampling) -> dict[str, str]:
    """Where the prediction type and the zero-SNR state came from: set by our nodes, else the model as loaded."""
    return dict(getattr(model_sampling, "zsnr_source", None) or {"prediction_type": AS_LOADED,
                                                                  "zero_terminal_snr": AS_LOADED})


def schedule(model_sampling):
    """The model's ᾱ (float64): the exact one a Zero Terminal SNR node stored, else read from its σ table."""
    own = getattr(model_sampling, "zsnr_alphas_cumprod", None)
    if own is not None:
        return own
    return alphas_cumprod_from_sigma_table(model_sampling.sigmas.detach().cpu())
