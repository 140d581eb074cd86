"""The SQL: the service's own job table (schema `property_services`) and the calendar rows
it writes into the platform database.

Jobs are claimed with `FOR UPDATE SKIP LOCKED`, so that workers never run one job twice at
once, and every state change is guarded by the job's status and attempt, so that a late
outcome of an old run cannot overwrite a newer one.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from psycopg import sql
from psycopg.types.json import Jsonb

from services.property_services.db import Conn
from services.property_services.inputs import Kind
from services.property_services.work import CalendarRow, JobError

logger = logging.getLogger(__name__)

SCHEMA = "property_services"
TERMINAL = frozenset({"succeeded", "failed"})
# Two services starting at once would otherwise race on CREATE SCHEMA IF NOT EXISTS.
SCHEMA_LOCK_KEY = 0x70726F7073  # "props"

SCHEMA_SQL = (
    "CREATE SCHEMA IF NOT EXISTS property_services",
    """
    CREATE TABLE IF NOT EXISTS property_services.jobs (
        job_id           uuid PRIMARY KEY,
        kind             text NOT NULL CHECK (kind IN ('photos', 'descriptions', 'calendar')),
        idempotency_key  text NOT NULL,
        status           text NOT NULL
                         CHECK (status IN ('queued', 'running', 'succeeded', 'failed')),
        attempt          integer NOT NULL DEFAULT 1,
        input            jsonb NOT NULL,
        result           jsonb,
        error            jsonb,
        created_at       timestamptz NOT NULL DEFAULT now(),
        updated_at       timestamptz NOT NULL DEFAULT now(),
        UNIQUE (kind, idempotency_key)
    )
    """,
    """
    CREATE INDEX IF NOT EXISTS jobs_queued
        ON property_services.jobs (updated_at) WHERE status = 'queued'
    """,
)

COLUMNS = (
    "job_id, kind, idempotency_key, status, attempt, input, result, error, created_at, updated_at"
)


class InputConflict(Exception):
    """Raised when a live or succeeded job holds the idempotency key with another input."""

    def __init__(self, job: Job) -> None:
        super().__init__(
            f"{job.kind} job {job.job_id} for idempotency key {job.idempotency_key!r} is"
            f" {job.status} with a different input"
        )
        self.job = job


class JobVanished(Exception):
    """Raised when a job disappears between two statements of one request."""


@dataclass(frozen=True)
class Job:
    """One row of `property_services.jobs`."""

    job_id: uuid.UUID
    kind: Kind
    idempotency_key: str
    status: str
    attempt: int
    input: dict[str, Any]
    result: dict[str, Any] | None
    error: dict[str, Any] | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Job:
        """Return the job in a row of `COLUMNS`."""
        return cls(**row)

    def to_json(self) -> dict[str, Any]:
        """Return the job as the API shows it."""
        return {
            "job_id": str(self.job_id),
            "kind": self.kind,
            "idempotency_key": self.idempotency_key,
            "status": self.status,
            "attempt": self.attempt,
            "result": self.result,
            "error": self.error,
            "created_at": self.created_at.astimezone(UTC).isoformat(),
            "updated_at": self.updated_at.astimezone(UTC).isoformat(),
        }


@dataclass(frozen=True)
class Submission:
    """What `POST /jobs/{kind}` did: the job, and whether it was created or restarted."""

    job: Job
    created: bool
    restarted: bool


async def ensure_schema(conn: Conn) -> None:
    """Create the service's schema and tables unless they exist."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK_KEY,))
        for statement in SCHEMA_SQL:
            await conn.execute(statement)


async def requeue_running(conn: Conn) -> list[uuid.UUID]:
    """Put every `running` job back in the queue (at start-up: their runs died with us)."""
    cur = await conn.execute(
        "UPDATE property_services.jobs SET status = 'queued', updated_at = now()"
        " WHERE status = 'running' RETURNING job_id"
    )
    return [row["job_id"] for row in await cur.fetchall()]


async def submit(conn: Conn, kind: Kind, key: str, job_input: dict[str, Any]) -> Submission:
    """Start the `kind` job for `key`, or return it, or restart it if it failed.

    Raises:
        InputConflict: the job for `key` is live or succeeded and has another input.
        JobVanished: the job was deleted while we looked at it.
    """
    async with conn.transaction():
        # DO NOTHING waits for a concurrent insert of the same key to commit, so that
        # exactly one of many simultaneous requests creates the job.
        cur = await conn.execute(
            f"INSERT INTO property_services.jobs (job_id, kind, idempotency_key, status, input)"
            f" VALUES (%s, %s, %s, 'queued', %s)"
            f" ON CONFLICT (kind, idempotency_key) DO NOTHING RETURNING {COLUMNS}",
            (uuid.uuid4(), kind, key, Jsonb(job_input)),
        )
        row = await cur.fetchone()
        if row is not None:
            return Submission(Job.from_row(row), created=True, restarted=False)
        cur = await conn.execute(
            f"SELECT {COLUMNS} FROM property_services.jobs"
            " WHERE kind = %s AND idempotency_key = %s FOR UPDATE",
            (kind, key),
        )
        row = await cur.fetchone()
        if row is None:
            raise JobVanished(f"the {kind} job for {key!r} was deleted while being submitted")
        job = Job.from_row(row)
        if job.status != "failed":
            if job.input != job_input:
                raise InputConflict(job)
            return Submission(job, created=False, restarted=False)
        cur = await conn.execute(
            f"UPDATE property_services.jobs SET status = 'queued', attempt = attempt + 1,"
            f" error = NULL, result = NULL, input = %s, updated_at = now()"
            f" WHERE job_id = %s RETURNING {COLUMNS}",
            (Jsonb(job_input), job.job_id),
        )
        row = await cur.fetchone()
        if row is None:
            raise JobVanished(f"{kind} job {job.job_id} was deleted while being restarted")
        return Submission(Job.from_row(row), created=False, restarted=True)


