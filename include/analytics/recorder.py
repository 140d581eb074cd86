"""Write run metadata into the `analytics` schema: builds, step attempts, reconciliation.

Plain Python over a psycopg connection; the Airflow listener (`plugins/`) turns Airflow's
events into the values here. Every write is an upsert on (run, build) or (run, step,
try), so an event delivered twice, or replayed by the reconciliation at the end of a
run, never makes a second row. A later event never moves a finished attempt back to
running, whatever order events arrive in.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from include.property_builder.masking import mask_email, mask_iban, mask_phone

if TYPE_CHECKING:
    import psycopg

log = logging.getLogger(__name__)

FINISHED_STEP_STATES = frozenset({"success", "failed", "skipped", "upstream_failed", "removed"})
ENDED_RUN_STATES = frozenset({"success", "failed"})
CONNECT_TIMEOUT_SECONDS = 2
STATEMENT_TIMEOUT_MS = 2000
MAX_MESSAGE = 2000

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}[A-Z0-9]{10,30}\b")
_PHONE = re.compile(r"\+?\d[\d ().-]{7,}\d")


class AnalyticsUnavailable(RuntimeError):
    """Raised when the analytics database is not configured."""


@dataclass(frozen=True)
class RunEvent:
    """A build run's state as Airflow reports it."""

    run_id: str
    submission_id: str | None
    state: str
    queued_at: datetime | None
    started_at: datetime | None
    ended_at: datetime | None


@dataclass(frozen=True)
class StepAttempt:
    """One try of one step (a task instance try); `step` carries `[i]` for mapped ones."""

    run_id: str
    step: str
    try_number: int
    state: str | None
    started_at: datetime | None
    ended_at: datetime | None
    error_type: str | None = None
    error_message: str | None = None


def step_name(task_id: str, map_index: int) -> str:
    """Return the step's name: the task id, with `[map index]` for a mapped task's instance."""
    return task_id if map_index < 0 else f"{task_id}[{map_index}]"


def attempt_state(state: str | None) -> str | None:
    """Return an attempt's outcome: a try that failed is `failed`, retried or not."""
    return "failed" if state == "up_for_retry" else state


def scrub(message: str | None) -> str | None:
    """Return `message` with emails, IBANs and phone numbers masked, and cut to size."""
    if message is None:
        return None
    message = _EMAIL.sub(lambda m: mask_email(m.group(0)), message)
    message = _IBAN.sub(lambda m: mask_iban(m.group(0)), message)
    message = _PHONE.sub(lambda m: mask_phone(m.group(0)), message)
    return message[:MAX_MESSAGE]


def connection_url(environ: Mapping[str, str] | None = None) -> str:
    """Return the analytics database's URL from the environment.

    `AIRFLOW_CONN_ANALYTICS_DB` if set, else `AIRFLOW_CONN_PROPERTY_DB` (the platform
    database, which holds the `analytics` schema); either as a URI or as Airflow's JSON.
    """
    environ = os.environ if environ is None else environ
    raw = environ.get("AIRFLOW_CONN_ANALYTICS_DB") or environ.get("AIRFLOW_CONN_PROPERTY_DB")
    if not raw:
        raise AnalyticsUnavailable("no AIRFLOW_CONN_ANALYTICS_DB or AIRFLOW_CONN_PROPERTY_DB")
    if not raw.lstrip().startswith("{"):
        return raw.replace("postgres://", "postgresql://", 1)
    conn: dict[str, Any] = json.loads(raw)
    auth = conn.get("login") or ""
    if conn.get("password"):
        auth += f":{conn['password']}"
    host = f"{conn.get('host') or 'localhost'}:{conn.get('port') or 5432}"
    return f"postgresql://{auth + '@' if auth else ''}{host}/{conn.get('schema') or ''}"


def connect(url: str) -> psycopg.Connection[Any]:
    """Open a connection that gives up fast: recording must never hold up a build."""
    import psycopg

    return psycopg.connect(
        url,
        connect_timeout=CONNECT_TIMEOUT_SECONDS,
        options=f"-c statement_timeout={STATEMENT_TIMEOUT_MS} -c lock_timeout=1000",
        application_name="property_builder_analytics",
    )


def _seconds(start: datetime | None, end: datetime | None) -> float | None:
    return (end - start).total_seconds() if start and end else None


def record_run(conn: psycopg.Connection[Any], event: RunEvent) -> int:
    """Record a run's state; return the number of the build it belongs to.

    A run that starts again after it succeeded is a rebuild: a new build row, with
    `rebuilt_from` naming the one before. Otherwise the latest build is updated; its
    first queued and started times are kept, so a failed build recovered by an operator
    counts the wait for the operator in its time to live.
    """
    with conn.transaction():
        latest = conn.execute(
            "SELECT build, state, queued_at FROM analytics.build_runs WHERE run_id = %s"
            " ORDER BY build DESC LIMIT 1 FOR UPDATE",
            (event.run_id,),
        ).fetchone()
        ended = event.state in ENDED_RUN_STATES
        if latest is None or (
            latest[1] == "success" and not ended and event.queued_at != latest[2]
        ):
            build = 1 if latest is None else latest[0] + 1
            conn.execute(
                "INSERT INTO analytics.build_runs (run_id, build, submission_id, state,"
                " queued_at, started_at, ended_at, duration_seconds, rebuilt_from)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)"
                " ON CONFLICT (run_id, build) DO NOTHING",
                (
                    event.run_id,
                    build,
                    event.submission_id,
                    event.state,
                    event.queued_at,
                    event.started_at,
                    event.ended_at if ended else None,
                    _seconds(event.queued_at, event.ended_at) if ended else None,
                    None if latest is None else latest[0],
                ),
            )
            return build
        build = latest[0]
        conn.execute(
            "UPDATE analytics.build_runs SET"
            " submission_id = coalesce(submission_id, %(submission)s),"
            " state = %(state)s,"
            " queued_at = coalesce(queued_at, %(queued)s::timestamptz),"
            " started_at = coalesce(started_at, %(started)s::timestamptz),"
            " ended_at = %(ended)s::timestamptz,"
            " duration_seconds = extract(epoch FROM"
            "   %(ended)s::timestamptz - coalesce(queued_at, %(queued)s::timestamptz)),"
            " failed_step = CASE WHEN %(state)s::text = 'failed' THEN failed_step END,"
            " error = CASE WHEN %(state)s::text = 'failed' THEN error END,"
            " updated_at = now()"
            " WHERE run_id = %(run)s AND build = %(build)s",
            {
                "run": event.run_id,
                "build": build,
                "submission": event.submission_id,
                "state": event.state,
                "queued": event.queued_at,
                "started": event.started_at,
                "ended": event.ended_at if ended else None,
            },
        )
        return int(build)


