"""What each job kind computes, as pure functions of its validated input.

Everything is deterministic: the same input always gives the same result, so that a
restarted job produces what its first run would have.
"""

from __future__ import annotations

import hashlib
import posixpath
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from services.property_services.inputs import CalendarInput, DescriptionsInput, PhotosInput

PHOTO_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp")
PHOTO_SIZES = ("thumb", "medium", "large")
WEEKEND_SURCHARGE = Decimal("1.15")
WEEKEND_NIGHTS = frozenset({4, 5})  # date.weekday(): the nights starting Friday and Saturday
CENT = Decimal("0.01")


@dataclass(frozen=True)
class JobError:
    """Why a job run failed, as the job reports it (`error` in API.md)."""

    code: str
    message: str
    permanent: bool

    def to_json(self) -> dict[str, Any]:
        """Return the error as it appears in a job."""
        return {"code": self.code, "message": self.message, "permanent": self.permanent}


class JobFailure(Exception):
    """Raised when a job run fails; carries the error the job then reports."""

    def __init__(self, error: JobError) -> None:
        super().__init__(f"{error.code}: {error.message}")
        self.error = error


# --- photos ---------------------------------------------------------------------------


def photo_problem(url: str) -> str | None:
    """Return why `url` cannot be processed as a photo, or None when it can."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "not a valid URL"
    if parts.scheme not in ("http", "https"):
        return "not an http or https URL"
    if not parts.hostname:
        return "the URL has no host"
    if not parts.path.lower().endswith(PHOTO_EXTENSIONS):
        return "the path does not end in " + ", ".join(PHOTO_EXTENSIONS)
    return None


def photo_quality(url: str) -> float:
    """Return the photo's quality score in [0, 1], derived from its URL alone."""
    digest = hashlib.sha256(url.encode("utf-8")).digest()
    return round(int.from_bytes(digest[:8], "big") / 2**64, 3)


def photo_sizes(url: str) -> dict[str, str]:
    """Return the URLs of the derived sizes: `.../room.jpg` -> `.../room_thumb.jpg`, ..."""
    parts = urlsplit(url)
    stem, extension = posixpath.splitext(parts.path)
    return {
        size: urlunsplit((parts.scheme, parts.netloc, f"{stem}_{size}{extension}", "", ""))
        for size in PHOTO_SIZES
    }


def process_photos(job_input: PhotosInput) -> dict[str, Any]:
    """Return the `photos` result: each photo processed or rejected, in input order.

    `count` is the number of processed photos.
    """
    processed: list[dict[str, Any]] = []
    rejected: list[dict[str, str]] = []
    for photo in job_input.photos:
        problem = photo_problem(photo.url)
        if problem is not None:
            rejected.append({"url": photo.url, "reason": problem})
            continue
        processed.append(
            {
                "url": photo.url,
                "room": photo.room,
                "quality": photo_quality(photo.url),
                "sizes": photo_sizes(photo.url),
            }
        )
    return {"processed": processed, "rejected": rejected, "count": len(processed)}


# --- descriptions ---------------------------------------------------------------------


def describe_in(language: str, source_language: str, text: str) -> str:
    """Return the text in `language`: a marked copy, no translation service involved."""
    if language == source_language:
        return text
    return f"[{language}] {text}"


def describe(job_input: DescriptionsInput) -> dict[str, Any]:
    """Return the `descriptions` result: one text per requested language."""
    return {
        "texts": {
            language: describe_in(language, job_input.source_language, job_input.text)
            for language in job_input.languages
        }
    }


# --- calendar -------------------------------------------------------------------------


@dataclass(frozen=True)
class CalendarRow:
    """One row of `platform.availability_calendar`."""

    room_type_id: int
    day: date
    available_units: int
    rate: Decimal
    currency: str


def nightly_rate(base_rate: Decimal, day: date) -> Decimal:
    """Return the rate of the night starting on `day`: 15% more on Friday and Saturday."""
    rate = base_rate * WEEKEND_SURCHARGE if day.weekday() in WEEKEND_NIGHTS else base_rate
    return rate.quantize(CENT, rounding=ROUND_HALF_UP)


def calendar_days(job_input: CalendarInput) -> list[date]:
    """Return the days the calendar covers, from `start_date`, `days` of them."""
    return [job_input.start_date + timedelta(days=offset) for offset in range(job_input.days)]


def calendar_rows(job_input: CalendarInput) -> list[CalendarRow]:
    """Return every calendar row: each room type on each day, all units available."""
    days = calendar_days(job_input)
    rows: list[CalendarRow] = []
    for room in job_input.room_types:
        base_rate = Decimal(room.base_rate)
        rows.extend(
            CalendarRow(
                room_type_id=room.room_type_id,
                day=day,
                available_units=room.unit_count,
                rate=nightly_rate(base_rate, day),
                currency=job_input.currency,
            )
            for day in days
        )
    return rows


def calendar_result(job_input: CalendarInput) -> dict[str, Any]:
    """Return the `calendar` result: how many rows the job wrote, and the days they span."""
    last_day = job_input.start_date + timedelta(days=job_input.days - 1)
    return {
        "rows": len(job_input.room_types) * job_input.days,
        "first_day": job_input.start_date.isoformat(),
        "last_day": last_day.isoformat(),
    }