async def get_job(conn: Conn, job_id: uuid.UUID) -> Job | None:
    """Return the job with `job_id`, or None."""
    cur = await conn.execute(
        f"SELECT {COLUMNS} FROM property_services.jobs WHERE job_id = %s", (job_id,)
    )
    row = await cur.fetchone()
    return None if row is None else Job.from_row(row)


async def claim(conn: Conn, limit: int) -> list[Job]:
    """Mark up to `limit` queued jobs `running`, oldest first, and return them."""
    cur = await conn.execute(
        f"""
        UPDATE property_services.jobs SET status = 'running', updated_at = now()
        WHERE job_id IN (
            SELECT job_id FROM property_services.jobs WHERE status = 'queued'
            ORDER BY updated_at, job_id LIMIT %s FOR UPDATE SKIP LOCKED
        )
        RETURNING {COLUMNS}
        """,
        (limit,),
    )
    jobs = [Job.from_row(row) for row in await cur.fetchall()]
    return sorted(jobs, key=lambda job: job.updated_at)


async def succeed(conn: Conn, job: Job, result: dict[str, Any]) -> bool:
    """Record this run of `job` as succeeded; False if the job is no longer in this run."""
    cur = await conn.execute(
        "UPDATE property_services.jobs"
        " SET status = 'succeeded', result = %s, error = NULL, updated_at = now()"
        " WHERE job_id = %s AND attempt = %s AND status = 'running'",
        (Jsonb(result), job.job_id, job.attempt),
    )
    return cur.rowcount == 1


async def fail(conn: Conn, job: Job, error: JobError) -> bool:
    """Record this run of `job` as failed; False if the job is no longer in this run."""
    cur = await conn.execute(
        "UPDATE property_services.jobs"
        " SET status = 'failed', error = %s, result = NULL, updated_at = now()"
        " WHERE job_id = %s AND attempt = %s AND status = 'running'",
        (Jsonb(error.to_json()), job.job_id, job.attempt),
    )
    return cur.rowcount == 1


async def requeue(conn: Conn, job_ids: Sequence[uuid.UUID]) -> int:
    """Put these `running` jobs back in the queue (their runs were stopped); return how many."""
    cur = await conn.execute(
        "UPDATE property_services.jobs SET status = 'queued', updated_at = now()"
        " WHERE job_id = ANY(%s) AND status = 'running'",
        (list(job_ids),),
    )
    return cur.rowcount


async def ping(conn: Conn) -> None:
    """Run the cheapest query, to prove the database answers."""
    await conn.execute("SELECT 1")


# --- the platform database ------------------------------------------------------------

CALENDAR_TABLE = sql.Identifier("platform", "availability_calendar")
CALENDAR_COLUMNS = ("room_type_id", "day", "available_units", "rate", "currency")


async def calendar_table_exists(conn: Conn) -> bool:
    """Return whether the platform's migrations have created the calendar table."""
    cur = await conn.execute("SELECT to_regclass('platform.availability_calendar') AS name")
    row = await cur.fetchone()
    return row is not None and row["name"] is not None


async def write_calendar(conn: Conn, rows: Sequence[CalendarRow]) -> None:
    """Upsert `rows` into the calendar in one transaction, keyed by (room_type_id, day).

    The rows go through COPY into a temporary table and then one INSERT ... ON CONFLICT,
    which is far quicker than a statement per row for a year of many room types.
    """
    columns = sql.SQL(", ").join(sql.Identifier(name) for name in CALENDAR_COLUMNS)
    async with conn.transaction():
        await conn.execute(
            sql.SQL("CREATE TEMPORARY TABLE calendar_load (LIKE {table}) ON COMMIT DROP").format(
                table=CALENDAR_TABLE
            )
        )
        async with conn.cursor() as cur:
            copy_sql = sql.SQL("COPY calendar_load ({columns}) FROM STDIN").format(columns=columns)
            async with cur.copy(copy_sql) as copy:
                for row in rows:
                    await copy.write_row(
                        (row.room_type_id, row.day, row.available_units, row.rate, row.currency)
                    )
        # Rows that already hold these values are left alone: a restarted job then
        # rewrites nothing.
        await conn.execute(
            sql.SQL(
                """
                INSERT INTO {table} AS c ({columns})
                SELECT {columns} FROM calendar_load
                ON CONFLICT (room_type_id, day) DO UPDATE
                SET available_units = EXCLUDED.available_units,
                    rate = EXCLUDED.rate,
                    currency = EXCLUDED.currency
                WHERE (c.available_units, c.rate, c.currency)
                    IS DISTINCT FROM (EXCLUDED.available_units, EXCLUDED.rate, EXCLUDED.currency)
                """
            ).format(table=CALENDAR_TABLE, columns=columns)
        )
    logger.debug("upserted %d calendar rows", len(rows))
