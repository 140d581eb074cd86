"""A restart of the service loses nothing: a job that was running when the process
stopped, by a crash or by a graceful shutdown, runs again and completes."""

from __future__ import annotations

import json
import signal
from typing import Any

import httpx
import psycopg

from tests.services.support import (
    ServiceProcess,
    calendar_count,
    calendar_input,
    count_jobs,
    post_job,
    wait_for_job,
    wait_until,
)


def _status(jobs_db: psycopg.Connection[Any], job_id: str) -> str | None:
    row = jobs_db.execute(
        "SELECT status FROM property_services.jobs WHERE job_id = %s", (job_id,)
    ).fetchone()
    return None if row is None else str(row[0])


def _start_slow_calendar_job(
    api: httpx.Client, jobs_db: psycopg.Connection[Any]
) -> tuple[str, dict[str, Any]]:
    # Long enough that only stopping the service ends the run; faults are not kept
    # across a restart, so the next process runs the job at once.
    api.put("/admin/faults", json={"job_delay_seconds": {"calendar": 60}}).raise_for_status()
    job_input = calendar_input(days=10)
    response = post_job(api, "calendar", "sub-restart", job_input)
    assert response.status_code == 202, response.text
    job_id: str = response.json()["job_id"]
    wait_until(lambda: _status(jobs_db, job_id) == "running", timeout=30, what="job running")
    return job_id, job_input


def test_a_crash_loses_no_job(
    api: httpx.Client,
    service: ServiceProcess,
    jobs_db: psycopg.Connection[Any],
    platform_db: psycopg.Connection[Any],
) -> None:
    job_id, job_input = _start_slow_calendar_job(api, jobs_db)

    assert service.kill() == -signal.SIGKILL
    assert _status(jobs_db, job_id) == "running"  # nobody is left to say otherwise
    assert calendar_count(platform_db) == 0
    service.start()
    job = wait_for_job(api, job_id)

    assert job["status"] == "succeeded", job["error"]
    assert job["attempt"] == 1
    assert job["result"] == {"rows": 20, "first_day": "2026-12-03", "last_day": "2026-12-12"}
    assert calendar_count(platform_db) == 20
    assert count_jobs(jobs_db) == 1
    again = post_job(api, "calendar", "sub-restart", job_input)
    assert (again.json()["job_id"], again.json()["created"]) == (job_id, False)


def test_a_graceful_stop_queues_the_running_job_again(
    api: httpx.Client,
    service: ServiceProcess,
    jobs_db: psycopg.Connection[Any],
    platform_db: psycopg.Connection[Any],
) -> None:
    job_id, _ = _start_slow_calendar_job(api, jobs_db)

    service.stop()  # SIGTERM: uvicorn shuts down, then ends by that signal

    assert _status(jobs_db, job_id) == "queued"  # put back by the shutdown itself
    service.start()
    job = wait_for_job(api, job_id)

    assert (job["status"], job["attempt"]) == ("succeeded", 1)
    assert calendar_count(platform_db) == 20
    assert count_jobs(jobs_db) == 1


def test_faults_can_be_set_at_start_up(
    api: httpx.Client, service: ServiceProcess, jobs_db: psycopg.Connection[Any]
) -> None:
    faults = {"reject_kinds": ["photos"], "transient_job_failures": {"calendar": 2}, "seed": 5}

    service.stop()
    service.start(extra_env={"PROPERTY_SERVICES_FAULTS": json.dumps(faults)})
    try:
        shown = api.get("/admin/faults").json()
        rejected = post_job(api, "photos", "sub-1", {"photos": []})
    finally:
        service.stop()  # `api` starts it again, without these faults, for the next test

    assert shown["reject_kinds"] == ["photos"]
    assert shown["transient_job_failures"] == {"calendar": 2}
    assert shown["seed"] == 5
    assert rejected.status_code == 422
    assert count_jobs(jobs_db) == 0
