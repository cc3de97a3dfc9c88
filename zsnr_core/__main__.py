"""Command line: `python -m zsnr_core report` prints the terminal SNR of a schedule before and after Algorithm 1."""
from __future__ import annotations

import argparse
import sys

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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m zsnr_core", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    report = sub.add_parser("report", help="terminal SNR of a schedule before and after Algorithm 1")
    report.add_argument("--schedule", choices=(*SCHEDULES, "all"), default="scaled_linear",
                        help="noise schedule (default: scaled_linear, Stable Diffusion's)")
    report.add_argument("--timesteps", type=int, default=1000, help="number of training timesteps T (default: 1000)")
    report.set_defaults(run=_report)
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except ValueError as err:
        parser.error(str(err))


if __name__ == "__main__":
    sys.exit(main())
