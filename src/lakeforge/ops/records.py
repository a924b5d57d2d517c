"""Write a run's records into the operations tables: `_ops/runs`, `_ops/reconciliation`, `_ops/schema_drift`.

    write_run_records(pipeline, status="success", exit_code=0, error=None)

One row per attempt: an orchestrator that retries a stage under the same run id gets one row per try,
told apart by `started_at`.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lakeforge.pipeline.stages import Pipeline


def write_run_records(
    pipeline: Pipeline, status: str, exit_code: int, error: str | None, ended: datetime
) -> None:
    spark, ctx, report, writer = pipeline.spark, pipeline.ctx, pipeline.report, pipeline.writer
    registry = pipeline.registry
    pipeline.flush_watermarks()
    if report.reconciliation:
        rows = [
            {**r.to_dict(), "run_id": ctx.run_id, "recorded_at": ended.astimezone(UTC)}
            for r in report.reconciliation
        ]
        df = spark.createDataFrame(rows, registry.get_schema("_ops.reconciliation"))
        writer.append(df, "_ops.reconciliation", expected_rows=len(rows))
    if report.drift:
        rows = [
            {
                "run_id": ctx.run_id,
                "table_name": e.table,
                "location": e.location,
                "column": e.column,
                "change": e.change,
                "classification": e.classification,
                "expected": e.expected,
                "found": e.found,
                "action": action,
                "detected_at": ctx.clock,
            }
            for e, action in report.drift
        ]
        df = spark.createDataFrame(rows, registry.get_schema("_ops.schema_drift"))
        writer.append(df, "_ops.schema_drift", expected_rows=len(rows))
    run = {
        "run_id": ctx.run_id,
        "command": ctx.command,
        "env": ctx.env,
        "logical_date": ctx.logical_date,
        "started_at": ctx.clock,
        "ended_at": ended.astimezone(UTC),
        "status": status,
        "exit_code": exit_code,
        "error": error,
        "metrics": json.dumps(report.to_dict(), default=str, sort_keys=True),
    }
    df = spark.createDataFrame([run], registry.get_schema("_ops.runs"))
    writer.append(df, "_ops.runs", expected_rows=1)
