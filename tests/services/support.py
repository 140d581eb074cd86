"""Helpers for the property-services tests: the service as a real process, job waits and
sample inputs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[2]
TERMINAL = frozenset({"succeeded", "failed"})
START_TIMEOUT_SECONDS = 60.0
JOB_TIMEOUT_SECONDS = 60.0

# 2026-12-03 is a Thursday: the 4th and 5th are the Friday and Saturday nights.
START_DATE = "2026-12-03"


@dataclass
class ServiceProcess:
    """`python -m services.property_services` on a loopback port, startable again and again.

    Its output goes to `log_path`, appended across restarts.
    """

    port: int
    token: str
    env: dict[str, str]
    log_path: Path
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        """The base URL of the API."""
        return f"http://127.0.0.1:{self.port}"

    def running(self) -> bool:
        """Return whether the process is alive."""
        return self.process is not None and self.process.poll() is None

    def start(self, extra_env: Mapping[str, str] | None = None) -> None:
        """Start the process and wait until `/health` answers 200."""
        assert not self.running(), "the service is already running"
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "services.property_services",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                ],
                env={**self.env, **(extra_env or {})},
                cwd=REPO,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while True:
            try:
                if httpx.get(f"{self.url}/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.kill()
                raise RuntimeError(f"the service did not start:\n{self.log_text()[-3000:]}")
            time.sleep(0.1)

    def stop(self, timeout: float = 20.0) -> int:
        """Stop the process gracefully (SIGTERM); return its exit status."""
        return self._end(signal.SIGTERM, timeout)

    def kill(self) -> int:
        """Stop the process at once (SIGKILL), as a crash would; return its exit status."""
        return self._end(signal.SIGKILL, 20.0)

    def _end(self, sig: signal.Signals, timeout: float) -> int:
        if self.process is None:
            return 0
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=20)
            raise

    def log_text(self) -> str:
        """Return everything the process (and its predecessors) wrote."""
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def client(self, token: str | None = None, timeout: float = 10.0) -> httpx.Client:
        """Return an HTTP client of the API sending `token` (default: the right one)."""
        return httpx.Client(
            base_url=self.url,
            headers={"Authorization": f"Bearer {token or self.token}"},
            timeout=timeout,
        )


def service_env(token: str, db_url: str, platform_url: str) -> dict[str, str]:
    """Return the environment of a service process: ours, minus any stray settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROPERTY_SERVICES_")}
    return {
        **env,
        "PYTHONPATH": str(REPO),
        "PROPERTY_SERVICES_TOKEN": token,
        "PROPERTY_SERVICES_DB_URL": db_url,
        "PROPERTY_SERVICES_PLATFORM_DB_URL": platform_url,
        "PROPERTY_SERVICES_CONCURRENCY": "4",
    }


def wait_until(
    condition: Callable[[], Any], timeout: float = JOB_TIMEOUT_SECONDS, what: str = "condition"
) -> Any:
    """Poll `condition` until it returns something truthy; return that. Fail after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.02)


def wait_for_job(client: httpx.Client, job_id: str, timeout: float = JOB_TIMEOUT_SECONDS) -> Any:
    """Poll the job until it has succeeded or failed; return it."""

    def finished() -> Any:
        response = client.get(f"/jobs/{job_id}")
        assert response.status_code == 200, response.text
        job = response.json()
        return job if job["status"] in TERMINAL else None

    return wait_until(finished, timeout, f"job {job_id} to end")


def post_job(client: httpx.Client, kind: str, key: str, job_input: Any) -> httpx.Response:
    """Send `POST /jobs/{kind}` with the documented body."""
    return client.post(f"/jobs/{kind}", json={"idempotency_key": key, "input": job_input})


def run_job(client: httpx.Client, kind: str, key: str, job_input: Any) -> Any:
    """Start a job, check it was accepted, and return it once it has ended."""
    response = post_job(client, kind, key, job_input)
    assert response.status_code == 202, response.text
    return wait_for_job(client, response.json()["job_id"])


def calendar_input(
    room_types: list[tuple[int, int, str]] | None = None,
    days: int = 7,
    start_date: str = START_DATE,
    currency: str = "EUR",
) -> dict[str, Any]:
    """Return a calendar job input; room types as (room_type_id, unit_count, base_rate)."""
    rooms = room_types if room_types is not None else [(101, 8, "179.00"), (102, 4, "289.00")]
    return {
        "property_id": 1,
        "currency": currency,
        "start_date": start_date,
        "days": days,
        "room_types": [
            {"room_type_id": rid, "unit_count": units, "base_rate": rate}
            for rid, units, rate in rooms
        ],
    }


def photos_input() -> dict[str, Any]:
    """Return a photos job input: three good photos and four that must be rejected."""
    return {
        "photos": [
            {"url": "https://photos.example/h/facade.jpg", "caption": "Facade", "room": None},
            {"url": "https://photos.example/h/double.PNG", "caption": None, "room": "Double"},
            {"url": "http://photos.example/h/suite.webp", "caption": None, "room": "Suite"},
            {"url": "ftp://photos.example/h/pool.jpg", "caption": None, "room": None},
            {"url": "https:///no-host.jpg", "caption": None, "room": None},
            {"url": "https://photos.example/h/lobby.gif", "caption": None, "room": None},
            {"url": "lobby.jpg", "caption": None, "room": None},
        ]
    }


def descriptions_input() -> dict[str, Any]:
    """Return a descriptions job input with English as the source language."""
    return {
        "source_language": "en",
        "text": "A canal house from 1672 with twelve rooms.",
        "languages": ["en", "nl", "de"],
    }


def count_jobs(conn: Any) -> int:
    """Return how many jobs the service's table holds."""
    row = conn.execute("SELECT count(*) FROM property_services.jobs").fetchone()
    return int(row[0])


def calendar_count(conn: Any) -> int:
    """Return how many rows `platform.availability_calendar` holds."""
    row = conn.execute("SELECT count(*) FROM platform.availability_calendar").fetchone()
    return int(row[0])
