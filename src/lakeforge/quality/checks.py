"""Dataset-level checks derived from a table's contract, computed by Spark in one pass.

    result = contract_checks(df, contract)     # keys unique and not null, non-null columns, value sets, minimums
    if not result.success: raise QualityGateFailed(...)

These are the expectations every suite starts from; `quality.gates` runs them through Great
Expectations when it is enabled and directly otherwise.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from lakeforge.contracts.models import TableContract
from lakeforge.ops.report import GateResult

if TYPE_CHECKING:
    from pyspark.sql import DataFrame


def contract_checks(df: DataFrame, contract: TableContract, suite: str | None = None) -> GateResult:
    from pyspark.sql import functions as F

    started = time.monotonic()
    checks: dict[str, object] = {}
    for key in contract.keys:
        checks[f"{key} is never null"] = F.sum(F.when(F.col(key).isNull(), 1).otherwise(0))
    for col in contract.columns:
        if not col.nullable and col.name not in contract.keys:
            checks[f"{col.name} is never null"] = F.sum(F.when(F.col(col.name).isNull(), 1).otherwise(0))
        if col.values:
            checks[f"{col.name} in {col.values}"] = F.sum(
                F.when(F.col(col.name).isNotNull() & ~F.col(col.name).isin(col.values), 1).otherwise(0)
            )
        if col.min is not None:
            checks[f"{col.name} >= {col.min:g}"] = F.sum(
                F.when(F.col(col.name) < F.lit(col.min), 1).otherwise(0)
            )
    names = list(checks)
    exprs = [F.count(F.lit(1)).alias("_rows")] + [
        F.coalesce(e, F.lit(0)).alias(f"c{i}")  # type: ignore[arg-type]
        for i, e in enumerate(checks.values())
    ]
    key_cols = [F.col(k) for k in contract.keys]
    row = df.select(*exprs).collect()[0]
    duplicates = (
        df.groupBy(*key_cols)
        .count()
        .where("count > 1")
        .agg(F.coalesce(F.sum("count"), F.lit(0)))
        .collect()[0][0]
    )
    failures = [f"{name}: {row[f'c{i}']} rows fail" for i, name in enumerate(names) if row[f"c{i}"]]
    if duplicates:
        failures.append(f"{contract.keys} is unique: {duplicates} rows share a key")
    return GateResult(
        suite=suite or f"{contract.table}.contract",
        table=contract.table,
        success=not failures,
        evaluated=len(names) + 1,
        failed=len(failures),
        failures=failures,
        duration_s=round(time.monotonic() - started, 3),
    )
