"""PATCH bodies the API server accepts: JSON merge patch (RFC 7386), strategic merge patch
(treated as a merge patch: the fields we serve have no list merge keys) and JSON patch
(RFC 6902)."""

from __future__ import annotations

import copy
from typing import Any

MERGE_TYPES = ("application/merge-patch+json", "application/strategic-merge-patch+json")
JSON_PATCH = "application/json-patch+json"
SUPPORTED = (*MERGE_TYPES, JSON_PATCH)


class PatchError(Exception):
    """The patch cannot be applied; the message names the operation and why."""


def merge_patch(target: Any, patch: Any) -> Any:
    """Apply an RFC 7386 merge patch: objects merge, null removes, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise PatchError(f"path {path!r} is not a JSON pointer (must start with '/')")
    return [part.replace("~1", "/").replace("~0", "~") for part in path[1:].split("/")]


def _walk(document: Any, parts: list[str], path: str) -> Any:
    """The node that ``parts`` lead to from ``document``; PatchError when one is missing."""
    node = document
    for part in parts:
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            raise PatchError(f"path {path!r} does not exist")
    return node


def _parent(document: Any, parts: list[str], path: str) -> tuple[Any, str]:
    return _walk(document, parts[:-1], path), parts[-1]


def _get(document: Any, path: str) -> Any:
    return _walk(document, _pointer(path), path)


def _remove(document: Any, path: str) -> Any:
    parts = _pointer(path)
    if not parts:
        raise PatchError("cannot remove the whole document")
    parent, key = _parent(document, parts, path)
    if isinstance(parent, dict) and key in parent:
        return parent.pop(key)
    if isinstance(parent, list) and key.isdigit() and int(key) < len(parent):
        return parent.pop(int(key))
    raise PatchError(f"path {path!r} does not exist")


def _add(document: Any, path: str, value: Any, *, replace: bool) -> Any:
    parts = _pointer(path)
    if not parts:
        return value
    parent, key = _parent(document, parts, path)
    if isinstance(parent, dict):
        if replace and key not in parent:
            raise PatchError(f"replace: path {path!r} does not exist")
        parent[key] = value
    elif isinstance(parent, list):
        if key == "-" and not replace:
            parent.append(value)
        elif key.isdigit() and int(key) <= len(parent) - (1 if replace else 0):
            if replace:
                parent[int(key)] = value
            else:
                parent.insert(int(key), value)
        else:
            raise PatchError(f"path {path!r}: index out of range")
    else:
        raise PatchError(f"path {path!r}: parent is not an object or array")
    return document


def json_patch(document: Any, operations: Any) -> Any:
    """Apply an RFC 6902 JSON patch (add, remove, replace, move, copy, test) to a copy."""
    if not isinstance(operations, list):
        raise PatchError(f"a JSON patch must be an array of operations, got {type(operations).__name__}")
    result = copy.deepcopy(document)
    for operation in operations:
        if not isinstance(operation, dict) or not isinstance(operation.get("path"), str):
            raise PatchError(f"operation {operation!r} needs an 'op' and a string 'path'")
        op, path = operation.get("op"), operation["path"]
        if op in ("add", "replace", "test") and "value" not in operation:
            raise PatchError(f"operation {op!r} on {path!r} needs a 'value'")
        if op == "add":
            result = _add(result, path, copy.deepcopy(operation["value"]), replace=False)
        elif op == "replace":
            result = _add(result, path, copy.deepcopy(operation["value"]), replace=True)
        elif op == "remove":
            _remove(result, path)
        elif op == "test":
            if _get(result, path) != operation["value"]:
                raise PatchError(f"test failed: {path!r} is not {operation['value']!r}")
        elif op in ("move", "copy"):
            source = operation.get("from")
            if not isinstance(source, str):
                raise PatchError(f"operation {op!r} on {path!r} needs a string 'from'")
            value = _remove(result, source) if op == "move" else copy.deepcopy(_get(result, source))
            result = _add(result, path, value, replace=False)
        else:
            raise PatchError(f"unknown op {op!r}; allowed: add, remove, replace, move, copy, test")
    return result
