"""Lenient readers for fields of vendor records.

The APIs disagree with their own docs about types (sizes as strings, empty strings for "no
timestamp yet", IDs as numbers in examples). A malformed optional field becomes None rather
than failing the whole record: a wait must not die because ``fileSize`` was ``"n/a"``.
"""

from __future__ import annotations

import math
import re
from datetime import datetime, timezone
from typing import Any

_INT_TEXT = re.compile(r"[+-]?[0-9]{1,30}")  # ASCII digits only, and no 5,000-digit numbers


def opt_int(value: Any) -> int | None:
    """An integer from an int, an integral float or a decimal string; otherwise None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if math.isfinite(value) else None
    if isinstance(value, str) and len(value) <= 40 and _INT_TEXT.fullmatch(value.strip()):
        return int(value.strip())
    return None


def percent(value: Any) -> int | None:
    """A progress percentage clamped to 0..100; floats are floored."""
    number = opt_int(value)
    if number is None and isinstance(value, str) and len(value) <= 40:
        try:
            as_float = float(value)
        except ValueError:
            return None
        number = int(as_float) if math.isfinite(as_float) else None
    if number is None:
        return None
    return min(100, max(0, number))


def opt_str(value: Any) -> str | None:
    """A non-empty string (numbers are rendered as text); empty or other types become None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return value if value.strip() else None
    return None


def opt_time(value: Any) -> datetime | None:
    """A timezone-aware UTC datetime from ISO 8601 text or epoch seconds/milliseconds."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        try:
            if not math.isfinite(value) or value <= 0 or value > 1e15:
                return None
            seconds = value / 1000 if value > 1e11 else value  # epoch milliseconds vs seconds
            return datetime.fromtimestamp(seconds, tz=timezone.utc)
        except (OverflowError, OSError, ValueError):  # ints beyond float range, dates beyond year 9999
            return None
    if not isinstance(value, str) or not value.strip() or len(value) > 64:
        return None
    text = value.strip()
    if text.isascii() and text.isdigit():
        return opt_time(int(text))
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
        if parsed.tzinfo is None:
            return parsed.replace(tzinfo=timezone.utc)
        return parsed.astimezone(timezone.utc)
    except (ValueError, OverflowError):  # garbage, or an offset that leaves the representable range
        return None


def first(record: dict[str, Any], *keys: str) -> Any:
    """The value of the first key present (for renamed fields, such as ``succesfull``)."""
    for key in keys:
        if key in record:
            return record[key]
    return None
