"""SafeDeltaWriter: every Delta commit of lakeforge goes through here, and every commit is reconciled.

    writer = SafeDeltaWriter(spark, catalog)
    m = writer.write_with_merge(batch, "silver.orders", merge_keys=["order_id"],
                                order_by=["updated_at", "_source_file", "_line_number"])
    m.inserted, m.updated, m.version

Each method works out what must change before it commits (from the source and the target as it was),
reads what did change from the commit's `operationMetrics`, and raises WriteReconciliationError on any
difference. There is no whole-table overwrite: `write_with_replace_where` refuses an empty or
always-true predicate and rows outside it. Creating a missing table is an explicit, logged step that
uses the table's contract (schema, partitions, Change Data Feed).
"""

from __future__ import annotations

import json
import logging
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lakeforge.contracts.models import WriteMode
from lakeforge.errors import LakeforgeError, WriteReconciliationError
from lakeforge.pipeline.faults import crashpoint
from lakeforge.spark import persisted

if TYPE_CHECKING:
    from collections.abc import Iterator

    from pyspark.sql import Column, DataFrame, SparkSession

    from lakeforge.contracts.registry import Catalog

log = logging.getLogger(__name__)

USER_METADATA_CONF = "spark.databricks.delta.commitInfo.userMetadata"


@dataclass(frozen=True)
class WriteMetrics:
    """What one commit did, as recorded in the run's metrics."""

    table: str
    mode: str
    rows_in: int
    inserted: int
    updated: int
    deleted: int
    files_added: int
    bytes_added: int
    duration_s: float
    version: int | None
    skipped: bool = False
    stale: int = 0  # merge source rows that matched a stored row and lost to it by the ordering

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def ordering_wins(new: list[Column], old: list[Column]) -> Column:
    """`new` strictly wins over `old` by the lexicographic order of the paired columns (greater wins).

    ordering_wins([F.col("s.updated_at"), F.col("s._line_number")],
                  [F.col("t.updated_at"), F.col("t._line_number")])
    """
    condition: Column | None = None
    for n, o in reversed(list(zip(new, old, strict=True))):
        condition = (n > o) if condition is None else (n > o) | ((n == o) & condition)
    assert condition is not None
    return condition


def _aliased(alias: str, columns: list[str]) -> list[Column]:
    from pyspark.sql import functions as F

    return [F.col(f"{alias}.`{c}`") for c in columns]


