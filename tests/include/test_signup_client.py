"""The sign-up client's own logic, against a scripted HTTP server on loopback.

The end-to-end behaviour against real Airflow is in `tests/e2e/test_rest_api.py`; here
are the parts Airflow cannot be made to do on demand (a 503, an expired token) and the
command line's parsing.
"""

from __future__ import annotations

import argparse
import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from include.signup_client.cli import client_for, parse_time, read_env_file
from include.signup_client.client import (
    AirflowUnavailable,
    AuthenticationFailed,
    SignupClient,
    SignupClientError,
    SubmissionConflict,
    SubmissionRejected,
    _detail,
    same_content,
    submission_id_of,
)


class ScriptedAirflow(ThreadingHTTPServer):
    """Answers each request with the next scripted (status, body) for its path."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.script: dict[str, list[tuple[int, Any]]] = {}
        self.seen: list[tuple[str, str, str | None]] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    server: ScriptedAirflow

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        self.server.seen.append((self.command, self.path, self.headers.get("Authorization")))
        answers = self.server.script.get(f"{self.command} {self.path}", [])
        status, body = answers.pop(0) if answers else (404, {"detail": "Not Found"})
        raw = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    do_GET = do_POST = _answer

    def log_message(self, format: str, *args: Any) -> None:
        """Keep the test output quiet."""


@pytest.fixture
def airflow() -> Iterator[ScriptedAirflow]:
    """A real HTTP server on loopback that plays Airflow's part from a script."""
    server = ScriptedAirflow()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    server.script["POST /auth/token"] = [
        (201, {"access_token": "t1"}),
        (201, {"access_token": "t2"}),
    ]
    yield server
    server.shutdown()
    server.server_close()


def _client(airflow: ScriptedAirflow) -> SignupClient:
    return SignupClient(airflow.url, "signup", "pw", attempts=3, sleep=lambda _: None)


RUN = {"dag_run_id": "sub-1", "state": "queued", "queued_at": "2026-12-03T10:00:00Z"}
SUBMISSION = {"submission_id": "sub-1", "property": {"name": "A", "rooms": 2}}


def test_submit_retries_a_503_and_starts_one_build(airflow: ScriptedAirflow) -> None:
    airflow.script["POST /api/v2/dags/property_builder/dagRuns"] = [
        (503, {"detail": "busy"}),
        (200, RUN),
    ]

    with _client(airflow) as client:
        run = client.submit(SUBMISSION)

    assert (run.run_id, run.state, run.created) == ("sub-1", "queued", True)
    triggers = [seen for seen in airflow.seen if seen[1].endswith("/dagRuns")]
    assert len(triggers) == 2
    assert triggers[0][2] == "Bearer t1"


def test_submit_of_a_known_submission_returns_its_run_or_refuses_other_content(
    airflow: ScriptedAirflow,
) -> None:
    path = "/api/v2/dags/property_builder/dagRuns"
    airflow.script[f"POST {path}"] = [(409, {"detail": "exists"}), (409, {"detail": "exists"})]
    changed = {**SUBMISSION, "property": {"rooms": 2, "name": "B"}}
    airflow.script[f"GET {path}/sub-1"] = [
        (200, {**RUN, "conf": {"property": {"rooms": 2, "name": "A"}, "submission_id": "sub-1"}}),
        (200, {**RUN, "conf": changed}),
    ]

    with _client(airflow) as client:
        run = client.submit(SUBMISSION)
        with pytest.raises(SubmissionConflict, match="sub-1 already has a build"):
            client.submit({**SUBMISSION, "property": {"name": "C", "rooms": 2}})

    assert not run.created


def test_an_expired_token_is_renewed_once(airflow: ScriptedAirflow) -> None:
    path = "/api/v2/dags/property_builder/dagRuns"
    airflow.script[f"POST {path}"] = [(401, {"detail": "Token Expired"}), (200, RUN)]

    with _client(airflow) as client:
        client.submit(SUBMISSION)

    triggers = [seen[2] for seen in airflow.seen if seen[1] == path]
    assert triggers == ["Bearer t1", "Bearer t2"]


