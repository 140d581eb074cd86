"""A private, throwaway PostgreSQL cluster built from the server binaries on this machine.

Tests and the local stack start their own cluster rather than rely on a shared server,
so that a fresh machine and CI behave alike. Debian keeps the binaries in a versioned
folder off PATH (`/usr/lib/postgresql/<version>/bin`): `find_pg_bin` looks there, then
on PATH, and `PG_BIN` overrides both.

    python -m include.devstack.postgres check     # one line: found, or how to install
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

INSTALL_HINT = (
    "PostgreSQL server binaries (initdb, pg_ctl) not found: install them with "
    "`apt-get install postgresql` (or set PG_BIN to their folder), "
    "or point the tests at a server with PROPERTY_BUILDER_TEST_PG_URL"
)


class PostgresUnavailable(RuntimeError):
    """Raised when no PostgreSQL server binaries can be found or the cluster will not start."""


def find_pg_bin(
    versioned_root: Path = Path("/usr/lib/postgresql"), search_path: str | None = None
) -> Path:
    """Return the folder holding `initdb` and `pg_ctl`: `$PG_BIN`, the newest versioned
    folder under `versioned_root`, then `search_path` (default: `$PATH`).

    Raises:
        PostgresUnavailable: with one line saying how to install them.
    """
    override = os.environ.get("PG_BIN")
    candidates = [Path(override)] if override else []
    versioned = versioned_root.glob("*/bin")
    candidates += sorted(versioned, key=lambda p: _version(p.parent.name), reverse=True)
    on_path = shutil.which("initdb", path=search_path)
    if on_path:
        candidates.append(Path(on_path).parent)
    for folder in candidates:
        if (folder / "initdb").is_file() and (folder / "pg_ctl").is_file():
            return folder
    raise PostgresUnavailable(INSTALL_HINT)


def _version(name: str) -> tuple[int, ...]:
    return tuple(int(part) for part in name.split(".") if part.isdigit())


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class LocalPostgres:
    """A cluster in `data_dir`, listening on 127.0.0.1:`port` only, trust auth for `postgres`.

    PostgreSQL refuses to run as root; when we are root the cluster runs as the
    `postgres` system user (created by Debian's package), else as ourselves.
    """

    data_dir: Path
    port: int
    durable: bool = False

    @property
    def admin_url(self) -> str:
        """Return the URL of the `postgres` database as the superuser."""
        return self.url("postgres")

    def url(self, database: str) -> str:
        """Return the URL of `database` in this cluster."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def _user(self) -> str | None:
        if os.geteuid() != 0:
            return None
        for name in ("postgres", "nobody"):
            try:
                pwd.getpwnam(name)
            except KeyError:
                continue
            return name
        raise PostgresUnavailable("running as root and no `postgres` user to run the server as")

    def _run(self, *args: str) -> None:
        user = self._user()
        result = subprocess.run(
            list(args), user=user, capture_output=True, text=True, check=False, cwd="/"
        )
        if result.returncode != 0:
            raise PostgresUnavailable(
                f"{Path(args[0]).name} failed ({result.returncode}): "
                f"{(result.stderr or result.stdout).strip()[-2000:]}"
            )

    def is_running(self) -> bool:
        """Return True if a server runs on this cluster's files now."""
        if not (self.data_dir / "postmaster.pid").exists():
            return False
        status = subprocess.run(
            [str(find_pg_bin() / "pg_ctl"), "-D", str(self.data_dir), "status"],
            user=self._user(),
            capture_output=True,
            check=False,
            cwd="/",
        )
        return status.returncode == 0

    def start(self) -> None:
        """Create the cluster if it does not exist yet, and start it unless it runs."""
        bin_dir = find_pg_bin()
        if self.is_running():
            self._wait_ready()
            return
        user = self._user()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if user:
            shutil.chown(self.data_dir, user=user)
        self.data_dir.chmod(0o700)
        if not (self.data_dir / "PG_VERSION").exists():
            self._run(
                str(bin_dir / "initdb"),
                "-D", str(self.data_dir),
                "-U", "postgres",
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C.UTF-8",
            )  # fmt: skip
        settings = [
            f"-p {self.port}",
            "-c listen_addresses=127.0.0.1",
            f"-c unix_socket_directories={self.data_dir}",
            "-c max_connections=300",
            "-c shared_buffers=128MB",
        ]
        if not self.durable:
            # A throwaway cluster trades crash safety for speed.
            settings += ["-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off"]
        self._run(
            str(bin_dir / "pg_ctl"),
            "-D", str(self.data_dir),
            "-l", str(self.data_dir / "server.log"),
            "-o", " ".join(settings),
            "-w", "-t", "60",
            "start",
        )  # fmt: skip
        self._wait_ready()

    def _wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                time.sleep(0.1)
        raise PostgresUnavailable(f"PostgreSQL did not listen on port {self.port} in {timeout}s")

    def stop(self) -> None:
        """Stop the cluster fast; its files stay."""
        if (self.data_dir / "postmaster.pid").exists():
            self._run(str(find_pg_bin() / "pg_ctl"), "-D", str(self.data_dir), "-m", "fast", "stop")

    def create_database(self, name: str) -> str:
        """Create `name` unless it exists; return its URL."""
        import psycopg

        with psycopg.connect(self.admin_url, autocommit=True, connect_timeout=10) as conn:
            exists = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (name,)
            ).fetchone()
            if not exists:
                conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)


def main(argv: list[str]) -> int:
    """Run the command line: `check`."""
    if argv[1:] != ["check"]:
        print("usage: python -m include.devstack.postgres check", file=sys.stderr)
        return 2
    try:
        print(f"PostgreSQL server binaries: {find_pg_bin()}")
    except PostgresUnavailable as err:
        print(err, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
