"""Command line of zsnr_core.

    python -m zsnr_core demo      the flawed and the fixed pipelines on the shipped toy models: a table and a figure
    python -m zsnr_core train     (re)train the toy models from scratch into a folder, with a manifest
    python -m zsnr_core train-classifier   (re)train the shape classifier behind class accuracy, IS and toy-FID
    python -m zsnr_core report    the terminal SNR of a schedule before and after Algorithm 1
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from . import _cli_checks
from .report import format_reports, terminal_snr_report
from .schedules import SCHEDULES, make_betas, rescale_zero_terminal_snr


def _report(args: argparse.Namespace) -> int:
    names = SCHEDULES if args.schedule == "all" else (args.schedule,)
    reports = []
    for name in names:
        betas = make_betas(name, args.timesteps)
        reports.append(terminal_snr_report(betas, name))
        reports.append(terminal_snr_report(rescale_zero_terminal_snr(betas), f"{name} + Algorithm 1"))
    print(f"Terminal SNR before and after Algorithm 1 of Lin et al. (2024), T = {args.timesteps}\n")
    print(format_reports(reports))
    return 0


def _train(args: argparse.Namespace) -> int:
    from .toy.zoo import MODELS, train_models

    device = _cli_checks.device("--device", args.device)
    out = _cli_checks.output_dir("--out", args.out)
    names = list(MODELS) if args.model == "all" else [args.model]
    train_models(names, out, args.steps, device, eval_every=args.eval_every,
                 command="python -m zsnr_core " + " ".join(args.argv), overrides=_overrides(args.set),
                 final_samples=args.final_samples)
    print(f"models and manifest.json in {out}")
    return 0


def _overrides(pairs: list[str]) -> dict:
    """--set KEY=VALUE pairs as TrainConfig fields, VALUE read as JSON (2e-3, true, [32, 64], null)."""
    import json
    from dataclasses import fields, replace

    from .toy.train import TrainConfig

    known = sorted(f.name for f in fields(TrainConfig) if f.name not in ("name", "zero_snr", "prediction_type"))
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or key not in known:
            raise ValueError(f"--set takes KEY=VALUE with KEY one of {', '.join(known)}, got {pair!r}")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            raise ValueError(f"--set {key}: VALUE must be JSON (2e-3, true, [32, 64, 64], null), got {value!r}") from None
        if key == "widths" and isinstance(out[key], list):
            out[key] = tuple(out[key])
    try:  # the config's own checks, before any training starts
        replace(TrainConfig("check", True, "v_prediction"), **out)
    except TypeError as err:
        raise ValueError(f"--set: {err}") from None
    return out


def _train_classifier(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from .toy.classifier import ClassifierConfig
    from .toy.zoo import train_classifier_model

    device = _cli_checks.device("--device", args.device)
    out = _cli_checks.output_dir("--out", args.out)
    config = ClassifierConfig() if args.steps is None else replace(ClassifierConfig(), steps=args.steps)
    train_classifier_model(out, config, device,
                           command="python -m zsnr_core " + " ".join(args.argv))
    print(f"classifier and manifest.json in {out}")
    return 0


def _demo(args: argparse.Namespace) -> int:
    from .demo import data_scores, format_table, run_pipeline, save_figure
    from .toy.pipelines import FIXED, FLAWED
    from .toy.zoo import (
        CLASSIFIER_FILE,
        MODELS,
        WEIGHTS_DIR,
        load_models,
        reference_data,
        reference_features,
        shipped_classifier,
        train_models,
    )

    # every option is checked before anything is trained or sampled
    device = _cli_checks.device("--device", args.device)
    if args.train and args.weights is not None:
        raise ValueError(f"--weights {args.weights} and --train exclude each other: --train samples the models it "
                         "trains into --train-dir; drop one of them")
    if args.train:
        weights = _cli_checks.output_dir("--train-dir", args.train_dir)
    else:
        weights = _cli_checks.weights_dir("--weights", WEIGHTS_DIR if args.weights is None else args.weights, MODELS)
    figure = None
    if not args.no_figure:
        figure = _cli_checks.figure_path("--out", args.out or _cli_checks.DEFAULT_FIGURE_NAME,
                                         explicit=args.out is not None)
        if figure is None:
            print("figure skipped: matplotlib is not installed (pip install matplotlib, or --no-figure to silence "
                  "this)", file=sys.stderr)
    if args.train:
        train_models(list(MODELS), weights, args.train_steps, device,
                     command="python -m zsnr_core " + " ".join(args.argv))
    models = load_models(weights, device, verify=not args.no_verify)
    data = reference_data()
    t0 = time.perf_counter()
    # the classifier beside the models if there is one (a retrained set), else the shipped one
    classifier = shipped_classifier(weights if (Path(weights) / CLASSIFIER_FILE).exists() else WEIGHTS_DIR, device,
                                    verify=not args.no_verify)
    features = reference_features(classifier, data)
    rows = []
    try:
        for denoiser in ("trained",) + (() if args.no_ideal else ("ideal",)):
            for key in (FLAWED, FIXED):
                rows.append(run_pipeline(key, denoiser, models["fixed" if key == FIXED else "flawed"], data,
                                         args.num_samples, args.steps, args.guidance,
                                         args.phi if key == FIXED else None, args.seed, device,
                                         classifier=classifier, features=features))
                print(f"  sampled {rows[-1].pipeline.label} ({denoiser} denoiser) in {rows[-1].seconds:.1f} s",
                      file=sys.stderr)
    except FloatingPointError as err:
        raise ValueError(f"{err}; the models in {weights} produced it: check them (drop --no-verify to compare "
                         "them with their manifest) or rebuild them with "
                         f"`python -m zsnr_core train --out {weights}`") from None
    if not args.no_ideal:
        rows.append(run_pipeline("zsnr_eps", "ideal", None, data, args.num_samples, args.steps, args.guidance, None,
                                 args.seed, device))
    print(f"\n{args.num_samples} samples per pipeline, {args.steps} DDIM steps, guidance w = {args.guidance:g}, "
          f"seed {args.seed}, models from {weights}\n")
    scores = data_scores(args.num_samples, classifier, features)
    print(format_table(rows, data, args.num_samples, scores=scores))
    if figure is not None:
        print(f"\nfigure: {save_figure(rows, data, figure, data_fid=scores[2])}")
    print(f"sampling took {time.perf_counter() - t0:.1f} s on {device}", file=sys.stderr)
    return 0


def _number_in(kind, low, high, fix: str = ""):
    """An argparse type: `kind` (int or float) in [low, high], with an error that names the range and the fix."""
    noun = "an integer" if kind is int else "a number"

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {noun} in [{low}, {high}], got {text!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be in [{low}, {high}], got {value}" + (f"; {fix}" if fix else ""))
        return value
    return parse


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = argparse.ArgumentParser(prog="python -m zsnr_core", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="flawed vs fixed pipelines on the shipped toy models: table and figure")
    demo.add_argument("--num-samples", type=_number_in(int, 4, 100_000), default=64, help="samples per pipeline (64)")
    demo.add_argument("--steps", type=_number_in(int, 1, 999, "the SD baseline's leading spacing with steps_offset 1 "
                                                   "would call t = 1000, one past the last trained timestep"),
                      default=25, help="DDIM steps, 1 to 999 (25)")
    demo.add_argument("--guidance", type=_number_in(float, 0.0, 100.0, "1 is no guidance"), default=3.0,
                      help="classifier-free guidance scale w for both pipelines (3)")
    demo.add_argument("--phi", type=_number_in(float, 0.0, 1.0, "0 is plain CFG, the paper uses 0.7"), default=0.7,
                      help="guidance rescale φ of the fixed pipeline (0.7, the paper's)")
    demo.add_argument("--seed", type=_number_in(int, 0, 2**62), default=0, help="seed of the initial noise (0)")
    demo.add_argument("--out", default=None, help="the figure's file (.png, .pdf, .svg or .jpg; an existing folder gets "
                      "zsnr_demo.png inside it); default zsnr_demo.png")
    demo.add_argument("--no-figure", action="store_true", help="print the table only")
    demo.add_argument("--no-ideal", action="store_true", help="skip the rows of the exact (ideal) denoiser")
    demo.add_argument("--weights", default=None, help="folder of flawed/fixed .safetensors (default: the shipped ones)")
    demo.add_argument("--no-verify", action="store_true",
                      help="load --weights without checking them against their folder's manifest.json (sha256)")
    demo.add_argument("--train", action="store_true", help="train both models from scratch first (minutes on a GPU, hours on a CPU); "
                      "an interrupted run in --train-dir resumes")
    demo.add_argument("--train-dir", default="zsnr_models", help="where --train writes its models (zsnr_models)")
    demo.add_argument("--train-steps", type=_number_in(int, 1, 10_000_000), default=None,
                      help="training steps per model with --train (default: the shipped models' count)")
    demo.add_argument("--device", default="auto", help="auto (cuda when there is one), cpu, cuda or cuda:N")
    demo.set_defaults(run=_demo)

    train = sub.add_parser("train", help="train the toy models from scratch (resumes from OUT/checkpoints)")
    train.add_argument("--model", choices=("all", "flawed", "fixed"), default="all", help="which model (all)")
    train.add_argument("--out", default="zsnr_models", help="output folder (zsnr_models); "
                       "zsnr_core/toy/weights rebuilds the shipped ones")
    train.add_argument("--steps", type=_number_in(int, 1, 10_000_000), default=None,
                       help="training steps (default: the shipped models' count)")
    train.add_argument("--eval-every", type=_number_in(int, 0, 10_000_000), default=250,
                       help="log sample metrics every N steps, 0 never (250)")
    train.add_argument("--device", default="auto", help="auto (cuda when there is one), cpu, cuda or cuda:N")
    train.add_argument("--final-samples", type=_number_in(int, 4, 100_000), default=256,
                       help="samples of the final metrics written to the manifest (256)")
    train.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                       help="change one field of the shared recipe for every model (JSON value), e.g. --set lr=1e-3")
    train.set_defaults(run=_train)

    classify = sub.add_parser("train-classifier", help="train the shape classifier (class accuracy, IS, toy-FID)")
    classify.add_argument("--out", default="zsnr_models", help="output folder (zsnr_models); "
                          "zsnr_core/toy/weights rebuilds the shipped one")
    classify.add_argument("--steps", type=_number_in(int, 1, 10_000_000), default=None,
                          help="training steps (default: the shipped classifier's count)")
    classify.add_argument("--device", default="auto", help="auto (cuda when there is one), cpu, cuda or cuda:N")
    classify.set_defaults(run=_train_classifier)

    report = sub.add_parser("report", help="terminal SNR of a schedule before and after Algorithm 1")
    report.add_argument("--schedule", choices=(*SCHEDULES, "all"), default="scaled_linear",
                        help="noise schedule (default: scaled_linear, Stable Diffusion's)")
    report.add_argument("--timesteps", type=_number_in(int, 2, 1_000_000, "a schedule needs at least 2 timesteps"),
                        default=1000, help="number of training timesteps T, at least 2 (default: 1000)")
    report.set_defaults(run=_report)

    for name, sub_parser in (("demo", demo), ("train", train), ("train-classifier", classify), ("report", report)):
        sub_parser.set_defaults(parser=sub_parser, name=name)
    args = parser.parse_args(argv)
    args.argv = argv
    try:
        return args.run(args)
    except (ValueError, OSError) as err:  # bad input, a refused file: one message and exit code 2, no traceback
        args.parser.error(str(err))
    except KeyboardInterrupt:
        print(f"\npython -m zsnr_core {args.name}: interrupted"
              + (" (training resumes from its checkpoints when run again)" if args.name == "train" else ""),
              file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
