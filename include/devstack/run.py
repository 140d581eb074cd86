"""`make run`: the whole system on this machine, no Docker needed.

Starts a private PostgreSQL (Airflow's metadata database and the platform database,
under `.local/`), applies the platform migrations, starts the property-services API and
Airflow's api-server, scheduler, dag-processor and triggerer (LocalExecutor, or with
`--executor celery` the CeleryExecutor with a Redis broker and two workers), sets up the
`admin` and `signup` users (FAB auth manager, `include.devstack.access`), unpauses
`property_builder`, submits the example submissions over the REST API, and prints each
build's progress until it ends. It keeps running until Ctrl-C, which stops every process
it started. Running it again reuses `.local/`.

Settings come from `.env` (see `.env.example`); the environment wins over the file.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from include.devstack.airflow_stack import REPO, AirflowStack, StackError
from include.devstack.postgres import LocalPostgres
from include.devstack.redis import LocalRedis
from include.signup_client import SignupClient

DAG_ID = "property_builder"


def read_env_file(path: Path) -> dict[str, str]:
    """Return the `KEY=value` lines of a dotenv file (comments and blanks skipped)."""
    values: dict[str, str] = {}
    if not path.exists():
        return values
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        values[key.strip()] = value.strip().strip("'\"")
    return values


def settings(local: Path) -> dict[str, str]:
    """Return the stack's settings: defaults, then `.env`, then the environment.

    Passwords and the service token missing from both are generated once and kept in
    `.local/secrets.json`, so that a second `make run` logs in with the same ones.
    """
    local.mkdir(parents=True, exist_ok=True)
    kept_path = local / "secrets.json"
    kept: dict[str, str] = json.loads(kept_path.read_text()) if kept_path.exists() else {}
    values = {
        "LOCAL_PG_PORT": "54329",
        "AIRFLOW_PORT": "8080",
        "PROPERTY_SERVICES_PORT": "8090",
        "REDIS_PORT": "63790",
        **read_env_file(REPO / ".env"),
        **{key: value for key, value in os.environ.items() if key.isupper()},
    }
    for key in ("AIRFLOW_ADMIN_PASSWORD", "SIGNUP_PASSWORD", "PROPERTY_SERVICES_TOKEN"):
        if not values.get(key) or values[key] == "change-me":
            values[key] = kept.setdefault(key, secrets.token_urlsafe(18))
    kept_path.write_text(json.dumps(kept, indent=2))
    kept_path.chmod(0o600)
    return values


def services_connection(port: int, token: str) -> str:
    """Return the `property_services` Airflow connection (JSON) for a service on loopback."""
    return json.dumps(
        {
            "conn_type": "http",
            "host": "127.0.0.1",
            "port": port,
            "schema": "http",
            "extra": {"Authorization": f"Bearer {token}", "timeout": 10},
        }
    )


@contextmanager
def property_services(values: Mapping[str, str], platform_url: str, logs: Path) -> Iterator[str]:
    """Run the property-services API on 127.0.0.1 until the block ends; yield its URL."""
    port = values["PROPERTY_SERVICES_PORT"]
    log = (logs / "property-services.log").open("ab")
    process = subprocess.Popen(
        [sys.executable, "-m", "services.property_services", "--port", port],
        env={
            **os.environ,
            "PYTHONPATH": str(REPO),
            "PROPERTY_SERVICES_TOKEN": values["PROPERTY_SERVICES_TOKEN"],
            "PROPERTY_SERVICES_DB_URL": platform_url,
        },
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2):
                    break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise StackError("property services did not start; see their log") from None
                time.sleep(0.3)
        yield url
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=30)
        log.close()


def examples() -> list[dict[str, Any]]:
    """Return the submissions `make run` sends: the contract's example and a second one."""
    shared = REPO.parent / "shared" / "contract" / "submission-example.json"
    source = shared if shared.exists() else REPO / "tests" / "data" / "submission-example.json"
    first: dict[str, Any] = json.loads(source.read_text(encoding="utf-8"))
    second = json.loads(json.dumps(first))
    second["submission_id"] = first["submission_id"] + "-b"
    second["property"]["name"] = "Grachtenhuis Apartments"
    second["property"]["type"] = "apartment"
    second["property"]["star_rating"] = None
    second["property"]["address"]["line1"] = "Keizersgracht 125"
    return [first, second]


