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
    assert [str(c) for c in flags.conflicts] == [
        "prediction type: metadata modelspec.prediction_type = 'epsilon', marker tensor 'v_pred'",
        "zero terminal SNR: metadata ss_zero_terminal_snr = 'False', marker tensor 'ztsnr'",
    ]
    clash = flags.conflict("prediction_type")  # data, for callers that must not read the text
    assert [(s.value, s.source) for s in clash.statements] == [
        ("epsilon", "metadata modelspec.prediction_type = 'epsilon'"), ("v_prediction", "marker tensor 'v_pred'")]
    assert flags.conflict("zero_terminal_snr").fact == "zero_terminal_snr"
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
    (struct.pack("<Q", 10**7) + b"{}", "header length 10000000 exceeds the file size 10"),
    (struct.pack("<Q", 10**12) + b"{}", "header length 1000000000000 exceeds the file size 10"),
    (struct.pack("<Q", 4) + b"{no}", "the header is not valid JSON"),
    (struct.pack("<Q", 2) + b"[]", "the header is JSON list, not an object"),
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


# --- bad input (issue 20): each a SafetensorsError naming the file, never a bare TypeError or a hang ------------

def raw_file(tmp_path, header: bytes, data: bytes = b"", name="raw.safetensors"):
    path = tmp_path / name
    path.write_bytes(struct.pack("<Q", len(header)) + header + data)
    return path


