"""How long the DAG processor takes to parse `dags/property_builder.py`.

    .venv/bin/python -m bench.parse_time [--repeat 20]

Each round parses the file in a fresh `DagBag` after Airflow is imported (as in the
DAG processor, whose process already has Airflow loaded), with our own modules evicted
so that their import is counted too. Prints the median, p95, max and min in seconds.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def measure(repeat: int) -> list[float]:
    """Return the parse time of each of `repeat` rounds, in seconds, in order."""
    os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    sys.path.insert(0, str(REPO))

    from airflow.dag_processing.dagbag import DagBag

    timings = []
    for _ in range(repeat):
        for name in [m for m in sys.modules if m.split(".")[0] in {"include", "unusual_prefix"}]:
            del sys.modules[name]
        started = time.perf_counter()
        bag = DagBag(dag_folder=str(REPO / "dags" / "property_builder.py"))
        timings.append(time.perf_counter() - started)
        assert not bag.import_errors, bag.import_errors
    return timings


def main() -> int:
    """Parse the DAG file `--repeat` times and print the timings."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    timings = measure(args.repeat)
    first = timings[0]
    timings.sort()
    p95 = timings[min(len(timings) - 1, round(0.95 * (len(timings) - 1)))]
    print(
        f"DAG parse time over {len(timings)} rounds: median {statistics.median(timings):.3f} s,"
        f" p95 {p95:.3f} s, max {timings[-1]:.3f} s, min {timings[0]:.3f} s,"
        f" first round {first:.3f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
