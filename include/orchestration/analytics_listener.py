"""Airflow listener that records `property_builder` runs into the `analytics` schema.

Registered by `plugins/analytics_listener.py`. Run hooks fire in the scheduler, task hooks
in the task's process on the worker (or in the api-server when someone changes a state
over REST or in the UI). Recording never slows or breaks a build: connections and
statements time out within seconds, and every error is logged as one warning line and
swallowed. When a run ends, the scheduler's hook reconciles it from Airflow's own
records (every task instance and its earlier tries), which fills in what a lost event
missed, steps that never ran included.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from airflow.listeners import hookimpl

from include.analytics.recorder import (
    RunEvent,
    StepAttempt,
    connect,
    connection_url,
    reconcile,
    record_run,
    record_step,
    step_name,
)

log = logging.getLogger(__name__)

DAG_ID = "property_builder"


@contextmanager
def _guarded(what: str, run_id: str) -> Iterator[None]:
    """Log and swallow any failure: analytics must never fail or hold up a build."""
    try:
        yield
    except Exception as err:  # nothing may escape into Airflow
        log.warning(
            "analytics not recorded event=%s run_id=%s error=%s: %s",
            what,
            run_id,
            type(err).__name__,
            str(err)[:300],
        )


def _write(what: str, run_id: str, action: Callable[[Any], object]) -> None:
    with _guarded(what, run_id), connect(connection_url()) as conn:
        action(conn)


def _run_event(dag_run: Any) -> RunEvent:
    conf = dag_run.conf or {}
    submission = conf.get("submission_id") if isinstance(conf, dict) else None
    return RunEvent(
        run_id=dag_run.run_id,
        submission_id=submission if isinstance(submission, str) else None,
        state=str(dag_run.state),
        queued_at=dag_run.queued_at,
        started_at=dag_run.start_date,
        ended_at=dag_run.end_date,
    )


def _attempt(ti: Any, error: BaseException | str | None = None) -> StepAttempt:
    state = getattr(ti, "state", None)
    return StepAttempt(
        run_id=ti.run_id,
        step=step_name(ti.task_id, ti.map_index if ti.map_index is not None else -1),
        try_number=int(ti.try_number or 0),
        state=str(state) if state is not None else None,
        started_at=getattr(ti, "start_date", None),
        ended_at=getattr(ti, "end_date", None),
        error_type=type(error).__name__ if isinstance(error, BaseException) else None,
        error_message=str(error) if error is not None else None,
    )


def _recorded_attempts(dag_run: Any) -> list[StepAttempt]:
    """Return every try of every task of the run, as Airflow's database holds them.

    Read in the scheduler's own session, which already holds the states it is about to
    commit (the `upstream_failed` ones it just set).
    """
    from airflow.models.taskinstance import TaskInstance
    from airflow.models.taskinstancehistory import TaskInstanceHistory
    from sqlalchemy import select
    from sqlalchemy.orm import object_session

    session = object_session(dag_run)
    if session is None:
        return []
    attempts = []
    for model in (TaskInstanceHistory, TaskInstance):
        rows = session.scalars(
            select(model).where(model.dag_id == dag_run.dag_id, model.run_id == dag_run.run_id)
        )
        for ti in rows:
            attempt = _attempt(ti)
            if attempt.state == "upstream_failed" or attempt.try_number > 0:
                attempts.append(attempt)
    return attempts


class AnalyticsListener:
    """The hooks Airflow calls; each one records and never raises."""

    @hookimpl
    def on_dag_run_running(self, dag_run: Any, msg: str) -> None:
        """Record that a build started (or started again)."""
        if dag_run.dag_id == DAG_ID:
            event = _run_event(dag_run)
            _write("run_running", event.run_id, lambda conn: record_run(conn, event))

    @hookimpl
    def on_dag_run_success(self, dag_run: Any, msg: str) -> None:
        """Reconcile a build that succeeded."""
        self._ended(dag_run)

    @hookimpl
    def on_dag_run_failed(self, dag_run: Any, msg: str) -> None:
        """Reconcile a build that failed."""
        self._ended(dag_run)

    def _ended(self, dag_run: Any) -> None:
        if dag_run.dag_id != DAG_ID:
            return
        event = _run_event(dag_run)
        with _guarded("run_ended", event.run_id):
            attempts = _recorded_attempts(dag_run)
            _write("run_ended", event.run_id, lambda conn: reconcile(conn, event, attempts))

    @hookimpl
    def on_task_instance_running(self, previous_state: Any, task_instance: Any) -> None:
        """Record a step attempt that started."""
        self._step("step_running", task_instance, state="running")

    @hookimpl
    def on_task_instance_success(self, previous_state: Any, task_instance: Any) -> None:
        """Record a step attempt that succeeded."""
        self._step("step_success", task_instance, state="success")

    @hookimpl
    def on_task_instance_failed(
        self, previous_state: Any, task_instance: Any, error: BaseException | str | None
    ) -> None:
        """Record a step attempt that failed, with its error (personal data masked)."""
        self._step("step_failed", task_instance, state="failed", error=error)

    @hookimpl
    def on_task_instance_skipped(self, previous_state: Any, task_instance: Any) -> None:
        """Record a step that skipped itself."""
        self._step("step_skipped", task_instance, state="skipped")

    def _step(
        self,
        what: str,
        task_instance: Any,
        state: str,
        error: BaseException | str | None = None,
    ) -> None:
        if task_instance.dag_id != DAG_ID:
            return
        with _guarded(what, task_instance.run_id):
            attempt = _attempt(task_instance, error)
            attempt = StepAttempt(**{**attempt.__dict__, "state": state})
            _write(what, attempt.run_id, lambda conn: record_step(conn, attempt))


listener = AnalyticsListener()
