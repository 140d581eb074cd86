"""`make run` as a user runs it: the whole system starts, builds the examples, and stops."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import psutil
import pytest

from include.devstack.postgres import free_port
from include.devstack.run import read_env_file
from tests.conftest import REPO, _state


def _listening(ports: set[int]) -> set[tuple[str, int]]:
    """Return the (address, port) pairs listening on any of `ports`."""
    return {
        (conn.laddr.ip, conn.laddr.port)
        for conn in psutil.net_connections(kind="inet")
        if conn.status == psutil.CONN_LISTEN and conn.laddr.port in ports
    }


@pytest.mark.parametrize("executor", ["local", "celery"])
def test_make_run_builds_the_examples_on_loopback_and_stops_on_ctrl_c(executor: str) -> None:
    # Under the session's work folder, which the `postgres` user can reach (as root, the
    # server runs as that user; pytest's own tmp_path is private to us).
    local = _state["workdir"] / f"make-run-{executor}"
    ports = {
        "LOCAL_PG_PORT": str(free_port()),
        "AIRFLOW_PORT": str(free_port()),
        "PROPERTY_SERVICES_PORT": str(free_port()),
    }
    if executor == "celery":
        ports["REDIS_PORT"] = str(free_port())
    # The test session's own Airflow settings must not leak into the stack's processes.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "PROPERTY_"))}
    process = subprocess.Popen(
        [sys.executable, "-m", "include.devstack.run", "--executor", executor],
        cwd=REPO,
        env={**env, **ports, "PROPERTY_BUILDER_LOCAL_DIR": str(local), "PYTHONPATH": str(REPO)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output: list[str] = []
    try:
        deadline = time.monotonic() + 600
        assert process.stdout is not None
        for line in process.stdout:
            output.append(line)
            if line.startswith("builds finished:") or time.monotonic() > deadline:
                break
        finished = output[-1]
        wanted = {int(port) for port in ports.values()}
        listening = _listening(wanted)
        children = psutil.Process(process.pid).children(recursive=True)
    finally:
        process.send_signal(signal.SIGINT)
        code = process.wait(timeout=120)

    text = "".join(output)
    assert finished.startswith("builds finished:"), text[-3000:]
    assert finished.count("=success") == 2, finished
    assert "Airflow UI: http://127.0.0.1:" in text
    assert f"executor: {executor}" in text
    assert code == 0
    stack_env = read_env_file(local / "stack.env")
    assert set(stack_env) >= {
        "AIRFLOW_URL",
        "AIRFLOW_USER",
        "AIRFLOW_PASSWORD",
        "SIGNUP_USER",
        "SIGNUP_PASSWORD",
        "PROPERTY_DB_URL",
    }
    assert stack_env["AIRFLOW_URL"] == f"http://127.0.0.1:{ports['AIRFLOW_PORT']}"
    # Every port it opened was on loopback only, and Ctrl-C closed them all.
    assert {port for _, port in listening} == wanted
    assert {ip for ip, _ in listening} == {"127.0.0.1"}
    assert _listening(wanted) == set()
    assert not [child for child in children if child.is_running()]