def record_step(conn: psycopg.Connection[Any], attempt: StepAttempt) -> None:
    """Record one step attempt, in the run's latest build.

    A finished attempt is never moved back to running by a late event; the earliest
    start is kept (Airflow restarts a task's clock when it resumes from a deferral).
    """
    state = attempt_state(attempt.state)
    with conn.transaction():
        conn.execute(
            "INSERT INTO analytics.build_steps AS s (run_id, build, submission_id, step,"
            " try_number, state, started_at, ended_at, duration_seconds, error_type,"
            " error_message)"
            " SELECT %(run)s, coalesce(r.build, 1), r.submission_id, %(step)s, %(try)s::int,"
            " %(state)s::text, %(started)s::timestamptz, %(ended)s::timestamptz,"
            " %(duration)s::float8, %(etype)s::text, %(emsg)s::text"
            " FROM (SELECT 1) one LEFT JOIN LATERAL (SELECT build, submission_id"
            "   FROM analytics.build_runs WHERE run_id = %(run)s"
            "   ORDER BY build DESC LIMIT 1) r ON true"
            " ON CONFLICT (run_id, step, try_number) DO UPDATE SET"
            " state = CASE WHEN s.state = ANY(%(finished)s) AND NOT"
            "   coalesce(excluded.state = ANY(%(finished)s), false) THEN s.state"
            "   ELSE excluded.state END,"
            " submission_id = coalesce(s.submission_id, excluded.submission_id),"
            " started_at = least(s.started_at, excluded.started_at),"
            " ended_at = coalesce(excluded.ended_at, s.ended_at),"
            " duration_seconds = extract(epoch FROM coalesce(excluded.ended_at, s.ended_at)"
            "   - least(s.started_at, excluded.started_at)),"
            " error_type = coalesce(excluded.error_type, s.error_type),"
            " error_message = coalesce(excluded.error_message, s.error_message),"
            " updated_at = now()",
            {
                "run": attempt.run_id,
                "step": attempt.step,
                "try": attempt.try_number,
                "state": state,
                "started": attempt.started_at,
                "ended": attempt.ended_at,
                "duration": _seconds(attempt.started_at, attempt.ended_at),
                "etype": attempt.error_type,
                "emsg": scrub(attempt.error_message),
                "finished": list(FINISHED_STEP_STATES),
            },
        )


def reconcile(conn: psycopg.Connection[Any], run: RunEvent, attempts: Iterable[StepAttempt]) -> int:
    """Bring a run's rows up to date when it ends, from Airflow's own record of it.

    Fills in what lost events missed, steps that never ran included, then the run's
    totals: attempts, the step that failed it and its error, and the property built.
    Return the build number.
    """
    build = record_run(conn, run)
    for attempt in attempts:
        record_step(conn, attempt)
    with conn.transaction():
        conn.execute(
            "WITH latest AS ("
            "  SELECT DISTINCT ON (step) step, state, error_type, error_message, ended_at"
            "  FROM analytics.build_steps WHERE run_id = %(run)s AND build = %(build)s"
            "  ORDER BY step, try_number DESC),"
            " failed AS (SELECT step, coalesce(error_type || ': ', '') || error_message AS error"
            "  FROM latest WHERE state = 'failed' ORDER BY ended_at NULLS LAST LIMIT 1)"
            " UPDATE analytics.build_runs r SET"
            " attempts_total = (SELECT count(*) FROM analytics.build_steps"
            "   WHERE run_id = %(run)s AND build = %(build)s AND try_number > 0),"
            " failed_step = CASE WHEN r.state = 'failed' THEN (SELECT step FROM failed) END,"
            " error = CASE WHEN r.state = 'failed' THEN (SELECT error FROM failed) END,"
            " updated_at = now()"
            " WHERE r.run_id = %(run)s AND r.build = %(build)s",
            {"run": run.run_id, "build": build},
        )
        if conn.execute("SELECT to_regclass('platform.onboardings')").fetchone() != (None,):
            conn.execute(
                "UPDATE analytics.build_runs r SET property_id = o.property_id"
                " FROM platform.onboardings o"
                " WHERE o.submission_id = r.submission_id"
                " AND r.run_id = %s AND r.build = %s",
                (run.run_id, build),
            )
    log.info("analytics reconciled run_id=%s build=%s state=%s", run.run_id, build, run.state)
    return build
