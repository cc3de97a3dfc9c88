"""Load Checkpoint (v-pred / zero SNR from file): ComfyUI's checkpoint loader, then the flags the file states, or
what a probe of the model finds where the file says nothing."""
from __future__ import annotations

import comfy.model_management
import comfy.sd
import folder_paths
import torch
from comfy_api.latest import io

from ..zsnr_core import probe_prediction_type
from . import CATEGORY
from .checkpoint_choice import PREDICTION_LOAD_CHOICES, ZERO_SNR_LOAD_CHOICES, decide, read_flags
from .model_sampling import family, schedule
from .zero_snr import patch_model

PROBE_LATENT = (2, 64, 64)  # batch and latent size of the probe's noise (512 x 512 pixels for SD's VAE)


def load_checkpoint(path):
    """(MODEL, CLIP, VAE) as CheckpointLoaderSimple loads them (.safetensors, and .ckpt / .pt the way it does)."""
    out = comfy.sd.load_checkpoint_guess_config(path, output_vae=True, output_clip=True,
                                                embedding_directory=folder_paths.get_folder_paths("embeddings"))
    return out[:3]


def unet_call(model, clip):
    """model(x_t, t) for zsnr_core's probe: the loaded UNet's raw output for a VP-scale x_t at integer timesteps t,
    conditioned on the empty prompt (zeros where the checkpoint has no text encoder)."""
    base = model.model
    comfy.model_management.load_models_gpu([model])
    device, dtype = model.load_device, base.get_dtype()
    if clip is not None:
        cond, pooled = clip.encode_from_tokens(clip.tokenize(""), return_pooled=True)
    else:
        cond, pooled = torch.zeros(1, 77, base.model_config.unet_config.get("context_dim") or 768), None

    def call(x_t, t):
        n, _, h, w = x_t.shape
        extra = base.extra_conds(cross_attn=cond, pooled_output=pooled, width=w * 8, height=h * 8, noise=x_t,
                                 device=device)
        conds = {k: v.process_cond(batch_size=n, device=device, area=None).cond for k, v in extra.items()}
        context = conds.pop("c_crossattn", None)
        conds = {k: v.to(device=device, dtype=dtype) for k, v in conds.items()}
        out = base.diffusion_model(x_t.to(device=device, dtype=dtype), t.to(device).float(),
                                   context=None if context is None else context.to(device=device, dtype=dtype),
                                   **conds)
        return out.float().to(x_t.device)

    return call


def probe(model, clip):
    """A function that probes the loaded model once (zsnr_core.probe_prediction_type), or None for a model outside
    DDPM's discrete sampling, which has no ε / v question to answer."""
    ms = model.get_model_object("model_sampling")
    if family(ms, model.model) is not None:
        return None

    def run():
        shape = (PROBE_LATENT[0], model.model.latent_format.latent_channels, *PROBE_LATENT[1:])
        try:
            return probe_prediction_type(unet_call(model, clip), schedule(ms), shape)
        except (RuntimeError, TypeError, KeyError, AttributeError) as err:
            raise ValueError(f"the prediction-type probe could not call this model ({type(err).__name__}: {err}); "
                             "set prediction_type to epsilon or v_prediction (the model card says which)") from None

    return run


class CheckpointLoaderZeroSNR(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="ZSNR_CheckpointLoader",
            display_name="Load Checkpoint (v-pred / zero SNR from file)",
            category=CATEGORY,
            description="Load a checkpoint as the stock loader does, then apply the prediction type and zero "
                        "terminal SNR that the file states: its modelspec.prediction_type / predict_key metadata, "
                        "kohya's ss_v_parameterization / ss_zero_terminal_snr, or the v_pred / ztsnr marker keys "
                        "(core ComfyUI reads only the markers, and only for SDXL). Only the file's header is read "
                        "for this. A .ckpt loads as in the stock loader; a pickle states no flags, so the model "
                        "stays as the stock loader detected it unless you probe it or set the flags. "
                        "`python -m zsnr_core flags FILE` says the same outside ComfyUI and can stamp the file.",
            inputs=[
                io.Combo.Input("ckpt_name", options=folder_paths.get_filename_list("checkpoints"),
                               tooltip="The checkpoint to load (models/checkpoints)."),
                io.Combo.Input("prediction_type", options=list(PREDICTION_LOAD_CHOICES), default="from file",
                               tooltip="from file: what the file states; where it states nothing (or is a .ckpt), "
                                       "what the stock loader detected. from file, else probe: where the file states "
                                       "nothing, three model calls on noise tell ε from v (the flags output says "
                                       "'probed' and shows the evidence; 'cannot tell' keeps the model as loaded). "
                                       "Or force epsilon / v_prediction (as the model card says)."),
                io.Combo.Input("zero_terminal_snr", options=list(ZERO_SNR_LOAD_CHOICES), default="from file",
                               tooltip="from file: Algorithm 1 on when the file states it was trained with zero "
                                       "terminal SNR; otherwise the schedule as loaded. on / off force it (off keeps "
                                       "the schedule as loaded). A file that contradicts itself needs on or off."),
            ],
            outputs=[io.Model.Output(tooltip="The model with the flags applied."),
                     io.Clip.Output(tooltip="The checkpoint's text encoder, as the stock loader returns it."),
                     io.Vae.Output(tooltip="The checkpoint's VAE, as the stock loader returns it."),
                     io.String.Output(display_name="flags", tooltip="What was applied and where each came from: "
                                                                    "the file, the probe, or the loader's setting.")],
        )

    @classmethod
    def execute(cls, ckpt_name, prediction_type, zero_terminal_snr) -> io.NodeOutput:
        path = folder_paths.get_full_path_or_raise("checkpoints", ckpt_name)
        flags, note = read_flags(path, prediction_type, zero_terminal_snr)  # before the (slow) load: fail early
        model, clip, vae = load_checkpoint(path)
        kind, zero_snr, source, report = decide(flags, note, prediction_type, zero_terminal_snr, probe(model, clip))
        ms = model.get_model_object("model_sampling")
        if kind == "keep" and not zero_snr and family(ms, model.model) is not None:
            return io.NodeOutput(model, clip, vae, f"{report}\nleft as loaded: {family(ms, model.model)}")
        return io.NodeOutput(patch_model(model, kind, zero_snr, source), clip, vae, report)
