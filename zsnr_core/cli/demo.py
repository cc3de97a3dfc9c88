"""`python -m zsnr_core demo`: the flawed and the fixed pipelines on the shipped toy models, a table and a figure."""
from __future__ import annotations

import sys
import time
from pathlib import Path

from . import checks
from .checks import number_in

TRAIN_DIR = "zsnr_models"


def run(args) -> int:
    # every option is checked before anything is trained or sampled
    from ..toy.demo import data_scores, demo_rows, format_table, save_figure
    from ..toy.zoo import (
        CLASSIFIER_FILE,
        MODELS,
        WEIGHTS_DIR,
        load_models,
        reference_data,
        reference_features,
        shipped_classifier,
        train_models,
    )

    device = checks.device("--device", args.device)
    checks.needs(args, "--train", args.train, {"--train-dir": args.train_dir != TRAIN_DIR,
                                                "--train-steps": args.train_steps is not None})
    checks.excludes(args, "--no-figure", args.no_figure, {"--out": args.out is not None})
    if args.train and args.weights is not None:
        raise ValueError(f"--weights {args.weights} and --train exclude each other: --train samples the models it "
                         "trains into --train-dir; drop one of them")
    if args.train:
        weights = checks.output_dir("--train-dir", args.train_dir)
    else:
        weights = checks.weights_dir("--weights", WEIGHTS_DIR if args.weights is None else args.weights, MODELS)
    figure = None
    if not args.no_figure:
        figure = checks.figure_path("--out", args.out or checks.DEFAULT_FIGURE_NAME, explicit=args.out is not None)
        if figure is None:
            print("figure skipped: matplotlib is not installed (pip install matplotlib, or --no-figure to silence "
                  "this)", file=sys.stderr)
    command = "python -m zsnr_core " + " ".join(args.argv)
    if args.train:
        train_models(list(MODELS), weights, args.train_steps, device, command=command)
    models = load_models(weights, device, verify=not args.no_verify)
    data = reference_data()
    t0 = time.perf_counter()
    # the classifier beside the models if there is one (a retrained set), else the shipped one
    classifier = shipped_classifier(weights if (Path(weights) / CLASSIFIER_FILE).exists() else WEIGHTS_DIR, device,
                                    verify=not args.no_verify)
    features = reference_features(classifier, data)
    try:
        rows = demo_rows(models, data, args.num_samples, args.steps, args.guidance, args.phi, args.seed, device,
                         classifier, features, ideal=not args.no_ideal,
                         log=lambda text: print(text, file=sys.stderr))
    except FloatingPointError as err:
        raise ValueError(f"{err}; the models in {weights} produced it: check them (drop --no-verify to compare "
                         "them with their manifest) or rebuild them with "
                         f"`python -m zsnr_core train --out {weights}`") from None
    print(f"\n{args.num_samples} samples per pipeline, {args.steps} DDIM steps, guidance w = {args.guidance:g}, "
          f"seed {args.seed}, models from {weights}\n")
    scores = data_scores(args.num_samples, classifier, features)
    print(format_table(rows, data, args.num_samples, scores=scores))
    if figure is not None:
        print(f"\nfigure: {save_figure(rows, data, figure, data_fid=scores[2])}")
    print(f"sampling took {time.perf_counter() - t0:.1f} s on {device}", file=sys.stderr)
    return 0


def register(sub):
    p = sub.add_parser("demo", help="flawed vs fixed pipelines on the shipped toy models: table and figure")
    p.add_argument("--num-samples", type=number_in(int, 4, 100_000), default=64, help="samples per pipeline (64)")
    p.add_argument("--steps", type=number_in(int, 1, 999, "the SD baseline's leading spacing with steps_offset 1 "
                                             "would call t = 1000, one past the last trained timestep"),
                   default=25, help="DDIM steps, 1 to 999 (25)")
    p.add_argument("--guidance", type=number_in(float, 0.0, 100.0, "1 is no guidance"), default=3.0,
                   help="classifier-free guidance scale w for both pipelines (3)")
    p.add_argument("--phi", type=number_in(float, 0.0, 1.0, "0 is plain CFG, the paper uses 0.7"), default=0.7,
                   help="guidance rescale φ of the fixed pipeline (0.7, the paper's)")
    p.add_argument("--seed", type=number_in(int, 0, 2**62), default=0, help="seed of the initial noise (0)")
    p.add_argument("--out", default=None, help="the figure's file (.png, .pdf, .svg or .jpg; an existing folder gets "
                   "zsnr_demo.png inside it); default zsnr_demo.png")
    p.add_argument("--no-figure", action="store_true", help="print the table only")
    p.add_argument("--no-ideal", action="store_true", help="skip the rows of the exact (ideal) denoiser")
    p.add_argument("--weights", default=None, help="folder of flawed/fixed .safetensors (default: the shipped ones)")
    p.add_argument("--no-verify", action="store_true",
                   help="load --weights without checking them against their folder's manifest.json (sha256)")
    p.add_argument("--train", action="store_true", help="train both models from scratch first (minutes on a GPU, "
                   "hours on a CPU); an interrupted run in --train-dir resumes")
    p.add_argument("--train-dir", default=TRAIN_DIR, help=f"where --train writes its models ({TRAIN_DIR})")
    p.add_argument("--train-steps", type=number_in(int, 1, 10_000_000), default=None,
                   help="training steps per model with --train (default: the shipped models' count)")
    p.add_argument("--device", default="auto", help="auto (cuda when there is one), cpu, cuda or cuda:N")
    p.set_defaults(run=run, parser=p)
    return p
