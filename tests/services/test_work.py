"""What the jobs compute, as plain functions: photo checks, rates and calendar rows."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from services.property_services.inputs import CalendarInput, parse_input
from services.property_services.work import (
    calendar_result,
    calendar_rows,
    nightly_rate,
    photo_problem,
    photo_quality,
    photo_sizes,
)
from tests.services.support import calendar_input


@pytest.mark.parametrize(
    "url",
    [
        "https://photos.example/a.jpg",
        "http://photos.example/a/b.jpeg",
        "https://photos.example/a.PNG",
        "https://photos.example:8443/a.webp?v=2",
    ],
)
def test_good_photo_urls(url: str) -> None:
    assert photo_problem(url) is None


@pytest.mark.parametrize(
    "url",
    [
        "ftp://photos.example/a.jpg",
        "https:///a.jpg",
        "https://photos.example/a.gif",
        "https://photos.example/a.jpg/",
        "a.jpg",
        "https://[::1/a.jpg",
    ],
)
def test_bad_photo_urls(url: str) -> None:
    assert photo_problem(url)


def test_quality_is_a_fixed_score_in_range() -> None:
    scores = [photo_quality(f"https://photos.example/{n}.jpg") for n in range(200)]

    assert all(0.0 <= score <= 1.0 for score in scores)
    assert len(set(scores)) > 100  # it depends on the URL
    assert photo_quality("https://photos.example/7.jpg") == scores[7]


def test_sizes_keep_host_and_extension() -> None:
    assert photo_sizes("https://photos.example/h/room.jpg?v=1") == {
        "thumb": "https://photos.example/h/room_thumb.jpg",
        "medium": "https://photos.example/h/room_medium.jpg",
        "large": "https://photos.example/h/room_large.jpg",
    }


@pytest.mark.parametrize(
    ("day", "rate"),
    [
        (date(2026, 12, 3), Decimal("100.00")),  # Thursday
        (date(2026, 12, 4), Decimal("115.00")),  # Friday
        (date(2026, 12, 5), Decimal("115.00")),  # Saturday
        (date(2026, 12, 6), Decimal("100.00")),  # Sunday
    ],
)
def test_friday_and_saturday_nights_cost_fifteen_percent_more(day: date, rate: Decimal) -> None:
    assert nightly_rate(Decimal("100"), day) == rate


def test_rates_round_half_up_to_cents() -> None:
    # 10.10 * 1.15 = 11.615
    assert nightly_rate(Decimal("10.10"), date(2026, 12, 4)) == Decimal("11.62")


def test_calendar_rows_cover_each_room_type_each_day() -> None:
    job_input = parse_input("calendar", calendar_input(days=3))
    assert isinstance(job_input, CalendarInput)

    rows = calendar_rows(job_input)

    assert [(row.room_type_id, row.day.day) for row in rows] == [
        (101, 3),
        (101, 4),
        (101, 5),
        (102, 3),
        (102, 4),
        (102, 5),
    ]
    assert {row.currency for row in rows} == {"EUR"}
    assert [row.available_units for row in rows] == [8, 8, 8, 4, 4, 4]
    assert calendar_result(job_input) == {
        "rows": 6,
        "first_day": "2026-12-03",
        "last_day": "2026-12-05",
    }


def test_a_calendar_spans_the_turn_of_the_year() -> None:
    job_input = parse_input("calendar", calendar_input(days=40))
    assert isinstance(job_input, CalendarInput)

    assert calendar_result(job_input)["last_day"] == "2027-01-11"
