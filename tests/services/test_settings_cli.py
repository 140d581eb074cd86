"""Settings from the environment, the command line's refusals, and the rule that the
service imports nothing of the project it stands apart from."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

from services.property_services.faults import Faults
from services.property_services.settings import Settings, SettingsError
from tests.services.support import REPO

REQUIRED = {"PROPERTY_SERVICES_TOKEN": "s3cret", "PROPERTY_SERVICES_DB_URL": "postgresql://db/x"}


def test_defaults() -> None:
    settings = Settings.from_env(REQUIRED)

    assert settings.token == "s3cret"
    assert settings.db_url == "postgresql://db/x"
    assert settings.platform_db_url == "postgresql://db/x"
    assert settings.concurrency == 4
    assert settings.faults == Faults()


def test_every_setting_is_read() -> None:
    settings = Settings.from_env(
        {
            **REQUIRED,
            "PROPERTY_SERVICES_PLATFORM_DB_URL": "postgresql://db/platform",
            "PROPERTY_SERVICES_CONCURRENCY": "9",
            "PROPERTY_SERVICES_FAULTS": '{"http_503_rate": 0.25, "reject_kinds": ["photos"]}',
        }
    )

    assert settings.platform_db_url == "postgresql://db/platform"
    assert settings.concurrency == 9
    assert settings.faults.http_503_rate == 0.25
    assert settings.faults.reject_kinds == ["photos"]


def test_the_token_stays_out_of_repr() -> None:
    assert "s3cret" not in repr(Settings.from_env(REQUIRED))


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"PROPERTY_SERVICES_TOKEN": ""}, "PROPERTY_SERVICES_TOKEN"),
        ({"PROPERTY_SERVICES_DB_URL": ""}, "PROPERTY_SERVICES_DB_URL"),
        ({"PROPERTY_SERVICES_CONCURRENCY": "many"}, "PROPERTY_SERVICES_CONCURRENCY"),
        ({"PROPERTY_SERVICES_CONCURRENCY": "0"}, "PROPERTY_SERVICES_CONCURRENCY"),
        ({"PROPERTY_SERVICES_FAULTS": "{not json"}, "PROPERTY_SERVICES_FAULTS"),
        ({"PROPERTY_SERVICES_FAULTS": '{"http_503_rate": 2}'}, "PROPERTY_SERVICES_FAULTS"),
    ],
)
def test_a_missing_or_invalid_setting_is_refused(change: dict[str, str], named: str) -> None:
    with pytest.raises(SettingsError, match=named):
        Settings.from_env({**REQUIRED, **change})


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("PROPERTY_SERVICES_")}
    return subprocess.run(
        [sys.executable, "-m", "services.property_services", *args],
        env={**clean, "PYTHONPATH": str(REPO), **env},
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("missing", sorted(REQUIRED))
def test_the_cli_refuses_to_start_without_a_required_setting(missing: str) -> None:
    env = {name: value for name, value in REQUIRED.items() if name != missing}

    result = _cli(env, "--port", "1")

    assert result.returncode == 2
    assert result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1
    assert missing in result.stderr


def test_the_cli_refuses_a_bad_port() -> None:
    result = _cli(REQUIRED, "--port", "eighty")

    assert result.returncode == 2
    assert "--port" in result.stderr


def test_the_service_imports_nothing_of_the_project() -> None:
    package = REPO / "services"
    imported: dict[Path, set[str]] = {}
    for path in package.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom):
                names = {node.module or ""}
            else:
                continue
            imported.setdefault(path, set()).update(names)
    every = set().union(*imported.values())

    assert "fastapi" in every  # the walk did find the imports
    assert not {name for name in every if name.split(".")[0] in {"include", "dags", "plugins"}}


def test_loading_the_service_loads_nothing_of_the_project() -> None:
    probe = (
        "import sys\n"
        "import services.property_services.__main__\n"
        "import services.property_services.app\n"
        "ours = sorted(m for m in sys.modules if m.split('.')[0] in ('include', 'dags'))\n"
        "print(ours)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe],
        env={**os.environ, "PYTHONPATH": str(REPO)},
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
