"""Real Airflow processes on this machine: api-server, scheduler, dag-processor, triggerer.

Used by the end-to-end tests that need what `dag.test()` cannot show (tasks of one run
overlapping in time, deferred waits in the triggerer, users and roles over REST) and by
the local stack. Every process listens on 127.0.0.1 only: log servers are off
(`--skip-serve-logs`). With `celery_workers`, tasks run on that many Celery workers
through a Redis broker instead of the LocalExecutor.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from include.devstack.access import AUTH_MANAGER, USERS

REPO = Path(__file__).resolve().parent.parent.parent
COMPONENTS = {
    "api-server": ["api-server", "--host", "127.0.0.1", "--port", "{port}"],
    "scheduler": ["scheduler", "--skip-serve-logs"],
    "dag-processor": ["dag-processor"],
    "triggerer": ["triggerer", "--skip-serve-logs"],
}


# The stack's tuned settings; the environment (and a stack's own `settings`) win over them.
TUNED = {
    # Latency between dependent tasks is set by the scheduler's idle sleep: at 0.05 s the
    # median gap is about 0.06 s here (at 1 s, Airflow's default: about 1 s). See
    # bench/orchestration.py and the README's measurements.
    "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": "0.05",
    # A transient fault is retried after 2 s, then 4, 8, ... (6 retries, about two minutes
    # in all), instead of the DAG's stand-alone default of 10 s: a retry on the critical
    # path costs the partner its delay.
    "PROPERTY_BUILDER_RETRY_DELAY_SECONDS": "2",
    "PROPERTY_BUILDER_RETRIES": "6",
}


class StackError(RuntimeError):
    """Raised when an Airflow process fails to start or a call to it fails."""


@dataclass
class AirflowStack:
    """Airflow's processes for one `home`, on one metadata database, with the LocalExecutor."""

    home: Path
    metadata_url: str
    port: int
    settings: Mapping[str, str] = field(default_factory=dict)
    # Passwords by username: the FAB auth manager with our users and roles
    # (`include.devstack.access`). None: SimpleAuthManager as configured in `settings`.
    passwords: Mapping[str, str] | None = None
    # Redis URL and worker count for the CeleryExecutor; no broker: the LocalExecutor.
    celery_broker: str | None = None
    celery_workers: int = 2
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    _logs: list[IO[bytes]] = field(default_factory=list)

    @property
    def url(self) -> str:
        """Return the API server's base URL."""
        return f"http://127.0.0.1:{self.port}"

    def environment(self) -> dict[str, str]:
        """Return the environment every Airflow process of this stack runs with."""
        self.home.mkdir(parents=True, exist_ok=True)
        secret_file = self.home / "jwt_secret"
        if not secret_file.exists():
            secret_file.write_text(secrets.token_hex(32))
        return {
            **TUNED,
            **os.environ,
            "AIRFLOW_HOME": str(self.home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": self.metadata_url,
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.url}/execution/",
            "AIRFLOW__API__BASE_URL": self.url,
            "AIRFLOW__API_AUTH__JWT_SECRET": secret_file.read_text(),
            "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(self.home / "logs"),
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            "PYTHONPATH": str(REPO),
            **self._executor_settings(),
            **self._auth_settings(),
            **self.settings,
        }

    def _executor_settings(self) -> dict[str, str]:
        if self.celery_broker is None:
            return {"AIRFLOW__CORE__EXECUTOR": "LocalExecutor"}
        backend = self.metadata_url.replace("postgresql+psycopg://", "postgresql://", 1)
        return {
            "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
            "AIRFLOW__CELERY__BROKER_URL": self.celery_broker,
            "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + backend,
            "AIRFLOW__CELERY__WORKER_CONCURRENCY": "8",
        }

    def _auth_settings(self) -> dict[str, str]:
        if self.passwords is None:
            return {}
        return {"AIRFLOW__CORE__AUTH_MANAGER": AUTH_MANAGER}

    def _components(self) -> dict[str, list[str]]:
        components = dict(COMPONENTS)
        if self.celery_broker is not None:
            for number in range(1, self.celery_workers + 1):
                components[f"worker-{number}"] = [
                    "celery",
                    "worker",
                    "--skip-serve-logs",
                    "--celery-hostname",
                    f"worker{number}@%h",
                ]
        return components

    def airflow(self, *args: str, timeout: float = 300) -> None:
        """Run one `airflow` CLI command in this stack's environment; raise if it fails."""
        result = subprocess.run(
            [sys.executable, "-m", "airflow", *args],
            env=self.environment(),
            capture_output=True,
            timeout=timeout,
            check=False,
        )
        if result.returncode != 0:
            tail = (result.stderr or result.stdout).decode(errors="replace")[-3000:]
            raise StackError(f"airflow {' '.join(args)} failed ({result.returncode}): {tail}")

    def start(self, timeout: float = 120) -> None:
        """Migrate the metadata database, start every process and wait until runs can start."""
        self.airflow("db", "migrate")
        # The DAGs are written to the database now, before the dag-processor starts: run
        # at the same time, both would insert the same new DAG row and one would fail on
        # its unique key. Written now, they are visible at once, not at the first refresh.
        self.airflow("dags", "reserialize")
        if self.passwords is not None:
            self._set_up_users(self.passwords)
        env = self.environment()
        (self.home / "logs").mkdir(parents=True, exist_ok=True)
        for name, args in self._components().items():
            log = (self.home / "logs" / f"{name}.log").open("ab")
            self._logs.append(log)
            command = [arg.format(port=self.port) for arg in args]
            self.processes[name] = subprocess.Popen(
                [sys.executable, "-m", "airflow", *command],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._wait_healthy(timeout)

    def _set_up_users(self, passwords: Mapping[str, str]) -> None:
        env = {
            **self.environment(),
            **{variable: passwords.get(name, "") for name, (_, variable) in USERS.items()},
        }
        result = subprocess.run(
            [sys.executable, "-m", "include.devstack.access"],
            env=env,
            capture_output=True,
            timeout=300,
            check=False,
        )
        if result.returncode != 0:
            tail = (result.stderr or result.stdout).decode(errors="replace")[-3000:]
            raise StackError(f"setting up users failed ({result.returncode}): {tail}")

    def _wait_healthy(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for name, process in self.processes.items():
                if process.poll() is not None:
                    raise StackError(
                        f"{name} exited with {process.returncode}: {self.log_tail(name)}"
                    )
            try:
                health = self.request("GET", "/api/v2/monitor/health")
            except (StackError, OSError):
                health = {}
            components = [
                health.get(key, {}).get("status")
                for key in ("scheduler", "triggerer", "dag_processor")
            ]
            workers_ready = all(
                " ready." in self.log_tail(name, chars=100_000)
                for name in self.processes
                if name.startswith("worker-")
            )
            if health and all(status == "healthy" for status in components) and workers_ready:
                return
            time.sleep(0.5)
        raise StackError(f"Airflow did not become healthy in {timeout}s: {health}")

    def log_tail(self, name: str, chars: int = 3000) -> str:
        """Return the end of one process's log."""
        path = self.home / "logs" / f"{name}.log"
        return path.read_text(errors="replace")[-chars:] if path.exists() else ""

    def request(self, method: str, path: str, body: Any = None, token: str | None = None) -> Any:
        """Call the REST API; return the decoded JSON answer."""
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.url + path, data=data, method=method)
        request.add_header("Content-Type", "application/json")
        if token:
            request.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                raw = response.read()
        except urllib.error.HTTPError as err:
            raise StackError(f"{method} {path}: HTTP {err.code}: {err.read()[:500]!r}") from None
        return json.loads(raw) if raw else None

    def stop(self) -> None:
        """Stop every process (SIGTERM, then SIGKILL after 20 s)."""
        for process in self.processes.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + 20
        for process in self.processes.values():
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        for log in self._logs:
            log.close()
        self.processes.clear()
