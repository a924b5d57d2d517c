"""What `lakeforge run` shows a person: live progress on a terminal, and the summary after, failed or not.

    view = LiveView(Console(file=sys.stderr))      # only when stderr is a terminal and logs are not JSON
    run_command(settings, ctx, observers=[view])
    print_summary(Console(file=sys.stdout), end, run_id, command, lakehouse)

Both take the Console they write to (the CLI makes them); nothing here touches sys.stdout or print.
The summary is rich tables: stages (seconds, Spark jobs, Delta commits), tables (rows, version),
reconciliation per source; a failed run adds what failed: each failed expectation with its counts, each
refused schema change with its file and column, each reconciliation that did not balance, and the error.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from rich import box
from rich.console import Console, RenderableType
from rich.logging import RichHandler
from rich.progress import BarColumn, Progress, SpinnerColumn, Task, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from lakeforge.logs import ContextFilter
from lakeforge.ops.progress import PlannedStep, RunEnd, RunObserver, RunStart
from lakeforge.results import GateResult, Reconciliation, RunReport, StageStats, WriteMetrics

STAGE_WORDS = {"plan": "planning", "spark": "starting Spark", "record": "recording the run"}


class _Mark(SpinnerColumn):
    """A spinner while a stage runs, a red cross once it failed, a blank once it is done."""

    def render(self, task: Task) -> RenderableType:
        if task.fields.get("failed"):
            return Text("✗", style="bold red")
        return super().render(task)


class LiveView(RunObserver):
    """One progress line per stage: tables planned and done, rows written, gates; logs print above it."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.progress = Progress(
            _Mark(finished_text=" "),
            TextColumn("{task.description:<17}", markup=False),
            BarColumn(bar_width=24),
            TimeElapsedColumn(),
            TextColumn("{task.fields[detail]}", markup=False),
            console=console,
        )
        self.tables: dict[str, list[str]] = {}  # stage -> the tables its steps write (or validate)
        self._task: TaskID | None = None
        self._stage = ""
        self._done: set[str] = set()
        self._rows = 0
        self._gates = [0, 0]  # passed, failed
        self._handlers: list[logging.Handler] | None = None

    def run_started(self, run: RunStart) -> None:
        root = logging.getLogger()
        self._handlers = list(root.handlers)
        handler = RichHandler(console=self.console, show_path=False, markup=False, rich_tracebacks=False)
        handler.addFilter(ContextFilter())
        for old in self._handlers:
            root.removeHandler(old)
        root.addHandler(handler)
        self.progress.start()

    def planned(self, steps: Sequence[PlannedStep]) -> None:
        for step in steps:
            tables = self.tables.setdefault(step.stage, [])
            for table in step.outputs or step.inputs:
                if table not in tables:
                    tables.append(table)

    def _detail(self, stage: str) -> str:
        if stage not in self.tables:
            return ""
        text = f"{len(self._done)}/{len(self.tables[stage])} tables, {self._rows:,} rows written"
        if any(self._gates):
            text += f", gates {self._gates[0]} passed" + (
                f" {self._gates[1]} failed" if self._gates[1] else ""
            )
        return text

    def stage_started(self, stage: str) -> None:
        self._done, self._rows, self._gates = set(), 0, [0, 0]
        self._stage = stage
        total = len(self.tables[stage]) if stage in self.tables else None
        self._task = self.progress.add_task(
            STAGE_WORDS.get(stage, stage), total=total, detail=self._detail(stage)
        )

    def table_written(self, write: WriteMetrics) -> None:
        if self._task is None:
            return
        self._done.add(write.table)
        self._rows += write.inserted + write.updated
        self.progress.update(self._task, completed=len(self._done), detail=self._detail(self._stage))

    def gate_checked(self, result: GateResult) -> None:
        if self._task is None:
            return
        self._gates[0 if result.success else 1] += 1
        self.progress.update(self._task, detail=self._detail(self._stage))

    def stage_finished(self, stage: str, stats: StageStats, error: BaseException | None) -> None:
        if self._task is None:
            return
        task, self._task = self._task, None
        detail = self._detail(stage)
        if error is not None:
            self.progress.update(
                task, detail=f"{detail}  failed: {type(error).__name__}".strip(), failed=True
            )
            self.progress.stop_task(task)
            return
        total = max(len(self.tables.get(stage, [])), len(self._done), 1)
        self.progress.update(task, total=total, completed=total, detail=detail)

    def run_finished(self, end: RunEnd) -> None:
        self.close()

    def close(self) -> None:
        """Stop the display and give the log its handlers back (twice is harmless)."""
        self.progress.stop()
        if self._handlers is not None:
            root = logging.getLogger()
            for handler in list(root.handlers):
                root.removeHandler(handler)
            for handler in self._handlers:
                root.addHandler(handler)
            self._handlers = None


