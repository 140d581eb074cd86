"""The three slow steps against the real property-services API, run by `dag.test()`.

`dag.test()` runs deferred waits inline; the real triggerer and overlapping branches are
covered by `test_live_stack.py`.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.test_property_builder_run import assert_built, task_states
from tests.helpers import row_counts


@pytest.fixture(scope="module")
def dag(airflow_db: None, property_services: Any) -> Any:
    """The parsed `property_builder` DAG."""
    from airflow.dag_processing.dagbag import DagBag

    from tests.conftest import REPO

    bag = DagBag(dag_folder=str(REPO / "dags" / "property_builder.py"))
    assert not bag.import_errors
    return bag.dags["property_builder"]


def _jobs(platform_db: Any) -> dict[str, tuple[str, int]]:
    rows = platform_db.execute(
        "SELECT kind, status, attempt FROM property_services.jobs ORDER BY kind"
    ).fetchall()
    return {kind: (status, attempt) for kind, status, attempt in rows}


def test_job_failing_transiently_twice_is_retried_until_it_succeeds(
    dag: Any, platform_db: Any, services: Any, example: dict[str, Any], caplog: Any
) -> None:
    services.set_faults(transient_job_failures={"descriptions": 2})

    run = dag.test(run_conf=example)

    assert run.state == "success"
    states = task_states(run)
    assert states["content.translate_descriptions"] == ("success", 3)
    assert states["content.process_photos"] == ("success", 1)
    assert _jobs(platform_db)["descriptions"] == ("succeeded", 3)
    assert_built(platform_db, example)
    assert "injected_transient" in caplog.text


def test_permanent_job_failure_fails_only_its_branch(
    dag: Any, platform_db: Any, services: Any, example: dict[str, Any], caplog: Any
) -> None:
    services.set_faults(permanent_job_failures={"photos": 1})

    run = dag.test(run_conf=example)

    assert run.state == "failed"
    states = task_states(run)
    assert states["content.process_photos"] == ("failed", 1)  # not retried
    assert states["content.translate_descriptions"][0] == "success"
    assert states["content.build_calendar"][0] == "success"
    downstream = [task for task in states if task.startswith("publish.")]
    assert {states[task][0] for task in downstream} == {"upstream_failed"}
    assert row_counts(platform_db)["platform.listings"] == 0
    assert "photos job" in caplog.text and "injected_permanent" in caplog.text


def test_rerun_after_a_permanent_failure_restarts_the_job_without_duplicates(
    dag: Any, platform_db: Any, services: Any, example: dict[str, Any]
) -> None:
    services.set_faults(permanent_job_failures={"calendar": 1})
    assert dag.test(run_conf=example).state == "failed"
    services.set_faults()

    run = dag.test(run_conf=example)

    assert run.state == "success"
    assert _jobs(platform_db)["calendar"] == ("succeeded", 2)
    assert_built(platform_db, example)  # 365 calendar days per room type, no more


def test_rerun_after_success_reuses_every_job(
    dag: Any, platform_db: Any, services: Any, example: dict[str, Any]
) -> None:
    assert dag.test(run_conf=example).state == "success"

    assert dag.test(run_conf=example).state == "success"

    assert _jobs(platform_db) == {
        "calendar": ("succeeded", 1),
        "descriptions": ("succeeded", 1),
        "photos": ("succeeded", 1),
    }
    assert_built(platform_db, example)
