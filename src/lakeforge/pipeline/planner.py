"""Plan, then act: what a run will do, worked out from metadata alone (no Spark, no JVM).

    state = LakehouseState.load(catalog, graph)          # table versions, ledger, watermarks (delta-rs)
    plan = plan_run("full", graph, state, landing)       # Plan(steps=[Step(...), ...])
    plan.has_work                                        # False: the run exits without starting Spark

A step says which flow runs, over which input versions, and why: new landing files; an input whose
version moved past the consumer's watermark; or no valid watermark (the consumer is missing, was
restored or written by someone else since), which recomputes the consumer from its inputs. Within a run
the runner plans each stage again just before it executes it, from the versions the earlier stages
left, so `plan_run` predicts the later stages from what the earlier ones will change.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from lakeforge import deltalog
from lakeforge.contracts.drift import diff_header
from lakeforge.contracts.registry import Catalog
from lakeforge.errors import ContractViolation, SchemaDriftError
from lakeforge.flows.graph import FlowGraph, ResolvedFlow, SourceFlow
from lakeforge.ops.events import EVENTS, EventLog
from lakeforge.results import DriftPolicy, FileRecord, RunReport
from lakeforge.sources.landing import LandingFile, candidates, check_header_names, fingerprint

log = logging.getLogger(__name__)

STAGES_OF = {
    "full": ("ingest", "transform", "load"),
    "ingest": ("ingest",),
    "transform": ("transform",),
    "load": ("load",),
    "validate": ("validate",),
    "maintenance": ("maintenance",),
}


@dataclass
class LakehouseState:
    """Versions of the tables and the event log, kept current as the run writes."""

    catalog: Catalog
    graph: FlowGraph
    versions: dict[str, int | None]
    events: EventLog
    # change-feed windows already checked: a run plans each stage twice (predicted, then for real)
    gaps: dict[tuple[str, int, int], str | None] = field(default_factory=dict, repr=False)

    @staticmethod
    def load(catalog: Catalog, graph: FlowGraph) -> LakehouseState:
        versions = {t: deltalog.version(catalog.uri(t)) for t in graph.tables()}
        return LakehouseState(catalog, graph, versions, EventLog.read(catalog.uri(EVENTS)))

    def refresh(self, table: str) -> None:
        self.versions[table] = deltalog.version(self.catalog.uri(table))

    def version(self, table: str) -> int | None:
        return self.versions.get(table)

    def watermark(self, consumer: str, input_: str) -> int | None:
        """The valid watermark of `consumer` on `input_` (see EventLog.watermark)."""
        return self.events.watermark(consumer, input_, self.version(consumer))

    def change_feed_gap(self, table: str, after: int, upto: int) -> str | None:
        """Why the change feed of `table` after `after` up to `upto` is unreadable; None if it is readable.

        Read from the log once per window and run: versions never change once written."""
        key = (table, after, upto)
        if key not in self.gaps:
            self.gaps[key] = deltalog.change_feed_gap(self.catalog.uri(table), after, upto)
        return self.gaps[key]

    def add(self, report: RunReport) -> None:
        """Take the run's new ledger entries and watermarks into account (they are recorded at its end)."""
        for f in report.files:
            if f not in self.events.files:
                self.events.files.append(f)
        for w in report.watermarks:
            if w not in self.events.watermarks:
                self.events.watermarks.append(w)


@dataclass(frozen=True)
class Landing:
    """Where the landing zone is and how its files are admitted."""

    path: str | Path  # a location (lakeforge.storage): a local path or a URI
    drift_policy: DriftPolicy = DriftPolicy.ADDITIVE  # of bronze: what a header may add
    settle_seconds: float = 0.0
    verify: bool = False  # re-hash files already in the ledger
    max_columns: int = 1000  # a wider header is refused (exit 4)
    max_file_bytes: int = 256 * 1024 * 1024  # a larger file is refused (exit 4)


@dataclass
class Step:
    stage: str
    kind: str  # ingest | cleanse | derive | validate
    target: str  # the table the step writes first (bronze, silver, derived) or validates
    reason: str
    files: list[LandingFile] = field(default_factory=list)
    duplicates: list[FileRecord] = field(default_factory=list)
    extras: list[str] = field(default_factory=list)  # extra landing columns (bronze drift)
    inputs: dict[str, tuple[int | None, int | None]] = field(default_factory=dict)  # input: (after, upto)
    source: str | None = None
    flow: ResolvedFlow | None = None

    def describe(self) -> str:
        return f"{self.stage:<9} {self.kind:<8} {self.target:<24} {self.reason}"

    def incremental(self, target_exists: bool) -> bool:
        """Whether the step reads only its inputs' change feeds: a cleanse with a valid watermark, a derive
        of an incremental flow into an existing table whose every watermark is valid. Otherwise it
        recomputes from its inputs' snapshots."""
        windows = self.inputs.values()
        if self.kind == "cleanse":
            return all(after is not None for after, _ in windows)
        if self.kind != "derive" or self.flow is None or not self.flow.incremental or not target_exists:
            return False
        return all(
            after is not None and (upto is None and after == -1 or upto is not None and after <= upto)
            for after, upto in windows
        )


