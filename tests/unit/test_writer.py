"""lakeforge.writers.delta.SafeDeltaWriter: every commit mode, its refusals and its reconciliation."""

from __future__ import annotations

import ast
import re
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from chispa import assert_df_equality

from lakeforge.contracts.registry import Catalog, ContractRegistry
from lakeforge.errors import LakeforgeError, SchemaDriftError, WriteReconciliationError
from lakeforge.writers.delta import SafeDeltaWriter, WriteMetrics

REG = ContractRegistry.default()
SRC = Path(__file__).resolve().parents[2] / "src" / "lakeforge"
INGESTED = datetime(2026, 3, 5, 6, 0, 0)
ORDER_BY = ["updated_at", "_source_file", "_line_number"]
F1, F2 = "orders/orders_20260301.csv", "orders/orders_20260302.csv"


@pytest.fixture
def writer(spark: Any, tmp_path: Path) -> SafeDeltaWriter:
    return SafeDeltaWriter(spark, Catalog(tmp_path, REG))


def ts(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ")


def order(
    order_id: str, status: str, updated_at: str, file: str = F1, line: int = 1, amount: str = "10.00"
) -> tuple[Any, ...]:
    """A silver.orders row placed on 2026-03-01."""
    placed = ts("2026-03-01T09:00:00Z")
    return (order_id, "c1", placed, placed.date(), status, Decimal(amount), ts(updated_at), file, line,
            INGESTED, "run-1")  # fmt: skip


def bronze_order(order_id: str, line: int, day: date = date(2026, 3, 1)) -> tuple[Any, ...]:
    return (order_id, "c1", "2026-03-01T09:00:00Z", "placed", "1.00", "2026-03-01T09:00:00Z", None, False, F1,
            line, INGESTED, "run-1", day)  # fmt: skip


def quarantine_row(line: int, file: str = F1) -> tuple[Any, ...]:
    return ("o", "c1", "x", "placed", "1", "2026-03-01T09:00:00Z", None, file, line, INGESTED, "run-1",
            ["invalid:order_ts"], INGESTED, "run-1")  # fmt: skip


def revenue(day: int, count: int, amount: str) -> tuple[Any, ...]:
    return (date(2026, 3, day), count, Decimal(amount), count, Decimal(amount) / count if count else None)


def df_of(spark: Any, table: str, rows: list[tuple[Any, ...]]) -> Any:
    return spark.createDataFrame(rows, REG.get_schema(table))


def table_df(spark: Any, writer: SafeDeltaWriter, table: str) -> Any:
    return spark.read.format("delta").load(writer.path(table))


def data_files(spark: Any, writer: SafeDeltaWriter, table: str) -> set[str]:
    return {r[0] for r in table_df(spark, writer, table).select("_metadata.file_path").distinct().collect()}


def counts(m: WriteMetrics) -> dict[str, Any]:
    return {
        "rows_in": m.rows_in,
        "inserted": m.inserted,
        "updated": m.updated,
        "deleted": m.deleted,
        "stale": m.stale,
        "skipped": m.skipped,
    }


# --- merge ------------------------------------------------------------------------------------------------
def test_merge_with_order_by_never_lets_an_older_version_replace_a_newer_one(
    spark: Any, writer: SafeDeltaWriter
) -> None:
    stored = [
        order("o1", "shipped", "2026-03-01T12:00:00Z"),
        order("o2", "placed", "2026-03-01T10:00:00Z"),
        order("o3", "placed", "2026-03-01T10:00:00Z", file=F1, line=5),
        order("o4", "placed", "2026-03-01T10:00:00Z", file=F2, line=5),
        order("o5", "placed", "2026-03-01T10:00:00Z", file=F1, line=5),
    ]
    first = writer.write_with_merge(df_of(spark, "silver.orders", stored), "silver.orders", ["order_id"],
                                    order_by=ORDER_BY)  # fmt: skip
    assert counts(first) == {
        "rows_in": 5,
        "inserted": 5,
        "updated": 0,
        "deleted": 0,
        "stale": 0,
        "skipped": False,
    }
    assert first.mode == "merge" and first.table == "silver.orders"

    incoming = [
        order("o1", "placed", "2026-03-01T11:00:00Z", file=F2, line=9),  # older updated_at, later file: loses
        order("o2", "delivered", "2026-03-01T11:00:00Z"),  # newer: wins
        order("o3", "cancelled", "2026-03-01T10:00:00Z", file=F2, line=1),  # tie, later file: wins
        order("o4", "cancelled", "2026-03-01T10:00:00Z", file=F1, line=9),  # tie, earlier file: loses
        order("o5", "placed", "2026-03-01T10:00:00Z", file=F1, line=5),  # the same version again: loses
        order("o6", "placed", "2026-03-01T08:00:00Z"),  # new key: inserted
    ]
    second = writer.write_with_merge(df_of(spark, "silver.orders", incoming), "silver.orders", ["order_id"],
                                     order_by=ORDER_BY)  # fmt: skip
    assert counts(second) == {
        "rows_in": 6,
        "inserted": 1,
        "updated": 2,
        "deleted": 0,
        "stale": 3,
        "skipped": False,
    }
    assert second.version == first.version + 1 == writer.version("silver.orders")

    expected = df_of(
        spark, "silver.orders", [stored[0], incoming[1], incoming[2], stored[3], stored[4], incoming[5]]
    )
    assert_df_equality(
        table_df(spark, writer, "silver.orders"), expected, ignore_row_order=True, ignore_nullable=True
    )


def test_merge_ties_on_updated_at_and_file_go_to_the_greater_line(
    spark: Any, writer: SafeDeltaWriter
) -> None:
    same = "2026-03-01T10:00:00Z"
    stored = [order("o1", "placed", same, line=9), order("o2", "placed", same, line=10)]
    writer.write_with_merge(
        df_of(spark, "silver.orders", stored), "silver.orders", ["order_id"], order_by=ORDER_BY
    )
    incoming = [order("o1", "shipped", same, line=10), order("o2", "shipped", same, line=9)]
    m = writer.write_with_merge(df_of(spark, "silver.orders", incoming), "silver.orders", ["order_id"],
                                order_by=ORDER_BY)  # fmt: skip
    assert (m.inserted, m.updated, m.stale) == (0, 1, 1)
    expected = df_of(spark, "silver.orders", [incoming[0], stored[1]])
    assert_df_equality(
        table_df(spark, writer, "silver.orders"), expected, ignore_row_order=True, ignore_nullable=True
    )


def test_merge_without_order_by_replaces_every_matched_row(spark: Any, writer: SafeDeltaWriter) -> None:
    first = [order("o1", "shipped", "2026-03-01T12:00:00Z")]
    writer.write_with_merge(df_of(spark, "silver.orders", first), "silver.orders", ["order_id"])
    older = [order("o1", "placed", "2026-03-01T08:00:00Z")]
    m = writer.write_with_merge(df_of(spark, "silver.orders", older), "silver.orders", ["order_id"])
    assert (m.inserted, m.updated, m.stale) == (0, 1, 0)
    assert_df_equality(
        table_df(spark, writer, "silver.orders"),
        df_of(spark, "silver.orders", older),
        ignore_nullable=True,
    )


def test_merge_of_only_older_versions_changes_no_row(spark: Any, writer: SafeDeltaWriter) -> None:
    stored = [order("o1", "shipped", "2026-03-01T12:00:00Z"), order("o2", "shipped", "2026-03-01T12:00:00Z")]
    writer.write_with_merge(
        df_of(spark, "silver.orders", stored), "silver.orders", ["order_id"], order_by=ORDER_BY
    )
    older = [order("o1", "placed", "2026-03-01T10:00:00Z"), order("o2", "placed", "2026-03-01T11:59:59Z")]
    m = writer.write_with_merge(
        df_of(spark, "silver.orders", older), "silver.orders", ["order_id"], order_by=ORDER_BY
    )
    assert (m.rows_in, m.inserted, m.updated, m.deleted, m.stale) == (2, 0, 0, 0, 2)
    assert_df_equality(
        table_df(spark, writer, "silver.orders"),
        df_of(spark, "silver.orders", stored),
        ignore_row_order=True,
        ignore_nullable=True,
    )


@pytest.fixture
def dv_writer(spark: Any, tmp_path: Path) -> SafeDeltaWriter:
    """A writer whose silver.orders contract asks for deletion vectors (off by default)."""
    import shutil

    contracts = tmp_path / "contracts"
    shutil.copytree(SRC / "contracts" / "tables", contracts)
    path = contracts / "silver.orders.yaml"
    path.write_text(path.read_text(encoding="utf-8") + "deletion_vectors: true\n", encoding="utf-8")
    return SafeDeltaWriter(spark, Catalog(tmp_path / "lake", ContractRegistry(contracts)))


def test_merge_tables_have_no_deletion_vectors_by_default(spark: Any, writer: SafeDeltaWriter) -> None:
    from lakeforge import deltalog

    assert not REG.get("silver.orders").deletion_vectors
    rows = [order("o1", "placed", "2026-03-01T10:00:00Z")]
    writer.write_with_merge(df_of(spark, "silver.orders", rows), "silver.orders", ["order_id"])
    assert not deltalog.writes_deletion_vectors(writer.path("silver.orders"))


def test_merge_marks_replaced_rows_in_a_deletion_vector_and_the_log_counts_them_deleted(
    spark: Any, dv_writer: SafeDeltaWriter
) -> None:
    from lakeforge import deltalog

    writer = dv_writer
    assert deltalog.writes_deletion_vectors(writer.path("silver.orders")) is False  # not created yet
    stored = [order(f"o{i}", "placed", "2026-03-01T10:00:00Z", line=i) for i in range(1, 7)]
    writer.write_with_merge(
        df_of(spark, "silver.orders", stored).coalesce(1), "silver.orders", ["order_id"], order_by=ORDER_BY
    )
    before = data_files(spark, writer, "silver.orders")
    newer = [
        order("o2", "shipped", "2026-03-01T12:00:00Z", line=2),
        order("o7", "placed", "2026-03-01T12:00:00Z"),
    ]
    m = writer.write_with_merge(
        df_of(spark, "silver.orders", newer), "silver.orders", ["order_id"], order_by=ORDER_BY
    )
    assert (m.inserted, m.updated, m.stale) == (1, 1, 0)
    metrics = deltalog.last_commit(writer.path("silver.orders"))["operationMetrics"]
    assert int(metrics["numTargetDeletionVectorsAdded"]) == 1, metrics
    assert int(metrics["numTargetFilesRemoved"]) == 0, metrics  # the 6-row file is not rewritten
    assert before <= data_files(spark, writer, "silver.orders")
    # the file's statistics still say 6 rows; its deletion vector takes o2's old version away
    assert (
        deltalog.row_count(writer.path("silver.orders"))
        == 7
        == table_df(spark, writer, "silver.orders").count()
    )
    expected = df_of(spark, "silver.orders", [stored[0], newer[0], *stored[2:], newer[1]])
    assert_df_equality(
        table_df(spark, writer, "silver.orders"), expected, ignore_row_order=True, ignore_nullable=True
    )
    assert deltalog.writes_deletion_vectors(writer.path("silver.orders"))
    # a MERGE that changes no row commits nothing on such a table; a writer whose contract no longer asks
    # for deletion vectors reads that from the table itself and counts every source row stale
    plain = SafeDeltaWriter(spark, Catalog(writer.catalog.lakehouse, REG))
    before = deltalog.version(writer.path("silver.orders"))
    older = [order("o3", "cancelled", "2026-03-01T09:00:00Z", line=3)]
    m = plain.write_with_merge(
        df_of(spark, "silver.orders", older), "silver.orders", ["order_id"], order_by=ORDER_BY, rows_in=1
    )
    assert (m.rows_in, m.inserted, m.updated, m.stale, m.skipped) == (1, 0, 0, 1, True)
    assert deltalog.version(writer.path("silver.orders")) == before
    assert_df_equality(
        table_df(spark, writer, "silver.orders"), expected, ignore_row_order=True, ignore_nullable=True
    )


def test_merge_refuses_a_source_with_duplicate_keys(spark: Any, writer: SafeDeltaWriter) -> None:
    rows = [order("o1", "placed", "2026-03-01T10:00:00Z"), order("o1", "shipped", "2026-03-01T11:00:00Z")]
    with pytest.raises(LakeforgeError) as info:
        writer.write_with_merge(df_of(spark, "silver.orders", rows), "silver.orders", ["order_id"],
                                order_by=ORDER_BY)  # fmt: skip
    assert info.value.message == "merge into silver.orders: the source has more than one row per ['order_id']"
    assert not writer.exists("silver.orders")  # refused before anything was written


# --- replaceWhere -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("predicate", ["", "   ", "true", " TRUE ", "1=1", "1 = 1", "(1=1)", "'1'='1'"])
def test_replace_where_refuses_an_always_true_predicate(
    spark: Any, writer: SafeDeltaWriter, predicate: str
) -> None:
    df = df_of(spark, "gold.daily_revenue", [revenue(1, 1, "5.00")])
    with pytest.raises(LakeforgeError) as info:
        writer.write_with_replace_where(df, "gold.daily_revenue", predicate)
    assert info.value.one_line() == (
        f"LakeforgeError: replaceWhere on gold.daily_revenue refused: the predicate {predicate!r} would replace "
        "the whole table -- scope it to the partitions that changed"
    )
    assert not writer.exists("gold.daily_revenue")  # refused before anything is created


@pytest.mark.parametrize("predicate", ["2=2", "NOT false", "true AND true", "'order_date' = 'order_date'"])
def test_replace_where_refuses_any_constant_true_predicate(
    spark: Any, writer: SafeDeltaWriter, predicate: str
) -> None:
    table = "gold.daily_revenue"
    with pytest.raises(LakeforgeError, match="would replace the whole table"):
        writer.write_with_replace_where(df_of(spark, table, [revenue(2, 1, "6.00")]), table, predicate)
    assert not writer.exists(table)


def test_replace_where_refuses_rows_outside_the_predicate(spark: Any, writer: SafeDeltaWriter) -> None:
    df = df_of(
        spark, "gold.daily_revenue", [revenue(1, 1, "5.00"), revenue(2, 1, "6.00"), revenue(3, 1, "7.00")]
    )
    predicate = "order_date = DATE'2026-03-01'"
    with pytest.raises(LakeforgeError) as info:
        writer.write_with_replace_where(df, "gold.daily_revenue", predicate)
    assert info.value.message == (
        "replaceWhere on gold.daily_revenue refused: 2 of 3 rows fall outside \"order_date = DATE'2026-03-01'\""
    )
    assert not writer.exists("gold.daily_revenue")  # refused before anything was written


def test_replace_where_replaces_exactly_the_matching_rows(spark: Any, writer: SafeDeltaWriter) -> None:
    table = "gold.daily_revenue"
    initial = [revenue(1, 1, "5.00"), revenue(2, 2, "6.00"), revenue(3, 1, "7.00"), revenue(4, 1, "8.00")]
    first = writer.write_with_replace_where(
        df_of(spark, table, initial), table, "order_date BETWEEN '2026-03-01' AND '2026-03-04'"
    )
    assert counts(first) == {
        "rows_in": 4,
        "inserted": 4,
        "updated": 0,
        "deleted": 0,
        "stale": 0,
        "skipped": False,
    }

    # replace days 2 and 3 (2 stored rows) with one new row for day 2
    new_day_2 = revenue(2, 3, "9.00")
    second = writer.write_with_replace_where(
        df_of(spark, table, [new_day_2]), table, "order_date IN ('2026-03-02', '2026-03-03')"
    )
    assert counts(second) == {
        "rows_in": 1,
        "inserted": 1,
        "updated": 0,
        "deleted": 2,
        "stale": 0,
        "skipped": False,
    }
    assert second.version == first.version + 1
    expected = df_of(spark, table, [initial[0], new_day_2, initial[3]])
    assert_df_equality(table_df(spark, writer, table), expected, ignore_row_order=True, ignore_nullable=True)


def test_replace_where_on_a_partitioned_table_leaves_other_partitions_untouched(
    spark: Any, writer: SafeDeltaWriter
) -> None:
    table = "silver.orders"
    day1 = order("o1", "placed", "2026-03-01T10:00:00Z")
    day2 = ("o2", "c1", ts("2026-03-02T09:00:00Z"), date(2026, 3, 2), "placed", Decimal("2.00"),
            ts("2026-03-02T09:00:00Z"), F2, 1, INGESTED, "run-1")  # fmt: skip
    writer.write_with_merge(df_of(spark, table, [day1, day2]), table, ["order_id"], order_by=ORDER_BY)
    files_before = data_files(spark, writer, table)

    replacement = order("o9", "shipped", "2026-03-01T11:00:00Z")
    m = writer.write_with_replace_where(
        df_of(spark, table, [replacement]), table, "order_date = '2026-03-01'"
    )
    assert (m.rows_in, m.inserted, m.deleted) == (1, 1, 1)
    expected = df_of(spark, table, [replacement, day2])
    assert_df_equality(table_df(spark, writer, table), expected, ignore_row_order=True, ignore_nullable=True)
    day2_files = {p for p in files_before if "order_date=2026-03-02" in p}
    assert len(day2_files) == 1
    assert day2_files <= data_files(spark, writer, table)  # the other partition's file was not rewritten


# --- append_idempotent / insert_new -----------------------------------------------------------------------
def test_the_log_says_how_many_rows_a_window_of_appends_holds(spark: Any, writer: SafeDeltaWriter) -> None:
    from lakeforge import deltalog

    table = "bronze.orders"
    uri = writer.path(table)
    assert deltalog.rows_read(uri, None, 0) is None  # no table yet
    writer.append(df_of(spark, table, [bronze_order("o1", 1), bronze_order("o2", 2)]), table, expected_rows=2)
    writer.append(
        df_of(spark, table, [bronze_order(f"o{i}", i) for i in range(3, 8)]), table, expected_rows=5
    )
    writer.append(df_of(spark, table, [bronze_order("o8", 8)]), table, expected_rows=1)
    assert [deltalog.rows_read(uri, after, 2) for after in (None, -1, 0, 1, 2)] == [8, 8, 6, 1, 0]
    assert deltalog.rows_read(uri, None, 1) == 7  # every row of v1
    assert deltalog.rows_read(uri, 0, 1) == 5

    # a MERGE's change feed: its inserted rows and both images of its updated ones
    merged = "silver.orders"
    first = [order("o1", "placed", "2026-03-01T10:00:00Z"), order("o2", "placed", "2026-03-01T10:00:00Z")]
    writer.write_with_merge(df_of(spark, merged, first), merged, ["order_id"])
    newer = [order("o2", "shipped", "2026-03-01T11:00:00Z"), order("o3", "placed", "2026-03-01T11:00:00Z")]
    writer.write_with_merge(df_of(spark, merged, newer), merged, ["order_id"])
    feed = (
        spark.read.format("delta")
        .option("readChangeFeed", "true")
        .option("startingVersion", 1)
        .load(writer.path(merged))
    )
    assert deltalog.rows_read(writer.path(merged), 0, 1) == feed.count() == 3
    assert deltalog.rows_read(writer.path(merged), -1, 1) == 5


def test_append_idempotent_writes_once_per_app_id_and_version(spark: Any, writer: SafeDeltaWriter) -> None:
    table = "bronze.orders"
    rows = [bronze_order("o1", 1), bronze_order("o2", 2)]
    first = writer.append_idempotent(df_of(spark, table, rows), table, app_id="ingest:orders", version=7)
    assert counts(first) == {
        "rows_in": 2,
        "inserted": 2,
        "updated": 0,
        "deleted": 0,
        "stale": 0,
        "skipped": False,
    }

    again = writer.append_idempotent(df_of(spark, table, rows), table, app_id="ingest:orders", version=7)
    assert counts(again) == {
        "rows_in": 2,
        "inserted": 0,
        "updated": 0,
        "deleted": 0,
        "stale": 0,
        "skipped": True,
    }
    assert again.version == first.version
    assert_df_equality(table_df(spark, writer, table), df_of(spark, table, rows), ignore_row_order=True,
                       ignore_nullable=True)  # fmt: skip

    more = [bronze_order("o3", 3, day=date(2026, 3, 2))]
    third = writer.append_idempotent(df_of(spark, table, more), table, app_id="ingest:orders", version=8)
    assert (third.inserted, third.skipped, third.version) == (1, False, first.version + 1)
    assert table_df(spark, writer, table).count() == 3


def test_insert_new_inserts_each_key_once(spark: Any, writer: SafeDeltaWriter) -> None:
    table, keys = "quarantine.orders", ["_source_file", "_line_number"]
    rows = [quarantine_row(1), quarantine_row(2)]
    first = writer.insert_new(df_of(spark, table, rows), table, keys)
    assert counts(first) == {
        "rows_in": 2,
        "inserted": 2,
        "updated": 0,
        "deleted": 0,
        "stale": 0,
        "skipped": False,
    }

    again = writer.insert_new(df_of(spark, table, rows), table, keys)
    assert counts(again) == {
        "rows_in": 0,
        "inserted": 0,
        "updated": 0,
        "deleted": 0,
        "stale": 0,
        "skipped": True,
    }
    assert again.version == first.version

    overlap = writer.insert_new(
        df_of(spark, table, [quarantine_row(2), quarantine_row(2, file=F2)]), table, keys
    )
    assert (overlap.rows_in, overlap.inserted, overlap.skipped) == (1, 1, False)
    expected = df_of(spark, table, [*rows, quarantine_row(2, file=F2)])
    assert_df_equality(table_df(spark, writer, table), expected, ignore_row_order=True, ignore_nullable=True)


def test_insert_new_refuses_new_rows_with_a_repeated_key(spark: Any, writer: SafeDeltaWriter) -> None:
    table = "quarantine.orders"
    with pytest.raises(LakeforgeError) as info:
        writer.insert_new(df_of(spark, table, [quarantine_row(1), quarantine_row(1)]), table,
                          ["_source_file", "_line_number"])  # fmt: skip
    assert info.value.message == (
        "insert into quarantine.orders: the new rows hold a key more than once (['_source_file', '_line_number'])"
    )
    assert not writer.exists(table)


# --- contract conformance ---------------------------------------------------------------------------------
def test_conform_refuses_a_changed_type_naming_the_column(spark: Any, writer: SafeDeltaWriter) -> None:
    df = df_of(spark, "silver.orders", [order("o1", "placed", "2026-03-01T10:00:00Z")])
    df = df.withColumn("total_amount", df["total_amount"].cast("string"))
    with pytest.raises(SchemaDriftError) as info:
        writer._conform(df, "silver.orders", allow_additive=False)
    assert info.value.message == (
        "column 'total_amount' of silver.orders is string in silver.orders, the contract says decimal(12,2)"
    )
    assert info.value.exit_code == 4


def test_conform_refuses_a_missing_column_even_when_additive(spark: Any, writer: SafeDeltaWriter) -> None:
    df = df_of(spark, "silver.orders", [order("o1", "placed", "2026-03-01T10:00:00Z")]).drop("status")
    with pytest.raises(
        SchemaDriftError, match=r"^column 'status' \(string\) of silver.orders is missing from "
    ):
        writer._conform(df, "silver.orders", allow_additive=True)


def test_conform_accepts_extra_columns_only_with_allow_additive(spark: Any, writer: SafeDeltaWriter) -> None:
    from pyspark.sql import functions as F

    base = df_of(spark, "bronze.orders", [bronze_order("o1", 1)])
    extra = base.withColumn("coupon", F.lit("SPRING"))
    with pytest.raises(SchemaDriftError) as info:
        writer._conform(extra, "bronze.orders", allow_additive=False)
    assert info.value.one_line().startswith(
        "SchemaDriftError: new column 'coupon' (string) in bronze.orders, not in bronze.orders's contract -- "
        "the 'none' drift policy refuses this"
    )
    shuffled = extra.select("coupon", *reversed(base.columns))
    conformed = writer._conform(shuffled, "bronze.orders", allow_additive=True)
    assert conformed.columns == [*REG.get("bronze.orders").column_names, "coupon"]


def test_a_write_that_breaks_the_contract_commits_nothing(spark: Any, writer: SafeDeltaWriter) -> None:
    df = df_of(spark, "quarantine.orders", [quarantine_row(1)]).drop("_reasons")
    with pytest.raises(SchemaDriftError, match=r"column '_reasons' \(array<string>\) of quarantine.orders"):
        writer.insert_new(df, "quarantine.orders", ["_source_file", "_line_number"])
    assert not writer.exists("quarantine.orders")


# --- creating ---------------------------------------------------------------------------------------------
def detail(spark: Any, writer: SafeDeltaWriter, table: str) -> Any:
    return spark.sql(f"DESCRIBE DETAIL delta.`{writer.path(table)}`").collect()[0]


def test_create_if_missing_uses_the_contract_partitions_cdf_and_schema(
    spark: Any, writer: SafeDeltaWriter
) -> None:
    assert writer.create_if_missing("bronze.orders") is True
    assert writer.create_if_missing("bronze.orders") is False
    bronze = detail(spark, writer, "bronze.orders")
    assert bronze["partitionColumns"] == ["ingest_date"]
    assert bronze["properties"]["delta.enableChangeDataFeed"] == "true"
    assert bronze["properties"]["delta.appendOnly"] == "true"
    assert bronze["numFiles"] == 0
    actual = table_df(spark, writer, "bronze.orders").schema
    assert [(f.name, f.dataType.simpleString()) for f in actual.fields] == [
        (f.name, f.dataType.simpleString()) for f in REG.get_schema("bronze.orders").fields
    ]

    assert writer.create_if_missing("silver.customers") is True
    silver = detail(spark, writer, "silver.customers")
    assert silver["partitionColumns"] == []
    assert silver["properties"]["delta.enableChangeDataFeed"] == "true"
    assert silver["properties"]["delta.appendOnly"] == "false"
    assert "delta.enableDeletionVectors" not in silver["properties"]  # not asked for by its contract
    assert "delta.enableDeletionVectors" not in bronze["properties"]
    assert writer.version("silver.customers") == 0

    assert writer.create_if_missing("gold.daily_revenue") is True
    gold = detail(spark, writer, "gold.daily_revenue")
    assert "delta.enableChangeDataFeed" not in gold["properties"]
    assert writer.path("gold.daily_revenue") == f"{writer.catalog.lakehouse}/gold/daily_revenue"


def test_missing_table_has_no_version(writer: SafeDeltaWriter) -> None:
    assert writer.exists("silver.orders") is False
    assert writer.version("silver.orders") is None
    assert writer.history_metadata("silver.orders") == []


def test_user_metadata_is_recorded_on_the_commit(spark: Any, writer: SafeDeltaWriter) -> None:
    table = "quarantine.orders"
    writer.insert_new(df_of(spark, table, [quarantine_row(1)]), table, ["_source_file", "_line_number"],
                      metadata={"run_id": "r1", "watermark": {"bronze.orders": 3}})  # fmt: skip
    assert writer.history_metadata(table) == [
        (writer.version(table), {"run_id": "r1", "watermark": {"bronze.orders": 3}})
    ]
    assert spark.conf.get("spark.databricks.delta.commitInfo.userMetadata", None) is None


# --- reconciliation ---------------------------------------------------------------------------------------
def misreport(monkeypatch: pytest.MonkeyPatch, writer: SafeDeltaWriter, metric: str, delta: int) -> None:
    """Make the last commit's operationMetrics report `metric` off by `delta`."""
    real = writer._last_commit

    def fake(table: str) -> dict[str, Any]:
        commit = dict(real(table))
        om = dict(commit["operationMetrics"] or {})
        if metric in om:
            om[metric] = str(int(om[metric]) + delta)
        commit["operationMetrics"] = om
        return commit

    monkeypatch.setattr(writer, "_last_commit", fake)


def test_append_whose_commit_reports_another_count_raises(
    spark: Any, writer: SafeDeltaWriter, monkeypatch: pytest.MonkeyPatch
) -> None:
    misreport(monkeypatch, writer, "numOutputRows", 1)
    df = df_of(spark, "bronze.orders", [bronze_order("o1", 1), bronze_order("o2", 2)])
    with pytest.raises(WriteReconciliationError) as info:
        writer.append_idempotent(df, "bronze.orders", app_id="a", version=1)
    line = info.value.one_line()
    assert line.startswith(
        "WriteReconciliationError: bronze.orders: expected 2 appended rows but the commit reports 3 "
        "(operationMetrics {"
    )
    assert "'numOutputRows': '3'" in line
    assert line.endswith("-- the table may have been changed by another writer; inspect DESCRIBE HISTORY")
    assert info.value.exit_code == 1


def test_merge_whose_commit_reports_another_count_raises(
    spark: Any, writer: SafeDeltaWriter, monkeypatch: pytest.MonkeyPatch
) -> None:
    table = "silver.orders"
    writer.write_with_merge(df_of(spark, table, [order("o1", "placed", "2026-03-01T10:00:00Z")]), table,
                            ["order_id"], order_by=ORDER_BY)  # fmt: skip
    misreport(monkeypatch, writer, "numTargetRowsUpdated", 1)
    newer = [order("o1", "shipped", "2026-03-01T11:00:00Z")]
    with pytest.raises(
        WriteReconciliationError,
        match=re.escape(
            "silver.orders: the MERGE of 1 source rows reports 0 inserted and 2 updated rows (operationMetrics {"
        ),
    ):
        writer.write_with_merge(df_of(spark, table, newer), table, ["order_id"], order_by=ORDER_BY)


def test_merge_whose_commit_saw_another_number_of_source_rows_raises(
    spark: Any, writer: SafeDeltaWriter, monkeypatch: pytest.MonkeyPatch
) -> None:
    table = "silver.orders"
    writer.write_with_merge(df_of(spark, table, [order("o1", "placed", "2026-03-01T10:00:00Z")]), table,
                            ["order_id"], order_by=ORDER_BY)  # fmt: skip
    misreport(monkeypatch, writer, "numSourceRows", -1)
    newer = [order("o1", "shipped", "2026-03-01T11:00:00Z"), order("o2", "placed", "2026-03-01T11:00:00Z")]
    with pytest.raises(
        WriteReconciliationError,
        match=re.escape(
            "silver.orders: expected 2 source rows seen by the MERGE but the commit reports 1 (operationMetrics {"
        ),
    ):
        writer.write_with_merge(df_of(spark, table, newer), table, ["order_id"], order_by=ORDER_BY)


def test_write_full_makes_the_table_hold_exactly_the_rows(spark: Any, writer: SafeDeltaWriter) -> None:
    table = "gold.daily_revenue"
    first = writer.write_full(df_of(spark, table, [revenue(1, 1, "5.00"), revenue(2, 2, "8.00")]), table,
                              ["order_date"])  # fmt: skip
    assert (first.inserted, first.updated, first.deleted) == (2, 0, 0)
    rows = [revenue(2, 1, "3.00"), revenue(3, 1, "1.00")]
    m = writer.write_full(df_of(spark, table, rows), table, ["order_date"])
    assert (m.rows_in, m.inserted, m.updated, m.deleted, m.version) == (2, 1, 1, 1, first.version + 1)
    assert_df_equality(table_df(spark, writer, table), df_of(spark, table, rows), ignore_row_order=True,
                       ignore_nullable=True)  # fmt: skip


def test_replace_where_whose_commit_reports_another_count_raises(
    spark: Any, writer: SafeDeltaWriter, monkeypatch: pytest.MonkeyPatch
) -> None:
    misreport(monkeypatch, writer, "numOutputRows", -1)
    df = df_of(spark, "gold.daily_revenue", [revenue(1, 1, "5.00")])
    with pytest.raises(
        WriteReconciliationError,
        match=re.escape(
            "gold.daily_revenue: expected 1 written rows but the commit reports 0 (operationMetrics {"
        ),
    ):
        writer.write_with_replace_where(df, "gold.daily_revenue", "order_date = '2026-03-01'")


def test_plain_append_checks_the_count_the_caller_expects(spark: Any, writer: SafeDeltaWriter) -> None:
    table = "quarantine.orders"
    m = writer.append(df_of(spark, table, [quarantine_row(1), quarantine_row(2)]), table, expected_rows=2)
    assert counts(m) == {
        "rows_in": 2,
        "inserted": 2,
        "updated": 0,
        "deleted": 0,
        "stale": 0,
        "skipped": False,
    }
    with pytest.raises(
        WriteReconciliationError,
        match=re.escape(
            "quarantine.orders: expected 3 appended rows but the commit reports 1 (operationMetrics {"
        ),
    ):
        writer.append(df_of(spark, table, [quarantine_row(3)]), table, expected_rows=3)


# --- the source tree --------------------------------------------------------------------------------------
def _sources() -> list[tuple[Path, str, ast.Module]]:
    found = []
    for path in sorted(SRC.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        found.append((path, text, ast.parse(text)))
    assert len(found) > 20
    return found


def _statements(tree: ast.Module) -> list[ast.stmt]:
    """The simple (non-compound) statements of a module, where one write chain lives."""
    compound = (
        ast.FunctionDef,
        ast.AsyncFunctionDef,
        ast.ClassDef,
        ast.If,
        ast.For,
        ast.While,
        ast.With,
        ast.Try,
    )
    return [n for n in ast.walk(tree) if isinstance(n, ast.stmt) and not isinstance(n, compound)]


def _is_overwrite(node: ast.AST) -> bool:
    if not isinstance(node, ast.Call):
        return False
    func = node.func
    if isinstance(func, ast.Attribute) and func.attr == "mode" and node.args:
        arg = node.args[0]
        if isinstance(arg, ast.Constant) and str(arg.value).lower() == "overwrite":
            return True
    for kw in node.keywords:
        if (
            kw.arg == "mode"
            and isinstance(kw.value, ast.Constant)
            and str(kw.value.value).lower() == "overwrite"
        ):
            return True
        if kw.arg == "overwrite" and isinstance(kw.value, ast.Constant) and kw.value.value is True:
            return True
    return False


def test_overwrite_only_in_the_safe_writer_and_only_with_replace_where() -> None:
    offenders = []
    scoped = 0
    for path, text, tree in _sources():
        for stmt in _statements(tree):
            if not any(_is_overwrite(n) for n in ast.walk(stmt)):
                continue
            segment = ast.get_source_segment(text, stmt) or ""
            where = f"{path.relative_to(SRC)}:{stmt.lineno}"
            if path.relative_to(SRC).as_posix() != "writers/delta.py":
                offenders.append(f"{where}: overwrite outside writers/delta.py")
            elif '"replaceWhere"' not in segment:
                offenders.append(f"{where}: overwrite without replaceWhere")
            else:
                scoped += 1
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                if re.search(r"\binsert\s+overwrite\b", node.value, re.IGNORECASE):
                    offenders.append(f"{path.relative_to(SRC)}:{node.lineno}: INSERT OVERWRITE")
    assert offenders == []
    assert scoped == 1  # write_with_replace_where


def test_no_infer_schema_in_src() -> None:
    assert [str(p.relative_to(SRC)) for p, text, _ in _sources() if "inferschema" in text.lower()] == []


def test_no_print_or_show_in_src_outside_the_cli_console_helpers() -> None:
    offenders = []
    for path, _, tree in _sources():
        allowed: set[int] = set()
        if path.relative_to(SRC).as_posix() == "cli.py":
            for fn in ast.walk(tree):
                if isinstance(fn, ast.FunctionDef) and fn.name in ("_console", "_fail"):
                    allowed |= {id(n) for n in ast.walk(fn)}
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call) or id(node) in allowed:
                continue
            if isinstance(node.func, ast.Name) and node.func.id == "print":
                offenders.append(f"{path.relative_to(SRC)}:{node.lineno}: print(")
            if isinstance(node.func, ast.Attribute) and node.func.attr == "show":
                offenders.append(f"{path.relative_to(SRC)}:{node.lineno}: .show(")
    assert offenders == []
