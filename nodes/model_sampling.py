"""Reading a ComfyUI model_sampling object: its prediction type and its exact schedule (no ComfyUI import here)."""
from __future__ import annotations

from ..zsnr_core import alphas_cumprod_from_sigma_table

# ComfyUI's model_sampling mixins by class name (comfy/model_sampling.py), most specific first: V_PREDICTION and
# X0 subclass EPS, EDM subclasses V_PREDICTION. Names, not classes, so that this file imports without ComfyUI.
_MIXINS = (("EDM", None), ("V_PREDICTION", "v_prediction"), ("X0", "sample"), ("EPS", "epsilon"))


def prediction_type(model_sampling) -> str:
    """'epsilon', 'v_prediction' or 'sample' for a discrete ComfyUI model; ValueError naming the class otherwise."""
    own = getattr(model_sampling, "zsnr_prediction_type", None)
    if own is not None:
        return own
    bases = {cls.__name__ for cls in type(model_sampling).__mro__}
    for name, kind in _MIXINS:
        if name in bases:
            if kind is None:
                break
            return kind
    raise ValueError(
        f"this node needs a discrete-time (DDPM-style) ε-, v- or x0-prediction model, got model_sampling "
        f"{type(model_sampling).__name__} ({', '.join(sorted(bases - {'object', 'Module'}))}); flow-matching and "
        "EDM models have no ᾱ schedule to rescale"
    )


def schedule(model_sampling):
    """The model's ᾱ (float64): the exact one a Zero Terminal SNR node stored, else read from its σ table."""
    own = getattr(model_sampling, "zsnr_alphas_cumprod", None)
    if own is not None:
        return own
    return alphas_cumprod_from_sigma_table(model_sampling.sigmas.detach().cpu())
