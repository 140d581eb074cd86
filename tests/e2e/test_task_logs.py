"""What an on-call engineer reads: a build's whole output, from a real process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from typing import Any

from tests.conftest import REPO
from tests.helpers import PERSONAL

RUN_BUILD = textwrap.dedent(
    """
    import json, sys
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=sys.argv[1])
    run = bag.dags["property_builder"].test(run_conf=json.loads(sys.argv[2]))
    print("RUN STATE", run.state)
    """
)


def _run_build(submission: dict[str, Any]) -> str:
    """Build `submission` with `dag.test()` in a new process; return all it printed."""
    result = subprocess.run(
        [sys.executable, "-c", RUN_BUILD, str(REPO / "dags"), json.dumps(submission)],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        timeout=300,
        check=False,
    )
    return result.stdout + result.stderr


def test_build_output_never_shows_personal_data_unmasked(
    airflow_db: None, platform_db: Any, services: Any, example: dict[str, Any]
) -> None:
    # A separate process, because Airflow's log output bypasses pytest's capture; this
    # is everything the build prints, Airflow's own lines and tracebacks included.
    # The IBAN is sent with spaces and the email in mixed case: every form must be masked.
    example["payout"]["iban"] = "NL91 ABNA 0417 1643 00"
    output = _run_build(example)

    assert "RUN STATE success" in output, output[-3000:]
    assert "step=upsert_partner_contact outcome=succeeded" in output
    assert "contact=s***@g***.example" in output
    for value in (*PERSONAL, "NL91 ABNA 0417 1643 00"):
        assert value not in output


def test_database_error_quoting_personal_data_is_masked_in_the_log(
    airflow_db: None, platform_db: Any, example: dict[str, Any]
) -> None:
    # A check constraint that refuses this contact makes PostgreSQL quote the whole row,
    # email and phone included, in the error's DETAIL, which Airflow would print with a
    # chained traceback. The run must fail at once (a permanent error) and say what was
    # refused, without either value.
    platform_db.execute(
        "ALTER TABLE platform.partner_contacts ADD CONSTRAINT refuse_example"
        " CHECK (email NOT LIKE '%%grachtenhuis%%')"
    )
    try:
        output = _run_build(example)
    finally:
        platform_db.execute("ALTER TABLE platform.partner_contacts DROP CONSTRAINT refuse_example")

    assert "RUN STATE failed" in output, output[-3000:]
    assert "step=upsert_partner_contact outcome=failed_permanently" in output
    assert "CheckViolation [23514]" in output
    assert "constraint=refuse_example" in output
    for value in PERSONAL[:2]:
        assert value not in output
