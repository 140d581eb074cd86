"""One function per build step: `(conn, submission, ...ids) -> small result`.

Every step runs inside one transaction that its caller opens and commits, writes only
with upserts on natural keys, and returns ids and counts, never documents or personal
data. Re-running a step, alone or as part of a whole re-run, leaves the database exactly
as one run would: each docstring says what makes that so.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
from dataclasses import asdict
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Any, TypedDict

from include.property_builder import codes, reference
from include.property_builder.contract import Submission
from include.property_builder.errors import (
    BuildStateError,
    DuplicateProperty,
    SubmissionConflict,
)

if TYPE_CHECKING:
    import psycopg

    Conn = psycopg.Connection[Any]

log = logging.getLogger(__name__)


class RoomRef(TypedDict):
    """A room type of the submission, by its index there and its id in the database."""

    room_index: int
    room_type_id: int


class RatePlanRefs(TypedDict):
    """The rate plans written for one room type."""

    room_index: int
    room_type_id: int
    rate_plan_ids: list[int]


class GeoPoint(TypedDict):
    """A resolved location; latitude and longitude are None when unresolved."""

    latitude: float | None
    longitude: float | None
    source: str


def _one(conn: Conn, sql: str, params: tuple[Any, ...] | dict[str, Any]) -> tuple[Any, ...]:
    row = conn.execute(sql, params).fetchone()
    if row is None:
        raise BuildStateError(f"expected a row, got none from: {' '.join(sql.split()[:6])} ...")
    return tuple(row)


def submission_fingerprint(submission: Submission) -> str:
    """Return a hash of the normalised submission, to spot an id reused for other content."""
    canonical = json.dumps(asdict(submission), sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def detect_duplicate_property(conn: Conn, sub: Submission) -> None:
    """Refuse a property the same partner already registered at the same address.

    Reads only, so a re-run is trivially safe. The submission's own property (from an
    earlier try of this run) is not a duplicate.
    """
    row = conn.execute(
        """
        SELECT p.id, p.submission_id
        FROM platform.properties p
        JOIN platform.partners pt ON pt.id = p.partner_id
        JOIN platform.property_addresses a ON a.property_id = p.id
        WHERE pt.partner_key = %s AND a.address_key = %s AND p.submission_id <> %s
        LIMIT 1
        """,
        (sub.partner.key, sub.property.address.key, sub.submission_id),
    ).fetchone()
    if row is not None:
        raise DuplicateProperty(
            f"property.address: this partner already registered property {row[0]} at this "
            f"address (submission {row[1]}); fix that property instead of signing up again"
        )


def register_onboarding(conn: Conn, sub: Submission) -> str:
    """Record the submission as being built, keyed by its id.

    Safe to re-run: the row is keyed by submission id and left as it is when the
    content matches; an id that comes back with other content is refused.
    """
    fingerprint = submission_fingerprint(sub)
    conn.execute(
        """
        INSERT INTO platform.onboardings (submission_id, payload_sha256, submitted_at, status)
        VALUES (%s, %s, %s, 'building')
        ON CONFLICT (submission_id) DO NOTHING
        """,
        (sub.submission_id, fingerprint, sub.submitted_at),
    )
    (stored,) = _one(
        conn,
        "SELECT payload_sha256 FROM platform.onboardings WHERE submission_id = %s",
        (sub.submission_id,),
    )
    if stored != fingerprint:
        raise SubmissionConflict(
            f"submission_id: {sub.submission_id} was already built from different content; "
            "send a new submission id for a new registration"
        )
    return sub.submission_id


def upsert_partner_account(conn: Conn, sub: Submission) -> int:
    """Create or update the partner, keyed by VAT id (else country and legal name)."""
    partner = sub.partner
    (partner_id,) = _one(
        conn,
        """
        INSERT INTO platform.partners (partner_key, legal_name, country, language)
        VALUES (%s, %s, %s, %s)
        ON CONFLICT (partner_key) DO UPDATE
            SET legal_name = EXCLUDED.legal_name, language = EXCLUDED.language
        RETURNING id
        """,
        (partner.key, partner.legal_name, partner.country, partner.language),
    )
    return int(partner_id)


def upsert_partner_contact(conn: Conn, sub: Submission, partner_id: int) -> int:
    """Create or update the contact person, keyed by partner and email."""
    contact = sub.partner.contact
    (contact_id,) = _one(
        conn,
        """
        INSERT INTO platform.partner_contacts (partner_id, email, name, phone)
        VALUES (%s, %s, %s, %s)
        ON CONFLICT (partner_id, email) DO UPDATE
            SET name = EXCLUDED.name, phone = EXCLUDED.phone
        RETURNING id
        """,
        (partner_id, contact.email, contact.name, contact.phone),
    )
    return int(contact_id)


def register_tax_details(conn: Conn, sub: Submission, partner_id: int) -> str:
    """Record the partner's tax registration, keyed by partner."""
    status = "format_valid" if sub.partner.vat_id else "not_registered"
    conn.execute(
        """
        INSERT INTO platform.partner_tax_details (partner_id, country, vat_id, vat_status)
        VALUES (%s, %s, %s, %s)
        ON CONFLICT (partner_id) DO UPDATE
            SET country = EXCLUDED.country, vat_id = EXCLUDED.vat_id,
                vat_status = EXCLUDED.vat_status
        """,
        (partner_id, sub.partner.country, sub.partner.vat_id, status),
    )
    return status


