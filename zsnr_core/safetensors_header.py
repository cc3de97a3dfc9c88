"""The header of a safetensors file (https://huggingface.co/docs/safetensors), read without touching the tensors.

The format is an 8-byte little-endian header length n, n bytes of JSON {name: {dtype, shape, data_offsets}} with an
optional "__metadata__" object of strings, then the raw tensor bytes. Reading the header costs 8 + n bytes whatever
the file's size: 5.4 ms for a 1 GiB file with 2,500 tensors (benchmarks/checkpoint_flags_speed.py), the JSON
parse of its header.

Every refusal is a SafetensorsError (a ValueError) that names the file; a pickle checkpoint (.ckpt / .pt / .bin) is a
PickleCheckpointError, so that a caller can fall back to loading it another way without reading the message. Only
regular files are opened, and without blocking: a FIFO or a device is refused from its stat.
"""
from __future__ import annotations

import json
import os
import stat
import struct
from dataclasses import dataclass, field
from pathlib import Path

MAX_HEADER_BYTES = 100_000_000  # the reference implementation's limit: it refuses longer headers


class SafetensorsError(ValueError):
    """The file is missing, unreadable, truncated or not a safetensors file."""


class PickleCheckpointError(SafetensorsError):
    """The file is a pickle (a .ckpt / .pt / .bin, zipped or not): it has no header to read, and this package never
    unpickles (unpickling can run code). `kind` says which container was recognised."""

    def __init__(self, path, kind: str):
        self.path, self.kind = str(path), kind
        super().__init__(
            f"{path} is a {kind}, not safetensors: a pickle carries no header flags, and reading it would mean "
            "unpickling, which can run code, so it is not opened here. Convert it once, in an environment you trust, "
            "to safetensors (e.g. ComfyUI's Save Checkpoint node, or torch.load(path, weights_only=True) then "
            "safetensors.torch.save_file), then read or stamp the .safetensors file")


@dataclass(frozen=True)
class Header:
    """A parsed header. `duplicates` lists keys that the JSON repeats: (where, key, every value in file order), where
    is "" for the top level (tensor names) or "__metadata__"; JSON parsers keep the last one silently."""

    path: str
    tensors: dict  # name -> {dtype, shape, data_offsets}, in file order
    metadata: dict  # str -> str
    data_start: int  # byte offset of the tensor data: 8 + n
    file_size: int
    duplicates: tuple = field(default=())


class _Pairs(dict):
    duplicates: list


def _object_with_duplicates(pairs):
    obj = dict(pairs)
    if len(obj) == len(pairs):  # the common case, kept cheap: this runs once per tensor entry
        return obj
    seen = {}
    for key, value in pairs:
        seen.setdefault(key, []).append(value)
    obj = _Pairs(obj)
    obj.duplicates = [(key, tuple(values)) for key, values in seen.items() if len(values) > 1]
    return obj


def _may_repeat_keys(raw: bytes, header: dict) -> bool:
    """False when no tensor name or metadata key can be repeated: each tensor entry has one "data_offsets" and each
    metadata key's JSON string occurs once in the whole header. Byte counts run at memory speed, where a parse that
    tracks every key costs 2-3x the plain one."""
    entries = len(header) - ("__metadata__" in header)
    if raw.count(b'"data_offsets"') != entries:
        return True
    metadata = header.get("__metadata__")
    if isinstance(metadata, dict):
        for key in metadata:
            forms = {json.dumps(key).encode(), json.dumps(key, ensure_ascii=False).encode()}
            if sum(raw.count(f) for f in forms) > 1:
                return True
    return False