@pytest.mark.parametrize("header, match", [
    (b'{"__metadata__": ["v"]}', r"__metadata__ is JSON array \(\[\"v\"\]\); the format requires an object of strings"),
    (b'{"__metadata__": 3}', r"__metadata__ is JSON number \(3\); the format requires an object of strings"),
    (b'{"__metadata__": {"ss_zero_terminal_snr": true}}',
     r"__metadata__ 'ss_zero_terminal_snr' is JSON boolean \(true\), not a string"),
    (b'{"__metadata__": {"modelspec.prediction_type": {"a": 1}}}', r"is JSON object \(\{\"a\": 1\}\), not a string"),
    (b"[" * 100_000 + b"]" * 100_000, "nested too deeply to parse"),
    (b'{"a": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", "nested too deeply to parse"),
])
def test_malformed_metadata_is_a_clear_error_naming_the_file(tmp_path, header, match):
    path = raw_file(tmp_path, header)
    with pytest.raises(z.SafetensorsError, match=match) as err:
        z.read_checkpoint_flags(path)
    assert str(err.value).startswith(str(path))


def test_a_metadata_key_repeated_with_different_values_is_a_conflict(tmp_path):
    path = raw_file(tmp_path, b'{"__metadata__": {"modelspec.prediction_type": "v", "x": "1", '
                              b'"modelspec.prediction_type": "epsilon", "x": "2"}, "w": {"dtype": "F32", "shape": [0], '
                              b'"data_offsets": [0, 0]}, "w": {"dtype": "F32", "shape": [0], "data_offsets": [0, 0]}}')
    flags = z.read_checkpoint_flags(path)
    assert flags.prediction_type is None
    assert [s.source for s in flags.conflict("prediction_type").statements] == [
        "metadata modelspec.prediction_type = 'v'", "metadata modelspec.prediction_type = 'epsilon'"]
    assert flags.notes == ("the header repeats tensor 'w' 2 times (JSON readers keep the last silently)",
                           "the header repeats metadata key 'x' 2 times (JSON readers keep the last silently)")


def _refused_without_blocking(path, match):
    import threading

    outcome = {}

    def read():
        try:
            z.read_checkpoint_flags(path)
        except z.SafetensorsError as err:
            outcome["error"] = str(err)

    worker = threading.Thread(target=read, daemon=True)
    worker.start()
    worker.join(timeout=20)  # an open() of a FIFO with no writer blocks forever; the reader must not get there
    assert not worker.is_alive(), f"reading {path} blocked"
    assert outcome.get("error", "").startswith(str(path)) and match in outcome["error"]


def test_a_fifo_a_device_and_a_folder_are_refused_without_blocking(tmp_path):
    import os

    fifo = tmp_path / "pipe.safetensors"
    os.mkfifo(fifo)
    _refused_without_blocking(fifo, "is a FIFO (named pipe), not a safetensors file")
    _refused_without_blocking("/dev/zero", "is a character device")
    folder = tmp_path / "folder.safetensors"
    folder.mkdir()
    _refused_without_blocking(folder, "is a folder")


def test_a_huge_header_names_the_size_limit_not_the_file_size(tmp_path):
    path = tmp_path / "huge.safetensors"  # a 200 MB header in a 1 GB (sparse) file: within the file, over the limit
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", 200_000_000))
        f.truncate(2**30)
    with pytest.raises(z.SafetensorsError, match="header length 200,000,000 bytes is over the 100,000,000-byte limit"):
        z.read_checkpoint_flags(path)


def test_an_unreadable_file_is_named(tmp_path, monkeypatch):
    import os

    path = checkpoint(tmp_path, {"modelspec.prediction_type": "v"})
    real_open = os.open

    def refuse(p, *args, **kwargs):  # as root chmod 000 still reads, so the refusal is simulated
        if str(p) == str(path):
            raise PermissionError(13, "Permission denied")
        return real_open(p, *args, **kwargs)

    monkeypatch.setattr(os, "open", refuse)
    with pytest.raises(z.SafetensorsError, match=f"{path} cannot be read: Permission denied"):
        z.read_checkpoint_flags(path)


@pytest.mark.parametrize("blob, kind", [(b"PK\x03\x04" + bytes(60), "zip archive"),
                                        (b"\x80\x02}q\x00(X" + bytes(56), "Python pickle"),
                                        (b"\x80\x04", "Python pickle")])
def test_a_pickle_is_named_and_never_opened(tmp_path, blob, kind):
    path = tmp_path / "model.ckpt"
    path.write_bytes(blob)
    with pytest.raises(z.PickleCheckpointError, match=f"{kind}.*not safetensors: a pickle carries no header flags"):
        z.read_checkpoint_flags(path)


# --- diffusers folders and what stock tools assume -------------------------------------------------------------

def diffusers_folder(tmp_path, **config):
    import json

    folder = tmp_path / "model"
    (folder / "scheduler").mkdir(parents=True)
    (folder / "model_index.json").write_text("{}")
    (folder / "scheduler" / "scheduler_config.json").write_text(json.dumps(config))
    return folder


def test_a_diffusers_folder_is_read_from_its_scheduler_config(tmp_path):
    from zsnr_core.checkpoint_flags import traps

    folder = diffusers_folder(tmp_path, prediction_type="v_prediction", rescale_betas_zero_snr=True,
                              timestep_spacing="trailing", steps_offset=0)
    flags = z.read_checkpoint_flags(folder)
    assert (flags.form, flags.prediction_type, flags.zero_terminal_snr) == ("diffusers", "v_prediction", True)
    assert flags.prediction_type_source == "scheduler/scheduler_config.json prediction_type = 'v_prediction'"
    assert traps(flags) == ()


@pytest.mark.parametrize("config, words", [
    ({"prediction_type": "epsilon", "rescale_betas_zero_snr": True, "timestep_spacing": "trailing"},
     "epsilon with zero terminal SNR"),
    ({"prediction_type": "v_prediction", "rescale_betas_zero_snr": True},
     "zero terminal SNR with timestep_spacing = 'leading' (the default): 50 steps start at t = 980, not"),
    ({"prediction_type": "epsilon", "timestep_spacing": "leading", "steps_offset": 1},
     "timestep_spacing = 'leading' with steps_offset = 1: 50 steps start at t = 981, not t = 999"),
])
def test_known_traps_are_named(tmp_path, config, words):
    from zsnr_core.checkpoint_flags import traps

    (found,) = traps(z.read_checkpoint_flags(diffusers_folder(tmp_path, **config)))
    assert words in found
    assert int(z.timesteps(50, "leading")[0]) == 980  # the spacing the numbers above come from


SDXL_KEYS = {"conditioner.embedders.1.model.ln_final.weight": torch.zeros(2), "w": torch.zeros(2)}
SD2_KEYS = {"model.diffusion_model.input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight": torch.zeros(2, 1024)}
SD1_KEYS = {"model.diffusion_model.input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight": torch.zeros(2, 768)}


@pytest.mark.parametrize("tensors, family, comfy, a1111, diffusers", [
    (SDXL_KEYS, "sdxl", ("epsilon", False), ("epsilon", False), ("epsilon", False)),
    ({**SDXL_KEYS, "v_pred": MARKER, "ztsnr": MARKER}, "sdxl", ("v_prediction", True), ("v_prediction", True),
     ("epsilon", False)),
    ({**SDXL_KEYS, "ztsnr": MARKER}, "sdxl", ("epsilon", False), ("epsilon", True), ("epsilon", False)),
    ({**SD2_KEYS, "v_pred": MARKER}, "sd2", (None, False), ("v_prediction", False), ("v_prediction", False)),
    ({**SD1_KEYS, "v_pred": MARKER}, "sd1", ("epsilon", False), ("v_prediction", False), ("epsilon", False)),
])
def test_what_stock_tools_assume(tmp_path, tensors, family, comfy, a1111, diffusers):
    from zsnr_core.checkpoint_flags import stock_assumptions

    path = tmp_path / "m.safetensors"
    save_file(tensors, str(path))
    flags = z.read_checkpoint_flags(path)
    assert flags.family == family
    assert [(a.prediction_type, a.zero_terminal_snr) for a in stock_assumptions(flags)] == [comfy, a1111, diffusers]
