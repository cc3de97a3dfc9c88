"""The ComfyUI V3 extension: the node list, and our spacings and samplers added to KSampler's lists."""
from __future__ import annotations

from comfy_api.latest import ComfyExtension, io

from .checkpoint_loader import CheckpointLoaderZeroSNR
from .ddim_sampler import DDIMZeroSNR
from .dpmpp_sampler import DPMPP2MZeroSNR
from .ksampler_samplers import register_samplers
from .ksampler_schedulers import register_schedulers
from .paper_timesteps import PaperTimesteps
from .rescale_cfg import RescaleCFGZeroSNR
from .snr_inspector import SNRInspector
from .toy_model import LoadToyModel
from .toy_nodes import EmptyToyImage, ToyCondition, ToyImage
from .zero_snr import ZeroTerminalSNR

NODES = [ZeroTerminalSNR, PaperTimesteps, DDIMZeroSNR, DPMPP2MZeroSNR, RescaleCFGZeroSNR, SNRInspector,
         CheckpointLoaderZeroSNR, LoadToyModel, ToyCondition, EmptyToyImage, ToyImage]


class ZeroSNRExtension(ComfyExtension):
    async def get_node_list(self) -> list[type[io.ComfyNode]]:
        register_schedulers()  # ComfyUI's loader calls get_node_list, not on_load
        register_samplers()
        return list(NODES)


async def comfy_entrypoint() -> ZeroSNRExtension:
    return ZeroSNRExtension()
