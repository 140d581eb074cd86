"""Starting a job is idempotent on (kind, idempotency_key): the same job comes back, a
different input is a conflict, and only a failed job is started again."""

from __future__ import annotations

import threading
from typing import Any

import httpx
import psycopg

from tests.services.support import (
    ServiceProcess,
    calendar_count,
    calendar_input,
    count_jobs,
    descriptions_input,
    photos_input,
    post_job,
    run_job,
    wait_for_job,
)


def test_the_same_request_returns_the_same_job(
    api: httpx.Client, jobs_db: psycopg.Connection[Any]
) -> None:
    first = post_job(api, "photos", "sub-1", photos_input())
    second = post_job(api, "photos", "sub-1", photos_input())

    assert (first.status_code, second.status_code) == (202, 202)
    assert second.json()["job_id"] == first.json()["job_id"]
    assert (first.json()["created"], second.json()["created"]) == (True, False)
    assert second.json()["restarted"] is False
    assert second.json()["attempt"] == 1
    assert count_jobs(jobs_db) == 1


def test_a_succeeded_job_is_returned_unchanged(
    api: httpx.Client, jobs_db: psycopg.Connection[Any]
) -> None:
    done = run_job(api, "descriptions", "sub-1", descriptions_input())

    again = post_job(api, "descriptions", "sub-1", descriptions_input())

    assert again.status_code == 202
    body = again.json()
    assert body["job_id"] == done["job_id"]
    assert body["status"] == "succeeded"
    assert body["result"] == done["result"]
    assert body["updated_at"] == done["updated_at"]
    assert (body["created"], body["restarted"], body["attempt"]) == (False, False, 1)
    assert count_jobs(jobs_db) == 1


def test_the_same_key_of_another_kind_is_another_job(
    api: httpx.Client, jobs_db: psycopg.Connection[Any]
) -> None:
    photos = post_job(api, "photos", "sub-1", photos_input())
    descriptions = post_job(api, "descriptions", "sub-1", descriptions_input())

    assert photos.json()["job_id"] != descriptions.json()["job_id"]
    assert descriptions.json()["created"] is True
    assert count_jobs(jobs_db) == 2
    wait_for_job(api, photos.json()["job_id"])
    wait_for_job(api, descriptions.json()["job_id"])


def test_simultaneous_requests_make_one_job(
    api: httpx.Client, service: ServiceProcess, jobs_db: psycopg.Connection[Any]
) -> None:
    answers = _post_at_once(service, 10, "descriptions", "sub-race", descriptions_input())

    assert [a.status_code for a in answers] == [202] * 10
    assert len({a.json()["job_id"] for a in answers}) == 1
    assert sum(a.json()["created"] for a in answers) == 1
    assert count_jobs(jobs_db) == 1
    wait_for_job(api, answers[0].json()["job_id"])


def test_a_different_input_for_a_live_job_is_409(
    api: httpx.Client, jobs_db: psycopg.Connection[Any]
) -> None:
    # The delay keeps the job queued or running while we ask again.
    api.put("/admin/faults", json={"job_delay_seconds": {"photos": 1.0}}).raise_for_status()
    started = post_job(api, "photos", "sub-1", photos_input())

    conflict = post_job(api, "photos", "sub-1", {"photos": []})

    assert conflict.status_code == 409
    assert isinstance(conflict.json()["detail"], str)
    job = wait_for_job(api, started.json()["job_id"])
    assert job["status"] == "succeeded"
    assert job["result"]["count"] == 3  # the first input, untouched
    assert count_jobs(jobs_db) == 1


def test_a_different_input_for_a_succeeded_job_is_409(
    api: httpx.Client, jobs_db: psycopg.Connection[Any]
) -> None:
    done = run_job(api, "descriptions", "sub-1", descriptions_input())

    conflict = post_job(api, "descriptions", "sub-1", {**descriptions_input(), "text": "Other"})

    assert conflict.status_code == 409
    assert api.get(f"/jobs/{done['job_id']}").json() == done
    assert count_jobs(jobs_db) == 1


