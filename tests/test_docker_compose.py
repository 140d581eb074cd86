"""docker-compose.yaml cannot run here (no Docker engine): check it against the code."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
import yaml

from include.devstack.access import AUTH_MANAGER, USERS
from include.orchestration.database import PROPERTY_DB_CONN_ID
from include.orchestration.services import PROPERTY_SERVICES_CONN_ID
from tests.conftest import REPO

AIRFLOW_SERVICES = {
    "airflow-init",
    "airflow-api-server",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-triggerer",
    "airflow-worker",
}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    """The parsed compose file, YAML anchors and merges resolved."""
    return yaml.safe_load((REPO / "docker-compose.yaml").read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def test_services_are_all_there(compose: dict[str, Any]) -> None:
    assert set(compose["services"]) == AIRFLOW_SERVICES | {
        "postgres",
        "platform-db",
        "property-services",
        "redis",
    }


def test_airflow_image_is_built_from_our_requirements(compose: dict[str, Any]) -> None:
    dockerfile = (REPO / "Dockerfile").read_text(encoding="utf-8")
    pinned = re.search(r"^apache-airflow==(\S+)$", (REPO / "requirements.txt").read_text(), re.M)

    assert pinned is not None
    assert f"FROM apache/airflow:{pinned.group(1)}-python3.11" in dockerfile
    assert "pip install --no-cache-dir -r /requirements.txt" in dockerfile
    for name in AIRFLOW_SERVICES:
        service = compose["services"][name]
        assert service["build"] == ".", name
        assert (REPO / service["build"] / "Dockerfile").is_file()


def test_airflow_services_see_our_code_and_connections(compose: dict[str, Any]) -> None:
    for name in AIRFLOW_SERVICES:
        service = compose["services"][name]
        env = service["environment"]
        mounts = dict(volume.split(":", 1) for volume in service["volumes"])
        assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor", name
        assert env["AIRFLOW__CORE__AUTH_MANAGER"] == AUTH_MANAGER, name
        assert env["AIRFLOW__CELERY__BROKER_URL"] == "redis://redis:6379/0", name
        assert "@postgres/airflow" in env["AIRFLOW__CELERY__RESULT_BACKEND"], name
        assert mounts["./dags"] == env["AIRFLOW__CORE__DAGS_FOLDER"], name
        assert mounts["./plugins"] == env["AIRFLOW__CORE__PLUGINS_FOLDER"], name
        assert mounts["./include"] == env["PYTHONPATH"] + "/include", name
        for local in mounts:
            assert (REPO / local).is_dir(), local
        assert f"AIRFLOW_CONN_{PROPERTY_DB_CONN_ID.upper()}" in env, name
        assert "@platform-db:5432/" in env[f"AIRFLOW_CONN_{PROPERTY_DB_CONN_ID.upper()}"]
        services = json.loads(env[f"AIRFLOW_CONN_{PROPERTY_SERVICES_CONN_ID.upper()}"])
        assert (services["host"], services["port"]) == ("property-services", 8090)
        assert services["extra"]["Authorization"].startswith("Bearer ${PROPERTY_SERVICES_TOKEN")


def test_property_services_run_our_reference_service(compose: dict[str, Any]) -> None:
    service = compose["services"]["property-services"]
    command = " ".join(service["command"])
    mounts = dict(volume.split(":", 1) for volume in service["volumes"])

    assert "python -m services.property_services --host 0.0.0.0 --port 8090" in command
    assert (REPO / "services" / "property_services" / "__main__.py").is_file()
    assert mounts["./services"] == service["environment"]["PYTHONPATH"] + "/services"
    assert "@platform-db:5432/" in service["environment"]["PROPERTY_SERVICES_DB_URL"]
    assert "PROPERTY_SERVICES_TOKEN" in service["environment"]
    assert "ports" not in service
    assert service["depends_on"]["airflow-init"]["condition"] == "service_completed_successfully"


def test_init_migrates_both_databases_before_anything_starts(compose: dict[str, Any]) -> None:
    services = compose["services"]
    command = " ".join(services["airflow-init"]["command"])

    init_env = services["airflow-init"]["environment"]

    assert "airflow db migrate" in command
    assert "python -m include.property_builder.db migrate" in command
    assert (REPO / "include" / "property_builder" / "db.py").is_file()
    # The users and the Signup role, with the passwords .env must give.
    assert "python -m include.devstack.access" in command
    assert (REPO / "include" / "devstack" / "access.py").is_file()
    for _, variable in USERS.values():
        assert init_env[variable] == f"${{{variable}:?set {variable} in .env}}"
    for name in AIRFLOW_SERVICES - {"airflow-init"}:
        depends = services[name]["depends_on"]
        assert depends["airflow-init"]["condition"] == "service_completed_successfully"
        assert "healthcheck" in services[name], name


def test_two_celery_workers_take_tasks_from_redis(compose: dict[str, Any]) -> None:
    services = compose["services"]
    worker = services["airflow-worker"]

    assert worker["command"] == "celery worker"
    assert worker["deploy"]["replicas"] == 2
    assert "celery_executor.app inspect ping" in worker["healthcheck"]["test"][1]
    assert services["redis"]["healthcheck"]["test"] == ["CMD", "redis-cli", "ping"]
    for name in AIRFLOW_SERVICES:
        assert services[name]["depends_on"]["redis"]["condition"] == "service_healthy", name
    pinned = (REPO / "requirements.txt").read_text()
    assert "apache-airflow-providers-celery==" in pinned
    assert "apache-airflow-providers-fab==" in pinned


def test_only_loopback_ports_are_published(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), name


def test_every_variable_it_reads_is_documented() -> None:
    text = (REPO / "docker-compose.yaml").read_text(encoding="utf-8")
    documented = (REPO / ".env.example").read_text(encoding="utf-8")

    for variable in set(re.findall(r"\$\{(\w+):[-?]", text)):
        assert f"{variable}=" in documented, variable


def test_readme_says_compose_was_not_run_here() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert "docker-compose.yaml" in readme
    assert "not been run" in readme
