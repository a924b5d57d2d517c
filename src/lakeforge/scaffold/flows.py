"""This project's derived tables: pure functions of DataFrames, declared with `@table`.

Each table also needs a contract in contracts/ (here contracts/gold.orders_by_status.yaml). The rules of
a flow (pure, no actions, no clock, local in `by`) are in lakeforge's docs/extending.md.
"""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from lakeforge.flows import table


@table("gold.orders_by_status", inputs=["silver.orders"], by="status")
def orders_by_status(orders: DataFrame) -> DataFrame:
    """One row per status: how many orders have it and their total amount."""
    return orders.groupBy("status").agg(
        F.count(F.lit(1)).cast("long").alias("orders_count"),
        F.sum("total_amount").cast("decimal(18,2)").alias("amount"),
    )
