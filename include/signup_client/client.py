"""A typed client for the sign-up tool: trigger, watch, rebuild and retry property builds.

It speaks only Airflow's REST API (v2) and imports nothing of the DAG: another team can
vendor this file. One submission is one run of `property_builder`, and the run id IS the
submission id, so Airflow itself refuses a second run of the same submission (HTTP 409).
That makes every call here safe to repeat:

- `submit` retried after a lost answer finds the run its first attempt made and returns
  it; it never starts two builds.
- `rebuild` checks the run's `queued_at` before it repeats a clear, so a lost answer never
  clears a build that is already running again.
- `retry_failed` clears only steps that are still failed, so a repeat is a no-op.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx

log = logging.getLogger(__name__)

DAG_ID = "property_builder"
TERMINAL_STATES = frozenset({"success", "failed"})
SUBMISSION_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
RETRIED_STATUS = frozenset({502, 503, 504})
PAGE = 500


class SignupClientError(RuntimeError):
    """Raised when a call to Airflow fails in a way the caller has to act on."""


class AuthenticationFailed(SignupClientError):
    """Raised when Airflow refuses the login or the token (HTTP 401)."""


class PermissionDenied(SignupClientError):
    """Raised when the user may not do what was asked (HTTP 403)."""


class AirflowUnavailable(SignupClientError):
    """Raised when Airflow cannot be reached or answers 5xx after every retry."""


class SubmissionRejected(SignupClientError):
    """Raised when a submission is malformed; no run was created for it."""


class SubmissionConflict(SignupClientError):
    """Raised when a submission id already has a run built from different content."""


class RunNotFound(SignupClientError):
    """Raised when no run exists for a submission id."""


class RunStillActive(SignupClientError):
    """Raised when a rebuild is asked for a run that has not ended yet."""


@dataclass(frozen=True)
class StepState:
    """One step of a run: a task instance (mapped steps have one per room type)."""

    step: str
    map_index: int
    state: str | None
    try_number: int
    started_at: str | None
    ended_at: str | None

    @property
    def label(self) -> str:
        """Return the step's name, with its map index when it is one of a mapped step's."""
        return self.step if self.map_index < 0 else f"{self.step}[{self.map_index}]"


@dataclass(frozen=True)
class RunStatus:
    """A build: its run's state and its steps' states."""

    run_id: str
    state: str
    queued_at: str | None
    started_at: str | None
    ended_at: str | None
    steps: tuple[StepState, ...] = ()
    created: bool = False

    @property
    def ended(self) -> bool:
        """Return True once the run succeeded or failed."""
        return self.state in TERMINAL_STATES

    def steps_in(self, *states: str | None) -> list[StepState]:
        """Return the steps whose state is one of `states`."""
        return [step for step in self.steps if step.state in states]


@dataclass(frozen=True)
class ClearedStep:
    """A step that `retry_failed` cleared, or would clear on a dry run."""

    run_id: str
    step: str
    map_index: int
    state: str | None

    @property
    def label(self) -> str:
        """Return the step's name, with its map index when it is one of a mapped step's."""
        return self.step if self.map_index < 0 else f"{self.step}[{self.map_index}]"


def submission_id_of(submission: Mapping[str, Any]) -> str:
    """Return the submission's id, which is also its run id; raise if it has none usable."""
    value = submission.get("submission_id")
    if not isinstance(value, str) or not SUBMISSION_ID.match(value):
        raise SubmissionRejected(
            "submission_id: must be 1 to 64 letters, digits, '-' or '_' "
            "(it is the build's run id and idempotency key)"
        )
    return value


def same_content(first: Any, second: Any) -> bool:
    """Return True if two JSON documents are equal, whatever their key order."""
    return json.dumps(first, sort_keys=True) == json.dumps(second, sort_keys=True)


