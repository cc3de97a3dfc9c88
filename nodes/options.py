"""The one check of a dropdown (Combo) value, for every node (no ComfyUI import).

ComfyUI checks a V3 node's Combo values only in its frontend: a prompt posted to /prompt reaches `execute` with any
string (0.3.64), so each node checks its own before using it.
"""
from __future__ import annotations


def check_option(name: str, value, options) -> str:
    """`value` if it is one of `options`; else ValueError naming the value, the options and the fix."""
    options = tuple(options)
    if not isinstance(value, str) or value not in options:
        near = [o for o in options if isinstance(value, str) and o.lower() == value.strip().lower()]
        hint = f" (did you mean {near[0]!r}? the options are case-sensitive)" if near else ""
        raise ValueError(f"{name} = {value!r} is not one of its options {', '.join(map(repr, options))}{hint}; "
                         "pick one in the node's dropdown, or send one of these exact strings in an API prompt")
    return value
