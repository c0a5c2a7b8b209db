"""JSON Schema -> the schema dialect Gemini accepts for tools and structured output.

Gemini takes parameter and response schemas two ways:

- `parameters` / `responseSchema`: an OpenAPI 3.0 subset (`type` in capitals, `nullable`,
  `enum` of strings, `anyOf`, `items`, `properties`, `required`, a few formats and
  bounds). Every Gemini endpoint and model generation accepts it: AI Studio `v1` and
  `v1beta`, Vertex AI, and the older models. It rejects what it does not know (`$ref`,
  `$defs`, `additionalProperties`, `default`, `title`, `const`, unknown formats) with a
  400 naming the field.
- `parametersJsonSchema` / `responseJsonSchema`: real JSON Schema (`$ref`/`$defs`,
  `additionalProperties`, ...), accepted only by newer endpoints and models.

`to_gemini_schema` converts to the first when nothing of meaning is lost: `$ref`s are
inlined, `Optional[X]` (`anyOf [X, null]`) becomes `X` with `nullable: true`, `const`
becomes a one-value enum, string enums stay enums, keywords that only tighten validation
(`additionalProperties: false`, `default`, `title`, `examples`, `exclusiveMinimum`,
unknown formats, ...) are dropped. When meaning would be lost it raises
`UnsupportedSchema`: a recursive `$ref` (cannot be inlined), a free-form value (`{}`,
`Any`), a map (`dict[str, X]`: an object with `additionalProperties` and no properties),
an empty nested object, a tuple (`prefixItems`) or an array without `items`. Callers
then send the schema as JSON Schema instead (`json_schema_for_gemini`).

`from_gemini_schema` goes the other way, for the proxy's Gemini frontend: a client's
Gemini-style schema back to standard JSON Schema.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "UnsupportedSchema",
    "from_gemini_schema",
    "is_empty_object",
    "json_schema_for_gemini",
    "to_gemini_schema",
]

_TYPES = {
    "string": "STRING",
    "number": "NUMBER",
    "integer": "INTEGER",
    "boolean": "BOOLEAN",
    "array": "ARRAY",
    "object": "OBJECT",
    "null": "NULL",
}
_FORMATS = {
    "STRING": frozenset({"enum", "date-time"}),
    "INTEGER": frozenset({"int32", "int64"}),
    "NUMBER": frozenset({"float", "double"}),
}
# Bounds Gemini's Schema has, per type.
_BOUNDS = {
    "STRING": ("minLength", "maxLength", "pattern"),
    "INTEGER": ("minimum", "maximum"),
    "NUMBER": ("minimum", "maximum"),
    "ARRAY": ("minItems", "maxItems"),
    "OBJECT": ("minProperties", "maxProperties"),
}
_MAX_DEPTH = 64


class UnsupportedSchema(ValueError):
    """The schema cannot be expressed in Gemini's OpenAPI subset without losing meaning."""


def is_empty_object(schema: Any) -> bool:
    """A schema for an object with no properties at all (a tool without parameters)."""
    if not isinstance(schema, dict) or not schema:
        return not schema
    kind = schema.get("type")
    if kind not in (None, "object", "OBJECT"):
        return False
    if schema.get("properties") or schema.get("additionalProperties") not in (None, False):
        return False
    return not any(key in schema for key in ("anyOf", "oneOf", "allOf", "$ref", "items", "enum"))


def to_gemini_schema(schema: dict[str, Any], *, response: bool = False) -> dict[str, Any]:
    """`schema` (JSON Schema, OpenAPI or Gemini style) in Gemini's OpenAPI subset.

    Args:
        schema: The JSON schema of a tool's parameters or of a structured answer.
        response: Add `propertyOrdering` to objects, so that Gemini answers with the
            fields in the order the schema declares them (it sorts them otherwise).

    Raises:
        UnsupportedSchema: When the conversion would lose meaning (see the module doc).

    Example:
        ```python
        to_gemini_schema(
            {
                "type": "object",
                "properties": {"city": {"anyOf": [{"type": "string"}, {"type": "null"}]}},
            }
        )
        # {"type": "OBJECT", "properties": {"city": {"type": "STRING", "nullable": True}}}
        ```
    """
    defs: dict[str, Any] = {}
    for key in ("$defs", "definitions"):
        found = schema.get(key)
        if isinstance(found, dict):
            defs.update(found)
    return _Converter(defs, response).convert(schema, (), 0)


