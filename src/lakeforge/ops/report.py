"""What a run did, collected while it runs and written to the operations tables at its end.

report = RunReport()
report.writes.append(metrics)
report.reconciliation.append(Reconciliation(source="orders", stage="transform", ...))
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from lakeforge.contracts.drift import DriftEvent
from lakeforge.writers.delta import WriteMetrics


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


@dataclass
class RunReport:
    writes: list[WriteMetrics] = field(default_factory=list)
    reconciliation: list[Reconciliation] = field(default_factory=list)
    drift: list[tuple[DriftEvent, str]] = field(default_factory=list)  # (event, accepted|refused)
    gates: list[GateResult] = field(default_factory=list)
    skipped_files: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    stage_seconds: dict[str, float] = field(default_factory=dict)
    data_docs: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "writes": [w.to_dict() for w in self.writes],
            "reconciliation": [r.to_dict() for r in self.reconciliation],
            "drift": [{**asdict(e), "action": a} for e, a in self.drift],
            "gates": [g.to_dict() for g in self.gates],
            "skipped_files": self.skipped_files,
            "warnings": self.warnings,
            "stage_seconds": self.stage_seconds,
            "data_docs": self.data_docs,
        }
