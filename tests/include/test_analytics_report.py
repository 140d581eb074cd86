"""The analysts' HTML report: its critical-path walk, its sections on real data and on none,
and its command line, against a real PostgreSQL."""

from __future__ import annotations

import base64
import os
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from include.analytics.report import (
    ReportError,
    StepTiming,
    critical_path,
    main,
    render_report,
)
from tests.include.test_analytics_views import (
    SCRIPT_ERROR,
    DataSet,
    add_successful_build,
    insert_data_set,
)

REPO = Path(__file__).resolve().parents[2]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
HEADINGS = {
    "durations": "Distribution of build durations",
    "time-to-live": "Time to live per day (p50 and p95)",
    "failures": "Failures and retries per step",
    "critical-path": "Critical path of a typical build",
    "stuck": "Builds stuck for more than an hour",
}
START = datetime(2025, 3, 4, 9, 0, tzinfo=UTC)


def timing(step: str, start: float, end: float) -> StepTiming:
    """Return a step that ran from `start` to `end` seconds after START."""
    return StepTiming(step, START + timedelta(seconds=start), START + timedelta(seconds=end))


def section(page: str, anchor: str) -> str:
    """Return the HTML of one section of the report."""
    found = re.search(rf'<section id="{anchor}">(.*?)</section>', page, re.DOTALL)
    assert found is not None, f"no section {anchor}"
    return found.group(1)


