"""Prometheus metrics of a run: one node-exporter textfile per command (and a push when configured).

    path = write_metrics(Path("lake/_ops/metrics/lakeforge.prom"), command="ingest", run_id="r1",
                         finished=ts, status="success", exit_code=0, duration_s=12.5, report=report, rows=rows)
    # path == lake/_ops/metrics/lakeforge_ingest.prom

Under Airflow every stage is its own CLI process; one file per command (`<stem>_<command><suffix>` beside
the configured file) keeps the ingest, transform, load and validate runs of a DAG run all visible. Every
series carries a `command` label, so no two files export the same series (the node exporter refuses
duplicates). Takes results only (`lakeforge.results`): the pipeline is never imported here.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from pathlib import Path

from prometheus_client import CollectorRegistry, Gauge, push_to_gateway, write_to_textfile
from prometheus_client.parser import text_string_to_metric_families

from lakeforge.results import RunReport

log = logging.getLogger(__name__)

LAST_SUCCESS = "lakeforge_run_last_success_timestamp_seconds"
RECORD_OUTCOMES = (
    "records_read",
    "bronze_added",
    "valid",
    "quarantined",
    "inserted",
    "updated",
    "superseded",
)
WRITE_OPERATIONS = ("inserted", "updated", "deleted")


def command_textfile(base: Path, command: str) -> Path:
    """The file of one command: `dir/lakeforge.prom` -> `dir/lakeforge_<command>.prom`.

    A `base` that is an existing folder gets `lakeforge_<command>.prom` inside it. The suffix is always
    `.prom`: the node exporter's textfile collector reads nothing else.
    """
    if base.is_dir():
        return base / f"lakeforge_{command}.prom"
    return base.with_name(f"{base.stem}_{command}.prom")


def previous_last_success(path: Path, command: str) -> float | None:
    """When `command` last succeeded, as its previous textfile says; None without a readable value."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    try:
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == LAST_SUCCESS and sample.labels.get("command") == command:
                    return float(sample.value)
    except ValueError as err:  # a truncated or foreign file: the value is lost, the run is not
        log.warning("could not read the last success time from %s: %s", path, err)
    return None


