"""Read and write the safetensors format (https://huggingface.co/docs/safetensors) with torch alone.

The format is an 8-byte little-endian header length, a JSON header {name: {dtype, shape, data_offsets}} with an
optional "__metadata__" of strings, then the raw little-endian tensor bytes. No pickle: loading cannot run code.
Written here so that the core keeps its torch + numpy dependencies; the tests check it against the `safetensors`
package itself in both directions.
"""
from __future__ import annotations

import json
import struct
from pathlib import Path

import torch

from ..safetensors_header import SafetensorsError, read_header

_DTYPES = {
    "F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
    "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8, "U8": torch.uint8,
    "BOOL": torch.bool,
}
_NAMES = {v: k for k, v in _DTYPES.items()}


def save_file(tensors: dict[str, torch.Tensor], path, metadata: dict[str, str] | None = None) -> None:
    header, chunks, offset = {}, [], 0
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    for name in sorted(tensors):
        t = tensors[name].detach().to("cpu").contiguous()
        if t.dtype not in _NAMES:
            raise TypeError(f"tensor {name!r} has dtype {t.dtype}, which safetensors cannot store here")
        data = t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b""
        header[name] = {"dtype": _NAMES[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        chunks.append(data)
        offset += len(data)
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)  # the reference implementation aligns the data to 8 bytes
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(raw)) + raw)
        f.writelines(chunks)
    tmp.replace(path)  # a crash mid-write leaves the previous file intact


def load_file(path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """(tensors, metadata) from `path`; SafetensorsError names what is wrong with a damaged file."""
    path = Path(path)
    header, start_of_data = read_header(path)
    data = memoryview(path.read_bytes())[start_of_data:]
    metadata = header.pop("__metadata__", {}) or {}
    tensors = {}
    for name, info in header.items():
        try:
            dtype, shape, (start, end) = _DTYPES[info["dtype"]], info["shape"], info["data_offsets"]
        except (KeyError, TypeError, ValueError):
            raise SafetensorsError(f"{path}: entry {name!r} is malformed: {info!r}") from None
        numel = 1
        for s in shape:
            numel *= s
        if not (0 <= start <= end <= len(data)) or end - start != numel * torch.empty(0, dtype=dtype).element_size():
            raise SafetensorsError(f"{path}: entry {name!r} points outside the data or has the wrong size; "
                                   "the file is truncated or damaged")
        buf = bytearray(data[start:end])
        t = torch.frombuffer(buf, dtype=torch.uint8) if buf else torch.empty(0, dtype=torch.uint8)
        tensors[name] = t.view(dtype).reshape(shape) if numel else torch.empty(shape, dtype=dtype)
    return tensors, dict(metadata)
