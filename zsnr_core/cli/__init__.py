"""Command line of zsnr_core: parse, call the library or the toy lab, print. Options are checked in checks.py,
before any work starts.

    python -m zsnr_core demo      the flawed and the fixed pipelines on the shipped toy models: a table and a figure
    python -m zsnr_core train     (re)train the toy models from scratch into a folder, with a manifest
    python -m zsnr_core train-classifier   (re)train the shape classifier behind class accuracy, IS and toy-FID
    python -m zsnr_core report    the terminal SNR of a schedule before and after Algorithm 1
    python -m zsnr_core flags     what checkpoints state about v-prediction / zero SNR; stamp them
"""
from __future__ import annotations

import argparse
import signal
import sys

from . import demo, flags, report, train

# Each command module has register(subparsers) -> its parser, with set_defaults(run=function(args) -> exit code).
COMMANDS = (demo, train, report, flags)


def main(argv: list[str] | None = None) -> int:
    signal.signal(signal.SIGINT, signal.default_int_handler)  # Ctrl-C is KeyboardInterrupt again (see zsnr_core)
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = argparse.ArgumentParser(prog="python -m zsnr_core", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    for command in COMMANDS:
        command.register(sub)
    args = parser.parse_args(argv)
    args.argv = argv
    try:
        return args.run(args)
    except (ValueError, OSError) as err:  # bad input, a refused file: one message and exit code 2, no traceback
        args.parser.error(str(err))
    except KeyboardInterrupt:
        print(f"\npython -m zsnr_core {args.command}: interrupted"
              + (" (training resumes from its checkpoints when run again)" if args.command == "train" else ""),
              file=sys.stderr)
        return 130
