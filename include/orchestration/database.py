"""The platform database as build tasks reach it: the `property_db` connection, one
transaction per step, and driver errors sorted into transient and permanent.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from include.property_builder.errors import DatabaseRejected, TransientError

if TYPE_CHECKING:
    import psycopg

PROPERTY_DB_CONN_ID = "property_db"


@contextmanager
def platform_transaction() -> Iterator[psycopg.Connection[Any]]:
    """Yield a connection inside one transaction; commit on success, roll back on error.

    Raises:
        TransientError: the database was unreachable, dropped the connection or timed out.
        DatabaseRejected: the database refused the data or the statement itself.
    """
    import psycopg
    from airflow.providers.postgres.hooks.postgres import PostgresHook

    timeout_ms = int(os.environ.get("PROPERTY_BUILDER_STATEMENT_TIMEOUT_MS", 60_000))
    try:
        conn = PostgresHook(postgres_conn_id=PROPERTY_DB_CONN_ID).get_conn()
        if not isinstance(conn, psycopg.Connection):
            raise TypeError("the postgres provider must use psycopg 3 (with SQLAlchemy 2)")
        try:
            with conn.transaction():
                conn.execute("SELECT set_config('statement_timeout', %s, true)", (str(timeout_ms),))
                yield conn
        finally:
            conn.close()
    # `from None`: the driver's error carries PostgreSQL's DETAIL, which may quote a whole
    # row (emails, phones, IBANs), and a chained cause is printed with the traceback.
    except (psycopg.OperationalError, psycopg.InterfaceError) as err:
        raise TransientError(f"platform database unavailable: {_summary(err)}") from None
    except (psycopg.DataError, psycopg.IntegrityError, psycopg.ProgrammingError) as err:
        raise DatabaseRejected(f"platform database refused the step: {_summary(err)}") from None


def _summary(err: psycopg.Error) -> str:
    """Describe a driver error by its class, SQLSTATE, primary message and the object named."""
    diag = err.diag
    primary = diag.message_primary or (str(err).splitlines() or [""])[0]
    where = ", ".join(
        f"{label}={value}"
        for label, value in (
            ("table", diag.table_name),
            ("column", diag.column_name),
            ("constraint", diag.constraint_name),
        )
        if value
    )
    state = f" [{diag.sqlstate}]" if diag.sqlstate else ""
    return f"{type(err).__name__}{state}: {primary}" + (f" ({where})" if where else "")
