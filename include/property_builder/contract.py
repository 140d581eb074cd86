"""The submission contract: a typed model of the sign-up tool's payload and its rules.

`parse_submission` is the one way in. It checks the JSON schema (the same one the DAG's
params carry) and then every rule that only code can check, collects every problem by
field path, and either raises one `InvalidSubmission` listing them all or returns a
normalised, immutable `Submission`. It never echoes personal data in a problem.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, time
from decimal import Decimal
from typing import Any

from include.property_builder import codes
from include.property_builder.errors import InvalidSubmission, Problem

STAR_RATED_TYPES = frozenset({"hotel", "guesthouse"})
_EMAIL_LOCAL = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]{1,64}$")
_DOMAIN_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")


@dataclass(frozen=True)
class Contact:
    """The partner's contact person."""

    name: str
    email: str
    phone: str


@dataclass(frozen=True)
class Partner:
    """The legal entity that owns or runs the property."""

    legal_name: str
    country: str
    vat_id: str | None
    language: str
    contact: Contact

    @property
    def key(self) -> str:
        """Return the partner's natural key: its VAT id, else country and legal name."""
        if self.vat_id:
            return f"vat:{self.vat_id}"
        return f"name:{self.country}:{' '.join(self.legal_name.casefold().split())}"


@dataclass(frozen=True)
class Address:
    """Where the property is; coordinates are absent when the partner gave none."""

    line1: str
    line2: str | None
    city: str
    postal_code: str | None
    country: str
    latitude: float | None
    longitude: float | None

    @property
    def key(self) -> str:
        """Return a normalised form of the address, used to spot duplicate properties."""
        parts = (self.country, self.postal_code or "", self.city, self.line1, self.line2 or "")
        return "|".join(" ".join(part.casefold().split()) for part in parts)


@dataclass(frozen=True)
class Policies:
    """House rules."""

    cancellation: str
    pets_allowed: bool
    smoking_allowed: bool
    children_allowed: bool


@dataclass(frozen=True)
class Property:
    """The property as the partner described it."""

    name: str
    type: str
    star_rating: int | None
    currency: str
    timezone: str
    address: Address
    check_in_from: time
    check_in_until: time | None
    check_out_until: time
    amenities: tuple[str, ...]
    policies: Policies
    description_language: str
    description_text: str
    licence_number: str | None


@dataclass(frozen=True)
class Room:
    """One room type; `count` rooms of it exist."""

    name: str
    type: str
    count: int
    max_occupancy: int
    beds: tuple[str, ...]
    size_m2: float | None
    base_rate: Decimal
    amenities: tuple[str, ...]


@dataclass(frozen=True)
class Photo:
    """A photo by URL, optionally of one room type."""

    url: str
    caption: str | None
    room: str | None


@dataclass(frozen=True)
class Payout:
    """Where the partner is paid; the IBAN is personal data."""

    account_holder: str
    iban: str


@dataclass(frozen=True)
class Submission:
    """One partner's finished sign-up, validated and normalised."""

    submission_id: str
    submitted_at: datetime
    partner: Partner
    property: Property
    rooms: tuple[Room, ...]
    photos: tuple[Photo, ...]
    payout: Payout
    languages: tuple[str, ...]


def parse_submission(data: Mapping[str, Any]) -> Submission:
    """Check `data` against the whole contract and return it as a `Submission`.

    Raises:
        InvalidSubmission: listing every broken rule by field path.
    """
    problems = list(_schema_problems(data))
    # A field the schema refused is named once, by the schema's problem.
    refused = {problem.path for problem in problems}
    problems += [problem for problem in _rule_problems(data) if problem.path not in refused]
    if problems:
        raise InvalidSubmission(problems)
    return _build(data)


def load_submission(data: Mapping[str, Any]) -> Submission:
    """Return an already validated submission as a `Submission`, without checking it again.

    Steps after the first use this: the run's submission cannot change after it was
    validated, and the checks cost time on every task.
    """
    return _build(data)


def _schema_problems(data: Mapping[str, Any]) -> Iterator[Problem]:
    from jsonschema import Draft202012Validator

    from include.property_builder.schema import submission_schema

    validator = Draft202012Validator(submission_schema())
    errors = sorted(validator.iter_errors(data), key=lambda error: list(map(str, error.path)))
    for error in errors:
        parts = list(error.absolute_path)
        if error.validator == "required":
            # jsonschema reports a missing field on its parent; name the field itself.
            parts.append(str(error.message).split("'")[1])
            yield Problem(_path(parts), "is required")
            continue
        path = _path(parts) or "(submission)"
        yield Problem(path, _schema_message(error.validator, error.validator_value))


