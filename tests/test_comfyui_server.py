"""The node pack as its users meet it: a running ComfyUI server and its web frontend. Skipped unless COMFYUI_PATH
points at a ComfyUI checkout (with its requirements installed); the browser check also needs Playwright
(`pip install playwright`) and a Chromium (Debian: `apt-get install chromium`), and is skipped without them.

    COMFYUI_PATH=/path/to/ComfyUI python -m pytest tests/test_comfyui_server.py

The server is started as `main.py --cpu --listen 127.0.0.1 --port <free port> --base-directory <tmp>` with this
folder symlinked into the temporary custom_nodes/, next to test-only stand-ins for the checkpoint, text encoder and
VAE (comfyui_stand_ins.py: a tiny random v-prediction UNet). The example workflows are converted to API prompts
with the stand-ins in place of those three nodes, posted to /prompt and followed over the websocket.
"""
import json
import os
import pathlib
import shutil
import sys

import pytest

COMFYUI = os.environ.get("COMFYUI_PATH")
TESTS = pathlib.Path(__file__).resolve().parent
WORKFLOWS = sorted((TESTS.parent / "example_workflows").glob("*.json"))
STAND_IN_WORKFLOWS = [p for p in WORKFLOWS if not p.stem.startswith("toy_")]  # the toy ones: test_comfyui_toy.py
NODE_IDS = ["ZSNR_ZeroTerminalSNR", "ZSNR_PaperTimesteps", "ZSNR_DDIMSampler", "ZSNR_RescaleCFG", "ZSNR_SNRInspector",
            "ZSNR_CheckpointLoader"]

pytestmark = pytest.mark.skipif(
    not COMFYUI or not (pathlib.Path(COMFYUI) / "main.py").is_file(),
    reason="set COMFYUI_PATH to a ComfyUI checkout (with its requirements installed) to run the server checks",
)


@pytest.fixture(scope="module")
def cs():
    sys.path.insert(0, str(TESTS))
    import comfyui_server

    return comfyui_server


@pytest.fixture(scope="module")
def server(cs, tmp_path_factory):
    base = cs.base_directory(tmp_path_factory.mktemp("comfyui_base"))
    with cs.comfyui_server(COMFYUI, base) as (port, log):
        yield port, base, log


@pytest.fixture(scope="module")
def object_info(cs, server):
    return cs.get_json(server[0], "/object_info", timeout=120)


def example_prompt(cs, object_info, path):
    """The workflow at `path` as an API prompt, with the stand-ins and a 64 × 64 image (an 8 × 8 latent)."""
    from comfyui_stand_ins import STAND_INS

    prompt = cs.api_prompt(json.loads(path.read_text()), object_info, STAND_INS)
    for node in prompt.values():
        if node["class_type"] == "EmptyLatentImage":
            node["inputs"].update(width=64, height=64)
    return prompt


def test_the_pack_and_its_ksampler_entries_are_listed(object_info):
    assert set(NODE_IDS) <= set(object_info)
    for ksampler in ("KSampler", "KSamplerAdvanced"):
        required = object_info[ksampler]["input"]["required"]
        assert {"zsnr_ddim", "zsnr_ddpm"} <= set(required["sampler_name"][0])
        assert {"zsnr_leading", "zsnr_linspace", "zsnr_trailing"} <= set(required["scheduler"][0])


@pytest.mark.parametrize("path", STAND_IN_WORKFLOWS, ids=lambda p: p.stem)
def test_example_workflow_runs_through_the_server(cs, server, object_info, path):
    port, base, _ = server
    prompt = example_prompt(cs, object_info, path)
    history = cs.run_prompt(port, prompt)
    assert history["status"]["status_str"] == "success" and history["status"]["completed"]
    (cached,) = [m[1]["nodes"] for m in history["status"]["messages"] if m[0] == "execution_cached"]
    sources = {i for i, n in prompt.items() if not any(isinstance(v, list) for v in n["inputs"].values())}
    assert set(cached) <= sources  # only input-less nodes (latent, noise, sampler) come from an earlier prompt
    outputs = history["outputs"]
    from PIL import Image

    saves = [i for i, n in prompt.items() if n["class_type"] == "SaveImage"]
    assert saves
    for node_id in saves:
        (image,) = outputs[node_id]["images"]
        with Image.open(base / "output" / image["subfolder"] / image["filename"]) as png:
            assert png.size == (64, 64)
            assert any(lo < hi for lo, hi in png.getextrema())  # not a constant (black) image
    reports = [outputs[i]["text"][0] for i, n in prompt.items() if n["class_type"] == "PreviewAny"]
    assert any("terminal SNR: 0 " in r and "prediction type: v_prediction (from Zero Terminal SNR node" in r
               for r in reports), reports
    if path.stem == "flawed_vs_fixed":  # the common setup's sigmas never reach T; the fixed ones start there
        assert any("WARNING: the sigmas start at t = 961" in r for r in reports), reports
        assert any("exactly trailing spacing, starts at T" in r for r in reports), reports


def test_ksampler_with_our_sampler_and_scheduler_through_the_server(cs, server, object_info):
    """A prompt naming zsnr_ddim in the stock KSampler (HTTP 400 "Value not in list" before it was registered)."""
    prompt = example_prompt(cs, object_info, TESTS.parent / "example_workflows" / "flawed_vs_fixed.json")
    (ksampler,) = [n for n in prompt.values() if n["class_type"] == "KSampler"]
    ksampler["inputs"].update(sampler_name="zsnr_ddim", scheduler="zsnr_trailing", steps=6)
    keep = {"1", "2", "3", "4", "5", "6", "7"}  # loader, prompts, latent, KSampler, decode, save: the flawed branch
    history = cs.run_prompt(server[0], {i: n for i, n in prompt.items() if i in keep})
    assert history["status"]["status_str"] == "success" and len(history["outputs"]["7"]["images"]) == 1


