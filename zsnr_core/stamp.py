"""Stamp a safetensors checkpoint with its prediction type and zero terminal SNR, leaving every tensor's bytes as
they are.

Written: "modelspec.prediction_type" ("v" / "epsilon", Stability's ModelSpec word) and, where the file already has
them, "modelspec.predict_key" and kohya's "ss_v_parameterization" made to agree; kohya's "ss_zero_terminal_snr"
("True" / "False"); optionally the empty "v_pred" / "ztsnr" marker tensors that stock ComfyUI (SDXL) and A1111/Forge
read. A marker that contradicts the stamp is removed. All other metadata is kept.

The new file is the old data region copied byte for byte behind a new header: a temporary file beside the target is
written, its data region is compared byte for byte with the source's (each difference named by the tensor it falls
in) while it is fsynced, and it is renamed onto the target. A run killed at any moment leaves the original intact and no
partial file under the target's name (at most a stale ".<name>.stamp-<pid>.tmp" beside it).
"""
from __future__ import annotations

import bisect
import errno
import json
import os
import shutil
import stat
import struct
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from .checkpoint_flags import read_checkpoint_flags
from .errors import EpsilonAtZeroSNRError
from .safetensors_header import SafetensorsError, read_header_details

_MODELSPEC_WORD = {"v_prediction": "v", "epsilon": "epsilon"}
_CHUNK = 1 << 24
_SPARE_BYTES = 1 << 20  # free space kept beyond the new file's size
_NO_KERNEL_COPY = {errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EPERM}


class StampError(SafetensorsError):
    """The stamp was refused (read-only target, short of space, an existing output, a checksum mismatch ...)."""


@dataclass(frozen=True)
class StampResult:
    source: str
    target: str
    written: bool  # False for a dry run
    metadata_changes: tuple[tuple[str, str | None, str], ...]  # (key, old value or None, new value)
    markers_added: tuple[str, ...]
    markers_removed: tuple[str, ...]
    tensors_checked: int  # tensors whose bytes were compared equal in the new file and the source
    size: int  # bytes of the new file

    def summary(self) -> str:
        changes = [f"{k}: {'(absent)' if old is None else repr(old)} -> {new!r}" for k, old, new in
                   self.metadata_changes]
        changes += [f"marker {m!r} added" for m in self.markers_added]
        changes += [f"marker {m!r} removed" for m in self.markers_removed]
        head = (f"{'would write' if not self.written else 'wrote'} {self.target}"
                + ("" if self.target == self.source else f" from {self.source}"))
        tail = (f"{self.tensors_checked} tensors' bytes checked unchanged" if self.written else "nothing written")
        return "\n".join([head, *[f"  {c}" for c in changes or ["(no change: the file already says this)"]],
                          f"  {tail}"])


def _bool_word(value: bool) -> str:
    return "True" if value else "False"


def planned_metadata(metadata: dict, prediction_type: str | None, zero_terminal_snr: bool | None) -> dict:
    """`metadata` with the stamp's keys set; every other key kept as it is."""
    new = dict(metadata)
    if prediction_type is not None:
        new["modelspec.prediction_type"] = _MODELSPEC_WORD[prediction_type]
        if "modelspec.predict_key" in new:
            new["modelspec.predict_key"] = _MODELSPEC_WORD[prediction_type]
        if "ss_v_parameterization" in new:
            new["ss_v_parameterization"] = _bool_word(prediction_type == "v_prediction")
    if zero_terminal_snr is not None:
        new["ss_zero_terminal_snr"] = _bool_word(zero_terminal_snr)
    return new


def _check_choices(prediction_type, zero_terminal_snr, path):
    if prediction_type not in (None, "epsilon", "v_prediction"):
        raise ValueError(f"prediction_type must be 'epsilon', 'v_prediction' or None (leave it), got {prediction_type!r}")
    if zero_terminal_snr not in (None, True, False):
        raise ValueError(f"zero_terminal_snr must be True, False or None (leave it), got {zero_terminal_snr!r}")
    if prediction_type is None and zero_terminal_snr is None:
        raise ValueError(f"{path}: nothing to stamp: set the prediction type, zero terminal SNR, or both")


