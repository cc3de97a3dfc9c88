"""Load Checkpoint (v-pred / zero SNR from file): ComfyUI's checkpoint loader, then the flags the file states."""
from __future__ import annotations

import comfy.sd
import folder_paths
from comfy_api.latest import io

from . import CATEGORY
from .checkpoint_choice import PREDICTION_LOAD_CHOICES, ZERO_SNR_LOAD_CHOICES, resolve
from .model_sampling import family
from .zero_snr import patch_model


def load_checkpoint(path):
    """(MODEL, CLIP, VAE) as CheckpointLoaderSimple loads them."""
    out = comfy.sd.load_checkpoint_guess_config(path, output_vae=True, output_clip=True,
                                                embedding_directory=folder_paths.get_folder_paths("embeddings"))
    return out[:3]


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
                        "for this.",
            inputs=[
                io.Combo.Input("ckpt_name", options=folder_paths.get_filename_list("checkpoints"),
                               tooltip="The checkpoint to load (models/checkpoints)."),
                io.Combo.Input("prediction_type", options=list(PREDICTION_LOAD_CHOICES), default="from file",
                               tooltip="from file: what the file states; where it states nothing, what the stock "
                                       "loader detected. Or force epsilon / v_prediction (as the model card says)."),
                io.Combo.Input("zero_terminal_snr", options=list(ZERO_SNR_LOAD_CHOICES), default="from file",
                               tooltip="from file: Algorithm 1 on when the file states it was trained with zero "
                                       "terminal SNR; otherwise the schedule as loaded. on / off force it (off keeps "
                                       "the schedule as loaded). A file that contradicts itself needs on or off."),
            ],
            outputs=[io.Model.Output(tooltip="The model with the flags applied."),
                     io.Clip.Output(), io.Vae.Output(),
                     io.String.Output(display_name="flags", tooltip="What was applied and where each came from.")],
        )

    @classmethod
    def execute(cls, ckpt_name, prediction_type, zero_terminal_snr) -> io.NodeOutput:
        path = folder_paths.get_full_path_or_raise("checkpoints", ckpt_name)
        kind, zero_snr, source, report = resolve(path, prediction_type, zero_terminal_snr)
        model, clip, vae = load_checkpoint(path)
        ms = model.get_model_object("model_sampling")
        if kind == "keep" and not zero_snr and family(ms, model.model) is not None:
            return io.NodeOutput(model, clip, vae, f"{report}\nleft as loaded: {family(ms, model.model)}")
        return io.NodeOutput(patch_model(model, kind, zero_snr, source), clip, vae, report)
