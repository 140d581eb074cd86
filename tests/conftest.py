"""Test set-up: a private PostgreSQL, Airflow pointed at it and at our DAG folder.

Everything here happens in `pytest_configure`, before any test module imports Airflow,
because Airflow reads its configuration from the environment on first import.

The tests start their own throwaway PostgreSQL cluster (see `include.devstack.postgres`).
To use an existing server instead, set `PROPERTY_BUILDER_TEST_PG_URL` to a superuser URL
of it (e.g. `postgresql://postgres@127.0.0.1:5432/postgres`); the tests create and drop
databases named `pbtest_*` there.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from include.devstack.postgres import LocalPostgres, free_port

REPO = Path(__file__).resolve().parent.parent
CONTRACT_EXAMPLE = REPO.parent / "shared" / "contract" / "submission-example.json"
FIXTURE_EXAMPLE = REPO / "tests" / "data" / "submission-example.json"

_state: dict[str, Any] = {}


def _databases(admin_url: str, names: list[str]) -> dict[str, str]:
    import psycopg

    base = admin_url.rsplit("/", 1)[0]
    with psycopg.connect(admin_url, autocommit=True, connect_timeout=10) as conn:
        for name in names:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')  # type: ignore[arg-type]
            conn.execute(f'CREATE DATABASE "{name}"')  # type: ignore[arg-type]
    return {name: f"{base}/{name}" for name in names}


def new_stack(name: str, settings: dict[str, str] | None = None, **options: Any) -> Any:
    """Return an AirflowStack (not started) on a fresh metadata database `pbtest_<name>`.

    Its build connections are the test session's: the platform database and the
    property-services API (so the `property_services` fixture must be active).
    """
    from include.devstack.airflow_stack import AirflowStack

    metadata = _databases(_state["admin_url"], [f"pbtest_{name}"])[f"pbtest_{name}"]
    return AirflowStack(
        home=_state["workdir"] / name,
        metadata_url=metadata.replace("postgresql://", "postgresql+psycopg://", 1),
        port=free_port(),
        settings={
            "AIRFLOW_CONN_PROPERTY_DB": os.environ["AIRFLOW_CONN_PROPERTY_DB"],
            "AIRFLOW_CONN_PROPERTY_SERVICES": os.environ["AIRFLOW_CONN_PROPERTY_SERVICES"],
            **(settings or {}),
        },
        **options,
    )


def pytest_configure(config: pytest.Config) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="property-builder-tests-"))
    workdir.chmod(0o755)  # the server may run as the `postgres` user (we may be root)
    _state["workdir"] = workdir
    admin_url = os.environ.get("PROPERTY_BUILDER_TEST_PG_URL")
    if not admin_url:
        cluster = LocalPostgres(data_dir=workdir / "pgdata", port=free_port())
        cluster.start()
        _state["cluster"] = cluster
        admin_url = cluster.admin_url
    urls = _databases(admin_url, ["pbtest_airflow", "pbtest_platform"])
    _state["admin_url"] = admin_url
    _state["platform_url"] = urls["pbtest_platform"]

    airflow_home = workdir / "airflow"
    airflow_home.mkdir()
    os.environ.update(
        {
            "AIRFLOW_HOME": str(airflow_home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": urls["pbtest_airflow"].replace(
                "postgresql://", "postgresql+psycopg://", 1
            ),
            "AIRFLOW_CONN_PROPERTY_DB": json.dumps(_connection(urls["pbtest_platform"])),
            # Short backoff so that retry tests take seconds; production uses the defaults.
            "PROPERTY_BUILDER_RETRY_DELAY_SECONDS": "1",
            "PROPERTY_BUILDER_MAX_RETRY_DELAY_SECONDS": "2",
        }
    )


def _connection(url: str) -> dict[str, Any]:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return {
        "conn_type": "postgres",
        "host": parts.hostname,
        "port": parts.port,
        "login": parts.username,
        "schema": parts.path.lstrip("/"),
        "extra": {"connect_timeout": 5},
    }


def pytest_unconfigure(config: pytest.Config) -> None:
    import sys

    if "airflow.settings" in sys.modules:
        # Close Airflow's pooled connections before their server goes away.
        sys.modules["airflow.settings"].dispose_orm()
    cluster = _state.get("cluster")
    if cluster is not None:
        cluster.stop()
    workdir = _state.get("workdir")
    if workdir is not None:
        shutil.rmtree(workdir, ignore_errors=True)


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    # Every test must run here: a skip would hide a missing piece of the machine set-up.
    skipped = terminalreporter.stats.get("skipped", [])
    if skipped:
        terminalreporter.write_line(f"FAILED: {len(skipped)} tests were skipped; none may be")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None and reporter.stats.get("skipped") and exitstatus == 0:
        session.exitstatus = 1


@pytest.fixture(scope="session")
def platform_url() -> str:
    """The platform database's URL, migrated once for the whole session."""
    import psycopg

    from include.property_builder.db import migrate

    url: str = _state["platform_url"]
    with psycopg.connect(url) as conn:
        migrate(conn)
    return url


