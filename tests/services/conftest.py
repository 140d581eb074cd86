"""Fixtures of the property-services tests: the real service, as a process, on a real
PostgreSQL (the private cluster `tests/conftest.py` starts).

The service keeps its jobs in a database of its own here (`pbtest_services`) and writes
the calendar into the platform database. Keeping the jobs apart matters: the end-to-end
tests run another instance of the service for the whole session, and two workers on one
job table would each claim the other's jobs, with their own fault settings.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from include.devstack.postgres import free_port
from tests.services.support import ServiceProcess, service_env

SERVICES_DATABASE = "pbtest_services"


@pytest.fixture(scope="session")
def services_db_url(platform_url: str) -> Iterator[str]:
    """A fresh, empty database for the service's own tables, dropped at the end.

    The service creates its schema in it at start-up, which is part of what is tested.
    """
    base = platform_url.rsplit("/", 1)[0]
    with psycopg.connect(platform_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{SERVICES_DATABASE}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{SERVICES_DATABASE}"')
    yield f"{base}/{SERVICES_DATABASE}"
    with psycopg.connect(platform_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{SERVICES_DATABASE}" WITH (FORCE)')


@pytest.fixture(scope="session")
def service(
    services_db_url: str, platform_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServiceProcess]:
    """The service as a real process for the whole session (starting it takes a second).

    Tests may stop and start it again; `api` makes sure it runs before each test.
    """
    token = "test-token-" + os.urandom(8).hex()
    log_path: Path = tmp_path_factory.mktemp("property-services") / "service.log"
    process = ServiceProcess(
        port=free_port(),
        token=token,
        env=service_env(token, services_db_url, platform_url),
        log_path=log_path,
    )
    process.start()
    yield process
    process.stop()


@pytest.fixture
def jobs_db(services_db_url: str, service: ServiceProcess) -> Iterator[psycopg.Connection[Any]]:
    """An autocommit connection to the service's database, its job table emptied first.

    Every test starts with no jobs, so that an idempotency key of an earlier test
    cannot hand back that test's job.
    """
    with psycopg.connect(services_db_url, autocommit=True) as conn:
        conn.execute("TRUNCATE property_services.jobs")
        yield conn


@pytest.fixture
def api(service: ServiceProcess, jobs_db: psycopg.Connection[Any]) -> Iterator[httpx.Client]:
    """An authenticated HTTP client of the running service, every fault off.

    A test that stopped the service leaves it stopped; it is started again here.
    Faults are reset before and after, so that one test's faults cannot leak.
    """
    if not service.running():
        service.start()
    with service.client() as client:
        _reset_faults(client)
        yield client
        if service.running():
            _reset_faults(client)


def _reset_faults(client: httpx.Client) -> None:
    response = client.put("/admin/faults", json={})
    assert response.status_code == 200, response.text
