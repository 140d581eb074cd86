"""The sign-up tool's command line: `python -m include.signup_client COMMAND ...`.

Where Airflow is and who we are come from the environment (or `--env-file`, by default
`.local/stack.env` when `make run` has written it): `AIRFLOW_URL`; `SIGNUP_USER` and
`SIGNUP_PASSWORD` for `submit`, `status` and `wait`; `AIRFLOW_USER` and
`AIRFLOW_PASSWORD` (an operator) for `rebuild` and `retry-failed`.

Exit codes: 0 done (a build that succeeded, for `wait`); 1 the build failed or Airflow
refused the call; 2 bad usage; 3 `wait` timed out with the build still running.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

from include.signup_client.client import (
    ClearedStep,
    RunStatus,
    SignupClient,
    SignupClientError,
    SubmissionRejected,
)

OPERATOR_COMMANDS = frozenset({"rebuild", "retry-failed"})
RELATIVE = re.compile(r"^(\d+)([mhd])$")
UNITS = {"m": "minutes", "h": "hours", "d": "days"}


def parse_time(text: str, now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> datetime:
    """Return the moment `text` names: ISO 8601 with a zone, or `30m`, `2h`, `7d` ago."""
    if match := RELATIVE.match(text):
        return now() - timedelta(**{UNITS[match[2]]: int(match[1])})
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a time: use ISO 8601 with a zone or 30m, 2h, 7d (ago)"
        ) from None
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text!r} has no time zone: add Z or +01:00")
    return moment


def read_env_file(path: Path) -> dict[str, str]:
    """Return the `KEY=value` lines of a dotenv file; nothing if it does not exist."""
    values: dict[str, str] = {}
    if path.exists():
        for line in path.read_text(encoding="utf-8").splitlines():
            key, sep, value = line.strip().partition("=")
            if sep and not key.startswith("#"):
                values[key.strip()] = value.strip().strip("'\"")
    return values


def build_parser() -> argparse.ArgumentParser:
    """Return the command line's parser."""
    parser = argparse.ArgumentParser(
        prog="python -m include.signup_client",
        description="Trigger and operate PropertyBuilder builds over Airflow's REST API.",
    )
    parser.add_argument(
        "--env-file",
        type=Path,
        default=Path(".local/stack.env"),
        help="settings file read before the environment (default: .local/stack.env)",
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")
    commands = parser.add_subparsers(dest="command", required=True)

    submit = commands.add_parser("submit", help="start the build of a submission file")
    submit.add_argument("file", type=Path, help="the submission, a JSON file")
    submit.add_argument("--wait", action="store_true", help="then wait until the build ends")

    for name, text in (("status", "show a build and its steps"), ("wait", "wait for a build")):
        command = commands.add_parser(name, help=text)
        command.add_argument("run_id", help="the submission id, which is the run id")
        if name == "wait":
            command.add_argument("--timeout", type=float, default=3600.0, help="seconds")

    rebuild = commands.add_parser("rebuild", help="build an ended run again, same run id")
    rebuild.add_argument("run_id")
    rebuild.add_argument("--wait", action="store_true", help="then wait until the build ends")

    retry = commands.add_parser("retry-failed", help="clear the failed steps of many runs")
    retry.add_argument("--step", action="append", default=[], help="a task id; repeatable")
    retry.add_argument("--run", action="append", default=[], help="a run id; repeatable")
    retry.add_argument("--since", type=parse_time, help="failed at or after (ISO or 2h)")
    retry.add_argument("--until", type=parse_time, help="failed at or before (ISO or 2h)")
    retry.add_argument(
        "--dry-run", action="store_true", help="list what would be cleared, change nothing"
    )
    return parser


def client_for(command: str, settings: Mapping[str, str]) -> SignupClient:
    """Return a client logged in as the sign-up user, or as the operator for operator work."""
    prefix = "AIRFLOW" if command in OPERATOR_COMMANDS else "SIGNUP"
    missing = [
        key
        for key in ("AIRFLOW_URL", f"{prefix}_USER", f"{prefix}_PASSWORD")
        if not settings.get(key)
    ]
    if missing:
        raise SignupClientError(f"missing settings: {', '.join(missing)} (environment or env file)")
    return SignupClient(
        settings["AIRFLOW_URL"], settings[f"{prefix}_USER"], settings[f"{prefix}_PASSWORD"]
    )


def _print_status(status: RunStatus, out: TextIO) -> None:
    done = len(status.steps_in("success", "skipped"))
    print(f"{status.run_id}: {status.state} ({done}/{len(status.steps)} steps done)", file=out)
    for step in status.steps:
        if step.state != "success":
            state = step.state or "not started"
            print(f"  {step.label}: {state} (try {step.try_number})", file=out)


def _emit(value: Any, as_json: bool, out: TextIO) -> None:
    if as_json:
        if isinstance(value, list):
            print(json.dumps([asdict(item) for item in value], indent=2), file=out)
        else:
            print(json.dumps(asdict(value), indent=2), file=out)
    elif isinstance(value, RunStatus):
        _print_status(value, out)
    else:
        for step in value:
            assert isinstance(step, ClearedStep)
            print(f"{step.run_id}  {step.label}  ({step.state})", file=out)


def _wait_exit(status: RunStatus) -> int:
    if not status.ended:
        return 3
    return 0 if status.state == "success" else 1


def _progress(args: argparse.Namespace, out: TextIO) -> Callable[[RunStatus], None] | None:
    return None if args.json else (lambda status: _print_status(status, out))


def _started(
    status: RunStatus, verb: str, args: argparse.Namespace, client: SignupClient, out: TextIO
) -> int:
    """Report a build that was started (or found); with `--wait`, follow it to its end."""
    if not args.json:
        print(f"{verb}: {status.run_id} ({status.state})", file=out)
    if args.wait:
        status = client.wait(status.run_id, on_change=_progress(args, out))
    if args.json:
        _emit(status, True, out)
    return _wait_exit(status) if args.wait else 0


def run(args: argparse.Namespace, client: SignupClient, out: TextIO) -> int:
    """Carry out one parsed command; return the exit code."""
    if args.command == "submit":
        try:
            submission = json.loads(args.file.read_text(encoding="utf-8"))
        except (OSError, ValueError) as err:
            raise SubmissionRejected(f"{args.file}: not a readable JSON file: {err}") from None
        if not isinstance(submission, dict):
            raise SubmissionRejected(f"{args.file}: the submission must be a JSON object")
        status = client.submit(submission)
        verb = "build started" if status.created else "build already exists"
        return _started(status, verb, args, client, out)
    if args.command == "status":
        _emit(client.status(args.run_id), args.json, out)
        return 0
    if args.command == "wait":
        status = client.wait(args.run_id, timeout=args.timeout, on_change=_progress(args, out))
        if args.json:
            _emit(status, True, out)
        return _wait_exit(status)
    if args.command == "rebuild":
        return _started(client.rebuild(args.run_id), "rebuild started", args, client, out)

    cleared = client.retry_failed(
        steps=args.step, since=args.since, until=args.until, run_ids=args.run, dry_run=args.dry_run
    )
    if not args.json:
        verb = "would clear" if args.dry_run else "cleared"
        runs = len({step.run_id for step in cleared})
        print(f"{verb} {len(cleared)} steps in {runs} runs", file=out)
    _emit(cleared, args.json, out)
    return 0


def main(argv: Sequence[str] | None = None, out: TextIO = sys.stdout) -> int:
    """Parse the command line, run the command, and turn client errors into exit code 1."""
    args = build_parser().parse_args(argv)
    settings = {**read_env_file(args.env_file), **os.environ}
    try:
        with client_for(args.command, settings) as client:
            return run(args, client, out)
    except SignupClientError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
