"""Run one build step as an Airflow task: load the submission, open the transaction, log.

Task bodies in the DAG file are one call to `run_step` or `validate_step`. This module
imports Airflow and the database driver only inside its functions, so importing it
costs the DAG file nothing at parse time.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from include.property_builder.errors import PermanentError, TransientError

if TYPE_CHECKING:
    from include.property_builder.contract import Submission

log = logging.getLogger(__name__)

T = TypeVar("T")


def _submission_conf(context: Mapping[str, Any] | None = None) -> Mapping[str, Any]:
    if context is None:
        from airflow.sdk import get_current_context

        context = get_current_context()
    dag_run = context.get("dag_run")
    conf = getattr(dag_run, "conf", None) or context["params"]
    return dict(conf)


def submission_from_context(context: Mapping[str, Any]) -> Submission:
    """Return the run's (already validated) submission, its personal data masked in logs."""
    from include.property_builder.contract import load_submission

    conf = _submission_conf(context)
    _mask_personal_data(conf)
    return load_submission(conf)


def _mask_personal_data(conf: Mapping[str, Any]) -> None:
    """Have Airflow redact the partner's personal data from everything this task logs."""
    from airflow.sdk.log import mask_secret

    from include.property_builder.contract import load_submission
    from include.property_builder.masking import personal_values

    try:
        values = personal_values(load_submission(conf))
    except (KeyError, TypeError, ValueError, AttributeError):
        values = []
    contact = conf.get("partner", {}).get("contact", {}) if isinstance(conf, Mapping) else {}
    raw = [contact.get("email"), contact.get("phone"), conf.get("payout", {}).get("iban")]
    for value in {*values, *(v for v in raw if isinstance(v, str) and v)}:
        mask_secret(value)


def validate_step() -> str:
    """Check the run's submission against the contract; return its id.

    Raises:
        InvalidSubmission: listing every problem by field path; never retried.
    """
    from include.property_builder.contract import parse_submission
    from include.property_builder.errors import InvalidSubmission
    from include.property_builder.masking import mask_email, mask_iban, mask_phone

    conf = _submission_conf()
    _mask_personal_data(conf)
    submission_id = conf.get("submission_id")
    try:
        submission = parse_submission(conf)
    except InvalidSubmission as err:
        log.error(
            "step=validate_submission outcome=rejected submission_id=%s problems=%d: %s",
            submission_id,
            len(err.problems),
            err,
        )
        raise
    log.info(
        "step=validate_submission outcome=succeeded submission_id=%s rooms=%d photos=%d"
        " contact=%s phone=%s iban=%s",
        submission.submission_id,
        len(submission.rooms),
        len(submission.photos),
        mask_email(submission.partner.contact.email),
        mask_phone(submission.partner.contact.phone),
        mask_iban(submission.payout.iban),
    )
    return submission.submission_id


def run_step(step: Callable[..., T], /, **ids: Any) -> T:
    """Run `step(conn, submission, **ids)` in one platform-database transaction.

    Logs one line for the outcome with the submission and property ids. Transient faults
    and permanent errors propagate as they are, for the retry policy to sort.
    """
    from include.orchestration.database import platform_transaction
    from include.property_builder.chaos import maybe_fail
    from include.property_builder.contract import load_submission

    conf = _submission_conf()
    _mask_personal_data(conf)
    submission = load_submission(conf)
    name = step.__name__
    property_id = ids.get("property_id")
    started = time.monotonic()
    try:
        maybe_fail(name)
        with platform_transaction() as conn:
            result = step(conn, submission, **ids)
    except (PermanentError, TransientError) as err:
        outcome = "failed_permanently" if isinstance(err, PermanentError) else "transient_fault"
        log.error(
            "step=%s outcome=%s submission_id=%s property_id=%s error=%s: %s",
            name,
            outcome,
            submission.submission_id,
            property_id,
            type(err).__name__,
            err,
        )
        raise
    if name == "create_property_record":
        property_id = result
    log.info(
        "step=%s outcome=succeeded submission_id=%s property_id=%s duration_ms=%d result=%s",
        name,
        submission.submission_id,
        property_id,
        (time.monotonic() - started) * 1000,
        result,
    )
    return result


def plan_step(step: Callable[..., T], /) -> T:
    """Run a step that only reads the submission (no database), and log its outcome."""
    from include.property_builder.contract import load_submission

    submission = load_submission(_submission_conf())
    result = step(submission)
    log.info(
        "step=%s outcome=succeeded submission_id=%s result=%s",
        step.__name__,
        submission.submission_id,
        result,
    )
    return result
