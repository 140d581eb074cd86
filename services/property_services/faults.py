"""Fault and latency controls: the settings (`PUT /admin/faults`) and their live state.

The live state belongs to one service process and is only touched from its event loop,
so it needs no lock: no method awaits between reading and updating it.
"""

from __future__ import annotations

import random
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from services.property_services.inputs import KINDS, Kind
from services.property_services.work import JobError

Rate = Annotated[float, Field(ge=0.0, le=1.0)]
Seconds = Annotated[float, Field(ge=0.0, le=3600.0)]
Count = Annotated[int, Field(ge=0)]


class FaultsError(ValueError):
    """Raised when fault settings are not of the documented shape."""


class Faults(BaseModel):
    """The fault settings, all off by default; a missing field takes its default."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    job_delay_seconds: dict[Kind, Seconds] = Field(
        default_factory=lambda: dict.fromkeys(KINDS, 0.0)
    )
    http_503_rate: Rate = 0.0
    http_hang_rate: Rate = 0.0
    hang_seconds: Seconds = 30.0
    transient_job_failures: dict[Kind, Count] = Field(default_factory=dict)
    permanent_job_failures: dict[Kind, Count] = Field(default_factory=dict)
    reject_kinds: list[Kind] = Field(default_factory=list)
    seed: int = 0

    @field_validator("job_delay_seconds")
    @classmethod
    def _every_kind_has_a_delay(cls, value: dict[Kind, float]) -> dict[Kind, float]:
        return {kind: value.get(kind, 0.0) for kind in KINDS}

    @classmethod
    def from_json(cls, raw: str | bytes) -> Faults:
        """Return the settings in the JSON document `raw`.

        Raises:
            FaultsError: `raw` is not JSON or not of the documented shape.
        """
        try:
            return cls.model_validate_json(raw)
        except ValidationError as err:
            problems = "; ".join(
                f"{'.'.join(str(part) for part in item['loc']) or 'body'}: {item['msg']}"
                for item in err.errors()[:5]
            )
            raise FaultsError(f"malformed fault settings: {problems}") from None


class FaultState:
    """The faults in force: the last settings given, minus the job failures already used."""

    def __init__(self, faults: Faults) -> None:
        self.replace(faults)

    def replace(self, faults: Faults) -> None:
        """Put `faults` in force, with fresh failure counts and random draws from its seed."""
        self._faults = faults
        self._transient = dict(faults.transient_job_failures)
        self._permanent = dict(faults.permanent_job_failures)
        self._random = random.Random(faults.seed)

    def current(self) -> Faults:
        """Return the settings in force, with the failures still to come."""
        return self._faults.model_copy(
            update={
                "transient_job_failures": dict(self._transient),
                "permanent_job_failures": dict(self._permanent),
            }
        )

    def _draw(self, rate: float) -> bool:
        # A rate of 0 draws nothing, so that the sequence of one fault does not depend
        # on whether another is switched on.
        return rate > 0.0 and self._random.random() < rate

    def hang_seconds(self) -> float:
        """Draw for one job request: how long it waits before being handled (often 0)."""
        return self._faults.hang_seconds if self._draw(self._faults.http_hang_rate) else 0.0

    def answers_503(self) -> bool:
        """Draw for one job request: whether it answers 503."""
        return self._draw(self._faults.http_503_rate)

    def rejects(self, kind: Kind) -> bool:
        """Return whether `POST /jobs/{kind}` answers 422."""
        return kind in self._faults.reject_kinds

    def job_delay(self, kind: Kind) -> float:
        """Return how long a `kind` job run waits before doing its work."""
        return self._faults.job_delay_seconds.get(kind, 0.0)

    def take_job_failure(self, kind: Kind) -> JobError | None:
        """Use up one injected failure of a `kind` job run, transient ones first, if any."""
        for counts, code, permanent in (
            (self._transient, "injected_transient", False),
            (self._permanent, "injected_permanent", True),
        ):
            if counts.get(kind, 0) > 0:
                counts[kind] -= 1
                kind_of = "permanent" if permanent else "transient"
                return JobError(code, f"injected {kind_of} failure of a {kind} job", permanent)
        return None
