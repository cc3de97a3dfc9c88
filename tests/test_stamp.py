"""write_checkpoint_flags: the header rewritten, every tensor's bytes unchanged, an atomic rename, and refusals that
name the file. Files are written and read back with the `safetensors` package (a test extra)."""
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from safetensors import safe_open
from safetensors.torch import load_file, save_file

import zsnr_core as z

ROOT = Path(__file__).resolve().parents[1]


def tensors(seed=0):
    g = torch.Generator().manual_seed(seed)
    return {"model.diffusion_model.a": torch.randn(31, 7, generator=g), "b": torch.arange(13, dtype=torch.int16),
            "c": torch.randn(5, generator=g).to(torch.bfloat16), "empty": torch.zeros(0)}


def checkpoint(path, metadata=None, extra=None):
    save_file({**tensors(), **(extra or {})}, str(path), metadata=metadata)
    return path


def metadata_of(path):
    with safe_open(str(path), "pt") as f:
        return f.metadata() or {}


def same_tensors(a, b):
    ta, tb = load_file(str(a)), load_file(str(b))
    return set(ta) - {"v_pred", "ztsnr"} == set(tb) - {"v_pred", "ztsnr"} and all(
        torch.equal(ta[k], tb[k]) for k in ta if k in tb)


def test_a_stamp_writes_the_keys_readers_use_and_keeps_the_rest(tmp_path):
    src = checkpoint(tmp_path / "a.safetensors", {"ss_v_parameterization": "False", "modelspec.title": "mine"})
    out = tmp_path / "b.safetensors"
    result = z.write_checkpoint_flags(src, "v_prediction", True, markers=True, out=out)
    assert result.written and result.tensors_checked == 4 and result.markers_added == ("v_pred", "ztsnr")
    assert metadata_of(out) == {"modelspec.title": "mine", "modelspec.prediction_type": "v",
                                "ss_v_parameterization": "True", "ss_zero_terminal_snr": "True"}
    flags = z.read_checkpoint_flags(out)
    assert (flags.prediction_type, flags.zero_terminal_snr, flags.conflicts) == ("v_prediction", True, ())
    assert same_tensors(src, out) and load_file(str(out))["v_pred"].numel() == 0
    assert metadata_of(src) == {"ss_v_parameterization": "False", "modelspec.title": "mine"}  # source untouched


def test_the_data_region_is_copied_byte_for_byte(tmp_path):
    src = checkpoint(tmp_path / "a.safetensors")
    out = tmp_path / "b.safetensors"
    z.write_checkpoint_flags(src, "epsilon", False, out=out)
    a, b = src.read_bytes(), out.read_bytes()
    start = lambda blob: 8 + int.from_bytes(blob[:8], "little")
    assert a[start(a):] == b[start(b):] and start(b) % 8 == 0


def test_markers_that_contradict_the_stamp_are_removed(tmp_path):
    src = checkpoint(tmp_path / "a.safetensors", {"modelspec.predict_key": "v"},
                     extra={"v_pred": torch.tensor([]), "ztsnr": torch.tensor([])})
    out = tmp_path / "b.safetensors"
    result = z.write_checkpoint_flags(src, "epsilon", False, out=out)
    assert result.markers_removed == ("v_pred", "ztsnr")
    assert "v_pred" not in load_file(str(out)) and same_tensors(src, out)
    assert metadata_of(out)["modelspec.predict_key"] == "epsilon"
    assert z.read_checkpoint_flags(out).conflicts == ()


def test_a_dry_run_writes_nothing_and_says_what_would_change(tmp_path):
    src = checkpoint(tmp_path / "a.safetensors")
    before = src.read_bytes()
    result = z.write_checkpoint_flags(src, "v_prediction", None, in_place=True, dry_run=True)
    assert not result.written and src.read_bytes() == before and sorted(os.listdir(tmp_path)) == ["a.safetensors"]
    assert result.metadata_changes == (("modelspec.prediction_type", None, "v"),)
    assert "would write" in result.summary() and "nothing written" in result.summary()


def test_in_place_keeps_the_file_mode_and_leaves_no_temporary_file(tmp_path):
    src = checkpoint(tmp_path / "a.safetensors")
    os.chmod(src, 0o640)
    z.write_checkpoint_flags(src, "v_prediction", True, in_place=True)
    assert z.read_checkpoint_flags(src).zero_terminal_snr is True
    assert (src.stat().st_mode & 0o777) == 0o640 and sorted(os.listdir(tmp_path)) == ["a.safetensors"]