def _kind_of_file(mode: int) -> str | None:
    for test, words in ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
                        (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                        (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return words
    return None if stat.S_ISREG(mode) else "not a regular file"


def _pickle_kind(head: bytes) -> str | None:
    if head.startswith(b"PK\x03\x04"):
        return "zip archive (PyTorch's pickle checkpoint format: .ckpt / .pt / .pth)"
    if len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5:
        return "Python pickle (a legacy .ckpt / .pt / .bin)"
    return None


def _open_regular(path: Path) -> tuple[int, int]:
    """(file descriptor, size) of a regular file, opened without blocking; SafetensorsError for anything else."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise SafetensorsError(f"{path} does not exist") from None
    except OSError as err:
        raise SafetensorsError(f"{path} cannot be read: {err.strerror}") from None
    kind = _kind_of_file(st.st_mode)
    if kind:
        raise SafetensorsError(f"{path} is {kind}, not a safetensors file; name a .safetensors file")
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))  # a FIFO swapped in after the stat
    except OSError as err:
        raise SafetensorsError(f"{path} cannot be read: {err.strerror}") from None
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise SafetensorsError(f"{path} is {_kind_of_file(st.st_mode)}, not a safetensors file")
    return fd, st.st_size


def _read_exactly(fd: int, n: int) -> bytes:
    chunks, left = [], n
    while left:
        chunk = os.read(fd, min(left, 1 << 24))
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def read_header_details(path) -> Header:
    """The header of the safetensors file at `path`, checked: SafetensorsError naming the file and what is wrong."""
    path = Path(path)
    fd, size = _open_regular(path)
    try:
        head = _read_exactly(fd, 8)
        if len(head) < 8:
            raise PickleCheckpointError(path, _pickle_kind(head)) if _pickle_kind(head) else SafetensorsError(
                f"{path} is {size} bytes long, too short for a safetensors header")
        (n,) = struct.unpack("<Q", head)
        if n > size - 8 or n > MAX_HEADER_BYTES:
            if _pickle_kind(head):
                raise PickleCheckpointError(path, _pickle_kind(head))
            if n > size - 8:  # the file cannot hold it: the length itself is wrong
                raise SafetensorsError(f"{path}: header length {n} exceeds the file size {size}; the file is "
                                       "truncated, damaged or not safetensors")
            raise SafetensorsError(
                f"{path}: header length {n:,} bytes is over the {MAX_HEADER_BYTES:,}-byte limit that safetensors "
                "readers (the reference implementation, ComfyUI, diffusers) accept; no tool will load this file")
        raw = _read_exactly(fd, n)
    finally:
        os.close(fd)
    try:
        header = json.loads(raw)
        if isinstance(header, dict) and _may_repeat_keys(raw, header):  # then parse again, slowly, to know which
            header = json.loads(raw, object_pairs_hook=_object_with_duplicates)
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise SafetensorsError(f"{path}: the header is not valid JSON ({err}); the file is damaged or not "
                               "safetensors") from None
    except RecursionError:
        raise SafetensorsError(f"{path}: the header's JSON is nested too deeply to parse (a safetensors header is "
                               "two levels deep); the file is damaged or crafted") from None
    if not isinstance(header, dict):
        raise SafetensorsError(f"{path}: the header is JSON {type(header).__name__}, not an object; the file is not "
                               "safetensors")
    duplicates = [("", key, values) for key, values in getattr(header, "duplicates", ())]
    metadata = header.pop("__metadata__", None)
    if metadata is None:
        metadata = {}
    if not isinstance(metadata, dict):
        raise SafetensorsError(f"{path}: __metadata__ is JSON {_json_type(metadata)} ({_clip(metadata)}); the format "
                               "requires an object of strings, so safetensors readers refuse this file")
    duplicates += [("__metadata__", key, values) for key, values in getattr(metadata, "duplicates", ())]
    for key, value in metadata.items():
        if not isinstance(value, str):
            raise SafetensorsError(f"{path}: __metadata__ {key!r} is JSON {_json_type(value)} ({_clip(value)}), not a "
                                   "string; the format allows strings only, so safetensors readers refuse this file")
    return Header(str(path), dict(header), dict(metadata), 8 + n, size, tuple(duplicates))


def _json_type(value) -> str:
    for kind, word in ((dict, "object"), (list, "array"), (str, "string"), (bool, "boolean"), (type(None), "null")):
        if isinstance(value, kind):
            return word
    return "number"


def _clip(value, limit: int = 60) -> str:
    text = json.dumps(value)
    return text if len(text) <= limit else text[:limit] + "..."


def read_header(path) -> tuple[dict, int]:
    """(header, offset of the data) of the safetensors file at `path`; SafetensorsError names what is wrong. The
    header holds the tensor entries and, when the file has one, "__metadata__"."""
    h = read_header_details(path)
    return ({**h.tensors, "__metadata__": h.metadata} if h.metadata else dict(h.tensors)), h.data_start
