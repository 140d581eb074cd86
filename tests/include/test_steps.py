"""The build steps against a real PostgreSQL: each one, re-run, changes nothing."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
import pytest

from include.property_builder import steps
from include.property_builder.build import build_property, replay
from include.property_builder.contract import parse_submission
from include.property_builder.errors import DuplicateProperty, SubmissionConflict
from tests.helpers import snapshot

# Every step the monolith runner calls; the DAG integrity test checks the DAG has each.
STEP_NAMES = [
    "detect_duplicate_property",
    "register_onboarding",
    "upsert_partner_account",
    "upsert_partner_contact",
    "register_tax_details",
    "invite_extranet_login",
    "create_property_record",
    "store_address",
    "geocode_address",
    "assign_region",
    "set_timezone_and_currency",
    "set_check_in_out",
    "set_policies",
    "attach_amenities",
    "verify_licence",
    "set_taxes_and_fees",
    "create_room_type",
    "set_beds",
    "set_occupancy",
    "create_rate_plans",
    "set_cancellation_rules",
    "create_payout_account",
    "sign_commission_contract",
    "run_quality_checks",
    "index_for_search",
    "publish_listing",
    "notify_partner",
    "complete_onboarding",
]


@pytest.fixture
def transaction(platform_url: str) -> Any:
    """Open one committed transaction per step, as the DAG's tasks do."""

    @contextmanager
    def open_transaction() -> Iterator[psycopg.Connection[Any]]:
        with psycopg.connect(platform_url) as conn:
            yield conn

    return open_transaction


def test_build_calls_every_step(
    platform_db: Any, transaction: Any, example: dict[str, Any]
) -> None:
    record = build_property(transaction, parse_submission(example))

    called = {call.step.__name__ for call in record.calls}
    assert called == set(STEP_NAMES)
    assert record.property_id is not None


@pytest.mark.parametrize("step_name", STEP_NAMES)
def test_rerunning_a_step_leaves_the_database_as_one_run_did(
    platform_db: Any, transaction: Any, example: dict[str, Any], step_name: str
) -> None:
    submission = parse_submission(example)
    record = build_property(transaction, submission)
    once = snapshot(platform_db)
    calls = [call for call in record.calls if call.step.__name__ == step_name]

    again = list(replay(transaction, submission, calls))

    assert calls, f"{step_name} was never called"
    assert again == [call.result for call in calls]
    assert snapshot(platform_db) == once


def test_rerunning_the_whole_build_leaves_the_database_as_one_run_did(
    platform_db: Any, transaction: Any, example: dict[str, Any]
) -> None:
    submission = parse_submission(example)
    first = build_property(transaction, submission)
    once = snapshot(platform_db)

    second = build_property(transaction, submission)

    assert second.property_id == first.property_id
    assert snapshot(platform_db) == once


def test_example_builds_every_piece(
    platform_db: Any, transaction: Any, example: dict[str, Any]
) -> None:
    record = build_property(transaction, parse_submission(example))

    counts = {table: len(rows) for table, rows in snapshot(platform_db).items()}
    assert counts["platform.properties"] == 1
    assert counts["platform.room_types"] == 2
    assert counts["platform.room_beds"] == 3
    assert counts["platform.rate_plans"] == 4
    assert counts["platform.cancellation_rules"] == 4
    assert counts["platform.property_amenities"] == 3
    assert counts["platform.property_taxes"] == 2  # Dutch VAT and Amsterdam's tourist tax
    listing = platform_db.execute(
        "SELECT status, slug FROM platform.listings WHERE property_id = %s", (record.property_id,)
    ).fetchone()
    assert listing == ("live", f"hotel-grachtenhuis-amsterdam-{record.property_id}")
    prices = platform_db.execute(
        "SELECT code, price::text FROM platform.rate_plans rp JOIN platform.room_types r"
        " ON r.id = rp.room_type_id WHERE r.name = 'Canal View Double' ORDER BY code"
    ).fetchall()
    assert prices == [("non_refundable", "161.10"), ("standard", "179.00")]


def test_same_partner_same_address_is_a_duplicate(
    platform_db: Any, transaction: Any, example: dict[str, Any]
) -> None:
    build_property(transaction, parse_submission(example))
    example["submission_id"] = "sub-again"
    before = snapshot(platform_db)

    with pytest.raises(DuplicateProperty, match=r"property\.address: this partner already"):
        build_property(transaction, parse_submission(example))

    assert snapshot(platform_db) == before


def test_submission_id_reused_for_other_content_is_refused(
    platform_db: Any, transaction: Any, example: dict[str, Any]
) -> None:
    build_property(transaction, parse_submission(example))
    example["property"]["name"] = "Another Hotel"
    example["property"]["address"]["line1"] = "Herengracht 1"

    with pytest.raises(SubmissionConflict, match="already built from different content"):
        with transaction() as conn:
            steps.register_onboarding(conn, parse_submission(example))
