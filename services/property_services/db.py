"""A small pool of async PostgreSQL connections (no pool library is installed).

Connections are autocommit; code that needs a transaction opens one explicitly. A
connection that comes back broken, closed or inside a transaction is closed instead of
being reused, so one failed request cannot poison the next.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TypeAlias

import psycopg
from psycopg.pq import TransactionStatus
from psycopg.rows import DictRow, dict_row

logger = logging.getLogger(__name__)

Conn: TypeAlias = psycopg.AsyncConnection[DictRow]

CONNECT_TIMEOUT_SECONDS = 5


class Pool:
    """At most `size` open connections to the database at `url`, reused."""

    def __init__(self, url: str, size: int, name: str) -> None:
        self._url = url
        self._name = name
        self._slots = asyncio.Semaphore(size)
        self._idle: list[Conn] = []
        self._closed = False

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[Conn]:
        """Lend a connection for the duration of the block."""
        async with self._slots:
            conn = await self._take()
            try:
                yield conn
            finally:
                await self._give_back(conn)

    async def _take(self) -> Conn:
        while self._idle:
            conn = self._idle.pop()
            if not conn.closed:
                return conn
        return await psycopg.AsyncConnection.connect(
            self._url,
            autocommit=True,
            row_factory=dict_row,
            connect_timeout=CONNECT_TIMEOUT_SECONDS,
            application_name=f"property-services ({self._name})",
        )

    async def _give_back(self, conn: Conn) -> None:
        reusable = (
            not self._closed
            and not conn.closed
            and not conn.broken
            and conn.info.transaction_status == TransactionStatus.IDLE
        )
        if reusable:
            self._idle.append(conn)
        else:
            await conn.close()

    async def close(self) -> None:
        """Close the idle connections; lent ones are closed when they come back."""
        self._closed = True
        idle, self._idle = self._idle, []
        for conn in idle:
            await conn.close()
        logger.debug("closed %d idle connections of the %s pool", len(idle), self._name)
