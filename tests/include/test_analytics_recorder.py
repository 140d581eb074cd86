"""The analytics recorder on a real PostgreSQL: idempotent rows, event order, rebuilds.

Real Airflow runs feeding it through the listener are in `tests/e2e/test_analytics.py`.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from include.analytics.recorder import (
    AnalyticsUnavailable,
    RunEvent,
    StepAttempt,
    connection_url,
    reconcile,
    record_run,
    record_step,
    scrub,
)
from tests.helpers import PERSONAL

T0 = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def run(
    state: str, queued: float = 0, started: float | None = 1, ended: float | None = None
) -> RunEvent:
    return RunEvent(
        run_id="sub-1",
        submission_id="sub-1",
        state=state,
        queued_at=at(queued),
        started_at=None if started is None else at(started),
        ended_at=None if ended is None else at(ended),
    )


def step(
    name: str, try_number: int, state: str | None, start: float | None, end: float | None, **kw: Any
) -> StepAttempt:
    return StepAttempt(
        run_id="sub-1",
        step=name,
        try_number=try_number,
        state=state,
        started_at=None if start is None else at(start),
        ended_at=None if end is None else at(end),
        **kw,
    )


def rows(conn: Any, table: str, columns: str) -> list[tuple[Any, ...]]:
    return [
        tuple(r) for r in conn.execute(f"SELECT {columns} FROM analytics.{table} ORDER BY 1, 2, 3")
    ]  # type: ignore[arg-type]


def test_a_run_is_one_row_however_often_its_events_arrive(platform_db: Any) -> None:
    for _ in range(2):
        assert record_run(platform_db, run("running")) == 1
        assert record_run(platform_db, run("success", ended=61)) == 1

    assert rows(
        platform_db, "build_runs", "run_id, build, state, duration_seconds, rebuilt_from"
    ) == [("sub-1", 1, "success", 61.0, None)]


def test_a_run_started_again_after_success_is_a_rebuild(platform_db: Any) -> None:
    record_run(platform_db, run("running"))
    record_run(platform_db, run("success", ended=60))

    assert record_run(platform_db, run("running", queued=100, started=101)) == 2
    assert record_run(platform_db, run("success", queued=100, started=101, ended=130)) == 2

    assert rows(
        platform_db, "build_runs", "build, state, queued_at, duration_seconds, rebuilt_from"
    ) == [
        (1, "success", at(0), 60.0, None),
        (2, "success", at(100), 30.0, 1),
    ]


def test_a_failed_run_recovered_by_an_operator_stays_one_build(platform_db: Any) -> None:
    record_run(platform_db, run("running"))
    record_run(platform_db, run("failed", ended=50))

    # Cleared an hour later: Airflow gives the run a new queued_at; the build keeps its
    # first one, so its time to live counts the wait for the operator.
    assert record_run(platform_db, run("running", queued=3600, started=3601)) == 1
    assert record_run(platform_db, run("success", queued=3600, started=3601, ended=3700)) == 1

    assert rows(platform_db, "build_runs", "build, state, queued_at, duration_seconds") == [
        (1, "success", at(0), 3700.0)
    ]


def test_a_late_event_never_moves_a_finished_attempt_back(platform_db: Any) -> None:
    record_run(platform_db, run("running"))
    record_step(platform_db, step("content.process_photos", 1, "running", 10, None))
    record_step(platform_db, step("content.process_photos", 1, "success", 25, 40))
    # The resumed task's "running" event, delivered late, with Airflow's reset start.
    record_step(platform_db, step("content.process_photos", 1, "running", 25, None))
    record_step(platform_db, step("content.process_photos", 1, "success", 25, 40))

    assert rows(
        platform_db,
        "build_steps",
        "step, try_number, state, started_at, ended_at, duration_seconds, submission_id",
    ) == [("content.process_photos", 1, "success", at(10), at(40), 30.0, "sub-1")]


def test_a_retried_try_is_a_failed_attempt_with_its_error_masked(platform_db: Any) -> None:
    record_run(platform_db, run("running"))
    email, phone, iban = PERSONAL
    message = f"could not reach partner {email} / {phone} / {iban}"
    record_step(
        platform_db,
        step(
            "payout.create_payout_account",
            1,
            "up_for_retry",
            5,
            6,
            error_type="TransientError",
            error_message=message,
        ),
    )
    record_step(platform_db, step("payout.create_payout_account", 2, "success", 20, 21))

    found = rows(platform_db, "build_steps", "step, try_number, state, error_type, error_message")
    assert [r[:4] for r in found] == [
        ("payout.create_payout_account", 1, "failed", "TransientError"),
        ("payout.create_payout_account", 2, "success", None),
    ]
    stored = found[0][4]
    assert stored.startswith("could not reach partner ")
    for value in PERSONAL:
        assert value not in stored


def test_reconcile_fills_missing_steps_and_the_run_s_totals(platform_db: Any) -> None:
    platform_db.execute(
        "INSERT INTO platform.onboardings"
        " (submission_id, payload_sha256, submitted_at, status, property_id)"
        " VALUES ('sub-1', 'x', now(), 'building', 42)"
    )
    record_run(platform_db, run("running"))
    record_step(
        platform_db, step("intake.validate_submission", 1, "success", 1, 2)
    )  # one event only
    recorded = [
        step("intake.validate_submission", 1, "success", 1, 2),
        step("rooms.create_room_types[0]", 1, "success", 3, 4),
        step(
            "content.process_photos",
            1,
            "failed",
            3,
            9,
            error_type="PermanentError",
            error_message="HTTP 422",
        ),
        step("publish.run_quality_checks", 0, "upstream_failed", None, None),
    ]

    for _ in range(2):  # a replayed reconciliation changes nothing
        reconcile(platform_db, run("failed", ended=10), recorded)

    assert rows(platform_db, "build_steps", "step, try_number, state") == [
        ("content.process_photos", 1, "failed"),
        ("intake.validate_submission", 1, "success"),
        ("publish.run_quality_checks", 0, "upstream_failed"),
        ("rooms.create_room_types[0]", 1, "success"),
    ]
    assert rows(
        platform_db, "build_runs", "state, attempts_total, failed_step, error, property_id"
    ) == [("failed", 3, "content.process_photos", "PermanentError: HTTP 422", 42)]

    # Recovered: the failed step's second try succeeds; the run's failure fields clear.
    reconcile(
        platform_db,
        run("success", queued=100, started=100, ended=120),
        [
            *recorded[:2],
            step("content.process_photos", 2, "success", 101, 110),
            step("publish.run_quality_checks", 1, "success", 111, 112),
        ],
    )
    assert rows(
        platform_db, "build_runs", "state, attempts_total, failed_step, error, duration_seconds"
    ) == [("success", 5, None, None, 120.0)]


def test_scrub_masks_personal_data_and_keeps_the_rest() -> None:
    email, phone, iban = PERSONAL

    text = scrub(f"duplicate key (email)=({email}) phone {phone} iban {iban} at step 7")

    assert text is not None
    for value in PERSONAL:
        assert value not in text
    assert text.startswith("duplicate key (email)=(")
    assert text.endswith("at step 7")
    assert scrub(None) is None
    assert len(scrub("x" * 5000) or "") == 2000


def test_the_database_comes_from_an_airflow_connection() -> None:
    as_json = json.dumps(
        {
            "conn_type": "postgres",
            "host": "db",
            "port": 5433,
            "login": "u",
            "password": "p",
            "schema": "platform",
        }
    )

    assert (
        connection_url({"AIRFLOW_CONN_PROPERTY_DB": as_json}) == "postgresql://u:p@db:5433/platform"
    )
    assert (
        connection_url(
            {
                "AIRFLOW_CONN_PROPERTY_DB": "postgres://a@h/p",
                "AIRFLOW_CONN_ANALYTICS_DB": "postgresql://b@h/q",
            }
        )
        == "postgresql://b@h/q"
    )
    with pytest.raises(AnalyticsUnavailable):
        connection_url({})