def _schema_message(keyword: object, expected: object) -> str:
    # jsonschema's own messages quote the offending value, which may be personal data.
    if keyword == "type":
        return f"must be of type {expected}"
    if keyword == "enum":
        return "must be one of " + ", ".join(map(str, expected))  # type: ignore[call-overload]
    if keyword == "pattern":
        return f"does not have the expected format ({expected})"
    if keyword in {"minLength", "maxLength"}:
        return f"length must be {'at least' if keyword == 'minLength' else 'at most'} {expected}"
    if keyword in {"minItems", "maxItems"}:
        return f"must have {'at least' if keyword == 'minItems' else 'at most'} {expected} items"
    if keyword in {"minimum", "maximum", "exclusiveMinimum"}:
        words = {"minimum": "at least", "maximum": "at most", "exclusiveMinimum": "greater than"}
        return f"must be {words[str(keyword)]} {expected}"
    if keyword == "uniqueItems":
        return "must not contain duplicates"
    return f"breaks the schema rule {keyword!r}"


def _path(parts: Any) -> str:
    path = ""
    for part in parts:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path


def _rule_problems(data: Mapping[str, Any]) -> Iterator[Problem]:
    checks: list[Callable[[], Iterator[Problem]]] = [
        lambda: _identity_problems(data),
        lambda: _partner_problems(data["partner"]),
        lambda: _property_problems(data["property"], data["languages"]),
        lambda: _room_problems(data["rooms"], data["property"]["currency"]),
        lambda: _photo_problems(data["photos"], {room["name"] for room in data["rooms"]}),
        lambda: _payout_problems(data["payout"]),
        lambda: _language_problems(data["languages"]),
    ]
    for check in checks:
        # A part the schema already found malformed cannot be checked further; the
        # schema's problem names it, and the other parts are still checked.
        try:
            yield from list(check())
        except (KeyError, TypeError, AttributeError, ValueError, ArithmeticError):
            continue


def _payout_problems(payout: Mapping[str, Any]) -> Iterator[Problem]:
    problem = codes.iban_problem(normalise_iban(payout["iban"]))
    if problem:
        yield Problem("payout.iban", problem)


def _language_problems(languages: list[str]) -> Iterator[Problem]:
    for index, language in enumerate(languages):
        if language not in codes.languages():
            yield Problem(f"languages[{index}]", f"{language!r} is not an ISO 639-1 code")


def _identity_problems(data: Mapping[str, Any]) -> Iterator[Problem]:
    try:
        datetime.fromisoformat(data["submitted_at"].replace("z", "Z"))
    except ValueError:
        yield Problem("submitted_at", "is not a real date and time")


def _partner_problems(partner: Mapping[str, Any]) -> Iterator[Problem]:
    country = partner["country"]
    if country not in codes.countries():
        yield Problem("partner.country", f"{country!r} is not an ISO 3166-1 alpha-2 code")
    vat_id = partner.get("vat_id")
    prefix = codes.VAT_PREFIXES.get(country, country)
    if vat_id and not vat_id.startswith(prefix):
        yield Problem("partner.vat_id", f"must start with the partner's country code {prefix}")
    if partner["language"] not in codes.languages():
        yield Problem("partner.language", f"{partner['language']!r} is not an ISO 639-1 code")
    email_problem = _email_problem(partner["contact"]["email"])
    if email_problem:
        yield Problem("partner.contact.email", email_problem)


def _email_problem(email: str) -> str | None:
    local, _, domain = email.strip().rpartition("@")
    if not _EMAIL_LOCAL.match(local) or local.startswith(".") or ".." in local:
        return "is not a valid email address (the part before @)"
    labels = domain.split(".")
    if len(labels) < 2 or not all(_DOMAIN_LABEL.match(label) for label in labels):
        return "is not a valid email address (the domain)"
    if labels[-1].isdigit():
        return "is not a valid email address (the top-level domain)"
    return None


def _property_problems(prop: Mapping[str, Any], languages: list[str]) -> Iterator[Problem]:
    if prop.get("star_rating") is not None and prop["type"] not in STAR_RATED_TYPES:
        yield Problem(
            "property.star_rating", f"only hotels and guesthouses have stars, not a {prop['type']}"
        )
    if prop["currency"] not in codes.currencies():
        yield Problem("property.currency", f"{prop['currency']!r} is not an ISO 4217 currency")
    if not _is_timezone(prop["timezone"]):
        yield Problem("property.timezone", f"{prop['timezone']!r} is not an IANA time zone")
    address = prop["address"]
    if address["country"] not in codes.countries():
        yield Problem(
            "property.address.country", f"{address['country']!r} is not an ISO 3166-1 alpha-2 code"
        )
    if (address.get("latitude") is None) != (address.get("longitude") is None):
        yield Problem(
            "property.address", "latitude and longitude must both be given or both be absent"
        )
    until = prop["check_in"].get("until")
    if until is not None and until <= prop["check_in"]["from"]:
        yield Problem("property.check_in.until", "must be after check_in.from")
    description_language = prop["description"]["language"]
    if description_language not in codes.languages():
        yield Problem(
            "property.description.language", f"{description_language!r} is not an ISO 639-1 code"
        )
    elif description_language not in languages:
        yield Problem(
            "property.description.language", f"{description_language!r} is not among languages"
        )


