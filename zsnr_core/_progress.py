"""Progress bars through tqdm when it is installed; the core depends on torch and numpy only."""
from __future__ import annotations


def progress(n: int, disable: bool | None = None):
    """range(n), shown as a tqdm bar unless disabled (None: shown on a terminal only, as in k-diffusion)."""
    if disable is True:
        return range(n)
    try:
        from tqdm.auto import trange
    except ImportError:
        return range(n)
    return trange(n, disable=disable)
