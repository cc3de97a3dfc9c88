"""read_checkpoint_flags: what a safetensors checkpoint states about v-prediction and zero terminal SNR, read from
its header only. The files are written here by the `safetensors` package (a test extra) and by our toy writer."""
import struct

import pytest
import torch
from safetensors.torch import save_file

import zsnr_core as z
from zsnr_core.toy.safetensors_io import load_file
from zsnr_core.toy.safetensors_io import save_file as toy_save_file

WEIGHT = {"model.diffusion_model.out.2.weight": torch.ones(4, 4)}
MARKER = torch.tensor([])  # ComfyUI's marker tensors are empty


def checkpoint(tmp_path, metadata=None, markers=(), name="model.safetensors"):
    path = tmp_path / name
    save_file({**WEIGHT, **{m: MARKER for m in markers}}, str(path), metadata=metadata)
    return path


@pytest.mark.parametrize("word, kind", [("v", "v_prediction"), ("v_prediction", "v_prediction"),
                                        ("V-Prediction", "v_prediction"), ("epsilon", "epsilon"), ("eps", "epsilon")])
def test_modelspec_prediction_type(tmp_path, word, kind):
    flags = z.read_checkpoint_flags(checkpoint(tmp_path, {"modelspec.prediction_type": word}))
    assert flags.prediction_type == kind and flags.zero_terminal_snr is None
    assert flags.prediction_type_source == f"metadata modelspec.prediction_type = {word!r}"
    assert flags.zero_terminal_snr_source == "not stated in the file" and flags.conflicts == ()


@pytest.mark.parametrize("v, zsnr, kind", [("True", "True", "v_prediction"), ("False", "False", "epsilon")])
def test_kohya_keys(tmp_path, v, zsnr, kind):
    flags = z.read_checkpoint_flags(checkpoint(tmp_path, {"ss_v_parameterization": v, "ss_zero_terminal_snr": zsnr}))
    assert (flags.prediction_type, flags.zero_terminal_snr) == (kind, zsnr == "True")
    assert flags.prediction_type_source == f"metadata ss_v_parameterization = {v!r}"
    assert flags.zero_terminal_snr_source == f"metadata ss_zero_terminal_snr = {zsnr!r}"


def test_marker_tensors(tmp_path):
    flags = z.read_checkpoint_flags(checkpoint(tmp_path, markers=("v_pred", "ztsnr")))
    assert (flags.prediction_type, flags.zero_terminal_snr) == ("v_prediction", True)
    assert flags.prediction_type_source == "marker tensor 'v_pred'"
    assert flags.zero_terminal_snr_source == "marker tensor 'ztsnr'"


def test_what_comfyuis_checkpoint_save_writes_for_a_v_model(tmp_path):
    flags = z.read_checkpoint_flags(checkpoint(tmp_path, {"modelspec.predict_key": "v"}, markers=("v_pred",)))
    assert flags.prediction_type == "v_prediction" and flags.conflicts == ()
    assert flags.prediction_type_source == "metadata modelspec.predict_key = 'v', marker tensor 'v_pred'"


def test_a_file_that_states_nothing(tmp_path):
    flags = z.read_checkpoint_flags(checkpoint(tmp_path, {"format": "pt"}))
    assert (flags.prediction_type, flags.zero_terminal_snr, flags.conflicts) == (None, None, ())
    assert "prediction type: not stated (not stated in the file)" in flags.summary()


def test_conflicts_are_reported_not_resolved(tmp_path):
    path = checkpoint(tmp_path, {"modelspec.prediction_type": "epsilon", "ss_zero_terminal_snr": "False"},
                      markers=("v_pred", "ztsnr"))
    flags = z.read_checkpoint_flags(path)
    assert flags.prediction_type is None and flags.zero_terminal_snr is None
    assert flags.conflicts == (
        "prediction type: metadata modelspec.prediction_type = 'epsilon', marker tensor 'v_pred'",
        "zero terminal SNR: metadata ss_zero_terminal_snr = 'False', marker tensor 'ztsnr'",
    )
    assert flags.summary().count("CONFLICT: ") == 2


def test_unknown_words_are_listed_not_guessed(tmp_path):
    flags = z.read_checkpoint_flags(checkpoint(tmp_path, {"modelspec.prediction_type": "flow", "ss_zero_terminal_snr":
                                                          "maybe"}))
    assert flags.prediction_type is None and flags.zero_terminal_snr is None
    assert flags.unrecognised == ("metadata modelspec.prediction_type = 'flow'",
                                  "metadata ss_zero_terminal_snr = 'maybe'")


def test_only_the_header_is_read(tmp_path):
    path = checkpoint(tmp_path, {"modelspec.prediction_type": "v"}, markers=("ztsnr",))
    (n,) = struct.unpack("<Q", path.read_bytes()[:8])
    with open(path, "r+b") as f:
        f.truncate(8 + n)  # every tensor's bytes gone: a reader that touched them would fail
    with pytest.raises(ValueError, match="truncated or damaged"):
        load_file(path)
    flags = z.read_checkpoint_flags(path)
    assert (flags.prediction_type, flags.zero_terminal_snr) == ("v_prediction", True)


def test_our_toy_writer_is_read_too(tmp_path):
    path = tmp_path / "toy.safetensors"
    toy_save_file({"v_pred": MARKER, "w": torch.zeros(2)}, path, metadata={"ss_zero_terminal_snr": "True"})
    flags = z.read_checkpoint_flags(path)
    assert (flags.prediction_type, flags.zero_terminal_snr) == ("v_prediction", True)


@pytest.mark.parametrize("blob, match", [
    (b"abc", "3 bytes long, too short for a safetensors header"),
    (struct.pack("<Q", 10**12) + b"{}", "header length 1000000000000 exceeds the file size 10"),
    (struct.pack("<Q", 4) + b"{no}", "the header is not valid JSON"),
    (struct.pack("<Q", 2) + b"[]", "the header is JSON list, not an object"),
    (b"PK\x03\x04" + bytes(60), "exceeds the file size 64"),  # a .ckpt (zip) file
])
def test_a_file_that_is_not_safetensors_is_refused_naming_the_path(tmp_path, blob, match):
    path = tmp_path / "bad.safetensors"
    path.write_bytes(blob)
    with pytest.raises(ValueError, match=match) as err:
        z.read_checkpoint_flags(path)
    assert str(path) in str(err.value)


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(ValueError, match=f"{tmp_path / 'nope.safetensors'} does not exist"):
        z.read_checkpoint_flags(tmp_path / "nope.safetensors")
