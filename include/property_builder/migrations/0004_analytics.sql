-- Run metadata for analysts: one row per build, one per step attempt, and views for the
-- common questions. Written by the analytics listener (plugins/analytics_listener.py);
-- a stable schema of ours, unlike Airflow's own metadata tables.
CREATE SCHEMA IF NOT EXISTS analytics;

-- One row per build of a run. A run id is a submission id; a run cleared after it
-- succeeded (a rebuild) is a new build of it, numbered on, with `rebuilt_from` naming the
-- build it replaced. A run that failed and is cleared carries on as the same build
-- (an operator recovering it), so its time to live includes the wait for the operator.
CREATE TABLE analytics.build_runs (
    run_id            text NOT NULL,
    build             integer NOT NULL DEFAULT 1,
    submission_id     text,
    property_id       bigint,
    state             text NOT NULL,
    queued_at         timestamptz,
    started_at        timestamptz,
    ended_at          timestamptz,
    -- ended_at - queued_at: the time from sign-up to a live property (or the failure).
    duration_seconds  double precision,
    attempts_total    integer NOT NULL DEFAULT 0,
    failed_step       text,
    error             text,
    rebuilt_from      integer,
    updated_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (run_id, build)
);

-- One row per step attempt. `step` is the task id, with `[map index]` for a mapped
-- step's room type. Airflow numbers tries on across clears, so (run, step, try) is unique
-- across builds too. `state` is the attempt's outcome: running, deferred, success,
-- failed (whether or not Airflow retries it), skipped, or upstream_failed for a step that
-- never ran because an earlier one failed (one row, try 0).
CREATE TABLE analytics.build_steps (
    run_id            text NOT NULL,
    build             integer NOT NULL DEFAULT 1,
    submission_id     text,
    step              text NOT NULL,
    try_number        integer NOT NULL,
    state             text,
    started_at        timestamptz,
    ended_at          timestamptz,
    duration_seconds  double precision,
    error_type        text,
    error_message     text,
    updated_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (run_id, step, try_number)
);

CREATE INDEX build_runs_queued_at ON analytics.build_runs (queued_at);
CREATE INDEX build_steps_step ON analytics.build_steps (step);

-- Builds per day (by the day they were queued, UTC): how many, how they ended, and the
-- time from sign-up to a live property (queued to success) at the median and p95.
CREATE VIEW analytics.builds_per_day AS
SELECT
    (queued_at AT TIME ZONE 'UTC')::date AS day,
    count(*) AS builds,
    count(*) FILTER (WHERE state = 'success') AS succeeded,
    count(*) FILTER (WHERE state = 'failed') AS failed,
    count(*) FILTER (WHERE state NOT IN ('success', 'failed')) AS running,
    percentile_cont(0.5) WITHIN GROUP (ORDER BY duration_seconds)
        FILTER (WHERE state = 'success') AS p50_seconds_to_live,
    percentile_cont(0.95) WITHIN GROUP (ORDER BY duration_seconds)
        FILTER (WHERE state = 'success') AS p95_seconds_to_live
FROM analytics.build_runs
WHERE queued_at IS NOT NULL
GROUP BY 1;

-- Per step: attempts, failed attempts, and how often a retry was needed and saved it.
-- A step run is one step in one build of a run (all its tries), if it ran at all. failure_rate = failed attempts /
-- attempts; retry_rate = step runs that needed more than one try / step runs;
-- saved_by_retry = step runs that failed at least once, then succeeded.
CREATE VIEW analytics.step_reliability AS
WITH per_run AS (
    SELECT
        run_id,
        build,
        step,
        count(*) AS attempts,
        count(*) FILTER (WHERE state = 'failed') AS failures,
        bool_or(state = 'success') AS succeeded
    FROM analytics.build_steps
    WHERE try_number > 0
    GROUP BY run_id, build, step
)
SELECT
    step,
    count(*) AS step_runs,
    sum(attempts)::integer AS attempts,
    sum(failures)::integer AS failed_attempts,
    round(sum(failures)::numeric / sum(attempts), 4) AS failure_rate,
    round(count(*) FILTER (WHERE attempts > 1)::numeric / count(*), 4) AS retry_rate,
    count(*) FILTER (WHERE succeeded AND failures > 0) AS saved_by_retry
FROM per_run
GROUP BY step;

-- The slowest steps: duration of successful attempts, median and p95, slowest first.
CREATE VIEW analytics.slowest_steps AS
SELECT
    step,
    count(*) AS attempts,
    percentile_cont(0.5) WITHIN GROUP (ORDER BY duration_seconds) AS p50_seconds,
    percentile_cont(0.95) WITHIN GROUP (ORDER BY duration_seconds) AS p95_seconds,
    max(duration_seconds) AS max_seconds
FROM analytics.build_steps
WHERE state = 'success' AND duration_seconds IS NOT NULL
GROUP BY step
ORDER BY p50_seconds DESC;

-- Builds that have not ended more than an hour after they were queued.
CREATE VIEW analytics.stuck_builds AS
SELECT
    run_id,
    build,
    submission_id,
    state,
    queued_at,
    started_at,
    now() - queued_at AS waiting_for
FROM analytics.build_runs
WHERE state NOT IN ('success', 'failed') AND queued_at < now() - interval '1 hour'
ORDER BY queued_at;
