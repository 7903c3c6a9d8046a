"""Duration grammar shared by timers, signal timeouts, WAIT activities, SLAs and activity timeouts.

Two forms are accepted:

* ISO 8601 durations: ``P[nY][nM][nW][nD][T[nH][nM][nS]]`` (``P1DT2H``, ``PT30M``, ``P2W``,
  ``PT1.5S``). Only the last component may carry a fraction (``.`` or ``,``), as ISO 8601 says.
  A year counts as 365 days and a month as 30 days: a timer needs one fixed length, and calendar
  arithmetic would make the same definition wait different times depending on the start date.
* Short forms: ``500ms``, ``30s``, ``5m``, ``1h``, ``3d``.
"""

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal

_SECONDS_PER_UNIT: dict[str, Decimal] = {
    "years": Decimal(365 * 86400),
    "months": Decimal(30 * 86400),
    "weeks": Decimal(7 * 86400),
    "days": Decimal(86400),
    "hours": Decimal(3600),
    "minutes": Decimal(60),
    "seconds": Decimal(1),
}

_NUMBER = r"\d+(?:[.,]\d+)?"
_ISO = re.compile(
    rf"""
    ^P(?!$)
    (?:(?P<years>{_NUMBER})Y)?
    (?:(?P<months>{_NUMBER})M)?
    (?:(?P<weeks>{_NUMBER})W)?
    (?:(?P<days>{_NUMBER})D)?
    (?:T(?=\d)
        (?:(?P<hours>{_NUMBER})H)?
        (?:(?P<minutes>{_NUMBER})M)?
        (?:(?P<seconds>{_NUMBER})S)?
    )?$
    """,
    re.VERBOSE,
)
_SHORT = re.compile(r"^(?P<amount>\d+)(?P<unit>ms|s|m|h|d)$")
_SHORT_UNITS: dict[str, Decimal] = {
    "ms": Decimal("0.001"),
    "s": Decimal(1),
    "m": Decimal(60),
    "h": Decimal(3600),
    "d": Decimal(86400),
}

DURATION_HELP = "Use ISO 8601 (e.g. PT5M, PT1H, P1D, P1DT2H, P2W) or a short form (500ms, 30s, 5m, 1h, 3d)"


def parse_duration(text: str) -> timedelta:
    """Parse a duration string; raise ValueError with a readable message when it is not one."""
    if not isinstance(text, str):
        raise ValueError(f"Invalid duration {text!r}: expected a string. {DURATION_HELP}")
    candidate = text.strip()

    short = _SHORT.match(candidate)
    if short:
        return _to_timedelta(Decimal(short["amount"]) * _SHORT_UNITS[short["unit"]], text)

    iso = _ISO.match(candidate)
    if iso is None:
        raise ValueError(f"Invalid duration {text!r}. {DURATION_HELP}")
    present = [(unit, value) for unit, value in iso.groupdict().items() if value is not None]
    if any(_is_fraction(value) for _, value in present[:-1]):
        raise ValueError(f"Invalid duration {text!r}: only the last component may have a fraction")
    total = sum(
        (Decimal(value.replace(",", ".")) * _SECONDS_PER_UNIT[unit] for unit, value in present),
        Decimal(0),
    )
    return _to_timedelta(total, text)


def _is_fraction(value: str) -> bool:
    return "." in value or "," in value


def _to_timedelta(seconds: Decimal, text: str) -> timedelta:
    try:
        return timedelta(microseconds=int(seconds * 1_000_000))
    except OverflowError:
        raise ValueError(f"Invalid duration {text!r}: too large")


def parse_datetime(text: str) -> datetime:
    """Parse an ISO 8601 datetime (``Z`` allowed); a value without an offset is taken as UTC."""
    try:
        parsed = datetime.fromisoformat(text.strip())
    except (TypeError, ValueError, AttributeError):
        raise ValueError(f"Invalid datetime {text!r}. Provide an ISO 8601 datetime string")
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)
