"""The pure spec module: validation, the UTC instants of a cron in a DST time zone, interval
alignment, the catch-up default."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from engine.scheduler.errors import InvalidJob
from engine.scheduler.specs import JobSpec, catchup_window, next_run, runs_between, schedule_spec, validate


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def test_a_warsaw_cron_keeps_its_local_time_across_both_dst_changes() -> None:
    daily = JobSpec("cron", "0 9 * * *", "Europe/Warsaw")
    # Summer time starts 2027-03-28 (UTC+1 → UTC+2) and ends 2027-10-31 (back to UTC+1).
    assert runs_between(daily, utc(2027, 3, 26), 3) == [utc(2027, 3, 26, 8), utc(2027, 3, 27, 8), utc(2027, 3, 28, 7)]
    assert runs_between(daily, utc(2027, 10, 29), 3) == [
        utc(2027, 10, 29, 7),
        utc(2027, 10, 30, 7),
        utc(2027, 10, 31, 8),
    ]


def test_the_same_cron_in_utc_ignores_dst() -> None:
    daily = JobSpec("cron", "0 9 * * *", "UTC")
    assert runs_between(daily, utc(2027, 3, 27), 2) == [utc(2027, 3, 27, 9), utc(2027, 3, 28, 9)]


def test_intervals_count_from_the_epoch_whatever_the_time_zone() -> None:
    at = utc(2027, 1, 1, 10, 7, 13)
    assert next_run(JobSpec("interval", "15m", "Asia/Tokyo"), at) == utc(2027, 1, 1, 10, 15)
    assert next_run(JobSpec("interval", "1d"), at) == utc(2027, 1, 2)
    assert next_run(JobSpec("interval", "10s"), utc(2027, 1, 1, 0, 0, 10)) == utc(2027, 1, 1, 0, 0, 20)


@pytest.mark.parametrize(
    ("spec", "path"),
    [
        (JobSpec("cron", "not-a-cron"), "scheduleValue"),
        (JobSpec("cron", "* * *"), "scheduleValue"),
        (JobSpec("cron", "0 0 30 2 * *"), "scheduleValue"),
        (JobSpec("interval", "0h"), "scheduleValue"),
        (JobSpec("interval", "-5m"), "scheduleValue"),
        (JobSpec("interval", "5 m"), "scheduleValue"),
        (JobSpec("cron", "* * * * *", "Europe/Nowhere"), "timezone"),
        (JobSpec("cron", "* * * * *", ""), "timezone"),
        (JobSpec("cron", "* * * * *", catchup_window_seconds=9), "catchupWindowSeconds"),
        (JobSpec("cron", "* * * * *", jitter_seconds=-1), "jitterSeconds"),
        (JobSpec("cron", "* * * * *", overlap="TERMINATE_OTHER"), "overlapPolicy"),  # type: ignore[arg-type]
        (JobSpec("weekly", "* * * * *"), "scheduleType"),  # type: ignore[arg-type]
    ],
)
def test_bad_specs_name_the_field(spec: JobSpec, path: str) -> None:
    with pytest.raises(InvalidJob) as raised:
        validate(spec)
    assert raised.value.path == path


def test_cron_fields_are_stored_single_spaced() -> None:
    assert validate(JobSpec("cron", "  */5   *  * * 1-5 ")).schedule_value == "*/5 * * * 1-5"


def test_catch_up_defaults_to_one_period_within_bounds() -> None:
    at = utc(2027, 1, 1)
    assert catchup_window(JobSpec("cron", "0 * * * *"), at) == timedelta(hours=1)
    assert catchup_window(JobSpec("interval", "2s"), at) == timedelta(seconds=10)
    assert catchup_window(JobSpec("interval", "7d"), at) == timedelta(days=1)
    assert catchup_window(JobSpec("interval", "7d", catchup_window_seconds=60), at) == timedelta(minutes=1)


def test_the_temporal_spec_carries_zone_and_jitter() -> None:
    cron = schedule_spec(JobSpec("cron", "0 9 * * *", "Europe/Warsaw", jitter_seconds=30))
    assert (cron.cron_expressions, cron.time_zone_name, cron.jitter) == (
        ["0 9 * * *"],
        "Europe/Warsaw",
        timedelta(seconds=30),
    )
    interval = schedule_spec(JobSpec("interval", "90m", "Europe/Warsaw"))
    assert [i.every for i in interval.intervals] == [timedelta(minutes=90)] and interval.time_zone_name is None
