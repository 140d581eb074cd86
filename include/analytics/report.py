"""The build report for analysts: one self-contained HTML file made from the `analytics` schema.

    python -m include.analytics.report --url postgresql://... --out report.html [--days 30]

The URL defaults to `PROPERTY_DB_URL`. The report reads only the tables and views of the
`analytics` schema (never Airflow's metadata or the platform's tables), so it keeps working
whatever Airflow version wrote the runs. Charts are PNG images rendered with matplotlib's
Agg renderer and embedded as base64 data, so the file can be mailed or attached as is.

The window is the last `days` calendar days in UTC, today included. The per-step numbers
(failures and retries) come from `analytics.step_reliability`, which covers every
recorded run: that view has no time column to window it by.
"""

from __future__ import annotations

import argparse
import base64
import html
import io
import logging
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import psycopg
    from matplotlib.figure import Figure

log = logging.getLogger(__name__)

# The scheduler leaves a few seconds between a step's end and the start of the next one,
# and clocks of two workers differ a little: a step that ended this much after another
# started still counts as having run before it.
CRITICAL_PATH_TOLERANCE = timedelta(seconds=5)
TOP_FAILING_STEPS = 15
RECENT_FAILED_BUILDS = 20
ERROR_CHARS = 300

# Shown in a table cell for a value that is not known (yet).
_MISSING = "-"
_HIGHLIGHT = "#c0392b"
_MUTED = "#95a5a6"
_PRIMARY = "#2c6fbb"
_SECONDARY = "#e67e22"

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 60rem;
       color: #222; line-height: 1.4; }
