"""Rescale CFG node: Algorithm 2 as a post-CFG patch, in a chosen space, chaining with other CFG patches in the
order the nodes are connected."""
from __future__ import annotations

from comfy_api.latest import io

from ..zsnr_core import CFG_SPACES
from . import CATEGORY
from .patch_cfg import post_cfg_function


class RescaleCFGZeroSNR(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="ZSNR_RescaleCFG",
            display_name="Rescale CFG (any latent, chains)",
            category=CATEGORY,
            description="Algorithm 2 of Lin et al. (2024): pull the guided prediction's std back towards the "
                        "conditional one. A post-CFG patch: it keeps any CFG function (core RescaleCFG, "
                        "PerpNeg, ...), which forms the guided prediction first, and runs in chain order with the "
                        "other post-CFG patches (CFGZeroStar, CFGNorm, PAG, ...): the one nearer the sampler runs "
                        "last, so their order changes the result.",
            inputs=[
                io.Model.Input("model", tooltip="Model to patch; it is cloned, never changed."),
                io.Float.Input("phi", default=0.7, min=0.0, max=1.0, step=0.01,
                               tooltip="Rescale strength φ: 0 is plain CFG, 0.7 the paper's value, 1 full rescale."),
                io.Combo.Input("space", options=list(CFG_SPACES), default="v",
                               tooltip="Where the stds are measured. v: the paper's and core ComfyUI's choice "
                                       "(identical results to core RescaleCFG). eps: what diffusers does for "
                                       "epsilon models; on a zero-SNR model it cannot act at the first step (t = T, "
                                       "where ε̂ = x_T whatever the guidance; notebook 5). x0: the denoised image. "
                                       "Results differ by space."),
            ],
            outputs=[io.Model.Output(tooltip="The patched copy of the model.")],
        )

    @classmethod
    def execute(cls, model, phi, space) -> io.NodeOutput:
        m = model.clone()
        m.set_model_sampler_post_cfg_function(post_cfg_function(phi, space))
        return io.NodeOutput(m)
