"""The sign-up tool's client for PropertyBuilder: Airflow's REST API only, nothing of the DAG."""

from include.signup_client.client import (
    RunStatus,
    SignupClient,
    SignupClientError,
    StepState,
    SubmissionConflict,
    SubmissionRejected,
)

__all__ = [
    "RunStatus",
    "SignupClient",
    "SignupClientError",
    "StepState",
    "SubmissionConflict",
    "SubmissionRejected",
]
