"""Toy Condition, Empty Toy Image and Toy Image: the conditioning, empty latent and decoder of the toy models."""
from __future__ import annotations

from comfy_api.latest import io

from ..zsnr_core.toy import comfy_bridge as bridge
from .toy_model import TOY_CATEGORY


class ToyCondition(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="ZSNR_ToyCondition",
            display_name="Toy Condition",
            category=TOY_CATEGORY,
            description="The toy models' prompt: a shape class and an optional brightness bucket. Use it as "
                        "positive and negative (shape none, brightness any: the unconditional model that "
                        "classifier-free guidance needs).",
            inputs=[
                io.Combo.Input("shape", options=list(bridge.SHAPE_CHOICES), default=bridge.CLASSES[0],
                               tooltip="The shape to draw; none is the null class (for the negative)."),
                io.Combo.Input("brightness", options=list(bridge.BRIGHTNESS_CHOICES), default=bridge.ANY_BRIGHTNESS,
                               tooltip="Ask for a dark, mid or bright background (mean brightness below -0.3, "
                                       "between, above 0.3); any leaves it to the model."),
            ],
            outputs=[io.Conditioning.Output(tooltip="For KSampler's positive or negative.")],
        )

    @classmethod
    def execute(cls, shape, brightness) -> io.NodeOutput:
        return io.NodeOutput(bridge.conditioning(bridge.class_index(shape), bridge.brightness_index(brightness)))


class EmptyToyImage(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="ZSNR_EmptyToyImage",
            display_name="Empty Toy Image",
            category=TOY_CATEGORY,
            description="An empty batch of 3 × 32 × 32 toy images (the toy models work in pixel space). The stock "
                        "Empty Latent Image at 256 × 256 gives the same latent.",
            inputs=[io.Int.Input("batch_size", default=16, min=1, max=4096,
                                 tooltip="Images per run; 16 take about a second per 10 steps on a CPU.")],
            outputs=[io.Latent.Output(tooltip="For KSampler's latent_image.")],
        )

    @classmethod
    def execute(cls, batch_size) -> io.NodeOutput:
        return io.NodeOutput({"samples": bridge.empty_latent(batch_size)})


class ToyImage(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="ZSNR_ToyImage",
            display_name="Toy Image",
            category=TOY_CATEGORY,
            description="Toy samples (pixels in [-1, 1]) as an IMAGE: clamped to [0, 1], no VAE.",
            inputs=[io.Latent.Input("samples", tooltip="KSampler's output for a toy model.")],
            outputs=[io.Image.Output(tooltip="32 × 32 RGB images in [0, 1].")],
        )

    @classmethod
    def execute(cls, samples) -> io.NodeOutput:
        return io.NodeOutput(bridge.to_image(samples["samples"]))
