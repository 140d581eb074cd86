"""The analytics listener never lets a recording problem reach Airflow.

Airflow calls these hooks inside the scheduler loop and the task's process: a database
that is down must cost at most the connect timeout, and must not raise.
"""

from __future__ import annotations

import logging
import socket
import time
from datetime import UTC, datetime
from types import SimpleNamespace

import pytest

from include.analytics.recorder import CONNECT_TIMEOUT_SECONDS
from include.orchestration.analytics_listener import DAG_ID, AnalyticsListener


def _closed_port() -> int:
    """Return a loopback port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_database_that_cannot_be_reached_is_logged_and_swallowed(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_ANALYTICS_DB", f"postgresql://nobody@127.0.0.1:{_closed_port()}/platform"
    )
    now = datetime.now(UTC)
    # Stand-ins for the task instance and run Airflow passes: the attributes the hooks read.
    ti = SimpleNamespace(
        dag_id=DAG_ID, run_id="sub-1", task_id="intake.validate_submission", map_index=-1,
        try_number=1, state="success", start_date=now, end_date=now,
    )  # fmt: skip
    run = SimpleNamespace(
        dag_id=DAG_ID, run_id="sub-1", conf={"submission_id": "sub-1"}, state="running",
        queued_at=now, start_date=now, end_date=None,
    )  # fmt: skip
    listener = AnalyticsListener()

    started = time.monotonic()
    with caplog.at_level(logging.WARNING):
        listener.on_task_instance_running(None, ti)
        listener.on_task_instance_success(None, ti)
        listener.on_task_instance_failed(None, ti, RuntimeError("boom"))
        listener.on_dag_run_running(run, "started")
        listener.on_dag_run_failed(run, "task_failure")
    took = time.monotonic() - started

    assert took < 5 * (CONNECT_TIMEOUT_SECONDS + 1)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 5
    assert all(w.startswith("analytics not recorded event=") for w in warnings)
    assert "event=step_failed run_id=sub-1 error=OperationalError" in warnings[2]


def test_other_dags_are_ignored(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.delenv("AIRFLOW_CONN_ANALYTICS_DB", raising=False)
    monkeypatch.delenv("AIRFLOW_CONN_PROPERTY_DB", raising=False)
    other = SimpleNamespace(dag_id="someone_elses_dag", run_id="r", task_id="t")

    with caplog.at_level(logging.WARNING):
        AnalyticsListener().on_task_instance_success(None, other)

    assert not caplog.records  # not even an attempt to find a database
