"""Table maintenance: OPTIMIZE (compaction) and VACUUM of every lakeforge table.

results = maintain(spark, catalog, retention_hours=168)
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from lakeforge.writers.delta import SafeDeltaWriter

log = logging.getLogger(__name__)


def maintain(
    spark: SparkSession,
    writer: SafeDeltaWriter,
    tables: list[str],
    retention_hours: int,
    optimize: bool = True,
) -> list[dict[str, Any]]:
    """Compact small files and remove files older than the retention that no version needs."""
    from delta.tables import DeltaTable

    if retention_hours < 168:
        spark.conf.set("spark.databricks.delta.retentionDurationCheck.enabled", "false")
    results = []
    for table in tables:
        if not writer.exists(table):
            continue
        dt = DeltaTable.forPath(spark, writer.path(table))
        entry: dict[str, Any] = {"table": table}
        if optimize:
            metrics = dt.optimize().executeCompaction().select("metrics").collect()[0]["metrics"]
            entry["files_removed"] = int(metrics["numFilesRemoved"])
            entry["files_added"] = int(metrics["numFilesAdded"])
        dt.vacuum(float(retention_hours))
        entry["version"] = writer.version(table)
        log.info("maintained %s: %s", table, entry)
        results.append(entry)
    return results
