"""Injected faults: off unless asked for, at the rate asked for, clearly refused otherwise."""

from __future__ import annotations

import random

import pytest

from include.property_builder.chaos import FAULT_RATE_ENV, fault_rate, maybe_fail
from include.property_builder.errors import InjectedFault, TransientError


def test_no_rate_means_no_faults() -> None:
    assert fault_rate({}) == 0.0
    assert fault_rate({FAULT_RATE_ENV: " "}) == 0.0
    for _ in range(1000):
        maybe_fail("store_address", 0.0)


def test_the_rate_is_the_share_of_failed_steps() -> None:
    rng = random.Random(7)
    failed = 0
    for _ in range(10_000):
        try:
            maybe_fail("store_address", 0.05, rng)
        except InjectedFault as err:
            failed += 1
            assert isinstance(err, TransientError)  # retried like any transient fault
            assert "store_address" in str(err) and FAULT_RATE_ENV in str(err)
    assert 400 < failed < 600


@pytest.mark.parametrize("raw", ["often", "-0.1", "1.5"])
def test_a_rate_that_is_not_a_probability_is_refused(raw: str) -> None:
    with pytest.raises(ValueError, match=f"{FAULT_RATE_ENV}='{raw}' is not a number from 0 to 1"):
        fault_rate({FAULT_RATE_ENV: raw})
