"""The sign-up tool's view: real Airflow processes, spoken to over REST only.

The stack runs the FAB auth manager with the users `make run` sets up: `admin` for
operators and `signup`, whose role may trigger builds and read them, nothing more.
Every call goes through `include.signup_client` (or plain HTTP where the point is what
the server answers), as the sign-up tool and an operator would make it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from include.devstack.airflow_stack import AirflowStack
from include.signup_client.client import (
    DAG_ID,
    AuthenticationFailed,
    PermissionDenied,
    RunNotFound,
    RunStillActive,
    SignupClient,
    SubmissionConflict,
    SubmissionRejected,
)
from tests.conftest import REPO, _state, new_stack
from tests.e2e.test_property_builder_run import assert_built
from tests.helpers import snapshot, variant

PASSWORDS = {"admin": "admin-" + os.urandom(6).hex(), "signup": "signup-" + os.urandom(6).hex()}


@pytest.fixture(scope="module")
def stack(property_services: Any) -> Iterator[AirflowStack]:
    """Airflow's processes with the FAB auth manager and our two users, as `make run` has."""
    stack: AirflowStack = new_stack("rest", passwords=PASSWORDS)
    try:
        stack.start()
        yield stack
    finally:
        stack.stop()


@pytest.fixture
def signup(stack: AirflowStack) -> Iterator[SignupClient]:
    """The sign-up tool's client, logged in as `signup`."""
    with SignupClient(stack.url, "signup", PASSWORDS["signup"]) as client:
        yield client


@pytest.fixture
def operator(stack: AirflowStack) -> Iterator[SignupClient]:
    """The same client logged in as `admin`, for operator commands."""
    with SignupClient(stack.url, "admin", PASSWORDS["admin"]) as client:
        yield client


def _with_id(example: dict[str, Any], submission_id: str) -> dict[str, Any]:
    return variant(example, lambda s: s.update(submission_id=submission_id))


def _another_property(submission: dict[str, Any]) -> None:
    """Make the submission a second, different property of the same partner."""
    submission["property"].update(name="Second House", type="apartment", star_rating=None)
    submission["property"]["address"]["line1"] = "Keizersgracht 125"


def _clear_number(stack: AirflowStack, run_id: str) -> int:
    """Return how often Airflow cleared the run (read from its metadata database)."""
    url = stack.metadata_url.replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT clear_number FROM dag_run WHERE run_id = %s", (run_id,))
        return int(row.fetchone()[0])  # type: ignore[index]


def _runs_of(operator: SignupClient, run_id: str) -> list[str]:
    """Return the ids of every run of the DAG whose id is `run_id` (0 or 1 of them)."""
    try:
        return [operator.status(run_id).run_id]
    except RunNotFound:
        return []


def test_valid_submission_builds_a_property_and_rebuild_reuses_its_run_id(
    stack: AirflowStack,
    signup: SignupClient,
    operator: SignupClient,
    platform_db: Any,
    services: Any,
    example: dict[str, Any],
) -> None:
    submission = _with_id(example, "sub-rest-build")

    started = signup.submit(submission)
    with pytest.raises(RunStillActive):
        operator.rebuild(started.run_id)  # refused while the first build runs
    finished = signup.wait(started.run_id, timeout=300, poll=0.5)

    assert started.created and started.run_id == "sub-rest-build"
    assert finished.state == "success", finished.steps_in("failed", "upstream_failed")
    assert len(finished.steps) >= 33
    assert finished.steps_in("failed", "upstream_failed", None) == []
    assert_built(platform_db, submission)
    before = snapshot(platform_db)

    # The answer to the clear is lost: the client sees the run was queued again and
    # does not clear it a second time (which would reset steps already running).
    transport = _AnswerLost("/clear")
    with SignupClient(
        stack.url, "admin", PASSWORDS["admin"], transport=transport, backoff=0.1
    ) as lossy:
        rebuilt = lossy.rebuild("sub-rest-build")
    again = signup.wait("sub-rest-build", timeout=300, poll=0.5)

    assert transport.lost == 1
    assert _clear_number(stack, "sub-rest-build") == 1  # cleared once, not twice
    assert rebuilt.run_id == "sub-rest-build"
    assert rebuilt.queued_at != finished.queued_at  # a new build of the same run
    assert again.state == "success"
    assert again.ended_at != finished.ended_at
    # Every step ran again and wrote nothing twice.
    assert snapshot(platform_db) == before
    assert _runs_of(operator, "sub-rest-build") == ["sub-rest-build"]


