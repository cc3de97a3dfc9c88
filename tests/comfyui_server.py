"""A ComfyUI server started as its users start it (`main.py --cpu`), on 127.0.0.1 only, with this folder as a
custom node, and the helpers to talk to it: UI workflow → API prompt, POST /prompt, completion over the websocket.

Used by test_comfyui_server.py; every wait is bounded in count and time.
"""
import asyncio
import contextlib
import json
import os
import pathlib
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid

from processes import stop_process

TESTS = pathlib.Path(__file__).resolve().parent
ROOT = TESTS.parent
HOST = "127.0.0.1"
WIDGET_TYPES = {"INT", "FLOAT", "STRING", "BOOLEAN", "COMBO"}
PLACEHOLDER_CHECKPOINT = "your-zero-snr-vpred-checkpoint.safetensors"  # the example workflows' ckpt_name


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def base_directory(tmp: pathlib.Path) -> pathlib.Path:
    """custom_nodes/ with this folder (a symlink) and the test stand-ins; an empty placeholder checkpoint, so that
    the workflows' ckpt_name is one of the loader's options in the frontend; a user setting that skips the
    first-start template dialog."""
    nodes = tmp / "custom_nodes"
    nodes.mkdir(parents=True)
    (nodes / "zsnr").symlink_to(ROOT, target_is_directory=True)
    stand_ins = nodes / "zsnr_test_stand_ins"
    stand_ins.mkdir()
    shutil.copy(TESTS / "comfyui_stand_ins.py", stand_ins / "__init__.py")
    checkpoints = tmp / "models" / "checkpoints"
    checkpoints.mkdir(parents=True)
    (checkpoints / PLACEHOLDER_CHECKPOINT).write_bytes(b"")
    settings = tmp / "user" / "default"
    settings.mkdir(parents=True)
    (settings / "comfy.settings.json").write_text(json.dumps({"Comfy.TutorialCompleted": True}))
    return tmp


def get_json(port: int, path: str, timeout: float = 30.0):
    with urllib.request.urlopen(f"http://{HOST}:{port}{path}", timeout=timeout) as r:
        return json.loads(r.read())


@contextlib.contextmanager
def comfyui_server(comfyui: str, base: pathlib.Path, startup_s: float = 240.0):
    """Yield (port, log path) of a running server; stop it (terminate, then kill) on exit."""
    from comfyui_env import torchvision_stub

    port = free_port()
    log = base / "server.log"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([torchvision_stub(), str(TESTS), str(ROOT / "harness")])}
    cmd = [sys.executable, "main.py", "--cpu", "--listen", HOST, "--port", str(port), "--base-directory", str(base),
           "--disable-auto-launch"]
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, cwd=comfyui, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + startup_s
        for _ in range(int(startup_s * 2)):  # at most one try per 0.5 s
            if proc.poll() is not None:
                raise RuntimeError(f"ComfyUI exited with {proc.returncode}:\n{log.read_text()[-4000:]}")
            try:
                get_json(port, "/system_stats", timeout=5.0)
                break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"ComfyUI did not answer within {startup_s} s:\n{log.read_text()[-4000:]}")
                time.sleep(0.5)
        yield port, log
    finally:
        stop_process(proc)


def api_prompt(workflow: dict, object_info: dict, stand_ins: dict[str, str] | None = None) -> dict:
    """The API-format prompt of a UI-format workflow: widget values by input name (in the schema's order, with the
    extra control_after_generate value skipped), links as [source id, output slot]; node types in `stand_ins`
    replaced (same inputs). Output-only nodes without inputs (none here) would be kept as they are."""
    links = {link[0]: link for link in workflow["links"]}
    prompt = {}
    for node in workflow["nodes"]:
        info = object_info[node["type"]]["input"]
        declared = {**info.get("required", {}), **info.get("optional", {})}
        inputs = {}
        values = iter(node.get("widgets_values") or [])
        for name, (kind, *opts) in declared.items():
            if isinstance(kind, list) or kind in WIDGET_TYPES:
                inputs[name] = next(values)
                if opts and opts[0].get("control_after_generate"):
                    next(values)
        for inp in node["inputs"]:
            if inp["link"] is not None:
                _, src, slot, *_ = links[inp["link"]]
                inputs[inp["name"]] = [str(src), slot]
        kind = (stand_ins or {}).get(node["type"], node["type"])
        if kind != node["type"]:  # a stand-in takes only the inputs it declares
            wanted = {**object_info[kind]["input"].get("required", {}), **object_info[kind]["input"].get("optional", {})}
            inputs = {k: v for k, v in inputs.items() if k in wanted}
        prompt[str(node["id"])] = {"class_type": kind, "inputs": inputs}
    return prompt


def post_prompt(port: int, prompt: dict, client_id: str) -> dict:
    """POST /prompt; returns the server's JSON (prompt_id) or raises with the server's error body (HTTP 400)."""
    req = urllib.request.Request(f"http://{HOST}:{port}/prompt", method="POST",
                                 data=json.dumps({"prompt": prompt, "client_id": client_id}).encode(),
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return json.loads(r.read())
    except urllib.error.HTTPError as err:
        raise AssertionError(f"POST /prompt answered {err.code}: {err.read().decode()[:4000]}") from None


def run_prompt(port: int, prompt: dict, timeout_s: float = 300.0) -> dict:
    """Queue `prompt`, wait over the websocket until it finishes (bounded: timeout_s, 10 000 messages), and return
    its /history entry. An execution error raises with ComfyUI's message."""
    import aiohttp

    client_id = uuid.uuid4().hex

    async def wait():
        async with aiohttp.ClientSession() as session, \
                session.ws_connect(f"ws://{HOST}:{port}/ws?clientId={client_id}") as ws:
            prompt_id = post_prompt(port, prompt, client_id)["prompt_id"]
            for _ in range(10_000):
                msg = await ws.receive(timeout=timeout_s)
                if msg.type != aiohttp.WSMsgType.TEXT:
                    continue  # binary messages are latent previews
                event = json.loads(msg.data)
                data = event.get("data", {})
                if data.get("prompt_id") != prompt_id:
                    continue
                if event["type"] == "execution_error":
                    raise AssertionError(f"{data.get('node_type')}: {data.get('exception_message')}")
                if event["type"] == "execution_success" or (event["type"] == "executing" and data.get("node") is None):
                    return prompt_id
            raise AssertionError("no completion message within 10 000 websocket messages")

    prompt_id = asyncio.run(asyncio.wait_for(wait(), timeout_s))
    for _ in range(100):  # the worker stores the history just after it reports success: at most 100 × 0.2 s
        history = get_json(port, f"/history/{prompt_id}")
        if prompt_id in history:
            return history[prompt_id]
        time.sleep(0.2)
    raise AssertionError(f"prompt {prompt_id} finished but has no /history entry after 20 s")
