"""Silver -> gold aggregates of SPEC §4, over counted orders (placed, shipped, delivered).

    revenue = daily_revenue(silver_orders)
    ltv = customer_ltv(silver_customers, silver_orders)

Declared with `@table` (lakeforge.flows): the contracts say how each is written; `by` says which
column's changed values an incremental run recomputes. Both are pure and work on any subset: pass only the order dates or customers that changed and they
return exactly those rows of the full result.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lakeforge.flows.api import table

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

COUNTED_STATUSES = ["placed", "shipped", "delivered"]


def _avg(revenue: Column, count: Column) -> Column:
    """revenue / count rounded half up to 2 places; null when count is 0."""
    from pyspark.sql import functions as F

    return F.when(count > 0, F.round(revenue / count, 2)).cast("decimal(18,2)")


def _counted(orders: DataFrame) -> Column:
    from pyspark.sql import functions as F

    return F.col("status").isin(COUNTED_STATUSES)


@table("gold.daily_revenue", inputs=["silver.orders"], by="order_date")
def daily_revenue(orders: DataFrame) -> DataFrame:
    """One row per order_date present in `orders`."""
    from pyspark.sql import functions as F

    counted = _counted(orders)
    out = orders.groupBy("order_date").agg(
        F.count(F.when(counted, F.lit(1))).alias("orders_count"),
        F.coalesce(F.sum(F.when(counted, F.col("total_amount"))), F.lit(0))
        .cast("decimal(18,2)")
        .alias("revenue"),
        F.countDistinct(F.when(counted, F.col("customer_id"))).alias("customers_count"),
    )
    return out.withColumn("avg_order_value", _avg(F.col("revenue"), F.col("orders_count"))).select(
        "order_date", "orders_count", "revenue", "customers_count", "avg_order_value"
    )


CUSTOMER_COLUMNS = ["customer_id", "first_name", "last_name", "email", "country", "signup_date", "updated_at"]


@table("gold.customer_ltv", inputs=["silver.customers", "silver.orders"], by="customer_id")
def customer_ltv(customers: DataFrame, orders: DataFrame) -> DataFrame:
    """One row per customer in `customers`, with the figures of its counted orders in `orders`."""
    from pyspark.sql import functions as F

    per_customer = (
        orders.where(_counted(orders))
        .groupBy("customer_id")
        .agg(
            F.count(F.lit(1)).alias("orders_count"),
            F.sum("total_amount").cast("decimal(18,2)").alias("lifetime_revenue"),
            F.min("order_ts").alias("first_order_ts"),
            F.max("order_ts").alias("last_order_ts"),
        )
    )
    joined = customers.select(*CUSTOMER_COLUMNS).join(per_customer, on="customer_id", how="left")
    count = F.coalesce(F.col("orders_count"), F.lit(0)).cast("long")
    revenue = F.coalesce(F.col("lifetime_revenue"), F.lit(0)).cast("decimal(18,2)")
    return joined.select(
        *CUSTOMER_COLUMNS,
        count.alias("orders_count"),
        revenue.alias("lifetime_revenue"),
        "first_order_ts",
        "last_order_ts",
        _avg(revenue, count).alias("avg_order_value"),
    )
