"""What Airflow's orchestration costs, measured on the real stack, side by side.

    .venv/bin/python -m bench.orchestration [--builds 50] [--compare 5] [--out bench/results]

Starts what `make run` starts (a private PostgreSQL, the property services, Airflow's
api-server, scheduler, dag-processor and triggerer with the LocalExecutor and the same
tuned settings) in a temporary folder, with `bench/dags/bench_noop_chain.py` beside the
real DAG, and measures:

1. hop latency: in a chain of 30 no-op tasks, the gap between a task's end and the next
   one's start, with Airflow's default scheduler settings and with ours; the no-op
   task's own run time is the floor;
2. one build with instant property services: trigger to success, against its floor, the
   sum of task run times along the DAG's critical path;
3. throughput: `--builds` submissions sent at once over REST: builds per minute, p50/p95
   time to live, CPU seconds per build (Airflow's processes and PostgreSQL's);
4. the legacy monolith (`bench/monolith.py`) against the DAG, `--compare` builds each, at
   the same time, with realistic service latencies (photos 20 s, descriptions 3 s,
   calendar 2 s) and transient faults injected into 0%, 1% and 5% of step runs;
5. DAG parse time.

Prints a table, writes `results.json` and `orchestration.png` into `--out`.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import psutil
import psycopg

from bench.monolith import Monolith, MonolithResult
from bench.parse_time import measure as parse_times
from include.devstack.airflow_stack import REPO, AirflowStack, StackError
from include.devstack.postgres import LocalPostgres, free_port
from include.devstack.run import property_services, services_connection
from include.property_builder.chaos import FAULT_RATE_ENV
from include.property_builder.contract import load_submission
from include.property_builder.db import migrate

DAG = "property_builder"
CHAIN = "bench_noop_chain"
SERVICE_DELAYS = {"photos": 20.0, "descriptions": 3.0, "calendar": 2.0}
# The issue asks for 0, 1 and 5%; 10% shows where the two cross.
FAULT_RATES = (0.0, 0.01, 0.05, 0.10)


def _time(value: str | None) -> datetime:
    assert value is not None
    return datetime.fromisoformat(value)


def percentile(values: Sequence[float], share: float) -> float:
    """Return the `share` percentile of `values` (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * (len(ordered) - 1))))]


@dataclass
class Bench:
    """A running stack and the handles the measurements need."""

    stack: AirflowStack
    platform_url: str
    services_url: str
    services_token: str
    postgres: LocalPostgres

    def get(self, path: str, attempts: int = 5) -> Any:
        """GET from the REST API, trying again when a loaded api-server answers late."""
        for attempt in range(1, attempts + 1):
            try:
                return self.stack.request("GET", path)
            except (OSError, StackError):
                if attempt == attempts:
                    raise
                time.sleep(2)
        raise AssertionError("unreachable")

    def trigger(self, dag_id: str, run_id: str, conf: Mapping[str, Any]) -> None:
        """Trigger a run over REST."""
        body = {"dag_run_id": run_id, "conf": dict(conf), "logical_date": None}
        self.stack.request("POST", f"/api/v2/dags/{dag_id}/dagRuns", body)

    def wait(self, dag_id: str, run_ids: Sequence[str], timeout: float = 1800) -> list[Any]:
        """Wait until every run ended; return the runs."""
        deadline = time.monotonic() + timeout
        pending = set(run_ids)
        ended: dict[str, Any] = {}
        while pending and time.monotonic() < deadline:
            for run_id in sorted(pending):
                run = self.get(f"/api/v2/dags/{dag_id}/dagRuns/{run_id}")
                if run["state"] in {"success", "failed"}:
                    ended[run_id] = run
                    pending.discard(run_id)
            time.sleep(1)
        if pending:
            raise RuntimeError(f"runs still going after {timeout}s: {sorted(pending)[:5]}")
        return [ended[run_id] for run_id in run_ids]

    def task_instances(self, dag_id: str, run_id: str) -> list[Any]:
        """Return the run's task instances."""
        path = f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances?limit=100"
        found: list[Any] = []
        while True:
            page = self.get(f"{path}&offset={len(found)}")
            found += page["task_instances"]
            if not page["task_instances"] or len(found) >= page["total_entries"]:
                return found

    def set_service_delays(self, delays: Mapping[str, float]) -> None:
        """Make each property-services job take this long."""
        httpx.put(
            f"{self.services_url}/admin/faults",
            json={"job_delay_seconds": dict(delays)},
            headers={"Authorization": f"Bearer {self.services_token}"},
            timeout=10,
        ).raise_for_status()

    def cpu_seconds(self) -> dict[str, float]:
        """Return the CPU time used so far, by part: each Airflow process with what it
        started (the scheduler's share holds the executor's workers and every task
        process), and PostgreSQL with its backends."""
        roots = {name: process.pid for name, process in self.stack.processes.items()}
        pid_file = self.postgres.data_dir / "postmaster.pid"
        roots["postgresql"] = int(pid_file.read_text().split()[0])
        used: dict[str, float] = {}
        for name, pid in roots.items():
            total = 0.0
            try:
                root = psutil.Process(pid)
                for process in [root, *root.children(recursive=True)]:
                    times = process.cpu_times()
                    total += times.user + times.system + times.children_user
                    total += times.children_system
            except psutil.Error:
                pass
            used[name] = total
        return used


