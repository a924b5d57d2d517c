"""What the parts of a run report back: one leaf module of plain data types, imported by every layer.

    report = RunReport()
    report.writes.append(WriteMetrics(table="silver.orders", mode="merge", ...))
    report.reconciliation.append(Reconciliation(source="orders", stage="transform", records_read=10))

Nothing here imports the rest of lakeforge: the writer, the gates, drift detection and the operations
records all speak these types, so none of them needs another's module.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any


class DriftPolicy(StrEnum):
    """What a layer accepts when an arriving schema differs from its contract."""

    ADDITIVE = "additive"  # new columns and widenings are accepted and recorded; breaking changes refused
    NONE = "none"  # any difference is refused


@dataclass(frozen=True)
class WriteMetrics:
    """What one commit did, read from the commit's own operationMetrics."""

    table: str
    mode: str
    rows_in: int
    inserted: int
    updated: int
    deleted: int
    files_added: int
    bytes_added: int
    duration_s: float
    version: int | None
    skipped: bool = False
    stale: int = 0  # merge source rows that matched a stored row and lost to it by the ordering

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class DriftEvent:
    table: str
    location: str
    column: str
    change: str  # added | missing | type_changed
    classification: str  # additive | widening | compatible | breaking
    expected: str | None = None
    found: str | None = None

    def describe(self) -> str:
        if self.change == "added":
            return f"new column '{self.column}' ({self.found}) in {self.location}, not in {self.table}'s contract"
        if self.change == "missing":
            return f"column '{self.column}' ({self.expected}) of {self.table} is missing from {self.location}"
        return (
            f"column '{self.column}' of {self.table} is {self.found} in {self.location}, "
            f"the contract says {self.expected}"
        )


@dataclass
class Reconciliation:
    """SPEC §3 figures of one source in one stage of one run."""

    source: str
    stage: str  # ingest | transform
    files: int | None = None
    records_read: int | None = None
    bronze_added: int | None = None
    valid: int | None = None
    quarantined: int | None = None
    inserted: int | None = None
    updated: int | None = None
    superseded: int | None = None

    @property
    def balanced(self) -> bool:
        if self.stage == "ingest":
            return self.records_read == self.bronze_added
        total = (self.valid or 0) + (self.quarantined or 0)
        return self.records_read == total and self.valid == (
            (self.inserted or 0) + (self.updated or 0) + (self.superseded or 0)
        )

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "balanced": self.balanced}


@dataclass
class GateResult:
    suite: str
    table: str
    success: bool
    evaluated: int
    failed: int
    failures: list[str] = field(default_factory=list)
    duration_s: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class FileRecord:
    """One landing file in the exactly-once ledger."""

    source: str
    path: str  # relative to the landing zone: "orders/orders_20260301.csv"
    size: int
    mtime_ns: int
    sha256: str
    rows: int
    bronze_version: int | None
    run_id: str
    duplicate_of: str | None = None  # a copy of this earlier file: recorded, not loaded


@dataclass(frozen=True)
class Watermark:
    """`consumer` has processed `input` up to `input_version`; the consumer stood at `consumer_version`."""

    consumer: str
    input: str
    input_version: int
    consumer_version: int | None


@dataclass
class StageStats:
    """What a stage cost: wall time, Spark jobs and Delta commits."""

    seconds: float = 0.0
    spark_jobs: int = 0
    delta_commits: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class RunReport:
    writes: list[WriteMetrics] = field(default_factory=list)
    reconciliation: list[Reconciliation] = field(default_factory=list)
    drift: list[tuple[DriftEvent, str]] = field(default_factory=list)  # (event, accepted|refused)
    gates: list[GateResult] = field(default_factory=list)
    files: list[FileRecord] = field(default_factory=list)  # ledger entries this run adds
    watermarks: list[Watermark] = field(default_factory=list)
    skipped_files: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    stages: dict[str, StageStats] = field(default_factory=dict)
    data_docs: str | None = None
    jvm_started: bool = False
    remote: str | None = None  # the Spark Connect server the run used (sc://host:port), None when embedded
    quarantine_reasons: dict[str, dict[str, int]] = field(default_factory=dict)  # table -> reason -> rows
    run_report: str | None = None  # the run's HTML page (lakeforge.ops.report), written after its records
    maintenance: list[dict[str, Any]] = field(
        default_factory=list
    )  # per table: OPTIMIZE / VACUUM done or skipped

    @property
    def stage_seconds(self) -> dict[str, float]:
        return {name: s.seconds for name, s in self.stages.items()}

    @property
    def delta_commits(self) -> int:
        return sum(1 for w in self.writes if not w.skipped)

    def to_dict(self) -> dict[str, Any]:
        return {
            "writes": [w.to_dict() for w in self.writes],
            "reconciliation": [r.to_dict() for r in self.reconciliation],
            "drift": [{**asdict(e), "action": a} for e, a in self.drift],
            "gates": [g.to_dict() for g in self.gates],
            "files": [asdict(f) for f in self.files],
            "watermarks": [asdict(w) for w in self.watermarks],
            "skipped_files": self.skipped_files,
            "warnings": self.warnings,
            "stages": {k: v.to_dict() for k, v in self.stages.items()},
            "stage_seconds": self.stage_seconds,
            "data_docs": self.data_docs,
            "jvm_started": self.jvm_started,
            "remote": self.remote,
            "quarantine_reasons": self.quarantine_reasons,
            "run_report": self.run_report,
            "maintenance": self.maintenance,
        }
