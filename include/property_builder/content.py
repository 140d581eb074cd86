"""The three slow steps run by the property services: what each job is sent, and how
its result lands in the platform database.

Job inputs are built from the submission and the ids earlier steps wrote; results are
stored with upserts keyed by property, so storing the same job's result again, after a
retry or a cleared task, changes nothing.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from include.property_builder.contract import Submission
from include.property_builder.errors import BuildStateError

if TYPE_CHECKING:
    import psycopg

    Conn = psycopg.Connection[Any]

KINDS = ("photos", "descriptions", "calendar")
CALENDAR_DAYS = 365


def photos_input(sub: Submission) -> dict[str, Any]:
    """Return the photos job's input: every photo of the submission."""
    return {
        "photos": [
            {"url": photo.url, "caption": photo.caption, "room": photo.room} for photo in sub.photos
        ]
    }


def descriptions_input(sub: Submission) -> dict[str, Any]:
    """Return the descriptions job's input: the text and the languages to publish in."""
    return {
        "source_language": sub.property.description_language,
        "text": sub.property.description_text,
        "languages": list(sub.languages),
    }


def calendar_input(
    sub: Submission, property_id: int, rooms: Sequence[Mapping[str, int]]
) -> dict[str, Any]:
    """Return the calendar job's input: a year of days from the submission date, per room type.

    The start is the submission's date, not today's, so that the same submission always
    asks for the same calendar and a restarted job is the same job.
    """
    return {
        "property_id": property_id,
        "currency": sub.property.currency,
        "start_date": sub.submitted_at.date().isoformat(),
        "days": CALENDAR_DAYS,
        "room_types": [
            {
                "room_type_id": room["room_type_id"],
                "unit_count": sub.rooms[room["room_index"]].count,
                "base_rate": str(sub.rooms[room["room_index"]].base_rate),
            }
            for room in sorted(rooms, key=lambda room: room["room_index"])
        ],
    }


def job_input(
    kind: str, sub: Submission, property_id: int, rooms: Sequence[Mapping[str, int]]
) -> dict[str, Any]:
    """Return the input of the `kind` job for this submission."""
    if kind == "photos":
        return photos_input(sub)
    if kind == "descriptions":
        return descriptions_input(sub)
    if kind == "calendar":
        return calendar_input(sub, property_id, rooms)
    raise ValueError(f"unknown job kind {kind!r}")


def store_photos(conn: Conn, sub: Submission, property_id: int, result: Mapping[str, Any]) -> int:
    """Make the property's photos exactly the processed ones, keyed by property and URL."""
    room_ids = dict(
        conn.execute(
            "SELECT name, id FROM platform.room_types WHERE property_id = %s", (property_id,)
        ).fetchall()
    )
    processed = list(result["processed"])
    captions = {photo.url: photo.caption for photo in sub.photos}
    conn.execute(
        "DELETE FROM platform.property_photos WHERE property_id = %s AND NOT url = ANY(%s)",
        (property_id, [photo["url"] for photo in processed]),
    )
    for position, photo in enumerate(processed):
        room = photo.get("room")
        if room is not None and room not in room_ids:
            raise BuildStateError(f"photo of room {room!r}: no such room type was built")
        conn.execute(
            """
            INSERT INTO platform.property_photos
                (property_id, url, position, room_type_id, caption, quality, sizes)
            VALUES (%s, %s, %s, %s, %s, %s, %s::jsonb)
            ON CONFLICT (property_id, url) DO UPDATE
                SET position = EXCLUDED.position, room_type_id = EXCLUDED.room_type_id,
                    caption = EXCLUDED.caption, quality = EXCLUDED.quality,
                    sizes = EXCLUDED.sizes
            """,
            (
                property_id,
                photo["url"],
                position,
                room_ids.get(room) if room is not None else None,
                captions.get(photo["url"]),
                round(float(photo["quality"]), 3),
                json.dumps(photo["sizes"], sort_keys=True),
            ),
        )
    return len(processed)


def store_descriptions(
    conn: Conn, sub: Submission, property_id: int, result: Mapping[str, Any]
) -> int:
    """Make the property's descriptions exactly one per language, keyed by property and language."""
    texts: dict[str, str] = dict(result["texts"])
    missing = set(sub.languages) - set(texts)
    if missing:
        raise BuildStateError(f"descriptions job returned no text for {sorted(missing)}")
    conn.execute(
        "DELETE FROM platform.property_descriptions"
        " WHERE property_id = %s AND NOT language = ANY(%s)",
        (property_id, list(sub.languages)),
    )
    for language in sub.languages:
        conn.execute(
            """
            INSERT INTO platform.property_descriptions (property_id, language, text)
            VALUES (%s, %s, %s)
            ON CONFLICT (property_id, language) DO UPDATE SET text = EXCLUDED.text
            """,
            (property_id, language, texts[language]),
        )
    return len(sub.languages)


def check_calendar(conn: Conn, sub: Submission, property_id: int, result: Mapping[str, Any]) -> int:
    """Confirm the calendar the service wrote: every room type has every day. Reads only."""
    (rows,) = conn.execute(
        """
        SELECT count(*) FROM platform.availability_calendar c
        JOIN platform.room_types r ON r.id = c.room_type_id
        WHERE r.property_id = %s
        """,
        (property_id,),
    ).fetchone() or (0,)
    expected = CALENDAR_DAYS * len(sub.rooms)
    if rows < expected or int(result.get("rows", 0)) != expected:
        raise BuildStateError(
            f"calendar of property {property_id} has {rows} days of {expected} expected"
        )
    return int(rows)


def store_result(
    kind: str, conn: Conn, sub: Submission, property_id: int, result: Mapping[str, Any]
) -> int:
    """Store (or, for the calendar, confirm) a finished job's result; return a count."""
    if kind == "photos":
        return store_photos(conn, sub, property_id, result)
    if kind == "descriptions":
        return store_descriptions(conn, sub, property_id, result)
    if kind == "calendar":
        return check_calendar(conn, sub, property_id, result)
    raise ValueError(f"unknown job kind {kind!r}")