@dataclass
class Plan:
    command: str
    steps: list[Step]

    @property
    def has_work(self) -> bool:
        return bool(self.steps)

    def stage(self, name: str) -> list[Step]:
        return [s for s in self.steps if s.stage == name]


# --- ingest ------------------------------------------------------------------------------------------
def _repair(source: SourceFlow, state: LakehouseState, report: RunReport) -> None:
    """Ledger entries for files a bronze commit published but no event recorded (a crash between the
    bronze commit and the run's operations commit): they are loaded and must not load again."""
    ledger = state.events.ledger(source.source)
    current = state.version(source.bronze)
    if current is None:
        return
    known = [f.bronze_version for f in ledger.values() if f.bronze_version is not None]
    newer = current - max(known) if known else None
    repaired = []
    for commit in deltalog.commits(state.catalog.uri(source.bronze), newer):
        meta = deltalog.lakeforge_metadata(commit) or {}
        for f in meta.get("files", []):
            if f["path"] not in ledger:
                record = FileRecord(
                    source=source.source,
                    path=f["path"],
                    size=int(f["size"]),
                    mtime_ns=int(f.get("mtime_ns", 0)),
                    sha256=f["sha256"],
                    rows=int(f["rows"]),
                    bronze_version=int(commit["version"]),
                    run_id=str(meta.get("run_id", "")),
                )
                repaired.append(record)
                ledger[record.path] = record
    if repaired:
        log.warning(
            "ledger repair: %s file(s) of %s were committed but not recorded", len(repaired), source.bronze
        )
        report.files.extend(repaired)
        state.add(report)


def plan_ingest(
    source: SourceFlow, state: LakehouseState, landing: Landing, report: RunReport
) -> Step | None:
    """New files of a source; refuses changed files and bad headers before anything is written."""
    _repair(source, state, report)
    ledger = state.events.ledger(source.source)
    by_hash = {f.sha256: f.path for f in ledger.values() if f.duplicate_of is None}
    listing = candidates(landing.path, source.source, landing.settle_seconds)
    for warning in listing.warnings:
        log.warning(warning)
        report.warnings.append(warning)
    new: list[LandingFile] = []
    duplicates: list[FileRecord] = []
    for c in listing.files:
        known = ledger.get(c.rel_path)
        if known is not None and not landing.verify and (known.size, known.mtime_ns) == (c.size, c.mtime_ns):
            report.skipped_files.append(c.rel_path)
            continue
        f = fingerprint(c, landing.max_columns, landing.max_file_bytes)
        if known is not None:
            if known.sha256 != f.sha256:
                raise ContractViolation(
                    f"{f.rel_path} was ingested before with SHA-256 {known.sha256[:12]}..., now it is "
                    f"{f.sha256[:12]}...; nothing from it was loaded",
                    hint="landing files are immutable: deliver changes as a new file",
                )
            report.skipped_files.append(c.rel_path)
            continue
        first = by_hash.get(f.sha256)
        if first is not None:
            message = f"{f.rel_path} has the same content as {first}: recorded as a copy, not loaded"
            log.warning(message)
            report.warnings.append(message)
            duplicates.append(
                FileRecord(source.source, f.rel_path, f.size, f.mtime_ns, f.sha256, 0, None, "", first)
            )
            continue
        by_hash[f.sha256] = f.rel_path
        new.append(f)
    contract = state.catalog.contract(source.bronze)
    reserved = {c.name for c in contract.columns if c.source is None}
    extras: list[str] = []
    for f in new:
        if f.header is None:
            continue
        check_header_names(f, reserved)
        drift = diff_header(contract, list(f.header), location=f.rel_path)
        refused = drift.refused(landing.drift_policy)
        report.drift.extend((e, "accepted") for e in drift.events if e not in refused)
        for e in drift.events:
            if e not in refused:
                log.warning("schema drift (%s, accepted): %s", e.classification, e.describe())
        if refused:
            report.drift.extend((e, "refused") for e in refused)
            raise SchemaDriftError(
                "; ".join(e.describe() for e in refused) + "; nothing of this source's batch was published",
                hint="fix the file's header (or the contract, by a reviewed change) and rerun",
            )
        extras += [c for c in f.header if c not in contract.column_names and c not in extras]
    if not new and not duplicates:
        return None
    names = ", ".join(f.rel_path.rpartition("/")[2] for f in new[:3]) + (" ..." if len(new) > 3 else "")
    reason = f"{len(new)} new file(s)" + (f": {names}" if new else "")
    if duplicates:
        reason += f"; {len(duplicates)} copy(ies) to record"
    return Step("ingest", "ingest", source.bronze, reason, new, duplicates, extras, source=source.source)


