"""The build on Airflow's distributed executor: CeleryExecutor, a Redis broker, two workers.

What grows past one machine: the scheduler puts tasks on a Redis queue and any worker
takes them. Here both workers and the broker run on loopback; the build must succeed and
its tasks must be shared between the two workers.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import pytest

from include.devstack.airflow_stack import AirflowStack
from include.devstack.postgres import free_port
from include.devstack.redis import LocalRedis
from include.signup_client import SignupClient
from tests.conftest import _state, new_stack
from tests.e2e.test_property_builder_run import assert_built
from tests.helpers import variant

PASSWORDS = {"admin": "celery-admin", "signup": "celery-signup"}
FINISHED = re.compile(r"Workload finished .* final_state=(\w+)")


@pytest.fixture(scope="module")
def celery_stack(property_services: Any) -> Iterator[AirflowStack]:
    """A private Redis and Airflow with the CeleryExecutor and two workers."""
    redis = LocalRedis(port=free_port(), log_path=_state["workdir"] / "celery" / "redis.log")
    redis.start()
    stack: AirflowStack = new_stack(
        "celery", passwords=PASSWORDS, celery_broker=redis.url, celery_workers=2
    )
    try:
        stack.start()
        yield stack
    finally:
        stack.stop()
        redis.stop()


def test_a_build_runs_on_two_celery_workers(
    celery_stack: AirflowStack, platform_db: Any, services: Any, example: dict[str, Any]
) -> None:
    submission = variant(example, lambda s: s.update(submission_id="sub-celery-1"))

    with SignupClient(celery_stack.url, "signup", PASSWORDS["signup"]) as client:
        client.submit(submission)
        finished = client.wait("sub-celery-1", timeout=300, poll=0.5)

    assert finished.state == "success", celery_stack.log_tail("scheduler")
    assert_built(platform_db, submission)
    # Every task ran on one of the two Celery workers, and both took a share. (A worker
    # logs a task's end just after the task reports it: give the last line a moment.)
    deadline = time.monotonic() + 15
    while True:
        ran = {
            worker: FINISHED.findall(celery_stack.log_tail(worker, chars=10_000_000))
            for worker in ("worker-1", "worker-2")
        }
        if sum(map(len, ran.values())) >= len(finished.steps) or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert all(ran.values()), {worker: len(states) for worker, states in ran.items()}
    assert sum(map(len, ran.values())) >= len(finished.steps)
