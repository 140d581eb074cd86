"""How build tasks retry: transient faults back off and retry, permanent ones fail at once.

Uses Airflow 3.3's `retry_policy`: the policy sees the real exception in the worker and
decides. The database glue turns driver errors into our own `TransientError` and
`PermanentError`, so the rules name only light classes and parsing the DAG file imports
no database driver.
"""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any

PERMANENT = ["include.property_builder.errors.PermanentError"]
TRANSIENT = [
    "include.property_builder.errors.TransientError",
    "builtins.ConnectionError",
    "builtins.TimeoutError",
]


def _seconds(name: str, default: float) -> timedelta:
    return timedelta(seconds=float(os.environ.get(name, default)))


def step_retry_policy() -> Any:
    """Return the retry policy every build task uses."""
    from airflow.sdk import ExceptionRetryPolicy, RetryAction, RetryRule

    return ExceptionRetryPolicy(
        rules=[
            RetryRule(
                exception=list(PERMANENT),
                action=RetryAction.FAIL,
                reason="permanent error: bad data or a business rule, retrying cannot help",
            ),
            RetryRule(
                exception=list(TRANSIENT),
                action=RetryAction.RETRY,
                reason="transient fault: retrying with backoff",
            ),
        ],
        default=RetryAction.DEFAULT,
    )


def default_task_args() -> dict[str, Any]:
    """Return the retry and timeout settings every build task starts from.

    Tunable from the environment (read when the DAG file is parsed):
    `PROPERTY_BUILDER_RETRIES`, `PROPERTY_BUILDER_RETRY_DELAY_SECONDS`,
    `PROPERTY_BUILDER_MAX_RETRY_DELAY_SECONDS`.
    """
    return {
        "owner": "property-onboarding",
        "retries": int(os.environ.get("PROPERTY_BUILDER_RETRIES", 4)),
        "retry_delay": _seconds("PROPERTY_BUILDER_RETRY_DELAY_SECONDS", 10),
        "retry_exponential_backoff": 2.0,
        "max_retry_delay": _seconds("PROPERTY_BUILDER_MAX_RETRY_DELAY_SECONDS", 300),
        "execution_timeout": timedelta(minutes=10),
        "retry_policy": step_retry_policy(),
    }
