"""
### Property builder

Turns one partner's finished self sign-up into a property on the platform: partner
account, property record, rooms and rates, payout and contract, then the listing.
One run per submission; the sign-up tool triggers it over the REST API with the
submission as `conf` and a run id derived from the submission id.

**Owner:** property-onboarding team.

**When a run fails**
- `intake.validate_submission` failed: the submission breaks the contract. The log
  lists every problem by field path. Nothing was written; the sign-up tool must send a
  corrected submission. Do not clear the task.
- `intake.detect_duplicate_property` failed: the partner already has a property at this
  address. Nothing was written for this submission; tell partner support.
- Another step failed after its retries: it hit a transient fault more often than it
  retries (database down?) or a permanent error (the log says which). Fix the cause and
  **clear the failed task**: every step is idempotent, the build resumes there.
"""

from __future__ import annotations

from airflow.sdk import Param, TaskGroup, dag, task

from include.orchestration.policy import default_task_args
from include.orchestration.runner import plan_step, run_step, validate_step
from include.orchestration.services import PropertyServiceJobOperator
from include.property_builder import steps
from include.property_builder.schema import TOP_LEVEL


@task
def validate_submission() -> str:
    """Check the submission against the whole contract; fail without retry if it breaks it."""
    return validate_step()


@task
def detect_duplicate_property() -> None:
    """Refuse a property the partner already registered at the same address."""
    run_step(steps.detect_duplicate_property)


@task
def register_onboarding() -> str:
    """Record the submission as being built."""
    return run_step(steps.register_onboarding)


@task
def upsert_partner_account() -> int:
    """Create or update the partner's account."""
    return run_step(steps.upsert_partner_account)


@task
def upsert_partner_contact(partner_id: int) -> int:
    """Create or update the partner's contact person."""
    return run_step(steps.upsert_partner_contact, partner_id=partner_id)


@task
def register_tax_details(partner_id: int) -> str:
    """Record the partner's tax registration."""
    return run_step(steps.register_tax_details, partner_id=partner_id)


@task
def invite_extranet_login(partner_id: int, contact_id: int) -> int:
    """Invite the contact person to the partner extranet."""
    return run_step(steps.invite_extranet_login, partner_id=partner_id, contact_id=contact_id)


@task
def create_property_record(partner_id: int) -> int:
    """Create the property record."""
    return run_step(steps.create_property_record, partner_id=partner_id)


@task
def store_address(property_id: int) -> int:
    """Store the normalised address."""
    return run_step(steps.store_address, property_id=property_id)


@task
def geocode_address(property_id: int) -> steps.GeoPoint:
    """Locate the property when the partner gave no coordinates."""
    return run_step(steps.geocode_address, property_id=property_id)


@task
def assign_region(property_id: int, point: steps.GeoPoint) -> str:
    """Assign the property to its destination region."""
    return run_step(steps.assign_region, property_id=property_id, point=point)


@task
def set_timezone_and_currency(property_id: int) -> str:
    """Store time zone and currency."""
    return run_step(steps.set_timezone_and_currency, property_id=property_id)


@task
def set_check_in_out(property_id: int) -> int:
    """Store check-in and check-out times."""
    return run_step(steps.set_check_in_out, property_id=property_id)


@task
def set_policies(property_id: int) -> str:
    """Store the house rules."""
    return run_step(steps.set_policies, property_id=property_id)


@task
def attach_amenities(property_id: int) -> int:
    """Attach the property's amenities."""
    return run_step(steps.attach_amenities, property_id=property_id)


@task
def verify_licence(property_id: int) -> str:
    """Check the local short-stay licence."""
    return run_step(steps.verify_licence, property_id=property_id)


@task
def list_room_types() -> list[int]:
    """List the submission's room types, one mapped branch each."""
    return plan_step(steps.list_room_types)


@task
def create_room_type(property_id: int, room_index: int) -> steps.RoomRef:
    """Create one room type."""
    return run_step(steps.create_room_type, property_id=property_id, room_index=room_index)


@task
def set_beds(room: steps.RoomRef) -> int:
    """Store a room type's beds."""
    return run_step(steps.set_beds, room=room)


@task
def set_occupancy(room: steps.RoomRef) -> int:
    """Store a room type's occupancy."""
    return run_step(steps.set_occupancy, room=room)


@task
def create_rate_plans(room: steps.RoomRef) -> steps.RatePlanRefs:
    """Create a room type's rate plans."""
    return run_step(steps.create_rate_plans, room=room)