@contextmanager
def running_stack(
    work: Path, settings: Mapping[str, str], postgres: LocalPostgres, token: str, name: str
) -> Iterator[Bench]:
    """Start Airflow with `settings` on the benchmark's databases; stop it afterwards."""
    metadata = postgres.create_database("airflow")
    platform = postgres.create_database("platform")
    with psycopg.connect(platform) as conn:
        migrate(conn)
    dags = work / "dags"
    if not dags.exists():
        dags.mkdir()
        (dags / "property_builder.py").symlink_to(REPO / "dags" / "property_builder.py")
        (dags / "bench_noop_chain.py").symlink_to(REPO / "bench" / "dags" / "bench_noop_chain.py")
    port = free_port()
    values = {"PROPERTY_SERVICES_PORT": str(port), "PROPERTY_SERVICES_TOKEN": token}
    with ExitStack() as stack_of:
        services_url = stack_of.enter_context(property_services(values, platform, work))
        stack = AirflowStack(
            home=work / name,
            metadata_url=metadata.replace("postgresql://", "postgresql+psycopg://", 1),
            port=free_port(),
            settings={
                "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
                "AIRFLOW_CONN_PROPERTY_DB": platform,
                "AIRFLOW_CONN_PROPERTY_SERVICES": services_connection(port, token),
                "PROPERTY_SERVICES_POLL_SECONDS": "0.5",
                **settings,
            },
        )
        stack_of.callback(stack.stop)
        stack.start()
        yield Bench(stack, platform, services_url, token, postgres)


def hop_latency(bench: Bench, run_id: str) -> dict[str, float]:
    """Run the no-op chain; return the median and p95 gap and the median task run time.

    A first run warms the stack up (it is slower on a fresh stack, while the DAG
    processor and the executor's workers start); the second one is measured.
    """
    for attempt in (f"{run_id}-warm-up", run_id):
        bench.trigger(CHAIN, attempt, {})
        bench.wait(CHAIN, [attempt])
    tis = sorted(bench.task_instances(CHAIN, run_id), key=lambda ti: ti["task_id"])
    gaps = [
        (_time(after["start_date"]) - _time(before["end_date"])).total_seconds()
        for before, after in itertools.pairwise(tis)
    ]
    runs = [(_time(ti["end_date"]) - _time(ti["start_date"])).total_seconds() for ti in tis]
    return {
        "gap_median": statistics.median(gaps),
        "gap_p95": percentile(gaps, 0.95),
        "noop_median": statistics.median(runs),
        "chain_seconds": (_time(tis[-1]["end_date"]) - _time(tis[0]["start_date"])).total_seconds(),
    }


def critical_path_floor(bench: Bench, run_id: str) -> tuple[float, list[str]]:
    """Return the sum of task run times along the DAG's longest path, and that path."""
    tasks = bench.get(f"/api/v2/dags/{DAG}/tasks")["tasks"]
    downstream = {task["task_id"]: task["downstream_task_ids"] for task in tasks}
    seconds: dict[str, float] = {}
    for ti in bench.task_instances(DAG, run_id):
        took = (_time(ti["end_date"]) - _time(ti["start_date"])).total_seconds()
        seconds[ti["task_id"]] = max(seconds.get(ti["task_id"], 0.0), took)
    best: dict[str, tuple[float, list[str]]] = {}

    def longest(task_id: str) -> tuple[float, list[str]]:
        if task_id not in best:
            tails = [longest(child) for child in downstream[task_id]]
            tail = max(tails, default=(0.0, []))
            best[task_id] = (seconds.get(task_id, 0.0) + tail[0], [task_id, *tail[1]])
        return best[task_id]

    return max(longest(task_id) for task_id in downstream)


