"""lakeforge.transforms: bronze -> silver (SPEC §3) and silver -> gold (SPEC §4) as pure DataFrame functions."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from chispa import assert_df_equality
from pyspark.sql.types import ArrayType, StringType

from lakeforge.contracts.registry import ContractRegistry
from lakeforge.transforms.gold import customer_ltv, daily_revenue
from lakeforge.transforms.silver import latest_by, quarantine_rows, typed, valid_rows, with_reasons

REG = ContractRegistry.default()
INGESTED = datetime(2026, 3, 5, 6, 0, 0)
QUARANTINED = datetime(2026, 3, 5, 7, 30, 0)
RUN = "run-1"
DAY = date(2026, 3, 5)
ORDER_KEY = ["order_id"]
ORDER_BY = ["updated_at", "_source_file", "_line_number"]


def ts(text: str) -> datetime:
    """A naive UTC datetime (the session and the process run in UTC)."""
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ")


def bronze_order(
    order_id: str | None,
    order_ts: str | None = "2026-03-01T10:00:00Z",
    status: str | None = "placed",
    total_amount: str | None = "10.00",
    updated_at: str | None = "2026-03-01T10:00:00Z",
    *,
    customer_id: str | None = "c1",
    file: str = "orders/orders_20260301.csv",
    line: int = 1,
    malformed: bool = False,
    raw_line: str | None = None,
) -> tuple[Any, ...]:
    """A bronze.orders row in contract column order."""
    return (
        order_id, customer_id, order_ts, status, total_amount, updated_at, raw_line, malformed,
        file, line, INGESTED, RUN, DAY,
    )  # fmt: skip


def silver_order(
    order_id: str,
    customer_id: str,
    order_ts: str,
    status: str,
    amount: str,
    updated_at: str | None = None,
    *,
    file: str = "orders/orders_20260301.csv",
    line: int = 1,
) -> tuple[Any, ...]:
    """A silver.orders row: order_date is the UTC date of order_ts."""
    when = ts(order_ts)
    return (
        order_id, customer_id, when, when.date(), status, Decimal(amount), ts(updated_at or order_ts),
        file, line, INGESTED, RUN,
    )  # fmt: skip


def silver_customer(customer_id: str, first: str | None = "Ada", email: str | None = None) -> tuple[Any, ...]:
    return (
        customer_id, first, "L", email or f"{customer_id}@example.com", "GB", date(2026, 1, 1),
        ts("2026-02-01T00:00:00Z"), "customers/customers_20260301.csv", 1, INGESTED, RUN,
    )  # fmt: skip


def df_of(spark: Any, table: str, rows: list[tuple[Any, ...]]) -> Any:
    return spark.createDataFrame(rows, REG.get_schema(table))


# --- with_reasons / valid_rows / quarantine_rows ----------------------------------------------------------
def test_every_bronze_row_goes_to_exactly_one_of_valid_and_quarantine(spark: Any) -> None:
    bronze = df_of(
        spark,
        "bronze.orders",
        [
            bronze_order("o1", line=1),
            bronze_order("o2", status="lost", total_amount="", line=2),
            bronze_order(None, None, None, None, None, customer_id=None, line=3, malformed=True,
                         raw_line="o3,c1,broken"),
            bronze_order(" o4 ", status=" SHIPPED ", line=4),
        ],
    )  # fmt: skip
    checked = bronze.transform(with_reasons(REG.get("bronze.orders")))
    valid = checked.transform(valid_rows)
    quarantined = checked.transform(quarantine_rows(REG.get("quarantine.orders"), QUARANTINED, "run-2"))

    expected_valid = spark.createDataFrame(
        [(*bronze_order("o1", line=1), []), (*bronze_order(" o4 ", status=" SHIPPED ", line=4), [])],
        REG.get_schema("bronze.orders").add("_reasons", ArrayType(StringType())),
    )
    assert_df_equality(valid, expected_valid, ignore_row_order=True, ignore_nullable=True)

    file = "orders/orders_20260301.csv"
    expected_quarantine = df_of(
        spark,
        "quarantine.orders",
        [
            ("o2", "c1", "2026-03-01T10:00:00Z", "lost", "", "2026-03-01T10:00:00Z", None, file, 2, INGESTED,
             RUN, ["invalid:status", "missing:total_amount"], QUARANTINED, "run-2"),
            (None, None, None, None, None, None, "o3,c1,broken", file, 3, INGESTED, RUN, ["malformed_line"],
             QUARANTINED, "run-2"),
        ],
    )  # fmt: skip
    assert_df_equality(quarantined, expected_quarantine, ignore_row_order=True, ignore_nullable=True)


# --- typed ------------------------------------------------------------------------------------------------
def test_typed_orders_match_the_silver_contract_schema_and_values(spark: Any) -> None:
    bronze = df_of(
        spark,
        "bronze.orders",
        [
            bronze_order(" o1\t", "2026-03-01T23:59:59Z", "SHIPPED ", " 0012.50 ", "2026-03-02T08:00:00Z",
                         customer_id="\tc1\r\n", line=1),
            bronze_order("o2", "2026-03-02T00:00:00Z", "Delivered", "10.005", line=2),
            bronze_order("o3", "2026-03-01T00:00:00Z", "cancelled", "9999999999.994", line=3),
            bronze_order("o4", "2024-02-29T12:34:56Z", "returned", "0.0049999", line=4),
        ],
    )  # fmt: skip
    bronze_c, silver_c = REG.get("bronze.orders"), REG.get("silver.orders")
    actual = (
        bronze.transform(with_reasons(bronze_c)).transform(valid_rows).transform(typed(bronze_c, silver_c))
    )

    file = "orders/orders_20260301.csv"
    expected = spark.createDataFrame(
        [
            ("o1", "c1", ts("2026-03-01T23:59:59Z"), date(2026, 3, 1), "shipped", Decimal("12.50"),
             ts("2026-03-02T08:00:00Z"), file, 1, INGESTED, RUN),
            ("o2", "c1", ts("2026-03-02T00:00:00Z"), date(2026, 3, 2), "delivered", Decimal("10.01"),
             ts("2026-03-01T10:00:00Z"), file, 2, INGESTED, RUN),
            ("o3", "c1", ts("2026-03-01T00:00:00Z"), date(2026, 3, 1), "cancelled", Decimal("9999999999.99"),
             ts("2026-03-01T10:00:00Z"), file, 3, INGESTED, RUN),
            ("o4", "c1", ts("2024-02-29T12:34:56Z"), date(2024, 2, 29), "returned", Decimal("0.00"),
             ts("2026-03-01T10:00:00Z"), file, 4, INGESTED, RUN),
        ],
        REG.get_schema("silver.orders"),
    )  # fmt: skip
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


def test_typed_customers_normalise_case_and_null_empty_optionals(spark: Any) -> None:
    file = "customers/customers_20260301.csv"
    bronze = df_of(
        spark,
        "bronze.customers",
        [
            (" c1 ", " Ada ", "", " Ada@Example.COM ", "gb\n", "2024-02-29", "2026-03-01T10:00:00Z", None, False,
             file, 1, INGESTED, RUN, DAY),
            ("c2", "\t", None, "b@c", "De", "2026-01-31", "2026-03-01T10:00:01Z", None, False, file, 2,
             INGESTED, RUN, DAY),
        ],
    )  # fmt: skip
    bronze_c, silver_c = REG.get("bronze.customers"), REG.get("silver.customers")
    actual = (
        bronze.transform(with_reasons(bronze_c)).transform(valid_rows).transform(typed(bronze_c, silver_c))
    )
    expected = df_of(
        spark,
        "silver.customers",
        [
            ("c1", "Ada", None, "ada@example.com", "GB", date(2024, 2, 29), ts("2026-03-01T10:00:00Z"), file, 1,
             INGESTED, RUN),
            ("c2", None, None, "b@c", "DE", date(2026, 1, 31), ts("2026-03-01T10:00:01Z"), file, 2, INGESTED,
             RUN),
        ],
    )  # fmt: skip
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


# --- latest_by --------------------------------------------------------------------------------------------
def test_latest_by_greatest_updated_at_wins_regardless_of_file_and_line(spark: Any) -> None:
    rows = [
        silver_order("o1", "c1", "2026-03-01T10:00:00Z", "placed", "1.00", "2026-03-01T12:00:00Z",
                     file="orders/orders_20260301.csv", line=1),
        silver_order("o1", "c1", "2026-03-01T10:00:00Z", "shipped", "1.00", "2026-03-01T11:59:59Z",
                     file="orders/orders_20260302.csv", line=9),
        silver_order("o2", "c2", "2026-03-01T10:00:00Z", "placed", "2.00", "2026-03-01T10:00:00Z"),
    ]  # fmt: skip
    actual = df_of(spark, "silver.orders", rows).transform(latest_by(ORDER_KEY, ORDER_BY))
    expected = df_of(spark, "silver.orders", [rows[0], rows[2]])
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


def test_latest_by_ties_go_to_the_lexically_later_file_then_the_greater_line(spark: Any) -> None:
    same = "2026-03-01T12:00:00Z"
    rows = [
        # o1: same updated_at, the later file wins even with a smaller line number
        silver_order("o1", "c1", same, "placed", "1.00", same, file="orders/orders_20260301.csv", line=7),
        silver_order("o1", "c1", same, "shipped", "1.00", same, file="orders/orders_20260302.csv", line=1),
        # o2: same updated_at and file, line 10 beats line 9 (numeric, not text, order)
        silver_order("o2", "c1", same, "placed", "2.00", same, file="orders/orders_20260301.csv", line=9),
        silver_order("o2", "c1", same, "delivered", "2.00", same, file="orders/orders_20260301.csv", line=10),
        # o3: file names compare as text: orders_9 > orders_10
        silver_order("o3", "c1", same, "placed", "3.00", same, file="orders/orders_10.csv", line=5),
        silver_order("o3", "c1", same, "returned", "3.00", same, file="orders/orders_9.csv", line=5),
    ]
    actual = df_of(spark, "silver.orders", rows).transform(latest_by(ORDER_KEY, ORDER_BY))
    expected = df_of(spark, "silver.orders", [rows[1], rows[3], rows[5]])
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


def test_latest_by_composite_key_keeps_one_row_per_key(spark: Any) -> None:
    df = spark.createDataFrame(
        [("a", 1, 1, "x"), ("a", 1, 2, "y"), ("a", 2, 1, "z"), ("b", 1, 3, "w")],
        "k1 string, k2 int, v int, payload string",
    )
    expected = spark.createDataFrame(
        [("a", 1, 2, "y"), ("a", 2, 1, "z"), ("b", 1, 3, "w")], "k1 string, k2 int, v int, payload string"
    )
    assert_df_equality(df.transform(latest_by(["k1", "k2"], ["v"])), expected, ignore_row_order=True)


# --- gold -------------------------------------------------------------------------------------------------
def test_daily_revenue_counts_only_placed_shipped_delivered(spark: Any) -> None:
    orders = df_of(
        spark,
        "silver.orders",
        [
            # 2026-03-01: 10.00 + 10.01 + 10.01 = 30.02 over 3 -> 10.0066.. -> 10.01; two customers
            silver_order("o1", "c1", "2026-03-01T00:00:00Z", "placed", "10.00"),
            silver_order("o2", "c1", "2026-03-01T12:00:00Z", "shipped", "10.01"),
            silver_order("o3", "c2", "2026-03-01T23:59:59Z", "delivered", "10.01"),
            silver_order("o4", "c3", "2026-03-01T13:00:00Z", "cancelled", "500.00"),
            silver_order("o5", "c4", "2026-03-01T14:00:00Z", "returned", "70.00"),
            # 2026-03-02: 0.01 + 0.02 = 0.03 over 2 -> 0.015 -> 0.02 (half up)
            silver_order("o6", "c1", "2026-03-02T00:00:00Z", "placed", "0.01"),
            silver_order("o7", "c2", "2026-03-02T01:00:00Z", "placed", "0.02"),
            # 2026-03-03: 0.02 + 0.03 = 0.05 over 2 -> 0.025 -> 0.03 (half up, not half even)
            silver_order("o8", "c1", "2026-03-03T00:00:00Z", "shipped", "0.02"),
            silver_order("o9", "c1", "2026-03-03T01:00:00Z", "shipped", "0.03"),
            # 2026-03-04: only cancelled and returned orders
            silver_order("o10", "c1", "2026-03-04T00:00:00Z", "cancelled", "5.00"),
            silver_order("o11", "c2", "2026-03-04T00:00:00Z", "returned", "6.00"),
            # 2026-03-05: an order of a customer silver does not know (yet) still counts
            silver_order("o12", "c-orphan", "2026-03-05T09:00:00Z", "delivered", "9999999999.99"),
        ],
    )
    expected = df_of(
        spark,
        "gold.daily_revenue",
        [
            (date(2026, 3, 1), 3, Decimal("30.02"), 2, Decimal("10.01")),
            (date(2026, 3, 2), 2, Decimal("0.03"), 2, Decimal("0.02")),
            (date(2026, 3, 3), 2, Decimal("0.05"), 1, Decimal("0.03")),
            (date(2026, 3, 4), 0, Decimal("0.00"), 0, None),
            (date(2026, 3, 5), 1, Decimal("9999999999.99"), 1, Decimal("9999999999.99")),
        ],
    )
    assert_df_equality(daily_revenue(orders), expected, ignore_row_order=True, ignore_nullable=True)


def test_daily_revenue_of_no_orders_is_empty(spark: Any) -> None:
    orders = df_of(spark, "silver.orders", [])
    expected = df_of(spark, "gold.daily_revenue", [])
    assert_df_equality(daily_revenue(orders), expected, ignore_nullable=True)


def test_customer_ltv_one_row_per_customer_over_counted_orders(spark: Any) -> None:
    customers = df_of(
        spark,
        "silver.customers",
        [silver_customer("c1"), silver_customer("c2", first=None), silver_customer("c3")],
    )
    orders = df_of(
        spark,
        "silver.orders",
        [
            # c1: counted 10.00 and 10.01 -> avg 10.005 -> 10.01; the cancelled order is earlier and the
            # returned one later, neither moves first/last_order_ts
            silver_order("o0", "c1", "2026-02-28T09:00:00Z", "cancelled", "99.00"),
            silver_order("o1", "c1", "2026-03-01T10:00:00Z", "placed", "10.00"),
            silver_order("o2", "c1", "2026-03-02T11:00:00Z", "delivered", "10.01"),
            silver_order("o3", "c1", "2026-03-03T12:00:00Z", "returned", "50.00"),
            # c3: only cancelled and returned orders
            silver_order("o4", "c3", "2026-03-01T00:00:00Z", "cancelled", "1.00"),
            silver_order("o5", "c3", "2026-03-01T00:00:00Z", "returned", "2.00"),
            # an orphan order: no customer row, so no ltv row
            silver_order("o6", "c-orphan", "2026-03-01T00:00:00Z", "placed", "3.00"),
        ],
    )
    signup, updated = date(2026, 1, 1), ts("2026-02-01T00:00:00Z")
    expected = df_of(
        spark,
        "gold.customer_ltv",
        [
            ("c1", "Ada", "L", "c1@example.com", "GB", signup, updated, 2, Decimal("20.01"),
             ts("2026-03-01T10:00:00Z"), ts("2026-03-02T11:00:00Z"), Decimal("10.01")),
            ("c2", None, "L", "c2@example.com", "GB", signup, updated, 0, Decimal("0.00"), None, None, None),
            ("c3", "Ada", "L", "c3@example.com", "GB", signup, updated, 0, Decimal("0.00"), None, None, None),
        ],
    )  # fmt: skip
    assert_df_equality(customer_ltv(customers, orders), expected, ignore_row_order=True, ignore_nullable=True)


def test_reasons_held_on_the_driver_count_as_the_spark_aggregate_does() -> None:
    import pyarrow as pa

    from lakeforge.pipeline.engine import reason_counts

    checked = pa.table(
        {"_reasons": pa.array([[], ["missing:order_id"], [], ["a", "b"], None], pa.list_(pa.string()))}
    )
    # a null array (never made by with_reasons) is neither valid nor quarantined, as in the Spark
    # aggregate (its size is null or -1): the reconciliation then does not balance and the run stops
    assert reason_counts(checked) == (5, 2, 2)
    assert reason_counts(checked.slice(0, 0)) == (0, 0, 0)
