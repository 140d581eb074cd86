"""The HTTP API of the property services, through real HTTP against the real process:
authentication, unknown things, each job kind's result and malformed requests."""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal
from typing import Any

import httpx
import psycopg
import pytest

from tests.services.support import (
    ServiceProcess,
    calendar_count,
    calendar_input,
    count_jobs,
    descriptions_input,
    photos_input,
    post_job,
    run_job,
    wait_until,
)

JOB_FIELDS = {
    "job_id",
    "kind",
    "idempotency_key",
    "status",
    "attempt",
    "result",
    "error",
    "created_at",
    "updated_at",
}

PROTECTED = [
    ("POST", "/jobs/photos"),
    ("GET", f"/jobs/{uuid.uuid4()}"),
    ("GET", "/admin/faults"),
    ("PUT", "/admin/faults"),
]


def test_health_needs_no_token(service: ServiceProcess) -> None:
    response = httpx.get(f"{service.url}/health", timeout=10)

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.parametrize(("method", "path"), PROTECTED)
@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer wrong-token", "Bearer", "Basic {token}", "{token}"],
    ids=["none", "wrong", "empty", "basic-scheme", "no-scheme"],
)
def test_every_endpoint_but_health_needs_the_token(
    api: httpx.Client,
    service: ServiceProcess,
    jobs_db: psycopg.Connection[Any],
    method: str,
    path: str,
    authorization: str | None,
) -> None:
    headers = (
        {}
        if authorization is None
        else {"Authorization": authorization.format(token=service.token)}
    )
    body = {"idempotency_key": "k", "input": {"photos": []}} if path.startswith("/jobs") else {}

    response = httpx.request(method, f"{service.url}{path}", headers=headers, json=body, timeout=10)

    assert response.status_code == 401
    assert isinstance(response.json()["detail"], str)
    assert count_jobs(jobs_db) == 0


def test_unknown_kind_is_404(api: httpx.Client, jobs_db: psycopg.Connection[Any]) -> None:
    response = post_job(api, "videos", "k-1", {"videos": []})

    assert response.status_code == 404
    assert "videos" in response.json()["detail"]
    assert count_jobs(jobs_db) == 0


@pytest.mark.parametrize("job_id", [str(uuid.uuid4()), "not-a-uuid"])
def test_unknown_job_is_404(api: httpx.Client, job_id: str) -> None:
    response = api.get(f"/jobs/{job_id}")

    assert response.status_code == 404
    assert isinstance(response.json()["detail"], str)


def test_post_answers_202_with_the_job(api: httpx.Client) -> None:
    response = post_job(api, "descriptions", "sub-1", descriptions_input())

    assert response.status_code == 202
    body = response.json()
    assert set(body) == JOB_FIELDS | {"created", "restarted", "status_url"}
    assert body["kind"] == "descriptions"
    assert body["idempotency_key"] == "sub-1"
    assert body["status"] in {"queued", "running", "succeeded"}
    assert body["attempt"] == 1
    assert body["error"] is None
    assert (body["created"], body["restarted"]) == (True, False)
    assert body["status_url"] == f"/jobs/{body['job_id']}"
    assert str(uuid.UUID(body["job_id"])) == body["job_id"]

    followed = api.get(body["status_url"])
    assert followed.status_code == 200
    assert set(followed.json()) == JOB_FIELDS
    assert followed.json()["job_id"] == body["job_id"]


def test_photos_job_processes_good_photos_and_rejects_the_rest(api: httpx.Client) -> None:
    job = run_job(api, "photos", "sub-photos", photos_input())

    assert job["status"] == "succeeded"
    assert job["error"] is None
    result = job["result"]
    assert set(result) == {"processed", "rejected", "count"}
    assert [p["url"] for p in result["processed"]] == [
        "https://photos.example/h/facade.jpg",
        "https://photos.example/h/double.PNG",
        "http://photos.example/h/suite.webp",
    ]
    assert [p["room"] for p in result["processed"]] == [None, "Double", "Suite"]
    assert result["count"] == 3
    assert [r["url"] for r in result["rejected"]] == [
        "ftp://photos.example/h/pool.jpg",
        "https:///no-host.jpg",
        "https://photos.example/h/lobby.gif",
        "lobby.jpg",
    ]
    assert all(isinstance(r["reason"], str) and r["reason"] for r in result["rejected"])
    for photo in result["processed"]:
        assert set(photo) == {"url", "room", "quality", "sizes"}
        assert 0.0 <= photo["quality"] <= 1.0
        assert set(photo["sizes"]) == {"thumb", "medium", "large"}
        assert len(set(photo["sizes"].values())) == 3
        assert all(url.startswith(("http://", "https://")) for url in photo["sizes"].values())


