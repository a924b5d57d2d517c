"""Run a command under the lakehouse lock: plan from metadata, start Spark only for work, record it all.

    outcome = run_command(settings, ctx, wait=False)
    outcome.report, outcome.rows

Commands: ingest (landing -> bronze), transform (bronze -> silver + quarantine), load (-> derived
tables), full (those three in order, each gated on its own batches), validate (whole-table suites of
the published tables), maintenance (OPTIMIZE/VACUUM). A run whose plan is empty starts no JVM: it
records itself in the event log with delta-rs and exits.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from lakeforge.config.models import Settings
from lakeforge.contracts.registry import Catalog
from lakeforge.errors import LakeforgeError
from lakeforge.flows import FlowGraph, load_graph
from lakeforge.logs import log_context
from lakeforge.ops.events import EVENTS, RunInfo, append_events, run_events
from lakeforge.pipeline.context import RunContext
from lakeforge.pipeline.faults import crashpoint
from lakeforge.pipeline.lock import PipelineLock
from lakeforge.pipeline.planner import STAGES_OF, LakehouseState, Landing, Plan, plan_run, plan_stage
from lakeforge.results import RunReport, StageStats

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from lakeforge.pipeline.engine import Engine

log = logging.getLogger(__name__)

COMMANDS = tuple(STAGES_OF)


@dataclass
class Outcome:
    report: RunReport
    rows: dict[str, tuple[int, int] | None]
    duration_s: float
    status: str
    plan: Plan | None = None
    ops_commits: int = 0
    error: LakeforgeError | BaseException | None = None

    @property
    def delta_commits(self) -> int:
        return self.report.delta_commits + self.ops_commits


def table_rows(catalog: Catalog, tables: list[str]) -> dict[str, tuple[int, int] | None]:
    """(rows, version) of each table from the Delta log's file statistics: no Spark, no scan."""
    from lakeforge import deltalog

    out: dict[str, tuple[int, int] | None] = {}
    for table in tables:
        version = deltalog.version(catalog.uri(table))
        rows = deltalog.row_count(catalog.uri(table)) if version is not None else None
        out[table] = None if version is None or rows is None else (rows, version)
    return out


def landing_of(settings: Settings, verify: bool = False) -> Landing:
    return Landing(
        settings.paths.landing,
        settings.drift.bronze,
        settings.landing.settle_seconds,
        verify,
        max_columns=settings.landing.max_columns,
        max_file_bytes=settings.landing.max_file_bytes,
    )


def make_plan(
    settings: Settings, ctx: RunContext, graph: FlowGraph, state: LakehouseState, report: RunReport,
    verify_landing: bool = False,
) -> Plan:  # fmt: skip
    return plan_run(ctx.command, graph, state, report, landing_of(settings, verify_landing))


@contextmanager
def _stage(report: RunReport, spark: SparkSession | None, name: str) -> Iterator[None]:
    """Time a stage and count its Spark jobs and Delta commits into `report.stages[name]`."""
    from lakeforge.spark import job_group

    stats = report.stages.setdefault(name, StageStats())
    commits_before = report.delta_commits
    started = time.monotonic()
    with log_context(stage=name), job_group(spark, name) as jobs:
        try:
            yield
        finally:
            stats.seconds = round(stats.seconds + time.monotonic() - started, 3)
            stats.spark_jobs += jobs()
            stats.delta_commits += report.delta_commits - commits_before


def _execute(engine: Engine, settings: Settings, plan: Plan, graph: FlowGraph) -> None:
    state, report = engine.state, engine.report
    for stage in STAGES_OF[plan.command]:
        with _stage(report, engine.spark, stage):
            if stage in ("ingest", "validate"):
                engine.run(plan.stage(stage))
                continue
            if stage == "maintenance":
                from lakeforge.maintenance.tables import maintain

                maintain(engine, settings.maintenance.vacuum_retention_hours, settings.maintenance.optimize)
                continue
            # transform and load: planned again from what the earlier stages left, wave by wave (a derived
            # table that reads another one of this stage waits for it)
            for _ in range(len(graph.derived) + 1):
                steps = plan_stage(stage, graph, state, report, landing_of(settings))
                if not steps:
                    break
                written = {s.target for s in steps}
                wave = [s for s in steps if not (set(s.inputs) & written)] or steps
                engine.run(wave)


