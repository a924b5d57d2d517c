"""Helpers of the integration tests: settings for a temp lakehouse, in-process runs, table snapshots.

The tables come from the flow graph of the reference configuration, never from a list kept here.
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from lakeforge import deltalog
from lakeforge.config.models import PathsSettings, QualitySettings, Settings, SparkSettings
from lakeforge.pipeline.context import RunContext
from lakeforge.pipeline.runner import Outcome, run_command


def settings_for(
    landing: Path, lakehouse: Path, max_ratio: float = 0.05, local_max_rows: int | None = None
) -> Settings:
    """Test settings; `local_max_rows` 0 keeps every batch in Spark (the path of large batches)."""
    local = {} if local_max_rows is None else {"local_max_rows": local_max_rows}
    return Settings(
        paths=PathsSettings(landing=landing, lakehouse=lakehouse),
        spark=SparkSettings(master="local[2]", shuffle_partitions=2, driver_memory="2g", **local),
        quality=QualitySettings(max_quarantine_ratio=max_ratio, data_docs=False),
        env="test",
    )


def _graph():  # type: ignore[no-untyped-def]
    from lakeforge.flows import load_graph

    return load_graph(settings_for(Path("landing"), Path("lake")))


GRAPH = _graph()
DATA_TABLES = tuple(GRAPH.tables())
SOURCES = tuple(s.source for s in GRAPH.sources)
# Lineage that names the run or its clock: equal content may carry other values after other runs.
RUN_COLUMNS = {"_run_id", "_ingested_at", "ingest_date", "_quarantined_at", "_quarantine_run_id"}
CLOCK = datetime(2026, 3, 11, 6, 0, 0, tzinfo=UTC)
CLI = Path(sys.executable).parent / "lakeforge"


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


def events(spark: Any, lakehouse: Path, kind: str) -> list[dict[str, Any]]:
    """The event-log rows of one kind (`run`, `reconciliation`, `drift`, `watermark`, `file`)."""
    return [r for r in rows(spark, lakehouse, "_ops.events") if r["kind"] == kind]


def versions(spark: Any, lakehouse: Path) -> dict[str, int | None]:
    return {table: deltalog.version(table_path(lakehouse, table)) for table in DATA_TABLES}


def naive_utc(value: Any) -> Any:
    """Oracle datetimes are aware UTC; Spark returns naive UTC (the tests run with TZ=UTC)."""
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC).replace(tzinfo=None)
    return value


def write_config(
    path: Path,
    landing: Path | str,
    lakehouse: Path | str,
    max_ratio: float = 0.05,
    extra: str = "",
    data_docs: bool = False,
) -> Path:
    """A config file for CLI runs of the tests: the same settings as `settings_for`."""
    path.write_text(
        f"""paths:
  landing: {landing}
  lakehouse: {lakehouse}
spark:
  master: local[2]
  shuffle_partitions: 2
  driver_memory: 1g
quality:
  max_quarantine_ratio: {max_ratio}
  data_docs: {str(data_docs).lower()}
{extra}
environments:
  local: {{}}
"""
    )
    return path


def cli_run(
    config: Path,
    *args: str,
    remote: dict[str, str] | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 600,
) -> subprocess.CompletedProcess[str]:
    """`lakeforge run --config CONFIG --cmd full --as-of CLOCK ARGS...`; through `remote` (the
    `connect_server` fixture) when given."""
    child = {k: v for k, v in os.environ.items() if not k.startswith(("LAKEFORGE_", "SPARK_CONNECT"))}
    argv = [str(CLI), "run", "--config", str(config), "--as-of", CLOCK.strftime("%Y-%m-%dT%H:%M:%SZ")]
    if "--cmd" not in args:
        argv += ["--cmd", "full"]
    if remote is not None:
        argv += ["--remote", remote["url"]]
        child["LAKEFORGE_STATE_DIR"] = remote["LAKEFORGE_STATE_DIR"]
    child.update(env or {})
    return subprocess.run([*argv, *args], env=child, capture_output=True, text=True, timeout=timeout)