def invite_extranet_login(conn: Conn, sub: Submission, partner_id: int, contact_id: int) -> int:
    """Create the contact's invitation to the partner extranet, once per partner and contact.

    Safe to re-run: an existing invitation, and its token, are kept.
    """
    conn.execute(
        """
        INSERT INTO platform.extranet_invitations (partner_id, contact_id, token)
        VALUES (%s, %s, %s)
        ON CONFLICT (partner_id, contact_id) DO NOTHING
        """,
        (partner_id, contact_id, secrets.token_urlsafe(24)),
    )
    (invitation_id,) = _one(
        conn,
        "SELECT id FROM platform.extranet_invitations WHERE partner_id = %s AND contact_id = %s",
        (partner_id, contact_id),
    )
    return int(invitation_id)


def create_property_record(conn: Conn, sub: Submission, partner_id: int) -> int:
    """Create the property, keyed by submission id: one submission, one property."""
    prop = sub.property
    (property_id,) = _one(
        conn,
        """
        INSERT INTO platform.properties (submission_id, partner_id, name, type, star_rating)
        VALUES (%s, %s, %s, %s, %s)
        ON CONFLICT (submission_id) DO UPDATE
            SET partner_id = EXCLUDED.partner_id, name = EXCLUDED.name,
                type = EXCLUDED.type, star_rating = EXCLUDED.star_rating
        RETURNING id
        """,
        (sub.submission_id, partner_id, prop.name, prop.type, prop.star_rating),
    )
    return int(property_id)


def store_address(conn: Conn, sub: Submission, property_id: int) -> int:
    """Store the normalised address, keyed by property."""
    address = sub.property.address
    conn.execute(
        """
        INSERT INTO platform.property_addresses
            (property_id, line1, line2, city, postal_code, country, address_key)
        VALUES (%s, %s, %s, %s, %s, %s, %s)
        ON CONFLICT (property_id) DO UPDATE
            SET line1 = EXCLUDED.line1, line2 = EXCLUDED.line2, city = EXCLUDED.city,
                postal_code = EXCLUDED.postal_code, country = EXCLUDED.country,
                address_key = EXCLUDED.address_key
        """,
        (
            property_id,
            address.line1,
            address.line2,
            address.city,
            address.postal_code,
            address.country,
            address.key,
        ),
    )
    return property_id