def follow(client: SignupClient, run_ids: list[str], stop: threading.Event) -> dict[str, str]:
    """Print each build's progress until every run ends; return their final states."""
    final: dict[str, str] = {}
    last: dict[str, str] = {}
    while len(final) < len(run_ids) and not stop.is_set():
        for run_id in run_ids:
            if run_id in final:
                continue
            status = client.status(run_id)
            done = len(status.steps_in("success", "skipped"))
            line = f"build {run_id}: {status.state}, {done}/{len(status.steps)} steps done"
            if line != last.get(run_id):
                print(line, flush=True)
                last[run_id] = line
            if status.ended:
                final[run_id] = status.state
        stop.wait(1)
    return final


def start_stack(
    values: Mapping[str, str], local: Path, running: ExitStack, executor: str
) -> tuple[AirflowStack, str, str]:
    """Start PostgreSQL, the property services, Redis (Celery only) and Airflow.

    Return the Airflow stack, the platform database's URL and the services' URL; every
    process is stopped when `running` closes.
    """
    logs = local / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    cluster = LocalPostgres(
        data_dir=local / "postgres", port=int(values["LOCAL_PG_PORT"]), durable=True
    )
    cluster.start()
    running.callback(cluster.stop)
    metadata_url = cluster.create_database("airflow")
    platform_url = cluster.create_database("platform")
    subprocess.run(
        [sys.executable, "-m", "include.property_builder.db", "migrate", "--url", platform_url],
        cwd=REPO,
        check=True,
    )
    services_url = running.enter_context(property_services(values, platform_url, logs))

    broker = None
    if executor == "celery":
        redis = LocalRedis(port=int(values["REDIS_PORT"]), log_path=logs / "redis.log")
        redis.start()
        running.callback(redis.stop)
        broker = redis.url

    stack = AirflowStack(
        home=local / "airflow",
        metadata_url=metadata_url.replace("postgresql://", "postgresql+psycopg://", 1),
        port=int(values["AIRFLOW_PORT"]),
        passwords={"admin": values["AIRFLOW_ADMIN_PASSWORD"], "signup": values["SIGNUP_PASSWORD"]},
        celery_broker=broker,
        settings={
            "AIRFLOW_CONN_PROPERTY_DB": platform_url,
            "AIRFLOW_CONN_PROPERTY_SERVICES": services_connection(
                int(values["PROPERTY_SERVICES_PORT"]), values["PROPERTY_SERVICES_TOKEN"]
            ),
            "PROPERTY_SERVICES_POLL_SECONDS": "0.5",
            # Build settings from .env (retries, timeouts, ...) reach the stack too.
            **{k: v for k, v in values.items() if k.startswith("PROPERTY_BUILDER_")},
        },
    )
    running.callback(stack.stop)
    stack.start()
    stack.airflow("dags", "unpause", DAG_ID)
    return stack, platform_url, services_url


def main(argv: list[str] | None = None) -> int:
    """Start everything, submit the examples, follow them, and wait for Ctrl-C."""
    parser = argparse.ArgumentParser(prog="make run", description=__doc__)
    parser.add_argument(
        "--executor",
        choices=("local", "celery"),
        default=os.environ.get("EXECUTOR") or "local",
        help="LocalExecutor, or CeleryExecutor with Redis and two workers (default: local)",
    )
    args = parser.parse_args(argv)
    local = Path(os.environ.get("PROPERTY_BUILDER_LOCAL_DIR", REPO / ".local")).resolve()
    values = settings(local)
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())

    with ExitStack() as running:
        stack, platform_url, services_url = start_stack(values, local, running, args.executor)
        (local / "stack.env").write_text(
            "\n".join(
                [
                    f"AIRFLOW_URL={stack.url}",
                    "AIRFLOW_USER=admin",
                    f"AIRFLOW_PASSWORD={values['AIRFLOW_ADMIN_PASSWORD']}",
                    "SIGNUP_USER=signup",
                    f"SIGNUP_PASSWORD={values['SIGNUP_PASSWORD']}",
                    f"PROPERTY_DB_URL={platform_url}",
                    f"PROPERTY_SERVICES_URL={services_url}",
                ]
            )
            + "\n"
        )
        (local / "stack.env").chmod(0o600)
        print(
            f"Airflow UI: {stack.url}  login: admin (password: {local}/stack.env)"
            f"  executor: {args.executor}",
            flush=True,
        )

        with SignupClient(stack.url, "signup", values["SIGNUP_PASSWORD"]) as signup:
            run_ids = [signup.submit(submission).run_id for submission in examples()]
            states = follow(signup, run_ids, stop)
        if states:
            print(
                "builds finished: " + ", ".join(f"{k}={v}" for k, v in states.items()), flush=True
            )
        print("running until Ctrl-C", flush=True)
        stop.wait()
        print("stopping every process", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
