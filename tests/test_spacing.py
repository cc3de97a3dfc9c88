"""Table 2 of the paper and diffusers' DDIMScheduler.set_timesteps over many (T, S) pairs."""
import itertools

import pytest
import torch

import zsnr_core as z

# Table 2 of arXiv 2305.08891, 0-indexed as diffusers' DDIM gives them.
TABLE_2 = {
    ("leading", 10, 1): [901, 801, 701, 601, 501, 401, 301, 201, 101, 1],
    ("linspace", 10, 0): [999, 888, 777, 666, 555, 444, 333, 222, 111, 0],
    ("trailing", 10, 0): [999, 899, 799, 699, 599, 499, 399, 299, 199, 99],
}


@pytest.mark.parametrize("key", sorted(TABLE_2))
def test_table_2_of_the_paper(key):
    spacing, steps, offset = key
    ts = z.timesteps(steps, spacing, 1000, steps_offset=offset)
    assert ts.dtype == torch.int64 and ts.tolist() == TABLE_2[key]


@pytest.mark.parametrize("steps, last", [(25, 39), (50, 19)])
def test_trailing_25_and_50_steps(steps, last):
    ts = z.timesteps(steps).tolist()
    assert len(ts) == steps and ts[0] == 999 and ts[-1] == last
    assert all(a - b == 1000 // steps for a, b in itertools.pairwise(ts))


def test_paper_1_indexed_formulas():
    """Table 2's own 1-indexed formulas, shifted by one, give the same lists."""
    T, S = 1000, 10
    assert (z.timesteps(S, "leading", T, 1) - 1 + 1).tolist() == list(range(1, T + 1, T // S))[::-1]
    assert (z.timesteps(S, "trailing", T) + 1).tolist() == list(range(T, 0, -T // S))


def _diffusers(T):
    from diffusers import DDIMScheduler

    return {sp: DDIMScheduler(num_train_timesteps=T, timestep_spacing=sp) for sp in z.SPACINGS}


PAIRS_T = [1, 2, 3, 7, 17, 64, 100, 250, 999, 1000]


@pytest.mark.parametrize("T", PAIRS_T)
def test_every_spacing_matches_diffusers_for_every_step_count(T):
    """All S in 1..T for each T: divisible and non-divisible pairs alike."""
    schedulers = _diffusers(T)
    overshoots = []
    for S in range(1, T + 1):
        for spacing, sched in schedulers.items():
            sched.set_timesteps(S)
            ref = sched.timesteps.tolist()
            ours = z.timesteps(S, spacing, T).tolist()
            if spacing == "trailing" and len(ref) == S + 1:
                # diffusers' bug: np.arange overshoots and appends t = -1; the first S entries are the schedule
                assert ref[-1] == -1 and ours == ref[:S], (T, S)
                overshoots.append(S)
            else:
                assert ours == ref, (spacing, T, S)
    if T == 1000:
        assert 61 in overshoots  # the example named in spacing.py's docstring


@pytest.mark.parametrize("T", [17, 1000])
def test_leading_with_offset_matches_diffusers(T):
    from diffusers import DDIMScheduler

    sched = DDIMScheduler(num_train_timesteps=T, timestep_spacing="leading", steps_offset=1)
    for S in range(1, T + 1):
        sched.set_timesteps(S)
        ref = sched.timesteps.tolist()
        if max(ref) <= T - 1:
            assert z.timesteps(S, "leading", T, steps_offset=1).tolist() == ref
        else:  # diffusers hands out t = T, one past the last trained timestep; we refuse
            with pytest.raises(ValueError, match="steps_offset must be in"):
                z.timesteps(S, "leading", T, steps_offset=1)


@pytest.mark.parametrize("spacing", z.SPACINGS)
@pytest.mark.parametrize("T", [10, 1000])
def test_exactly_s_distinct_descending_steps_in_range(spacing, T):
    for S in range(1, T + 1):
        ts = z.timesteps(S, spacing, T).tolist()
        assert len(ts) == S and len(set(ts)) == S
        assert ts == sorted(ts, reverse=True) and 0 <= ts[-1] and ts[0] <= T - 1
        if spacing == "trailing" or (spacing == "linspace" and S > 1):
            assert ts[0] == T - 1  # starts at the last timestep: the paper's fix
        elif spacing == "linspace":
            assert ts == [0]  # linspace(0, T-1, 1), as diffusers: one linspace step is taken at t = 0
        else:
            assert ts[0] == (S - 1) * (T // S)  # the flaw the paper names: below T - 1 unless T//S divides evenly


@pytest.mark.parametrize("args, error, match", [
    ((10, "trail"), ValueError, r"spacing must be one of 'leading', 'linspace', 'trailing', got 'trail'"),
    ((0,), ValueError, r"steps must be in \[1, 1000\], got 0"),
    ((1001,), ValueError, r"steps must be in \[1, 1000\], got 1001; a model trained with 1000"),
    ((10.0,), TypeError, r"steps must be an integer, got 10.0"),
    ((10, "trailing", 1000, 1), ValueError, r"steps_offset applies to spacing='leading' only"),
    ((10, "leading", 1000, -1), ValueError, r"steps_offset must be in \[0, 99\], got -1"),
])
def test_bad_arguments(args, error, match):
    with pytest.raises(error, match=match):
        z.timesteps(*args)


def test_the_step_count_keyword_of_0_1_still_works():
    assert torch.equal(z.timesteps(num_inference_steps=10), z.timesteps(10))
    with pytest.raises(TypeError, match="takes the step count once"):
        z.timesteps(10, num_inference_steps=10)
