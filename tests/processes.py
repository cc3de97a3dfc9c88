"""Stopping a server a test started (ComfyUI, JupyterLab): terminate, wait, kill if it will not go."""
import subprocess


def stop_process(proc: subprocess.Popen, timeout: float = 20.0) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=timeout)
