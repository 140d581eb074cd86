"""Run metadata from real Airflow runs: the listener plugin fills the `analytics` schema.

A stack of real Airflow processes loads `plugins/analytics_listener.py`; builds are sent
over REST. After each scenario the analytics rows must match what Airflow itself reports
for the run, attempt by attempt.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from include.devstack.airflow_stack import AirflowStack
from include.signup_client import RunStatus, SignupClient
from tests.conftest import new_stack
from tests.helpers import variant

PASSWORDS = {"admin": "analytics-admin", "signup": "analytics-signup"}


@pytest.fixture(scope="module")
def stack(property_services: Any) -> Iterator[AirflowStack]:
    """Airflow with the analytics plugin; retries after 1 s so a retried step is quick."""
    stack: AirflowStack = new_stack(
        "analytics",
        {"PROPERTY_BUILDER_RETRY_DELAY_SECONDS": "1"},
        passwords=PASSWORDS,
    )
    try:
        stack.start()
        yield stack
    finally:
        stack.stop()


@pytest.fixture
def operator(stack: AirflowStack) -> Iterator[SignupClient]:
    """An operator's client (it may submit, clear and rebuild)."""
    with SignupClient(stack.url, "admin", PASSWORDS["admin"]) as client:
        yield client


def _build(client: SignupClient, example: dict[str, Any], submission_id: str) -> RunStatus:
    client.submit(variant(example, lambda s: s.update(submission_id=submission_id)))
    return client.wait(submission_id, timeout=300, poll=0.5)


def _steps(conn: Any, run_id: str, build: int | None = None) -> set[tuple[Any, ...]]:
    sql = "SELECT step, try_number, state FROM analytics.build_steps WHERE run_id = %s"
    params: tuple[Any, ...] = (run_id,)
    if build is not None:
        sql += " AND build = %s"
        params += (build,)
    return {tuple(row) for row in conn.execute(sql, params)}  # type: ignore[arg-type]


def _latest_tries(conn: Any, run_id: str) -> set[tuple[Any, ...]]:
    return {
        tuple(row)
        for row in conn.execute(
            "SELECT DISTINCT ON (step) step, try_number, state FROM analytics.build_steps"
            " WHERE run_id = %s ORDER BY step, try_number DESC",
            (run_id,),
        )
    }


def _tries(status: RunStatus) -> int:
    """Return how many tries Airflow made of the run's steps in all."""
    return sum(step.try_number for step in status.steps)


def _airflow_view(status: RunStatus) -> set[tuple[Any, ...]]:
    return {(step.label, step.try_number, step.state) for step in status.steps}


def _runs(conn: Any, run_id: str) -> list[tuple[Any, ...]]:
    return [
        tuple(row)
        for row in conn.execute(
            "SELECT build, state, attempts_total, failed_step, rebuilt_from,"
            " property_id IS NOT NULL, submission_id, duration_seconds > 0"
            " FROM analytics.build_runs WHERE run_id = %s ORDER BY build",
            (run_id,),
        )
    ]


