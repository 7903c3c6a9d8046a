from datetime import UTC, datetime, timedelta, timezone

import pytest

from engine.workflows.durations import parse_datetime, parse_duration


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("PT30M", timedelta(minutes=30)),
        ("PT1H", timedelta(hours=1)),
        ("PT5S", timedelta(seconds=5)),
        ("P1D", timedelta(days=1)),
        ("P1DT2H", timedelta(days=1, hours=2)),
        ("PT1H30M", timedelta(hours=1, minutes=30)),
        ("P2W", timedelta(weeks=2)),
        ("P1W2D", timedelta(days=9)),
        ("P1M", timedelta(days=30)),
        ("PT1M", timedelta(minutes=1)),
        ("P1Y", timedelta(days=365)),
        ("P1Y2M3W4DT5H6M7S", timedelta(days=365 + 60 + 21 + 4, hours=5, minutes=6, seconds=7)),
        ("PT1.5S", timedelta(seconds=1.5)),
        ("PT0,25S", timedelta(milliseconds=250)),
        ("PT1.5H", timedelta(minutes=90)),
        ("P0.5D", timedelta(hours=12)),
        ("PT0S", timedelta(0)),
        ("500ms", timedelta(milliseconds=500)),
        ("30s", timedelta(seconds=30)),
        ("5m", timedelta(minutes=5)),
        ("1h", timedelta(hours=1)),
        ("3d", timedelta(days=3)),
        ("0s", timedelta(0)),
        ("  5m ", timedelta(minutes=5)),
    ],
)
def test_valid_durations_parse(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "P",
        "PT",
        "P1DT",
        "5",
        "5x",
        "m5",
        "1 h",
        "1h30m",
        "1.5h",
        "-5m",
        "5M",
        "P-1D",
        "P1H",
        "PT1D",
        "PT1W",
        "pt5m",
        "P1W1Y",
        "PT1.5H30M",
        "P1.5DT2H",
        "PT.5S",
        "P99999999999D",
        "10w",
    ],
)
def test_invalid_durations_raise_a_clear_error(text: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


def test_fraction_error_names_the_rule() -> None:
    with pytest.raises(ValueError, match="only the last component may have a fraction"):
        parse_duration("PT1.5H30M")


def test_non_string_is_rejected() -> None:
    with pytest.raises(ValueError, match="expected a string"):
        parse_duration(5)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2030-01-02T03:04:05Z", datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)),
        ("2030-01-02T03:04:05+02:00", datetime(2030, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=2)))),
        ("2030-01-02T03:04:05", datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)),
        ("2030-01-02", datetime(2030, 1, 2, tzinfo=UTC)),
    ],
)
def test_datetimes_parse_and_default_to_utc(text: str, expected: datetime) -> None:
    assert parse_datetime(text) == expected


@pytest.mark.parametrize("text", ["", "tomorrow", "2030-13-01T00:00:00Z", "5m"])
def test_invalid_datetimes_raise(text: str) -> None:
    with pytest.raises(ValueError, match="ISO 8601 datetime"):
        parse_datetime(text)