def test_a_failed_job_is_restarted_by_the_next_request(
    api: httpx.Client, jobs_db: psycopg.Connection[Any]
) -> None:
    api.put("/admin/faults", json={"permanent_job_failures": {"photos": 1}}).raise_for_status()
    failed = run_job(api, "photos", "sub-1", photos_input())
    assert failed["status"] == "failed"

    # A failed job takes the new request's input, even a different one.
    restart = post_job(api, "photos", "sub-1", {"photos": []})

    assert restart.status_code == 202
    body = restart.json()
    assert body["job_id"] == failed["job_id"]
    assert (body["created"], body["restarted"]) == (False, True)
    assert body["attempt"] == 2
    assert body["error"] is None
    assert body["status"] in {"queued", "running", "succeeded"}
    job = wait_for_job(api, body["job_id"])
    assert job["status"] == "succeeded"
    assert job["attempt"] == 2
    assert job["result"] == {"processed": [], "rejected": [], "count": 0}
    assert count_jobs(jobs_db) == 1


def test_simultaneous_restarts_restart_once(
    api: httpx.Client, service: ServiceProcess, jobs_db: psycopg.Connection[Any]
) -> None:
    api.put("/admin/faults", json={"permanent_job_failures": {"photos": 1}}).raise_for_status()
    failed = run_job(api, "photos", "sub-1", photos_input())
    assert failed["status"] == "failed"

    answers = _post_at_once(service, 10, "photos", "sub-1", photos_input())

    assert [a.status_code for a in answers] == [202] * 10
    assert sum(a.json()["restarted"] for a in answers) == 1
    assert {a.json()["attempt"] for a in answers} == {2}
    job = wait_for_job(api, failed["job_id"])
    assert (job["status"], job["attempt"]) == ("succeeded", 2)
    assert count_jobs(jobs_db) == 1


def test_a_restarted_calendar_job_duplicates_no_row(
    api: httpx.Client, jobs_db: psycopg.Connection[Any], platform_db: psycopg.Connection[Any]
) -> None:
    # An injected failure strikes after the work: the first run has written its rows.
    api.put("/admin/faults", json={"transient_job_failures": {"calendar": 1}}).raise_for_status()
    job_input = calendar_input(days=30)
    failed = run_job(api, "calendar", "sub-cal", job_input)
    assert failed["status"] == "failed"
    assert failed["error"]["code"] == "injected_transient"
    assert calendar_count(platform_db) == 60
    before = platform_db.execute(
        "SELECT * FROM platform.availability_calendar ORDER BY room_type_id, day"
    ).fetchall()

    restart = post_job(api, "calendar", "sub-cal", job_input)
    job = wait_for_job(api, restart.json()["job_id"])

    assert restart.json()["restarted"] is True
    assert (job["status"], job["attempt"]) == ("succeeded", 2)
    assert job["result"]["rows"] == 60
    assert calendar_count(platform_db) == 60
    after = platform_db.execute(
        "SELECT * FROM platform.availability_calendar ORDER BY room_type_id, day"
    ).fetchall()
    assert after == before
    assert count_jobs(jobs_db) == 1


def _post_at_once(
    service: ServiceProcess, count: int, kind: str, key: str, job_input: Any
) -> list[httpx.Response]:
    """Send `count` identical job requests from as many threads, released together."""
    barrier = threading.Barrier(count)
    answers: list[httpx.Response | None] = [None] * count
    clients = [service.client() for _ in range(count)]

    def send(index: int) -> None:
        barrier.wait(timeout=30)
        answers[index] = post_job(clients[index], kind, key, job_input)

    threads = [threading.Thread(target=send, args=(i,)) for i in range(count)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    finally:
        for client in clients:
            client.close()
    assert all(answer is not None for answer in answers), "a request did not complete"
    return [answer for answer in answers if answer is not None]
