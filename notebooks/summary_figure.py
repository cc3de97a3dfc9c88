"""The series on one page: each fix of Lin et al. (2024) as the one curve its notebook builds on (closed forms only).

    python notebooks/summary_figure.py            # writes notebooks/summary.png (a few seconds on a CPU)

Panels: (1, 2) √ᾱ of Stable Diffusion's schedule before and after Algorithm 1; (3) the gain with which an error of
the model's output reaches x̂_0, for ε- and v-prediction on the zero-SNR schedule; (4) the first timestep of leading
and trailing spacing for 1-50 steps; (5) std(x_final)/std(x_pos) of Algorithm 2 against the guided std, per φ.
"""
from __future__ import annotations

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

import zsnr_core as zc

OUT = Path(__file__).with_name("summary.png")


def main(out: Path = OUT) -> Path:
    ac_sd = zc.alphas_cumprod(zc.make_betas("scaled_linear"))
    ac_z = zc.rescale_alphas_cumprod_zero_terminal_snr(ac_sd)
    t = np.arange(len(ac_sd))
    fig, axes = plt.subplots(1, 4, figsize=(17, 3.6))

    ax = axes[0]
    ax.plot(t, ac_sd.sqrt(), label="SD's scaled_linear: √ᾱ_T = 0.068")
    ax.plot(t, ac_z.sqrt(), label="after Algorithm 1: √ᾱ_T = 0")
    ax.set(xlabel="timestep t", ylabel="√ᾱ_t (signal kept)", title="1–2. Zero terminal SNR (Table 1, Algorithm 1)")
    ax.legend(fontsize=8)

    ax = axes[1]
    with np.errstate(divide="ignore"):
        ax.semilogy(t[:-1], (1 / zc.snr(ac_z)[:-1]).sqrt(), label="ε-prediction: 1/√SNR (∞ at T)")
    ax.semilogy(t, (1 - ac_z).sqrt(), label="v-prediction: √(1−ᾱ) ≤ 1")
    ax.set(xlabel="timestep t (zero-SNR schedule)", ylabel="|δx̂₀| / |δ output|",
           title="3. v-prediction (eqs. 17–21)")
    ax.legend(fontsize=8)

    ax = axes[2]
    steps = np.arange(1, 51)
    for spacing, offset, style in (("leading", 1, "o"), ("trailing", 0, "s")):
        first = [zc.timesteps(int(s), spacing, 1000, offset)[0].item() for s in steps]
        ax.plot(steps, first, style, ms=3, label=spacing)
    ax.axhline(999, color="gray", ls=":", lw=1)
    ax.set(xlabel="sample steps S", ylabel="first timestep sampled", title="4. Start at t = T (Table 2)")
    ax.legend(fontsize=8)

    ax = axes[3]
    ratio = np.linspace(1, 8, 50)  # std(x_cfg) / std(x_pos)
    for phi in (0.0, 0.7, 1.0):
        ax.plot(ratio, phi + (1 - phi) * ratio, label=f"φ = {phi}")
    ax.set(xlabel="std(x_cfg) / std(x_pos)", ylabel="std(x_final) / std(x_pos)",
           title="5. Rescaled guidance (Algorithm 2)")
    ax.legend(fontsize=8)

    fig.suptitle("Lin et al., Common Diffusion Noise Schedules and Sample Steps are Flawed (arXiv 2305.08891): "
                 "the four fixes of notebooks 1–5, which notebook 6 combines", fontsize=10)
    plt.tight_layout()
    fig.savefig(out, dpi=80)
    plt.close(fig)
    return out


if __name__ == "__main__":
    print(f"wrote {main(Path(sys.argv[1]) if len(sys.argv) > 1 else OUT)}")
