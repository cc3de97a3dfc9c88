"""JSON round trips of the toy's frozen dataclass configs (training recipes, the classifier's), as the manifest and
the resumable checkpoints store them."""
from __future__ import annotations

import json
from dataclasses import asdict, fields


class JsonConfig:
    """to_json / from_json for a dataclass: sorted keys; keys this version does not know are dropped (a manifest
    written by another version still loads); JSON lists become the tuples the fields hold."""

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str):
        known = {f.name for f in fields(cls)}
        raw = {k: tuple(v) if isinstance(v, list) else v for k, v in json.loads(text).items() if k in known}
        return cls(**raw)