def _marker_plan(tensors: dict, prediction: str | None, zero_snr: bool | None, final: tuple, markers: bool, path):
    """(markers to add, markers to remove): remove those the stamp contradicts; with `markers`, add those that the
    file's final state (`final`: the stamp over what the file already states) calls for."""
    def on(kind, zsnr):
        return {"v_pred": None if kind is None else kind == "v_prediction", "ztsnr": zsnr}

    add = tuple(m for m, yes in on(*final).items() if markers and yes and m not in tensors)
    remove = tuple(m for m, yes in on(prediction, zero_snr).items() if yes is False and m in tensors)
    for m in remove:
        start, end = tensors[m].get("data_offsets", (0, 0))
        if end != start:
            raise StampError(f"{path}: the marker tensor {m!r} contradicts the stamp but holds {end - start} bytes "
                             "(markers are empty); removing it would change the data region, so this is refused")
    return add, remove


def write_checkpoint_flags(path, prediction_type: str | None = None, zero_terminal_snr: bool | None = None, *,
                           markers: bool = False, out=None, in_place: bool = False,
                           dry_run: bool = False) -> StampResult:
    """Stamp the safetensors file at `path` (see the module's docstring) into `out`, or over itself with
    in_place=True; dry_run=True says what would change and writes nothing. Exactly one of out / in_place.

    ValueError for a bad choice; EpsilonAtZeroSNRError for ε with zero terminal SNR (undefined at SNR = 0, §6);
    SafetensorsError / StampError naming the file for anything the file system or the file refuses.
    """
    path = Path(path)
    _check_choices(prediction_type, zero_terminal_snr, path)
    if (out is None) == (not in_place):
        raise ValueError("name where to write: out=NEW_PATH, or in_place=True to replace the file")
    target = path if in_place else Path(out)
    flags = read_checkpoint_flags(path)
    if flags.form != "safetensors":
        raise StampError(f"{path} is a diffusers folder: set prediction_type / rescale_betas_zero_snr in its "
                         "scheduler/scheduler_config.json instead")
    final_kind = prediction_type or flags.prediction_type
    final_zsnr = flags.zero_terminal_snr if zero_terminal_snr is None else zero_terminal_snr
    if final_kind == "epsilon" and final_zsnr:
        raise EpsilonAtZeroSNRError(f"Refused to stamp {path} as epsilon with zero terminal SNR.")
    h = read_header_details(path)
    duplicated = [key for where, key, _ in h.duplicates if where == ""]
    if duplicated:
        raise StampError(f"{path}: the header names tensor {duplicated[0]!r} more than once; the file is damaged, "
                         "and which copy a reader takes is undefined, so it is not stamped")
    add, remove = _marker_plan(h.tensors, prediction_type, zero_terminal_snr, (final_kind, final_zsnr), markers, path)
    metadata = planned_metadata(h.metadata, prediction_type, zero_terminal_snr)
    changes = tuple((k, h.metadata.get(k), v) for k, v in metadata.items() if h.metadata.get(k) != v)
    tensors = {k: v for k, v in h.tensors.items() if k not in remove}
    data_length = h.file_size - h.data_start
    for m in add:
        tensors[m] = {"dtype": "F32", "shape": [0], "data_offsets": [data_length, data_length]}
    raw = json.dumps({"__metadata__": metadata, **tensors} if metadata else tensors,
                     separators=(",", ":"), ensure_ascii=False).encode()
    raw += b" " * (-len(raw) % 8)  # the reference implementation aligns the data to 8 bytes
    size = 8 + len(raw) + data_length
    result = {"source": str(path), "target": str(target), "metadata_changes": changes, "markers_added": add,
              "markers_removed": remove, "size": size}
    _check_target(path, target, in_place, size)
    if dry_run or (in_place and not (changes or add or remove)):  # nothing asked that the file does not say
        return StampResult(written=False, tensors_checked=0, **result)
    ranges = sorted((tuple(v["data_offsets"]) for k, v in h.tensors.items() if k not in remove and
                     isinstance(v, dict) and "data_offsets" in v))
    checked = _write_atomically(path, target, struct.pack("<Q", len(raw)) + raw, h.data_start, data_length, ranges)
    return StampResult(written=True, tensors_checked=checked, **result)


