"""Transient faults injected on purpose, for benchmarks and chaos drills; off by default.

`PROPERTY_BUILDER_FAULT_RATE` (a probability from 0 to 1, read when each step runs) makes
that share of step runs fail with `InjectedFault`, a `TransientError`, before the step
touches the database: the DAG's retry policy and the benchmark's legacy monolith then
meet the same faults.
"""

from __future__ import annotations

import os
import random

from include.property_builder.errors import InjectedFault

FAULT_RATE_ENV = "PROPERTY_BUILDER_FAULT_RATE"


def fault_rate(environ: dict[str, str] | None = None) -> float:
    """Return the configured fault rate (0 when unset); raise ValueError if it is not one."""
    raw = (os.environ if environ is None else environ).get(FAULT_RATE_ENV, "").strip()
    if not raw:
        return 0.0
    try:
        rate = float(raw)
    except ValueError:
        raise ValueError(f"{FAULT_RATE_ENV}={raw!r} is not a number from 0 to 1") from None
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"{FAULT_RATE_ENV}={raw!r} is not a number from 0 to 1")
    return rate


def maybe_fail(step: str, rate: float | None = None, rng: random.Random | None = None) -> None:
    """Raise InjectedFault for `step` with probability `rate` (default: the environment's)."""
    rate = fault_rate() if rate is None else rate
    if rate > 0 and (rng or random).random() < rate:
        raise InjectedFault(f"injected transient fault in {step} ({FAULT_RATE_ENV}={rate})")
