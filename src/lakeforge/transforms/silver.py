"""Bronze -> silver: check every row, split off the quarantine, type the valid rows, keep the latest.

    checked = bronze.transform(with_reasons(bronze_contract))
    valid = checked.transform(valid_rows).transform(typed(bronze_contract, silver_contract))
    current = valid.transform(latest_by(["order_id"], ["updated_at", "_source_file", "_line_number"]))

All functions are pure: they take and return DataFrames, and the run's clock is passed in.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

from lakeforge.contracts.models import TableContract
from lakeforge.quality.rules import DATE_FORMAT, TIMESTAMP_FORMAT, amount_cents, normalized, row_reasons

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

Transform = Callable[["DataFrame"], "DataFrame"]
LINEAGE = ["_source_file", "_line_number", "_ingested_at", "_run_id"]


def with_reasons(bronze: TableContract) -> Transform:
    """Add `_reasons` (array<string>, empty when the row passes every rule of the contract)."""

    def apply(df: DataFrame) -> DataFrame:
        return df.withColumn("_reasons", row_reasons(bronze))

    return apply


def valid_rows(df: DataFrame) -> DataFrame:
    from pyspark.sql import functions as F

    return df.where(F.size("_reasons") == 0)


def quarantine_rows(quarantine: TableContract, quarantined_at: datetime, run_id: str) -> Transform:
    """Rows with at least one reason, shaped as the quarantine contract (raw values, lineage, reasons)."""

    def apply(df: DataFrame) -> DataFrame:
        from pyspark.sql import functions as F

        bad = df.where(F.size("_reasons") > 0).withColumns(
            {
                "_quarantined_at": F.lit(quarantined_at).cast("timestamp"),
                "_quarantine_run_id": F.lit(run_id),
            }
        )
        return bad.select(*quarantine.column_names)

    return apply


def _typed_value(bronze: TableContract, name: str, type_name: str, source: str | None = None) -> Column:
    from pyspark.sql import functions as F

    spec = bronze.column(source or name)
    value = normalized(spec)
    if type_name == "string":
        return value
    if type_name == "date":
        if spec.source is not None and spec.source.rule is not None and spec.source.rule.timestamp:
            return F.to_date(F.to_timestamp(value, TIMESTAMP_FORMAT))
        return F.to_date(value, DATE_FORMAT)
    if type_name == "timestamp":
        return F.to_timestamp(value, TIMESTAMP_FORMAT)
    if type_name.startswith("decimal"):
        return (amount_cents(value) / F.lit(100)).cast(type_name)
    raise ValueError(f"no typing rule for {name}: {type_name}")


def typed(bronze: TableContract, silver: TableContract) -> Transform:
    """Cast the normalised text of valid rows to the silver contract's types, keeping lineage."""

    def apply(df: DataFrame) -> DataFrame:
        from pyspark.sql import functions as F

        columns = []
        for spec in silver.columns:
            if spec.name in LINEAGE:
                columns.append(F.col(spec.name))
            else:
                columns.append(_typed_value(bronze, spec.name, spec.type, spec.derived_from).alias(spec.name))
        return df.select(*columns)

    return apply


def latest_by(keys: list[str], order_by: list[str]) -> Transform:
    """Keep one row per key: the greatest by `order_by` (compared in order, all descending)."""

    def apply(df: DataFrame) -> DataFrame:
        from pyspark.sql import Window
        from pyspark.sql import functions as F

        window = Window.partitionBy(*keys).orderBy(*[F.col(c).desc() for c in order_by])
        return df.withColumn("_rank", F.row_number().over(window)).where("_rank = 1").drop("_rank")

    return apply
