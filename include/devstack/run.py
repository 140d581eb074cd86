"""`make run`: the whole system on this machine, no Docker needed.

Starts a private PostgreSQL (Airflow's metadata database and the platform database,
under `.local/`), applies the platform migrations, starts the property-services API and
Airflow's api-server, scheduler, dag-processor and triggerer (LocalExecutor), unpauses
`property_builder`, submits the example submissions over the REST API, and prints each
build's progress until it ends. It keeps running until Ctrl-C, which stops every process
it started. Running it again reuses `.local/`.

Settings come from `.env` (see `.env.example`); the environment wins over the file.
"""

from __future__ import annotations

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
        **read_env_file(REPO / ".env"),
        **{key: value for key, value in os.environ.items() if key.isupper()},
    }
    for key in ("AIRFLOW_ADMIN_PASSWORD", "SIGNUP_PASSWORD", "PROPERTY_SERVICES_TOKEN"):
        if not values.get(key) or values[key] == "change-me":
            values[key] = kept.setdefault(key, secrets.token_urlsafe(18))
    kept_path.write_text(json.dumps(kept, indent=2))
    kept_path.chmod(0o600)
    return values


class RestClient:
    """The few REST calls `make run` needs, as one user."""

    def __init__(self, url: str, username: str, password: str) -> None:
        self.url = url
        self.username = username
        self.password = password
        self._token: str | None = None

    def _call(self, method: str, path: str, body: Any = None, auth: bool = True) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.url + path, data=data, method=method)
        request.add_header("Content-Type", "application/json")
        if auth:
            request.add_header("Authorization", f"Bearer {self.token()}")
        with urllib.request.urlopen(request, timeout=30) as response:
            raw = response.read()
        return json.loads(raw) if raw else None

    def token(self) -> str:
        """Return a JWT for this user, fetched once."""
        if self._token is None:
            answer = self._call(
                "POST",
                "/auth/token",
                {"username": self.username, "password": self.password},
                auth=False,
            )
            self._token = str(answer["access_token"])
        return self._token

    def call(self, method: str, path: str, body: Any = None) -> Any:
        """Call the API; raise StackError with the answer on an HTTP error."""
        try:
            return self._call(method, path, body)
        except urllib.error.HTTPError as err:
            raise StackError(f"{method} {path}: HTTP {err.code}: {err.read()[:300]!r}") from None


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


def submit(client: RestClient, submission: Mapping[str, Any]) -> str:
    """Trigger a build of `submission`; an existing run of it is kept. Return the run id."""
    run_id = str(submission["submission_id"])
    try:
        client.call(
            "POST",
            f"/api/v2/dags/{DAG_ID}/dagRuns",
            {"dag_run_id": run_id, "conf": submission, "logical_date": None},
        )
    except StackError as err:
        if "HTTP 409" not in str(err):
            raise
    return run_id


def follow(client: RestClient, run_ids: list[str], stop: threading.Event) -> dict[str, str]:
    """Print each build's progress until every run ends; return their final states."""
    final: dict[str, str] = {}
    last: dict[str, str] = {}
    while len(final) < len(run_ids) and not stop.is_set():
        for run_id in run_ids:
            if run_id in final:
                continue
            run = client.call("GET", f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}")
            tis = client.call(
                "GET", f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances?limit=500"
            )["task_instances"]
            done = sum(ti["state"] == "success" for ti in tis)
            line = f"build {run_id}: {run['state']}, {done}/{len(tis)} steps done"
            if line != last.get(run_id):
                print(line, flush=True)
                last[run_id] = line
            if run["state"] in {"success", "failed"}:
                final[run_id] = str(run["state"])
        stop.wait(1)
    return final


def main() -> int:
    """Start everything, submit the examples, follow them, and wait for Ctrl-C."""
    local = Path(os.environ.get("PROPERTY_BUILDER_LOCAL_DIR", REPO / ".local")).resolve()
    values = settings(local)
    logs = local / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())

    with ExitStack() as running:
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

        home = local / "airflow"
        home.mkdir(parents=True, exist_ok=True)
        passwords = home / "passwords.json"
        passwords.write_text(
            json.dumps(
                {"admin": values["AIRFLOW_ADMIN_PASSWORD"], "signup": values["SIGNUP_PASSWORD"]}
            )
        )
        passwords.chmod(0o600)
        port = int(values["AIRFLOW_PORT"])
        stack = AirflowStack(
            home=home,
            metadata_url=metadata_url.replace("postgresql://", "postgresql+psycopg://", 1),
            port=port,
            settings={
                # TODO: `signup` has SimpleAuthManager's `user` role, which may also delete
                # runs; a trigger-and-read-only role needs the FAB auth manager.
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin,signup:user",
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
                "AIRFLOW_CONN_PROPERTY_DB": platform_url,
                "AIRFLOW_CONN_PROPERTY_SERVICES": services_connection(
                    int(values["PROPERTY_SERVICES_PORT"]), values["PROPERTY_SERVICES_TOKEN"]
                ),
                "PROPERTY_SERVICES_POLL_SECONDS": "0.5",
            },
        )
        stack.start()
        running.callback(stack.stop)

        admin = RestClient(stack.url, "admin", values["AIRFLOW_ADMIN_PASSWORD"])
        admin.call("PATCH", f"/api/v2/dags/{DAG_ID}", {"is_paused": False})
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
        print(f"Airflow UI: {stack.url}  login: admin (password: {local}/stack.env)", flush=True)

        signup = RestClient(stack.url, "signup", values["SIGNUP_PASSWORD"])
        run_ids = [submit(signup, submission) for submission in examples()]
        states = follow(admin, run_ids, stop)
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
