"""Table maintenance: OPTIMIZE (compaction) and VACUUM of every table of the graph and the event log.

    maintain(engine, retention_hours=168)

OPTIMIZE only what was written since its last OPTIMIZE. VACUUM never removes what a consumer still
needs: a table that a consumer has read only up to an older version (silver lagging bronze after a failed
gate, say) is not vacuumed, with a warning naming the consumer; the files of the versions it has yet to
read stay. A reader whose change feed is gone anyway (an operator's own VACUUM, the log retention)
recomputes from its input's snapshot (the planner says so).

OPTIMIZE commits change no data but move a table's version, so the watermarks that described each
table before are recorded again for its new version (otherwise the next run would see no valid mark
and recompute). SQL statements only (OPTIMIZE, VACUUM), the forms known to work over Spark Connect.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from lakeforge import deltalog
from lakeforge.ops.events import EVENTS, OPTIMIZED, VALIDATED
from lakeforge.results import Watermark

if TYPE_CHECKING:
    from lakeforge.pipeline.engine import Engine

log = logging.getLogger(__name__)


MAINTENANCE_OPERATIONS = {"OPTIMIZE", "VACUUM START", "VACUUM END"}


def _changed_since_optimize(uri: str) -> bool:
    """Whether anything but maintenance was committed since the table's last OPTIMIZE (or it never had one)."""
    for commit in deltalog.commits(uri):  # newest first
        operation = commit.get("operation")
        if operation == "OPTIMIZE":
            return False
        if operation not in MAINTENANCE_OPERATIONS:
            return True
    return True


def maintain(engine: Engine, retention_hours: int, optimize: bool = True) -> list[dict[str, Any]]:
    """Compact small files and remove files older than the retention that no version needs."""
    spark, state, report = engine.spark, engine.state, engine.report
    if retention_hours < 168:
        spark.conf.set("spark.databricks.delta.retentionDurationCheck.enabled", "false")
    tables = [*engine.graph.tables(), EVENTS]
    before = {t: state.version(t) for t in tables}
    valid: dict[tuple[str, str], Watermark] = {}  # the valid mark of each (consumer, input): the furthest
    for w in state.events.watermarks:
        if w.consumer not in (VALIDATED, OPTIMIZED) and w.consumer_version == before.get(w.consumer):
            known = valid.get((w.consumer, w.input))
            if known is None or w.input_version > known.input_version:
                valid[(w.consumer, w.input)] = w
    # a consumer that has read an input only up to an older version still needs that input's change feed
    # after its mark: VACUUM must not remove the files it is made of (Delta Live Tables keeps them the same)
    lagging: dict[str, list[str]] = {}
    for (consumer, input_), w in sorted(valid.items()):
        latest = before.get(input_)
        if latest is not None and w.input_version < latest:
            lagging.setdefault(input_, []).append(
                f"{consumer} has read it up to v{w.input_version} of v{latest}"
            )
    results = []
    for table in tables:
        uri = engine.catalog.uri(table)
        if before[table] is None and table != EVENTS:
            continue
        if not deltalog.exists(uri):
            continue
        entry: dict[str, Any] = {"table": table}
        quoted = "`" + uri.replace("`", "``") + "`"
        compacted = state.events.marked(OPTIMIZED, table, before[table]) or not _changed_since_optimize(uri)
        if optimize and not compacted:
            metrics = spark.sql(f"OPTIMIZE delta.{quoted}").select("metrics").collect()[0]["metrics"]
            entry["files_removed"] = int(metrics["numFilesRemoved"])
            entry["files_added"] = int(metrics["numFilesAdded"])
        elif optimize:
            entry["optimize"] = "skipped: nothing written since the last OPTIMIZE"
        if table in lagging:
            message = f"VACUUM {table} skipped: {'; '.join(lagging[table])}, and still needs its change feed after that"
            entry["vacuum"] = "skipped: a consumer lags"
            log.warning(message, extra={"event": "maintenance"})
            report.warnings.append(message)
        else:
            spark.sql(f"VACUUM delta.{quoted} RETAIN {int(retention_hours)} HOURS")
            entry["vacuum"] = f"retain {int(retention_hours)} h"
        if table != EVENTS:
            state.refresh(table)
        entry["version"] = deltalog.version(uri)
        if optimize and table != EVENTS:  # the event log moves with every run: no mark would stay valid
            report.watermarks.append(Watermark(OPTIMIZED, table, entry["version"], None))
        log.info("maintained %s: %s", table, entry, extra={"event": "maintenance"})
        results.append(entry)
        report.maintenance.append(entry)
    for (consumer, input_), w in valid.items():
        # OPTIMIZE and VACUUM change no data: a mark that had read all of its input still has, and a
        # consumer that matched its mark still does, at their new versions
        input_version = state.version(input_) if w.input_version == before.get(input_) else w.input_version
        moved = Watermark(
            consumer, input_, input_version if input_version is not None else -1, state.version(consumer)
        )
        if moved != w:
            report.watermarks.append(moved)
    for table in engine.graph.published():
        old, now = before.get(table), state.version(table)
        if old is not None and now is not None and now != old and state.events.validated(table, old):
            report.watermarks.append(Watermark(VALIDATED, table, now, None))
    state.add(report)
    return results
