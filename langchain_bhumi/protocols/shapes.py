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


# JSON Schema keywords whose values the translation reads, by what each holds.
_SUBSCHEMA = ("items", "additionalProperties", "not")
_SUBSCHEMA_LISTS = ("anyOf", "oneOf", "allOf", "prefixItems")
_SUBSCHEMA_MAPS = ("properties", "$defs", "definitions")


def check_schema(schema: Any, where: str, *, type_numbers: bool = False) -> None:
    """Check that a JSON schema's structural keywords hold what JSON Schema says, at every
    level: `type` a string or a list of strings, `required` a list of strings, `enum` a
    list, `$ref` a string, `properties`/`$defs` objects of schemas, `anyOf`/`oneOf`/
    `allOf` lists of schemas, `items` a schema (or a list of them).

    Other keywords pass unchecked, as do boolean schemas (`true`, `false`): whether a
    backend supports a valid schema is the backend's to say. `type_numbers` lets `type`
    be a number too: Gemini's schema dialect is a protobuf message, whose `Type` enum
    clients may send by number (`"type": 6` for `OBJECT`).

    Raises:
        RequestDecodeError: Naming the keyword's path under `where`
            (`tools[0].parameters.properties.city.type: expected ...`).
    """
    stack: list[tuple[Any, str]] = [(schema, where)]
    while stack:
        node, at = stack.pop()
        if isinstance(node, bool):
            continue
        if not isinstance(node, dict):
            raise wrong_shape(at, "a schema object", node)
        kind = node.get("type")
        numbered = type_numbers and isinstance(kind, int) and not isinstance(kind, bool)
        if kind is not None and not isinstance(kind, str) and not numbered:
            string_list(kind, f"{at}.type")
        if "required" in node:
            string_list(node["required"], f"{at}.required")
        if "enum" in node and not isinstance(node["enum"], list):
            raise wrong_shape(f"{at}.enum", "a list", node["enum"])
        optional_string(node, "$ref", at)
        for key in _SUBSCHEMA:
            value = node.get(key)
            if isinstance(value, list) and key == "items":  # draft 4 tuple form
                stack.extend((v, f"{at}.items[{n}]") for n, v in enumerate(value))
            elif value is not None:
                stack.append((value, f"{at}.{key}"))
        for key in _SUBSCHEMA_LISTS:
            value = node.get(key)
            if value is None:
                continue
            if not isinstance(value, list):
                raise wrong_shape(f"{at}.{key}", "a list of schemas", value)
            stack.extend((v, f"{at}.{key}[{n}]") for n, v in enumerate(value))
        for key in _SUBSCHEMA_MAPS:
            value = node.get(key)
            if value is None:
                continue
            if not isinstance(value, dict):
                raise wrong_shape(f"{at}.{key}", "an object of schemas", value)
            stack.extend((v, f"{at}.{key}.{name}") for name, v in value.items())