def geocode_address(conn: Conn, sub: Submission, property_id: int) -> GeoPoint:
    """Store the property's coordinates: the partner's, else the gazetteer's, keyed by property.

    An address the gazetteer does not know stays unresolved and sends the listing to
    review rather than failing the build.
    """
    address = sub.property.address
    point: GeoPoint
    if address.latitude is not None and address.longitude is not None:
        point = {"latitude": address.latitude, "longitude": address.longitude, "source": "partner"}
    elif (found := reference.GAZETTEER.get((address.country, address.city.casefold()))) is not None:
        point = {"latitude": found[0], "longitude": found[1], "source": "gazetteer"}
    else:
        log.warning(
            "geocode unresolved submission_id=%s property_id=%s country=%s",
            sub.submission_id,
            property_id,
            address.country,
        )
        point = {"latitude": None, "longitude": None, "source": "unresolved"}
    conn.execute(
        """
        INSERT INTO platform.property_locations (property_id, latitude, longitude, source)
        VALUES (%s, %s, %s, %s)
        ON CONFLICT (property_id) DO UPDATE
            SET latitude = EXCLUDED.latitude, longitude = EXCLUDED.longitude,
                source = EXCLUDED.source
        """,
        (property_id, point["latitude"], point["longitude"], point["source"]),
    )
    return point


def assign_region(conn: Conn, sub: Submission, property_id: int, point: GeoPoint) -> str:
    """Assign the property to its destination region, keyed by property.

    A region is the city within its country; a located property also gets the one-degree
    grid cell it lies in, which search uses for "nearby".
    """
    address = sub.property.address
    city = "-".join(address.city.casefold().split())
    code = f"{address.country}-{city}"
    if point["latitude"] is not None and point["longitude"] is not None:
        code += f"@{int(point['latitude'] // 1)}:{int(point['longitude'] // 1)}"
    conn.execute(
        """
        INSERT INTO platform.property_regions (property_id, region_code, region_name)
        VALUES (%s, %s, %s)
        ON CONFLICT (property_id) DO UPDATE
            SET region_code = EXCLUDED.region_code, region_name = EXCLUDED.region_name
        """,
        (property_id, code, f"{address.city}, {address.country}"),
    )
    return code


def set_timezone_and_currency(conn: Conn, sub: Submission, property_id: int) -> str:
    """Store the property's time zone and currency, keyed by property."""
    currency = sub.property.currency
    conn.execute(
        """
        INSERT INTO platform.property_settings
            (property_id, timezone, currency, currency_exponent)
        VALUES (%s, %s, %s, %s)
        ON CONFLICT (property_id) DO UPDATE
            SET timezone = EXCLUDED.timezone, currency = EXCLUDED.currency,
                currency_exponent = EXCLUDED.currency_exponent
        """,
        (property_id, sub.property.timezone, currency, codes.currency_exponent(currency)),
    )
    return currency


def set_check_in_out(conn: Conn, sub: Submission, property_id: int) -> int:
    """Store check-in and check-out times, keyed by property."""
    prop = sub.property
    conn.execute(
        """
        INSERT INTO platform.property_check_times
            (property_id, check_in_from, check_in_until, check_out_until)
        VALUES (%s, %s, %s, %s)
        ON CONFLICT (property_id) DO UPDATE
            SET check_in_from = EXCLUDED.check_in_from,
                check_in_until = EXCLUDED.check_in_until,
                check_out_until = EXCLUDED.check_out_until
        """,
        (property_id, prop.check_in_from, prop.check_in_until, prop.check_out_until),
    )
    return property_id


def set_policies(conn: Conn, sub: Submission, property_id: int) -> str:
    """Store the house rules, keyed by property."""
    policies = sub.property.policies
    conn.execute(
        """
        INSERT INTO platform.property_policies
            (property_id, cancellation, pets_allowed, smoking_allowed, children_allowed)
        VALUES (%s, %s, %s, %s, %s)
        ON CONFLICT (property_id) DO UPDATE
            SET cancellation = EXCLUDED.cancellation, pets_allowed = EXCLUDED.pets_allowed,
                smoking_allowed = EXCLUDED.smoking_allowed,
                children_allowed = EXCLUDED.children_allowed
        """,
        (
            property_id,
            policies.cancellation,
            policies.pets_allowed,
            policies.smoking_allowed,
            policies.children_allowed,
        ),
    )
    return policies.cancellation


