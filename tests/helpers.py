"""Helpers shared by the tests: submission variations and database snapshots."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

PERSONAL = ("sanne@grachtenhuis.example", "+31612345678", "NL91ABNA0417164300")


def variant(example: dict[str, Any], change: Callable[[dict[str, Any]], object]) -> dict[str, Any]:
    """Return a deep copy of `example` with `change` applied to it."""
    copied = copy.deepcopy(example)
    change(copied)
    return copied


def snapshot(conn: Any) -> dict[str, list[tuple[Any, ...]]]:
    """Return every row of every platform table, in a stable order."""
    tables = [
        row[0]
        for row in conn.execute(
            "SELECT format('%I.%I', schemaname, tablename) FROM pg_tables"
            " WHERE schemaname = 'platform' ORDER BY 1"
        )
    ]
    return {
        table: sorted(
            (tuple(row) for row in conn.execute(f"SELECT * FROM {table}")),  # type: ignore[arg-type]
            key=repr,
        )
        for table in tables
    }


def row_counts(conn: Any) -> dict[str, int]:
    """Return how many rows each platform table holds."""
    return {table: len(rows) for table, rows in snapshot(conn).items()}
