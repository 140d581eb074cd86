"""The `analytics` views against a real PostgreSQL, on a small data set with known answers.

`insert_data_set` is shared with the report's tests: every number asserted here is worked
out by hand in its docstring, so a change to a view shows up as a precise difference.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import pytest

# A step's failed attempt carries this error; the report must show it escaped.
SCRIPT_ERROR = "ListingRejected: <script>alert('listing')</script> is not allowed"


@dataclass(frozen=True)
class DataSet:
    """What `insert_data_set` wrote, for the assertions to refer to."""

    now: datetime
    day_a: date
    day_b: date
    day_c: date
    typical_run: str
    stuck_run: str
    fresh_run: str
    failed_run: str


def add_build(
    conn: Any,
    run_id: str,
    queued_at: datetime,
    state: str,
    duration: float | None = None,
    build: int = 1,
    failed_step: str | None = None,
    error: str | None = None,
    rebuilt_from: int | None = None,
) -> None:
    """Insert one build; it starts 10 s after it was queued and ends `duration` after."""
    started_at = queued_at + timedelta(seconds=10) if state != "queued" else None
    ended_at = queued_at + timedelta(seconds=duration) if duration is not None else None
    conn.execute(
        "INSERT INTO analytics.build_runs (run_id, build, submission_id, property_id, state,"
        " queued_at, started_at, ended_at, duration_seconds, failed_step, error, rebuilt_from)"
        " VALUES (%s, %s, %s, NULL, %s, %s, %s, %s, %s, %s, %s, %s)",
        (
            run_id,
            build,
            run_id,
            state,
            queued_at,
            started_at,
            ended_at,
            duration,
            failed_step,
            error,
            rebuilt_from,
        ),
    )


def add_step(
    conn: Any,
    run_id: str,
    step: str,
    try_number: int,
    state: str,
    started_at: datetime | None = None,
    seconds: float | None = None,
    build: int = 1,
    error: str | None = None,
) -> None:
    """Insert one step attempt; it ends `seconds` after it started (if it ended)."""
    ended_at = started_at + timedelta(seconds=seconds) if started_at and seconds else None
    conn.execute(
        "INSERT INTO analytics.build_steps (run_id, build, submission_id, step, try_number,"
        " state, started_at, ended_at, duration_seconds, error_type, error_message)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
        (
            run_id,
            build,
            run_id,
            step,
            try_number,
            state,
            started_at,
            ended_at,
            seconds if ended_at else None,
            error.split(":", 1)[0] if error else None,
            error,
        ),
    )


def add_successful_build(conn: Any, run_id: str, queued_at: datetime, duration: float) -> None:
    """Insert a successful build of four steps that ends `duration` seconds after queued.

    Steps start 10 s after queueing (t0): validate_submission [t0, t0+5],
    create_property_record [t0+7, t0+27] beside the shorter geocode_address [t0+7, t0+15],
    then publish_listing [t0+29, queued+duration-1], so it runs `duration - 40` s.
    """
    add_build(conn, run_id, queued_at, "success", duration)
    t0 = queued_at + timedelta(seconds=10)
    add_step(conn, run_id, "validate_submission", 1, "success", t0, 5)
    add_step(conn, run_id, "create_property_record", 1, "success", t0 + _s(7), 20)
    add_step(conn, run_id, "geocode_address", 1, "success", t0 + _s(7), 8)
    add_step(conn, run_id, "publish_listing", 1, "success", t0 + _s(29), duration - 40)


def insert_data_set(conn: Any) -> DataSet:
    """Insert ten builds over three past days and today; return what to expect of them.

    Day A (4 days ago): four successful builds of 100, 200, 300 and 400 s. p50 is 250 and
    p95 is 300 + 0.85 * 100 = 385 (percentile_cont interpolates at 0.95 * 3 = 2.85).
    Day B (3 days ago): successful builds of 600 s (geocode_address failed on try 1 and
    succeeded on try 2) and 1000 s, and one failed build of 4900 s whose publish_listing
    failed on both tries, with notify_partner upstream_failed (try 0). The failed build
    must not count: p50 is 800, p95 is 600 + 0.95 * 400 = 980.
    Day C (2 days ago): one successful build of 500 s.
    Today (or yesterday, just after midnight UTC): a build running since it was queued
    2 hours ago (stuck) and one queued 10 minutes ago (not stuck).

    publish_listing's successful runs take 60, 160, 260, 360, 540 (the retried build
    starts it 20 s later), 960 and 460 s: p50 360, p95 540 + 0.7 * 420 = 834.
    The 400 s build is the median of the seven successful ones (the typical build).
    """
    now = datetime.now(UTC)
    today = now.date()
    day_a, day_b, day_c = (today - timedelta(days=n) for n in (4, 3, 2))

    for hour, duration in zip((8, 9, 10, 11), (100, 200, 300, 400), strict=True):
        add_successful_build(conn, f"a-{duration}", _at(day_a, hour), duration)

    retried = _at(day_b, 8)
    add_build(conn, "b-retried", retried, "success", 600)
    t0 = retried + _s(10)
    add_step(conn, "b-retried", "validate_submission", 1, "success", t0, 5)
    add_step(conn, "b-retried", "create_property_record", 1, "success", t0 + _s(7), 20)
    add_step(
        conn,
        "b-retried",
        "geocode_address",
        1,
        "failed",
        t0 + _s(7),
        30,
        error="GeocoderTimeout: no answer in 30 s",
    )
    add_step(conn, "b-retried", "geocode_address", 2, "success", t0 + _s(39), 8)
    add_step(conn, "b-retried", "publish_listing", 1, "success", t0 + _s(49), 540)

    add_successful_build(conn, "b-1000", _at(day_b, 9), 1000)

    failed = _at(day_b, 10)
    add_build(
        conn,
        "b-failed",
        failed,
        "failed",
        4900,
        failed_step="publish_listing",
        error=SCRIPT_ERROR,
    )
    t0 = failed + _s(10)
    add_step(conn, "b-failed", "validate_submission", 1, "success", t0, 5)
    add_step(conn, "b-failed", "create_property_record", 1, "success", t0 + _s(7), 20)
    add_step(conn, "b-failed", "geocode_address", 1, "success", t0 + _s(7), 8)
    add_step(
        conn, "b-failed", "publish_listing", 1, "failed", t0 + _s(29), 2400, error=SCRIPT_ERROR
    )
    add_step(
        conn, "b-failed", "publish_listing", 2, "failed", t0 + _s(2489), 2400, error=SCRIPT_ERROR
    )
    add_step(conn, "b-failed", "notify_partner", 0, "upstream_failed")

    add_successful_build(conn, "c-500", _at(day_c, 9), 500)

    stuck = now - timedelta(hours=2)
    add_build(conn, "stuck", stuck, "running")
    add_step(conn, "stuck", "validate_submission", 1, "success", stuck + _s(10), 5)
    add_step(conn, "stuck", "create_property_record", 1, "running", stuck + _s(17))
    add_build(conn, "fresh", now - timedelta(minutes=10), "queued")

    return DataSet(
        now=now,
        day_a=day_a,
        day_b=day_b,
        day_c=day_c,
        typical_run="a-400",
        stuck_run="stuck",
        fresh_run="fresh",
        failed_run="b-failed",
    )


def _at(day: date, hour: int) -> datetime:
    return datetime.combine(day, time(hour), tzinfo=UTC)


def _s(seconds: float) -> timedelta:
    return timedelta(seconds=seconds)


@pytest.fixture
def data_set(platform_db: Any) -> DataSet:
    """The known builds of `insert_data_set`, in an otherwise empty analytics schema."""
    return insert_data_set(platform_db)


def test_builds_per_day_counts_and_percentiles(platform_db: Any, data_set: DataSet) -> None:
    rows = platform_db.execute(
        "SELECT day, builds, succeeded, failed, running, p50_seconds_to_live,"
        " p95_seconds_to_live FROM analytics.builds_per_day ORDER BY day"
    ).fetchall()
    by_day = {row[0]: row[1:] for row in rows}

    # The two unfinished builds fall on today, or on yesterday just after midnight UTC.
    unfinished = Counter(
        (data_set.now - delay).date() for delay in (timedelta(hours=2), timedelta(minutes=10))
    )
    assert set(by_day) == {data_set.day_a, data_set.day_b, data_set.day_c, *unfinished}
    assert by_day[data_set.day_a][:4] == (4, 4, 0, 0)
    assert by_day[data_set.day_a][4:] == (pytest.approx(250), pytest.approx(385))
    assert by_day[data_set.day_b][:4] == (3, 2, 1, 0)
    assert by_day[data_set.day_b][4:] == (pytest.approx(800), pytest.approx(980))
    assert by_day[data_set.day_c] == (1, 1, 0, 0, pytest.approx(500), pytest.approx(500))
    for day, count in unfinished.items():
        assert by_day[day] == (count, 0, 0, count, None, None)


def test_step_reliability_counts_attempts_failures_and_saves(
    platform_db: Any, data_set: DataSet
) -> None:
    rows = platform_db.execute(
        "SELECT step, step_runs, attempts, failed_attempts, failure_rate, retry_rate,"
        " saved_by_retry FROM analytics.step_reliability"
    ).fetchall()
    by_step = {row[0]: row[1:] for row in rows}

    assert set(by_step) == {
        "validate_submission",
        "create_property_record",
        "geocode_address",
        "publish_listing",
    }
    # Nine runs reached it (eight finished builds and the stuck one), each on try 1.
    assert by_step["validate_submission"] == (9, 9, 0, Decimal("0"), Decimal("0"), 0)
    # One failure in 9 attempts; 1 of 8 step runs needed a second try, and it succeeded.
    assert by_step["geocode_address"] == (
        8,
        9,
        1,
        Decimal("0.1111"),
        Decimal("0.1250"),
        1,
    )
    # Failed twice in the failed build: retried, but not saved.
    assert by_step["publish_listing"] == (
        8,
        9,
        2,
        Decimal("0.2222"),
        Decimal("0.1250"),
        0,
    )
    # notify_partner only has an upstream_failed row (try 0): it never ran, so it is
    # not a step run and is not in the view at all (asserted by the key set above).


def test_slowest_steps_orders_by_median_of_successful_attempts(
    platform_db: Any, data_set: DataSet
) -> None:
    rows = platform_db.execute(
        "SELECT step, attempts, p50_seconds, p95_seconds, max_seconds FROM analytics.slowest_steps"
    ).fetchall()

    assert [row[0] for row in rows] == [
        "publish_listing",
        "create_property_record",
        "geocode_address",
        "validate_submission",
    ]
    assert rows[0][1:] == (7, pytest.approx(360), pytest.approx(834), 960)
    # The failed try of 30 s would raise the maximum if failures counted.
    assert rows[2][1:] == (8, 8, 8, 8)
    assert rows[1][1] == 8
    assert rows[3][1:] == (9, 5, 5, 5)


def test_stuck_builds_lists_only_builds_waiting_over_an_hour(
    platform_db: Any, data_set: DataSet
) -> None:
    rows = platform_db.execute(
        "SELECT run_id, build, submission_id, state, queued_at, waiting_for"
        " FROM analytics.stuck_builds"
    ).fetchall()

    assert [row[:4] for row in rows] == [(data_set.stuck_run, 1, data_set.stuck_run, "running")]
    assert rows[0][4] == data_set.now - timedelta(hours=2)
    assert timedelta(hours=2) <= rows[0][5] < timedelta(hours=2, minutes=5)


def test_step_reliability_keeps_a_rebuild_apart_from_the_build_it_replaced(
    platform_db: Any,
) -> None:
    queued = datetime.now(UTC) - timedelta(days=1)
    add_successful_build(platform_db, "rebuilt", queued, 100)
    add_build(platform_db, "rebuilt", queued + _s(3600), "failed", 200, build=2, rebuilt_from=1)
    # Airflow numbers tries on across the clear: the rebuild's step runs tries 2 and 3.
    add_step(platform_db, "rebuilt", "publish_listing", 2, "failed", queued + _s(3700), 5, build=2)
    add_step(platform_db, "rebuilt", "publish_listing", 3, "failed", queued + _s(3800), 5, build=2)

    row = platform_db.execute(
        "SELECT step_runs, attempts, failed_attempts, retry_rate, saved_by_retry"
        " FROM analytics.step_reliability WHERE step = 'publish_listing'"
    ).fetchone()

    # Two step runs (one per build): the first needed one try, the second two tries and
    # was never saved.
    assert row == (2, 3, 2, Decimal("0.5000"), 0)
