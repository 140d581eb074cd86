"""Every step of a build in one process, in dependency order: the monolith's way.

The DAG runs the same step functions as separate tasks. This runner exists for what
needs a build without Airflow: the idempotency tests (which replay each recorded call)
and the benchmark's legacy-monolith baseline.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from include.property_builder import steps
from include.property_builder.contract import Submission

if TYPE_CHECKING:
    import psycopg

Transaction = Callable[[], AbstractContextManager["psycopg.Connection[Any]"]]


@dataclass
class StepCall:
    """One step as it was called: the function and the ids it was given."""

    step: Callable[..., Any]
    kwargs: dict[str, Any]
    result: Any = None


@dataclass
class BuildRecord:
    """The calls one build made, in order, and the property it built."""

    calls: list[StepCall] = field(default_factory=list)
    property_id: int | None = None


def build_property(
    transaction: Transaction,
    sub: Submission,
    before_publish: Callable[[int, list[Any]], None] | None = None,
    before_step: Callable[[str], None] | None = None,
) -> BuildRecord:
    """Run every step for `sub`, each in its own transaction from `transaction()`.

    `before_publish(property_id, rooms)` runs between the rooms and the publishing steps,
    where the legacy monolith ran its slow content steps; `before_step(name)` runs before
    each step (the benchmark injects faults there).
    """
    record = BuildRecord()

    def call(step: Callable[..., Any], **kwargs: Any) -> Any:
        if before_step is not None:
            before_step(step.__name__)
        with transaction() as conn:
            result = step(conn, sub, **kwargs)
        record.calls.append(StepCall(step, kwargs, result))
        return result

    call(steps.detect_duplicate_property)
    call(steps.register_onboarding)
    partner_id = call(steps.upsert_partner_account)
    contact_id = call(steps.upsert_partner_contact, partner_id=partner_id)
    call(steps.register_tax_details, partner_id=partner_id)
    call(steps.invite_extranet_login, partner_id=partner_id, contact_id=contact_id)
    property_id = call(steps.create_property_record, partner_id=partner_id)
    record.property_id = property_id
    call(steps.store_address, property_id=property_id)
    point = call(steps.geocode_address, property_id=property_id)
    call(steps.assign_region, property_id=property_id, point=point)
    for step in (
        steps.set_timezone_and_currency,
        steps.set_check_in_out,
        steps.set_policies,
        steps.attach_amenities,
        steps.verify_licence,
        steps.set_taxes_and_fees,
    ):
        call(step, property_id=property_id)
    rooms = []
    for room_index in steps.list_room_types(sub):
        room = call(steps.create_room_type, property_id=property_id, room_index=room_index)
        rooms.append(room)
        call(steps.set_beds, room=room)
        call(steps.set_occupancy, room=room)
        plans = call(steps.create_rate_plans, room=room)
        call(steps.set_cancellation_rules, plans=plans)
    account_id = call(steps.create_payout_account, partner_id=partner_id)
    call(steps.sign_commission_contract, property_id=property_id, payout_account_id=account_id)
    if before_publish is not None:
        before_publish(property_id, rooms)
    for step in (steps.run_quality_checks, steps.index_for_search, steps.publish_listing):
        call(step, property_id=property_id)
    call(steps.notify_partner, property_id=property_id, contact_id=contact_id)
    call(steps.complete_onboarding, property_id=property_id)
    return record


def replay(transaction: Transaction, sub: Submission, calls: list[StepCall]) -> Iterator[Any]:
    """Run recorded calls again, each in its own transaction; yield their results."""
    for recorded in calls:
        with transaction() as conn:
            yield recorded.step(conn, sub, **recorded.kwargs)