def _settled(conn: Any, run_id: str, builds: int) -> None:
    """Wait for the run's reconciliation (the scheduler writes it just after the run ends)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        ended = conn.execute(
            "SELECT count(*) FROM analytics.build_runs WHERE run_id = %s AND ended_at IS NOT NULL"
            " AND attempts_total > 0",
            (run_id,),
        ).fetchone()[0]
        if ended >= builds:
            return
        time.sleep(0.3)


def test_a_retried_step_and_a_rebuild_are_recorded_attempt_by_attempt(
    operator: SignupClient, platform_db: Any, services: Any, example: dict[str, Any]
) -> None:
    # The descriptions job fails transiently once: its step fails, is retried, succeeds.
    services.set_faults(transient_job_failures={"descriptions": 1})
    first = _build(operator, example, "sub-an-1")
    assert first.state == "success"
    _settled(platform_db, "sub-an-1", 1)

    steps = _steps(platform_db, "sub-an-1", build=1)
    retried = "content.translate_descriptions"
    # Every try of every step, as Airflow counts them. (A deferred step can show one
    # extra try, apache/airflow#67287; comparing with Airflow's own count allows for it.)
    assert _latest_tries(platform_db, "sub-an-1") == _airflow_view(first)
    assert len(steps) == _tries(first)
    assert (retried, 1, "failed") in steps and (retried, 2, "success") in steps
    error = platform_db.execute(
        "SELECT error_type, error_message FROM analytics.build_steps"
        " WHERE run_id = 'sub-an-1' AND step = %s AND try_number = 1",
        (retried,),
    ).fetchone()
    assert error[0] == "JobFailedTransiently" and "transient" in error[1].lower()
    assert _runs(platform_db, "sub-an-1") == [
        (1, "success", _tries(first), None, None, True, "sub-an-1", True)
    ]
    reliability = platform_db.execute(
        "SELECT attempts, failed_attempts, saved_by_retry FROM analytics.step_reliability"
        " WHERE step = %s",
        (retried,),
    ).fetchone()
    assert tuple(reliability) == (2, 1, 1)

    services.set_faults()
    operator.rebuild("sub-an-1")
    second = operator.wait("sub-an-1", timeout=300, poll=0.5)
    assert second.state == "success"
    _settled(platform_db, "sub-an-1", 2)

    # A second build of the same run id: a new row, every step once more, none lost.
    rebuilt_tries = _tries(second) - _tries(first)
    assert _runs(platform_db, "sub-an-1")[1] == (
        2, "success", rebuilt_tries, None, 1, True, "sub-an-1", True
    )  # fmt: skip
    assert _latest_tries(platform_db, "sub-an-1") == _airflow_view(second)
    assert len(_steps(platform_db, "sub-an-1", build=2)) == rebuilt_tries
    assert len(_steps(platform_db, "sub-an-1")) == _tries(second)


def test_a_failed_build_and_its_recovery_are_one_build(
    operator: SignupClient, platform_db: Any, services: Any, example: dict[str, Any]
) -> None:
    services.set_faults(reject_kinds=["photos"])
    failed = _build(operator, example, "sub-an-2")
    assert failed.state == "failed"
    _settled(platform_db, "sub-an-2", 1)

    never_ran = {s.label for s in failed.steps if s.state == "upstream_failed"}
    assert never_ran  # the publish steps
    assert _latest_tries(platform_db, "sub-an-2") == _airflow_view(failed)
    assert {(label, 0, "upstream_failed") for label in never_ran} <= _steps(platform_db, "sub-an-2")
    run = platform_db.execute(
        "SELECT state, failed_step, error FROM analytics.build_runs WHERE run_id = 'sub-an-2'"
    ).fetchone()
    assert run[:2] == ("failed", "content.process_photos")
    assert run[2].startswith("PermanentError") and "422" in run[2]

    services.set_faults()
    operator.retry_failed(run_ids=["sub-an-2"], dry_run=False)
    recovered = operator.wait("sub-an-2", timeout=300, poll=0.5)
    assert recovered.state == "success"
    _settled(platform_db, "sub-an-2", 1)

    assert _runs(platform_db, "sub-an-2") == [
        (1, "success", _tries(recovered), None, None, True, "sub-an-2", True)
    ]
    assert _latest_tries(platform_db, "sub-an-2") == _airflow_view(recovered)
    assert {("content.process_photos", 1, "failed"), ("content.process_photos", 2, "success")} <= (
        _steps(platform_db, "sub-an-2")
    )


def test_a_listener_that_cannot_write_does_not_hold_up_or_fail_the_build(
    stack: AirflowStack, operator: SignupClient, platform_db: Any, services: Any,
    example: dict[str, Any], platform_url: str,
) -> None:  # fmt: skip
    # Another session holds the analytics tables locked: every write waits for its lock
    # timeout (1 s), fails, and is logged and dropped.
    with psycopg.connect(platform_url) as blocker:
        blocker.execute(
            "LOCK TABLE analytics.build_runs, analytics.build_steps IN ACCESS EXCLUSIVE MODE"
        )
        started = time.monotonic()
        finished = _build(operator, example, "sub-an-3")
        took = time.monotonic() - started
        blocker.rollback()

    assert finished.state == "success"
    assert took < 240, took
    assert "analytics not recorded event=run_running run_id=sub-an-3" in stack.log_tail(
        "scheduler", chars=5_000_000
    )
    assert _runs(platform_db, "sub-an-3") == []
