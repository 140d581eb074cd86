"""The submission contract: the example passes, and each rule refuses what it should."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from include.property_builder.contract import parse_submission
from include.property_builder.errors import InvalidSubmission
from tests.conftest import CONTRACT_EXAMPLE, FIXTURE_EXAMPLE
from tests.helpers import PERSONAL, variant


def test_contract_example_passes_unchanged(example: dict[str, Any]) -> None:
    submission = parse_submission(example)

    assert submission.submission_id == "sub-2026-12-03-000417"
    assert [room.name for room in submission.rooms] == ["Canal View Double", "Family Suite"]
    assert submission.payout.iban == "NL91ABNA0417164300"
    assert submission.submitted_at.tzinfo is not None


def test_vendored_example_matches_the_shared_contract() -> None:
    vendored = json.loads(FIXTURE_EXAMPLE.read_text(encoding="utf-8"))
    parse_submission(vendored)
    if CONTRACT_EXAMPLE.exists():
        assert vendored == json.loads(CONTRACT_EXAMPLE.read_text(encoding="utf-8"))


def _set(path: str, value: object) -> Callable[[dict[str, Any]], None]:
    def change(doc: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target: Any = doc
        for part in parents:
            target = target[int(part)] if part.isdigit() else target[part]
        if value is _DELETE:
            del target[last]
        elif last.isdigit():
            target[int(last)] = value
        else:
            target[last] = value

    return change


_DELETE = object()


def _both(*changes: Callable[[dict[str, Any]], None]) -> Callable[[dict[str, Any]], None]:
    def change(doc: dict[str, Any]) -> None:
        for one in changes:
            one(doc)

    return change


# (rule, change, field path in the message, words in the message)
RULES: list[tuple[str, Callable[[dict[str, Any]], None], str, str]] = [
    ("submission id charset", _set("submission_id", "sub 1/2"), "submission_id", "format"),
    ("submission id length", _set("submission_id", "x" * 65), "submission_id", "format"),
    (
        "submitted_at needs a zone",
        _set("submitted_at", "2026-12-03T09:41:07"),
        "submitted_at",
        "format",
    ),
    (
        "submitted_at real date",
        _set("submitted_at", "2026-13-45T09:41:07Z"),
        "submitted_at",
        "real date",
    ),
    ("required field", _set("payout", _DELETE), "payout", "is required"),
    (
        "nested required field",
        _set("partner.contact.phone", _DELETE),
        "partner.contact.phone",
        "is required",
    ),
    ("legal name length", _set("partner.legal_name", ""), "partner.legal_name", "at least 1"),
    ("partner country upper case", _set("partner.country", "nl"), "partner.country", "format"),
    ("partner country exists", _set("partner.country", "QQ"), "partner.country", "ISO 3166-1"),
    ("vat id format", _set("partner.vat_id", "NL-853"), "partner.vat_id", "format"),
    (
        "vat id country prefix",
        _set("partner.vat_id", "DE853746333"),
        "partner.vat_id",
        "country code NL",
    ),
    (
        "greek vat prefix is EL",
        _both(_set("partner.country", "GR"), _set("partner.vat_id", "GR123456789")),
        "partner.vat_id",
        "country code EL",
    ),
    ("partner language exists", _set("partner.language", "qq"), "partner.language", "ISO 639-1"),
    (
        "email shape",
        _set("partner.contact.email", "sanne.grachtenhuis.example"),
        "partner.contact.email",
        "format",
    ),
    (
        "email domain",
        _set("partner.contact.email", "sanne@-bad-.example"),
        "partner.contact.email",
        "domain",
    ),
    (
        "email local part",
        _set("partner.contact.email", "san..ne@grachtenhuis.example"),
        "partner.contact.email",
        "before @",
    ),
    (
        "phone is E.164",
        _set("partner.contact.phone", "0612345678"),
        "partner.contact.phone",
        "format",
    ),
    (
        "phone digits count",
        _set("partner.contact.phone", "+3161234"),
        "partner.contact.phone",
        "format",
    ),
    ("property type", _set("property.type", "castle"), "property.type", "one of"),
    ("star rating range", _set("property.star_rating", 6), "property.star_rating", "at most 5"),
    (
        "star rating only hotels",
        _both(_set("property.type", "apartment"), _set("property.licence_number", "X1")),
        "property.star_rating",
        "only hotels and guesthouses",
    ),
    ("currency exists", _set("property.currency", "EUX"), "property.currency", "ISO 4217"),
    ("timezone exists", _set("property.timezone", "Europe/Atlantis"), "property.timezone", "IANA"),
    (
        "address country exists",
        _set("property.address.country", "ZZ"),
        "property.address.country",
        "ISO 3166-1",
    ),
    (
        "latitude range",
        _set("property.address.latitude", 91),
        "property.address.latitude",
        "at most 90",
    ),
    (
        "longitude range",
        _set("property.address.longitude", -181),
        "property.address.longitude",
        "at least -180",
    ),
    (
        "coordinates come in pairs",
        _set("property.address.longitude", None),
        "property.address",
        "both",
    ),
    (
        "check-in time format",
        _set("property.check_in.from", "25:00"),
        "property.check_in.from",
        "format",
    ),
    (
        "check-in until after from",
        _set("property.check_in.until", "14:00"),
        "property.check_in.until",
        "after",
    ),
    (
        "check-out required",
        _set("property.check_out", {}),
        "property.check_out.until",
        "is required",
    ),
    (
        "amenity code format",
        _set("property.amenities", ["Wi-Fi"]),
        "property.amenities[0]",
        "format",
    ),
    (
        "amenities unique",
        _set("property.amenities", ["wifi", "wifi"]),
        "property.amenities",
        "duplicates",
    ),
    (
        "at most 100 amenities",
        _set("property.amenities", [f"a{i}" for i in range(101)]),
        "property.amenities",
        "at most 100",
    ),
    (
        "cancellation policy",
        _set("property.policies.cancellation", "lenient"),
        "property.policies.cancellation",
        "one of",
    ),
    (
        "policy booleans required",
        _set("property.policies.pets_allowed", _DELETE),
        "property.policies.pets_allowed",
        "is required",
    ),
    (
        "description language exists",
        _both(_set("property.description.language", "qq"), _set("languages", ["qq", "nl"])),
        "property.description.language",
        "ISO 639-1",
    ),
    (
        "description language published",
        _set("property.description.language", "it"),
        "property.description.language",
        "not among languages",
    ),
    (
        "description length",
        _set("property.description.text", "x" * 5001),
        "property.description.text",
        "at most 5000",
    ),
    (
        "licence length",
        _set("property.licence_number", "x" * 65),
        "property.licence_number",
        "at most 64",
    ),
    ("at least one room", _set("rooms", []), "rooms", "at least 1"),
    ("room names unique", _set("rooms.1.name", "Canal View Double"), "rooms[1].name", "repeats"),
    ("room type", _set("rooms.0.type", "penthouse"), "rooms[0].type", "one of"),
    ("room count range", _set("rooms.0.count", 0), "rooms[0].count", "at least 1"),
    ("occupancy range", _set("rooms.0.max_occupancy", 21), "rooms[0].max_occupancy", "at most 20"),
    ("beds not empty", _set("rooms.0.beds", []), "rooms[0].beds", "at least 1"),
    ("size positive", _set("rooms.0.size_m2", 0), "rooms[0].size_m2", "greater than 0"),
    (
        "rate is a decimal string",
        _set("rooms.0.base_rate", 179),
        "rooms[0].base_rate",
        "type string",
    ),
    ("rate two decimals", _set("rooms.0.base_rate", "179.001"), "rooms[0].base_rate", "format"),
    ("rate above zero", _set("rooms.0.base_rate", "0.00"), "rooms[0].base_rate", "greater than 0"),
    (
        "zero-decimal currency",
        _both(_set("property.currency", "JPY"), _set("rooms.0.base_rate", "179.50")),
        "rooms[0].base_rate",
        "JPY amounts have at most 0 decimals",
    ),
    (
        "photo url scheme",
        _set("photos.0.url", "ftp://photos.example/a.jpg"),
        "photos[0].url",
        "format",
    ),
    (
        "photo caption length",
        _set("photos.0.caption", "x" * 501),
        "photos[0].caption",
        "at most 500",
    ),
    (
        "photo names a known room",
        _set("photos.1.room", "Penthouse"),
        "photos[1].room",
        "names no room type",
    ),
    ("IBAN checksum", _set("payout.iban", "NL92ABNA0417164300"), "payout.iban", "mod-97"),
    (
        "IBAN country length",
        _set("payout.iban", "NL91ABNA041716430"),
        "payout.iban",
        "18 characters",
    ),
    (
        "IBAN country issues IBANs",
        _set("payout.iban", "US91ABNA0417164300"),
        "payout.iban",
        "does not issue",
    ),
    ("languages not empty", _set("languages", []), "languages", "at least 1"),
    ("languages unique", _set("languages", ["en", "en"]), "languages", "duplicates"),
    ("languages exist", _set("languages", ["en", "qq"]), "languages[1]", "ISO 639-1"),
    ("at most 20 languages", _set("languages", ["en"] * 21), "languages", "at most 20"),
]


@pytest.mark.parametrize(
    ("change", "path", "words"),
    [pytest.param(change, path, words, id=rule) for rule, change, path, words in RULES],
)
def test_rule_refuses_what_breaks_it(
    example: dict[str, Any], change: Callable[[dict[str, Any]], None], path: str, words: str
) -> None:
    with pytest.raises(InvalidSubmission) as caught:
        parse_submission(variant(example, change))

    messages = [f"{problem.path}: {problem.message}" for problem in caught.value.problems]
    assert any(m.startswith(f"{path}: ") and words in m for m in messages), messages


def test_every_problem_is_listed_in_one_message(example: dict[str, Any]) -> None:
    broken = variant(
        example,
        _both(
            _set("payout.iban", "NL92ABNA0417164300"),
            _set("rooms.1.name", "Canal View Double"),
            _set("photos.2.room", "Penthouse"),
        ),
    )

    with pytest.raises(InvalidSubmission) as caught:
        parse_submission(broken)

    message = str(caught.value)
    assert "3 problems" in message
    for path in ("payout.iban", "rooms[1].name", "photos[2].room"):
        assert path in message


def test_optional_fields_may_be_absent_or_null(example: dict[str, Any]) -> None:
    for key in ("star_rating", "licence_number"):
        del example["property"][key]
    example["partner"]["vat_id"] = None
    example["property"]["address"].update(latitude=None, longitude=None, postal_code=None)
    example["property"]["check_in"]["until"] = None
    del example["rooms"][0]["size_m2"]

    submission = parse_submission(example)

    assert submission.property.star_rating is None
    assert submission.property.address.latitude is None
    assert submission.partner.key == "name:NL:grachtenhuis hospitality b.v."


def test_normalises_iban_spaces_and_email_domain(example: dict[str, Any]) -> None:
    example["payout"]["iban"] = "nl91 abna 0417 1643 00"
    example["partner"]["contact"]["email"] = "Sanne@GrachtenHuis.Example"

    submission = parse_submission(example)

    assert submission.payout.iban == "NL91ABNA0417164300"
    assert submission.partner.contact.email == "Sanne@grachtenhuis.example"


def test_problems_never_quote_personal_data(example: dict[str, Any]) -> None:
    example["payout"]["iban"] = "NL92ABNA0417164300"
    example["partner"]["contact"]["email"] = "sanne@grachtenhuis..example"
    example["partner"]["contact"]["phone"] = "+316123456789012345"

    with pytest.raises(InvalidSubmission) as caught:
        parse_submission(example)

    message = str(caught.value)
    assert "payout.iban" in message and "partner.contact.phone" in message
    for value in ("NL92ABNA0417164300", "sanne@", "+316123456789012345"):
        assert value not in message
    assert PERSONAL[0] not in message
