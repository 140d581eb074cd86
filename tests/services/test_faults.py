"""The fault and latency controls: job delays, injected job failures, 503s, rejected
kinds and hanging requests; `/health` and `/admin/*` are never subject to them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx
import psycopg
import pytest

from tests.services.support import (
    ServiceProcess,
    count_jobs,
    descriptions_input,
    photos_input,
    post_job,
    run_job,
    wait_for_job,
    wait_until,
)

DEFAULT_FAULTS = {
    "job_delay_seconds": {"photos": 0.0, "descriptions": 0.0, "calendar": 0.0},
    "http_503_rate": 0.0,
    "http_hang_rate": 0.0,
    "hang_seconds": 30.0,
    "transient_job_failures": {},
    "permanent_job_failures": {},
    "reject_kinds": [],
    "seed": 0,
}


def _set(api: httpx.Client, **faults: Any) -> dict[str, Any]:
    response = api.put("/admin/faults", json=faults)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_faults_are_off_by_default(api: httpx.Client) -> None:
    response = api.get("/admin/faults")

    assert response.status_code == 200
    assert response.json() == DEFAULT_FAULTS


def test_put_replaces_all_the_faults(api: httpx.Client) -> None:
    _set(api, http_503_rate=0.5, reject_kinds=["photos"], seed=3)

    body = _set(api, job_delay_seconds={"calendar": 2.5})

    delays = {"photos": 0.0, "descriptions": 0.0, "calendar": 2.5}
    assert body == {**DEFAULT_FAULTS, "job_delay_seconds": delays}
    assert api.get("/admin/faults").json() == body


@pytest.mark.parametrize(
    "faults",
    [
        {"http_503_rate": 1.5},
        {"job_delay_seconds": {"videos": 1.0}},
        {"transient_job_failures": {"photos": -1}},
        {"reject_kinds": ["videos"]},
        {"unknown_fault": True},
    ],
)
def test_malformed_faults_are_422_and_change_nothing(
    api: httpx.Client, faults: dict[str, Any]
) -> None:
    response = api.put("/admin/faults", json=faults)

    assert response.status_code == 422
    assert api.get("/admin/faults").json() == DEFAULT_FAULTS


def test_job_delay_holds_a_job_back(api: httpx.Client) -> None:
    _set(api, job_delay_seconds={"photos": 1.0})

    job = run_job(api, "photos", "sub-slow", photos_input())

    assert job["status"] == "succeeded"
    took = datetime.fromisoformat(job["updated_at"]) - datetime.fromisoformat(job["created_at"])
    assert took.total_seconds() >= 1.0


def test_transient_failures_then_success(
    api: httpx.Client, jobs_db: psycopg.Connection[Any]
) -> None:
    _set(api, transient_job_failures={"descriptions": 2})

    first = run_job(api, "descriptions", "sub-1", descriptions_input())
    assert first["status"] == "failed"
    assert first["result"] is None
    assert first["error"] == {
        "code": "injected_transient",
        "message": first["error"]["message"],
        "permanent": False,
    }
    assert api.get("/admin/faults").json()["transient_job_failures"] == {"descriptions": 1}

    second = run_job(api, "descriptions", "sub-1", descriptions_input())
    assert (second["status"], second["attempt"]) == ("failed", 2)
    assert second["error"]["code"] == "injected_transient"

    third = run_job(api, "descriptions", "sub-1", descriptions_input())
    assert (third["status"], third["attempt"]) == ("succeeded", 3)
    assert third["error"] is None
    assert set(third["result"]["texts"]) == {"en", "nl", "de"}
    assert api.get("/admin/faults").json()["transient_job_failures"] == {"descriptions": 0}
    assert count_jobs(jobs_db) == 1


def test_permanent_failure(api: httpx.Client) -> None:
    _set(api, permanent_job_failures={"photos": 1})

    failed = run_job(api, "photos", "sub-1", photos_input())
    other_kind = run_job(api, "descriptions", "sub-1", descriptions_input())
    next_photos = run_job(api, "photos", "sub-2", photos_input())

    assert failed["status"] == "failed"
    assert failed["result"] is None
    assert failed["error"]["code"] == "injected_permanent"
    assert failed["error"]["permanent"] is True
    assert isinstance(failed["error"]["message"], str)
    assert other_kind["status"] == "succeeded"
    assert next_photos["status"] == "succeeded"


def test_http_503_rate_one_answers_every_job_request_503(
    api: httpx.Client, service: ServiceProcess, jobs_db: psycopg.Connection[Any]
) -> None:
    done = run_job(api, "photos", "sub-1", photos_input())
    _set(api, http_503_rate=1.0)

    posted = post_job(api, "photos", "sub-2", photos_input())
    read = api.get(f"/jobs/{done['job_id']}")

    assert posted.status_code == 503
    assert read.status_code == 503
    assert isinstance(posted.json()["detail"], str)
    assert count_jobs(jobs_db) == 1
    assert httpx.get(f"{service.url}/health", timeout=10).status_code == 200
    assert api.get("/admin/faults").status_code == 200


def test_the_seed_makes_503s_reproducible(api: httpx.Client) -> None:
    done = run_job(api, "photos", "sub-1", photos_input())

    def statuses() -> list[int]:
        _set(api, http_503_rate=0.5, seed=7)
        return [api.get(f"/jobs/{done['job_id']}").status_code for _ in range(30)]

    first, second = statuses(), statuses()

    assert first == second
    assert set(first) == {200, 503}


def test_rejected_kinds_answer_422(api: httpx.Client, jobs_db: psycopg.Connection[Any]) -> None:
    _set(api, reject_kinds=["calendar"])

    rejected = post_job(api, "calendar", "sub-1", {"anything": "goes"})
    accepted = post_job(api, "photos", "sub-1", photos_input())

    assert rejected.status_code == 422
    assert isinstance(rejected.json()["detail"], str)
    assert accepted.status_code == 202
    assert count_jobs(jobs_db) == 1
    wait_for_job(api, accepted.json()["job_id"])


def test_hang_delays_job_requests_past_a_client_timeout(
    api: httpx.Client, service: ServiceProcess
) -> None:
    done = run_job(api, "photos", "sub-1", photos_input())
    _set(api, http_hang_rate=1.0, hang_seconds=1.5)

    with service.client(timeout=0.3) as impatient, pytest.raises(httpx.ReadTimeout):
        impatient.get(f"/jobs/{done['job_id']}")
    patient = api.get(f"/jobs/{done['job_id']}")

    assert patient.status_code == 200
    assert patient.json() == done
    with service.client(timeout=0.3) as impatient:
        assert impatient.get("/admin/faults").status_code == 200
        assert httpx.get(f"{service.url}/health", timeout=0.3).status_code == 200


def test_concurrency_limits_the_jobs_running_at_once(
    api: httpx.Client, jobs_db: psycopg.Connection[Any]
) -> None:
    # The service runs with PROPERTY_SERVICES_CONCURRENCY=4.
    _set(api, job_delay_seconds={"photos": 2.0})
    running_seen: list[int] = []

    def count(status: str) -> int:
        (n,) = jobs_db.execute(
            "SELECT count(*) FROM property_services.jobs WHERE status = %s", (status,)
        ).fetchone() or (0,)
        if status == "running":
            running_seen.append(int(n))
        return int(n)

    ids = [post_job(api, "photos", f"sub-{n}", photos_input()).json()["job_id"] for n in range(6)]
    wait_until(lambda: count("running") == 4, timeout=30, what="four jobs running")

    def all_succeeded() -> bool:
        count("running")  # keeps watching the limit until the end
        return count("succeeded") == 6

    wait_until(all_succeeded, what="all six jobs to succeed")
    jobs = [api.get(f"/jobs/{job_id}").json() for job_id in ids]

    assert max(running_seen) == 4
    assert [job["status"] for job in jobs] == ["succeeded"] * 6
    ends = sorted(datetime.fromisoformat(job["updated_at"]) for job in jobs)
    # Two jobs could only start once one of the first four had ended.
    assert (ends[4] - ends[0]).total_seconds() >= 2.0
