"""Conversions; half of them are never called by the tests."""

FACTORS = {"mm": 0.001, "cm": 0.01, "m": 1.0, "km": 1000.0}


def to_metres(value: float, unit: str) -> float:
    for name, factor in FACTORS.items():
        if name == unit:
            return value * factor
    raise KeyError(unit)


def to_feet(metres: float) -> float:
    return metres / 0.3048


def describe(value: float) -> str:
    parts = []
    while value >= 1000:
        parts.append("k")
        value /= 1000
    return f"{value:g}{''.join(parts)}"
