"""The legacy PropertyBuilder: every step of a build in one process, from step one again
after any error.

It runs the very step functions the DAG runs (`include.property_builder.build`), in
dependency order, each in its own transaction, with the three slow steps called in
line where the old monolith ran them: start the job on the property services, poll
until it ends, store its result. Any error throws the attempt away; after a pause the
build starts again from the first step. The old monolith kept no job ids between
attempts, so each attempt asks the property services for new jobs (the attempt number
is part of the job's idempotency key): their work is redone too.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import psycopg

from include.property_builder.build import build_property
from include.property_builder.chaos import maybe_fail
from include.property_builder.content import job_input, store_result
from include.property_builder.contract import Submission
from include.property_builder.errors import TransientError

log = logging.getLogger(__name__)

KINDS = ("photos", "descriptions", "calendar")


@dataclass(frozen=True)
class MonolithResult:
    """One build by the monolith: how it ended and what it cost."""

    submission_id: str
    succeeded: bool
    attempts: int
    steps_executed: int
    seconds: float


@dataclass
class Monolith:
    """The legacy runner against one platform database and one property-services API."""

    db_url: str
    services_url: str
    services_token: str
    fault_rate: float = 0.0
    restart_pause: float = 1.0
    max_attempts: int = 100
    poll_seconds: float = 0.2

    @contextmanager
    def _transaction(self) -> Iterator[psycopg.Connection[Any]]:
        with psycopg.connect(self.db_url) as conn, conn.transaction():
            yield conn

    def _job(self, http: httpx.Client, kind: str, key: str, job_input: Mapping[str, Any]) -> Any:
        started = http.post(f"/jobs/{kind}", json={"idempotency_key": key, "input": job_input})
        started.raise_for_status()
        job = started.json()
        while job["status"] not in {"succeeded", "failed"}:
            time.sleep(self.poll_seconds)
            answer = http.get(f"/jobs/{job['job_id']}")
            answer.raise_for_status()
            job = answer.json()
        if job["status"] == "failed":
            raise TransientError(f"{kind} job failed: {job['error']}")
        return job["result"]

    def build(self, sub: Submission, seed: int) -> MonolithResult:
        """Build `sub`, starting over after every error, until it succeeds."""
        rng = random.Random(seed)
        started = time.monotonic()
        executed = 0
        headers = {"Authorization": f"Bearer {self.services_token}"}
        with httpx.Client(base_url=self.services_url, headers=headers, timeout=30) as http:
            for attempt in range(1, self.max_attempts + 1):

                def before_step(name: str) -> None:
                    nonlocal executed
                    executed += 1
                    maybe_fail(name, self.fault_rate, rng)

                def content(property_id: int, rooms: list[Any], attempt: int = attempt) -> None:
                    nonlocal executed
                    for kind in KINDS:
                        executed += 1
                        key = f"{sub.submission_id}-monolith-{attempt}"
                        job = job_input(kind, sub, property_id, rooms)
                        result = self._job(http, kind, key, job)
                        with self._transaction() as conn:
                            store_result(kind, conn, sub, property_id, result)

                try:
                    build_property(self._transaction, sub, content, before_step)
                except (TransientError, psycopg.OperationalError, httpx.HTTPError) as err:
                    log.info(
                        "monolith attempt failed submission_id=%s attempt=%s error=%s",
                        sub.submission_id,
                        attempt,
                        type(err).__name__,
                    )
                    time.sleep(self.restart_pause)
                    continue
                return MonolithResult(
                    sub.submission_id, True, attempt, executed, time.monotonic() - started
                )
        return MonolithResult(
            sub.submission_id, False, self.max_attempts, executed, time.monotonic() - started
        )
