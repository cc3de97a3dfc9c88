"""`python -m zsnr_core report`: the terminal SNR of a schedule before and after Algorithm 1."""
from __future__ import annotations

from ..report import format_reports, terminal_snr_report
from ..schedules import SCHEDULES, alphas_cumprod, make_betas, rescale_alphas_cumprod_zero_terminal_snr
from .checks import number_in


def run(args) -> int:
    names = SCHEDULES if args.schedule == "all" else (args.schedule,)
    reports = []
    for name in names:
        ac = alphas_cumprod(make_betas(name, args.timesteps))
        reports.append(terminal_snr_report(ac, name))
        reports.append(terminal_snr_report(rescale_alphas_cumprod_zero_terminal_snr(ac), f"{name} + Algorithm 1"))
    print(f"Terminal SNR before and after Algorithm 1 of Lin et al. (2024), T = {args.timesteps}\n")
    print(format_reports(reports))
    return 0


def register(sub):
    p = sub.add_parser("report", help="terminal SNR of a schedule before and after Algorithm 1")
    p.add_argument("--schedule", choices=(*SCHEDULES, "all"), default="scaled_linear",
                   help="noise schedule (default: scaled_linear, Stable Diffusion's)")
    p.add_argument("--timesteps", type=number_in(int, 2, 1_000_000, "a schedule needs at least 2 timesteps"),
                   default=1000, help="number of training timesteps T, at least 2 (default: 1000)")
    p.set_defaults(run=run, parser=p)
    return p
