"""The demo agent's tools: small, deterministic and safe to run anywhere.

`get_weather` reads a built-in table (no network), `calculate` evaluates arithmetic with
an AST walker (no `eval`), `convert_units` converts temperature, length and mass. They are
plain functions with docstrings and type hints, so any agent framework can bind them.
"""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable

WEATHER: dict[str, tuple[float, str]] = {
    "paris": (18.0, "partly cloudy"),
    "tokyo": (24.0, "humid, light rain"),
    "london": (14.0, "overcast"),
    "new york": (21.0, "sunny"),
    "sydney": (26.0, "clear"),
    "mumbai": (31.0, "hot and humid"),
    "berlin": (16.0, "windy"),
    "cairo": (33.0, "dry and sunny"),
}


def get_weather(city: str) -> str:
    """Get the current weather for a city.

    Args:
        city: The city name, e.g. "Paris".
    """
    entry = WEATHER.get(city.strip().lower())
    if entry is None:
        known = ", ".join(name.title() for name in WEATHER)
        return f"No weather data for {city!r}. Known cities: {known}."
    celsius, sky = entry
    return f"{city.strip().title()}: {celsius:g} °C, {sky}"


_BINARY: dict[type[ast.operator], Callable[[float, float], float]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_UNARY: dict[type[ast.unaryop], Callable[[float], float]] = {
    ast.UAdd: operator.pos,
    ast.USub: operator.neg,
}
_FUNCTIONS: dict[str, Callable[..., float]] = {
    "sqrt": math.sqrt,
    "abs": abs,
    "round": round,
    "min": min,
    "max": max,
}


def calculate(expression: str) -> str:
    """Evaluate an arithmetic expression, e.g. "2 * (3 + 4)".

    Args:
        expression: Numbers, + - * / // % **, parentheses, and sqrt/abs/round/min/max.
    """
    try:
        value = _evaluate(ast.parse(expression, mode="eval").body)
    except (SyntaxError, ValueError, TypeError, ZeroDivisionError, OverflowError) as exc:
        return f"Cannot evaluate {expression!r}: {exc}"
    return f"{expression} = {value:g}"


def _evaluate(node: ast.expr) -> float:
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
        return node.value
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left, right = _evaluate(node.left), _evaluate(node.right)
        if isinstance(node.op, ast.Pow) and abs(right) > 100:
            raise ValueError("exponent too large")
        return _BINARY[type(node.op)](left, right)
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        return _UNARY[type(node.op)](_evaluate(node.operand))
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id in _FUNCTIONS
        and not node.keywords
    ):
        return _FUNCTIONS[node.func.id](*(_evaluate(arg) for arg in node.args))
    raise ValueError(f"unsupported expression: {ast.unparse(node)}")


_LINEAR: dict[str, tuple[str, float]] = {
    # unit: (dimension, factor to the base unit)
    "m": ("length", 1.0),
    "km": ("length", 1000.0),
    "cm": ("length", 0.01),
    "mi": ("length", 1609.344),
    "ft": ("length", 0.3048),
    "in": ("length", 0.0254),
    "kg": ("mass", 1.0),
    "g": ("mass", 0.001),
    "lb": ("mass", 0.45359237),
    "oz": ("mass", 0.028349523125),
}
_ALIASES = {
    "celsius": "c", "°c": "c", "fahrenheit": "f", "°f": "f", "kelvin": "k",
    "meters": "m", "meter": "m", "kilometers": "km", "kilometer": "km", "miles": "mi",
    "mile": "mi", "feet": "ft", "foot": "ft", "inches": "in", "inch": "in",
    "kilograms": "kg", "kilogram": "kg", "grams": "g", "gram": "g", "pounds": "lb",
    "pound": "lb", "lbs": "lb", "ounces": "oz", "ounce": "oz",
}  # fmt: skip


def convert_units(value: float, from_unit: str, to_unit: str) -> str:
    """Convert a value between units of temperature (C, F, K), length (m, km, cm, mi, ft,
    in) or mass (kg, g, lb, oz).

    Args:
        value: The number to convert.
        from_unit: The unit of `value`, e.g. "C" or "km".
        to_unit: The unit to convert to, e.g. "F" or "mi".
    """
    source = _ALIASES.get(from_unit.strip().lower(), from_unit.strip().lower())
    target = _ALIASES.get(to_unit.strip().lower(), to_unit.strip().lower())
    if source in "cfk" and target in "cfk" and source and target:
        kelvin = {"c": value + 273.15, "f": (value - 32) * 5 / 9 + 273.15, "k": value}[source]
        result = {"c": kelvin - 273.15, "f": (kelvin - 273.15) * 9 / 5 + 32, "k": kelvin}[target]
        return f"{value:g} {from_unit} = {round(result, 2):g} {to_unit}"
    if source in _LINEAR and target in _LINEAR and _LINEAR[source][0] == _LINEAR[target][0]:
        result = value * _LINEAR[source][1] / _LINEAR[target][1]
        return f"{value:g} {from_unit} = {round(result, 4):g} {to_unit}"
    return f"Cannot convert {from_unit!r} to {to_unit!r}."


DEMO_TOOLS = (get_weather, calculate, convert_units)
