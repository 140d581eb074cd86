"""The exceptions of PropertyBuilder's business code.

`PermanentError` and its subclasses mean that retrying cannot help: the DAG's retry
policy fails the task at once. Anything else (a dropped database connection, a timeout)
is treated as transient and retried with backoff.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One broken rule of a submission, named by the field's path."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


class PermanentError(Exception):
    """Raised when a step cannot succeed however often it is retried."""


class InvalidSubmission(PermanentError):
    """Raised when a submission breaks the contract; lists every problem by field path."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = tuple(problems)
        listed = "; ".join(str(problem) for problem in self.problems)
        super().__init__(f"invalid submission ({len(self.problems)} problems): {listed}")


class SubmissionConflict(PermanentError):
    """Raised when a submission id arrives again with different content."""


class DuplicateProperty(PermanentError):
    """Raised when the partner already registered a property at the same address."""


class BuildStateError(PermanentError):
    """Raised when a step finds data an earlier step should have written missing."""


class TransientError(Exception):
    """Raised when a step hit a fault that a later retry may clear (a dropped connection)."""


class DatabaseRejected(PermanentError):
    """Raised when the platform database refuses a write as invalid, not as unavailable."""


class InjectedFault(TransientError):
    """Raised when a chaos drill or a benchmark injects a transient fault into a step."""