def submissions(example: Mapping[str, Any], prefix: str, count: int) -> list[dict[str, Any]]:
    """Return `count` different submissions (ids, names and addresses differ)."""
    made = []
    for index in range(count):
        sub = json.loads(json.dumps(example))
        sub["submission_id"] = f"{prefix}-{index:03d}"
        sub["property"]["name"] = f"Bench House {prefix} {index}"
        sub["property"]["address"]["line1"] = f"Benchstraat {index + 1} {prefix}"
        made.append(sub)
    return made


def time_to_live(runs: Sequence[Any]) -> list[float]:
    """Return each run's time from queued to its end."""
    return [(_time(run["end_date"]) - _time(run["queued_at"])).total_seconds() for run in runs]


def dag_builds(bench: Bench, subs: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Send the submissions at once over REST; return times and attempts."""
    with ThreadPoolExecutor(max_workers=10) as pool:
        list(pool.map(lambda sub: bench.trigger(DAG, sub["submission_id"], sub), subs))
    runs = bench.wait(DAG, [sub["submission_id"] for sub in subs])
    attempts = sum(
        ti["try_number"] for run in runs for ti in bench.task_instances(DAG, run["dag_run_id"])
    )
    ttl = time_to_live(runs)
    return {
        "finished": sum(run["state"] == "success" for run in runs),
        "builds": len(runs),
        "mean": statistics.mean(ttl),
        "p50": statistics.median(ttl),
        "p95": percentile(ttl, 0.95),
        "steps_executed": attempts,
        "first_queued": min(_time(run["queued_at"]) for run in runs),
        "last_ended": max(_time(run["end_date"]) for run in runs),
    }


def monolith_builds(
    bench: Bench, subs: Sequence[Mapping[str, Any]], rate: float
) -> list[MonolithResult]:
    """Build the submissions with the legacy monolith, one thread per build."""
    monolith = Monolith(bench.platform_url, bench.services_url, bench.services_token, rate)
    with ThreadPoolExecutor(max_workers=len(subs)) as pool:
        return list(
            pool.map(
                lambda pair: monolith.build(load_submission(pair[1]), seed=pair[0]),
                enumerate(subs),
            )
        )


def compare(bench: Bench, example: Mapping[str, Any], rate: float, count: int) -> dict[str, Any]:
    """Run `count` builds on the DAG and `count` on the monolith at the same time."""
    tag = f"r{int(rate * 1000):03d}"
    dag_subs = submissions(example, f"dag-{tag}", count)
    mono_subs = submissions(example, f"mono-{tag}", count)
    result: dict[str, Any] = {}
    thread = threading.Thread(
        target=lambda: result.setdefault("monolith", monolith_builds(bench, mono_subs, rate))
    )
    thread.start()
    result["dag"] = dag_builds(bench, dag_subs)
    thread.join()
    mono: list[MonolithResult] = result["monolith"]
    times = [build.seconds for build in mono if build.succeeded]
    return {
        "rate": rate,
        "dag": {k: v for k, v in result["dag"].items() if not isinstance(v, datetime)},
        "monolith": {
            "finished": sum(build.succeeded for build in mono),
            "builds": len(mono),
            "mean": statistics.mean(times) if times else float("nan"),
            "p95": percentile(times, 0.95) if times else float("nan"),
            "steps_executed": sum(build.steps_executed for build in mono),
            "attempts": sum(build.attempts for build in mono),
        },
    }


# `make run`'s stack is tuned already (include/devstack/airflow_stack.py); DEFAULT puts
# back Airflow's own scheduler setting and the DAG's own retry delay.
TUNED: dict[str, str] = {}
DEFAULT = {
    "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": "1",
    "PROPERTY_BUILDER_RETRY_DELAY_SECONDS": "10",
    "PROPERTY_BUILDER_RETRIES": "4",
}


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Run every measurement; return the results."""
    example = json.loads((REPO / "tests" / "data" / "submission-example.json").read_text())
    token = "bench-" + os.urandom(8).hex()
    os.environ["PROPERTY_SERVICES_CONCURRENCY"] = "64"
    results: dict[str, Any] = {"machine": machine()}
    with tempfile.TemporaryDirectory(prefix="pb-bench-") as tmp:
        work = Path(tmp)
        work.chmod(0o755)
        postgres = LocalPostgres(data_dir=work / "pg", port=free_port())
        postgres.start()
        try:
            step("hop latency, Airflow's default scheduler settings")
            with running_stack(work, DEFAULT, postgres, token, "default") as bench:
                results["hop_default"] = hop_latency(bench, "chain-default")
            step("hop latency, one build, throughput (tuned settings)")
            with running_stack(work, TUNED, postgres, token, "tuned") as bench:
                results["hop_tuned"] = hop_latency(bench, "chain-tuned")
                results["one_build"] = one_build(bench, example)
                results["throughput"] = throughput(bench, example, args.builds)
            results["compare"] = []
            for rate in FAULT_RATES:
                step(f"DAG against monolith, fault rate {rate:.0%}")
                settings = {**TUNED, FAULT_RATE_ENV: str(rate)}
                with running_stack(work, settings, postgres, token, f"faults-{rate}") as bench:
                    bench.set_service_delays(SERVICE_DELAYS)
                    results["compare"].append(compare(bench, example, rate, args.compare))
        finally:
            postgres.stop()
    step("DAG parse time")
    timings = parse_times(20)
    results["parse"] = {"median": statistics.median(timings), "p95": percentile(timings, 0.95)}
    return results


def one_build(bench: Bench, example: Mapping[str, Any]) -> dict[str, Any]:
    """One build with instant services: its latency against the critical path's floor."""
    (sub,) = submissions(example, "one", 1)
    bench.trigger(DAG, sub["submission_id"], sub)
    (run_record,) = bench.wait(DAG, [sub["submission_id"]])
    if run_record["state"] != "success":
        raise RuntimeError(f"the benchmark's build failed: {bench.stack.log_tail('scheduler')}")
    floor, path = critical_path_floor(bench, sub["submission_id"])
    (latency,) = time_to_live([run_record])
    return {"state": run_record["state"], "latency": latency, "floor": floor, "path": path}


def throughput(bench: Bench, example: Mapping[str, Any], count: int) -> dict[str, Any]:
    """`count` submissions at once: rate, time to live, CPU per build."""
    cpu_before = bench.cpu_seconds()
    built = dag_builds(bench, submissions(example, "tp", count))
    cpu_after = bench.cpu_seconds()
    cpu = {part: (cpu_after[part] - cpu_before[part]) / count for part in cpu_after}
    span = (built.pop("last_ended") - built.pop("first_queued")).total_seconds()
    return {
        **built,
        "per_minute": built["finished"] / span * 60,
        "cpu_per_build": sum(cpu.values()),
        "cpu_parts": cpu,
        "cpu_per_try": sum(cpu.values()) * count / built["steps_executed"],
    }


def machine() -> str:
    """Describe this machine in one line."""
    return (
        f"{psutil.cpu_count()} cores, {psutil.virtual_memory().total / 2**30:.0f} GiB,"
        f" Python {sys.version.split()[0]}, {sys.platform}"
    )


def step(text: str) -> None:
    """Say what the benchmark does now."""
    print(f"-- {text}", flush=True)


def table(results: Mapping[str, Any]) -> str:
    """Return the results as a Markdown table, ratios first."""
    hop_t, hop_d = results["hop_tuned"], results["hop_default"]
    one, tp, parse = results["one_build"], results["throughput"], results["parse"]
    rows = [
        ("hop gap, median (tuned / default)", f"{hop_t['gap_median']:.3f} s / "
         f"{hop_d['gap_median']:.3f} s", f"{hop_t['gap_median'] / hop_d['gap_median']:.2f}x",
         "<= 0.1 s"),
        ("hop gap, p95 (tuned / default)", f"{hop_t['gap_p95']:.3f} s / {hop_d['gap_p95']:.3f} s",
         "", ""),
        ("no-op task run time (floor), median", f"{hop_t['noop_median']:.3f} s", "", ""),
        ("30-task chain (tuned / default)", f"{hop_t['chain_seconds']:.1f} s / "
         f"{hop_d['chain_seconds']:.1f} s",
         f"{hop_t['chain_seconds'] / hop_d['chain_seconds']:.2f}x", ""),
        ("one build: latency / critical-path floor", f"{one['latency']:.1f} s / "
         f"{one['floor']:.1f} s", f"{one['latency'] / one['floor']:.2f}x", "<= 2x"),
        (f"throughput, {tp['builds']} at once", f"{tp['per_minute']:.1f} builds/min, "
         f"{tp['finished']}/{tp['builds']} built", "", ""),
        ("time to live under that load, p50 / p95", f"{tp['p50']:.1f} s / {tp['p95']:.1f} s",
         "", ""),
        ("CPU per build (Airflow + PostgreSQL)", f"{tp['cpu_per_build']:.1f} s", "", ""),
        ("  of which " + ", ".join(f"{part} {seconds:.1f} s" for part, seconds in
         sorted(tp["cpu_parts"].items(), key=lambda item: -item[1])), "", "", ""),
        ("CPU per task try", f"{tp['cpu_per_try']:.2f} s", "", ""),
    ]  # fmt: skip
    for comparison in results["compare"]:
        dag, mono = comparison["dag"], comparison["monolith"]
        rate = f"{comparison['rate']:.0%} faults"
        rows += [
            (f"{rate}: builds finished, DAG / monolith",
             f"{dag['finished']}/{dag['builds']} / {mono['finished']}/{mono['builds']}", "", ""),
            (f"{rate}: mean time to live, DAG / monolith",
             f"{dag['mean']:.1f} s / {mono['mean']:.1f} s", f"{dag['mean'] / mono['mean']:.2f}x",
             "<= 0.5x at 5%" if comparison["rate"] == 0.05 else ""),
            (f"{rate}: p95 time to live, DAG / monolith",
             f"{dag['p95']:.1f} s / {mono['p95']:.1f} s", f"{dag['p95'] / mono['p95']:.2f}x", ""),
            (f"{rate}: steps executed, DAG / monolith",
             f"{dag['steps_executed']} / {mono['steps_executed']}",
             f"{dag['steps_executed'] / mono['steps_executed']:.2f}x", ""),
        ]  # fmt: skip
    rows.append(("DAG parse time, median / p95", f"{parse['median']:.3f} s / {parse['p95']:.3f} s",
                 "", "<= 0.3 s"))  # fmt: skip
    lines = ["| measure | value | ratio | target |", "| --- | --- | --- | --- |"]
    lines += [f"| {' | '.join(row)} |" for row in rows]
    return "\n".join(lines)


def chart(results: Mapping[str, Any], path: Path) -> None:
    """Write a PNG: hop gaps, and DAG against monolith by fault rate."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(10, 4))
    left, right = figure.subplots(1, 2)
    hop = [results["hop_default"]["gap_median"], results["hop_tuned"]["gap_median"]]
    left.bar(["Airflow default", "tuned"], hop, color=["#999999", "#2b6cb0"])
    left.axhline(0.1, color="#c0392b", linestyle="--", label="target 0.1 s")
    left.set_ylabel("median gap between dependent tasks (s)")
    left.legend()
    rates = [f"{c['rate']:.0%}" for c in results["compare"]]
    xs = range(len(rates))
    right.bar([x - 0.2 for x in xs], [c["dag"]["mean"] for c in results["compare"]], 0.4,
              label="DAG", color="#2b6cb0")  # fmt: skip
    right.bar([x + 0.2 for x in xs], [c["monolith"]["mean"] for c in results["compare"]], 0.4,
              label="monolith", color="#999999")  # fmt: skip
    right.set_xticks(list(xs), rates)
    right.set_xlabel("transient faults per step run")
    right.set_ylabel("mean time to live (s)")
    right.legend()
    figure.tight_layout()
    figure.savefig(path, format="png", dpi=100)


def main(argv: Sequence[str] | None = None, out: Callable[[str], None] = print) -> int:
    """Measure, print the table, write the JSON and the chart."""
    parser = argparse.ArgumentParser(prog="python -m bench.orchestration")
    parser.add_argument("--builds", type=int, default=50, help="throughput: builds at once")
    parser.add_argument("--compare", type=int, default=5, help="builds per system and rate")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results")
    args = parser.parse_args(argv)

    results = run(args)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(results, indent=2, default=str) + "\n")
    chart(results, args.out / "orchestration.png")
    out(f"machine: {results['machine']}")
    out(table(results))
    out(f"critical path: {' > '.join(results['one_build']['path'])}")
    out(f"written: {args.out / 'results.json'}, {args.out / 'orchestration.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
