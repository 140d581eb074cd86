"""End to end: the real DAG, run by `dag.test()`, against the private PostgreSQL.

`dag.test()` runs every task in this process through Airflow's own task runner and
scheduling loop (retries included), so these tests exercise the DAG as written: params,
mapping, XCom, the retry policy and the `property_db` connection.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.helpers import row_counts, snapshot, variant


@pytest.fixture(scope="module")
def dag(airflow_db: None, property_services: Any) -> Any:
    """The parsed `property_builder` DAG, on a fresh Airflow metadata database, with the
    property services running for its three slow steps."""
    from airflow.dag_processing.dagbag import DagBag

    from tests.conftest import REPO

    bag = DagBag(dag_folder=str(REPO / "dags" / "property_builder.py"))
    assert not bag.import_errors
    return bag.dags["property_builder"]


def task_states(run: Any) -> dict[str, tuple[str, int]]:
    """Return `{task_id[map_index]: (state, try_number)}` for one run."""
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        tis = session.scalars(select(TaskInstance).where(TaskInstance.run_id == run.run_id))
        return {
            ti.task_id + (f"[{ti.map_index}]" if ti.map_index >= 0 else ""): (
                str(ti.state),
                ti.try_number,
            )
            for ti in tis
        }


def assert_built(platform_db: Any, submission: dict[str, Any], status: str = "live") -> None:
    """Check that one complete property exists for `submission`."""
    counts = row_counts(platform_db)
    rooms = len(submission["rooms"])
    assert counts["platform.properties"] == 1
    assert counts["platform.room_types"] == rooms
    assert counts["platform.room_occupancy"] == rooms
    assert counts["platform.rate_plans"] == 2 * rooms
    assert counts["platform.cancellation_rules"] == 2 * rooms
    assert counts["platform.room_beds"] == sum(len(room["beds"]) for room in submission["rooms"])
    assert counts["platform.commission_contracts"] == 1
    assert counts["platform.partner_notifications"] == 1
    assert counts["platform.availability_calendar"] == 365 * rooms
    assert counts["platform.property_descriptions"] == len(submission["languages"])
    assert counts["platform.property_photos"] == len(submission["photos"])
    row = platform_db.execute(
        "SELECT o.status, l.status, p.name FROM platform.onboardings o"
        " JOIN platform.properties p ON p.id = o.property_id"
        " JOIN platform.listings l ON l.property_id = p.id WHERE o.submission_id = %s",
        (submission["submission_id"],),
    ).fetchone()
    assert row == ("complete", status, submission["property"]["name"])


def test_example_builds_a_complete_property(
    dag: Any, platform_db: Any, example: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    run = dag.test(run_conf=example)

    assert run.state == "success"
    assert_built(platform_db, example)
    states = task_states(run)
    assert len(states) == 33 + 5 * (len(example["rooms"]) - 1)
    assert {state for state, _ in states.values()} == {"success"}
    assert {tries for _, tries in states.values()} == {1}

    outcomes = [r.getMessage() for r in caplog.records if "outcome=succeeded" in r.getMessage()]
    assert len(outcomes) == len(states)  # one line per step outcome
    assert (
        "step=create_property_record outcome=succeeded submission_id=sub-2026-12-03-000417"
        " property_id=1 "
    ) in "\n".join(outcomes)


def _one_room(doc: dict[str, Any]) -> None:
    doc["rooms"] = doc["rooms"][:1]
    doc["photos"] = [photo for photo in doc["photos"] if photo["room"] != "Family Suite"]


def _many_rooms(doc: dict[str, Any]) -> None:
    template = doc["rooms"][0]
    doc["rooms"] = [{**template, "name": f"Room type {n}", "count": n} for n in range(1, 9)]
    doc["photos"] = doc["photos"][:1]


def _no_photos(doc: dict[str, Any]) -> None:
    doc["photos"] = []


def _no_coordinates(doc: dict[str, Any]) -> None:
    doc["property"]["address"].update(latitude=None, longitude=None)


def _unicode(doc: dict[str, Any]) -> None:
    doc["partner"].update(legal_name="株式会社 桜", country="JP", vat_id=None, language="ja")
    doc["property"].update(name="旅館 さくら 🌸", currency="JPY", timezone="Asia/Tokyo")
    doc["property"]["address"].update(
        line1="東山区 1-2-3", city="Kyoto", postal_code="605-0000", country="JP"
    )
    doc["property"]["address"].update(latitude=None, longitude=None)
    doc["rooms"][0].update(name="和室 (Japanese room)", base_rate="18000")
    doc["rooms"][1].update(base_rate="32000")
    doc["photos"][1]["room"] = "和室 (Japanese room)"
    doc["property"]["description"] = {"language": "ja", "text": "京都の静かな旅館。"}
    doc["languages"] = ["ja", "en"]


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(_one_room, id="one-room"),
        pytest.param(_many_rooms, id="eight-rooms"),
        pytest.param(_no_photos, id="no-photos"),
        pytest.param(_no_coordinates, id="no-coordinates"),
        pytest.param(_unicode, id="unicode-names-jpy"),
    ],
)
def test_variations_build_a_complete_property(
    dag: Any, platform_db: Any, example: dict[str, Any], change: Any
) -> None:
    submission = variant(example, change)

    run = dag.test(run_conf=submission)

    assert run.state == "success"
    assert_built(platform_db, submission)


def test_unknown_city_without_coordinates_goes_to_review(
    dag: Any, platform_db: Any, example: dict[str, Any]
) -> None:
    example["property"]["address"].update(city="Zaandam", latitude=None, longitude=None)

    run = dag.test(run_conf=example)

    assert run.state == "success"
    assert_built(platform_db, example, status="in_review")
    findings = platform_db.execute("SELECT findings FROM platform.quality_reports").fetchone()[0]
    assert {"code": "location_unresolved", "severity": "blocking"} in findings


@pytest.mark.parametrize(
    ("path", "value", "problem"),
    [
        pytest.param(("payout", "iban"), "NL92ABNA0417164300", "payout.iban", id="iban-checksum"),
        pytest.param(("rooms", 1, "name"), "Canal View Double", "rooms[1].name", id="room-twice"),
        pytest.param(("photos", 0, "room"), "Attic", "photos[0].room", id="unknown-room"),
    ],
)
def test_bad_submission_fails_at_validation_and_writes_nothing(
    dag: Any,
    platform_db: Any,
    example: dict[str, Any],
    caplog: pytest.LogCaptureFixture,
    path: tuple[Any, ...],
    value: str,
    problem: str,
) -> None:
    target: Any = example
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value

    run = dag.test(run_conf=example)

    assert run.state == "failed"
    states = task_states(run)
    assert states["intake.validate_submission"] == ("failed", 1)  # no retry
    assert {state for task, (state, _) in states.items() if "validate" not in task} == {
        "upstream_failed"
    }
    assert set(row_counts(platform_db).values()) == {0}
    assert f"{problem}: " in caplog.text


def test_schema_breaking_submission_is_refused_before_a_run_exists(
    dag: Any, platform_db: Any, example: dict[str, Any]
) -> None:
    from airflow.exceptions import ParamValidationError
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from sqlalchemy import func, select

    def runs() -> int:
        with create_session() as session:
            return int(session.scalar(select(func.count()).select_from(DagRun)) or 0)

    before = runs()
    example["rooms"][0]["max_occupancy"] = 99

    with pytest.raises(ParamValidationError, match="maximum"):
        dag.test(run_conf=example)

    assert runs() == before
    assert set(row_counts(platform_db).values()) == {0}


def test_running_a_submission_twice_builds_one_property(
    dag: Any, platform_db: Any, example: dict[str, Any]
) -> None:
    first = dag.test(run_conf=example)
    once = snapshot(platform_db)

    second = dag.test(run_conf=example)

    assert (first.state, second.state) == ("success", "success")
    assert snapshot(platform_db) == once


def test_duplicate_property_fails_at_once_and_writes_nothing(
    dag: Any, platform_db: Any, example: dict[str, Any]
) -> None:
    assert dag.test(run_conf=example).state == "success"
    before = snapshot(platform_db)
    example["submission_id"] = "sub-same-place-again"

    run = dag.test(run_conf=example)

    assert run.state == "failed"
    assert task_states(run)["intake.detect_duplicate_property"] == ("failed", 1)
    assert snapshot(platform_db) == before


@pytest.fixture
def drop_connection_once(platform_db: Any) -> Iterator[None]:
    """Make the database kill the connection of the first rate-plan insert, once.

    A sequence counts inserts because it is not rolled back with the dying transaction;
    `pg_terminate_backend` on its own backend is exactly what an operator's kill, a
    failover or a restarted server does to a connection mid-transaction.
    """
    platform_db.execute(
        """
        CREATE SEQUENCE public.fault_counter;
        CREATE FUNCTION public.drop_connection_once() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF nextval('public.fault_counter') = 1 THEN
                PERFORM pg_terminate_backend(pg_backend_pid());
            END IF;
            RETURN NEW;
        END $$;
        CREATE TRIGGER drop_connection_once BEFORE INSERT ON platform.rate_plans
            FOR EACH ROW EXECUTE FUNCTION public.drop_connection_once();
        """
    )
    yield
    platform_db.execute(
        """
        DROP TRIGGER drop_connection_once ON platform.rate_plans;
        DROP FUNCTION public.drop_connection_once();
        DROP SEQUENCE public.fault_counter;
        """
    )


def test_transient_database_fault_is_retried_without_duplicates(
    dag: Any,
    platform_db: Any,
    example: dict[str, Any],
    drop_connection_once: None,
    caplog: pytest.LogCaptureFixture,
) -> None:
    run = dag.test(run_conf=example)

    assert run.state == "success"
    states = task_states(run)
    retried = [(task, tries) for task, (_, tries) in states.items() if tries > 1]
    assert len(retried) == 1
    assert retried[0][0].startswith("rooms.create_rate_plans[")
    assert retried[0][1] == 2
    assert_built(platform_db, example)
    assert "step=create_rate_plans outcome=transient_fault" in caplog.text
    assert "TransientError: platform database unavailable" in caplog.text
