"""`simplify_schema`: MCP tool schemas rewritten to what every OpenAI-compatible server takes."""

from __future__ import annotations

from typing import Any

import pytest

from heavy_engine.tools.mcp import simplify_schema

OBJ: dict[str, Any] = {"type": "object", "properties": {}}


@pytest.mark.parametrize(("schema", "expected"), [
    # a plain object keeps its properties and required list; titles go
    ({"type": "object", "title": "echoArguments", "required": ["text"],
      "properties": {"text": {"type": "string", "title": "Text"}}},
     {"type": "object", "required": ["text"], "properties": {"text": {"type": "string"}}}),
    # $ref into $defs is inlined; `X | None` becomes an optional X
    ({"type": "object", "$defs": {"W": {"type": "object", "properties": {
        "end": {"anyOf": [{"type": "string"}, {"type": "null"}], "default": None}}}},
      "properties": {"w": {"$ref": "#/$defs/W", "description": "window"}}},
     {"type": "object", "properties": {"w": {"type": "object", "description": "window",
                                             "properties": {"end": {"type": "string",
                                                                    "default": None}}}}}),
    # a recursive reference stops as a plain object (with its description)
    ({"type": "object", "definitions": {"N": {"type": "object", "properties": {
        "child": {"$ref": "#/definitions/N", "description": "next"}}}},
      "properties": {"n": {"$ref": "#/definitions/N"}}},
     {"type": "object", "properties": {"n": {"type": "object", "properties": {
         "child": {"type": "object", "description": "next"}}}}}),
    # allOf merges; oneOf reads as anyOf; const is a one-value enum
    ({"type": "object", "properties": {
        "a": {"allOf": [{"type": "object", "properties": {"x": {"type": "integer"}},
                         "required": ["x"]},
                        {"properties": {"y": {"const": "fixed"}}}]},
        "b": {"oneOf": [{"type": "string"}, {"type": "integer"}]}}},
     {"type": "object", "properties": {
         "a": {"type": "object", "properties": {"x": {"type": "integer"},
                                                "y": {"enum": ["fixed"]}}, "required": ["x"]},
         "b": {"anyOf": [{"type": "string"}, {"type": "integer"}]}}}),
    # type lists lose null; unknown keywords go; required names only real properties
    ({"type": "object", "$schema": "https://json-schema.org/draft/2020-12/schema",
      "required": ["q", "ghost"], "properties": {"q": {"type": ["string", "null"],
                                                       "examples": ["x"], "maxLength": 9}}},
     {"type": "object", "required": ["q"], "properties": {"q": {"type": "string",
                                                                "maxLength": 9}}}),
    # tuple-form items take the first schema
    ({"type": "object", "properties": {"p": {"type": "array", "items": [{"type": "number"}]}}},
     {"type": "object", "properties": {"p": {"type": "array", "items": {"type": "number"}}}}),
    # an object with no properties gets an empty mapping
    ({"type": "object"}, OBJ),
    # a root that is not an object (2026 schemas may be anything) becomes an empty object
    ({"type": "string", "description": "a query"},
     {"type": "object", "properties": {}, "description": "a query"}),
    # a root anyOf of objects: all properties offered, only the common ones required
    ({"anyOf": [{"type": "object", "properties": {"id": {"type": "string"}}, "required": ["id"]},
                {"type": "object", "properties": {"id": {"type": "string"},
                                                  "key": {"type": "string"}},
                 "required": ["id", "key"]}]},
     {"type": "object", "properties": {"id": {"type": "string"}, "key": {"type": "string"}},
      "required": ["id"]}),
    # not a schema at all
    (None, OBJ),
    (["a"], OBJ),
])
def test_simplify(schema: Any, expected: dict[str, Any]) -> None:
    assert simplify_schema(schema) == expected


def test_deep_nesting_is_cut_not_recursed_forever() -> None:
    node: dict[str, Any] = {"type": "string"}
    for _ in range(200):
        node = {"type": "object", "properties": {"x": node}}
    out = simplify_schema(node)
    depth = 0
    while "properties" in out:
        out, depth = out["properties"]["x"], depth + 1
    assert 10 <= depth <= 14 and out == {"type": "object"}
