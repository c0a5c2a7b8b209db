"""JSON Schema -> Gemini's schema dialect: what a tool or a structured answer sends."""

from __future__ import annotations

from enum import Enum
from typing import Any, Literal

import pytest
from pydantic import BaseModel, Field

from langchain_bhumi.protocols.gemini.schema import (
    UnsupportedSchema,
    is_empty_object,
    json_schema_for_gemini,
    to_gemini_schema,
)


class Unit(str, Enum):
    CELSIUS = "celsius"
    FAHRENHEIT = "fahrenheit"


class Place(BaseModel):
    """A place."""

    city: str = Field(description="City name")
    country: str | None = None


class Forecast(BaseModel):
    """Get the forecast."""

    place: Place
    unit: Unit = Unit.CELSIUS
    days: int | None = Field(default=None, ge=1, le=10, description="How many days")
    stops: list[Place] = Field(default_factory=list)
    detail: Literal["short", "long"] | None = None


PLACE = {
    "type": "OBJECT",
    "description": "A place.",
    "properties": {
        "city": {"type": "STRING", "description": "City name"},
        "country": {"type": "STRING", "nullable": True},
    },
    "required": ["city"],
}
FORECAST = {
    "type": "OBJECT",
    "description": "Get the forecast.",
    "properties": {
        "place": PLACE,
        "unit": {"type": "STRING", "format": "enum", "enum": ["celsius", "fahrenheit"]},
        "days": {
            "type": "INTEGER",
            "nullable": True,
            "description": "How many days",
            "minimum": 1,
            "maximum": 10,
        },
        "stops": {"type": "ARRAY", "items": PLACE},
        "detail": {
            "type": "STRING",
            "nullable": True,
            "format": "enum",
            "enum": ["short", "long"],
        },
    },
    "required": ["place"],
}


def test_a_pydantic_model_with_defs_refs_optional_enums_and_nesting() -> None:
    """`$defs`/`$ref` inlined, `Optional` as `nullable`, enums as string enums, nested
    objects and arrays of objects kept, `title`/`default` dropped."""
    schema = Forecast.model_json_schema()
    assert "$defs" in schema and schema["properties"]["place"] == {"$ref": "#/$defs/Place"}
    assert to_gemini_schema(schema) == FORECAST


def test_a_structured_answer_keeps_the_declared_field_order() -> None:
    converted = to_gemini_schema(Forecast.model_json_schema(), response=True)
    assert converted["propertyOrdering"] == ["place", "unit", "days", "stops", "detail"]
    assert converted["properties"]["place"]["propertyOrdering"] == ["city", "country"]


@pytest.mark.parametrize(
    ("schema", "expected"),
    [
        ({"type": ["string", "null"]}, {"type": "STRING", "nullable": True}),
        ({"const": "fixed"}, {"type": "STRING", "format": "enum", "enum": ["fixed"]}),
        (
            {"type": "integer", "enum": [1, 2, 3], "description": "Level."},
            {"type": "INTEGER", "description": "Level. One of: 1, 2, 3."},
        ),
        (
            {"enum": ["a", None]},
            {"type": "STRING", "nullable": True, "format": "enum", "enum": ["a"]},
        ),
        (
            {"type": "string", "format": "uri", "maxLength": 9, "pattern": "^h"},
            {"type": "STRING", "maxLength": 9, "pattern": "^h"},
        ),
        ({"type": "string", "format": "date-time"}, {"type": "STRING", "format": "date-time"}),
        (
            {"type": "number", "exclusiveMinimum": 0, "multipleOf": 2, "default": 4},
            {"type": "NUMBER"},
        ),
        (
            {"anyOf": [{"type": "string"}, {"type": "integer"}], "description": "Id."},
            {"anyOf": [{"type": "STRING"}, {"type": "INTEGER"}], "description": "Id."},
        ),
        (
            {"oneOf": [{"type": "string"}, {"type": "integer"}, {"type": "null"}]},
            {"anyOf": [{"type": "STRING"}, {"type": "INTEGER"}], "nullable": True},
        ),
        (
            {"type": ["string", "integer"]},
            {"anyOf": [{"type": "STRING"}, {"type": "INTEGER"}]},
        ),
        (  # OpenAPI / Gemini style input passes through
            {"type": "OBJECT", "properties": {"a": {"type": "STRING", "nullable": True}}},
            {"type": "OBJECT", "properties": {"a": {"type": "STRING", "nullable": True}}},
        ),
    ],
)
def test_keyword_mapping(schema: dict[str, Any], expected: dict[str, Any]) -> None:
    assert to_gemini_schema(schema) == expected


def test_unsupported_keywords_are_dropped_and_required_names_must_exist() -> None:
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "x",
        "title": "T",
        "type": "object",
        "additionalProperties": False,
        "properties": {"a": {"type": "boolean", "examples": [True], "title": "A"}},
        "required": ["a", "ghost"],
    }
    assert to_gemini_schema(schema) == {
        "type": "OBJECT",
        "properties": {"a": {"type": "BOOLEAN"}},
        "required": ["a"],
    }


def test_all_of_merges_objects_and_ref_siblings_override() -> None:
    schema = {
        "$defs": {"Base": {"type": "object", "properties": {"a": {"type": "string"}}}},
        "type": "object",
        "properties": {
            "x": {"allOf": [{"$ref": "#/$defs/Base"}], "description": "Wrapped."},
            "y": {"$ref": "#/$defs/Base", "description": "Sibling wins."},
        },
    }
    converted = to_gemini_schema(schema)
    assert converted["properties"]["x"] == {
        "type": "OBJECT",
        "description": "Wrapped.",
        "properties": {"a": {"type": "STRING"}},
    }
    assert converted["properties"]["y"]["description"] == "Sibling wins."


class Node(BaseModel):
    name: str
    children: list[Node] = []


@pytest.mark.parametrize(
    ("schema", "reason"),
    [
        (Node.model_json_schema(), "recursive"),
        (
            {"type": "object", "properties": {"m": {"type": "object", "additionalProperties": {}}}},
            "map",
        ),
        ({"type": "object", "properties": {"v": {}}}, "any type"),
        ({"type": "object", "properties": {"v": {"type": "array"}}}, "without an item"),
        ({"type": "object", "properties": {"v": {"type": "object"}}}, "without properties"),
        (
            {"type": "array", "prefixItems": [{"type": "string"}], "items": {"type": "string"}},
            "prefixItems",
        ),
        ({"$ref": "#/$defs/Missing"}, "unresolvable"),
    ],
)
def test_schemas_that_would_lose_meaning_are_refused(schema: dict[str, Any], reason: str) -> None:
    with pytest.raises(UnsupportedSchema, match=reason):
        to_gemini_schema(schema)


def test_json_schema_form_drops_only_the_dialect_marker() -> None:
    schema = {"$schema": "x", "$defs": {"A": {"type": "string"}}, "$ref": "#/$defs/A"}
    assert json_schema_for_gemini(schema) == {
        "$defs": {"A": {"type": "string"}},
        "$ref": "#/$defs/A",
    }


@pytest.mark.parametrize(
    ("schema", "empty"),
    [
        ({}, True),
        ({"type": "object", "properties": {}}, True),
        ({"type": "object", "properties": {}, "additionalProperties": False}, True),
        ({"type": "object", "additionalProperties": {"type": "string"}}, False),
        ({"type": "object", "properties": {"a": {"type": "string"}}}, False),
    ],
)
def test_empty_parameter_objects(schema: dict[str, Any], empty: bool) -> None:
    assert is_empty_object(schema) is empty
