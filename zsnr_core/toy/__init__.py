"""Toy-scale reproduction of Lin et al. (2024): synthetic data, the exact denoiser of a finite set, a tiny UNet,
its training loop, the paper's pipelines and the metrics that show the brightness collapse and its fix.

Layers (each imports only from those above it in this list, and from the core):
    data.py, safetensors_io.py      procedural shapes; the safetensors format with torch alone
    classifier.py                   the shape classifier behind class accuracy, IS and toy-FID
    metrics.py, unet.py             brightness, W1, over-exposure, FD₈, accuracy, IS, toy-FID; the TinyUNet
    ideal.py                        the Bayes-optimal denoiser E[x_0 | x_t] of a finite image set
    pipelines.py                    the ablation's pipelines and one sampling function (sample_ddim + rescale_cfg)
    experiments.py                  shape scores of a pipeline; brightness guidance and its over-exposure
    train.py, zoo.py                training with EMA and resumable checkpoints; the shipped models and manifest
"""
from .classifier import ShapeClassifier, load_classifier, train_classifier
from .data import BRIGHTNESS_CLASSES, CLASSES, ToyData, brightness_bucket, image_grid, label_by_brightness, make_shapes
from .experiments import brightness_guidance, shape_scores
from .ideal import IdealDenoiser, gaussian_denoiser, gaussian_model, gaussian_posterior_mean
from .metrics import (
                      SampleMetrics,
                      brightness,
                      class_accuracy,
                      frechet_distance,
                      frechet_distance8,
                      inception_score,
                      sample_metrics,
                      wasserstein1,
)
from .pipelines import FIXED, FLAWED, PIPELINES, Pipeline, sample, schedule, toy_alphas_cumprod
from .train import TrainConfig, TrainResult, export_weights, train
from .unet import TinyUNet
from .zoo import (
                      MODELS,
                      WEIGHTS_DIR,
                      evaluate,
                      fid_floor,
                      load_model,
                      load_models,
                      reference_data,
                      reference_features,
                      shipped_classifier,
                      train_models,
)

__all__ = [
    "BRIGHTNESS_CLASSES", "CLASSES", "FIXED", "FLAWED", "MODELS", "PIPELINES", "WEIGHTS_DIR", "IdealDenoiser",
    "Pipeline", "SampleMetrics", "ShapeClassifier", "TinyUNet", "ToyData", "TrainConfig", "TrainResult",
    "brightness", "brightness_bucket", "brightness_guidance", "class_accuracy", "evaluate", "export_weights",
    "fid_floor", "frechet_distance", "frechet_distance8", "gaussian_denoiser", "gaussian_model",
    "gaussian_posterior_mean", "image_grid", "inception_score", "label_by_brightness",
    "load_classifier", "load_model", "load_models", "make_shapes", "reference_data", "reference_features", "sample",
    "sample_metrics", "schedule", "shape_scores", "shipped_classifier", "toy_alphas_cumprod", "train",
    "train_classifier", "train_models",
    "wasserstein1",
]
