"""The benchmark's legacy monolith builds correctly: what it is timed against is real work.

Timing belongs to `python -m bench.orchestration`; this checks that the baseline builds
the same property the DAG does, and that starting again from step one after injected
faults writes nothing twice.
"""

from __future__ import annotations

import os
from typing import Any

from bench.monolith import Monolith
from include.property_builder.contract import load_submission
from tests.e2e.test_property_builder_run import assert_built


def _monolith(platform_url: str, property_services: Any, rate: float) -> Monolith:
    return Monolith(
        platform_url,
        property_services.url,
        property_services.token,
        fault_rate=rate,
        restart_pause=0.0,
        poll_seconds=0.05,
    )


def test_the_monolith_builds_the_example_in_one_attempt(
    platform_url: str, platform_db: Any, services: Any, example: dict[str, Any]
) -> None:
    result = _monolith(platform_url, services, 0.0).build(load_submission(example), seed=1)

    assert (result.succeeded, result.attempts) == (True, 1)
    # 23 steps once per build, 5 per room type (build.py), and the 3 slow steps.
    assert result.steps_executed == 23 + 5 * len(example["rooms"]) + 3
    assert_built(platform_db, example)


def test_restarting_from_step_one_after_faults_still_builds_one_property(
    platform_url: str, platform_db: Any, services: Any, example: dict[str, Any]
) -> None:
    result = _monolith(platform_url, services, 0.1).build(load_submission(example), seed=3)

    assert result.succeeded
    assert result.attempts > 1  # faults made it start over
    assert result.steps_executed > 40
    assert_built(platform_db, example)
    assert os.environ.get("PROPERTY_BUILDER_FAULT_RATE") is None  # the rate came from the call
