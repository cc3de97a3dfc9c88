"""`python -m zsnr_core flags`: per-file lines, JSON, folders searched recursively, pickles named, exit codes that
scripts can use, and stamping only when asked. Runs `cli.main` in-process (the parser is the same) plus one real
subprocess for the console contract."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from zsnr_core.cli import main

ROOT = Path(__file__).resolve().parents[1]
SDXL = {"conditioner.embedders.1.model.ln_final.weight": torch.zeros(2)}


def write(path, metadata=None, tensors=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors or {"w": torch.zeros(2)}, str(path), metadata=metadata)
    return path


def flags(capsys, *args):
    try:
        code = main(["flags", *map(str, args)])
    except SystemExit as exit_:
        code = exit_.code
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture()
def library(tmp_path):
    """A folder as a person collecting community checkpoints has one."""
    write(tmp_path / "sd15" / "plain.safetensors")  # states nothing
    write(tmp_path / "sd15" / "vpred.safetensors", {"modelspec.prediction_type": "v", "ss_zero_terminal_snr": "True"},
          SDXL)  # stated in metadata only: stock SDXL loaders read the markers
    (tmp_path / "old.ckpt").write_bytes(b"PK\x03\x04" + bytes(60))
    model = tmp_path / "diffusers" / "model"
    (model / "scheduler").mkdir(parents=True)
    (model / "model_index.json").write_text("{}")
    (model / "scheduler" / "scheduler_config.json").write_text(json.dumps(
        {"prediction_type": "v_prediction", "rescale_betas_zero_snr": True, "timestep_spacing": "trailing"}))
    (model / "unet").mkdir()
    write(model / "unet" / "diffusion_pytorch_model.safetensors")  # inside the model: not listed on its own
    (tmp_path / "notes.txt").write_text("not a checkpoint")
    return tmp_path


def test_a_folder_is_searched_and_each_checkpoint_gets_a_summary_line(capsys, library):
    code, out, _ = flags(capsys, library)
    heads = [line for line in out.splitlines() if not line.startswith("  ")]
    assert heads == [  # a folder's own files first, then its subfolders, each sorted
        f"{library / 'old.ckpt'}: PICKLE",
        f"{library / 'diffusers' / 'model'}: OK: prediction v_prediction, zero terminal SNR yes",
        f"{library / 'sd15' / 'plain.safetensors'}: SILENT: prediction not stated, zero terminal SNR not stated",
        f"{library / 'sd15' / 'vpred.safetensors'}: TO FIX: prediction v_prediction, zero terminal SNR yes (sdxl)",
        "4 checkpoint(s): 1 ok, 1 silent, 1 to fix, 1 pickle, 0 unreadable",
    ]
    assert "MISREAD: ComfyUI will load it as epsilon, the file states v_prediction: stamp the markers" in out
    assert "warning: diffusers will load it as epsilon, the file states v_prediction" in out  # not in the file's power
    assert "not safetensors: a pickle carries no header flags" in out and code == 3  # a path could not be read


def test_exit_codes(capsys, library):
    assert flags(capsys, library / "sd15" / "plain.safetensors")[0] == 0
    assert flags(capsys, library / "diffusers" / "model")[0] == 0
    assert flags(capsys, library / "sd15" / "vpred.safetensors")[0] == 1
    assert flags(capsys, library / "old.ckpt")[0] == 3
    assert flags(capsys, library / "missing.safetensors")[0] == 3
    code, _, err = flags(capsys, library / "sd15" / "plain.safetensors", "--dry-run")
    assert code == 2 and "--dry-run belong to a stamp" in err


def test_json_lists_statements_and_assumptions(capsys, library):
    _code, out, _ = flags(capsys, library / "sd15" / "vpred.safetensors", "--json")
    (entry,) = json.loads(out)
    assert entry["status"] == "to fix" and entry["family"] == "sdxl"
    assert {(s["fact"], s["value"]) for s in entry["statements"]} == {("prediction_type", "v_prediction"),
                                                                       ("zero_terminal_snr", True)}
    assert [a["tool"] for a in entry["assumed_by"]] == ["ComfyUI", "A1111/Forge", "diffusers"]
    assert entry["assumed_by"][0]["prediction_type"] == "epsilon"  # SDXL without the marker


def test_a_stamp_with_markers_turns_to_fix_into_ok(capsys, library):
    src, new = library / "sd15" / "vpred.safetensors", library / "fixed.safetensors"
    assert flags(capsys, src)[0] == 1
    assert flags(capsys, src, "--set-prediction", "v_prediction", "--markers", "--out", new)[0] == 0
    code, out, _ = flags(capsys, new)
    assert code == 0 and out.startswith(f"{new}: OK: prediction v_prediction, zero terminal SNR yes (sdxl)")
    assert "ComfyUI loads it as: v_prediction, zero terminal SNR yes" in out


def test_stamping_needs_a_destination_and_then_writes_only_there(capsys, library):
    src = library / "sd15" / "plain.safetensors"
    before = src.read_bytes()
    code, _, err = flags(capsys, src, "--set-prediction", "v_prediction")
    assert code == 2 and "give --out NEW (a new file) or --in-place" in err and src.read_bytes() == before
    code, out, _ = flags(capsys, src, "--set-prediction", "v_prediction", "--set-zero-snr", "on", "--in-place",
                         "--dry-run")
    assert code == 0 and out.startswith(f"would write {src}") and src.read_bytes() == before
    new = library / "stamped.safetensors"
    code, out, _ = flags(capsys, src, "--set-prediction", "v_prediction", "--set-zero-snr", "on", "--markers",
                         "--out", new)
    assert code == 0 and "marker 'ztsnr' added" in out and src.read_bytes() == before
    code, out, _ = flags(capsys, new)
    assert "prediction v_prediction, zero terminal SNR yes" in out


@pytest.mark.parametrize("args, words", [
    (["--set-prediction", "epsilon", "--set-zero-snr", "on", "--in-place"], "prediction_type='epsilon' is undefined"),
    (["--set-prediction", "v"], "invalid choice: 'v'"),
    (["--set-zero-snr", "on", "--out", "x", "--in-place"], "not allowed with argument"),
])
def test_bad_stamps_are_one_line_and_exit_2(capsys, library, args, words):
    code, _, err = flags(capsys, library / "sd15" / "plain.safetensors", *args)
    assert code == 2 and words in err and "Traceback" not in err


def test_the_console_command_and_a_fifo(tmp_path):
    fifo = tmp_path / "pipe.safetensors"
    os.mkfifo(fifo)
    run = subprocess.run([sys.executable, "-m", "zsnr_core", "flags", str(fifo)], capture_output=True, text=True,
                         cwd=ROOT, timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)}, check=False)
    assert run.returncode == 3 and "is a FIFO (named pipe), not a safetensors file" in run.stdout
    assert "Traceback" not in run.stderr
