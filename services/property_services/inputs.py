"""What clients send: the job request body and the input of each job kind, validated.

Validation is strict on types (no "5" for 5, no number for a rate string) and refuses
unknown fields, so that a client's mistake is a 422 here rather than a surprise later.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Literal, TypeAlias

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator

Kind: TypeAlias = Literal["photos", "descriptions", "calendar"]
KINDS: tuple[Kind, ...] = ("photos", "descriptions", "calendar")

MAX_RATE = Decimal("100000000")  # 15% more still fits numeric(12, 2)
CENT = Decimal("0.01")
MAX_BIGINT = 2**63 - 1


class InputError(ValueError):
    """Raised when a request body or a job input is malformed for its kind."""


def _check_rate(value: str) -> str:
    try:
        rate = Decimal(value)
    except InvalidOperation:
        raise ValueError("must be a decimal number written as a string, e.g. '179.00'") from None
    if not rate.is_finite() or rate < 0 or rate >= MAX_RATE:
        raise ValueError(f"must be at least 0 and below {MAX_RATE}")
    if rate != rate.quantize(CENT):
        raise ValueError("must have at most 2 decimals")
    return value


LanguageCode = Annotated[str, Field(pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$")]
RateString = Annotated[str, AfterValidator(_check_rate)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class JobRequest(_Strict):
    """The body of `POST /jobs/{kind}`."""

    idempotency_key: str = Field(min_length=1, max_length=200)
    input: dict[str, Any]


class PhotoIn(_Strict):
    """One photo to process; its URL is checked by the job, not here."""

    url: str = Field(max_length=2048)
    caption: str | None = None
    room: str | None = None


class PhotosInput(_Strict):
    """The input of a `photos` job."""

    photos: list[PhotoIn] = Field(max_length=1000)


class DescriptionsInput(_Strict):
    """The input of a `descriptions` job."""

    source_language: LanguageCode
    text: str = Field(max_length=100_000)
    languages: list[LanguageCode] = Field(max_length=200)


class RoomTypeIn(_Strict):
    """One room type of a `calendar` job."""

    room_type_id: int = Field(ge=1, le=MAX_BIGINT)
    unit_count: int = Field(ge=0, le=100_000)
    base_rate: RateString


class CalendarInput(_Strict):
    """The input of a `calendar` job."""

    property_id: int = Field(ge=1, le=MAX_BIGINT)
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    start_date: date
    days: int = Field(ge=1, le=1096)
    room_types: list[RoomTypeIn] = Field(max_length=1000)

    @model_validator(mode="after")
    def _room_types_are_unique(self) -> CalendarInput:
        ids = [room.room_type_id for room in self.room_types]
        if len(set(ids)) != len(ids):
            raise ValueError("room_types: each room_type_id may appear only once")
        return self


JobInput: TypeAlias = PhotosInput | DescriptionsInput | CalendarInput

INPUT_MODELS: dict[Kind, type[PhotosInput] | type[DescriptionsInput] | type[CalendarInput]] = {
    "photos": PhotosInput,
    "descriptions": DescriptionsInput,
    "calendar": CalendarInput,
}


def parse_request(raw: bytes) -> JobRequest:
    """Return the validated body of a job request.

    Raises:
        InputError: the body is not JSON or not of the documented shape.
    """
    try:
        return JobRequest.model_validate_json(raw)
    except ValidationError as err:
        raise InputError(f"malformed request body: {_describe(err)}") from None


def parse_input(kind: Kind, data: Mapping[str, Any]) -> JobInput:
    """Return the validated input of a `kind` job.

    The input goes through JSON again so that it is judged exactly as a client's JSON
    would be (a date is a "YYYY-MM-DD" string, whether it comes from a request or from
    the job table).

    Raises:
        InputError: the input is malformed for `kind`.
    """
    try:
        return INPUT_MODELS[kind].model_validate_json(json.dumps(data))
    except ValidationError as err:
        raise InputError(f"malformed {kind} input: {_describe(err, prefix='input')}") from None


def normalized(job_input: JobInput) -> dict[str, Any]:
    """Return the input as stored: every field present, so equal inputs compare equal."""
    return job_input.model_dump(mode="json")


def _describe(err: ValidationError, prefix: str = "", limit: int = 5) -> str:
    problems = []
    for item in err.errors()[:limit]:
        path = ".".join(str(part) for part in (prefix, *item["loc"]) if part != "")
        problems.append(f"{path or 'body'}: {item['msg']}")
    more = err.error_count() - limit
    if more > 0:
        problems.append(f"and {more} more")
    return "; ".join(problems)
