"""An MCP tool's JSON schema, simplified to what the OpenAI `tools` format carries everywhere.

Pure function. Providers differ in what they accept beyond the common core (`$ref`, `allOf`,
`oneOf`, `const`, type lists with `null`, unknown keywords); rather than drop a tool whose schema
uses them, they are rewritten: references inlined (a recursive one becomes a plain object),
`allOf` merged, `oneOf` read as `anyOf`, a `null` alternative dropped (the field stays optional),
`const` as a one-value `enum`. The root is always an object with `properties`.
"""

from __future__ import annotations

from typing import Any

MAX_DEPTH = 12
_KEEP = frozenset({
    "type", "properties", "required", "items", "enum", "description", "anyOf", "default",
    "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf", "minLength",
    "maxLength", "pattern", "format", "minItems", "maxItems", "uniqueItems",
    "additionalProperties",
})


def simplify_schema(schema: Any) -> dict[str, Any]:
    """A copy of `schema` that any OpenAI-compatible server accepts as `parameters`."""
    if not isinstance(schema, dict):
        return {"type": "object", "properties": {}}
    defs = {**_mapping(schema.get("definitions")), **_mapping(schema.get("$defs"))}
    out = _node(schema, defs, 0, frozenset())
    if out.get("type") != "object" and "anyOf" in out:  # alternatives of objects: one object
        out = _union_of_objects(out)
    if out.get("type") != "object":
        described = {"description": out["description"]} if "description" in out else {}
        return {"type": "object", "properties": {}, **described}
    out.setdefault("properties", {})
    return out


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _node(node: Any, defs: dict[str, Any], depth: int, refs: frozenset[str]) -> dict[str, Any]:
    if not isinstance(node, dict):
        return {}
    if depth > MAX_DEPTH:
        return _plain(node)
    ref = node.get("$ref")
    if isinstance(ref, str):
        name = ref.rsplit("/", 1)[-1]
        target = defs.get(name) if ref.startswith(("#/$defs/", "#/definitions/")) else None
        if target is None or name in refs:  # unknown or recursive: stop here
            return _plain(node)
        merged = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
        return _node(merged, defs, depth + 1, refs | {name})
    node = dict(node)
    if isinstance(node.get("allOf"), list):
        parts = [_node(p, defs, depth + 1, refs) for p in node.pop("allOf")]
        node = _merge([*parts, {k: v for k, v in node.items()}])
    alternatives = node.pop("anyOf", None) or node.pop("oneOf", None)
    if "const" in node:
        node["enum"] = [node.pop("const")]
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key not in _KEEP:
            continue
        if key == "properties" and isinstance(value, dict):
            out[key] = {str(k): _node(v, defs, depth + 1, refs) for k, v in value.items()}
        elif key == "items":
            first = value[0] if isinstance(value, list) and value else value
            out[key] = _node(first, defs, depth + 1, refs)
        elif key == "additionalProperties":
            out[key] = value if isinstance(value, bool) else _node(value, defs, depth + 1, refs)
        elif key == "type" and isinstance(value, list):
            kinds = [t for t in value if t != "null"]
            if kinds:
                out[key] = kinds[0] if len(kinds) == 1 else kinds
        elif key == "required" and isinstance(value, list):
            out[key] = [r for r in value if isinstance(r, str)]
        else:
            out[key] = value
    if isinstance(alternatives, list):
        kept = [_node(a, defs, depth + 1, refs) for a in alternatives]
        kept = [a for a in kept if a.get("type") != "null"]
        if len(kept) == 1:
            out = {**kept[0], **out}
        elif kept:
            out["anyOf"] = kept
    if "required" in out and isinstance(out.get("properties"), dict):
        out["required"] = [r for r in out["required"] if r in out["properties"]]
    return out


def _plain(node: dict[str, Any]) -> dict[str, Any]:
    """What is left of a node we do not follow: an object, with its description."""
    out: dict[str, Any] = {"type": "object"}
    if isinstance(node.get("description"), str):
        out["description"] = node["description"]
    return out


def _merge(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """`allOf`: properties and required lists joined, other keys first one wins."""
    out: dict[str, Any] = {}
    for part in parts:
        for key, value in part.items():
            if key == "properties" and isinstance(value, dict):
                out.setdefault("properties", {}).update(value)
            elif key == "required" and isinstance(value, list):
                out["required"] = list(dict.fromkeys([*out.get("required", []), *value]))
            else:
                out.setdefault(key, value)
    return out


def _union_of_objects(node: dict[str, Any]) -> dict[str, Any]:
    """A root `anyOf` of objects: every property offered, only the common ones required."""
    alternatives = [a for a in node["anyOf"] if a.get("type") == "object"]
    if not alternatives:
        return node
    properties: dict[str, Any] = {}
    for alt in alternatives:
        for key, value in alt.get("properties", {}).items():
            properties.setdefault(key, value)
    required = set.intersection(*(set(a.get("required", [])) for a in alternatives))
    out: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        out["required"] = [k for k in properties if k in required]
    if "description" in node:
        out["description"] = node["description"]
    return out