def png_images(page: str) -> list[bytes]:
    """Return the decoded bytes of every embedded PNG image."""
    return [
        base64.b64decode(encoded, validate=True)
        for encoded in re.findall(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    ]


@pytest.fixture
def data_set(platform_db: Any) -> DataSet:
    """The known builds shared with the views' tests, in an otherwise empty schema."""
    return insert_data_set(platform_db)


def test_critical_path_leaves_out_a_shorter_parallel_branch() -> None:
    steps = [
        timing("validate", 0, 10),
        timing("create_record", 12, 40),
        timing("geocode", 12, 20),  # beside create_record, ends well before it
        timing("publish", 42, 90),
    ]

    path = critical_path(steps)

    assert [step.step for step in path] == ["validate", "create_record", "publish"]


def test_critical_path_does_not_depend_on_input_order() -> None:
    steps = [
        timing("publish", 42, 90),
        timing("geocode", 12, 20),
        timing("validate", 0, 10),
        timing("create_record", 12, 40),
    ]

    assert [step.step for step in critical_path(steps)] == [
        "validate",
        "create_record",
        "publish",
    ]


def test_critical_path_accepts_an_overlap_within_the_tolerance_only() -> None:
    # notify starts 3 s before publish ends (clock skew): publish still came first.
    # audit ended 6 s after notify started: beyond 5 s, so it ran beside it.
    steps = [
        timing("publish", 0, 50),
        timing("audit", 20, 53),
        timing("notify", 47, 60),
    ]

    assert [step.step for step in critical_path(steps)] == ["publish", "notify"]
    assert [step.step for step in critical_path(steps, tolerance=timedelta(seconds=6))] == [
        "audit",
        "notify",
    ]


def test_critical_path_breaks_ties_by_the_earlier_start_then_the_name() -> None:
    steps = [
        timing("short_branch", 15, 30),
        timing("long_branch", 5, 30),
        timing("twin_b", 40, 60),
        timing("twin_a", 40, 60),
        timing("first", 0, 4),
    ]

    path = critical_path(steps)

    assert [step.step for step in path] == ["first", "long_branch", "twin_a"]


def test_critical_path_waits_any_gap_and_stops_without_a_predecessor() -> None:
    steps = [timing("queued_long", 0, 10), timing("after_a_wait", 600, 620)]

    assert [step.step for step in critical_path(steps)] == ["queued_long", "after_a_wait"]
    assert critical_path([timing("only", 0, 1)]) == [timing("only", 0, 1)]
    assert critical_path([]) == []


def test_report_shows_every_section_with_charts(platform_db: Any, data_set: DataSet) -> None:
    page = render_report(platform_db, days=30)

    for anchor, heading in HEADINGS.items():
        assert f"<h2>{heading}</h2>" in section(page, anchor)
    images = png_images(page)
    assert len(images) >= 4
    assert all(image.startswith(PNG_SIGNATURE) for image in images)
    first_day = (data_set.now - timedelta(days=29)).date().isoformat()
    assert f"Window: {first_day} to {data_set.now.date().isoformat()}" in page
    assert "10 builds queued in the window: 7 succeeded, 1 failed, 2 not finished" in page


def test_report_escapes_error_messages(platform_db: Any, data_set: DataSet) -> None:
    page = render_report(platform_db)

    assert "<script" not in page
    failures = section(page, "failures")
    assert "ListingRejected: &lt;script&gt;alert(&#x27;listing&#x27;)&lt;/script&gt;" in failures
    assert SCRIPT_ERROR not in page


def test_report_lists_only_failing_steps_and_the_stuck_build(
    platform_db: Any, data_set: DataSet
) -> None:
    page = render_report(platform_db)

    failures = section(page, "failures")
    assert "geocode_address" in failures
    assert "publish_listing" in failures
    assert "validate_submission" not in failures
    stuck = section(page, "stuck")
    assert f"<td>{data_set.stuck_run}</td>" in stuck
    assert f"<td>{data_set.fresh_run}</td>" not in stuck


def test_report_shows_the_critical_path_of_the_median_build(
    platform_db: Any, data_set: DataSet
) -> None:
    page = render_report(platform_db)

    critical = section(page, "critical-path")
    assert f"Run {data_set.typical_run}, build 1" in critical
    assert "of 7 successful builds" in critical
    positions = [
        critical.index(f"<td>{step}</td>")
        for step in ("validate_submission", "create_property_record", "publish_listing")
    ]
    assert positions == sorted(positions)
    assert "geocode_address" not in critical
    # create_property_record starts 2 s after validate_submission ended.
    assert '<td class="num">2 s</td>' in critical
    assert len(png_images(critical)) == 1


def test_report_takes_the_lower_middle_build_of_an_even_count(platform_db: Any) -> None:
    queued = datetime.now(UTC) - timedelta(days=1)
    add_successful_build(platform_db, "shorter", queued, 100)
    add_successful_build(platform_db, "longer", queued + timedelta(hours=1), 200)

    critical = section(render_report(platform_db), "critical-path")

    assert "Run shorter, build 1" in critical
    assert "of 2 successful builds" in critical


def test_report_window_leaves_out_older_builds(platform_db: Any, data_set: DataSet) -> None:
    page = render_report(platform_db, days=3)

    # Only day C (two days ago) and today are in: one successful build of 500 s.
    assert "Successful builds: 1." in section(page, "durations")
    assert data_set.day_b.isoformat() not in section(page, "time-to-live")
    assert data_set.day_c.isoformat() in section(page, "time-to-live")
    assert data_set.failed_run not in section(page, "failures")


def test_report_refuses_a_window_of_no_days(platform_db: Any) -> None:
    with pytest.raises(ReportError, match="days"):
        render_report(platform_db, days=0)


def test_report_on_an_empty_schema_says_there_is_no_data(platform_db: Any) -> None:
    now = datetime(2025, 3, 4, 12, 0, tzinfo=UTC)

    page = render_report(platform_db, days=7, now=now)

    assert "<img" not in page
    assert "Generated 2025-03-04 12:00:00 UTC." in page
    assert "Window: 2025-02-26 to 2025-03-04" in page
    assert "No successful builds in the window." in section(page, "durations")
    assert "No builds in the window." in section(page, "time-to-live")
    assert "No step has failed." in section(page, "failures")
    assert "No failed builds in the window." in section(page, "failures")
    assert "No successful build in the window to take as typical." in section(page, "critical-path")
    assert "No build has been waiting for more than an hour." in section(page, "stuck")


def test_command_line_writes_the_report(
    platform_db: Any, platform_url: str, data_set: DataSet, tmp_path: Path
) -> None:
    out = tmp_path / "report.html"

    status = main(["--url", platform_url, "--out", str(out), "--days", "10"])

    assert status == 0
    page = out.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>")
    assert len(png_images(page)) >= 4


def test_command_line_reads_the_url_from_the_environment(
    platform_db: Any,
    platform_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PROPERTY_DB_URL", platform_url)
    out = tmp_path / "report.html"

    assert main(["--out", str(out)]) == 0
    assert "No successful builds in the window." in out.read_text(encoding="utf-8")


def test_command_line_without_a_url_fails_with_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("PROPERTY_DB_URL", raising=False)
    out = tmp_path / "report.html"

    status = main(["--out", str(out)])

    assert status == 1
    error = capsys.readouterr().err
    assert error.count("\n") == 1
    assert "PROPERTY_DB_URL" in error
    assert not out.exists()


def test_module_runs_with_python_dash_m(
    platform_db: Any, platform_url: str, data_set: DataSet, tmp_path: Path
) -> None:
    out = tmp_path / "report.html"
    env = {key: value for key, value in os.environ.items() if key != "PROPERTY_DB_URL"}

    result = subprocess.run(
        [sys.executable, "-m", "include.analytics.report", "--url", platform_url, "--out", out],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    assert "report written" in result.stderr
    assert out.stat().st_size > 10_000