def test_a_dropdown_value_outside_its_options_gets_a_clear_error_through_the_api(cs, server, object_info):
    """ComfyUI 0.3.64 does not check a V3 node's Combo values in /prompt: the node does (a bare KeyError before)."""
    prompt = example_prompt(cs, object_info, WORKFLOWS[-1])
    (zero_snr,) = [n for n in prompt.values() if n["class_type"] == "ZSNR_ZeroTerminalSNR"]
    zero_snr["inputs"]["prediction_type"] = "V_prediction"
    with pytest.raises(AssertionError, match=r"ZSNR_ZeroTerminalSNR: prediction_type = 'V_prediction' is not one of "
                                             r"its options 'keep', 'epsilon', 'v_prediction' \(did you mean "
                                             r"'v_prediction'\?"):
        cs.run_prompt(server[0], prompt)


LOAD = """async (workflow) => { await window.app.loadGraphData(workflow); }"""
FRONTEND_CHECK = """async (workflow) => {
    await window.app.loadGraphData(workflow);
    const missing = workflow.nodes.map(n => n.type).filter(t => !LiteGraph.registered_node_types[t]);
    const nodes = window.app.graph._nodes.map(n => ({
        id: n.id, type: n.type,
        values: (n.widgets || []).map(w => w.value),
        bad: (n.widgets || []).filter(w => Array.isArray(w.options?.values) && !w.options.values.includes(w.value))
                              .map(w => `${w.name} = ${w.value}`),
    }));
    const xs = window.app.graph._nodes.flatMap(n => [n.pos[0], n.pos[0] + n.size[0]]);
    const ys = window.app.graph._nodes.flatMap(n => [n.pos[1] - 30, n.pos[1] + n.size[1]]);
    const ds = window.app.canvas.ds;  // fit the whole graph into the screenshot
    ds.scale = Math.min(window.innerWidth / (Math.max(...xs) - Math.min(...xs) + 200),
                        window.innerHeight / (Math.max(...ys) - Math.min(...ys) + 200));
    ds.offset = [100 / ds.scale - Math.min(...xs), 100 / ds.scale - Math.min(...ys)];
    window.app.canvas.setDirty(true, true);
    return {missing, nodes};
}"""


def as_stock_loader(node: dict) -> dict:
    """Our checkpoint loader as the stock one (same ckpt_name widget and first three outputs), so that the reference
    holds the errors the offline frontend logs for every ckpt_name widget."""
    return {**node, "type": "CheckpointLoaderSimple", "outputs": node["outputs"][:3],
            "widgets_values": node["widgets_values"][:1]}


def core_only(workflow: dict) -> dict:
    """The workflow without this pack's nodes (and their links): the frontend's reference for its own errors."""
    nodes = [as_stock_loader(n) if n["type"] == "ZSNR_CheckpointLoader" else n for n in workflow["nodes"]]
    kept = [n for n in nodes if not n["type"].startswith("ZSNR_")]
    ids = {n["id"] for n in kept}
    return {**workflow, "nodes": kept, "links": [link for link in workflow["links"] if {link[1], link[3]} <= ids]}


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.stem)
def test_example_workflow_opens_in_the_frontend(server, path, tmp_path):
    """No missing node type, every widget value as saved and inside its options, and no frontend error that the
    same graph without our nodes does not raise too (ComfyUI 0.3.64's frontend 1.27.10 logs some errors of its own
    offline, e.g. from its model-asset browser on CheckpointLoaderSimple)."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright for the browser check")
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("no Chromium on PATH (Debian: apt-get install chromium)")
    workflow = json.loads(path.read_text())
    errors = []

    def record(kind, text):
        errors.append(f"{kind}: {text.splitlines()[0] if text else text}")

    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, headless=True, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1600, "height": 1000})
            page.on("pageerror", lambda err: record("page error", str(err)))
            page.on("console", lambda msg: record("console error", msg.text) if msg.type == "error" else None)
            page.goto(f"http://127.0.0.1:{server[0]}/", timeout=180_000)
            page.wait_for_function("() => window.app && window.app.graph && window.LiteGraph", timeout=180_000)
            page.wait_for_timeout(2000)  # settle: the frontend's start-up messages come before the reference
            errors.clear()
            page.evaluate(LOAD, core_only(workflow))
            page.wait_for_timeout(1500)
            reference = set(errors)
            errors.clear()
            result = page.evaluate(FRONTEND_CHECK, workflow)
            page.wait_for_timeout(1500)  # let the canvas draw before the screenshot
            page.screenshot(path=str(tmp_path / f"{path.stem}.png"))
            dialogs = page.get_by_text("missing", exact=False).count()
        finally:
            browser.close()
    assert result["missing"] == [] and dialogs == 0, result["missing"]
    loaded = {n["id"]: n for n in result["nodes"]}
    for node in workflow["nodes"]:
        front = loaded[node["id"]]
        assert front["type"] == node["type"] and front["bad"] == [], front
        assert front["values"][:len(node["widgets_values"])] == node["widgets_values"], (node["type"], front)
    assert set(errors) <= reference, sorted(set(errors) - reference)
    assert (tmp_path / f"{path.stem}.png").stat().st_size > 10_000  # a drawn graph, kept in pytest's tmp_path
