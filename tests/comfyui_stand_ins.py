"""Test-only ComfyUI nodes that stand in for the checkpoint, text encoder and VAE of the example workflows.

Loaded by the running-server test (test_comfyui_server.py) as a second custom node; never part of the node pack.
A tiny random v-prediction UNet (comfyui_env.tiny_vpred_model) replaces the checkpoint; everything between the
loader and the decoder (our nodes, CFGGuider, SamplerCustomAdvanced, KSampler, schedulers) is ComfyUI's own code.
"""
import zlib

import torch
from comfyui_env import tiny_vpred_model

CONTEXT = (7, 32)  # the tiny UNet's cross-attention context: tokens, width


class TinyCheckpoint:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {}}

    RETURN_TYPES = ("MODEL", "CLIP", "VAE")
    FUNCTION = "load"
    CATEGORY = "testing"

    @classmethod
    def IS_CHANGED(cls):
        return float("nan")  # never equal to itself: every prompt runs the whole graph, none comes from the cache

    def load(self):
        return tiny_vpred_model(), "tiny-clip", "tiny-vae"


class TinyTextEncode:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"clip": ("CLIP",), "text": ("STRING", {"multiline": True})}}

    RETURN_TYPES = ("CONDITIONING",)
    FUNCTION = "encode"
    CATEGORY = "testing"

    def encode(self, clip, text):
        g = torch.Generator().manual_seed(zlib.crc32(text.encode()))
        return ([[torch.randn(1, *CONTEXT, generator=g), {}]],)


class TinyVAEDecode:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"samples": ("LATENT",), "vae": ("VAE",)}}

    RETURN_TYPES = ("IMAGE",)
    FUNCTION = "decode"
    CATEGORY = "testing"

    def decode(self, samples, vae):
        x = samples["samples"][:, :3].float()  # (B, 3, h, w)
        if not torch.isfinite(x).all():
            raise ValueError("the sampler returned a non-finite latent")
        x = torch.nn.functional.interpolate(torch.sigmoid(x), scale_factor=8, mode="nearest")
        return (x.permute(0, 2, 3, 1).contiguous(),)  # (B, H, W, 3) in [0, 1]


NODE_CLASS_MAPPINGS = {"ZSNRTest_TinyCheckpoint": TinyCheckpoint, "ZSNRTest_TinyTextEncode": TinyTextEncode,
                       "ZSNRTest_TinyVAEDecode": TinyVAEDecode}
STAND_INS = {"CheckpointLoaderSimple": "ZSNRTest_TinyCheckpoint", "ZSNR_CheckpointLoader": "ZSNRTest_TinyCheckpoint",
             "CLIPTextEncode": "ZSNRTest_TinyTextEncode",
             "VAEDecode": "ZSNRTest_TinyVAEDecode"}