@pytest.mark.parametrize("kwargs, error, match", [
    ({"prediction_type": "epsilon", "zero_terminal_snr": True}, z.EpsilonAtZeroSNRError, "Refused to stamp"),
    ({"prediction_type": "v"}, ValueError, "prediction_type must be 'epsilon', 'v_prediction' or None"),
    ({}, ValueError, "nothing to stamp"),
    ({"prediction_type": "epsilon", "in_place": False, "out": None}, ValueError, "name where to write"),
])
def test_bad_choices_are_refused_before_anything_is_written(tmp_path, kwargs, error, match):
    src = checkpoint(tmp_path / "a.safetensors")
    kwargs = {"in_place": True, **kwargs}
    with pytest.raises(error, match=match):
        z.write_checkpoint_flags(src, **kwargs)
    assert sorted(os.listdir(tmp_path)) == ["a.safetensors"]


def test_refusals_name_the_file(tmp_path, monkeypatch):
    src = checkpoint(tmp_path / "a.safetensors")
    with pytest.raises(z.StampError, match=f"{tmp_path / 'a.safetensors'} already exists"):
        z.write_checkpoint_flags(src, "epsilon", out=src)
    os.chmod(src, 0o444)
    with pytest.raises(z.StampError, match=r"a.safetensors is read-only \(mode -r--r--r--\)"):
        z.write_checkpoint_flags(src, "epsilon", in_place=True)
    locked = tmp_path / "locked"
    locked.mkdir()
    os.chmod(locked, 0o555)
    with pytest.raises(z.StampError, match="the folder .*locked is read-only"):
        z.write_checkpoint_flags(src, "epsilon", out=locked / "b.safetensors")
    with pytest.raises(z.StampError, match="the folder .*nope does not exist"):
        z.write_checkpoint_flags(src, "epsilon", out=tmp_path / "nope" / "b.safetensors")
    size = z.write_checkpoint_flags(src, "epsilon", out=tmp_path / "b.safetensors", dry_run=True).size
    monkeypatch.setattr(shutil, "disk_usage", lambda p: shutil._ntuple_diskusage(10**9, 10**9 - 1000, 1000))
    with pytest.raises(z.StampError, match=rf"needs {size:,} bytes .* which has 1,000 bytes free"):
        z.write_checkpoint_flags(src, "epsilon", out=tmp_path / "b.safetensors")


def test_a_pickle_or_a_damaged_file_is_never_stamped(tmp_path):
    ckpt = tmp_path / "m.ckpt"
    ckpt.write_bytes(b"PK\x03\x04" + bytes(60))
    with pytest.raises(z.PickleCheckpointError):
        z.write_checkpoint_flags(ckpt, "epsilon", out=tmp_path / "m.safetensors")
    dup = tmp_path / "dup.safetensors"
    head = b'{"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}, "w": {"dtype": "F32", "shape": [1], ' \
           b'"data_offsets": [0, 4]}}'
    dup.write_bytes(len(head).to_bytes(8, "little") + head + bytes(4))
    with pytest.raises(z.StampError, match="names tensor 'w' more than once"):
        z.write_checkpoint_flags(dup, "epsilon", out=tmp_path / "x.safetensors")


def test_a_target_on_another_file_system_is_written_beside_itself(tmp_path):
    other = Path("/dev/shm")
    if not other.is_dir() or os.stat(other).st_dev == os.stat(tmp_path).st_dev:
        pytest.skip("no second file system (/dev/shm) here")
    src = checkpoint(tmp_path / "a.safetensors")
    out = other / f"zsnr-stamp-test-{os.getpid()}.safetensors"
    try:
        z.write_checkpoint_flags(src, "v_prediction", True, out=out)  # the temporary file is beside `out`
        assert same_tensors(src, out) and z.read_checkpoint_flags(out).prediction_type == "v_prediction"
    finally:
        out.unlink(missing_ok=True)
    assert not list(other.glob(f".zsnr-stamp-test-{os.getpid()}*"))