def attach_amenities(conn: Conn, sub: Submission, property_id: int) -> int:
    """Make the property's amenities exactly the submitted set, keyed by property and code."""
    amenities = list(sub.property.amenities)
    conn.execute(
        "DELETE FROM platform.property_amenities WHERE property_id = %s AND NOT code = ANY(%s)",
        (property_id, amenities),
    )
    for code in amenities:
        conn.execute(
            """
            INSERT INTO platform.property_amenities (property_id, code) VALUES (%s, %s)
            ON CONFLICT DO NOTHING
            """,
            (property_id, code),
        )
    return len(amenities)


def verify_licence(conn: Conn, sub: Submission, property_id: int) -> str:
    """Record whether the property's local short-stay licence is required and given."""
    prop = sub.property
    required = prop.type in reference.LICENCE_REQUIRED.get(prop.address.country, frozenset())
    if prop.licence_number:
        status = "provided"
    else:
        status = "missing" if required else "not_required"
    conn.execute(
        """
        INSERT INTO platform.property_licences (property_id, licence_number, status)
        VALUES (%s, %s, %s)
        ON CONFLICT (property_id) DO UPDATE
            SET licence_number = EXCLUDED.licence_number, status = EXCLUDED.status
        """,
        (property_id, prop.licence_number, status),
    )
    return status


def list_room_types(sub: Submission) -> list[int]:
    """Return the indexes of the submission's room types, one mapped build each."""
    return list(range(len(sub.rooms)))


def create_room_type(conn: Conn, sub: Submission, property_id: int, room_index: int) -> RoomRef:
    """Create or update one room type, keyed by property and room name."""
    room = sub.rooms[room_index]
    (room_type_id,) = _one(
        conn,
        """
        INSERT INTO platform.room_types
            (property_id, name, type, unit_count, size_m2, base_rate, amenities)
        VALUES (%s, %s, %s, %s, %s, %s, %s)
        ON CONFLICT (property_id, name) DO UPDATE
            SET type = EXCLUDED.type, unit_count = EXCLUDED.unit_count,
                size_m2 = EXCLUDED.size_m2, base_rate = EXCLUDED.base_rate,
                amenities = EXCLUDED.amenities
        RETURNING id
        """,
        (
            property_id,
            room.name,
            room.type,
            room.count,
            room.size_m2,
            room.base_rate,
            list(room.amenities),
        ),
    )
    return {"room_index": room_index, "room_type_id": int(room_type_id)}


def set_beds(conn: Conn, sub: Submission, room: RoomRef) -> int:
    """Make a room type's beds exactly the submitted list, keyed by room type and position."""
    beds = sub.rooms[room["room_index"]].beds
    conn.execute(
        "DELETE FROM platform.room_beds WHERE room_type_id = %s AND position >= %s",
        (room["room_type_id"], len(beds)),
    )
    for position, bed in enumerate(beds):
        conn.execute(
            """
            INSERT INTO platform.room_beds (room_type_id, position, bed_type)
            VALUES (%s, %s, %s)
            ON CONFLICT (room_type_id, position) DO UPDATE SET bed_type = EXCLUDED.bed_type
            """,
            (room["room_type_id"], position, bed),
        )
    return len(beds)


