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
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from lakeforge import storage
from lakeforge.config.models import Settings
from lakeforge.contracts.registry import Catalog
from lakeforge.errors import LakeforgeError
from lakeforge.flows import FlowGraph, load_graph
from lakeforge.logs import log_context
from lakeforge.ops.events import EVENTS, RunInfo, append_events, run_events
from lakeforge.ops.progress import Observers, PlannedStep, RunEnd, RunObserver, RunStart
from lakeforge.pipeline.context import RunContext
from lakeforge.pipeline.faults import crashpoint
from lakeforge.pipeline.lock import PipelineLock, lock_file
from lakeforge.pipeline.planner import STAGES_OF, LakehouseState, Landing, Plan, Step, plan_run, plan_stage
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
def _stage(
    report: RunReport, spark: SparkSession | None, name: str, observer: RunObserver | None = None
) -> Iterator[None]:
    """Time a stage and count its Spark jobs and Delta commits into `report.stages[name]`; tell `observer`."""
    from lakeforge.spark import job_group

    stats = report.stages.setdefault(name, StageStats())
    commits_before = report.delta_commits
    started = time.monotonic()
    error: BaseException | None = None
    with log_context(stage=name), job_group(spark, name) as jobs:
        if observer is not None:
            observer.stage_started(name)
        try:
            yield
        except BaseException as exc:  # noqa: BLE001 - only noted for the observer, raised again unchanged
            error = exc
            raise
        finally:
            stats.seconds = round(stats.seconds + time.monotonic() - started, 3)
            stats.spark_jobs += jobs()
            stats.delta_commits += report.delta_commits - commits_before
            if observer is not None:
                observer.stage_finished(name, stats, error)


def planned_step(step: Step, graph: FlowGraph) -> PlannedStep:
    """What observers are told of a step: the tables it writes, the tables and landing files it reads."""
    if step.kind == "ingest":
        files = tuple(f.rel_path for f in step.files)
        return PlannedStep(step.stage, step.kind, step.target, (step.target,), (), files)
    if step.kind == "validate":
        return PlannedStep(step.stage, step.kind, step.target, (), (step.target,))
    cleanse = step.kind == "cleanse" and step.source
    outputs = tuple(graph.source(step.source).outputs) if cleanse and step.source else (step.target,)
    return PlannedStep(step.stage, step.kind, step.target, outputs, tuple(step.inputs))


def observers_for(settings: Settings, extra: Sequence[RunObserver] = ()) -> Observers:
    """`extra` plus the OpenTelemetry and OpenLineage observers, each only when configured."""
    from lakeforge.ops.lineage import lineage_observer
    from lakeforge.ops.tracing import tracing_observer

    found: list[RunObserver] = list(extra)
    for make in (tracing_observer, lambda: lineage_observer(settings.lineage)):
        try:
            made = make()
        except Exception as exc:  # noqa: BLE001 - telemetry that cannot start must not stop the run
            log.warning("observability disabled for this run: %s: %s", type(exc).__name__, exc)
            continue
        if made is not None:
            found.append(made)
    return Observers(found)


def session_of_engine(engine: Engine) -> object | None:
    from lakeforge.remote import session_of

    return session_of(engine.spark)


def _execute(engine: Engine, settings: Settings, plan: Plan, graph: FlowGraph) -> None:
    state, report = engine.state, engine.report
    for stage in STAGES_OF[plan.command]:
        with _stage(report, engine.spark, stage, engine.observer):
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


def _input_bytes(settings: Settings, plan: Plan, state: LakehouseState) -> int | None:
    """What a run processes, for the embedded JVM's JIT (`spark.jit`): the planned new files, and the data
    files of every input a step recomputes from its snapshot (`Step.incremental`); an incremental step
    reads its increment, which those files bound. None when it does not matter (a Connect server, or a
    JIT chosen in the settings). Tables are opened only while the sum is within
    `spark.quick_jit_max_bytes`: past it, the JIT is full."""
    if settings.spark.remote or settings.spark.jit != "auto":
        return None
    from lakeforge import deltalog

    total = sum(f.size for step in plan.steps for f in step.files)
    whole = [
        name
        for step in plan.steps
        if step.kind in ("cleanse", "derive") and not step.incremental(state.version(step.target) is not None)
        for name, (_, upto) in step.inputs.items()
        if upto is not None
    ]
    for table in dict.fromkeys(whole):
        if total > settings.spark.quick_jit_max_bytes:
            break
        total += deltalog.size_bytes(state.catalog.uri(table))
    return total


