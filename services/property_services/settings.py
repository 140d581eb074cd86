"""The service's settings, read from the environment (the table in API.md)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from services.property_services.faults import Faults, FaultsError

DEFAULT_CONCURRENCY = 4


class SettingsError(ValueError):
    """Raised when the environment lacks a required setting or holds an invalid one."""


@dataclass(frozen=True)
class Settings:
    """Everything the service needs to run. Secrets stay out of `repr`."""

    token: str = field(repr=False)
    db_url: str = field(repr=False)
    platform_db_url: str = field(repr=False)
    concurrency: int = DEFAULT_CONCURRENCY
    faults: Faults = field(default_factory=Faults)
    # How often the worker looks for queued jobs it was not told about (another
    # process's, or re-queued ones); jobs posted here wake it at once.
    poll_seconds: float = 0.1

    def __post_init__(self) -> None:
        if not self.token:
            raise SettingsError("the bearer token must not be empty")
        if self.concurrency < 1:
            raise SettingsError("the concurrency must be at least 1")

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Settings:
        """Return the settings in `environ` (usually `os.environ`).

        Raises:
            SettingsError: a required variable is missing or a value is invalid.
        """
        token = environ.get("PROPERTY_SERVICES_TOKEN", "")
        if not token:
            raise SettingsError("PROPERTY_SERVICES_TOKEN is not set (the clients' bearer token)")
        db_url = environ.get("PROPERTY_SERVICES_DB_URL", "")
        if not db_url:
            raise SettingsError(
                "PROPERTY_SERVICES_DB_URL is not set (PostgreSQL URL for the service's tables)"
            )
        raw_concurrency = environ.get("PROPERTY_SERVICES_CONCURRENCY", str(DEFAULT_CONCURRENCY))
        try:
            concurrency = int(raw_concurrency)
        except ValueError:
            raise SettingsError(
                f"PROPERTY_SERVICES_CONCURRENCY must be a whole number, not {raw_concurrency!r}"
            ) from None
        if concurrency < 1:
            raise SettingsError("PROPERTY_SERVICES_CONCURRENCY must be at least 1")
        raw_faults = environ.get("PROPERTY_SERVICES_FAULTS", "")
        try:
            faults = Faults.from_json(raw_faults) if raw_faults.strip() else Faults()
        except FaultsError as err:
            raise SettingsError(f"PROPERTY_SERVICES_FAULTS: {err}") from None
        return cls(
            token=token,
            db_url=db_url,
            platform_db_url=environ.get("PROPERTY_SERVICES_PLATFORM_DB_URL") or db_url,
            concurrency=concurrency,
            faults=faults,
        )