class SafeDeltaWriter:
    """Writes contracts' tables through explicit modes, reconciling each commit's row counts."""

    def __init__(self, spark: SparkSession, catalog: Catalog) -> None:
        self.spark = spark
        self.catalog = catalog

    # --- reading state -------------------------------------------------------------------------------
    def path(self, table: str) -> str:
        return str(self.catalog.location(table))

    def exists(self, table: str) -> bool:
        from delta.tables import DeltaTable

        location = Path(self.path(table))
        return (location / "_delta_log").is_dir() and DeltaTable.isDeltaTable(self.spark, str(location))

    def version(self, table: str) -> int | None:
        """The table's latest version, None when it does not exist."""
        if not self.exists(table):
            return None
        return int(self._last_commit(table)["version"])

    def _last_commit(self, table: str) -> dict[str, Any]:
        from delta.tables import DeltaTable

        row = (
            DeltaTable.forPath(self.spark, self.path(table))
            .history(1)
            .select("version", "operation", "operationMetrics", "userMetadata")
            .collect()[0]
        )
        return row.asDict()

    def history_metadata(self, table: str) -> list[tuple[int, dict[str, Any]]]:
        """(version, lakeforge user metadata) of every commit that carries it, newest first."""
        from delta.tables import DeltaTable

        if not self.exists(table):
            return []
        rows = (
            DeltaTable.forPath(self.spark, self.path(table))
            .history()
            .where("userMetadata IS NOT NULL")
            .select("version", "userMetadata")
            .orderBy("version", ascending=False)
            .collect()
        )
        found = []
        for row in rows:
            try:
                meta = json.loads(row["userMetadata"])
            except ValueError:
                continue
            if isinstance(meta, dict) and "lakeforge" in meta:
                found.append((int(row["version"]), meta["lakeforge"]))
        return found

    # --- creating --------------------------------------------------------------------------------------
    def create_if_missing(self, table: str, schema: Any | None = None) -> bool:
        """Create an empty table from its contract (an explicit, logged step). True if it was created."""
        from delta.tables import DeltaTable

        if self.exists(table):
            return False
        contract = self.catalog.contract(table)
        schema = schema or self.catalog.registry.get_schema(table)
        builder = DeltaTable.createIfNotExists(self.spark).location(self.path(table)).addColumns(schema)
        if contract.partition_by:
            builder = builder.partitionedBy(*contract.partition_by)
        if contract.change_data_feed:
            builder = builder.property("delta.enableChangeDataFeed", "true")
        builder = builder.property(
            "delta.appendOnly", "true" if contract.write_mode is WriteMode.APPEND else "false"
        )
        builder.comment(f"lakeforge contract {contract.table} v{contract.version}").execute()
        crashpoint(f"create:{table}:after")
        log.info("created Delta table %s at %s from contract v%s", table, self.path(table), contract.version)
        return True

    # --- writing ---------------------------------------------------------------------------------------
    @contextmanager
    def _user_metadata(self, metadata: dict[str, Any] | None) -> Iterator[None]:
        if metadata is None:
            yield
            return
        previous = self.spark.conf.get(USER_METADATA_CONF, None)
        self.spark.conf.set(USER_METADATA_CONF, json.dumps({"lakeforge": metadata}, sort_keys=True))
        try:
            yield
        finally:
            if previous is None:
                self.spark.conf.unset(USER_METADATA_CONF)
            else:
                self.spark.conf.set(USER_METADATA_CONF, previous)

    def _metrics(
        self,
        table: str,
        mode: WriteMode,
        rows_in: int,
        before: int | None,
        started: float,
        skipped: bool = False,
    ) -> tuple[WriteMetrics, dict[str, str]]:
        commit = self._last_commit(table)
        version = int(commit["version"])
        if skipped or version == before:
            return (
                WriteMetrics(
                    table, mode.value, rows_in, 0, 0, 0, 0, 0, time.monotonic() - started, version, True
                ),
                {},
            )
        om = {k: str(v) for k, v in (commit["operationMetrics"] or {}).items()}

        def num(*names: str) -> int:
            return sum(int(om.get(n, "0") or 0) for n in names)

        inserted = num("numTargetRowsInserted") if "numTargetRowsInserted" in om else num("numOutputRows")
        metrics = WriteMetrics(
            table=table,
            mode=mode.value,
            rows_in=rows_in,
            inserted=inserted,
            updated=num("numTargetRowsUpdated"),
            deleted=num("numTargetRowsDeleted", "numDeletedRows"),
            files_added=num("numTargetFilesAdded", "numFiles", "numAddedFiles"),
            bytes_added=num("numTargetBytesAdded", "numOutputBytes", "numAddedBytes"),
            duration_s=round(time.monotonic() - started, 3),
            version=version,
        )
        return metrics, om

    def _check(self, table: str, what: str, expected: int, actual: int, om: dict[str, str]) -> None:
        if expected != actual:
            raise WriteReconciliationError(
                f"{table}: expected {expected} {what} but the commit reports {actual} (operationMetrics {om})",
                hint="the table may have been changed by another writer; inspect DESCRIBE HISTORY",
            )

    def _conform(self, df: DataFrame, table: str, allow_additive: bool) -> DataFrame:
        """Check the DataFrame against the contract and put its columns in contract order."""
        self.catalog.registry.validate_dataframe_schema(
            df, table, fail_on_mismatch=True, allow_additive=allow_additive
        )
        names = self.catalog.contract(table).column_names
        extras = [c for c in df.columns if c not in names]
        return df.select(*names, *extras)

    def _append(
        self,
        df: DataFrame,
        target: str,
        rows_in: int,
        options: dict[str, str],
        metadata: dict[str, Any] | None,
    ) -> tuple[WriteMetrics, dict[str, str]]:
        """One append commit with its crash points; returns the commit's metrics (not yet checked)."""
        started = time.monotonic()
        self.create_if_missing(target)
        before = self.version(target)
        crashpoint(f"commit:{target}:before")
        with self._user_metadata(metadata):
            df.write.format("delta").mode("append").options(**options).save(self.path(target))
        crashpoint(f"commit:{target}:after")
        return self._metrics(target, WriteMode.APPEND, rows_in, before, started)

    def append(
        self, df: DataFrame, target: str, *, expected_rows: int, metadata: dict[str, Any] | None = None
    ) -> WriteMetrics:
        """A plain append of rows whose count the caller knows (records of this run: one row each)."""
        df = self._conform(df, target, allow_additive=False)
        metrics, om = self._append(df, target, expected_rows, {}, metadata)
        self._check(target, "appended rows", expected_rows, metrics.inserted, om)
        return metrics

    def append_idempotent(
        self,
        df: DataFrame,
        target: str,
        app_id: str,
        version: int,
        *,
        expected_rows: int | None = None,
        allow_additive: bool = False,
        metadata: dict[str, Any] | None = None,
    ) -> WriteMetrics:
        """Append under Delta's txnAppId/txnVersion: a retried append with the same pair writes nothing."""
        df = self._conform(df, target, allow_additive)
        rows_in = df.count() if expected_rows is None else expected_rows
        options = {"txnAppId": app_id, "txnVersion": str(version)}
        if allow_additive:
            options["mergeSchema"] = "true"
        metrics, om = self._append(df, target, rows_in, options, metadata)
        if metrics.skipped:
            log.warning(
                "append to %s skipped: transaction %s/%s was already committed", target, app_id, version
            )
            return metrics
        self._check(target, "appended rows", rows_in, metrics.inserted, om)
        log.info("appended %s rows to %s (v%s)", rows_in, target, metrics.version)
        return metrics

    def write_with_merge(
        self,
        df: DataFrame,
        target: str,
        merge_keys: list[str],
        *,
        order_by: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        expected: tuple[int, int] | None = None,
    ) -> WriteMetrics:
        """Upsert by key. With `order_by`, a matched row is replaced only if the incoming one wins by it.

        The source must hold at most one row per key. `expected` = (inserted, updated) when the caller has
        already computed them; otherwise they are computed here from the source and the target.
        """
        from delta.tables import DeltaTable
        from pyspark.sql import functions as F

        started = time.monotonic()
        df = self._conform(df, target, allow_additive=False)
        self.create_if_missing(target)
        before = self.version(target)
        target_df = self.spark.read.format("delta").load(self.path(target))
        if expected is None:
            dupes = df.groupBy(*merge_keys).count().where("count > 1").limit(1).count()
            if dupes:
                raise LakeforgeError(
                    f"merge into {target}: the source has more than one row per {merge_keys}"
                )
            order = order_by or []
            stored = target_df.select(
                *merge_keys, *[F.col(c).alias(f"_t_{c}") for c in order], F.lit(True).alias("_t_matched")
            )
            joined = df.join(stored, on=merge_keys, how="left")
            matched = F.col("_t_matched").isNotNull()
            wins = (
                ordering_wins([F.col(c) for c in order], [F.col(f"_t_{c}") for c in order])
                if order
                else F.lit(True)
            )
            counts = joined.select(
                F.count(F.lit(1)).alias("rows_in"),
                F.sum(F.when(~matched, 1).otherwise(0)).alias("inserted"),
                F.sum(F.when(matched & wins, 1).otherwise(0)).alias("updated"),
            ).collect()[0]
            rows_in = int(counts["rows_in"])
            exp_inserted, exp_updated = int(counts["inserted"] or 0), int(counts["updated"] or 0)
        else:
            exp_inserted, exp_updated = expected
            rows_in = exp_inserted + exp_updated
        condition = " AND ".join(f"t.`{k}` <=> s.`{k}`" for k in merge_keys)
        builder = DeltaTable.forPath(self.spark, self.path(target)).alias("t").merge(df.alias("s"), condition)
        if order_by:
            builder = builder.whenMatchedUpdateAll(
                condition=ordering_wins(_aliased("s", order_by), _aliased("t", order_by))
            )
        else:
            builder = builder.whenMatchedUpdateAll()
        builder = builder.whenNotMatchedInsertAll()
        crashpoint(f"commit:{target}:before")
        with self._user_metadata(metadata):
            builder.execute()
        crashpoint(f"commit:{target}:after")
        metrics, om = self._metrics(target, WriteMode.MERGE, rows_in, before, started)
        if not metrics.skipped:
            self._check(target, "inserted rows", exp_inserted, metrics.inserted, om)
            self._check(target, "updated rows", exp_updated, metrics.updated, om)
            self._check(target, "deleted rows", 0, metrics.deleted, om)
        elif exp_inserted or exp_updated:
            self._check(target, "changed rows", exp_inserted + exp_updated, 0, om)
        log.info(
            "merged into %s: %s inserted, %s updated (v%s)",
            target,
            exp_inserted,
            exp_updated,
            metrics.version,
        )
        return replace(metrics, stale=rows_in - exp_inserted - exp_updated)

    def insert_new(
        self, df: DataFrame, target: str, keys: list[str], *, metadata: dict[str, Any] | None = None
    ) -> WriteMetrics:
        """Append only the rows whose key is not in the table yet: writing the same rows twice adds nothing.

        An anti-join then a plain append (cheaper than MERGE); safe because one run at a time holds the
        pipeline lock.
        """
        from pyspark.sql import functions as F

        started = time.monotonic()
        df = self._conform(df, target, allow_additive=False)
        self.create_if_missing(target)
        before = self.version(target)
        target_keys = self.spark.read.format("delta").load(self.path(target)).select(*keys).distinct()
        fresh = df.join(target_keys, on=[df[k].eqNullSafe(target_keys[k]) for k in keys], how="left_anti")
        with persisted(fresh) as fresh:
            stats = (
                fresh.groupBy(*keys).count().agg(F.sum("count").alias("rows"), F.max("count").alias("most"))
            )
            counted = stats.collect()[0]
            expected = int(counted["rows"] or 0)
            if expected == 0:
                return WriteMetrics(
                    target,
                    WriteMode.INSERT_ONLY.value,
                    0,
                    0,
                    0,
                    0,
                    0,
                    0,
                    time.monotonic() - started,
                    before,
                    True,
                )
            if int(counted["most"]) > 1:
                raise LakeforgeError(f"insert into {target}: the new rows hold a key more than once ({keys})")
            crashpoint(f"commit:{target}:before")
            with self._user_metadata(metadata):
                fresh.write.format("delta").mode("append").save(self.path(target))
            crashpoint(f"commit:{target}:after")
        metrics, om = self._metrics(target, WriteMode.INSERT_ONLY, expected, before, started)
        self._check(target, "inserted rows", expected, metrics.inserted, om)
        return metrics

    def _constant(self, predicate: str) -> bool:
        """True when the predicate names no column (`true`, `2=2`, `NOT false`): it cannot scope a write."""
        from pyspark.errors import AnalysisException

        try:
            _ = self.spark.sql(f"SELECT ({predicate}) AS p").schema  # resolves only without column references
        except AnalysisException:
            return False
        return True

    def write_with_replace_where(
        self, df: DataFrame, target: str, predicate: str, *, metadata: dict[str, Any] | None = None
    ) -> WriteMetrics:
        """Replace exactly the rows matching `predicate` (a partition-scoped overwrite) with `df`."""
        from pyspark.sql import functions as F

        started = time.monotonic()
        if not predicate or not predicate.strip() or self._constant(predicate):
            raise LakeforgeError(
                f"replaceWhere on {target} refused: the predicate {predicate!r} would replace the whole table",
                hint="scope it to the partitions that changed",
            )
        df = self._conform(df, target, allow_additive=False)
        self.create_if_missing(target)
        before = self.version(target)
        counts = df.select(
            F.count(F.lit(1)).alias("n"),
            F.sum(F.when(~F.coalesce(F.expr(predicate), F.lit(False)), 1).otherwise(0)).alias("outside"),
        ).collect()[0]
        rows_in, outside = int(counts["n"]), int(counts["outside"] or 0)
        if outside:
            raise LakeforgeError(
                f"replaceWhere on {target} refused: {outside} of {rows_in} rows fall outside {predicate!r}"
            )
        replaced = self.spark.read.format("delta").load(self.path(target)).where(predicate).count()
        crashpoint(f"commit:{target}:before")
        with self._user_metadata(metadata):
            (
                df.write.format("delta")
                .mode("overwrite")  # scoped by replaceWhere just below, never the whole table
                .option("replaceWhere", predicate)
                .save(self.path(target))
            )
        crashpoint(f"commit:{target}:after")
        metrics, om = self._metrics(target, WriteMode.REPLACE_WHERE, rows_in, before, started)
        # rows of rewritten files that do not match the predicate are copied, and counted in numOutputRows
        written = int(om.get("numOutputRows", "0") or 0) - int(om.get("numCopiedRows", "0") or 0)
        self._check(target, "written rows", rows_in, written, om)
        if "numDeletedRows" not in om:
            raise WriteReconciliationError(
                f"{target}: the replaceWhere commit did not report numDeletedRows: {om}"
            )
        removed = int(om["numDeletedRows"] or 0)
        self._check(target, "replaced rows", replaced, removed, om)
        metrics = WriteMetrics(
            table=target,
            mode=WriteMode.REPLACE_WHERE.value,
            rows_in=rows_in,
            inserted=rows_in,
            updated=0,
            deleted=replaced,
            files_added=metrics.files_added,
            bytes_added=metrics.bytes_added,
            duration_s=metrics.duration_s,
            version=metrics.version,
        )
        log.info(
            "replaced %s rows of %s where %s with %s rows (v%s)",
            replaced,
            target,
            predicate,
            rows_in,
            metrics.version,
        )
        return metrics