def _detail(response: httpx.Response) -> str:
    """Return the error Airflow gave, shortened: FastAPI puts it under `detail`."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:500]
    detail = body.get("detail", body) if isinstance(body, dict) else body
    if isinstance(detail, list):
        parts = []
        for item in detail:
            if isinstance(item, dict):
                where = ".".join(str(part) for part in item.get("loc", []))
                parts.append(f"{where}: {item.get('msg', item)}" if where else str(item))
            else:
                parts.append(str(item))
        return "; ".join(parts)[:1000]
    return str(detail)[:1000]


class SignupClient:
    """Airflow's REST API as one user, with retries for network faults and 5xx answers."""

    def __init__(
        self,
        url: str,
        username: str,
        password: str,
        *,
        timeout: float = 30.0,
        attempts: int = 5,
        backoff: float = 0.5,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._http = httpx.Client(base_url=url.rstrip("/"), timeout=timeout, transport=transport)
        self._username = username
        self._password = password
        self._attempts = attempts
        self._backoff = backoff
        self._sleep = sleep
        self._token: str | None = None

    def __enter__(self) -> SignupClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def _send(self, method: str, path: str, body: Any = None, auth: bool = True) -> httpx.Response:
        """Send one request, retrying network faults and 502/503/504 with backoff.

        Only call this for requests that are safe to repeat; `rebuild` guards its own.
        """
        for attempt in range(1, self._attempts + 1):
            headers = {"Authorization": f"Bearer {self.token()}"} if auth else {}
            try:
                response = self._http.request(method, path, json=body, headers=headers)
            except httpx.TransportError as err:
                problem = f"{type(err).__name__}: {err}"
            else:
                if response.status_code == 401 and auth and attempt == 1:
                    self._token = None  # expired: log in again, once
                    continue
                if response.status_code not in RETRIED_STATUS:
                    return response
                problem = f"HTTP {response.status_code}"
            if attempt == self._attempts:
                raise AirflowUnavailable(
                    f"{method} {path} failed {self._attempts} times, last: {problem}"
                )
            delay = self._backoff * 2 ** (attempt - 1)
            log.warning(
                "airflow call failed, retrying method=%s path=%s attempt=%s problem=%s",
                method,
                path,
                attempt,
                problem,
            )
            self._sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        """Send a request that is safe to repeat; return its JSON or raise a typed error."""
        response = self._send(method, path, body)
        self._raise_for(response, f"{method} {path}")
        return response.json() if response.content else None

    @staticmethod
    def _raise_for(response: httpx.Response, what: str) -> None:
        status = response.status_code
        if status < 400:
            return
        detail = _detail(response)
        if status == 401:
            raise AuthenticationFailed(f"{what}: not authenticated (HTTP 401): {detail}")
        if status == 403:
            raise PermissionDenied(f"{what}: this user may not do that (HTTP 403): {detail}")
        if status == 404:
            raise RunNotFound(f"{what}: not found (HTTP 404): {detail}")
        raise SignupClientError(f"{what}: HTTP {status}: {detail}")

    def token(self) -> str:
        """Return a JWT for this user (`POST /auth/token`), fetched once and on expiry."""
        if self._token is None:
            response = self._send(
                "POST",
                "/auth/token",
                {"username": self._username, "password": self._password},
                auth=False,
            )
            if response.status_code in (400, 401, 403):
                raise AuthenticationFailed(
                    f"login as {self._username!r} refused (HTTP {response.status_code})"
                )
            self._raise_for(response, "POST /auth/token")
            self._token = str(response.json()["access_token"])
        return self._token

    def submit(self, submission: Mapping[str, Any]) -> RunStatus:
        """Start the build of `submission`, or return the run that already builds it.

        The run id is the submission id. If that run exists with the same content it is
        returned (`created=False`); with different content, SubmissionConflict. A malformed
        submission raises SubmissionRejected with Airflow's reason, and no run exists.
        """
        run_id = submission_id_of(submission)
        body = {"dag_run_id": run_id, "conf": dict(submission), "logical_date": None}
        response = self._send("POST", f"/api/v2/dags/{DAG_ID}/dagRuns", body)
        if response.status_code in (400, 422):
            raise SubmissionRejected(
                f"submission {run_id} rejected (HTTP {response.status_code}), "
                f"no build started: {_detail(response)}"
            )
        if response.status_code == 409:
            existing = self._call("GET", f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}")
            if not same_content(existing.get("conf"), submission):
                raise SubmissionConflict(
                    f"submission {run_id} already has a build from different content; "
                    "a corrected submission needs a new submission_id"
                )
            log.info("submission already has a build run_id=%s state=%s", run_id, existing["state"])
            return _run_status(existing, created=False)
        self._raise_for(response, f"POST /api/v2/dags/{DAG_ID}/dagRuns")
        run = response.json()
        log.info("build started run_id=%s", run_id)
        return _run_status(run, created=True)

    def status(self, run_id: str) -> RunStatus:
        """Return the run's state and every step's state."""
        run = self._call("GET", f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}")
        steps: list[StepState] = []
        offset = 0
        while True:
            page = self._call(
                "GET",
                f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances"
                f"?limit={PAGE}&offset={offset}",
            )
            # The server caps a page at its `maximum_page_limit`: count what came.
            steps += [_step_state(ti) for ti in page["task_instances"]]
            offset += len(page["task_instances"])
            if not page["task_instances"] or offset >= page["total_entries"]:
                break
        steps.sort(key=lambda step: (step.step, step.map_index))
        return _run_status(run, steps=steps)

    def wait(
        self,
        run_id: str,
        timeout: float = 3600.0,
        poll: float = 2.0,
        on_change: Callable[[RunStatus], None] | None = None,
    ) -> RunStatus:
        """Poll until the run ends or `timeout` seconds pass; return its last status.

        `on_change`, if given, is called with each status that differs from the last one.
        """
        deadline = time.monotonic() + timeout
        last: RunStatus | None = None
        while True:
            current = self.status(run_id)
            if on_change is not None and (last is None or current != last):
                on_change(current)
            last = current
            if current.ended or time.monotonic() >= deadline:
                return current
            self._sleep(poll)

    def rebuild(self, run_id: str) -> RunStatus:
        """Build the same submission again under the same run id, once its run has ended.

        Clears the whole run (`POST .../dagRuns/{id}/clear`): every step runs again, and
        every step is idempotent, so nothing is written twice. A run still in progress
        raises RunStillActive.
        """
        before = self._call("GET", f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}")
        if before["state"] not in TERMINAL_STATES:
            raise RunStillActive(f"run {run_id} is {before['state']}; rebuild it once it has ended")
        path = f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/clear"
        for attempt in range(1, self._attempts + 1):
            try:
                response = self._http.post(
                    path,
                    json={"dry_run": False},
                    headers={"Authorization": f"Bearer {self.token()}"},
                )
            except httpx.TransportError as err:
                # The clear may have landed: a new queued_at says it did. Never clear twice.
                now = self._call("GET", f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}")
                if now["queued_at"] != before["queued_at"]:
                    break
                if attempt == self._attempts:
                    raise AirflowUnavailable(f"POST {path}: {type(err).__name__}: {err}") from err
                self._sleep(self._backoff * 2 ** (attempt - 1))
                continue
            self._raise_for(response, f"POST {path}")
            break
        log.info("rebuild started run_id=%s previous_state=%s", run_id, before["state"])
        return self.status(run_id)

    def failed_steps(
        self,
        steps: Iterable[str] = (),
        since: datetime | None = None,
        until: datetime | None = None,
        run_ids: Iterable[str] = (),
    ) -> list[dict[str, Any]]:
        """Return the failed task instances (raw API records) that match the filters.

        `steps` are task ids (a mapped step matches every room type); `since`/`until`
        bound when the step failed (its end time).
        """
        body: dict[str, Any] = {"dag_ids": [DAG_ID], "state": ["failed"], "page_limit": PAGE}
        if steps := list(steps):
            body["task_ids"] = steps
        if run_ids := list(run_ids):
            body["dag_run_ids"] = run_ids
        if since is not None:
            body["end_date_gte"] = since.isoformat()
        if until is not None:
            body["end_date_lte"] = until.isoformat()
        found: list[dict[str, Any]] = []
        while True:
            page = self._call(
                "POST",
                "/api/v2/dags/~/dagRuns/~/taskInstances/list",
                {**body, "page_offset": len(found)},
            )
            found += page["task_instances"]
            if not page["task_instances"] or len(found) >= page["total_entries"]:
                return found

    def retry_failed(
        self,
        steps: Iterable[str] = (),
        since: datetime | None = None,
        until: datetime | None = None,
        run_ids: Iterable[str] = (),
        dry_run: bool = True,
    ) -> list[ClearedStep]:
        """Clear the failed steps of many runs so the scheduler runs them again.

        Selects failed steps by name, time window and run; for each run, clears those steps
        and the steps after them that never ran because of them (`upstream_failed`), and
        queues the run again. With `dry_run` (the default) nothing changes: it returns what
        it would clear. Only failed steps are cleared, so repeating a call is harmless.
        """
        by_run: dict[str, list[Any]] = {}
        for ti in self.failed_steps(steps, since, until, run_ids):
            marker = ti["task_id"] if ti["map_index"] < 0 else [ti["task_id"], ti["map_index"]]
            by_run.setdefault(ti["dag_run_id"], []).append(marker)

        cleared: list[ClearedStep] = []
        for run_id, markers in sorted(by_run.items()):
            # The dry run tells each step's state before clearing; the real clear answers
            # with the states after it, so its list is read for which steps it cleared.
            before = {
                (ti["task_id"], ti["map_index"]): ti.get("state")
                for ti in self._clear_failed(run_id, markers, dry_run=True)
            }
            keys = list(before)
            if not dry_run:
                answer = self._clear_failed(run_id, markers, dry_run=False)
                keys = [(ti["task_id"], ti["map_index"]) for ti in answer]
            cleared += [
                ClearedStep(run_id, task, index, before.get((task, index))) for task, index in keys
            ]
        log.info("retry-failed dry_run=%s runs=%s steps=%s", dry_run, len(by_run), len(cleared))
        return sorted(cleared, key=lambda c: (c.run_id, c.step, c.map_index))

    def _clear_failed(self, run_id: str, markers: list[Any], dry_run: bool) -> list[Any]:
        answer = self._call(
            "POST",
            f"/api/v2/dags/{DAG_ID}/clearTaskInstances",
            {
                "dry_run": dry_run,
                "dag_run_id": run_id,
                "task_ids": markers,
                "only_failed": True,
                "include_downstream": True,
                "reset_dag_runs": True,
            },
        )
        return list(answer["task_instances"])

    def delete_run(self, run_id: str) -> None:
        """Delete a run (an operator's action; the `signup` user is refused)."""
        self._call("DELETE", f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}")


def _run_status(
    run: Mapping[str, Any], steps: Iterable[StepState] = (), created: bool = False
) -> RunStatus:
    return RunStatus(
        run_id=str(run["dag_run_id"]),
        state=str(run["state"]),
        queued_at=run.get("queued_at"),
        started_at=run.get("start_date"),
        ended_at=run.get("end_date"),
        steps=tuple(steps),
        created=created,
    )


def _step_state(ti: Mapping[str, Any]) -> StepState:
    return StepState(
        step=str(ti["task_id"]),
        map_index=int(ti["map_index"]),
        state=ti.get("state"),
        try_number=int(ti.get("try_number") or 0),
        started_at=ti.get("start_date"),
        ended_at=ti.get("end_date"),
    )
