"""The slow steps' job inputs, and storing their results idempotently in real PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
import pytest

from include.property_builder.build import build_property
from include.property_builder.content import CALENDAR_DAYS, job_input, store_result
from include.property_builder.contract import parse_submission
from include.property_builder.errors import BuildStateError
from tests.helpers import snapshot


@pytest.fixture
def built(platform_url: str, platform_db: Any, example: dict[str, Any]) -> dict[str, Any]:
    """The example built up to publishing, with the ids the content jobs need."""

    @contextmanager
    def transaction() -> Iterator[psycopg.Connection[Any]]:
        with psycopg.connect(platform_url) as conn:
            yield conn

    sub = parse_submission(example)
    record = build_property(transaction, sub)
    rooms = [call.result for call in record.calls if call.step.__name__ == "create_room_type"]
    return {"sub": sub, "property_id": record.property_id, "rooms": rooms, "tx": transaction}


def test_calendar_input_covers_every_room_type_from_the_submission_date(
    built: dict[str, Any],
) -> None:
    payload = job_input("calendar", built["sub"], built["property_id"], built["rooms"][::-1])

    assert payload["start_date"] == "2026-12-03"
    assert payload["days"] == CALENDAR_DAYS
    assert [r["unit_count"] for r in payload["room_types"]] == [8, 4]
    assert [r["base_rate"] for r in payload["room_types"]] == ["179.00", "289.00"]


def test_descriptions_input_asks_for_every_language(built: dict[str, Any]) -> None:
    payload = job_input("descriptions", built["sub"], built["property_id"], [])

    assert payload["languages"] == ["en", "nl", "de", "fr"]
    assert payload["source_language"] == "en"


def _photos_result(sub: Any) -> dict[str, Any]:
    return {
        "processed": [
            {"url": p.url, "room": p.room, "quality": 0.8, "sizes": {"thumb": p.url + "?w=200"}}
            for p in sub.photos
        ],
        "rejected": [],
        "count": len(sub.photos),
    }


def test_storing_photos_twice_changes_nothing(platform_db: Any, built: dict[str, Any]) -> None:
    sub, property_id = built["sub"], built["property_id"]
    with built["tx"]() as conn:
        assert store_result("photos", conn, sub, property_id, _photos_result(sub)) == 3
    once = snapshot(platform_db)

    with built["tx"]() as conn:
        store_result("photos", conn, sub, property_id, _photos_result(sub))

    assert snapshot(platform_db) == once
    rooms = platform_db.execute(
        "SELECT p.url, r.name FROM platform.property_photos p"
        " LEFT JOIN platform.room_types r ON r.id = p.room_type_id ORDER BY position"
    ).fetchall()
    assert rooms[1] == ("https://photos.example/grachtenhuis/double.jpg", "Canal View Double")
    assert rooms[0][1] is None


def test_storing_descriptions_twice_changes_nothing(
    platform_db: Any, built: dict[str, Any]
) -> None:
    sub, property_id = built["sub"], built["property_id"]
    result = {"texts": {lang: f"[{lang}] text" for lang in sub.languages}}
    with built["tx"]() as conn:
        store_result("descriptions", conn, sub, property_id, result)
    once = snapshot(platform_db)

    with built["tx"]() as conn:
        store_result("descriptions", conn, sub, property_id, result)

    assert snapshot(platform_db) == once
    assert len(once["platform.property_descriptions"]) == 4


def test_descriptions_missing_a_language_are_refused(
    platform_db: Any, built: dict[str, Any]
) -> None:
    with pytest.raises(BuildStateError, match=r"no text for \['fr'\]"):
        with built["tx"]() as conn:
            store_result(
                "descriptions",
                conn,
                built["sub"],
                built["property_id"],
                {"texts": {"en": "a", "nl": "b", "de": "c"}},
            )


def test_calendar_short_of_days_is_refused(platform_db: Any, built: dict[str, Any]) -> None:
    with pytest.raises(BuildStateError, match="has 0 days"):
        with built["tx"]() as conn:
            store_result(
                "calendar", conn, built["sub"], built["property_id"], {"rows": 2 * CALENDAR_DAYS}
            )