def _check_target(path: Path, target: Path, in_place: bool, size: int) -> None:
    folder = target.parent
    if not folder.is_dir():
        raise StampError(f"{target}: the folder {folder} does not exist")
    if not in_place:
        if target.exists() or target.is_symlink():
            raise StampError(f"{target} already exists; choose a new name, or stamp the file itself with --in-place")
    else:
        mode = os.stat(path).st_mode
        if not mode & 0o222:
            raise StampError(f"{path} is read-only (mode {stat.filemode(mode)}); make it writable (chmod u+w) or "
                             "write a copy with --out")
    if not os.stat(folder).st_mode & 0o222 or not os.access(folder, os.W_OK):  # mode bits: root passes os.access
        raise StampError(f"{target}: the folder {folder} is read-only; the stamp writes a temporary file beside the "
                         "target, so write the copy into a writable folder with --out")
    free = shutil.disk_usage(folder).free
    if free < size + _SPARE_BYTES:
        raise StampError(f"{target}: the stamped file needs {size:,} bytes (+{_SPARE_BYTES:,} spare) in {folder}, "
                         f"which has {free:,} bytes free; free some space or write elsewhere with --out")


def _write_atomically(path: Path, target: Path, head: bytes, data_start: int, data_length: int, ranges) -> int:
    tmp = target.with_name(f".{target.name}.stamp-{os.getpid()}.tmp")
    try:
        with open(path, "rb") as src, open(tmp, "xb") as dst, ThreadPoolExecutor(1) as pool:
            dst.write(head)
            dst.flush()
            _copy_data(src, dst, data_start, len(head), data_length)
            # the disk write (fsync) runs beside the comparison, which reads both files from the page cache: the
            # check costs less than one checksum pass and overlaps the write-back instead of following it
            synced = pool.submit(os.fsync, dst.fileno())
            with open(tmp, "rb") as check:
                bad = _first_difference(src, check, data_start, len(head), data_length)
            synced.result()
        if bad is not None:
            where = bisect.bisect_right([lo for lo, _ in ranges], bad) - 1
            what = (f"tensor bytes {ranges[where]}" if where >= 0 and bad < ranges[where][1]
                    else "bytes between tensors")
            raise StampError(f"{target}: {what} differ after writing (first at data offset {bad}); the disk or the "
                             "file system is failing, or the source changed while being copied; nothing was replaced")
        shutil.copymode(path, tmp)
        os.replace(tmp, target)
        _fsync_folder(target.parent)
    except OSError as err:
        raise StampError(f"{target}: writing failed ({err.strerror or err}); the original {path} is unchanged") \
            from None
    finally:
        if tmp.exists():
            tmp.unlink()
    return len(ranges)


def _copy_data(src, dst, src_start: int, dst_start: int, length: int) -> None:
    """Copy `length` bytes from src at `src_start` to dst at `dst_start`: in the kernel when it can (no copy through
    Python; a file system with reflinks shares the blocks), else through a buffer."""
    done = 0
    try:
        while done < length:
            n = os.copy_file_range(src.fileno(), dst.fileno(), length - done, src_start + done, dst_start + done)
            if not n:
                raise StampError(f"{src.name}: the file ended {length - done} bytes early; it changed while being read")
            done += n
        return
    except (AttributeError, OSError) as err:  # no copy_file_range here, or not between these two file systems
        if done or (isinstance(err, OSError) and err.errno not in _NO_KERNEL_COPY):
            raise
    buf = bytearray(_CHUNK)
    view = memoryview(buf)
    src.seek(src_start)
    dst.seek(dst_start)
    while done < length:
        n = src.readinto(view[:min(_CHUNK, length - done)])
        if not n:
            raise StampError(f"{src.name}: the file ended {length - done} bytes early; it changed while being read")
        dst.write(view[:n])
        done += n
    dst.flush()


def _first_difference(a, b, a_start: int, b_start: int, length: int) -> int | None:
    """The first offset (from the starts) where `length` bytes of `a` and `b` differ, or None: the bytes themselves
    compared, which is stronger than equal checksums and, in Python, faster than computing one (bytearray equality
    is one memcmp; a memoryview's compares item by item, three times slower)."""
    bufs = [bytearray(_CHUNK), bytearray(_CHUNK)]
    a.seek(a_start)
    b.seek(b_start)
    pos = 0
    while pos < length:
        want = min(_CHUNK, length - pos)
        if want < _CHUNK:
            bufs = [bytearray(want), bytearray(want)]
        na, nb = a.readinto(bufs[0]), b.readinto(bufs[1])
        if na != want or nb != want:
            return pos + min(na, nb)
        if bufs[0] != bufs[1]:
            lo, hi = 0, want  # halve the chunk until one byte differs
            while hi - lo > 1:
                mid = (lo + hi) // 2
                lo, hi = (lo, mid) if bufs[0][lo:mid] != bufs[1][lo:mid] else (mid, hi)
            return pos + lo
        pos += want
    return None


def _fsync_folder(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return  # a platform that cannot open folders: the rename is still atomic
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