def build_registry(
    *,
    command: str,
    run_id: str,
    finished: float,
    status: str,
    exit_code: int,
    duration_s: float,
    report: RunReport,
    rows: dict[str, tuple[int, int] | None],
    last_success: float | None,
) -> CollectorRegistry:
    """Every gauge of one run; each series is labelled with `command`."""
    registry = CollectorRegistry()

    def gauge(name: str, doc: str, *labels: str) -> Gauge:
        return Gauge(name, doc, ["command", *labels], registry=registry)

    success = status == "success"
    gauge("lakeforge_run_success", "1 if the last run of the command succeeded, else 0").labels(command).set(
        1 if success else 0
    )
    gauge("lakeforge_run_exit_code", "exit code of the last run (SPEC 5: 3 gate, 4 contract, ...)").labels(
        command
    ).set(exit_code)
    gauge("lakeforge_run_duration_seconds", "wall time of the last run").labels(command).set(duration_s)
    gauge("lakeforge_run_finished_timestamp_seconds", "when the last run finished").labels(command).set(
        finished
    )
    gauge("lakeforge_run_info", "the last run's id (always 1)", "run_id").labels(command, run_id).set(1)
    if success:
        last_success = finished
    if last_success is not None:
        gauge(LAST_SUCCESS, "when the command last succeeded (kept across failed runs)").labels(command).set(
            last_success
        )

    stage = gauge("lakeforge_stage_duration_seconds", "wall time per stage", "stage")
    jobs = gauge("lakeforge_stage_spark_jobs", "Spark jobs per stage", "stage")
    commits = gauge("lakeforge_stage_delta_commits", "Delta commits per stage", "stage")
    for name, stats in report.stages.items():
        stage.labels(command, name).set(stats.seconds)
        jobs.labels(command, name).set(stats.spark_jobs)
        commits.labels(command, name).set(stats.delta_commits)

    table_rows = gauge("lakeforge_table_rows", "rows per table after the run (Delta log)", "table")
    table_version = gauge("lakeforge_table_version", "Delta version per table after the run", "table")
    for table, value in rows.items():
        if value is not None:
            table_rows.labels(command, table).set(value[0])
            table_version.labels(command, table).set(value[1])

    written: dict[tuple[str, str], int] = defaultdict(int)
    table_commits: dict[str, int] = defaultdict(int)
    write_seconds: dict[str, float] = defaultdict(float)
    for w in report.writes:
        for op in WRITE_OPERATIONS:
            written[w.table, op] += 0 if w.skipped else getattr(w, op)
        table_commits[w.table] += 0 if w.skipped else 1
        write_seconds[w.table] += w.duration_s
    rows_written = gauge(
        "lakeforge_table_rows_written", "rows this run wrote per table and operation", "table", "operation"
    )
    for (table, op), n in written.items():
        rows_written.labels(command, table, op).set(n)
    commits_g = gauge("lakeforge_table_commits", "Delta commits this run made per table", "table")
    seconds_g = gauge("lakeforge_table_write_seconds", "seconds this run spent writing per table", "table")
    for table, n in table_commits.items():
        commits_g.labels(command, table).set(n)
        seconds_g.labels(command, table).set(write_seconds[table])

    records: dict[tuple[str, str, str], int] = defaultdict(int)
    files: dict[tuple[str, str], int] = defaultdict(int)
    balanced: dict[tuple[str, str], bool] = {}
    read_q: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for r in report.reconciliation:
        for outcome in RECORD_OUTCOMES:
            value = getattr(r, outcome)
            if value is not None:
                records[r.source, r.stage, outcome] += value
        if r.files is not None:
            files[r.source, r.stage] += r.files
        balanced[r.source, r.stage] = balanced.get((r.source, r.stage), True) and r.balanced
        if r.stage == "transform":
            read_q[r.source][0] += r.records_read or 0
            read_q[r.source][1] += r.quarantined or 0
    records_g = gauge(
        "lakeforge_records", "records per source, stage and outcome (SPEC 3)", "source", "stage", "outcome"
    )
    for (source, stage_name, outcome), n in records.items():
        records_g.labels(command, source, stage_name, outcome).set(n)
    files_g = gauge("lakeforge_source_files", "landing files per source and stage", "source", "stage")
    for (source, stage_name), n in files.items():
        files_g.labels(command, source, stage_name).set(n)
    balanced_g = gauge(
        "lakeforge_reconciliation_balanced",
        "1 if the source's SPEC 3 reconciliation balanced in this run, else 0",
        "source",
        "stage",
    )
    for (source, stage_name), ok in balanced.items():
        balanced_g.labels(command, source, stage_name).set(1 if ok else 0)
    ratio_g = gauge("lakeforge_quarantine_ratio", "quarantined / records read in the transform", "source")
    for source, (read, quarantined) in read_q.items():
        if read:
            ratio_g.labels(command, source).set(quarantined / read)

    gates: dict[tuple[str, str], list[int]] = {}
    for g in report.gates:
        acc = gates.setdefault((g.suite, g.table), [1, 0, 0])
        acc[0] &= int(g.success)
        acc[1] += g.evaluated
        acc[2] += g.failed
    gate_ok = gauge("lakeforge_gate_success", "1 if the suite passed in this run, else 0", "suite", "table")
    evaluated = gauge("lakeforge_gate_evaluated_expectations", "expectations evaluated", "suite", "table")
    failed = gauge("lakeforge_gate_failed_expectations", "expectations failed", "suite", "table")
    for (suite, table), (passed, n_evaluated, n_failed) in gates.items():
        gate_ok.labels(command, suite, table).set(passed)
        evaluated.labels(command, suite, table).set(n_evaluated)
        failed.labels(command, suite, table).set(n_failed)
    return registry


def write_metrics(
    base: Path,
    *,
    command: str,
    run_id: str,
    finished: float,
    status: str,
    exit_code: int,
    duration_s: float,
    report: RunReport,
    rows: dict[str, tuple[int, int] | None],
    pushgateway_url: str | None = None,
) -> Path:
    """Write the run's textfile `command_textfile(base, command)` atomically; push it when configured.

    `base` is `metrics.prometheus_textfile` (default `<lakehouse>/_ops/metrics/lakeforge.prom`). A file
    at `base` itself, which lakeforge wrote before it kept one file per command, is removed: it would
    export the same series as the new files. Returns the path written.
    """
    path = command_textfile(base, command)
    registry = build_registry(
        command=command,
        run_id=run_id,
        finished=finished,
        status=status,
        exit_code=exit_code,
        duration_s=duration_s,
        report=report,
        rows=rows,
        last_success=previous_last_success(path, command),
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    write_to_textfile(str(path), registry)  # a temp file renamed over the old one
    if base.is_file():
        log.info("removing %s: metrics are now written per command (%s)", base, path.name)
        base.unlink()
    if pushgateway_url:
        push_to_gateway(
            pushgateway_url, job="lakeforge", registry=registry, grouping_key={"command": command}
        )
    return path