def test_refused_login_and_unreachable_airflow_are_named(airflow: ScriptedAirflow) -> None:
    airflow.script["POST /auth/token"] = [(401, {"detail": "Invalid credentials"})]
    with _client(airflow) as client, pytest.raises(AuthenticationFailed, match="'signup'"):
        client.submit(SUBMISSION)

    airflow.server_close()
    with (
        SignupClient(airflow.url, "u", "p", attempts=2, sleep=lambda _: None) as client,
        pytest.raises(AirflowUnavailable, match="failed 2 times"),
    ):
        client.token()


def test_rejection_lists_airflow_s_reasons(airflow: ScriptedAirflow) -> None:
    airflow.script["POST /api/v2/dags/property_builder/dagRuns"] = [
        (400, {"detail": "Invalid input for param partner: 'partner' is a required property"})
    ]
    with _client(airflow) as client, pytest.raises(SubmissionRejected) as caught:
        client.submit(SUBMISSION)

    assert "sub-1 rejected (HTTP 400), no build started" in str(caught.value)
    assert "param partner" in str(caught.value)


@pytest.mark.parametrize(
    "value", [None, "", "a" * 65, "has space", "semi;colon", 42, "sub/1"], ids=repr
)
def test_a_submission_id_that_cannot_be_a_run_id_is_rejected(value: Any) -> None:
    with pytest.raises(SubmissionRejected, match="submission_id: must be 1 to 64"):
        submission_id_of({"submission_id": value})


def test_content_is_compared_whatever_the_key_order() -> None:
    assert same_content({"a": 1, "b": [1, {"c": 2, "d": 3}]}, {"b": [1, {"d": 3, "c": 2}], "a": 1})
    assert not same_content({"a": 1}, {"a": 1.5})
    assert not same_content({"a": [1, 2]}, {"a": [2, 1]})


def test_fastapi_error_lists_are_made_readable() -> None:
    import httpx

    listed = httpx.Response(
        422, json={"detail": [{"loc": ["body", "logical_date"], "msg": "Field required"}]}
    )
    plain = httpx.Response(500, text="<html>oops</html>")

    assert _detail(listed) == "body.logical_date: Field required"
    assert _detail(plain) == "<html>oops</html>"


def test_times_are_iso_with_a_zone_or_relative() -> None:
    now = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)

    assert parse_time("2h", now=lambda: now) == now - timedelta(hours=2)
    assert parse_time("30m", now=lambda: now) == now - timedelta(minutes=30)
    assert parse_time("7d", now=lambda: now) == now - timedelta(days=7)
    assert parse_time("2026-12-01T08:00:00+01:00") == datetime(2026, 12, 1, 7, 0, tzinfo=UTC)
    with pytest.raises(argparse.ArgumentTypeError, match="no time zone"):
        parse_time("2026-12-01T08:00:00")
    with pytest.raises(argparse.ArgumentTypeError, match="not a time"):
        parse_time("yesterday")


def test_each_command_logs_in_as_its_user_and_names_missing_settings(tmp_path: Path) -> None:
    settings = {
        "AIRFLOW_URL": "http://127.0.0.1:1",
        "SIGNUP_USER": "signup",
        "SIGNUP_PASSWORD": "s",
        "AIRFLOW_USER": "admin",
    }

    with client_for("submit", settings) as client:
        assert client._username == "signup"
    with pytest.raises(SignupClientError, match="missing settings: AIRFLOW_PASSWORD"):
        client_for("retry-failed", settings)

    env_file = tmp_path / "stack.env"
    env_file.write_text("# made by make run\nAIRFLOW_URL=http://x\nSIGNUP_USER='signup'\n\n")
    assert read_env_file(env_file) == {"AIRFLOW_URL": "http://x", "SIGNUP_USER": "signup"}
    assert read_env_file(tmp_path / "absent.env") == {}