@task
def set_cancellation_rules(plans: steps.RatePlanRefs) -> int:
    """Store the cancellation rule of each rate plan."""
    return run_step(steps.set_cancellation_rules, plans=plans)


@task
def set_taxes_and_fees(property_id: int) -> int:
    """Store the taxes and fees the property's location levies."""
    return run_step(steps.set_taxes_and_fees, property_id=property_id)


@task
def create_payout_account(partner_id: int) -> int:
    """Create the partner's payout account."""
    return run_step(steps.create_payout_account, partner_id=partner_id)


@task
def sign_commission_contract(property_id: int, payout_account_id: int) -> str:
    """Sign the commission contract."""
    return run_step(
        steps.sign_commission_contract,
        property_id=property_id,
        payout_account_id=payout_account_id,
    )


@task
def run_quality_checks(property_id: int) -> int:
    """Score the built property; blocking findings send it to review."""
    return run_step(steps.run_quality_checks, property_id=property_id)


@task
def index_for_search(property_id: int) -> int:
    """Write the property's search document."""
    return run_step(steps.index_for_search, property_id=property_id)


@task
def publish_listing(property_id: int) -> str:
    """Publish the listing, live or to review."""
    return run_step(steps.publish_listing, property_id=property_id)


@task
def notify_partner(property_id: int, contact_id: int) -> str:
    """Queue the partner's notification."""
    return run_step(steps.notify_partner, property_id=property_id, contact_id=contact_id)


@task
def complete_onboarding(property_id: int) -> str:
    """Mark the onboarding complete."""
    return run_step(steps.complete_onboarding, property_id=property_id)


@dag(
    dag_id="property_builder",
    schedule=None,
    catchup=False,
    doc_md=__doc__,
    tags=["property-onboarding"],
    default_args=default_task_args(),
    params={name: Param(**schema) for name, schema in TOP_LEVEL.items()},
)
def property_builder() -> None:
    """Build one property from the submission in the run's conf."""
    with TaskGroup("intake"):
        checked = validate_submission()
        unique = detect_duplicate_property()
        onboarding = register_onboarding()
        checked >> unique >> onboarding

    with TaskGroup("partner"):
        partner_id = upsert_partner_account()
        contact_id = upsert_partner_contact(partner_id)
        register_tax_details(partner_id)
        invitation = invite_extranet_login(partner_id, contact_id)
        onboarding >> partner_id

    with TaskGroup("property"):
        property_id = create_property_record(partner_id)
        address = store_address(property_id)
        region = assign_region(property_id, geocode_address(address))
        settings = [
            set_timezone_and_currency(property_id),
            set_check_in_out(property_id),
            set_policies(property_id),
            attach_amenities(property_id),
            verify_licence(property_id),
        ]

    with TaskGroup("rooms"):
        room_indexes = list_room_types()
        checked >> room_indexes
        room_types = create_room_type.partial(property_id=property_id).expand(
            room_index=room_indexes
        )
        beds = set_beds.expand(room=room_types)
        occupancy = set_occupancy.expand(room=room_types)
        rules = set_cancellation_rules.expand(plans=create_rate_plans.expand(room=room_types))
        taxes = set_taxes_and_fees(property_id)

    with TaskGroup("payout"):
        contract = sign_commission_contract(property_id, create_payout_account(partner_id))

    # The slow steps run as jobs of the property services, in parallel; each task waits
    # for its job in the triggerer and holds no worker slot meanwhile.
    with TaskGroup("content"):
        photos = PropertyServiceJobOperator(
            task_id="process_photos", kind="photos", property_id=property_id, rooms=room_types
        )
        descriptions = PropertyServiceJobOperator(
            task_id="translate_descriptions", kind="descriptions", property_id=property_id
        )
        calendar = PropertyServiceJobOperator(
            task_id="build_calendar", kind="calendar", property_id=property_id, rooms=room_types
        )
        content = [photos, descriptions, calendar]

    with TaskGroup("publish"):
        quality = run_quality_checks(property_id)
        [region, *settings, beds, occupancy, rules, taxes, contract, *content] >> quality
        listing = publish_listing(property_id)
        quality >> index_for_search(property_id) >> listing
        notified = notify_partner(property_id, contact_id)
        listing >> notified
        [notified, invitation] >> complete_onboarding(property_id)


property_builder()
