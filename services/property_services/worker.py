"""The background worker: claims queued jobs and runs up to `concurrency` of them at once.

It lives inside the service process (started and stopped by the app's lifespan). Its
state is all in PostgreSQL: a job it was running when the process died is found
`running` at the next start-up and queued again, so nothing is lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import psycopg

from services.property_services import store, work
from services.property_services.db import Conn, Pool
from services.property_services.faults import FaultState
from services.property_services.inputs import (
    CalendarInput,
    DescriptionsInput,
    InputError,
    PhotosInput,
    parse_input,
)
from services.property_services.work import JobError, JobFailure

logger = logging.getLogger(__name__)

Outcome = TypeVar("Outcome")

# Pauses between attempts to record a job's outcome while the database is unreachable.
RECORD_RETRY_SECONDS = (0.5, 1.0, 2.0, 4.0)
CLAIM_ERROR_PAUSE_SECONDS = 1.0


class Worker:
    """Runs the queued jobs of the service's database, `concurrency` at a time."""

    def __init__(
        self,
        pool: Pool,
        platform_pool: Pool,
        faults: FaultState,
        concurrency: int,
        poll_seconds: float,
    ) -> None:
        self._pool = pool
        self._platform_pool = platform_pool
        self._faults = faults
        self._concurrency = concurrency
        self._poll_seconds = poll_seconds
        self._wake = asyncio.Event()
        self._running: dict[uuid.UUID, asyncio.Task[None]] = {}
        self._loop_task: asyncio.Task[None] | None = None

    def wake(self) -> None:
        """Look for queued jobs now rather than at the next poll (a job was just queued)."""
        self._wake.set()

    async def start(self) -> None:
        """Start claiming and running jobs in the background."""
        self._loop_task = asyncio.create_task(self._loop(), name="property-services-worker")
        self._loop_task.add_done_callback(_report_loop_end)

    async def stop(self) -> None:
        """Stop claiming, stop the runs in progress and put their jobs back in the queue."""
        if self._loop_task is not None:
            self._loop_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop_task
        stopped = list(self._running)
        for task in self._running.values():
            task.cancel()
        await asyncio.gather(*self._running.values(), return_exceptions=True)
        if not stopped:
            return
        try:
            async with self._pool.connection() as conn:
                count = await store.requeue(conn, stopped)
        except psycopg.Error as err:
            # Not lost: the next start-up queues every job it finds running.
            logger.warning("could not re-queue %d stopped jobs: %s", len(stopped), err)
            return
        logger.info("stopped %d running jobs; re-queued %d", len(stopped), count)

    async def _loop(self) -> None:
        while True:
            self._wake.clear()
            free = self._concurrency - len(self._running)
            if free > 0:
                try:
                    async with self._pool.connection() as conn:
                        jobs = await store.claim(conn, free)
                except psycopg.Error as err:
                    logger.warning("could not claim jobs, trying again shortly: %s", err)
                    await asyncio.sleep(CLAIM_ERROR_PAUSE_SECONDS)
                    continue
                for job in jobs:
                    self._launch(job)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._poll_seconds):
                    await self._wake.wait()

    def _launch(self, job: store.Job) -> None:
        task = asyncio.create_task(self._run(job), name=f"job-{job.job_id}")
        self._running[job.job_id] = task

        def finished(_: asyncio.Task[None]) -> None:
            self._running.pop(job.job_id, None)
            self._wake.set()  # a slot is free

        task.add_done_callback(finished)

    async def _run(self, job: store.Job) -> None:
        try:
            result = await self._execute(job)
        except JobFailure as failure:
            await self._record_failure(job, failure.error)
            return
        except psycopg.OperationalError as err:
            await self._record_failure(
                job, JobError("platform_db_unavailable", f"platform database: {err}", False)
            )
            return
        except psycopg.Error as err:
            await self._record_failure(
                job, JobError("platform_db_error", f"platform database: {err}", False)
            )
            return
        except Exception as err:
            # The worker must outlive any one broken run: record the job as failed (a
            # new attempt may fare better) and keep serving the others.
            logger.exception("job %s kind=%s crashed", job.job_id, job.kind)
            await self._record_failure(
                job, JobError("internal_error", f"{type(err).__name__}: {err}", False)
            )
            return
        if await self._record(store.succeed, job, result):
            logger.info(
                "job %s kind=%s idempotency_key=%s attempt=%d status=succeeded",
                job.job_id,
                job.kind,
                job.idempotency_key,
                job.attempt,
            )

    async def _execute(self, job: store.Job) -> dict[str, Any]:
        """Do the job's work and return its result.

        An injected failure comes after the work, as when a run crashes after its side
        effects: a restarted calendar job then writes its rows a second time, which the
        upsert makes harmless.
        """
        delay = self._faults.job_delay(job.kind)
        if delay > 0:
            await asyncio.sleep(delay)
        try:
            job_input = parse_input(job.kind, job.input)
        except InputError as err:
            raise JobFailure(JobError("invalid_input", str(err), True)) from None
        result: dict[str, Any]
        if isinstance(job_input, PhotosInput):
            result = await asyncio.to_thread(work.process_photos, job_input)
        elif isinstance(job_input, DescriptionsInput):
            result = await asyncio.to_thread(work.describe, job_input)
        else:
            result = await self._calendar(job_input)
        injected = self._faults.take_job_failure(job.kind)
        if injected is not None:
            raise JobFailure(injected)
        return result

    async def _calendar(self, job_input: CalendarInput) -> dict[str, Any]:
        rows = await asyncio.to_thread(work.calendar_rows, job_input)
        async with self._platform_pool.connection() as conn:
            await store.write_calendar(conn, rows)
        return work.calendar_result(job_input)

    async def _record_failure(self, job: store.Job, error: JobError) -> None:
        if await self._record(store.fail, job, error):
            logger.warning(
                "job %s kind=%s idempotency_key=%s attempt=%d status=failed code=%s"
                " permanent=%s message=%s",
                job.job_id,
                job.kind,
                job.idempotency_key,
                job.attempt,
                error.code,
                error.permanent,
                error.message,
            )

    async def _record(
        self,
        update: Callable[[Conn, store.Job, Outcome], Awaitable[bool]],
        job: store.Job,
        outcome: Outcome,
    ) -> bool:
        """Store a run's outcome with `update` (`store.succeed` or `store.fail`).

        Returns False when the outcome could not be stored: the job was restarted or
        deleted meanwhile, or the database stayed unreachable (the job then stays
        `running` until the next start-up queues it again).
        """
        for pause in (*RECORD_RETRY_SECONDS, None):
            try:
                async with self._pool.connection() as conn:
                    recorded = await update(conn, job, outcome)
            except psycopg.OperationalError as err:
                if pause is None:
                    logger.error(
                        "job %s kind=%s: could not record its outcome, giving up: %s",
                        job.job_id,
                        job.kind,
                        err,
                    )
                    return False
                await asyncio.sleep(pause)
                continue
            if not recorded:
                logger.info(
                    "job %s kind=%s attempt=%d: outcome dropped, the job moved on meanwhile",
                    job.job_id,
                    job.kind,
                    job.attempt,
                )
            return recorded
        return False


def _report_loop_end(task: asyncio.Task[None]) -> None:
    # The loop only ends by cancellation at shutdown; anything else would silently stop
    # all job processing, so say so loudly.
    if task.cancelled():
        return
    error = task.exception()
    if error is not None:
        logger.error("the job worker stopped; no job runs until a restart", exc_info=error)
