"""Masks for the partner's personal data, for anything that may reach a log.

Each mask keeps just enough to tell two values apart on a call at 3 a.m.
"""

from __future__ import annotations

from include.property_builder.contract import Submission


def mask_email(email: str) -> str:
    """Return `s***@g***.example` for `sanne@grachtenhuis.example`."""
    local, _, domain = email.rpartition("@")
    host, _, tld = domain.rpartition(".")
    return f"{local[:1]}***@{host[:1]}***.{tld}"


def mask_phone(phone: str) -> str:
    """Return the country prefix and last two digits: `+31*******78`."""
    return phone[:3] + "*" * max(len(phone) - 5, 0) + phone[-2:]


def mask_iban(iban: str) -> str:
    """Return the country and last four characters: `NL**************4300`."""
    compact = "".join(iban.split())
    return compact[:2] + "*" * max(len(compact) - 6, 0) + compact[-4:]


def personal_values(submission: Submission) -> list[str]:
    """Return every form of the submission's personal data that could be logged."""
    contact, iban = submission.partner.contact, submission.payout.iban
    spaced_iban = " ".join(iban[i : i + 4] for i in range(0, len(iban), 4))
    return [contact.email, contact.phone, iban, spaced_iban, iban.lower()]
