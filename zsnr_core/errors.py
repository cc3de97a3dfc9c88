"""The library's typed refusals. Each is a ValueError (so `except ValueError` keeps working), worded once here and
raised where the rule lives; callers (nodes, the demo, the command line) branch on the type, never on the text."""
from __future__ import annotations


class EpsilonAtZeroSNRError(ValueError):
    """ε-prediction asked for x̂_0 at ᾱ = 0 (SNR = 0), where eq. 19's ε-form divides 0 by 0 (arXiv 2305.08891, §6)."""

    short = "prediction_type='epsilon' is undefined at ᾱ = 0 (SNR = 0)"  # the demo's refused row

    def __init__(self, detail: str = ""):
        super().__init__(
            "prediction_type='epsilon' is undefined at ᾱ = 0 (SNR = 0): x̂0 = (x_t - √(1-ᾱ)·ε̂)/√ᾱ divides 0 by 0, "
            "so peers return inf or black images there. An ε-model cannot sample a zero-terminal-SNR schedule: use "
            "a v_prediction (or sample) model with it, or keep the model's own schedule (ᾱ_T > 0) with an ε-model."
            + (f" {detail}" if detail else "")
        )


class UnsupportedModelFamilyError(ValueError):
    """A model whose sampling is not DDPM's discrete ᾱ schedule (flow matching, EDM, LCM, ...): these fixes, which
    rewrite ᾱ_t, do not apply to it. `family` says in words what the model is."""

    def __init__(self, family: str, what: str = "this"):
        self.family = family
        super().__init__(
            f"{what} works on discrete-time DDPM models (ε-, v- or x0-prediction over an ᾱ_t schedule: SD 1.x, "
            f"SD 2.x, SDXL and their fine-tunes) and cannot take {family}, whose sampling is not an ᾱ_t schedule; "
            "zero terminal SNR, trailing steps and these samplers do not apply to it: use the stock nodes"
        )
