"""Command line: `python -m services.property_services [--host 127.0.0.1] [--port 8090]`.

Settings come from the environment (see API.md); without the token or the database URL
the service refuses to start, with one line saying what is missing, and exit status 2.
"""

from __future__ import annotations

import argparse
import logging
import os
from collections.abc import Sequence

from services.property_services.settings import Settings, SettingsError

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8090
# Long enough for a normal request to finish, short enough that a request held by the
# hang fault does not keep the process alive for its whole hang.
GRACEFUL_SHUTDOWN_SECONDS = 5


def main(argv: Sequence[str] | None = None) -> None:
    """Parse the command line, read the environment and serve until stopped."""
    parser = argparse.ArgumentParser(
        prog="python -m services.property_services",
        description="Reference implementation of the property-services HTTP API.",
    )
    parser.add_argument("--host", default=DEFAULT_HOST, help=f"default {DEFAULT_HOST}")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"default {DEFAULT_PORT}")
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_env(os.environ)
    except SettingsError as err:
        parser.exit(2, f"property-services: {err}\n")

    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    import uvicorn

    from services.property_services.app import create_app

    uvicorn.run(
        create_app(settings),
        host=args.host,
        port=args.port,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
    )


if __name__ == "__main__":
    main()
