"""ComfyUI nodes: each one a schema and one call into zsnr_core. Empty until the ComfyUI-nodes issue lands."""
