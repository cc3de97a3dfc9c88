"""The Rescale CFG node's glue: a ComfyUI post-CFG function around the core's Algorithm 2 (no ComfyUI import)."""
from __future__ import annotations

from ..zsnr_core import CFG_SPACES, rescale_cfg_denoised
from ..zsnr_core.guidance import check_phi
from .options import check_option


def post_cfg_function(phi: float, space: str):
    """ComfyUI's sampler_post_cfg_function: args["denoised"] is x̂0 of x_cfg, however earlier patches formed it."""
    phi = check_phi(phi)
    check_option("space", space, CFG_SPACES)

    def rescale(args):
        return rescale_cfg_denoised(args["input"], args["sigma"], args["denoised"], args["cond_denoised"], phi, space)

    return rescale
