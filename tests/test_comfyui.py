"""Integration with a real ComfyUI checkout: skipped unless COMFYUI_PATH points at one.

    COMFYUI_PATH=/path/to/ComfyUI python -m pytest tests/test_comfyui.py

The checks live in comfyui_checks.py and run in a subprocess: ComfyUI's imports (its `nodes` module, a
torchvision stub, `args.cpu = True`) are process-wide and must not leak into the rest of the suite.
"""
import os
import pathlib
import subprocess
import sys

import pytest

COMFYUI = os.environ.get("COMFYUI_PATH")
CHECKS = pathlib.Path(__file__).with_name("comfyui_checks.py")

pytestmark = pytest.mark.skipif(
    not COMFYUI or not (pathlib.Path(COMFYUI) / "comfy" / "samplers.py").is_file(),
    reason="set COMFYUI_PATH to a ComfyUI checkout (with its requirements installed) to run the integration checks",
)


def test_nodes_inside_comfyui():
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(CHECKS)],
                         capture_output=True, text=True, cwd=CHECKS.parents[1], timeout=900, check=False)
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-3000:]
    assert " passed" in run.stdout and "skipped" not in run.stdout.splitlines()[-1]
