"""Find the line of a server error's field path in a pretty-printed JSON document.

The server names the offending field of a rejected flow with a path such as
``children[2].opts.attempts``. ``pretty`` prints a value with two-space
indentation (like ``json.dumps(indent=2)``) and records the line on which
every path starts, so the editor can underline that line. A path to a field
that is missing (``children[0].name`` when ``name`` was left out) falls back
to its nearest present ancestor.
"""

from __future__ import annotations

import json
import re
from typing import Any

_TOKEN = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def parse_path(path: str) -> list[str | int]:
    parts: list[str | int] = []
    for name, index in _TOKEN.findall(path):
        parts.append(int(index) if index else name)
    return parts


def canonical(parts: list[str | int]) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


def pretty(value: Any) -> tuple[str, dict[str, int]]:
    """The indented JSON text and ``{path: 0-based line}`` for every node."""
    lines: list[str] = []
    where: dict[str, int] = {}
    # (value, path parts, indent, prefix, suffix): an explicit stack, since
    # flow trees nest deeper than Python's recursion limit allows.
    stack: list[tuple[Any, list[str | int] | None, int, str, str]] = [(value, [], 0, "", "")]
    while stack:
        item, parts, indent, prefix, suffix = stack.pop()
        pad = "  " * indent
        if parts is None:  # a closing bracket
            lines.append(pad + item + suffix)
            continue
        where[canonical(parts)] = len(lines)
        if isinstance(item, dict) and item:
            lines.append(pad + prefix + "{")
            stack.append(("}", None, indent, "", suffix))
            keys = list(item)
            for i in range(len(keys) - 1, -1, -1):
                comma = "," if i < len(keys) - 1 else ""
                key = keys[i]
                stack.append((item[key], [*parts, key], indent + 1, json.dumps(key) + ": ", comma))
        elif isinstance(item, list) and item:
            lines.append(pad + prefix + "[")
            stack.append(("]", None, indent, "", suffix))
            for i in range(len(item) - 1, -1, -1):
                comma = "," if i < len(item) - 1 else ""
                stack.append((item[i], [*parts, i], indent + 1, "", comma))
        else:
            lines.append(pad + prefix + json.dumps(item, ensure_ascii=False) + suffix)
    return "\n".join(lines), where


def line_of(where: dict[str, int], path: str | None) -> int:
    """The line of ``path``, or of its nearest present ancestor (root: 0)."""
    parts = parse_path(path or "")
    while parts:
        key = canonical(parts)
        if key in where:
            return where[key]
        parts.pop()
    return 0
