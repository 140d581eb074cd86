"""The DAG's side of the property-services API, through the `property_services` connection
and Airflow's HTTP provider, against the real service on a loopback port."""

from __future__ import annotations

import asyncio
import json
import os
from typing import Any

import pytest

from include.devstack.postgres import free_port
from include.orchestration.job_checks import job_finished
from include.orchestration.services import start_job
from include.property_builder.errors import PermanentError, TransientError

DESCRIPTIONS = {"source_language": "en", "text": "A canal house.", "languages": ["en", "nl"]}


def test_starting_a_job_twice_returns_the_same_job(services: Any, platform_db: Any) -> None:
    first = start_job("descriptions", "sub-client-1", DESCRIPTIONS)
    second = start_job("descriptions", "sub-client-1", DESCRIPTIONS)

    assert first["job_id"] == second["job_id"]
    assert (first["created"], second["created"]) == (True, False)
    assert first["status_url"] == f"/jobs/{first['job_id']}"


def test_service_unavailable_is_transient(services: Any, platform_db: Any) -> None:
    services.set_faults(http_503_rate=1.0)

    with pytest.raises(TransientError, match="answered 503"):
        start_job("descriptions", "sub-client-2", DESCRIPTIONS)


def test_refused_job_is_permanent(services: Any, platform_db: Any) -> None:
    services.set_faults(reject_kinds=["calendar"])

    with pytest.raises(PermanentError, match=r"refused the calendar job \(422\)"):
        start_job("calendar", "sub-client-3", {"property_id": 1})


def test_unreachable_service_is_transient(
    services: Any, platform_db: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    nobody = {"conn_type": "http", "host": "127.0.0.1", "port": free_port(), "schema": "http"}
    monkeypatch.setitem(os.environ, "AIRFLOW_CONN_PROPERTY_SERVICES", json.dumps(nobody))

    with pytest.raises(TransientError, match="unreachable"):
        start_job("photos", "sub-client-4", {"photos": []})


def _response(status_code: int, body: Any) -> Any:
    import requests

    response = requests.Response()
    response.status_code = status_code
    response._content = json.dumps(body).encode()
    return response


@pytest.mark.parametrize(
    ("status_code", "body", "finished"),
    [
        (200, {"status": "queued"}, False),
        (200, {"status": "running"}, False),
        (200, {"status": "succeeded"}, True),
        (200, {"status": "failed"}, True),
        (503, {"detail": "unavailable"}, False),
    ],
)
def test_wait_ends_only_on_a_finished_job(status_code: int, body: Any, finished: bool) -> None:
    assert asyncio.run(job_finished(_response(status_code, body))) is finished