def test_malformed_submission_gets_400_and_no_run(
    stack: AirflowStack, signup: SignupClient, operator: SignupClient, example: dict[str, Any]
) -> None:
    bad = _with_id(example, "sub-rest-malformed")
    bad["property"]["rooms_total"] = "many"  # not an integer
    del bad["partner"]  # a required part missing

    with pytest.raises(SubmissionRejected) as caught:
        signup.submit(bad)

    assert "HTTP 400" in str(caught.value)
    assert "partner" in str(caught.value)
    assert _runs_of(operator, "sub-rest-malformed") == []
    # The same refusal, as the sign-up tool's raw HTTP call sees it.
    answer = httpx.post(
        f"{stack.url}/api/v2/dags/{DAG_ID}/dagRuns",
        json={"dag_run_id": "sub-rest-malformed", "conf": bad, "logical_date": None},
        headers={"Authorization": f"Bearer {signup.token()}"},
        timeout=30,
    )
    assert answer.status_code == 400
    assert _runs_of(operator, "sub-rest-malformed") == []


def test_one_submission_sent_three_times_at_once_builds_one_property(
    signup: SignupClient,
    operator: SignupClient,
    platform_db: Any,
    services: Any,
    example: dict[str, Any],
) -> None:
    submission = _with_id(example, "sub-rest-thrice")

    with ThreadPoolExecutor(max_workers=3) as pool:
        answers = list(pool.map(lambda _: signup.submit(submission), range(3)))
    again = signup.submit(submission)  # and once more, in order
    finished = signup.wait("sub-rest-thrice", timeout=300, poll=0.5)

    assert sorted(answer.created for answer in answers) == [False, False, True]
    assert {answer.run_id for answer in answers} == {"sub-rest-thrice"}
    assert not again.created
    assert finished.state == "success"
    assert _runs_of(operator, "sub-rest-thrice") == ["sub-rest-thrice"]
    assert_built(platform_db, submission)  # exactly one property, one of everything

    changed = variant(submission, lambda s: s["property"].update(name="Another Name"))
    with pytest.raises(SubmissionConflict, match="different content"):
        signup.submit(changed)


class _AnswerLost(httpx.BaseTransport):
    """Sends the first POST to a path ending in `suffix` to the server, then loses its answer.

    A network failure after the server acted: the client cannot know whether its call
    took effect, and must not do it a second time when it tries again.
    """

    def __init__(self, suffix: str) -> None:
        self.inner = httpx.HTTPTransport()
        self.suffix = suffix
        self.lost = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        lose = request.method == "POST" and request.url.path.endswith(self.suffix)
        if lose and not self.lost:
            self.lost += 1
            response.read()
            raise httpx.ReadError("connection reset after the request was sent", request=request)
        return response


def test_network_failure_after_the_trigger_is_retried_without_a_second_build(
    stack: AirflowStack,
    operator: SignupClient,
    platform_db: Any,
    services: Any,
    example: dict[str, Any],
) -> None:
    submission = _with_id(example, "sub-rest-lost")
    transport = _AnswerLost("/dagRuns")

    with SignupClient(
        stack.url, "signup", PASSWORDS["signup"], transport=transport, backoff=0.1
    ) as client:
        run = client.submit(submission)
        finished = client.wait(run.run_id, timeout=300, poll=0.5)

    assert transport.lost == 1
    assert not run.created  # the retry found the build its lost first attempt started
    assert finished.state == "success"
    assert_built(platform_db, submission)


def test_retry_failed_clears_failed_steps_and_the_builds_finish(
    stack: AirflowStack,
    signup: SignupClient,
    operator: SignupClient,
    platform_db: Any,
    services: Any,
    example: dict[str, Any],
) -> None:
    # The photos service refuses every job (HTTP 422): a permanent error, no retry.
    services.set_faults(reject_kinds=["photos"])
    since = datetime.now(UTC)
    first = _with_id(example, "sub-rest-retry-1")
    second = variant(_with_id(example, "sub-rest-retry-2"), _another_property)
    for submission in (first, second):
        signup.submit(submission)
    failed = [signup.wait(s["submission_id"], timeout=300, poll=0.5) for s in (first, second)]
    assert [run.state for run in failed] == ["failed", "failed"]
    services.set_faults()
    # Photos failed; the steps after it never ran. Those are what a retry clears.
    expected = {
        (run.run_id, step.label, step.state)
        for run in failed
        for step in run.steps_in("failed", "upstream_failed")
    }
    assert {(run, step) for run, step, state in expected if state == "failed"} == {
        ("sub-rest-retry-1", "content.process_photos"),
        ("sub-rest-retry-2", "content.process_photos"),
    }

    # The dry run, through the command line as an operator types it.
    env_file = _state["workdir"] / "rest-stack.env"
    env_file.write_text(
        f"AIRFLOW_URL={stack.url}\nAIRFLOW_USER=admin\nAIRFLOW_PASSWORD={PASSWORDS['admin']}\n"
    )
    listed = _cli(
        env_file, "retry-failed", "--step", "content.process_photos", "--since", "1h", "--dry-run"
    )
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert lines[0] == f"would clear {len(expected)} steps in 2 runs"
    assert sorted(lines[1:]) == sorted(f"{run}  {step}  ({state})" for run, step, state in expected)
    assert [operator.status(s["submission_id"]).state for s in (first, second)] == ["failed"] * 2
    # A window that ends before the failures selects nothing.
    assert operator.retry_failed(until=since, dry_run=True) == []

    cleared = operator.retry_failed(steps=["content.process_photos"], since=since, dry_run=False)

    assert {(c.run_id, c.label, c.state) for c in cleared} == expected
    finished = [signup.wait(s["submission_id"], timeout=300, poll=0.5) for s in (first, second)]
    assert [run.state for run in finished] == ["success", "success"]
    photos = {
        run.run_id: next(s for s in run.steps if s.step == "content.process_photos")
        for run in finished
    }
    assert {step.try_number for step in photos.values()} == {2}  # cleared once, ran once more
    # Nothing is failed any more: a repeat clears nothing.
    assert operator.retry_failed(dry_run=False) == []
    properties = platform_db.execute("SELECT count(*) FROM platform.properties").fetchone()
    assert properties == (2,)


