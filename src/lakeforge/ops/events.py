"""The operations event log `_ops.events`: a run's records in one commit, and what later runs read back.

    rows = run_events(run, report)                      # plain dicts, one per event
    append_events(uri, registry, rows)                  # one delta-rs commit, no JVM
    log = EventLog.read(uri)                            # ledger and watermarks for the planner
    log.ledger("orders")["orders/orders_20260301.csv"]  # FileRecord
    log.watermark("silver.orders", "bronze.orders", consumer_version=4)

Records take results (`lakeforge.results`), never the pipeline: this module knows nothing of stages.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from lakeforge import deltalog
from lakeforge.results import FileRecord, RunReport, Watermark

if TYPE_CHECKING:
    import pyarrow as pa

    from lakeforge.contracts.registry import ContractRegistry

EVENTS = "_ops.events"
VALIDATED = "_validated"  # the watermark consumer of whole-table suites: input = the table, its version
OPTIMIZED = "_optimized"  # the watermark consumer of maintenance: input = the table, its version after it


@dataclass(frozen=True)
class RunInfo:
    run_id: str
    command: str
    env: str
    logical_date: date | None
    started_at: datetime
    ended_at: datetime
    status: str
    exit_code: int
    error: str | None


def arrow_schema(registry: ContractRegistry, table: str = EVENTS) -> pa.Schema:
    """The Arrow schema of a contract (for delta-rs writes): timestamps in UTC microseconds."""
    import pyarrow as pa

    types = {
        "string": pa.string(),
        "long": pa.int64(),
        "int": pa.int32(),
        "boolean": pa.bool_(),
        "double": pa.float64(),
        "date": pa.date32(),
        "timestamp": pa.timestamp("us", tz="UTC"),
    }
    contract = registry.get(table)
    return pa.schema([pa.field(c.name, types[c.type], nullable=c.nullable) for c in contract.columns])


def run_events(run: RunInfo, report: RunReport) -> list[dict[str, Any]]:
    """Every event of one run: the run itself, reconciliation, drift, watermarks and ledger entries."""
    base = {"run_id": run.run_id, "recorded_at": run.ended_at}
    rows: list[dict[str, Any]] = [
        {
            **base,
            "kind": "run",
            "command": run.command,
            "env": run.env,
            "logical_date": run.logical_date,
            "started_at": run.started_at,
            "ended_at": run.ended_at,
            "status": run.status,
            "exit_code": run.exit_code,
            "error": run.error,
            "metrics": json.dumps(report.to_dict(), default=str, sort_keys=True),
        }
    ]
    for r in report.reconciliation:
        rows.append({**base, "kind": "reconciliation", **r.to_dict()})
    for e, action in report.drift:
        rows.append(
            {
                **base,
                "kind": "drift",
                "table_name": e.table,
                "location": e.location,
                "column": e.column,
                "change": e.change,
                "classification": e.classification,
                "expected": e.expected,
                "found": e.found,
                "action": action,
            }
        )
    for w in report.watermarks:
        rows.append(
            {
                **base,
                "kind": "watermark",
                "consumer": w.consumer,
                "input": w.input,
                "input_version": w.input_version,
                "consumer_version": w.consumer_version,
            }
        )
    for f in report.files:
        rows.append(
            {
                **base,
                "kind": "file",
                "source": f.source,
                "path": f.path,
                "size": f.size,
                "mtime_ns": f.mtime_ns,
                "sha256": f.sha256,
                "rows": f.rows,
                "bronze_version": f.bronze_version,
                "duplicate_of": f.duplicate_of,
            }
        )
    return rows


def append_events(uri: str, registry: ContractRegistry, rows: list[dict[str, Any]]) -> int:
    """Write `rows` to the event log in one commit; returns its version."""
    import pyarrow as pa

    schema = arrow_schema(registry)
    utc = [f.name for f in schema if pa.types.is_timestamp(f.type)]
    fixed = [{k: _utc(v) if k in utc else v for k, v in row.items()} for row in rows]
    data = pa.Table.from_pylist(fixed, schema=schema)
    return deltalog.append_arrow(uri, data)


def _utc(value: Any) -> Any:
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


@dataclass
class EventLog:
    """What the planner needs from the log: the ledger and the watermarks."""

    files: list[FileRecord] = field(default_factory=list)
    watermarks: list[Watermark] = field(default_factory=list)

    @staticmethod
    def read(uri: str) -> EventLog:
        columns = [
            "kind", "source", "path", "size", "mtime_ns", "sha256", "rows", "bronze_version", "run_id",
            "duplicate_of", "consumer", "input", "input_version", "consumer_version",
        ]  # fmt: skip
        table = deltalog.read_arrow(uri, columns)
        log = EventLog()
        if table is None:
            return log
        import pyarrow.compute as pc

        for row in table.filter(pc.field("kind").isin(["file", "watermark"])).to_pylist():
            if row["kind"] == "file":
                log.files.append(
                    FileRecord(
                        source=row["source"],
                        path=row["path"],
                        size=int(row["size"]),
                        mtime_ns=int(row["mtime_ns"] or 0),
                        sha256=row["sha256"],
                        rows=int(row["rows"]),
                        bronze_version=row["bronze_version"],
                        run_id=row["run_id"],
                        duplicate_of=row["duplicate_of"],
                    )
                )
            else:
                log.watermarks.append(
                    Watermark(
                        row["consumer"], row["input"], int(row["input_version"]), row["consumer_version"]
                    )
                )
        return log

    def ledger(self, source: str) -> dict[str, FileRecord]:
        """The files of a source recorded so far, by path (the first record of a path wins)."""
        out: dict[str, FileRecord] = {}
        for f in self.files:
            if f.source == source and f.path not in out:
                out[f.path] = f
        return out

    def watermark(self, consumer: str, input_: str, consumer_version: int | None) -> int | None:
        """How far `consumer` has read `input_`, if the mark still describes the consumer as it is now.

        A mark is valid only while the consumer stands at the version it was set at: a consumer deleted,
        restored or written by anyone else since has no valid mark and is recomputed from its input.
        """
        found = [
            w.input_version
            for w in self.watermarks
            if w.consumer == consumer and w.input == input_ and w.consumer_version == consumer_version
        ]
        return max(found) if found else None

    def validated(self, table: str, version: int) -> bool:
        return self.marked(VALIDATED, table, version)

    def marked(self, consumer: str, table: str, version: int | None) -> bool:
        """Whether `consumer` (`VALIDATED`, `OPTIMIZED`) has seen `table` at `version`."""
        return any(
            w.consumer == consumer and w.input == table and w.input_version == version
            for w in self.watermarks
        )
