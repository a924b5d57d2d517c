"""Prometheus metrics of a run, written as a node-exporter textfile (and pushed when configured).

    write_metrics(path, command="full", finished=ts, status="success", duration_s=12.5, report=report, rows=rows)

Takes results only (`lakeforge.results`): the pipeline is never imported here.
"""

from __future__ import annotations

from pathlib import Path

from prometheus_client import CollectorRegistry, Gauge, push_to_gateway, write_to_textfile

from lakeforge.results import RunReport


def build_registry(
    *,
    command: str,
    finished: float,
    status: str,
    duration_s: float,
    report: RunReport,
    rows: dict[str, tuple[int, int] | None],
) -> CollectorRegistry:
    registry = CollectorRegistry()
    Gauge("lakeforge_run_success", "1 if the last run succeeded", ["command"], registry=registry).labels(
        command
    ).set(1 if status == "success" else 0)
    Gauge(
        "lakeforge_run_duration_seconds", "wall time of the last run", ["command"], registry=registry
    ).labels(command).set(duration_s)
    Gauge(
        "lakeforge_run_finished_timestamp_seconds",
        "when the last run finished",
        ["command"],
        registry=registry,
    ).labels(command).set(finished)
    stage = Gauge("lakeforge_stage_duration_seconds", "wall time per stage", ["stage"], registry=registry)
    jobs = Gauge("lakeforge_stage_spark_jobs", "Spark jobs per stage", ["stage"], registry=registry)
    commits = Gauge("lakeforge_stage_delta_commits", "Delta commits per stage", ["stage"], registry=registry)
    for name, stats in report.stages.items():
        stage.labels(name).set(stats.seconds)
        jobs.labels(name).set(stats.spark_jobs)
        commits.labels(name).set(stats.delta_commits)
    table_rows = Gauge("lakeforge_table_rows", "rows per table after the run", ["table"], registry=registry)
    table_version = Gauge("lakeforge_table_version", "Delta version per table", ["table"], registry=registry)
    for table, value in rows.items():
        if value is not None:
            table_rows.labels(table).set(value[0])
            table_version.labels(table).set(value[1])
    recon = Gauge(
        "lakeforge_records",
        "records per source, stage and outcome",
        ["source", "stage", "outcome"],
        registry=registry,
    )
    for r in report.reconciliation:
        for outcome in (
            "records_read",
            "bronze_added",
            "valid",
            "quarantined",
            "inserted",
            "updated",
            "superseded",
        ):
            value = getattr(r, outcome)
            if value is not None:
                recon.labels(r.source, r.stage, outcome).set(value)
    failed = Gauge(
        "lakeforge_gate_failed_expectations", "failed expectations per suite", ["suite"], registry=registry
    )
    for g in report.gates:
        failed.labels(g.suite).set(g.failed)
    return registry


def write_metrics(
    path: Path,
    *,
    command: str,
    finished: float,
    status: str,
    duration_s: float,
    report: RunReport,
    rows: dict[str, tuple[int, int] | None],
    pushgateway_url: str | None = None,
) -> None:
    registry = build_registry(
        command=command, finished=finished, status=status, duration_s=duration_s, report=report, rows=rows
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    write_to_textfile(str(path), registry)
    if pushgateway_url:
        push_to_gateway(pushgateway_url, job="lakeforge", registry=registry)
