"""The toy's shape classifier and the metrics it gives: class accuracy, IS and toy-FID."""
import hashlib
import json
import math

import pytest
import torch

from zsnr_core.toy.classifier import ClassifierConfig, accuracy, held_out_data, load_classifier, train_classifier
from zsnr_core.toy.data import make_shapes
from zsnr_core.toy.metrics import class_accuracy, frechet_distance, inception_score, sample_metrics
from zsnr_core.toy.zoo import (
    CLASSIFIER_FILE,
    WEIGHTS_DIR,
    fid_floor,
    reference_data,
    reference_features,
    shipped_classifier,
)


def test_frechet_distance_of_a_set_with_itself_is_zero_and_a_shift_costs_its_square():
    g = torch.Generator().manual_seed(0)
    f = torch.randn(500, 16, generator=g, dtype=torch.float64) @ torch.randn(16, 16, generator=g, dtype=torch.float64)
    scale = float(torch.cov(f.T).trace())
    # float64 eigendecompositions: measured |FD(f, f)| / Tr(C) = 2e-15; 1e-9 leaves six orders of margin
    assert abs(frechet_distance(f, f)) < 1e-9 * scale
    shift = torch.randn(16, generator=g, dtype=torch.float64)
    # equal covariances: FD = ‖μ_a − μ_b‖² exactly in exact arithmetic
    assert frechet_distance(f, f + shift) == pytest.approx(float(shift.pow(2).sum()), abs=1e-9 * scale)


def test_inception_score_bounds_and_extremes():
    k = 4
    confident = torch.eye(k).repeat(25, 1)  # one-hot, classes balanced: IS = K
    assert inception_score(confident) == pytest.approx(k, rel=1e-12)
    same = torch.softmax(torch.tensor([[2.0, 0.5, 0.1, -1.0]]), 1).repeat(100, 1)  # every row alike: IS = 1
    assert inception_score(same) == pytest.approx(1.0, rel=1e-12)
    for seed in range(5):
        g = torch.Generator().manual_seed(seed)
        probs = torch.softmax(3 * torch.randn(200, k, generator=g), 1)
        assert 1.0 <= inception_score(probs) <= k


def test_class_accuracy_counts_the_asked_class():
    probs = torch.tensor([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]])
    assert class_accuracy(probs, torch.tensor([0, 1, 1, 1])) == 0.75


def test_sample_metrics_without_a_classifier_leave_the_learned_metrics_empty():
    data = make_shapes(16)
    m = sample_metrics(data.images, data.images)
    assert m.accuracy is None and m.inception is None and m.fid is None


def test_shipped_classifier_matches_its_manifest():
    manifest = json.loads((WEIGHTS_DIR / "manifest.json").read_text())
    entry = manifest["models"]["classifier"]
    assert entry["file"] == CLASSIFIER_FILE
    assert hashlib.sha256((WEIGHTS_DIR / entry["file"]).read_bytes()).hexdigest() == entry["sha256"]
    assert entry["command"].startswith("python -m zsnr_core train-classifier")
    _, config = load_classifier(WEIGHTS_DIR / entry["file"])
    assert json.loads(config.to_json()) == entry["config"]


def test_shipped_classifier_accuracy_on_held_out_data():
    """The issue's bar is 98 %; the manifest states the measured held-out accuracy (made on the training device),
    which this CPU must reproduce up to a few images whose logits are near a tie (2 in 4096 allowed)."""
    manifest = json.loads((WEIGHTS_DIR / "manifest.json").read_text())["models"]["classifier"]
    acc = accuracy(shipped_classifier(), held_out_data())
    assert acc >= 0.98
    assert abs(acc - manifest["held_out_accuracy"]) <= 2 / 4096 + 1e-4


def test_data_scores_are_the_ceiling_and_floor():
    """Fresh data images against the reference set: measured accuracy ≈ 1, IS ≈ 4, toy-FID ≈ its floor."""
    classifier = shipped_classifier()
    reference = reference_data()
    features = reference_features(classifier, reference)
    fresh = make_shapes(256, seed=1)
    m = sample_metrics(fresh.images, reference.images, fresh.labels, classifier, features)
    assert m.accuracy >= 0.98 and 3.8 <= m.inception <= 4.0  # measured on an H100: 1.000 and 4.00
    assert m.fid == pytest.approx(fid_floor(256, classifier, features=features), rel=1e-9)
    noise = torch.randn(256, 3, 32, 32, generator=torch.Generator().manual_seed(0)).clamp(-1, 1)
    assert sample_metrics(noise, reference.images, fresh.labels, classifier, features).fid > 10 * m.fid


def test_a_short_cpu_training_run_lowers_the_loss():
    """100 steps of batch 32 from scratch on the CPU. Measured ratio of the mean loss over the last 20 steps to that
    over the first 20: 0.970 for seed 0 (0.974 and 0.975 for seeds 1, 2); with lr = 1e-9 (nothing learnt) 1.000
    (and 1.002, 1.001 for seeds 0, 1 over 40 steps). The bound 0.985 lies between the two groups. (The shipped
    classifier's 4000 steps of 128 reach 0.9993 held-out accuracy; see the test above.)"""
    _, _, losses = train_classifier(ClassifierConfig(steps=100, batch_size=32), disable=True)
    assert len(losses) == 100 and all(math.isfinite(x) for x in losses)
    assert sum(losses[-20:]) < 0.985 * sum(losses[:20]), losses