@pytest.fixture
def platform_db(platform_url: str) -> Iterator[Any]:
    """An autocommit connection to an empty, migrated platform database.

    Every test starts from no rows, so that row counts in assertions mean one build.
    The property services keep their jobs beside it (schema `property_services`); those
    are emptied too, or a job of an earlier test would be reused for this one.
    """
    import psycopg

    with psycopg.connect(platform_url, autocommit=True) as conn:
        tables = [
            row[0]
            for row in conn.execute(
                "SELECT format('%I.%I', schemaname, tablename) FROM pg_tables"
                " WHERE schemaname IN ('platform', 'property_services', 'analytics')"
            )
        ]
        conn.execute(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE")  # type: ignore[arg-type]
        yield conn


@pytest.fixture(scope="session")
def airflow_db() -> None:
    """Airflow's metadata database, created fresh once per session for `dag.test()`."""
    from airflow.utils.db import resetdb

    resetdb()


@pytest.fixture
def example() -> dict[str, Any]:
    """A fresh copy of the contract's full example submission."""
    source = CONTRACT_EXAMPLE if CONTRACT_EXAMPLE.exists() else FIXTURE_EXAMPLE
    return json.loads(source.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


class PropertyServices:
    """A running property-services API: its URL, token and fault controls."""

    def __init__(self, url: str, token: str) -> None:
        self.url = url
        self.token = token

    def set_faults(self, **faults: Any) -> None:
        """Replace the service's fault settings (all off unless given)."""
        import httpx

        response = httpx.put(
            f"{self.url}/admin/faults",
            json=faults,
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=10,
        )
        response.raise_for_status()


@pytest.fixture(scope="session")
def property_services(platform_url: str) -> Iterator[PropertyServices]:
    """The reference property-services API, as a real process on a loopback port.

    The build's `property_services` connection points at it; tests that inject faults
    reset them when they end (see `services`).
    """
    from include.devstack.run import property_services as run_property_services
    from include.devstack.run import services_connection

    port = free_port()
    token = "test-token-" + os.urandom(8).hex()
    settings = {"PROPERTY_SERVICES_PORT": str(port), "PROPERTY_SERVICES_TOKEN": token}
    with run_property_services(settings, platform_url, _state["workdir"]) as url:
        os.environ["AIRFLOW_CONN_PROPERTY_SERVICES"] = services_connection(port, token)
        os.environ["PROPERTY_SERVICES_POLL_SECONDS"] = "0.2"
        yield PropertyServices(url, token)


@pytest.fixture
def services(property_services: PropertyServices) -> Iterator[PropertyServices]:
    """The property services with every fault off before and after the test."""
    property_services.set_faults()
    yield property_services
    property_services.set_faults()
