"""The reference (open-mercato) condition semantics used by the extra operators."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from engine.rules.jsonlogic._base import _JS_WS
from engine.rules.jsonlogic.values import _is_number, strict_equals, to_js_string, to_number

# --------------------------------------------------------------------------------------------
# Reference (open-mercato) condition semantics, used by the extra operators
# --------------------------------------------------------------------------------------------


def _ref_equals(left: Any, right: Any) -> bool:
    if left is None or right is None:
        return left is None and right is None
    if _is_number(left) or _is_number(right):
        return bool(to_number(left) == to_number(right))
    return strict_equals(left, right)


_ISO_DATE_PREFIX = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _iso_instant(text: str) -> float | None:
    try:
        parsed = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def _collation_key(text: str) -> tuple[str, str, str]:
    folded = text.casefold()
    base = "".join(c for c in unicodedata.normalize("NFD", folded) if not unicodedata.combining(c))
    return (base, folded, text.swapcase())


def _ref_compare(left: Any, right: Any) -> int | None:
    """-1/0/1, or None when the reference's comparison yields NaN (all comparisons false)."""
    if left is None and right is None:
        return 0
    if left is None:
        return -1
    if right is None:
        return 1
    if type(left) is str and type(right) is str and _ISO_DATE_PREFIX.match(left) and _ISO_DATE_PREFIX.match(right):
        lt = _iso_instant(left)
        rt = _iso_instant(right)
        if lt is None or rt is None:
            return None
        return (lt > rt) - (lt < rt)
    ln = to_number(left)
    rn = to_number(right)
    if ln == ln and rn == rn:
        return (ln > rn) - (ln < rn)
    lk = _collation_key(to_js_string(left))
    rk = _collation_key(to_js_string(right))
    return (lk > rk) - (lk < rk)


def _ref_in_list(left: Any, right: Any) -> bool:
    return isinstance(right, list) and any(_ref_equals(left, item) for item in right)


def _ref_contains(left: Any, right: Any) -> bool:
    if isinstance(left, list):
        return any(_ref_equals(item, right) for item in left)
    if type(left) is str:
        return to_js_string(right) in left
    return False


def _ref_starts_with(left: Any, right: Any) -> bool:
    if left is None or right is None:
        return False
    return to_js_string(left).startswith(to_js_string(right))


def _ref_ends_with(left: Any, right: Any) -> bool:
    if left is None or right is None:
        return False
    return to_js_string(left).endswith(to_js_string(right))


def _ref_is_empty(value: Any) -> bool:
    if value is None:
        return True
    if type(value) is str:
        return value.strip(_JS_WS) == ""
    if isinstance(value, list | Mapping):
        return len(value) == 0
    return False
