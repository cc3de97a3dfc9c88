"""Starting a ComfyUI checkout in this process on a CPU, and a tiny v-prediction model for it.

Shared by tests/ (comfyui_checks.py, the server's stand-ins) and benchmarks/; neither imports the other. Never
imported by the default test run.
"""
import pathlib
import sys
import tempfile

import torch


def torchvision_stub() -> str:
    """A folder to put first on the path, holding an empty `torchvision` package.

    PyPI's torchvision does not load next to a CPU torch; ComfyUI imports it only for models never built here.
    """
    stub = pathlib.Path(tempfile.mkdtemp(prefix="tv_stub_")) / "torchvision"
    (stub / "transforms").mkdir(parents=True)
    (stub / "__init__.py").write_text("from . import transforms  # noqa: F401\n")
    (stub / "transforms" / "__init__.py").write_text(
        "def __getattr__(name):\n    raise AttributeError(f'torchvision stub has no {name}')\n")
    return str(stub.parent)


def start_comfyui(path: str):
    """Put ComfyUI on sys.path with a torchvision stub, select the CPU, import what the checks use.

    Returns (comfy, nodes): ComfyUI's package and its nodes.py module (which holds the custom-node loader).
    """
    sys.path[:0] = [torchvision_stub(), path]
    import comfy.cli_args

    comfy.cli_args.args.cpu = True  # before comfy.model_management is imported
    import comfy.model_base
    import comfy.model_patcher
    import comfy.sample
    import comfy.samplers
    import comfy.supported_models

    import nodes

    return comfy, nodes


def tiny_vpred_model(channels: int = 32, seed: int = 0, model_type: str = "V_PREDICTION"):
    """An SD2-style v-prediction UNet with random weights (re-initialised: ComfyUI zero-inits output layers), CPU.

    `model_type` names a comfy.model_base.ModelType ("EPS" for an ε-model as the loader would detect one).
    """
    import comfy.model_base
    import comfy.model_patcher
    import comfy.supported_models

    unet = {"image_size": 8, "in_channels": 4, "out_channels": 4, "model_channels": channels, "num_res_blocks": 1,
            "channel_mult": [1, 2], "transformer_depth": [1, 1], "transformer_depth_output": [1, 1, 1, 1, 1, 1],
            "transformer_depth_middle": 1, "context_dim": 32, "use_spatial_transformer": True,
            "use_linear_in_transformer": True, "adm_in_channels": None, "use_temporal_attention": False,
            "use_temporal_resblock": False, "legacy": False}
    config = comfy.supported_models.SD20(unet)
    config.unet_config["num_head_channels"] = 16
    cpu = torch.device("cpu")
    base = comfy.model_base.BaseModel(config, model_type=comfy.model_base.ModelType[model_type],
                                      device=cpu)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in base.diffusion_model.parameters():
            p.copy_(0.05 * torch.randn(p.shape, generator=g))
    return comfy.model_patcher.ModelPatcher(base, load_device=cpu, offload_device=cpu)
