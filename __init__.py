"""ComfyUI entry point of this folder (users clone the repository into ComfyUI/custom_nodes/).

Guarded so that importing it outside ComfyUI does nothing: the math lives in `zsnr_core`, which never imports
ComfyUI. Inside ComfyUI the nodes register through the V3 `comfy_entrypoint` only (ComfyUI ignores it in a module
that also defines NODE_CLASS_MAPPINGS, so there is none here).
"""
try:
    import comfy_api.latest  # noqa: F401  (importable only inside ComfyUI)
except ImportError:
    pass
else:
    from .nodes.extension import comfy_entrypoint  # noqa: F401
