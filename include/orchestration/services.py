"""The three slow steps as Airflow tasks: submit a job to the property services, then wait
for it in the triggerer, holding no worker slot.

`PropertyServiceJobOperator.execute` starts the job (idempotent on the submission id and
kind, so a retry or a cleared task reuses or restarts the same job) and defers on an
`HttpEventTrigger` that polls the job's status. `execute_complete` stores the result in
the platform database, or sorts the failure: permanent fails the task without retry,
transient raises for the retry policy to back off and submit again.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import time
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

from airflow.sdk import BaseOperator

from include.property_builder.errors import PermanentError, TransientError

log = logging.getLogger(__name__)

PROPERTY_SERVICES_CONN_ID = "property_services"
CHECK_PATH = "include.orchestration.job_checks.job_finished"


class JobFailed(PermanentError):
    """Raised when the property services report a job as failed for good."""


class JobFailedTransiently(TransientError):
    """Raised when a job failed in a way a new attempt may fix."""


def start_job(kind: str, idempotency_key: str, job_input: Mapping[str, Any]) -> dict[str, Any]:
    """Start (or find, or restart) the `kind` job for `idempotency_key`; return the job.

    Raises:
        TransientError: the service is unreachable, timed out or answered 5xx/429.
        PermanentError: the service refused the request (4xx).
    """
    import requests
    from airflow.providers.http.hooks.http import HttpHook

    hook = HttpHook(method="POST", http_conn_id=PROPERTY_SERVICES_CONN_ID)
    body = {"idempotency_key": idempotency_key, "input": job_input}
    try:
        response = hook.run(
            endpoint=f"jobs/{kind}",
            json=body,
            extra_options={"check_response": False, "timeout": 30},
        )
    except (requests.ConnectionError, requests.Timeout) as err:
        raise TransientError(f"property services unreachable ({kind} job): {err}") from None
    if response.status_code >= 500 or response.status_code == 429:
        raise TransientError(f"property services answered {response.status_code} to the {kind} job")
    if response.status_code >= 400:
        raise PermanentError(
            f"property services refused the {kind} job ({response.status_code}): "
            f"{response.text[:500]}"
        )
    job: dict[str, Any] = response.json()
    return job


class PropertyServiceJobOperator(BaseOperator):
    """Run one property-services job (`photos`, `descriptions` or `calendar`) for the build.

    `property_id` and `rooms` are usually XComArgs of the steps that created them; they
    are template fields, so Airflow resolves them and wires the dependencies.
    """

    template_fields: Sequence[str] = ("property_id", "rooms")
    ui_color = "#e8f4fa"

    def __init__(
        self,
        *,
        kind: str,
        property_id: Any,
        rooms: Any = (),
        poll_interval: float | None = None,
        job_timeout: timedelta | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.kind = kind
        self.property_id = property_id
        self.rooms = rooms
        self.poll_interval = poll_interval or float(
            os.environ.get("PROPERTY_SERVICES_POLL_SECONDS", 1.0)
        )
        self.job_timeout = job_timeout or timedelta(
            seconds=float(os.environ.get("PROPERTY_SERVICES_JOB_TIMEOUT_SECONDS", 1800))
        )

    @property
    def _step(self) -> str:
        """Return the step's name as the logs show it: the task id without its group."""
        return str(self.task_id).rsplit(".", 1)[-1]

    def _submission(self, context: Mapping[str, Any]) -> Any:
        from include.orchestration.runner import submission_from_context

        return submission_from_context(context)

    def execute(self, context: Any) -> int:
        """Start the job, then defer until it ends (or finish at once if it already has)."""
        from airflow.providers.http.triggers.http import HttpEventTrigger

        from include.property_builder.content import job_input

        sub = self._submission(context)
        # Index the rooms rather than iterate them: iterating Airflow's lazy sequence of a
        # mapped task's results reads one past the end and logs a misleading error.
        rooms = [dict(self.rooms[index]) for index in range(len(self.rooms))]
        payload = job_input(self.kind, sub, int(self.property_id), rooms)
        job = start_job(self.kind, sub.submission_id, payload)
        log.info(
            "step=%s outcome=job_started submission_id=%s property_id=%s job_id=%s status=%s"
            " attempt=%s created=%s restarted=%s",
            self._step,
            sub.submission_id,
            self.property_id,
            job["job_id"],
            job["status"],
            job.get("attempt"),
            job.get("created"),
            job.get("restarted"),
        )
        if job["status"] in {"succeeded", "failed"}:
            return self._finish(context, job)
        self.defer(
            trigger=HttpEventTrigger(
                http_conn_id=PROPERTY_SERVICES_CONN_ID,
                method="GET",
                endpoint=f"jobs/{job['job_id']}",
                response_check_path=CHECK_PATH,
                poll_interval=self.poll_interval,
                max_consecutive_failures=10,
            ),
            method_name="execute_complete",
            kwargs={"started": time.time()},
            timeout=self.job_timeout,
        )
        raise AssertionError("defer() returns only by raising")  # pragma: no cover

    def execute_complete(
        self, context: Any, event: Mapping[str, Any], started: float | None = None
    ) -> int:
        """Resume after the wait: read the job from the trigger's response and finish."""
        # `started` can be missing: `dag.test()` resumes with the event alone.
        response = event["response"]
        job = json.loads(base64.standard_b64decode(response["content"]))
        log.info(
            "step=%s outcome=job_finished job_id=%s status=%s waited_s=%s",
            self._step,
            job["job_id"],
            job["status"],
            f"{time.time() - started:.1f}" if started else "unknown",
        )
        return self._finish(context, job)

    def _finish(self, context: Any, job: Mapping[str, Any]) -> int:
        from include.orchestration.database import platform_transaction
        from include.property_builder.content import store_result

        sub = self._submission(context)
        if job["status"] == "failed":
            error = job.get("error") or {}
            message = (
                f"{self.kind} job {job['job_id']} failed (attempt {job.get('attempt')}): "
                f"{error.get('code')}: {error.get('message')}"
            )
            log.error(
                "step=%s outcome=%s submission_id=%s property_id=%s %s",
                self._step,
                "failed_permanently" if error.get("permanent") else "transient_fault",
                sub.submission_id,
                self.property_id,
                message,
            )
            if error.get("permanent", True):
                # TODO: Airflow 3.3 can retry a resumed deferred task once by mistake (a
                # stale executor event, apache/airflow#67287 and #72716); that retry
                # re-submits and so restarts a permanently failed job. Remove this note
                # when the Airflow we pin carries the fix.
                raise JobFailed(message)
            raise JobFailedTransiently(message)

        with platform_transaction() as conn:
            count = store_result(self.kind, conn, sub, int(self.property_id), job["result"])
        log.info(
            "step=%s outcome=succeeded submission_id=%s property_id=%s job_id=%s result=%s",
            self._step,
            sub.submission_id,
            self.property_id,
            job["job_id"],
            count,
        )
        return count
