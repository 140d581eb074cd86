"""The platform database's schema: versioned SQL migrations and the command that applies them.

Run once before builds start, never by a build:

    python -m include.property_builder.db migrate [--url postgresql://...]

The URL defaults to `PROPERTY_DB_URL`, then to `AIRFLOW_CONN_PROPERTY_DB` (the URI form
of the `property_db` connection). Each migration runs in its own transaction under an
advisory lock, so two migrators at once apply each file exactly once.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import psycopg

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
# An arbitrary constant that names "the migration lock" among advisory locks.
_MIGRATION_LOCK = 0x50420001


def migration_files() -> list[Path]:
    """Return the migration files in the order they apply."""
    return sorted(MIGRATIONS_DIR.glob("[0-9][0-9][0-9][0-9]_*.sql"))


def migrate(conn: psycopg.Connection) -> list[str]:
    """Apply every migration not yet applied; return the versions applied now."""
    applied_now: list[str] = []
    conn.autocommit = True
    conn.execute("SELECT pg_advisory_lock(%s)", (_MIGRATION_LOCK,))
    try:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS public.schema_migrations ("
            " version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        done = {row[0] for row in conn.execute("SELECT version FROM public.schema_migrations")}
        for path in migration_files():
            version = path.stem
            if version in done:
                continue
            with conn.transaction():
                conn.execute(path.read_text(encoding="utf-8"))
                conn.execute(
                    "INSERT INTO public.schema_migrations (version) VALUES (%s)", (version,)
                )
            log.info("migration applied version=%s", version)
            applied_now.append(version)
    finally:
        conn.execute("SELECT pg_advisory_unlock(%s)", (_MIGRATION_LOCK,))
    return applied_now


def database_url(explicit: str | None = None) -> str:
    """Return the platform database URL from the argument or the environment."""
    url = (
        explicit or os.environ.get("PROPERTY_DB_URL") or os.environ.get("AIRFLOW_CONN_PROPERTY_DB")
    )
    if not url:
        raise SystemExit(
            "no database given: pass --url or set PROPERTY_DB_URL (or AIRFLOW_CONN_PROPERTY_DB)"
        )
    return url.replace("postgres://", "postgresql://", 1)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line: `migrate`."""
    import psycopg

    parser = argparse.ArgumentParser(prog="python -m include.property_builder.db")
    parser.add_argument("command", choices=["migrate"])
    parser.add_argument("--url", help="platform database URL (default: $PROPERTY_DB_URL)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s %(message)s")

    with psycopg.connect(database_url(args.url), connect_timeout=10) as conn:
        applied = migrate(conn)
    print(f"platform database migrated: {len(applied)} applied, {len(migration_files())} known")
    return 0


if __name__ == "__main__":
    sys.exit(main())