def set_occupancy(conn: Conn, sub: Submission, room: RoomRef) -> int:
    """Store a room type's occupancy, keyed by room type."""
    spec = sub.rooms[room["room_index"]]
    max_children = max(spec.max_occupancy - 1, 0) if sub.property.policies.children_allowed else 0
    conn.execute(
        """
        INSERT INTO platform.room_occupancy (room_type_id, max_occupancy, max_children)
        VALUES (%s, %s, %s)
        ON CONFLICT (room_type_id) DO UPDATE
            SET max_occupancy = EXCLUDED.max_occupancy, max_children = EXCLUDED.max_children
        """,
        (room["room_type_id"], spec.max_occupancy, max_children),
    )
    return spec.max_occupancy


def create_rate_plans(conn: Conn, sub: Submission, room: RoomRef) -> RatePlanRefs:
    """Create the standard and non-refundable rate plans, keyed by room type and code."""
    base = sub.rooms[room["room_index"]].base_rate
    step = Decimal(1).scaleb(-min(2, codes.currency_exponent(sub.property.currency)))
    discounted = (base * (1 - reference.NON_REFUNDABLE_DISCOUNT)).quantize(step, ROUND_HALF_UP)
    plan_ids: list[int] = []
    for code, price, refundable in (
        ("standard", base, True),
        ("non_refundable", discounted, False),
    ):
        (plan_id,) = _one(
            conn,
            """
            INSERT INTO platform.rate_plans (room_type_id, code, price, refundable)
            VALUES (%s, %s, %s, %s)
            ON CONFLICT (room_type_id, code) DO UPDATE
                SET price = EXCLUDED.price, refundable = EXCLUDED.refundable
            RETURNING id
            """,
            (room["room_type_id"], code, price, refundable),
        )
        plan_ids.append(int(plan_id))
    return {**room, "rate_plan_ids": plan_ids}


def set_cancellation_rules(conn: Conn, sub: Submission, plans: RatePlanRefs) -> int:
    """Store the cancellation rule of each of a room type's rate plans, keyed by rate plan."""
    free_days, penalty = reference.CANCELLATION_TERMS[sub.property.policies.cancellation]
    rows = conn.execute(
        "SELECT id, refundable FROM platform.rate_plans WHERE id = ANY(%s)",
        (plans["rate_plan_ids"],),
    ).fetchall()
    if len(rows) != len(plans["rate_plan_ids"]):
        raise BuildStateError(f"rate plans of room type {plans['room_type_id']} are missing")
    for plan_id, refundable in rows:
        terms = (free_days, penalty) if refundable else (0, 100)
        conn.execute(
            """
            INSERT INTO platform.cancellation_rules
                (rate_plan_id, free_cancellation_days, penalty_percent)
            VALUES (%s, %s, %s)
            ON CONFLICT (rate_plan_id) DO UPDATE
                SET free_cancellation_days = EXCLUDED.free_cancellation_days,
                    penalty_percent = EXCLUDED.penalty_percent
            """,
            (plan_id, *terms),
        )
    return len(rows)


def set_taxes_and_fees(conn: Conn, sub: Submission, property_id: int) -> int:
    """Make the property's taxes exactly what its country and city levy, keyed by code."""
    address = sub.property.address
    taxes: list[tuple[str, str, Decimal, bool]] = []
    if (vat := reference.ACCOMMODATION_VAT.get(address.country)) is not None:
        taxes.append(("vat", "percent", vat, True))
    if (
        city_tax := reference.CITY_TAXES.get((address.country, address.city.casefold()))
    ) is not None:
        taxes.append(("city_tax", city_tax[0], city_tax[1], False))
    conn.execute(
        "DELETE FROM platform.property_taxes WHERE property_id = %s AND NOT code = ANY(%s)",
        (property_id, [tax[0] for tax in taxes]),
    )
    for code, kind, amount, included in taxes:
        conn.execute(
            """
            INSERT INTO platform.property_taxes (property_id, code, kind, amount, included)
            VALUES (%s, %s, %s, %s, %s)
            ON CONFLICT (property_id, code) DO UPDATE
                SET kind = EXCLUDED.kind, amount = EXCLUDED.amount, included = EXCLUDED.included
            """,
            (property_id, code, kind, amount, included),
        )
    return len(taxes)