@pytest.mark.parametrize("name", ["model.diffusion_model.a", "b", "c"])
def test_a_corrupted_copy_is_caught_named_and_leaves_the_target_alone(tmp_path, monkeypatch, name):
    from zsnr_core import stamp

    src = checkpoint(tmp_path / "a.safetensors")
    before = src.read_bytes()
    n = int.from_bytes(before[:8], "little")  # the header, read by hand: where `name`'s bytes lie in the data
    lo, hi = json.loads(before[8:8 + n])[name]["data_offsets"]
    real = stamp._copy_data

    def copy_then_flip_a_byte(src_file, dst, src_start, dst_start, length):
        real(src_file, dst, src_start, dst_start, length)
        dst.seek(dst_start + (lo + hi) // 2)
        dst.write(bytes([before[src_start + (lo + hi) // 2] ^ 0x10]))
        dst.flush()

    monkeypatch.setattr(stamp, "_copy_data", copy_then_flip_a_byte)
    with pytest.raises(z.StampError, match=rf"tensor bytes \({lo}, {hi}\) differ after writing \(first at data offset "
                       rf"{(lo + hi) // 2}\).* nothing was replaced"):
        z.write_checkpoint_flags(src, "epsilon", in_place=True)
    assert src.read_bytes() == before and sorted(os.listdir(tmp_path)) == ["a.safetensors"]


def test_without_a_kernel_copy_the_stamp_copies_through_a_buffer(tmp_path, monkeypatch):
    import errno

    def no_kernel_copy(*args):
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    monkeypatch.setattr(os, "copy_file_range", no_kernel_copy)
    src = checkpoint(tmp_path / "a.safetensors", {"modelspec.title": "mine"})
    out = tmp_path / "b.safetensors"
    assert z.write_checkpoint_flags(src, "v_prediction", True, out=out).tensors_checked == 4
    assert same_tensors(src, out) and metadata_of(out)["modelspec.title"] == "mine"


KILL_SCRIPT = """
import sys, zsnr_core as z
z.write_checkpoint_flags(sys.argv[1], "v_prediction", True, markers=True, in_place=True)
"""


def test_kill_9_at_any_moment_leaves_the_original_or_the_finished_file(tmp_path):
    path = tmp_path / "big.safetensors"
    save_file({f"t{i}": torch.full((2**21,), float(i)) for i in range(12)}, str(path))  # 96 MiB
    original = hashlib.sha256(path.read_bytes()).hexdigest()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    outcomes = set()
    for delay in (None, 0.1):  # None: the moment the temporary file appears; then 0.1 s after it
        proc = subprocess.Popen([sys.executable, "-c", KILL_SCRIPT, str(path)], env=env)
        deadline = time.monotonic() + 120
        while proc.poll() is None and not list(tmp_path.glob(".big.safetensors.stamp-*")) and \
                time.monotonic() < deadline:
            time.sleep(0.001)
        if delay:
            time.sleep(delay)
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        if hashlib.sha256(path.read_bytes()).hexdigest() == original:
            outcomes.add("original")
        else:  # replaced: then completely, never a partial file under the target's name
            flags = z.read_checkpoint_flags(path)
            assert (flags.prediction_type, flags.zero_terminal_snr) == ("v_prediction", True)
            assert all(torch.equal(v, torch.full((2**21,), float(k[1:]))) for k, v in load_file(str(path)).items()
                       if k.startswith("t"))
            outcomes.add("stamped")
            break
        for stale in tmp_path.glob(".big.safetensors.stamp-*"):  # a killed run cannot clean up after itself
            stale.unlink()
    assert "original" in outcomes  # the first kill lands while the temporary file is being written


@settings(max_examples=25, deadline=None)
@given(meta=st.dictionaries(st.text(min_size=1, max_size=12), st.text(max_size=20), max_size=5),
       kind=st.sampled_from([None, "epsilon", "v_prediction"]), zsnr=st.sampled_from([None, False, True]),
       markers=st.booleans())
def test_any_stamp_reads_back_as_stamped_with_other_metadata_and_tensors_kept(tmp_path_factory, meta, kind, zsnr,
                                                                               markers):
    if kind is None and zsnr is None or kind == "epsilon" and zsnr:
        return  # refused, tested above
    folder = tmp_path_factory.mktemp("prop")
    src = checkpoint(folder / "a.safetensors", meta)
    out = folder / "b.safetensors"
    z.write_checkpoint_flags(src, kind, zsnr, markers=markers, out=out)
    flags = z.read_checkpoint_flags(out)
    assert flags.conflicts == ()
    assert flags.prediction_type == kind or kind is None
    assert flags.zero_terminal_snr == zsnr or zsnr is None
    ours = {"modelspec.prediction_type", "modelspec.predict_key", "ss_v_parameterization", "ss_zero_terminal_snr"}
    assert {k: v for k, v in metadata_of(out).items() if k not in ours} == {k: v for k, v in meta.items()
                                                                           if k not in ours}
    assert same_tensors(src, out)
