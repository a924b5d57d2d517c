"""Helpers of the integration tests: settings for a temp lakehouse, in-process runs, table snapshots."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from lakeforge.config.models import PathsSettings, QualitySettings, Settings, SparkSettings
from lakeforge.pipeline.context import RunContext
from lakeforge.pipeline.runner import Outcome, run_command
from lakeforge.pipeline.stages import PUBLISHED_TABLES

DATA_TABLES = (*PUBLISHED_TABLES, "quarantine.customers", "quarantine.orders")
# Lineage that names the run or its clock: equal content may carry other values after other runs.
RUN_COLUMNS = {"_run_id", "_ingested_at", "ingest_date", "_quarantined_at", "_quarantine_run_id"}
CLOCK = datetime(2026, 3, 11, 6, 0, 0, tzinfo=UTC)


def settings_for(landing: Path, lakehouse: Path, max_ratio: float = 0.05) -> Settings:
    return Settings(
        paths=PathsSettings(landing=landing, lakehouse=lakehouse),
        spark=SparkSettings(master="local[2]", shuffle_partitions=2, driver_memory="2g"),
        quality=QualitySettings(max_quarantine_ratio=max_ratio, data_docs=False),
        env="test",
    )


def run(
    settings: Settings, command: str = "full", clock: datetime = CLOCK, run_id: str | None = None
) -> Outcome:
    ctx = RunContext.create(command=command, env="test", clock=clock, run_id=run_id)
    return run_command(settings, ctx)


def table_path(lakehouse: Path, table: str) -> str:
    layer, name = table.split(".")
    return str(lakehouse / layer / name)


def rows(spark: Any, lakehouse: Path, table: str, drop: set[str] | None = None) -> list[dict[str, Any]]:
    """Every row of a table as dicts (without `drop` columns), sorted for comparison."""
    df = spark.read.format("delta").load(table_path(lakehouse, table))
    keep = [c for c in df.columns if c not in (drop or set())]
    out = [r.asDict() for r in df.select(*keep).collect()]
    return sorted(out, key=lambda r: [str(r[k]) for k in sorted(r)])


def versions(spark: Any, lakehouse: Path) -> dict[str, int | None]:
    from delta.tables import DeltaTable

    out: dict[str, int | None] = {}
    for table in DATA_TABLES:
        path = table_path(lakehouse, table)
        if not Path(path, "_delta_log").is_dir():
            out[table] = None
            continue
        out[table] = DeltaTable.forPath(spark, path).history(1).collect()[0]["version"]
    return out


def naive_utc(value: Any) -> Any:
    """Oracle datetimes are aware UTC; Spark returns naive UTC (the tests run with TZ=UTC)."""
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC).replace(tzinfo=None)
    return value