def from_gemini_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """A Gemini `Schema` (the OpenAPI subset, camelCase or snake_case) as JSON Schema.

    The reverse of `to_gemini_schema`, for the proxy's Gemini frontend: types in lower
    case (`TYPE_UNSPECIFIED` dropped), `nullable: true` as a `"null"` type (or an
    `anyOf` branch, and `null` among the `enum` values), `format: "enum"` and
    `propertyOrdering` dropped (JSON Schema has neither), `example` as `examples`, and
    integer bounds that arrive as strings (proto `int64`) as integers. Other keywords
    (`description`, `title`, `default`, `minimum`, `pattern`, ...) are the same in both
    and kept; unknown ones pass through.

    Raises:
        UnsupportedSchema: When the schema is not an object or is nested too deeply.

    Example:
        ```python
        from_gemini_schema(
            {"type": "OBJECT", "properties": {"city": {"type": "STRING", "nullable": True}}}
        )
        # {"type": "object", "properties": {"city": {"type": ["string", "null"]}}}
        ```
    """
    return _from_gemini(schema, 0)


_SNAKE_KEYS = {
    "any_of": "anyOf",
    "max_items": "maxItems",
    "min_items": "minItems",
    "max_length": "maxLength",
    "min_length": "minLength",
    "max_properties": "maxProperties",
    "min_properties": "minProperties",
    "property_ordering": "propertyOrdering",
}
_INTEGER_BOUNDS = frozenset(
    {"maxItems", "minItems", "maxLength", "minLength", "maxProperties", "minProperties"}
)


def _from_gemini(node: Any, depth: int) -> dict[str, Any]:
    if depth > _MAX_DEPTH:
        raise UnsupportedSchema("the schema is nested too deeply")
    if not isinstance(node, dict):
        raise UnsupportedSchema(f"a schema must be an object, got {node!r}")
    out: dict[str, Any] = {}
    nullable = False
    for raw_key, value in node.items():
        key = _SNAKE_KEYS.get(raw_key) or str(raw_key)
        if key == "type":
            if isinstance(value, str):
                if value.upper() != "TYPE_UNSPECIFIED":
                    out["type"] = value.lower()
            elif isinstance(value, list):
                out["type"] = [v.lower() if isinstance(v, str) else v for v in value]
            else:
                out["type"] = value
        elif key == "nullable":
            nullable = value is True
        elif (key == "format" and value == "enum") or key == "propertyOrdering":
            continue
        elif key == "example":
            out["examples"] = [value]
        elif key in ("properties", "$defs", "definitions") and isinstance(value, dict):
            out[key] = {name: _from_gemini(sub, depth + 1) for name, sub in value.items()}
        elif key == "items" and isinstance(value, dict):
            out[key] = _from_gemini(value, depth + 1)
        elif key in ("anyOf", "oneOf", "allOf") and isinstance(value, list):
            out[key] = [_from_gemini(branch, depth + 1) for branch in value]
        elif key in _INTEGER_BOUNDS and isinstance(value, str) and value.isdigit():
            out[key] = int(value)
        else:
            out[key] = value
    if nullable:
        kind = out.get("type")
        if isinstance(kind, str) and kind != "null":
            out["type"] = [kind, "null"]
        elif isinstance(kind, list) and "null" not in kind:
            out["type"] = [*kind, "null"]
        elif kind is None and isinstance(out.get("anyOf"), list):
            out["anyOf"] = [*out["anyOf"], {"type": "null"}]
        if isinstance(out.get("enum"), list) and None not in out["enum"]:
            out["enum"] = [*out["enum"], None]
    return out


_OPENAPI_TYPES = frozenset({"OBJECT", "ARRAY", "STRING", "NUMBER", "INTEGER", "BOOLEAN", "NULL"})


