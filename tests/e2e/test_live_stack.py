"""The build on real Airflow processes: api-server, scheduler, dag-processor, triggerer.

What `dag.test()` cannot show: the three slow branches overlapping in time, their waits
held by the triggerer and not by a worker slot, and an operator clearing a failed branch
over the REST API. The stack runs with ONE worker slot (`parallelism=1`): if a waiting
branch held its slot, the three waits would run one after another.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest

from include.devstack.airflow_stack import AirflowStack
from tests.conftest import new_stack
from tests.e2e.test_property_builder_run import assert_built

DAG_RUNS = "/api/v2/dags/property_builder/dagRuns"
CONTENT = ["content.process_photos", "content.translate_descriptions", "content.build_calendar"]
JOB_DELAY = 4.0
JOB_TIMEOUT = 8.0


@pytest.fixture(scope="module")
def stack(property_services: Any, platform_url: str) -> Iterator[AirflowStack]:
    """Airflow's four processes on their own metadata database, with one worker slot.

    Authentication is off for this stack (`simple_auth_manager_all_admins`): these tests
    are about scheduling, not about users.
    """
    stack: AirflowStack = new_stack(
        "stack",
        {
            "AIRFLOW__CORE__PARALLELISM": "1",
            "PROPERTY_BUILDER_RETRIES": "4",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
            # A wait longer than this fails the try (a job that never finishes).
            "PROPERTY_SERVICES_JOB_TIMEOUT_SECONDS": str(JOB_TIMEOUT),
        },
    )
    stack.start()
    yield stack
    stack.stop()


def _trigger_and_wait(stack: AirflowStack, run_id: str, conf: dict[str, Any]) -> str:
    stack.request("POST", DAG_RUNS, {"dag_run_id": run_id, "conf": conf, "logical_date": None})
    return _wait(stack, run_id)


def _wait(stack: AirflowStack, run_id: str, timeout: float = 400) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = str(stack.request("GET", f"{DAG_RUNS}/{run_id}")["state"])
        if state in {"success", "failed"}:
            return state
        time.sleep(1)
    raise AssertionError(f"run {run_id} still running after {timeout}s")


def _clear(stack: AirflowStack, run_id: str, task_id: str) -> None:
    """Clear one task of a run and everything after it, as an operator does in the UI."""
    stack.request(
        "POST",
        "/api/v2/dags/property_builder/clearTaskInstances",
        {
            "dry_run": False,
            "dag_run_id": run_id,
            "task_ids": [task_id],
            "only_failed": False,
            "include_downstream": True,
        },
    )


def _task_instances(stack: AirflowStack, run_id: str) -> dict[str, dict[str, Any]]:
    answer = stack.request("GET", f"{DAG_RUNS}/{run_id}/taskInstances?limit=200")
    return {ti["task_id"]: ti for ti in answer["task_instances"] if ti["map_index"] < 0}


def test_slow_branches_wait_side_by_side_on_one_worker_slot(
    stack: AirflowStack, platform_db: Any, services: Any, example: dict[str, Any]
) -> None:
    services.set_faults(
        job_delay_seconds={"photos": JOB_DELAY, "descriptions": JOB_DELAY, "calendar": JOB_DELAY}
    )

    state = _trigger_and_wait(stack, "sub-live-1", example)

    assert state == "success", stack.log_tail("scheduler")
    # A branch waits from the moment its task started the job (the job's creation) to
    # the end of its task instance. Airflow resets a task's start_date when it resumes
    # from the triggerer, so the job's creation time marks the start of the wait.
    created = dict(
        platform_db.execute("SELECT kind, created_at FROM property_services.jobs").fetchall()
    )
    tis = _task_instances(stack, "sub-live-1")
    waits = {
        kind: (created[kind], datetime.fromisoformat(tis[task]["end_date"]))
        for kind, task in zip(("photos", "descriptions", "calendar"), CONTENT, strict=True)
    }
    for start, end in waits.values():
        assert (end - start).total_seconds() >= JOB_DELAY  # each really waited for its job
    # All three were waiting at the same moment, with one worker slot between them: had a
    # wait held the slot, the next branch could not have started its job before it ended.
    assert max(start for start, _ in waits.values()) < min(end for _, end in waits.values())
    # One job per branch, never restarted. (A branch's task may still show a second try:
    # Airflow 3.3 can misread a stale executor event after a fast trigger as a failure,
    # apache/airflow#67287; the retry finds its job done and only stores the result.)
    jobs = platform_db.execute("SELECT kind, attempt FROM property_services.jobs").fetchall()
    assert sorted(jobs) == [("calendar", 1), ("descriptions", 1), ("photos", 1)]
    assert_built(platform_db, example)


def test_operator_clears_a_failed_branch_and_the_build_completes(
    stack: AirflowStack, platform_db: Any, services: Any, example: dict[str, Any]
) -> None:
    # The service refuses photos jobs (HTTP 422): a permanent error, no retry.
    services.set_faults(reject_kinds=["photos"])
    assert _trigger_and_wait(stack, "sub-live-2", example) == "failed"
    tis = _task_instances(stack, "sub-live-2")
    photos = tis["content.process_photos"]
    assert (photos["state"], photos["try_number"]) == ("failed", 1)
    assert tis["content.build_calendar"]["state"] == "success"
    assert tis["publish.run_quality_checks"]["state"] == "upstream_failed"
    services.set_faults()

    _clear(stack, "sub-live-2", "content.process_photos")

    assert _wait(stack, "sub-live-2") == "success", stack.log_tail("scheduler")
    jobs = platform_db.execute("SELECT kind, attempt FROM property_services.jobs").fetchall()
    assert sorted(jobs) == [("calendar", 1), ("descriptions", 1), ("photos", 1)]
    assert_built(platform_db, example)

    # Clearing a branch that succeeded reuses its job and writes nothing twice.
    _clear(stack, "sub-live-2", "content.build_calendar")
    assert _wait(stack, "sub-live-2") == "success", stack.log_tail("scheduler")
    jobs = platform_db.execute("SELECT kind, attempt FROM property_services.jobs").fetchall()
    assert sorted(jobs) == [("calendar", 1), ("descriptions", 1), ("photos", 1)]
    assert_built(platform_db, example)


def test_job_that_never_finishes_times_out(
    stack: AirflowStack, platform_db: Any, services: Any, example: dict[str, Any]
) -> None:
    # Photos, because that job writes only the service's own table: when it does end,
    # long after this test, it cannot touch a later test's platform rows.
    services.set_faults(job_delay_seconds={"photos": 150.0})

    state = _trigger_and_wait(stack, "sub-live-3", example)

    assert state == "failed"
    tis = _task_instances(stack, "sub-live-3")
    photos = tis["content.process_photos"]
    assert photos["state"] == "failed"
    assert photos["try_number"] == 5  # every try timed out: the first and 4 retries
    assert tis["content.build_calendar"]["state"] == "success"
    assert tis["publish.run_quality_checks"]["state"] == "upstream_failed"
    jobs = platform_db.execute(
        "SELECT kind, status, attempt FROM property_services.jobs"
    ).fetchall()
    assert ("photos", "running", 1) in jobs  # one job, waited on by every try