def test_no_token_gets_401_and_bad_credentials_are_refused(
    stack: AirflowStack, example: dict[str, Any]
) -> None:
    no_token = httpx.post(
        f"{stack.url}/api/v2/dags/{DAG_ID}/dagRuns",
        json={"dag_run_id": "sub-rest-anonymous", "conf": example, "logical_date": None},
        timeout=30,
    )
    bad_token = httpx.get(
        f"{stack.url}/api/v2/dags/{DAG_ID}/dagRuns",
        headers={"Authorization": "Bearer not-a-token"},
        timeout=30,
    )

    assert no_token.status_code == 401
    # Airflow answers a token it cannot verify with 403 (an expired one with 401).
    assert (bad_token.status_code, bad_token.json()["detail"]) == (403, "Invalid JWT token")
    with (
        SignupClient(stack.url, "signup", "wrong-password") as client,
        pytest.raises(AuthenticationFailed, match="'signup' refused"),
    ):
        client.submit(_with_id(example, "sub-rest-anonymous"))


def test_signup_user_may_trigger_and_read_but_not_delete_or_clear(
    stack: AirflowStack,
    signup: SignupClient,
    operator: SignupClient,
    platform_db: Any,
    services: Any,
    example: dict[str, Any],
) -> None:
    submission = _with_id(example, "sub-rest-roles")
    signup.submit(submission)
    assert signup.wait("sub-rest-roles", timeout=300, poll=0.5).state == "success"

    with pytest.raises(PermissionDenied, match="HTTP 403"):
        signup.delete_run("sub-rest-roles")
    with pytest.raises(PermissionDenied, match="HTTP 403"):
        signup.rebuild("sub-rest-roles")
    clear = httpx.post(
        f"{stack.url}/api/v2/dags/{DAG_ID}/clearTaskInstances",
        json={"dry_run": False, "dag_run_id": "sub-rest-roles", "only_failed": False},
        headers={"Authorization": f"Bearer {signup.token()}"},
        timeout=30,
    )
    assert clear.status_code == 403
    assert signup.status("sub-rest-roles").state == "success"  # still there, untouched

    operator.delete_run("sub-rest-roles")  # an operator may
    assert _runs_of(operator, "sub-rest-roles") == []


def _cli(env_file: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the sign-up tool's command line as a person would, in a clean environment."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "SIGNUP"))}
    return subprocess.run(
        [sys.executable, "-m", "include.signup_client", "--env-file", str(env_file), *args],
        cwd=REPO,
        env={**env, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def test_command_line_submits_waits_and_reports(
    stack: AirflowStack, platform_db: Any, services: Any, example: dict[str, Any]
) -> None:
    env_file = _state["workdir"] / "rest-signup.env"
    env_file.write_text(
        f"AIRFLOW_URL={stack.url}\nSIGNUP_USER=signup\nSIGNUP_PASSWORD={PASSWORDS['signup']}\n"
    )
    path = _state["workdir"] / "sub-rest-cli.json"
    path.write_text(json.dumps(_with_id(example, "sub-rest-cli")))

    submitted = _cli(env_file, "submit", str(path), "--wait")
    again = _cli(env_file, "--json", "submit", str(path))
    status = _cli(env_file, "--json", "status", "sub-rest-cli")
    missing = _cli(env_file, "status", "sub-rest-nothing")
    garbage = _cli(env_file, "submit", str(env_file))

    assert submitted.returncode == 0, submitted.stderr
    assert submitted.stdout.startswith("build started: sub-rest-cli (queued)")
    assert "sub-rest-cli: success" in submitted.stdout
    assert again.returncode == 0
    assert json.loads(again.stdout)["created"] is False
    assert json.loads(status.stdout)["state"] == "success"
    assert missing.returncode == 1
    assert "not found (HTTP 404)" in missing.stderr
    assert garbage.returncode == 1
    assert "not a readable JSON file" in garbage.stderr