def run_command(
    settings: Settings, ctx: RunContext, wait: bool = False, verify_landing: bool = False
) -> Outcome:
    """Run `ctx.command`; raise its error after recording the run (status, error, metrics)."""
    from lakeforge.ops.metrics import write_metrics

    if ctx.command not in STAGES_OF:
        raise ValueError(f"unknown command {ctx.command!r}")
    graph = load_graph(settings)  # a broken contract or flow fails before the lock and before Spark
    lakehouse = settings.paths.lakehouse
    catalog = Catalog(lakehouse, graph.registry)
    lock = PipelineLock(
        lakehouse / "_ops" / "pipeline.lock",
        holder=f"run {ctx.run_id} ({ctx.command})",
        wait_seconds=settings.lock.wait_timeout_seconds if wait else 0.0,
        poll_seconds=settings.lock.poll_seconds,
    )
    started = time.monotonic()
    report = RunReport()
    with log_context(run_id=ctx.run_id, command=ctx.command), lock:
        engine: Engine | None = None
        plan: Plan | None = None
        status, error = "success", None
        try:
            with _stage(report, None, "plan"):
                state = LakehouseState.load(catalog, graph)
                plan = make_plan(settings, ctx, graph, state, report, verify_landing)
            for step in plan.steps:
                log.info("plan: %s", step.describe(), extra={"event": "plan"})
            if plan.has_work:
                from lakeforge.pipeline.engine import Engine, planned_checks, quality_gate
                from lakeforge.spark import build_spark, driver_pid

                quality = quality_gate(settings, ctx, graph)
                checks = planned_checks(plan.steps)
                if checks:
                    # pyspark.sql, pandas and pyarrow are imported here, before the thread: Great
                    # Expectations imports them too, and two threads importing one package at once can
                    # see it half-initialised
                    import pandas  # noqa: F401
                    import pyarrow  # noqa: F401
                    import pyspark.sql.functions
                    import pyspark.sql.types
                    import pyspark.sql.window  # noqa: F401

                    quality.warm_up(checks)  # Great Expectations loads while the JVM starts
                with _stage(report, None, "spark"):
                    spark = build_spark(settings.spark)
                    report.jvm_started = True
                    pid = driver_pid(spark)
                    if pid is not None:
                        lock.record_child(pid)  # the next run waits for this JVM too, should we be killed
                    if checks:
                        quality.prepare()  # wait for it here: no import runs beside the stages' work
                engine = Engine(spark, settings, ctx, graph, state, report, hook=crashpoint, quality=quality)
                _execute(engine, settings, plan, graph)
            else:
                log.info("nothing to do: every table is up to date with its inputs", extra={"event": "noop"})
        except BaseException as exc:  # noqa: BLE001 - recorded below, then raised again unchanged
            status, error = "failed", exc
        crashpoint("run:before_records")
        ops_commits = 0
        rows: dict[str, tuple[int, int] | None] = {}
        try:
            with _stage(report, None, "record"):
                if engine is not None:
                    docs = engine.quality.build_docs()
                    report.data_docs = str(docs) if docs else None
                duration = time.monotonic() - started
                exit_code = 0 if error is None else getattr(error, "exit_code", 1)
                message = None
                if error is not None:
                    message = (
                        error.one_line()
                        if isinstance(error, LakeforgeError)
                        else f"{type(error).__name__}: {error}"
                    )
                run = RunInfo(
                    run_id=ctx.run_id,
                    command=ctx.command,
                    env=ctx.env,
                    logical_date=ctx.logical_date,
                    started_at=ctx.clock,
                    ended_at=(ctx.clock + timedelta(seconds=round(duration, 3))).astimezone(UTC),
                    status=status,
                    exit_code=exit_code,
                    error=message,
                )
                crashpoint(f"commit:{EVENTS}:before")
                append_events(catalog.uri(EVENTS), graph.registry, run_events(run, report))
                crashpoint(f"commit:{EVENTS}:after")
                ops_commits = 1
                rows = table_rows(catalog, graph.tables())
            duration = time.monotonic() - started
            metrics_file = settings.metrics.prometheus_textfile or (
                lakehouse / "_ops" / "metrics" / "lakeforge.prom"
            )
            write_metrics(
                metrics_file,
                command=ctx.command,
                finished=ctx.clock.timestamp() + duration,
                status=status,
                duration_s=duration,
                report=report,
                rows=rows,
                pushgateway_url=settings.metrics.pushgateway_url,
            )
        except Exception as record_error:  # noqa: BLE001 - never hide the run's own error behind this one
            if error is None:
                raise
            log.error("could not record the failed run: %s", record_error)
        if error is not None:
            raise error
        return Outcome(report, rows, time.monotonic() - started, status, plan, ops_commits)


def now_utc() -> datetime:
    """The wall clock, read once at the edge (the CLI) and passed into the run."""
    return datetime.now(UTC)