# --- transform and load --------------------------------------------------------------------------------
def _input_window(
    consumer_marks: list[int | None], upto: int | None, changing: bool
) -> tuple[tuple[int | None, int | None], str | None]:
    """((after, upto), reason) of one input for consumers with these valid marks; reason None: no work."""
    after = (
        None if any(m is None for m in consumer_marks) else min(m for m in consumer_marks if m is not None)
    )
    if changing:
        return (after, upto), "will change in this run"
    if upto is None:
        return (after, upto), None
    if after is None:
        return (None, upto), f"no valid watermark: recompute from v{upto}"
    if after > upto:
        return (None, upto), f"v{upto} is older than the watermark v{after} (rebuilt or restored): recompute"
    if after < upto:
        return (after, upto), f"v{after + 1}..v{upto} new"
    return (after, upto), None


def _readable(
    state: LakehouseState, input_: str, window: tuple[int | None, int | None], why: str
) -> tuple[tuple[int | None, int | None], str]:
    """The window itself when its change feed can be read, else a recompute from the snapshot."""
    after, upto = window
    if after is None or upto is None or after >= upto:
        return window, why
    said = (input_, after, upto) in state.gaps
    gap = state.change_feed_gap(input_, after, upto)
    if gap is None:
        return window, why
    why = f"change feed v{after + 1}..v{upto} is gone ({gap}): recompute from its snapshot v{upto}"
    if not said:  # once per run, though the stage is planned twice
        log.warning("%s %s", input_, why, extra={"event": "recompute"})
    return (None, upto), why


def plan_cleanse(source: SourceFlow, state: LakehouseState, changing: set[str]) -> Step | None:
    if not source.outputs or (state.version(source.bronze) is None and source.bronze not in changing):
        return None
    marks = [state.watermark(out, source.bronze) for out in source.outputs]
    window, why = _input_window(marks, state.version(source.bronze), source.bronze in changing)
    if why is None:
        return None
    if source.bronze not in changing:
        window, why = _readable(state, source.bronze, window, why)
    assert source.silver is not None
    return Step(
        "transform", "cleanse", source.silver, f"{source.bronze} {why}", inputs={source.bronze: window},
        source=source.source,
    )  # fmt: skip


def plan_derive(flow: ResolvedFlow, state: LakehouseState, changing: set[str]) -> Step | None:
    present = [i for i in flow.inputs if state.version(i) is not None or i in changing]
    if not present:
        return None
    inputs: dict[str, tuple[int | None, int | None]] = {}
    reasons = []
    for name in flow.inputs:
        window, why = _input_window(
            [state.watermark(flow.table, name)], state.version(name), name in changing
        )
        if state.version(flow.table) is None and why is None and name in present:
            why = f"{flow.table} does not exist yet"
        if why is not None and name not in changing:
            window, why = _readable(state, name, window, why)
        inputs[name] = window
        if why is not None:
            reasons.append(f"{name} {why}")
    if not reasons:
        return None
    return Step("load", "derive", flow.table, "; ".join(reasons), inputs=inputs, flow=flow)


def plan_stage(
    stage: str,
    graph: FlowGraph,
    state: LakehouseState,
    report: RunReport,
    landing: Landing,
    changing: set[str] | None = None,
) -> list[Step]:
    """The steps of one stage, given the tables earlier stages of this run will change (`changing`)."""
    changing = changing or set()
    steps: list[Step] = []
    if stage == "ingest":
        for source in graph.sources:  # every source is checked before any is written
            step = plan_ingest(source, state, landing, report)
            if step is not None:
                steps.append(step)
        if landing.drift_policy is DriftPolicy.NONE:
            extras = [c for s in steps for c in s.extras]
            if extras:
                raise SchemaDriftError(f"extra columns {extras} refused by the bronze drift policy 'none'")
    elif stage == "transform":
        steps = [s for src in graph.sources if (s := plan_cleanse(src, state, changing)) is not None]
    elif stage == "load":
        for flow in graph.derived:
            step = plan_derive(flow, state, changing)
            if step is not None:
                steps.append(step)
                changing = changing | {flow.table}
    elif stage == "validate":
        for table in graph.published():
            version = state.version(table)
            if version is not None:
                steps.append(Step("validate", "validate", table, f"whole-table suite of v{version}"))
    elif stage == "maintenance":
        steps = [Step("maintenance", "maintain", t, "OPTIMIZE and VACUUM") for t in (*graph.tables(), EVENTS)]
    return steps


def plan_run(
    command: str, graph: FlowGraph, state: LakehouseState, report: RunReport, landing: Landing
) -> Plan:
    """Every stage of `command`, later stages predicted from the tables earlier ones will change."""
    steps: list[Step] = []
    changing: set[str] = set()
    for stage in STAGES_OF[command]:
        found = plan_stage(stage, graph, state, report, landing, changing)
        steps += found
        for step in found:
            if step.kind == "ingest" and step.files:
                changing.add(step.target)
            elif step.kind == "cleanse":
                src = graph.source(step.source or "")
                changing.update(src.outputs)
            elif step.kind == "derive":
                changing.add(step.target)
    return Plan(command, steps)
