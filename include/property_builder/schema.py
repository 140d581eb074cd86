"""The JSON schema of a submission, as the REST API and the trigger form enforce it.

The schema carries every rule that JSON Schema can express; `contract.py` adds the rules
only code can check (IBAN checksum, unique room names, code lists, ...). Each top-level
key becomes one DAG `Param`, so Airflow refuses a malformed submission with HTTP 400
before a run exists. This module is a literal and imports nothing: the DAG file reads
it at parse time.
"""

from __future__ import annotations

from typing import Any

ALPHA2 = "^[A-Z]{2}$"
LANGUAGE = "^[a-z]{2}$"
HHMM = "^([01][0-9]|2[0-3]):[0-5][0-9]$"
AMENITY = "^[a-z][a-z0-9]*(_[a-z0-9]+)*$"
PROPERTY_TYPES = ["hotel", "apartment", "home", "hostel", "guesthouse", "villa"]
ROOM_TYPES = ["single", "double", "twin", "triple", "quad", "suite", "family", "studio", "dorm"]
CANCELLATION_POLICIES = ["flexible", "moderate", "strict"]


def _text(max_length: int, *, nullable: bool = False) -> dict[str, Any]:
    kind: str | list[str] = ["string", "null"] if nullable else "string"
    return {"type": kind, "minLength": 1, "maxLength": max_length}


def _amenities() -> dict[str, Any]:
    return {
        "type": "array",
        "maxItems": 100,
        "uniqueItems": True,
        "items": {"type": "string", "pattern": AMENITY},
    }


SUBMISSION_ID: dict[str, Any] = {
    "type": "string",
    "pattern": "^[A-Za-z0-9_-]{1,64}$",
    "description": "Unique per registration; the idempotency key of the build.",
}

SUBMITTED_AT: dict[str, Any] = {
    "type": "string",
    "pattern": (
        "^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]+)?"
        "([Zz]|[+-][0-9]{2}:[0-9]{2})$"
    ),
    "description": "RFC 3339 timestamp with a time zone.",
}

PARTNER: dict[str, Any] = {
    "type": "object",
    "required": ["legal_name", "country", "language", "contact"],
    "properties": {
        "legal_name": _text(200),
        "country": {"type": "string", "pattern": ALPHA2},
        "vat_id": {"type": ["string", "null"], "pattern": "^[A-Z]{2}[A-Z0-9]{2,13}$"},
        "language": {"type": "string", "pattern": LANGUAGE},
        "contact": {
            "type": "object",
            "required": ["name", "email", "phone"],
            "properties": {
                "name": _text(200),
                "email": {
                    "type": "string",
                    "maxLength": 254,
                    "pattern": "^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$",
                },
                "phone": {"type": "string", "pattern": "^\\+[0-9]{8,15}$"},
            },
        },
    },
}

ADDRESS: dict[str, Any] = {
    "type": "object",
    "required": ["line1", "city", "country"],
    "properties": {
        "line1": _text(200),
        "line2": _text(200, nullable=True),
        "city": _text(100),
        "postal_code": _text(20, nullable=True),
        "country": {"type": "string", "pattern": ALPHA2},
        "latitude": {"type": ["number", "null"], "minimum": -90, "maximum": 90},
        "longitude": {"type": ["number", "null"], "minimum": -180, "maximum": 180},
    },
}

PROPERTY: dict[str, Any] = {
    "type": "object",
    "required": [
        "name",
        "type",
        "currency",
        "timezone",
        "address",
        "check_in",
        "check_out",
        "amenities",
        "policies",
        "description",
    ],
    "properties": {
        "name": _text(200),
        "type": {"type": "string", "enum": PROPERTY_TYPES},
        "star_rating": {"type": ["integer", "null"], "minimum": 1, "maximum": 5},
        "currency": {"type": "string", "pattern": "^[A-Z]{3}$"},
        "timezone": {"type": "string", "minLength": 1, "maxLength": 64},
        "address": ADDRESS,
        "check_in": {
            "type": "object",
            "required": ["from"],
            "properties": {
                "from": {"type": "string", "pattern": HHMM},
                "until": {"type": ["string", "null"], "pattern": HHMM},
            },
        },
        "check_out": {
            "type": "object",
            "required": ["until"],
            "properties": {"until": {"type": "string", "pattern": HHMM}},
        },
        "amenities": _amenities(),
        "policies": {
            "type": "object",
            "required": ["cancellation", "pets_allowed", "smoking_allowed", "children_allowed"],
            "properties": {
                "cancellation": {"type": "string", "enum": CANCELLATION_POLICIES},
                "pets_allowed": {"type": "boolean"},
                "smoking_allowed": {"type": "boolean"},
                "children_allowed": {"type": "boolean"},
            },
        },
        "description": {
            "type": "object",
            "required": ["language", "text"],
            "properties": {
                "language": {"type": "string", "pattern": LANGUAGE},
                "text": _text(5000),
            },
        },
        "licence_number": _text(64, nullable=True),
    },
}

ROOMS: dict[str, Any] = {
    "type": "array",
    "minItems": 1,
    "maxItems": 50,
    "items": {
        "type": "object",
        "required": ["name", "type", "count", "max_occupancy", "beds", "base_rate", "amenities"],
        "properties": {
            "name": _text(100),
            "type": {"type": "string", "enum": ROOM_TYPES},
            "count": {"type": "integer", "minimum": 1, "maximum": 500},
            "max_occupancy": {"type": "integer", "minimum": 1, "maximum": 20},
            "beds": {
                "type": "array",
                "minItems": 1,
                "items": {"type": "string", "minLength": 1, "maxLength": 50},
            },
            "size_m2": {"type": ["number", "null"], "exclusiveMinimum": 0},
            "base_rate": {"type": "string", "pattern": "^[0-9]+(\\.[0-9]{1,2})?$"},
            "amenities": _amenities(),
        },
    },
}

PHOTOS: dict[str, Any] = {
    "type": "array",
    "maxItems": 200,
    "items": {
        "type": "object",
        "required": ["url"],
        "properties": {
            "url": {"type": "string", "maxLength": 2048, "pattern": "^https?://[^\\s/]+"},
            "caption": {"type": ["string", "null"], "maxLength": 500},
            "room": {"type": ["string", "null"]},
        },
    },
}

PAYOUT: dict[str, Any] = {
    "type": "object",
    "required": ["account_holder", "iban"],
    "properties": {
        "account_holder": _text(200),
        "iban": {"type": "string", "pattern": "^[A-Za-z]{2}[0-9]{2}[A-Za-z0-9 ]{10,40}$"},
    },
}

LANGUAGES: dict[str, Any] = {
    "type": "array",
    "minItems": 1,
    "maxItems": 20,
    "uniqueItems": True,
    "items": {"type": "string", "pattern": LANGUAGE},
}

TOP_LEVEL: dict[str, dict[str, Any]] = {
    "submission_id": SUBMISSION_ID,
    "submitted_at": SUBMITTED_AT,
    "partner": PARTNER,
    "property": PROPERTY,
    "rooms": ROOMS,
    "photos": PHOTOS,
    "payout": PAYOUT,
    "languages": LANGUAGES,
}


def submission_schema() -> dict[str, Any]:
    """Return the whole submission's JSON schema (draft 2020-12)."""
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "required": list(TOP_LEVEL),
        "properties": TOP_LEVEL,
    }
