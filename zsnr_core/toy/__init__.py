"""Toy-scale reproduction of Lin et al. (2024): synthetic data, the exact denoiser of a finite set, a tiny UNet,
its training loop, the paper's pipelines and the metrics that show the brightness collapse and its fix.

Layers (each imports only from those above it in this list, and from the core):
    data.py, safetensors_io.py      procedural shapes; the safetensors format with torch alone
    metrics.py, unet.py             brightness, W1, over-exposure, FD₈; the TinyUNet
    ideal.py                        the Bayes-optimal denoiser E[x_0 | x_t] of a finite image set
    pipelines.py                    the ablation's pipelines and one sampling function (sample_ddim + rescale_cfg)
    train.py, zoo.py                training with EMA and resumable checkpoints; the shipped models and manifest
"""
from .data import BRIGHTNESS_CLASSES, CLASSES, ToyData, image_grid, label_by_brightness, make_shapes
from .ideal import IdealDenoiser
from .metrics import SampleMetrics, brightness, frechet_distance8, sample_metrics, wasserstein1
from .pipelines import FIXED, FLAWED, PIPELINES, Pipeline, sample, schedule
from .train import TrainConfig, TrainResult, export_weights, train
from .unet import TinyUNet
from .zoo import MODELS, WEIGHTS_DIR, evaluate, load_model, load_models, reference_data, train_models

__all__ = [
    "BRIGHTNESS_CLASSES", "CLASSES", "FIXED", "FLAWED", "MODELS", "PIPELINES", "WEIGHTS_DIR", "IdealDenoiser",
    "Pipeline", "SampleMetrics", "TinyUNet", "ToyData", "TrainConfig", "TrainResult", "brightness", "evaluate",
    "export_weights", "frechet_distance8", "image_grid", "label_by_brightness", "load_model", "load_models",
    "make_shapes", "reference_data", "sample", "sample_metrics", "schedule", "train", "train_models",
    "wasserstein1",
]
