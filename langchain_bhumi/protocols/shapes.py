"""What a client's request fields must be, checked where a proxy frontend reads them.

A value of the wrong type deep inside a request (a list where a string belongs) is the
client's mistake, so the frontend answers 400 naming the field's path and what it
expected (`messages[0].content[0].text: expected a string, got a list`), never the words
of a Python exception. Each check is a type test on a value the decoder reads anyway;
`base.shape_errors_are_bad_requests` and the proxy's last-resort catch stay behind them
for whatever a check does not cover.

Example:
    ```python
    from langchain_bhumi.protocols.shapes import check_schema, optional_string

    check_schema({"type": "object", "required": [["a"]]}, "tools[0].parameters")
    # RequestDecodeError: tools[0].parameters.required: expected a list of strings;
    # item 0 is a list
    optional_string({"name": 7}, "name", "tools[0]")
    # RequestDecodeError: tools[0].name: expected a string, got a number
    ```
"""

from __future__ import annotations

from typing import Any

from langchain_bhumi.protocols.base import RequestDecodeError

__all__ = [
    "check_schema",
    "field_path",
    "kind_of",
    "optional_bool",
    "optional_integer",
    "optional_number",
    "optional_object",
    "optional_string",
    "string_list",
    "wrong_shape",
]


def kind_of(value: Any) -> str:
    """What a JSON value is, in words: `"a list"`, `"an object"`, `"null"`, ..."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def wrong_shape(where: str, expected: str, value: Any) -> RequestDecodeError:
    """The error for the field at `where` holding `value` instead of `expected`."""
    return RequestDecodeError(f"{where}: expected {expected}, got {kind_of(value)}")


def field_path(where: str, key: str) -> str:
    """`<where>.<key>`, or `key` alone for a top-level field (`where` empty)."""
    return f"{where}.{key}" if where else key


def optional_string(container: dict[str, Any], key: str, where: str = "") -> str | None:
    """`container[key]` when it is a string, `None` when absent or null; otherwise a
    `RequestDecodeError` naming `<where>.<key>` (`where` empty: the body's own field)."""
    value = container.get(key)
    if value is None or isinstance(value, str):
        return value
    raise wrong_shape(field_path(where, key), "a string", value)


def optional_object(container: dict[str, Any], key: str, where: str = "") -> dict[str, Any] | None:
    """`container[key]` when it is an object, `None` when absent or null; otherwise a
    `RequestDecodeError` naming `<where>.<key>` (`where` empty: the body's own field)."""
    value = container.get(key)
    if value is None or isinstance(value, dict):
        return value
    raise wrong_shape(field_path(where, key), "an object", value)


def optional_number(container: dict[str, Any], key: str, where: str = "") -> float | None:
    """`container[key]` when it is a number (not a boolean), `None` when absent or null;
    otherwise a `RequestDecodeError` naming `<where>.<key>`."""
    value = container.get(key)
    if value is None or (isinstance(value, int | float) and not isinstance(value, bool)):
        return value
    raise wrong_shape(field_path(where, key), "a number", value)


def optional_integer(container: dict[str, Any], key: str, where: str = "") -> int | None:
    """`container[key]` when it is an integer (not a boolean), `None` when absent or null;
    otherwise a `RequestDecodeError` naming `<where>.<key>`."""
    value = container.get(key)
    if value is None or (isinstance(value, int) and not isinstance(value, bool)):
        return value
    raise wrong_shape(field_path(where, key), "an integer", value)


def optional_bool(container: dict[str, Any], key: str, where: str = "") -> bool | None:
    """`container[key]` when it is `true` or `false`, `None` when absent or null; otherwise
    a `RequestDecodeError` naming `<where>.<key>`."""
    value = container.get(key)
    if value is None or isinstance(value, bool):
        return value
    raise wrong_shape(field_path(where, key), "true or false", value)


def string_list(value: Any, where: str) -> list[str]:
    """`value` when it is a list of strings; otherwise a `RequestDecodeError` naming
    `where` (and the first item that is not a string)."""
    if not isinstance(value, list):
        raise wrong_shape(where, "a list of strings", value)
    for index, item in enumerate(value):
        if not isinstance(item, str):
            raise RequestDecodeError(
                f"{where}: expected a list of strings; item {index} is {kind_of(item)}"
            )
    return value


# What each JSON Schema keyword the translation reads holds.
_TYPE, _NAMES, _LIST, _REF, _SCHEMA, _SCHEMAS, _SCHEMA_MAP = range(7)
_KEYWORDS = {
    "type": _TYPE,
    "required": _NAMES,
    "enum": _LIST,
    "$ref": _REF,
    "items": _SCHEMA,
    "additionalProperties": _SCHEMA,
    "not": _SCHEMA,
    "anyOf": _SCHEMAS,
    "oneOf": _SCHEMAS,
    "allOf": _SCHEMAS,
    "prefixItems": _SCHEMAS,
    "properties": _SCHEMA_MAP,
    "$defs": _SCHEMA_MAP,
    "definitions": _SCHEMA_MAP,
}

_Link = tuple[Any, str | int] | None
"""Where a schema node sits: `(the parent's link, key or index)`, spelled out only for
an error message, so that a valid schema costs no string formatting."""


def _spelled(where: str, link: _Link) -> str:
    steps: list[str | int] = []
    while link is not None:
        link, step = link
        steps.append(step)
    return where + "".join(f"[{s}]" if isinstance(s, int) else f".{s}" for s in reversed(steps))


def check_schema(schema: Any, where: str, *, type_numbers: bool = False) -> None:
    """Check that a JSON schema's structural keywords hold what JSON Schema says, at every
    level: `type` a string or a list of strings, `required` a list of strings, `enum` a
    list, `$ref` a string, `properties`/`$defs` objects of schemas, `anyOf`/`oneOf`/
    `allOf` lists of schemas, `items` a schema (or a list of them).

    Other keywords pass unchecked, as do boolean schemas (`true`, `false`) and null
    values: whether a backend supports a valid schema is the backend's to say.
    `type_numbers` lets `type` be a number too: Gemini's schema dialect is a protobuf
    message, whose `Type` enum clients may send by number (`"type": 6` for `OBJECT`).

    Raises:
        RequestDecodeError: Naming the keyword's path under `where`
            (`tools[0].parameters.properties.city.type: expected ...`).
    """
    stack: list[tuple[Any, _Link]] = [(schema, None)]
    while stack:
        node, link = stack.pop()
        if not isinstance(node, dict):
            if isinstance(node, bool):
                continue
            raise wrong_shape(_spelled(where, link), "a schema object", node)
        for key, value in node.items():
            rule = _KEYWORDS.get(key)
            if rule is None or value is None:
                continue
            if rule == _SCHEMA and isinstance(value, list) and key == "items":
                rule = _SCHEMAS  # draft 4's tuple form
            if rule == _SCHEMA:
                stack.append((value, (link, key)))
            elif rule == _SCHEMA_MAP and isinstance(value, dict):
                here = (link, key)
                stack.extend((sub, (here, name)) for name, sub in value.items())
            elif rule == _SCHEMAS and isinstance(value, list):
                here = (link, key)
                stack.extend((sub, (here, n)) for n, sub in enumerate(value))
            elif not _holds(rule, value, type_numbers):
                at = _spelled(where, (link, key))
                if rule in (_TYPE, _NAMES) and isinstance(value, list):
                    string_list(value, at)  # names the item that is not a string
                raise wrong_shape(at, _EXPECTED[rule], value)


def _holds(rule: int, value: Any, type_numbers: bool) -> bool:
    """Whether a keyword that holds no schema (`type`, `required`, `enum`, `$ref`) holds
    what it should."""
    if isinstance(value, str):
        return rule in (_TYPE, _REF)
    if isinstance(value, list):
        return rule == _LIST or (
            rule in (_TYPE, _NAMES) and all(isinstance(name, str) for name in value)
        )
    return rule == _TYPE and type_numbers and type(value) is int


_EXPECTED = {
    _TYPE: "a string or a list of strings",
    _NAMES: "a list of strings",
    _LIST: "a list",
    _REF: "a string",
    _SCHEMA_MAP: "an object of schemas",
    _SCHEMAS: "a list of schemas",
}