def test_photo_results_depend_only_on_the_url(api: httpx.Client) -> None:
    first = run_job(api, "photos", "sub-a", photos_input())
    second = run_job(api, "photos", "sub-b", photos_input())

    assert first["job_id"] != second["job_id"]
    assert first["result"] == second["result"]


def test_empty_photo_list_is_fine(api: httpx.Client) -> None:
    job = run_job(api, "photos", "sub-none", {"photos": []})

    assert job["status"] == "succeeded"
    assert job["result"] == {"processed": [], "rejected": [], "count": 0}


def test_descriptions_job_gives_one_text_per_language(api: httpx.Client) -> None:
    job_input = descriptions_input()

    job = run_job(api, "descriptions", "sub-desc", job_input)

    assert job["status"] == "succeeded"
    texts = job["result"]["texts"]
    assert set(job["result"]) == {"texts"}
    assert set(texts) == {"en", "nl", "de"}
    assert texts["en"] == job_input["text"]
    assert texts["nl"] != job_input["text"]
    assert texts["nl"] != texts["de"]
    again = run_job(api, "descriptions", "sub-desc-again", job_input)
    assert again["result"] == job["result"]


def test_calendar_job_writes_every_room_type_every_day(
    api: httpx.Client, platform_db: psycopg.Connection[Any]
) -> None:
    job = run_job(api, "calendar", "sub-cal", calendar_input(days=7))

    assert job["status"] == "succeeded", job["error"]
    assert job["result"] == {"rows": 14, "first_day": "2026-12-03", "last_day": "2026-12-09"}
    rows = {
        (room_type_id, day): (units, rate, currency)
        for room_type_id, day, units, rate, currency in platform_db.execute(
            "SELECT room_type_id, day, available_units, rate, currency"
            " FROM platform.availability_calendar"
        )
    }
    assert len(rows) == 14
    assert {day for _, day in rows} == {date(2026, 12, d) for d in range(3, 10)}
    # Thursday the 3rd, weekend nights Friday the 4th and Saturday the 5th, Sunday the 6th.
    assert rows[(101, date(2026, 12, 3))] == (8, Decimal("179.00"), "EUR")
    assert rows[(101, date(2026, 12, 4))] == (8, Decimal("205.85"), "EUR")
    assert rows[(101, date(2026, 12, 5))] == (8, Decimal("205.85"), "EUR")
    assert rows[(101, date(2026, 12, 6))] == (8, Decimal("179.00"), "EUR")
    assert rows[(102, date(2026, 12, 4))] == (4, Decimal("332.35"), "EUR")
    assert rows[(102, date(2026, 12, 9))] == (4, Decimal("289.00"), "EUR")
    weekend = [r for (_, day), r in rows.items() if day.weekday() in (4, 5)]
    assert len(weekend) == 4


def test_weekend_rates_are_rounded_to_cents(
    api: httpx.Client, platform_db: psycopg.Connection[Any]
) -> None:
    job = run_job(api, "calendar", "sub-cents", calendar_input([(7, 1, "99.99")], days=3))

    assert job["status"] == "succeeded", job["error"]
    rates = dict(
        platform_db.execute(
            "SELECT day, rate FROM platform.availability_calendar WHERE room_type_id = 7"
        ).fetchall()
    )
    # 99.99 * 1.15 = 114.9885
    assert rates == {
        date(2026, 12, 3): Decimal("99.99"),
        date(2026, 12, 4): Decimal("114.99"),
        date(2026, 12, 5): Decimal("114.99"),
    }


def test_a_year_of_fifty_room_types_is_written(
    api: httpx.Client, platform_db: psycopg.Connection[Any]
) -> None:
    rooms = [(1000 + n, 1 + n % 9, f"{100 + n}.50") for n in range(50)]

    job = run_job(api, "calendar", "sub-big", calendar_input(rooms, days=365))

    assert job["status"] == "succeeded", job["error"]
    assert job["result"] == {"rows": 18250, "first_day": "2026-12-03", "last_day": "2027-12-02"}
    assert calendar_count(platform_db) == 18250


