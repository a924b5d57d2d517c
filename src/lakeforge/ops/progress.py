"""Watching a run as it happens: one small hook the pipeline calls, any number of subscribers.

    class Printer(RunObserver):
        def table_written(self, write: WriteMetrics) -> None:
            log.info("%s: %s rows", write.table, write.inserted)
    run_command(settings, ctx, observers=[Printer()])

The runner calls `run_started`, `planned`, `stage_started`/`stage_finished` (plan, spark, each stage,
record) and `run_finished` (failed runs too); the engine calls `table_written` and `gate_checked`.
The terminal view (lakeforge.console), the OpenTelemetry spans (ops.tracing) and the OpenLineage events
(ops.lineage) all subscribe, so the pipeline has one set of calls. `Observers` fans a call out and logs,
then drops, whatever an observer raises: watching a run never changes its outcome.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

from lakeforge.errors import LakeforgeError
from lakeforge.results import GateResult, RunReport, StageStats, WriteMetrics

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunStart:
    """Who the run is, and where its tables and landing files live (for dataset names)."""

    run_id: str
    command: str
    env: str
    clock: datetime
    logical_date: date | None = None
    landing: str = ""
    locations: dict[str, str] = field(default_factory=dict)  # table -> the URI Spark and delta-rs open


@dataclass(frozen=True)
class PlannedStep:
    """One step of the plan: the tables it writes, the tables and landing files it reads."""

    stage: str
    kind: str  # ingest | cleanse | derive | validate
    table: str
    outputs: tuple[str, ...] = ()
    inputs: tuple[str, ...] = ()
    files: tuple[str, ...] = ()  # landing files relative to the landing zone, e.g. orders/orders_1.csv


@dataclass(frozen=True)
class RunEnd:
    """How the run ended: what `lakeforge run` summarises, on success and on failure."""

    status: str  # success | failed
    exit_code: int
    duration_s: float
    report: RunReport
    rows: dict[str, tuple[int, int] | None] = field(default_factory=dict)
    delta_commits: int = 0
    error: BaseException | None = None

    @property
    def message(self) -> str | None:
        """The error as the CLI's one line says it (None on success)."""
        if self.error is None:
            return None
        if isinstance(self.error, LakeforgeError):
            return self.error.one_line()
        return f"{type(self.error).__name__}: {self.error}"


class RunObserver:
    """Callbacks of one run, in this order; every method is a no-op here, override what you need."""

    def run_started(self, run: RunStart) -> None:
        """The run holds the lock and is about to plan."""

    def planned(self, steps: Sequence[PlannedStep]) -> None:
        """The plan is made (not called when planning fails)."""

    def stage_started(self, stage: str) -> None:
        """plan, spark, ingest, transform, load, validate, maintenance or record begins."""

    def table_written(self, write: WriteMetrics) -> None:
        """A Delta commit of the current stage (or a skipped write, `write.skipped`)."""

    def gate_checked(self, result: GateResult) -> None:
        """A quality gate of the current stage passed or failed."""

    def stage_finished(self, stage: str, stats: StageStats, error: BaseException | None) -> None:
        """The stage ended; `error` is what it raised, if anything."""

    def run_finished(self, end: RunEnd) -> None:
        """The run is recorded (or recording failed); the last call."""


class Observers(RunObserver):
    """Several observers as one; a failing observer is logged and skipped, never raised."""

    def __init__(self, observers: Sequence[RunObserver] = ()) -> None:
        self.observers = list(observers)

    def _each(self, method: str, *args: object) -> None:
        for observer in self.observers:
            try:
                getattr(observer, method)(*args)
            except Exception as exc:  # noqa: BLE001 - an observer must not fail the run it watches
                log.warning("%s.%s failed: %s: %s", type(observer).__name__, method, type(exc).__name__, exc)

    def run_started(self, run: RunStart) -> None:
        self._each("run_started", run)

    def planned(self, steps: Sequence[PlannedStep]) -> None:
        self._each("planned", steps)

    def stage_started(self, stage: str) -> None:
        self._each("stage_started", stage)

    def table_written(self, write: WriteMetrics) -> None:
        self._each("table_written", write)

    def gate_checked(self, result: GateResult) -> None:
        self._each("gate_checked", result)

    def stage_finished(self, stage: str, stats: StageStats, error: BaseException | None) -> None:
        self._each("stage_finished", stage, stats, error)

    def run_finished(self, end: RunEnd) -> None:
        self._each("run_finished", end)
