"""DAG integrity: the file parses cleanly and fast, and the graph is the one we mean."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from typing import Any

import pytest

from include.property_builder.schema import TOP_LEVEL
from tests.conftest import REPO
from tests.include.test_steps import STEP_NAMES

DAG_FILE = REPO / "dags" / "property_builder.py"
CONTENT = {"process_photos", "translate_descriptions", "build_calendar"}


@pytest.fixture(scope="module")
def dag() -> Any:
    """The `property_builder` DAG as the DAG processor sees it (no database needed)."""
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(REPO / "dags"))
    assert bag.import_errors == {}
    return bag.dags["property_builder"]


def test_dag_is_one_run_per_submission(dag: Any) -> None:
    assert dag.dag_id == "property_builder" == DAG_FILE.stem
    assert dag.schedule is None
    assert dag.tags == {"property-onboarding"}
    assert dag.owner == "property-onboarding"
    assert "When a run fails" in dag.doc_md


def test_params_carry_the_submission_schema(dag: Any) -> None:
    assert set(dag.params) == set(TOP_LEVEL)
    for name, schema in TOP_LEVEL.items():
        param = dag.params.get_param(name)
        assert param.schema == {k: v for k, v in schema.items() if k != "description"}
        assert param.description == schema.get("description")
        assert not param.has_value  # no defaults: a submission missing a key is refused


def test_every_step_is_a_task(dag: Any) -> None:
    names = {task_id.split(".")[-1] for task_id in dag.task_ids}

    assert set(STEP_NAMES) | {"validate_submission", "list_room_types", *CONTENT} == names
    assert len(dag.task_ids) >= 30


def test_every_task_retries_transient_faults_with_backoff(dag: Any) -> None:
    from airflow.sdk import RetryAction

    from include.property_builder.errors import (
        InvalidSubmission,
        PermanentError,
        TransientError,
    )

    for task in dag.tasks:
        assert task.retries >= 3, task.task_id
        assert task.retry_exponential_backoff >= 2, task.task_id
        assert task.max_retry_delay is not None, task.task_id
        policy = task.retry_policy
        assert policy.evaluate(TransientError("reset"), 1, 5).action == RetryAction.RETRY
        assert policy.evaluate(ConnectionResetError(), 1, 5).action == RetryAction.RETRY
        assert policy.evaluate(InvalidSubmission([]), 1, 5).action == RetryAction.FAIL
        assert policy.evaluate(PermanentError("rule"), 1, 5).action == RetryAction.FAIL


def _upstream(dag: Any, task_id: str) -> set[str]:
    return set(dag.get_task(task_id).upstream_task_ids)


def test_steps_wait_for_the_data_they_need(dag: Any) -> None:
    assert _upstream(dag, "intake.detect_duplicate_property") == {"intake.validate_submission"}
    assert _upstream(dag, "partner.upsert_partner_account") == {"intake.register_onboarding"}
    assert _upstream(dag, "property.create_property_record") == {"partner.upsert_partner_account"}
    assert _upstream(dag, "property.assign_region") == {
        "property.create_property_record",
        "property.geocode_address",
    }
    assert _upstream(dag, "property.geocode_address") == {"property.store_address"}
    assert _upstream(dag, "rooms.create_room_type") == {
        "property.create_property_record",
        "rooms.list_room_types",
    }
    assert _upstream(dag, "rooms.set_cancellation_rules") == {"rooms.create_rate_plans"}
    assert _upstream(dag, "payout.sign_commission_contract") == {
        "property.create_property_record",
        "payout.create_payout_account",
    }
    assert _upstream(dag, "publish.run_quality_checks") >= {
        "property.assign_region",
        "property.verify_licence",
        "rooms.set_beds",
        "rooms.set_occupancy",
        "rooms.set_cancellation_rules",
        "rooms.set_taxes_and_fees",
        "payout.sign_commission_contract",
        *(f"content.{name}" for name in CONTENT),
    }
    assert _upstream(dag, "publish.complete_onboarding") == {
        "property.create_property_record",
        "publish.notify_partner",
        "partner.invite_extranet_login",
    }


def test_independent_steps_run_side_by_side(dag: Any) -> None:
    after_property = {
        task.task_id
        for task in dag.tasks
        if task.upstream_task_ids == {"property.create_property_record"}
    }
    assert len(after_property) >= 6

    # The longest chain is far shorter than the number of steps: not one long line.
    depth: dict[str, int] = {}
    for task in dag.topological_sort():
        depth[task.task_id] = 1 + max((depth[up] for up in task.upstream_task_ids), default=0)
    assert max(depth.values()) <= len(dag.tasks) // 2


def test_slow_steps_are_parallel_jobs_of_the_property_services(dag: Any) -> None:
    from include.orchestration.services import PropertyServiceJobOperator

    jobs = {task.task_id: task for task in dag.tasks if task.task_id.startswith("content.")}

    assert set(jobs) == {f"content.{name}" for name in CONTENT}
    assert {task.kind for task in jobs.values()} == {"photos", "descriptions", "calendar"}
    for task in jobs.values():
        assert isinstance(task, PropertyServiceJobOperator)
        assert not task.upstream_task_ids & set(jobs)  # none waits for another
        assert task.upstream_task_ids <= {
            "property.create_property_record",
            "rooms.create_room_type",
        }


def test_room_steps_are_mapped_over_the_submission_rooms(dag: Any) -> None:
    from airflow.sdk.definitions.mappedoperator import MappedOperator

    mapped = {task.task_id for task in dag.tasks if isinstance(task, MappedOperator)}

    assert mapped == {
        "rooms.create_room_type",
        "rooms.set_beds",
        "rooms.set_occupancy",
        "rooms.create_rate_plans",
        "rooms.set_cancellation_rules",
    }


PARSE_PROBE = textwrap.dedent(
    """
    import json, socket, sys, time

    import airflow.sdk  # Airflow itself is loaded before the DAG processor parses files
    from airflow.dag_processing.dagbag import DagBag
    from airflow.sdk import BaseHook, Variable

    touched = []

    def refuse(what):
        def blocked(*args, **kwargs):
            touched.append(what)
            raise RuntimeError(f"{what} at parse time")
        return blocked

    socket.socket.connect = refuse("socket.connect")
    BaseHook.get_connection = classmethod(refuse("BaseHook.get_connection"))
    Variable.get = staticmethod(refuse("Variable.get"))
    before = set(sys.modules)
    started = time.perf_counter()
    bag = DagBag(dag_folder=sys.argv[1])
    seconds = time.perf_counter() - started
    drivers = sorted(m for m in set(sys.modules) - before if m.split(".")[0] in
                     {"psycopg", "psycopg2", "requests", "httpx", "sqlalchemy"})
    print(json.dumps({"errors": {k: str(v) for k, v in bag.import_errors.items()},
                      "dags": sorted(bag.dags), "touched": touched, "drivers": drivers,
                      "seconds": seconds}))
    """
)


def test_parsing_touches_no_database_connection_or_variable() -> None:
    env = {
        **os.environ,
        # An unreachable metadata database and connection: parsing must not need them.
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": "postgresql+psycopg://nobody@127.0.0.1:9/none",
        "AIRFLOW_CONN_PROPERTY_DB": "postgresql://nobody@127.0.0.1:9/none",
        "PYTHONPATH": str(REPO),
    }
    result = subprocess.run(
        [sys.executable, "-c", PARSE_PROBE, str(DAG_FILE)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=True,
    )
    report = json.loads(result.stdout.strip().splitlines()[-1])

    assert report["errors"] == {}
    assert report["dags"] == ["property_builder"]
    assert report["touched"] == []
    assert report["drivers"] == []