def _is_timezone(name: str) -> bool:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return "/" in name or name == "UTC"


def _room_problems(rooms: list[Mapping[str, Any]], currency: str) -> Iterator[Problem]:
    seen: dict[str, int] = {}
    decimals = min(2, codes.currency_exponent(currency))
    for index, room in enumerate(rooms):
        path = f"rooms[{index}]"
        if room["name"] in seen:
            yield Problem(f"{path}.name", f"repeats the name of rooms[{seen[room['name']]}]")
        seen.setdefault(room["name"], index)
        rate = Decimal(room["base_rate"])
        if rate <= 0:
            yield Problem(f"{path}.base_rate", "must be greater than 0")
        if -rate.as_tuple().exponent > decimals:  # type: ignore[operator]
            yield Problem(
                f"{path}.base_rate", f"{currency} amounts have at most {decimals} decimals"
            )


def _photo_problems(photos: list[Mapping[str, Any]], room_names: set[str]) -> Iterator[Problem]:
    for index, photo in enumerate(photos):
        room = photo.get("room")
        if room is not None and room not in room_names:
            yield Problem(f"photos[{index}].room", "names no room type of this submission")


def normalise_iban(iban: str) -> str:
    """Return `iban` without spaces, in upper case."""
    return "".join(iban.split()).upper()


def _clean(text: str | None) -> str | None:
    return " ".join(text.split()) if text is not None else None


def _build(data: Mapping[str, Any]) -> Submission:
    partner, prop = data["partner"], data["property"]
    contact, address = partner["contact"], prop["address"]
    local, _, domain = contact["email"].strip().rpartition("@")
    postal_code = _clean(address.get("postal_code"))
    return Submission(
        submission_id=data["submission_id"],
        submitted_at=datetime.fromisoformat(data["submitted_at"].replace("z", "Z")),
        partner=Partner(
            legal_name=partner["legal_name"].strip(),
            country=partner["country"],
            vat_id=partner.get("vat_id"),
            language=partner["language"],
            contact=Contact(
                name=contact["name"].strip(),
                email=f"{local}@{domain.lower()}",
                phone=contact["phone"],
            ),
        ),
        property=Property(
            name=prop["name"],
            type=prop["type"],
            star_rating=prop.get("star_rating"),
            currency=prop["currency"],
            timezone=prop["timezone"],
            address=Address(
                line1=_clean(address["line1"]) or "",
                line2=_clean(address.get("line2")),
                city=_clean(address["city"]) or "",
                postal_code=postal_code.upper() if postal_code else None,
                country=address["country"],
                latitude=address.get("latitude"),
                longitude=address.get("longitude"),
            ),
            check_in_from=time.fromisoformat(prop["check_in"]["from"]),
            check_in_until=(
                time.fromisoformat(prop["check_in"]["until"])
                if prop["check_in"].get("until")
                else None
            ),
            check_out_until=time.fromisoformat(prop["check_out"]["until"]),
            amenities=tuple(prop["amenities"]),
            policies=Policies(
                cancellation=prop["policies"]["cancellation"],
                pets_allowed=prop["policies"]["pets_allowed"],
                smoking_allowed=prop["policies"]["smoking_allowed"],
                children_allowed=prop["policies"]["children_allowed"],
            ),
            description_language=prop["description"]["language"],
            description_text=prop["description"]["text"],
            licence_number=_clean(prop.get("licence_number")),
        ),
        rooms=tuple(
            Room(
                name=room["name"],
                type=room["type"],
                count=room["count"],
                max_occupancy=room["max_occupancy"],
                beds=tuple(room["beds"]),
                size_m2=room.get("size_m2"),
                base_rate=Decimal(room["base_rate"]),
                amenities=tuple(room["amenities"]),
            )
            for room in data["rooms"]
        ),
        photos=tuple(
            Photo(url=photo["url"], caption=photo.get("caption"), room=photo.get("room"))
            for photo in data["photos"]
        ),
        payout=Payout(
            account_holder=data["payout"]["account_holder"].strip(),
            iban=normalise_iban(data["payout"]["iban"]),
        ),
        languages=tuple(data["languages"]),
    )
