"""A chain of 30 no-op tasks: what Airflow's orchestration costs between dependent tasks.

Only the benchmark's stack loads this file (`bench/orchestration.py` puts it beside the
real DAG in a dags folder of its own); it is not part of the deployed DAGs.
"""

from __future__ import annotations

from airflow.sdk import chain, dag, task

LENGTH = 30


@dag(dag_id="bench_noop_chain", schedule=None, catchup=False, tags=["benchmark"])
def bench_noop_chain() -> None:
    """Thirty tasks, each waiting for the one before."""

    @task
    def noop() -> None:
        """Do nothing: the task's run time is Airflow's own floor."""

    chain(*[noop.override(task_id=f"noop_{index:02d}")() for index in range(LENGTH)])


bench_noop_chain()