def create_payout_account(conn: Conn, sub: Submission, partner_id: int) -> int:
    """Create the payout account, keyed by partner and IBAN."""
    (account_id,) = _one(
        conn,
        """
        INSERT INTO platform.payout_accounts (partner_id, iban, account_holder)
        VALUES (%s, %s, %s)
        ON CONFLICT (partner_id, iban) DO UPDATE SET account_holder = EXCLUDED.account_holder
        RETURNING id
        """,
        (partner_id, sub.payout.iban, sub.payout.account_holder),
    )
    return int(account_id)


def sign_commission_contract(
    conn: Conn, sub: Submission, property_id: int, payout_account_id: int
) -> str:
    """Sign the commission contract, keyed by property; its number and date never change."""
    number = f"PB-{property_id:08d}"
    conn.execute(
        """
        INSERT INTO platform.commission_contracts
            (property_id, payout_account_id, contract_number, commission_percent)
        VALUES (%s, %s, %s, %s)
        ON CONFLICT (property_id) DO UPDATE
            SET payout_account_id = EXCLUDED.payout_account_id,
                commission_percent = EXCLUDED.commission_percent
        """,
        (property_id, payout_account_id, number, reference.COMMISSION_PERCENT[sub.property.type]),
    )
    return number


def run_quality_checks(conn: Conn, sub: Submission, property_id: int) -> int:
    """Score the built property and decide whether it may go live, keyed by property.

    Blocking findings send the listing to review instead of live. Data an earlier step
    should have written and did not is a broken build, not a finding: it raises.
    """
    (rooms, plans, rules, occupancy) = _one(
        conn,
        """
        SELECT count(DISTINCT r.id), count(DISTINCT rp.id), count(DISTINCT cr.rate_plan_id),
               count(DISTINCT o.room_type_id)
        FROM platform.room_types r
        LEFT JOIN platform.rate_plans rp ON rp.room_type_id = r.id
        LEFT JOIN platform.cancellation_rules cr ON cr.rate_plan_id = rp.id
        LEFT JOIN platform.room_occupancy o ON o.room_type_id = r.id
        WHERE r.property_id = %s
        """,
        (property_id,),
    )
    if rooms != len(sub.rooms) or plans != 2 * rooms or rules != plans or occupancy != rooms:
        raise BuildStateError(
            f"property {property_id} is incomplete: {rooms} room types, {plans} rate plans, "
            f"{rules} cancellation rules, {occupancy} occupancies for {len(sub.rooms)} rooms"
        )
    (source, licence, contracts) = _one(
        conn,
        """
        SELECT l.source, lic.status,
               (SELECT count(*) FROM platform.commission_contracts c WHERE c.property_id = %s)
        FROM platform.property_locations l
        JOIN platform.property_licences lic ON lic.property_id = l.property_id
        WHERE l.property_id = %s
        """,
        (property_id, property_id),
    )
    if contracts != 1:
        raise BuildStateError(f"property {property_id} has no commission contract")

    findings: list[dict[str, str]] = []
    if source == "unresolved":
        findings.append({"code": "location_unresolved", "severity": "blocking"})
    if licence == "missing":
        findings.append({"code": "licence_missing", "severity": "blocking"})
    if not sub.photos:
        findings.append({"code": "no_photos", "severity": "warning"})
    if len(sub.property.description_text) < 100:
        findings.append({"code": "short_description", "severity": "warning"})
    if sub.property.address.country not in reference.ACCOMMODATION_VAT:
        findings.append({"code": "vat_rate_unknown", "severity": "warning"})
    blocking = any(finding["severity"] == "blocking" for finding in findings)
    score = max(0, 100 - sum(25 if f["severity"] == "blocking" else 5 for f in findings))

    conn.execute(
        """
        INSERT INTO platform.quality_reports (property_id, score, blocking, findings)
        VALUES (%s, %s, %s, %s::jsonb)
        ON CONFLICT (property_id) DO UPDATE
            SET score = EXCLUDED.score, blocking = EXCLUDED.blocking, findings = EXCLUDED.findings
        """,
        (property_id, score, blocking, json.dumps(findings)),
    )
    return score