class RunEnded(RunObserver):
    """Keeps how the run ended, for the summary the CLI prints even when the run raised."""

    def __init__(self) -> None:
        self.end: RunEnd | None = None

    def run_finished(self, end: RunEnd) -> None:
        self.end = end


def _n(value: int | None) -> str:
    return "-" if value is None else f"{value:,}"


def _table(*columns: str) -> Table:
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
    for i, name in enumerate(columns):
        table.add_column(name, justify="left" if i == 0 else "right", no_wrap=True)
    return table


def _stages(report: RunReport, end: RunEnd) -> Table:
    table = _table("stage", "seconds", "jobs", "commits")
    for name, s in report.stages.items():
        table.add_row(Text(name), f"{s.seconds:.2f}", str(s.spark_jobs), str(s.delta_commits))
    jobs = sum(s.spark_jobs for s in report.stages.values())
    table.add_row(Text("total", style="bold"), f"{end.duration_s:.2f}", str(jobs), str(end.delta_commits))
    return table


def _rows(end: RunEnd) -> Table:
    table = _table("table", "rows", "version")
    for name, value in end.rows.items():
        rows, version = ("-", "-") if value is None else (f"{value[0]:,}", str(value[1]))
        table.add_row(Text(name), rows, version)
    return table


def _reconciliation(items: list[Reconciliation]) -> Table:
    table = _table(
        "source", "stage", "read", "bronze", "valid", "quar.", "ins.", "upd.", "super.", "balanced"
    )
    table.columns[1].justify = "left"
    for r in items:
        balanced = Text("yes") if r.balanced else Text("NO", style="bold red")
        table.add_row(
            Text(r.source), Text(r.stage), _n(r.records_read), _n(r.bronze_added), _n(r.valid), _n(r.quarantined),
            _n(r.inserted), _n(r.updated), _n(r.superseded), balanced,
        )  # fmt: skip
    return table


def what_failed(end: RunEnd) -> list[str]:
    """One line per cause: failed gates and their expectations, refused drift, unbalanced reconciliation."""
    report = end.report
    lines = []
    for gate in report.gates:
        if gate.success:
            continue
        lines.append(
            f"gate {gate.suite} on {gate.table}: {gate.failed} of {gate.evaluated} expectation(s) failed"
        )
        lines += [f"  - {failure}" for failure in gate.failures]
    for event, action in report.drift:
        if action == "refused":
            lines.append(
                f"schema drift refused in {event.location}, column '{event.column}' ({event.change}, "
                f"{event.classification}): {event.describe()}"
            )
    for r in report.reconciliation:
        if not r.balanced:
            figures = ", ".join(
                f"{k} {_n(v)}" for k, v in r.to_dict().items() if k not in ("source", "stage", "balanced")
            )
            lines.append(f"reconciliation of {r.source} ({r.stage}) does not balance: {figures}")
    if end.message:
        lines.append(f"error: {end.message}")
    return lines


def print_summary(console: Console, end: RunEnd, run_id: str, command: str, lakehouse: str) -> None:
    """The run's summary on `console`: the same tables on success and failure, plus what failed."""
    report = end.report
    status = end.status if end.error is None else f"{end.status} (exit {end.exit_code})"
    style = "bold green" if end.error is None else "bold red"
    head = Text(f"lakeforge run {run_id} ({command}): ")
    head.append(status, style=style)
    head.append(f" in {end.duration_s:.1f}s")
    console.print(head)
    console.print(Text(f"lakehouse: {lakehouse}"))
    if not report.jvm_started and end.error is None:
        console.print("nothing to do: no Spark session was started")
    console.print()
    console.print(_stages(report, end))
    if end.rows:
        console.print()
        console.print(_rows(end))
    if report.reconciliation:
        console.print()
        console.print(_reconciliation(report.reconciliation))
    if report.skipped_files:
        console.print(f"skipped {len(report.skipped_files)} file(s) already ingested")
    for warning in report.warnings:
        console.print(Text(f"warning: {warning}"))
    if report.data_docs:
        console.print(Text(f"data docs: {report.data_docs}"))
    if report.run_report:
        console.print(Text(f"run report: {report.run_report}"))
    failed = what_failed(end) if end.error is not None else []
    if failed:
        console.print()
        console.print(Text("what failed:", style="bold red"))
        for line in failed:
            console.print(Text(line), soft_wrap=True)