def lowercase_types(schema: Any) -> Any:
    """A JSON schema with Gemini's uppercase type names (`"OBJECT"`, as the google-genai
    `Type` enum writes them even inside `responseJsonSchema`) lowercased. Uppercase type
    names are never valid JSON Schema, so valid schemas pass through unchanged."""
    if isinstance(schema, dict):
        fixed = {k: lowercase_types(v) for k, v in schema.items()}
        kind = fixed.get("type")
        if isinstance(kind, str) and kind in _OPENAPI_TYPES:
            fixed["type"] = kind.lower()
        elif isinstance(kind, list):
            fixed["type"] = [t.lower() if t in _OPENAPI_TYPES else t for t in kind]
        return fixed
    if isinstance(schema, list):
        return [lowercase_types(item) for item in schema]
    return schema


def json_schema_for_gemini(schema: dict[str, Any]) -> dict[str, Any]:
    """`schema` as sent in `parametersJsonSchema`/`responseJsonSchema`: as is, without the
    `$schema` dialect marker (not a schema keyword Gemini knows)."""
    return {key: value for key, value in schema.items() if key != "$schema"}


class _Converter:
    __slots__ = ("defs", "response")

    def __init__(self, defs: dict[str, Any], response: bool) -> None:
        self.defs = defs
        self.response = response

    def convert(self, node: Any, refs: tuple[str, ...], depth: int) -> dict[str, Any]:
        if depth > _MAX_DEPTH:
            raise UnsupportedSchema("the schema is nested too deeply")
        if not isinstance(node, dict):
            raise UnsupportedSchema(f"a schema must be an object, got {node!r}")
        node, refs = self._resolve(node, refs)
        for key in ("anyOf", "oneOf"):
            if isinstance(node.get(key), list):
                return self._any_of(node, node[key], refs, depth)
        if isinstance(node.get("allOf"), list):
            return self.convert(self._merge_all_of(node), refs, depth + 1)

        result: dict[str, Any] = {}
        nullable = node.get("nullable") is True
        kind = node.get("type")
        if isinstance(kind, list):
            kinds = [k for k in kind if k != "null"]
            nullable = nullable or len(kinds) < len(kind)
            if len(kinds) != 1:
                branches = [{**node, "type": k} for k in kinds]
                return self._any_of(
                    node, branches + ([{"type": "null"}] if nullable else []), refs, depth
                )
            kind = kinds[0]
        values = self._enum_values(node)
        if values is not None and None in values:
            nullable = True
            values = [v for v in values if v is not None]
        gemini_type = self._type(kind, node, values)
        result["type"] = gemini_type
        if nullable and gemini_type != "NULL":
            result["nullable"] = True
        description = node.get("description")
        if isinstance(description, str) and description:
            result["description"] = description

        if values is not None:
            if values and all(isinstance(v, str) for v in values):
                result["type"] = "STRING"
                result["format"] = "enum"
                result["enum"] = values
            elif values:
                # Gemini's enum holds strings only; say the values instead of dropping them.
                allowed = ", ".join(_literal(v) for v in values)
                note = f"One of: {allowed}."
                result["description"] = f"{description} {note}" if description else note
        fmt = node.get("format")
        if (
            isinstance(fmt, str)
            and fmt in _FORMATS.get(result["type"], ())
            and "enum" not in result
        ):
            result["format"] = fmt
        for bound in _BOUNDS.get(result["type"], ()):
            if bound in node and isinstance(node[bound], int | float | str):
                result[bound] = node[bound]

        if result["type"] == "OBJECT":
            self._object(node, result, refs, depth)
        elif result["type"] == "ARRAY":
            if "prefixItems" in node:
                raise UnsupportedSchema("tuple arrays (prefixItems) have no Gemini equivalent")
            items = node.get("items")
            if not isinstance(items, dict) or not items:
                raise UnsupportedSchema("an array without an item schema")
            result["items"] = self.convert(items, refs, depth + 1)
        return result

    # --- pieces ------------------------------------------------------------------------

    def _resolve(
        self, node: dict[str, Any], refs: tuple[str, ...]
    ) -> tuple[dict[str, Any], tuple[str, ...]]:
        """Inline `$ref`s; sibling keywords (description, ...) override the target's."""
        while isinstance(node.get("$ref"), str):
            ref: str = node["$ref"]
            if ref in refs:
                raise UnsupportedSchema(f"recursive reference {ref!r} cannot be inlined")
            name = ref.rsplit("/", 1)[-1]
            if not ref.startswith(("#/$defs/", "#/definitions/")) or name not in self.defs:
                raise UnsupportedSchema(f"unresolvable reference {ref!r}")
            target = self.defs[name]
            if not isinstance(target, dict):
                raise UnsupportedSchema(f"reference {ref!r} is not a schema")
            siblings = {k: v for k, v in node.items() if k != "$ref"}
            node = {**target, **siblings}
            refs = (*refs, ref)
        return node, refs

    def _any_of(
        self,
        node: dict[str, Any],
        branches: list[Any],
        refs: tuple[str, ...],
        depth: int,
    ) -> dict[str, Any]:
        resolved = [self._resolve(b, refs)[0] if isinstance(b, dict) else b for b in branches]
        others = [b for b in resolved if not _is_null(b)]
        nullable = len(others) < len(resolved) or node.get("nullable") is True
        outer = {
            k: v for k, v in node.items() if k not in ("anyOf", "oneOf", "type", "nullable", "$ref")
        }
        if not others:
            return {"type": "NULL"}
        if len(others) == 1:
            branch = others[0]
            merged = {**branch, **outer} if isinstance(branch, dict) else branch
            if nullable and isinstance(merged, dict):
                merged = {**merged, "nullable": True}
            return self.convert(merged, refs, depth + 1)
        result: dict[str, Any] = {"anyOf": [self.convert(b, refs, depth + 1) for b in others]}
        if nullable:
            result["nullable"] = True
        description = outer.get("description")
        if isinstance(description, str) and description:
            result["description"] = description
        return result

    def _merge_all_of(self, node: dict[str, Any]) -> dict[str, Any]:
        merged: dict[str, Any] = {k: v for k, v in node.items() if k != "allOf"}
        properties: dict[str, Any] = dict(merged.get("properties") or {})
        required: list[str] = list(merged.get("required") or [])
        for part in node["allOf"]:
            if not isinstance(part, dict):
                raise UnsupportedSchema("allOf members must be schemas")
            part, _ = self._resolve(part, ())
            if len(node["allOf"]) > 1 and part.get("type", "object") not in ("object", "OBJECT"):
                raise UnsupportedSchema("allOf of non-object schemas has no Gemini equivalent")
            properties.update(part.get("properties") or {})
            required.extend(r for r in part.get("required") or () if r not in required)
            for key, value in part.items():
                if key not in ("properties", "required"):
                    merged.setdefault(key, value)
        if properties:
            merged["properties"] = properties
            merged.setdefault("type", "object")
        if required:
            merged["required"] = required
        return merged

    def _enum_values(self, node: dict[str, Any]) -> list[Any] | None:
        if "const" in node:
            return [node["const"]]
        values = node.get("enum")
        return list(values) if isinstance(values, list) else None

    def _type(self, kind: Any, node: dict[str, Any], values: list[Any] | None) -> str:
        if isinstance(kind, str):
            gemini_type = _TYPES.get(kind.lower())
            if gemini_type is None:
                raise UnsupportedSchema(f"unknown type {kind!r}")
            return gemini_type
        if isinstance(node.get("properties"), dict):
            return "OBJECT"
        if "items" in node:
            return "ARRAY"
        if values:
            return _TYPES.get(_json_type(values[0]), "STRING")
        raise UnsupportedSchema("a value of any type (no `type`) has no Gemini equivalent")

    def _object(
        self, node: dict[str, Any], result: dict[str, Any], refs: tuple[str, ...], depth: int
    ) -> None:
        properties = node.get("properties")
        if not isinstance(properties, dict) or not properties:
            extra = node.get("additionalProperties")
            if extra not in (None, False):
                raise UnsupportedSchema("a map (additionalProperties without properties)")
            if depth > 0:
                raise UnsupportedSchema("an object without properties")
            return
        result["properties"] = {
            name: self.convert(schema, refs, depth + 1) for name, schema in properties.items()
        }
        required = [r for r in node.get("required") or () if r in properties]
        if required:
            result["required"] = required
        if self.response:
            result["propertyOrdering"] = list(properties)


def _is_null(node: Any) -> bool:
    return isinstance(node, dict) and node.get("type") in ("null", "NULL") and len(node) <= 2


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    return "string"


def _literal(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    return str(value)