def index_for_search(conn: Conn, sub: Submission, property_id: int) -> int:
    """Write the property's search document, keyed by property."""
    prop = sub.property
    (min_price, region) = _one(
        conn,
        """
        SELECT min(rp.price), (SELECT region_code FROM platform.property_regions
                               WHERE property_id = %s)
        FROM platform.rate_plans rp JOIN platform.room_types r ON r.id = rp.room_type_id
        WHERE r.property_id = %s
        """,
        (property_id, property_id),
    )
    document = {
        "name": prop.name,
        "type": prop.type,
        "stars": prop.star_rating,
        "city": prop.address.city,
        "country": prop.address.country,
        "region": region,
        "amenities": sorted(prop.amenities),
        "from_price": str(min_price),
        "currency": prop.currency,
        "languages": list(sub.languages),
    }
    conn.execute(
        """
        INSERT INTO platform.search_documents (property_id, document, terms)
        VALUES (%s, %s::jsonb, to_tsvector('simple', %s))
        ON CONFLICT (property_id) DO UPDATE
            SET document = EXCLUDED.document, terms = EXCLUDED.terms
        """,
        (
            property_id,
            json.dumps(document, ensure_ascii=False),
            " ".join([prop.name, prop.address.city, prop.description_text]),
        ),
    )
    return property_id


def _slug(sub: Submission, property_id: int) -> str:
    words = f"{sub.property.name} {sub.property.address.city}".casefold()
    cleaned = "".join(char if char.isalnum() else " " for char in words)
    return "-".join([*cleaned.split(), str(property_id)])


def publish_listing(conn: Conn, sub: Submission, property_id: int) -> str:
    """Publish the listing, live or to review as the quality report says, keyed by property.

    Safe to re-run: the slug and first publication time are kept; only the status follows
    the latest quality report.
    """
    (blocking,) = _one(
        conn, "SELECT blocking FROM platform.quality_reports WHERE property_id = %s", (property_id,)
    )
    status = "in_review" if blocking else "live"
    conn.execute(
        """
        INSERT INTO platform.listings (property_id, slug, status) VALUES (%s, %s, %s)
        ON CONFLICT (property_id) DO UPDATE SET status = EXCLUDED.status
        """,
        (property_id, _slug(sub, property_id), status),
    )
    return status


def notify_partner(conn: Conn, sub: Submission, property_id: int, contact_id: int) -> str:
    """Queue the partner's notification in the outbox, once per submission and kind.

    The mailer sends from the outbox, so a re-run queues nothing twice.
    """
    (status,) = _one(
        conn, "SELECT status FROM platform.listings WHERE property_id = %s", (property_id,)
    )
    kind = f"listing_{status}"
    subject = (
        f"{sub.property.name} is live"
        if status == "live"
        else f"{sub.property.name} is being reviewed before it goes live"
    )
    conn.execute(
        """
        INSERT INTO platform.partner_notifications
            (submission_id, kind, property_id, contact_id, language, subject)
        VALUES (%s, %s, %s, %s, %s, %s)
        ON CONFLICT (submission_id, kind) DO NOTHING
        """,
        (sub.submission_id, kind, property_id, contact_id, sub.partner.language, subject),
    )
    return kind


def complete_onboarding(conn: Conn, sub: Submission, property_id: int) -> str:
    """Mark the onboarding complete; the first completion time is kept."""
    _one(
        conn,
        """
        UPDATE platform.onboardings
        SET status = 'complete', property_id = %s, completed_at = coalesce(completed_at, now())
        WHERE submission_id = %s
        RETURNING submission_id
        """,
        (property_id, sub.submission_id),
    )
    return "complete"
