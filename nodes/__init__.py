"""ComfyUI nodes: each one a schema and one call into zsnr_core.

The files without a ComfyUI import (patch_*.py, sampler_fn.py, ksampler_*.py, checkpoint_choice.py,
model_sampling.py, options.py, plot.py, inspect_text.py) hold the glue that the tests run without ComfyUI; the node
files (zero_snr.py, paper_timesteps.py, ddim_sampler.py, dpmpp_sampler.py, rescale_cfg.py, snr_inspector.py,
checkpoint_loader.py, and the toy models' toy_model.py, toy_nodes.py) import comfy_api and are loaded by
`extension.py` inside ComfyUI only.
"""
CATEGORY = "sampling/zero terminal SNR"
