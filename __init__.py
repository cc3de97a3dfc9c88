"""ComfyUI entry point of this folder (users clone the repository into ComfyUI/custom_nodes/).

Guarded so that importing it outside ComfyUI does nothing: the math lives in `zsnr_core`, which never imports
ComfyUI. The nodes themselves are not written yet (they come with the ComfyUI-nodes issue and will register here
through ComfyUI's V3 `comfy_entrypoint`), so inside ComfyUI this folder registers no node for now.
"""
try:
    import comfy_api.latest  # noqa: F401  (importable only inside ComfyUI)
except ImportError:
    pass
