"""`python -m zsnr_core train` and `train-classifier`: the toy models and the shape classifier, from scratch."""
from __future__ import annotations

import json
from dataclasses import fields, replace

from . import checks
from .checks import number_in


def run_train(args) -> int:
    from ..toy.zoo import MODELS, train_models

    device = checks.device("--device", args.device)
    out = checks.output_dir("--out", args.out)
    names = list(MODELS) if args.model == "all" else [args.model]
    train_models(names, out, args.steps, device, eval_every=args.eval_every,
                 command="python -m zsnr_core " + " ".join(args.argv), overrides=overrides(args.set),
                 final_samples=args.final_samples)
    print(f"models and manifest.json in {out}")
    return 0


# What each TrainConfig field's annotation admits from JSON; "steps" has its own option (--steps).
_JSON_KINDS = {"int": (int,), "float": (int, float), "bool": (bool,), "float | None": (int, float, type(None)),
               "tuple[int, ...]": (list,)}


def overrides(pairs: list[str]) -> dict:
    """--set KEY=VALUE pairs as TrainConfig fields, VALUE read as JSON (2e-3, true, [32, 64], null), each checked for
    its type here and for its range by TrainConfig itself, before any training starts."""
    from ..toy.train import TrainConfig

    kinds = {f.name: f.type for f in fields(TrainConfig)
             if f.name not in ("name", "zero_snr", "prediction_type", "steps")}
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if key == "steps":
            raise ValueError(f"--set {pair}: the step count has its own option; use --steps {value or 'N'}")
        if not sep or key not in kinds:
            raise ValueError(f"--set takes KEY=VALUE with KEY one of {', '.join(sorted(kinds))}, got {pair!r}")
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError:
            raise ValueError(f"--set {key}: VALUE must be JSON (2e-3, true, [32, 64, 64], null), got {value!r}") from None
        allowed = _JSON_KINDS.get(kinds[key], (object,))
        if not isinstance(parsed, allowed) or (isinstance(parsed, bool) and bool not in allowed):
            raise ValueError(f"--set {key}: must be {kinds[key]} (as JSON: {_example(kinds[key])}), got {value}")
        out[key] = tuple(parsed) if kinds[key].startswith("tuple") else parsed
    try:  # the config's own checks, before any training starts
        replace(TrainConfig("check", True, "v_prediction"), **out)
    except (TypeError, ValueError) as err:
        raise ValueError(f"--set: {err}") from None
    return out


def _example(kind: str) -> str:
    return {"int": "64", "float": "2e-3", "bool": "true or false", "float | None": "5 or null",
            "tuple[int, ...]": "[32, 64, 64]"}.get(kind, kind)


def run_train_classifier(args) -> int:
    from ..toy.classifier import ClassifierConfig
    from ..toy.zoo import train_classifier_model

    device = checks.device("--device", args.device)
    out = checks.output_dir("--out", args.out)
    config = ClassifierConfig() if args.steps is None else replace(ClassifierConfig(), steps=args.steps)
    train_classifier_model(out, config, device, command="python -m zsnr_core " + " ".join(args.argv))
    print(f"classifier and manifest.json in {out}")
    return 0


def register(sub):
    train = sub.add_parser("train", help="train the toy models from scratch (resumes from OUT/checkpoints)")
    train.add_argument("--model", choices=("all", "flawed", "fixed", "offset", "offset_ft", "offset_ft_control", "fixed_ft"),
                       default="all", help="which model (all: flawed and fixed, from scratch); offset: flawed's recipe "
                       "with offset noise, from scratch (section 5.4); offset_ft and offset_ft_control fine-tune the "
                       "flawed model with and without offset noise; fixed_ft fine-tunes the fixed model with weight at t = T "
                       "(section 5.2)")
    train.add_argument("--out", default="zsnr_models", help="output folder (zsnr_models); "
                       "zsnr_core/toy/weights rebuilds the shipped ones")
    train.add_argument("--steps", type=number_in(int, 1, 10_000_000), default=None,
                       help="training steps (default: the shipped models' count)")
    train.add_argument("--eval-every", type=number_in(int, 0, 10_000_000), default=250,
                       help="log sample metrics every N steps, 0 never (250)")
    train.add_argument("--device", default="auto", help="auto (cuda when there is one), cpu, cuda or cuda:N")
    train.add_argument("--final-samples", type=number_in(int, 4, 100_000), default=256,
                       help="samples of the final metrics written to the manifest (256)")
    train.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                       help="change one field of the shared recipe for every model (JSON value), e.g. --set lr=1e-3")
    train.set_defaults(run=run_train, parser=train)

    classify = sub.add_parser("train-classifier", help="train the shape classifier (class accuracy, IS, toy-FID)")
    classify.add_argument("--out", default="zsnr_models", help="output folder (zsnr_models); "
                          "zsnr_core/toy/weights rebuilds the shipped one")
    classify.add_argument("--steps", type=number_in(int, 1, 10_000_000), default=None,
                          help="training steps (default: the shipped classifier's count)")
    classify.add_argument("--device", default="auto", help="auto (cuda when there is one), cpu, cuda or cuda:N")
    classify.set_defaults(run=run_train_classifier, parser=classify)
    return train
