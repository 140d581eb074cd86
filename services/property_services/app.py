"""The HTTP API (see API.md): `create_app(settings)` builds the FastAPI application.

The lifespan creates the service's schema, queues again the jobs a previous process left
`running`, and runs the worker for as long as the application serves.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import psycopg
from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse

from services.property_services import store
from services.property_services.db import Pool
from services.property_services.faults import Faults, FaultsError, FaultState
from services.property_services.inputs import (
    KINDS,
    InputError,
    Kind,
    normalized,
    parse_input,
    parse_request,
)
from services.property_services.settings import Settings
from services.property_services.worker import Worker

logger = logging.getLogger(__name__)

# Connections beyond the worker's, for the HTTP requests served at the same time.
REQUEST_CONNECTIONS = 8


class StartupError(RuntimeError):
    """Raised when the service cannot prepare its database at start-up."""


def create_app(settings: Settings) -> FastAPI:
    """Return the property-services application for `settings`."""
    faults = FaultState(settings.faults)
    pool = Pool(settings.db_url, settings.concurrency + REQUEST_CONNECTIONS, "jobs")
    platform_pool = Pool(settings.platform_db_url, settings.concurrency, "platform")
    worker = Worker(pool, platform_pool, faults, settings.concurrency, settings.poll_seconds)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:
            async with pool.connection() as conn:
                await store.ensure_schema(conn)
                requeued = await store.requeue_running(conn)
            async with platform_pool.connection() as conn:
                calendar_ready = await store.calendar_table_exists(conn)
        except psycopg.Error as err:
            raise StartupError(f"cannot prepare the property-services database: {err}") from err
        if requeued:
            logger.info("re-queued %d jobs left running by a previous process", len(requeued))
        if not calendar_ready:
            logger.warning(
                "platform.availability_calendar does not exist yet (the platform's migrations"
                " create it): calendar jobs will fail until it does"
            )
        await worker.start()
        logger.info("property services ready: concurrency=%d", settings.concurrency)
        try:
            yield
        finally:
            await worker.stop()
            await pool.close()
            await platform_pool.close()

    app = FastAPI(title="property-services", version="1", lifespan=lifespan)
    token = settings.token.encode("utf-8")

    async def require_token(request: Request) -> None:
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not given.strip():
            raise HTTPException(401, "missing bearer token", headers={"WWW-Authenticate": "Bearer"})
        if not hmac.compare_digest(given.strip().encode("utf-8"), token):
            raise HTTPException(401, "invalid bearer token", headers={"WWW-Authenticate": "Bearer"})

    async def request_faults() -> None:
        hang = faults.hang_seconds()
        if hang > 0:
            await asyncio.sleep(hang)
        if faults.answers_503():
            raise HTTPException(503, "injected fault: service unavailable")

    job_route = [Depends(require_token), Depends(request_faults)]

    @app.exception_handler(psycopg.OperationalError)
    async def database_unavailable(request: Request, exc: psycopg.OperationalError) -> JSONResponse:
        logger.warning("%s %s: database unavailable: %s", request.method, request.url.path, exc)
        return JSONResponse({"detail": "database unavailable"}, status_code=503)

    @app.get("/health")
    async def health() -> JSONResponse:
        async with pool.connection() as conn:
            await store.ping(conn)
        return JSONResponse({"status": "ok"})

    @app.post("/jobs/{kind}", status_code=202, dependencies=job_route)
    async def start_job(kind: str, request: Request) -> JSONResponse:
        known = _known_kind(kind)
        if faults.rejects(known):
            raise HTTPException(422, f"injected fault: {known} jobs are rejected")
        try:
            body = parse_request(await request.body())
            job_input = normalized(parse_input(known, body.input))
        except InputError as err:
            raise HTTPException(422, str(err)) from None
        try:
            async with pool.connection() as conn:
                submission = await store.submit(conn, known, body.idempotency_key, job_input)
        except store.InputConflict as err:
            raise HTTPException(409, str(err)) from None
        except store.JobVanished as err:
            # Only a deleted row gets here; the client may simply send the request again.
            raise HTTPException(503, str(err)) from None
        job = submission.job
        if submission.created or submission.restarted:
            worker.wake()
            logger.info(
                "job %s kind=%s idempotency_key=%s attempt=%d status=queued %s",
                job.job_id,
                job.kind,
                job.idempotency_key,
                job.attempt,
                "created" if submission.created else "restarted",
            )
        return JSONResponse(
            {
                **job.to_json(),
                "created": submission.created,
                "restarted": submission.restarted,
                "status_url": f"/jobs/{job.job_id}",
            },
            status_code=202,
        )

    @app.get("/jobs/{job_id}", dependencies=job_route)
    async def read_job(job_id: str) -> JSONResponse:
        try:
            parsed = uuid.UUID(job_id)
        except ValueError:
            raise HTTPException(404, f"no job {job_id!r}") from None
        async with pool.connection() as conn:
            job = await store.get_job(conn, parsed)
        if job is None:
            raise HTTPException(404, f"no job {job_id!r}")
        return JSONResponse(job.to_json())

    @app.get("/admin/faults", dependencies=[Depends(require_token)])
    async def read_faults() -> JSONResponse:
        return JSONResponse(_faults_json(faults.current()))

    @app.put("/admin/faults", dependencies=[Depends(require_token)])
    async def replace_faults(request: Request) -> JSONResponse:
        try:
            new = Faults.from_json(await request.body())
        except FaultsError as err:
            raise HTTPException(422, str(err)) from None
        faults.replace(new)
        logger.info("fault settings replaced: %s", new.model_dump_json())
        return JSONResponse(_faults_json(faults.current()))

    return app


def _known_kind(kind: str) -> Kind:
    for known in KINDS:
        if kind == known:
            return known
    raise HTTPException(404, f"unknown job kind {kind!r}; the kinds are {', '.join(KINDS)}")


def _faults_json(faults: Faults) -> dict[str, Any]:
    return faults.model_dump(mode="json")