h1 { margin-bottom: 0.2rem; }
header p { margin: 0.2rem 0; color: #555; }
section { margin-top: 2.5rem; }
table { border-collapse: collapse; margin-top: 1rem; font-size: 0.9rem; }
th, td { border: 1px solid #ddd; padding: 0.25rem 0.6rem; text-align: left;
         vertical-align: top; }
th { background: #f4f4f4; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
img { max-width: 100%; height: auto; display: block; margin-top: 1rem; }
p.none { color: #666; font-style: italic; }
"""


class ReportError(Exception):
    """Raised when the report cannot be made from the arguments it was given."""


class NoDatabaseUrl(ReportError):
    """Raised when neither `--url` nor `PROPERTY_DB_URL` names the database to read."""


@dataclass(frozen=True)
class StepTiming:
    """When one step of one build ran (its latest successful try)."""

    step: str
    started_at: datetime
    ended_at: datetime

    @property
    def seconds(self) -> float:
        """Return how long the step ran."""
        return (self.ended_at - self.started_at).total_seconds()


@dataclass(frozen=True)
class Window:
    """The calendar days (UTC) a report covers, and the moment it was made."""

    first_day: date
    last_day: date
    now: datetime

    @property
    def since(self) -> datetime:
        """Return the first moment of the window: midnight UTC of its first day."""
        return datetime.combine(self.first_day, time.min, tzinfo=UTC)


def critical_path(
    steps: Sequence[StepTiming], tolerance: timedelta = CRITICAL_PATH_TOLERANCE
) -> list[StepTiming]:
    """Return the chain of steps that set a build's length, first step first.

    The chain ends with the step that ended last. Walking back, the predecessor of a
    step is the one that ended latest no later than `tolerance` after the step started
    (and that started no later than it, and ended before it did, so the walk always
    moves back in time). A tie goes to the step that started earlier (it ran longer),
    then to the step name, so the answer does not depend on the input's order. The
    walk stops at a step with no predecessor.
    """
    if not steps:
        return []

    def pick(candidates: Sequence[StepTiming]) -> StepTiming:
        last_end = max(timing.ended_at for timing in candidates)
        ending_last = [timing for timing in candidates if timing.ended_at == last_end]
        return min(ending_last, key=lambda timing: (timing.started_at, timing.step))

    current = pick(steps)
    path = [current]
    while True:
        candidates = [
            timing
            for timing in steps
            if timing.ended_at <= current.started_at + tolerance
            and timing.started_at <= current.started_at
            and timing.ended_at < current.ended_at
        ]
        if not candidates:
            break
        current = pick(candidates)
        path.append(current)
    path.reverse()
    return path


@dataclass(frozen=True)
class DayRow:
    """One day of `analytics.builds_per_day`."""

    day: date
    builds: int
    succeeded: int
    failed: int
    running: int
    p50_seconds: float | None
    p95_seconds: float | None


@dataclass(frozen=True)
class StepReliability:
    """One step of `analytics.step_reliability`."""

    step: str
    step_runs: int
    attempts: int
    failed_attempts: int
    failure_rate: Decimal | None
    retry_rate: Decimal | None
    saved_by_retry: int


@dataclass(frozen=True)
class FailedBuild:
    """A failed build of the window, with the step that failed it and its error."""

    run_id: str
    build: int
    queued_at: datetime | None
    failed_step: str | None
    error: str | None


@dataclass(frozen=True)
class StuckBuild:
    """One row of `analytics.stuck_builds`."""

    run_id: str
    build: int
    submission_id: str | None
    state: str
    queued_at: datetime
    started_at: datetime | None
    waiting_for: timedelta


@dataclass(frozen=True)
class TypicalBuild:
    """The successful build of median duration and the timings of its steps."""

    run_id: str
    build: int
    duration_seconds: float
    successful_builds: int
    steps: tuple[StepTiming, ...]


@dataclass(frozen=True)
class ReportData:
    """Everything the report shows, read from the database in one transaction."""

    window: Window
    builds: int
    succeeded: int
    failed: int
    durations: tuple[float, ...]
    days: tuple[DayRow, ...]
    reliability: tuple[StepReliability, ...]
    failed_builds: tuple[FailedBuild, ...]
    typical: TypicalBuild | None
    stuck: tuple[StuckBuild, ...]


_COUNTS_SQL = """
SELECT
    count(*),
    count(*) FILTER (WHERE state = 'success'),
    count(*) FILTER (WHERE state = 'failed')
FROM analytics.build_runs
WHERE queued_at >= %(since)s AND queued_at <= %(now)s
"""

_SUCCESSFUL_SQL = """
SELECT run_id, build, duration_seconds
FROM analytics.build_runs
WHERE state = 'success' AND duration_seconds IS NOT NULL
    AND queued_at >= %(since)s AND queued_at <= %(now)s
ORDER BY duration_seconds, queued_at, run_id, build
"""

_DAYS_SQL = """
SELECT day, builds, succeeded, failed, running, p50_seconds_to_live, p95_seconds_to_live
FROM analytics.builds_per_day
WHERE day >= %(first_day)s AND day <= %(last_day)s
ORDER BY day
"""

_RELIABILITY_SQL = """
SELECT step, step_runs, attempts, failed_attempts, failure_rate, retry_rate, saved_by_retry
FROM analytics.step_reliability
WHERE failed_attempts > 0
ORDER BY failed_attempts DESC, step
LIMIT %(limit)s
"""

_FAILED_BUILDS_SQL = """
SELECT run_id, build, queued_at, failed_step, error
FROM analytics.build_runs
WHERE state = 'failed' AND queued_at >= %(since)s AND queued_at <= %(now)s
ORDER BY queued_at DESC, run_id, build
LIMIT %(limit)s
"""

# The latest successful try of each step: a step retried or re-run by an operator
# counts once, with the timing of the try the build went on with.
_STEP_TIMINGS_SQL = """
SELECT DISTINCT ON (step) step, started_at, ended_at
FROM analytics.build_steps
WHERE run_id = %(run_id)s AND build = %(build)s AND state = 'success'
    AND started_at IS NOT NULL AND ended_at IS NOT NULL
ORDER BY step, try_number DESC
"""

_STUCK_SQL = """
SELECT run_id, build, submission_id, state, queued_at, started_at, waiting_for
FROM analytics.stuck_builds
ORDER BY queued_at, run_id, build
"""


def report_window(days: int, now: datetime | None = None) -> Window:
    """Return the window of the last `days` UTC calendar days up to `now` (default: now).

    Raises:
        ReportError: if `days` is below 1 or `now` has no time zone.
    """
    if days < 1:
        raise ReportError(f"days: must be at least 1, got {days}")
    moment = now if now is not None else datetime.now(UTC)
    if moment.tzinfo is None:
        raise ReportError("now: must carry a time zone")
    last_day = moment.astimezone(UTC).date()
    return Window(first_day=last_day - timedelta(days=days - 1), last_day=last_day, now=moment)


def read_report_data(conn: psycopg.Connection[Any], window: Window) -> ReportData:
    """Read every number of the report from the `analytics` schema in one transaction."""
    params: dict[str, Any] = {
        "since": window.since,
        "now": window.now,
        "first_day": window.first_day,
        "last_day": window.last_day,
    }
    with conn.transaction():
        counts = conn.execute(_COUNTS_SQL, params).fetchone()
        successful = conn.execute(_SUCCESSFUL_SQL, params).fetchall()
        days = [DayRow(*row) for row in conn.execute(_DAYS_SQL, params)]
        reliability = [
            StepReliability(*row)
            for row in conn.execute(_RELIABILITY_SQL, {"limit": TOP_FAILING_STEPS})
        ]
        failed_builds = [
            FailedBuild(*row)
            for row in conn.execute(_FAILED_BUILDS_SQL, {**params, "limit": RECENT_FAILED_BUILDS})
        ]
        typical = _typical_build(conn, successful)
        stuck = [StuckBuild(*row) for row in conn.execute(_STUCK_SQL)]

    builds, succeeded, failed = counts if counts is not None else (0, 0, 0)
    return ReportData(
        window=window,
        builds=builds,
        succeeded=succeeded,
        failed=failed,
        durations=tuple(float(row[2]) for row in successful),
        days=tuple(days),
        reliability=tuple(reliability),
        failed_builds=tuple(failed_builds),
        typical=typical,
        stuck=tuple(stuck),
    )


def _typical_build(
    conn: psycopg.Connection[Any], successful: Sequence[tuple[Any, ...]]
) -> TypicalBuild | None:
    # With an even count the lower of the two middle builds is taken: a real build,
    # not an average of two.
    if not successful:
        return None
    run_id, build, duration = successful[(len(successful) - 1) // 2]
    steps = tuple(
        StepTiming(step=row[0], started_at=row[1], ended_at=row[2])
        for row in conn.execute(_STEP_TIMINGS_SQL, {"run_id": run_id, "build": build})
    )
    return TypicalBuild(
        run_id=run_id,
        build=build,
        duration_seconds=float(duration),
        successful_builds=len(successful),
        steps=steps,
    )


def render_report(
    conn: psycopg.Connection[Any], days: int = 30, now: datetime | None = None
) -> str:
    """Return the report of the last `days` days as one self-contained HTML page.

    Raises:
        ReportError: if `days` is below 1 or `now` has no time zone.
    """
    data = read_report_data(conn, report_window(days, now))
    page = render_html(data)
    log.info(
        "report rendered days=%s builds=%s stuck=%s bytes=%s",
        days,
        data.builds,
        len(data.stuck),
        len(page),
    )
    return page


def render_html(data: ReportData) -> str:
    """Return the HTML page of report data; every value in it is escaped."""
    window = data.window
    sections = [
        _durations_section(data),
        _time_to_live_section(data),
        _failures_section(data),
        _critical_path_section(data),
        _stuck_section(data),
    ]
    header = (
        "<header><h1>PropertyBuilder build report</h1>"
        f"<p>Generated {_e(_timestamp(window.now))}.</p>"
        f"<p>Window: {_e(window.first_day.isoformat())} to {_e(window.last_day.isoformat())}"
        f" (UTC, {_e((window.last_day - window.first_day).days + 1)} days, by the day a"
        " build was queued).</p>"
        f"<p>{_e(data.builds)} builds queued in the window: {_e(data.succeeded)} succeeded,"
        f" {_e(data.failed)} failed, {_e(data.builds - data.succeeded - data.failed)}"
        " not finished.</p></header>"
    )
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        "<title>PropertyBuilder build report</title>\n"
        f"<style>{_STYLE}</style>\n</head>\n<body>\n"
        + header
        + "\n"
        + "\n".join(sections)
        + "\n</body>\n</html>\n"
    )


def _durations_section(data: ReportData) -> str:
    body: list[str] = []
    if not data.durations:
        body.append(_none("No successful builds in the window."))
    else:
        ordered = sorted(data.durations)
        body.append(
            f"<p>Successful builds: {_e(len(ordered))}. From queued to live:"
            f" shortest {_e(_seconds(ordered[0]))}, median"
            f" {_e(_seconds(_median(ordered)))}, longest {_e(_seconds(ordered[-1]))}.</p>"
        )
        body.append(_duration_histogram(ordered))
    return _section("durations", "Distribution of build durations", body)


def _time_to_live_section(data: ReportData) -> str:
    body: list[str] = []
    if not data.days:
        body.append(_none("No builds in the window."))
    else:
        if any(row.p50_seconds is not None for row in data.days):
            body.append(_time_to_live_chart(data.days))
        else:
            body.append(_none("No build in the window has succeeded, so no time to live."))
        body.append(
            _table(
                ["Day", "Builds", "Succeeded", "Failed", "Not finished", "p50", "p95"],
                [
                    [
                        row.day.isoformat(),
                        str(row.builds),
                        str(row.succeeded),
                        str(row.failed),
                        str(row.running),
                        _seconds(row.p50_seconds),
                        _seconds(row.p95_seconds),
                    ]
                    for row in data.days
                ],
                numeric={1, 2, 3, 4, 5, 6},
            )
        )
    return _section("time-to-live", "Time to live per day (p50 and p95)", body)


def _failures_section(data: ReportData) -> str:
    body: list[str] = [
        "<p>Over every recorded run. A step run is one step of one run with all its tries;"
        " saved by retry counts step runs that failed, then succeeded on a later try.</p>"
    ]
    if not data.reliability:
        body.append(_none("No step has failed."))
    else:
        body.append(_failures_chart(data.reliability))
        body.append(
            _table(
                [
                    "Step",
                    "Step runs",
                    "Attempts",
                    "Failed attempts",
                    "Failure rate",
                    "Retry rate",
                    "Saved by retry",
                ],
                [
                    [
                        row.step,
                        str(row.step_runs),
                        str(row.attempts),
                        str(row.failed_attempts),
                        _rate(row.failure_rate),
                        _rate(row.retry_rate),
                        str(row.saved_by_retry),
                    ]
                    for row in data.reliability
                ],
                numeric={1, 2, 3, 4, 5, 6},
            )
        )

    body.append(f"<h3>Failed builds in the window (latest {_e(RECENT_FAILED_BUILDS)})</h3>")
    if not data.failed_builds:
        body.append(_none("No failed builds in the window."))
    else:
        body.append(
            _table(
                ["Run", "Build", "Queued", "Failed step", "Error"],
                [
                    [
                        row.run_id,
                        str(row.build),
                        _timestamp(row.queued_at),
                        row.failed_step or _MISSING,
                        _shorten(row.error),
                    ]
                    for row in data.failed_builds
                ],
                numeric={1},
            )
        )
    return _section("failures", "Failures and retries per step", body)


def _critical_path_section(data: ReportData) -> str:
    typical = data.typical
    body: list[str] = []
    if typical is None:
        body.append(_none("No successful build in the window to take as typical."))
        return _section("critical-path", "Critical path of a typical build", body)

    body.append(
        f"<p>Run {_e(typical.run_id)}, build {_e(typical.build)}: its"
        f" {_e(_seconds(typical.duration_seconds))} from queued to live is the median of"
        f" {_e(typical.successful_builds)} successful builds in the window.</p>"
    )
    if not typical.steps:
        body.append(_none("This build has no recorded step timings."))
        return _section("critical-path", "Critical path of a typical build", body)

    path = critical_path(typical.steps)
    body.append(_gantt_chart(typical.steps, path))
    origin = min(timing.started_at for timing in typical.steps)
    rows: list[list[str]] = []
    previous: StepTiming | None = None
    for number, timing in enumerate(path, start=1):
        gap = None if previous is None else (timing.started_at - previous.ended_at).total_seconds()
        rows.append(
            [
                str(number),
                timing.step,
                _seconds((timing.started_at - origin).total_seconds()),
                _seconds(timing.seconds),
                _seconds(gap),
            ]
        )
        previous = timing
    running = sum(timing.seconds for timing in path)
    waiting = (path[-1].ended_at - path[0].started_at).total_seconds() - running
    body.append(
        f"<p>{_e(len(path))} of its {_e(len(typical.steps))} steps are on the critical"
        f" path: {_e(_seconds(running))} running and {_e(_seconds(waiting))} between"
        " steps.</p>"
    )
    body.append(
        _table(
            ["#", "Step", "Started after", "Duration", "Gap before"],
            rows,
            numeric={0, 2, 3, 4},
        )
    )
    return _section("critical-path", "Critical path of a typical build", body)


def _stuck_section(data: ReportData) -> str:
    body: list[str] = []
    if not data.stuck:
        body.append(_none("No build has been waiting for more than an hour."))
    else:
        body.append(
            _table(
                ["Run", "Build", "Submission", "State", "Queued", "Started", "Waiting for"],
                [
                    [
                        row.run_id,
                        str(row.build),
                        row.submission_id or _MISSING,
                        row.state,
                        _timestamp(row.queued_at),
                        _timestamp(row.started_at),
                        _seconds(row.waiting_for.total_seconds()),
                    ]
                    for row in data.stuck
                ],
                numeric={1, 6},
            )
        )
    return _section("stuck", "Builds stuck for more than an hour", body)


def _duration_histogram(durations: Sequence[float]) -> str:
    from matplotlib.ticker import MaxNLocator

    minutes = [value / 60 for value in durations]
    figure = _figure(8.0, 3.5)
    axes = figure.add_subplot()
    bins = min(40, max(5, round(len(minutes) ** 0.5)))
    axes.hist(minutes, bins=bins, color=_PRIMARY, edgecolor="white")
    axes.axvline(_median(minutes), color=_HIGHLIGHT, linestyle="--", label="median")
    axes.set_xlabel("minutes from queued to live")
    axes.set_ylabel("builds")
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    axes.legend()
    return _image(figure, "Histogram of the durations of successful builds")


def _time_to_live_chart(days: Sequence[DayRow]) -> str:
    # Days as whole numbers from the first one, labelled with their dates: a day with no
    # builds keeps its place, and no hours appear between days that have one point each.
    nan = float("nan")
    first = days[0].day
    x = [(row.day - first).days for row in days]
    p50 = [nan if row.p50_seconds is None else row.p50_seconds / 60 for row in days]
    p95 = [nan if row.p95_seconds is None else row.p95_seconds / 60 for row in days]
    every = max(1, len(days) // 10 + (len(days) % 10 > 0))
    figure = _figure(8.0, 3.5)
    axes = figure.add_subplot()
    axes.plot(x, p50, marker="o", color=_PRIMARY, label="p50")
    axes.plot(x, p95, marker="o", color=_SECONDARY, label="p95")
    axes.set_xticks(x[::every], labels=[row.day.isoformat() for row in days[::every]])
    axes.set_ylabel("minutes from queued to live")
    axes.set_ylim(bottom=0)
    axes.legend()
    figure.autofmt_xdate()
    return _image(figure, "Line chart of the p50 and p95 time to live per day")


def _failures_chart(rows: Sequence[StepReliability]) -> str:
    from matplotlib.ticker import MaxNLocator

    steps = [row.step for row in rows]
    positions = list(range(len(rows)))
    height = 0.4
    figure = _figure(8.0, 1.0 + 0.45 * len(rows))
    axes = figure.add_subplot()
    axes.barh(
        [p - height / 2 for p in positions],
        [row.failed_attempts for row in rows],
        height=height,
        color=_HIGHLIGHT,
        label="failed attempts",
    )
    axes.barh(
        [p + height / 2 for p in positions],
        [row.saved_by_retry for row in rows],
        height=height,
        color=_PRIMARY,
        label="saved by retry",
    )
    axes.set_yticks(positions, labels=steps)
    axes.invert_yaxis()
    axes.set_xlabel("count")
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.legend()
    return _image(figure, "Bar chart of failed attempts and saves by retry per step")


def _gantt_chart(steps: Sequence[StepTiming], path: Sequence[StepTiming]) -> str:
    ordered = sorted(steps, key=lambda timing: (timing.started_at, timing.step))
    origin = ordered[0].started_at
    on_path = set(path)
    figure = _figure(8.0, 1.0 + 0.3 * len(ordered))
    axes = figure.add_subplot()
    axes.barh(
        list(range(len(ordered))),
        [timing.seconds for timing in ordered],
        left=[(timing.started_at - origin).total_seconds() for timing in ordered],
        color=[_HIGHLIGHT if timing in on_path else _MUTED for timing in ordered],
    )
    axes.set_yticks(list(range(len(ordered))), labels=[timing.step for timing in ordered])
    axes.tick_params(axis="y", labelsize=8)
    axes.invert_yaxis()
    axes.set_xlabel("seconds since the first step started (critical path in red)")
    return _image(figure, "Gantt chart of the typical build's steps, critical path highlighted")


def _figure(width: float, height: float) -> Figure:
    # A Figure of its own, not pyplot: no global state, and PNG output goes through
    # the Agg renderer whatever backend the environment configures.
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=100, layout="constrained")


def _image(figure: Figure, alt: str) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    encoded = base64.b64encode(buffer.getvalue()).decode("ascii")
    return f'<img src="data:image/png;base64,{encoded}" alt="{_e(alt)}">'


def _section(anchor: str, title: str, body: Sequence[str]) -> str:
    return f'<section id="{_e(anchor)}">\n<h2>{_e(title)}</h2>\n' + "\n".join(body) + "\n</section>"


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]], numeric: set[int]) -> str:
    head = "".join(f"<th>{_e(header)}</th>" for header in headers)
    lines = [f"<table>\n<thead><tr>{head}</tr></thead>\n<tbody>"]
    for row in rows:
        cells = "".join(
            f'<td class="num">{_e(cell)}</td>' if index in numeric else f"<td>{_e(cell)}</td>"
            for index, cell in enumerate(row)
        )
        lines.append(f"<tr>{cells}</tr>")
    lines.append("</tbody>\n</table>")
    return "\n".join(lines)


def _none(sentence: str) -> str:
    return f'<p class="none">{_e(sentence)}</p>'


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _median(ordered: Sequence[float]) -> float:
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2


def _seconds(value: float | None) -> str:
    if value is None:
        return _MISSING
    sign = "-" if value < 0 else ""
    magnitude = abs(value)
    if magnitude < 59.5:
        digits = 1 if magnitude < 10 and magnitude % 1 else 0
        return f"{sign}{magnitude:.{digits}f} s"
    whole = round(magnitude)
    if whole < 3600:
        return f"{sign}{whole // 60} min {whole % 60:02d} s"
    return f"{sign}{whole // 3600} h {whole % 3600 // 60:02d} min"


def _rate(value: Decimal | None) -> str:
    return _MISSING if value is None else f"{value * 100:.1f} %"


def _timestamp(value: datetime | None) -> str:
    if value is None:
        return _MISSING
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _shorten(text: str | None) -> str:
    if not text:
        return _MISSING
    return text if len(text) <= ERROR_CHARS else text[: ERROR_CHARS - 1] + "…"


def database_url(explicit: str | None = None) -> str:
    """Return the database URL: the argument, else `PROPERTY_DB_URL`.

    Raises:
        NoDatabaseUrl: if neither is set.
    """
    url = explicit or os.environ.get("PROPERTY_DB_URL")
    if not url:
        raise NoDatabaseUrl("no database given: pass --url or set PROPERTY_DB_URL")
    return url


def _positive(text: str) -> int:
    try:
        number = int(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from err
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {number}")
    return number


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line: write the report to `--out`; return the exit status."""
    import psycopg

    parser = argparse.ArgumentParser(
        prog="python -m include.analytics.report",
        description="Write the build report (one self-contained HTML file).",
    )
    parser.add_argument("--url", help="platform database URL (default: $PROPERTY_DB_URL)")
    parser.add_argument("--out", required=True, type=Path, help="the HTML file to write")
    parser.add_argument(
        "--days", type=_positive, default=30, help="UTC days to cover, today included"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s %(message)s")

    try:
        url = database_url(args.url)
        with psycopg.connect(url, connect_timeout=10) as conn:
            page = render_report(conn, days=args.days)
        args.out.write_text(page, encoding="utf-8")
    except (ReportError, psycopg.Error, OSError) as err:
        # One line, without a traceback: the person at the terminal can act on it.
        message = " ".join(str(err).split())
        sys.stderr.write(f"report: {message}\n")
        return 1
    log.info("report written path=%s days=%s", args.out, args.days)
    return 0


if __name__ == "__main__":
    sys.exit(main())