def run_command(
    settings: Settings,
    ctx: RunContext,
    wait: bool = False,
    verify_landing: bool = False,
    observers: Sequence[RunObserver] = (),
) -> Outcome:
    """Run `ctx.command`; raise its error after recording the run (status, error, metrics).

    `observers` (lakeforge.ops.progress) are told of the stages, writes and gates as they happen, and of
    the end of the run, failed or not; spans and lineage events are added when configured.
    """
    from lakeforge.ops.metrics import write_metrics

    if ctx.command not in STAGES_OF:
        raise ValueError(f"unknown command {ctx.command!r}")
    graph = load_graph(settings)  # a broken contract or flow fails before the lock and before Spark
    lakehouse = settings.paths.lakehouse
    catalog = Catalog(lakehouse, graph.registry)
    lock = PipelineLock(
        lock_file(lakehouse),
        holder=f"run {ctx.run_id} ({ctx.command})",
        wait_seconds=settings.lock.wait_timeout_seconds if wait else 0.0,
        poll_seconds=settings.lock.poll_seconds,
        lakehouse=lakehouse,
    )
    started = time.monotonic()
    report = RunReport()
    with log_context(run_id=ctx.run_id, command=ctx.command), lock:
        observer = observers_for(settings, observers)
        observer.run_started(
            RunStart(
                ctx.run_id, ctx.command, ctx.env, ctx.clock, ctx.logical_date, settings.paths.landing,
                {table: catalog.uri(table) for table in graph.tables()},
            )
        )  # fmt: skip
        engine: Engine | None = None
        plan: Plan | None = None
        status, error = "success", None
        try:
            if lock.orphans:  # a killed remote run's operations may still be running: stop them first
                from lakeforge.remote import RemoteSession, settle

                with _stage(report, None, "settle"):
                    found = [RemoteSession.from_dict(o) for o in lock.orphans]
                    settle(
                        [o for o in found if o is not None],
                        timeout_s=max(settings.lock.wait_timeout_seconds, 60.0),
                    )
                lock.settled()
            with _stage(report, None, "plan", observer):
                state = LakehouseState.load(catalog, graph)
                plan = make_plan(settings, ctx, graph, state, report, verify_landing)
            observer.planned([planned_step(s, graph) for s in plan.steps])
            for step in plan.steps:
                log.info("plan: %s", step.describe(), extra={"event": "plan"})
            if plan.has_work:
                from lakeforge.pipeline.engine import Engine, planned_checks, quality_gate
                from lakeforge.remote import session_of
                from lakeforge.spark import build_spark, driver_pid

                quality = quality_gate(settings, ctx, graph)
                checks = planned_checks(plan.steps)
                remote_spark = bool(settings.spark.remote)
                if checks and not remote_spark:
                    # pyspark.sql, pandas and pyarrow are imported here, before the thread: Great
                    # Expectations imports them too, and two threads importing one package at once can
                    # see it half-initialised
                    import pandas  # noqa: F401
                    import pyarrow  # noqa: F401
                    import pyspark.sql.functions
                    import pyspark.sql.session
                    import pyspark.sql.types
                    import pyspark.sql.window
                    import pyspark.testing.utils  # noqa: F401 - the session's start imports it (and unittest)

                    quality.warm_up(checks)  # Great Expectations loads while the JVM starts
                with _stage(report, None, "spark", observer):
                    spark = build_spark(settings.spark, _input_bytes(settings, plan, state))
                    report.jvm_started = True
                    pid = driver_pid(spark)
                    if pid is not None:
                        lock.record_child(pid)  # the next run waits for this JVM too, should we be killed
                    remote = session_of(spark)
                    if remote is not None:
                        lock.record_remote(
                            remote.to_dict()
                        )  # the next run stops its operations, should we be killed
                        report.remote = remote.url
                    if checks and remote_spark:
                        # Great Expectations' Spark source asks PySpark for the session: over Spark
                        # Connect only the one just made will do, so it loads after it, not beside it.
                        # It loads while the first stages wait on the server; the first check waits for
                        # it (a sample run: 1.9 s of import no longer in the way)
                        quality.warm_up(checks)
                    elif checks:
                        quality.prepare()  # wait for it here: no import runs beside the stages' work
                engine = Engine(spark, settings, ctx, graph, state, report, crashpoint, quality, observer)
                _execute(engine, settings, plan, graph)
            else:
                log.info("nothing to do: every table is up to date with its inputs", extra={"event": "noop"})
        except BaseException as exc:  # noqa: BLE001 - recorded below, then raised again unchanged
            status, error = "failed", exc
        if engine is not None and session_of_engine(engine) is not None:
            from lakeforge.remote import release

            release(engine.spark)  # our session on the server is done: free what it holds there
        crashpoint("run:before_records")
        ops_commits = 0
        rows: dict[str, tuple[int, int] | None] = {}
        try:
            with _stage(report, None, "record", observer):
                if engine is not None:
                    report.data_docs = publish_docs(engine.quality.build_docs(), lakehouse)
                duration = time.monotonic() - started
                exit_code = 0 if error is None else getattr(error, "exit_code", 1)
                message = None
                if error is not None:
                    message = (
                        error.one_line()
                        if isinstance(error, LakeforgeError)
                        else f"{type(error).__name__}: {error}"
                    )
                from lakeforge.ops.report import quarantine_reasons

                report.quarantine_reasons = quarantine_reasons(catalog, report, ctx.run_id)  # never raises
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
            metrics_file = settings.metrics.prometheus_textfile or default_textfile(lakehouse)
            write_metrics(  # one file per command: <stem>_<command>.prom (lakeforge.ops.metrics)
                metrics_file,
                command=ctx.command,
                run_id=ctx.run_id,
                finished=ctx.clock.timestamp() + duration,
                status=status,
                exit_code=exit_code,
                duration_s=duration,
                report=report,
                rows=rows,
                pushgateway_url=settings.metrics.pushgateway_url,
            )
        except Exception as record_error:  # noqa: BLE001 - never hide the run's own error behind this one
            if error is None:
                code = getattr(record_error, "exit_code", 1)
                observer.run_finished(
                    RunEnd("failed", code, time.monotonic() - started, report, rows, report.delta_commits + ops_commits, record_error)
                )  # fmt: skip
                raise
            log.error("could not record the failed run: %s", record_error)
        if ops_commits:  # the run is in the event log: its page, beside the data docs (never raises, no JVM)
            from lakeforge.ops.report import write_run_report

            written = write_run_report(settings, graph, ctx.run_id)
            report.run_report = str(written) if written else None
        observer.run_finished(
            RunEnd(
                status, 0 if error is None else getattr(error, "exit_code", 1), time.monotonic() - started,
                report, rows, report.delta_commits + ops_commits, error,
            )
        )  # fmt: skip
        if error is not None:
            raise error
        return Outcome(report, rows, time.monotonic() - started, status, plan, ops_commits)


def default_textfile(lakehouse: str) -> Path:
    """The metrics textfile when none is configured: `<lakehouse>/_ops/metrics/lakeforge.prom`, or under
    this host's state folder for a lakehouse that is not local (a node exporter reads local files)."""
    return storage.local_home(lakehouse, "metrics") / "lakeforge.prom"


def publish_docs(index: Path | None, lakehouse: str) -> str | None:
    """The data docs' index as a location: copied to `<lakehouse>/_ops/data_docs` first when they were
    built in a staging folder."""
    if index is None:
        return None
    dest = storage.join(lakehouse, "_ops", "data_docs")
    if not storage.is_local(lakehouse):
        storage.upload_tree(index.parent, dest)
    return storage.join(dest, index.name)  # a local one: the same file, named as the lakehouse is


def now_utc() -> datetime:
    """The wall clock, read once at the edge (the CLI) and passed into the run."""
    return datetime.now(UTC)