def test_a_later_calendar_updates_the_same_rows(
    api: httpx.Client, platform_db: psycopg.Connection[Any]
) -> None:
    run_job(api, "calendar", "sub-old", calendar_input([(5, 2, "100.00")], days=5))

    job = run_job(api, "calendar", "sub-new", calendar_input([(5, 3, "120.00")], days=5))

    assert job["status"] == "succeeded", job["error"]
    assert calendar_count(platform_db) == 5
    assert platform_db.execute(
        "SELECT DISTINCT available_units FROM platform.availability_calendar"
    ).fetchall() == [(3,)]
    assert platform_db.execute(
        "SELECT rate FROM platform.availability_calendar WHERE day = '2026-12-03'"
    ).fetchone() == (Decimal("120.00"),)


MALFORMED: list[tuple[str, Any]] = [
    ("photos", {"idempotency_key": "k"}),
    ("photos", {"input": {"photos": []}}),
    ("photos", {"idempotency_key": "", "input": {"photos": []}}),
    ("photos", {"idempotency_key": 17, "input": {"photos": []}}),
    ("photos", {"idempotency_key": "k", "input": {"photos": "facade.jpg"}}),
    ("photos", {"idempotency_key": "k", "input": {"photos": [{"url": 5}]}}),
    ("photos", {"idempotency_key": "k", "input": {"photos": [], "extra": 1}}),
    ("descriptions", {"idempotency_key": "k", "input": {**descriptions_input(), "text": None}}),
    (
        "descriptions",
        {"idempotency_key": "k", "input": {**descriptions_input(), "languages": "en"}},
    ),
    ("descriptions", {"idempotency_key": "k", "input": {"text": "x", "languages": ["en"]}}),
    (
        "calendar",
        {"idempotency_key": "k", "input": {**calendar_input(), "start_date": "03-12-2026"}},
    ),
    ("calendar", {"idempotency_key": "k", "input": {**calendar_input(), "days": 0}}),
    ("calendar", {"idempotency_key": "k", "input": {**calendar_input(), "property_id": "1"}}),
    ("calendar", {"idempotency_key": "k", "input": {**calendar_input(), "currency": "euro"}}),
    (
        "calendar",
        {
            "idempotency_key": "k",
            "input": {
                **calendar_input(),
                "room_types": [{"room_type_id": 1, "unit_count": 2, "base_rate": 179}],
            },
        },
    ),
    ("calendar", {"idempotency_key": "k", "input": calendar_input([(1, 2, "17.999")])}),
    ("calendar", {"idempotency_key": "k", "input": calendar_input([(1, 2, "-1.00")])}),
    ("calendar", {"idempotency_key": "k", "input": calendar_input([(1, 2, "9"), (1, 3, "9")])}),
    ("calendar", {"idempotency_key": "k", "input": {**calendar_input(), "room_type": []}}),
]


@pytest.mark.parametrize(("kind", "body"), MALFORMED)
def test_malformed_input_is_422(
    api: httpx.Client, jobs_db: psycopg.Connection[Any], kind: str, body: Any
) -> None:
    response = api.post(f"/jobs/{kind}", json=body)

    assert response.status_code == 422, response.text
    assert isinstance(response.json()["detail"], str)
    assert count_jobs(jobs_db) == 0


@pytest.mark.parametrize("raw", [b"not json", b"[1, 2]", b""])
def test_a_body_that_is_no_json_object_is_422(
    api: httpx.Client, jobs_db: psycopg.Connection[Any], raw: bytes
) -> None:
    response = api.post("/jobs/photos", content=raw, headers={"Content-Type": "application/json"})

    assert response.status_code == 422, response.text
    assert count_jobs(jobs_db) == 0


def test_each_job_outcome_is_one_log_line(api: httpx.Client, service: ServiceProcess) -> None:
    api.put("/admin/faults", json={"permanent_job_failures": {"photos": 1}}).raise_for_status()
    failed = run_job(api, "photos", "sub-log-1", photos_input())
    done = run_job(api, "descriptions", "sub-log-2", descriptions_input())

    def outcome_lines(job_id: str) -> list[str]:
        return [
            line
            for line in service.log_text().splitlines()
            if job_id in line and ("status=succeeded" in line or "status=failed" in line)
        ]

    failed_lines = wait_until(lambda: outcome_lines(failed["job_id"]), what="the failure log")
    done_lines = wait_until(lambda: outcome_lines(done["job_id"]), what="the success log")

    assert len(failed_lines) == 1
    assert "kind=photos idempotency_key=sub-log-1 attempt=1 status=failed" in failed_lines[0]
    assert "code=injected_permanent" in failed_lines[0]
    assert len(done_lines) == 1
    assert (
        "kind=descriptions idempotency_key=sub-log-2 attempt=1 status=succeeded" in (done_lines[0])
    )
