"""Run a command of the pipeline under the lakehouse lock and record it, whatever happens.

    outcome = run_command(settings, ctx, wait=False)
    outcome.report, outcome.rows

Commands: ingest (landing -> bronze), transform (bronze -> silver + quarantine), validate (checks of the
published tables), load (silver -> gold), full (all four in that order), maintenance (OPTIMIZE/VACUUM).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from lakeforge.config.models import Settings
from lakeforge.errors import LakeforgeError
from lakeforge.ops.report import RunReport
from lakeforge.pipeline.context import RunContext
from lakeforge.pipeline.faults import crashpoint
from lakeforge.pipeline.lock import PipelineLock

log = logging.getLogger(__name__)

COMMANDS = ("full", "ingest", "transform", "validate", "load", "maintenance")
STAGES = {
    "full": ("ingest", "transform", "validate", "load"),
    "ingest": ("ingest",),
    "transform": ("transform",),
    "validate": ("validate",),
    "load": ("load",),
    "maintenance": ("maintenance",),
}


@dataclass
class Outcome:
    report: RunReport
    rows: dict[str, tuple[int, int] | None]
    duration_s: float
    status: str
    error: LakeforgeError | BaseException | None = None


def run_command(settings: Settings, ctx: RunContext, wait: bool = False) -> Outcome:
    """Run `ctx.command`; raise its error after recording the run (status, error, metrics)."""
    from lakeforge.ops.metrics import write_metrics
    from lakeforge.ops.records import write_run_records
    from lakeforge.pipeline.stages import PUBLISHED_TABLES, Pipeline, timed
    from lakeforge.spark import build_spark

    if ctx.command not in STAGES:
        raise ValueError(f"unknown command {ctx.command!r}")
    lakehouse = settings.paths.lakehouse
    lock = PipelineLock(
        lakehouse / "_ops" / "pipeline.lock",
        holder=f"run {ctx.run_id} ({ctx.command})",
        wait_seconds=settings.lock.wait_timeout_seconds if wait else 0.0,
        poll_seconds=settings.lock.poll_seconds,
    )
    from lakeforge.contracts.registry import PACKAGED_CONTRACTS, ContractRegistry

    ContractRegistry(
        settings.contracts_dir or PACKAGED_CONTRACTS
    )  # a broken contract fails before Spark starts
    started = time.monotonic()
    with lock:
        spark = build_spark(settings.spark)
        pipeline = Pipeline(spark, settings, ctx)
        status, error = "success", None
        try:
            for stage in STAGES[ctx.command]:
                with timed(pipeline.report, stage):
                    if stage == "maintenance":
                        from lakeforge.maintenance.tables import maintain

                        tables = [*PUBLISHED_TABLES, "quarantine.customers", "quarantine.orders"]
                        tables += [t for t in pipeline.registry.names() if t.startswith("_ops.")]
                        maintain(
                            spark,
                            pipeline.writer,
                            tables,
                            settings.maintenance.vacuum_retention_hours,
                            settings.maintenance.optimize,
                        )
                    elif stage == "validate":
                        pipeline.validate(only_changed=ctx.command == "full")
                    else:
                        getattr(pipeline, stage)()
        except BaseException as exc:  # noqa: BLE001 - recorded below, then raised again unchanged
            status, error = "failed", exc
        crashpoint("run:before_records")
        duration = time.monotonic() - started
        ended = ctx.clock + timedelta(seconds=round(duration, 3))
        rows: dict[str, tuple[int, int] | None] = {}
        try:
            exit_code = 0 if error is None else getattr(error, "exit_code", 1)
            message = None
            if error is not None:
                message = (
                    error.one_line()
                    if isinstance(error, LakeforgeError)
                    else f"{type(error).__name__}: {error}"
                )
            docs = pipeline.quality.build_docs()
            pipeline.report.data_docs = str(docs) if docs else None
            write_run_records(pipeline, status, exit_code, message, ended.astimezone(UTC))
            rows = pipeline.row_counts()
            metrics_file = settings.metrics.prometheus_textfile or (
                lakehouse / "_ops" / "metrics" / "lakeforge.prom"
            )
            write_metrics(
                metrics_file, ctx, status, duration, pipeline.report, rows, settings.metrics.pushgateway_url
            )
        except Exception as record_error:  # noqa: BLE001 - never hide the run's own error behind this one
            if error is None:
                raise
            log.error("could not record the failed run: %s", record_error)
        if error is not None:
            raise error
        return Outcome(pipeline.report, rows, duration, status)


def now_utc() -> datetime:
    """The wall clock, read once at the edge (the CLI) and passed into the run."""
    return datetime.now(UTC)
