"""SafeDeltaWriter: every Spark commit of lakeforge goes through here, and every commit is reconciled.

    writer = SafeDeltaWriter(spark, catalog, hook=crashpoint)
    m = writer.write_with_merge(batch, "silver.orders", merge_keys=["order_id"],
                                order_by=["updated_at", "_source_file", "_line_number"], rows_in=n)
    m.inserted, m.updated, m.version

Each method reads what changed from the commit's own `operationMetrics` (through the Delta log, no
Spark job) and raises WriteReconciliationError when it contradicts what was sent: the rows appended,
the source rows a MERGE saw, rows deleted where none may be. There is no whole-table overwrite:
`write_with_replace_where` refuses an empty or always-true predicate and rows outside it, and a full
refresh is a MERGE that deletes the keys no longer produced. A missing table is created by its first
write, from its contract (partitions, Change Data Feed, append-only), in that same commit.

Only DataFrame writes and SQL (`MERGE INTO`, `CREATE TABLE`), never Delta's Python `DeltaTable` API,
which does not work over Spark Connect here (FACTS.md). `hook(name)` is called before and after every
commit (the crash-safety tests kill the process there).
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from lakeforge import deltalog
from lakeforge.contracts.models import TableContract, WriteMode
from lakeforge.errors import LakeforgeError, WriteReconciliationError
from lakeforge.results import WriteMetrics
from lakeforge.spark import persisted

if TYPE_CHECKING:
    from collections.abc import Iterator

    from pyspark.sql import DataFrame, SparkSession

    from lakeforge.contracts.registry import Catalog

log = logging.getLogger(__name__)

USER_METADATA_CONF = "spark.databricks.delta.commitInfo.userMetadata"

__all__ = ["SafeDeltaWriter", "WriteMetrics", "ordering_wins_sql"]


def _q(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def ordering_wins_sql(order_by: list[str], new: str = "s", old: str = "t") -> str:
    """SQL: the `new` row strictly wins over the `old` one by the lexicographic order of `order_by`.

    ordering_wins_sql(["updated_at", "_line_number"])
    # (s.`updated_at` > t.`updated_at`) OR ((s.`updated_at` = t.`updated_at`) AND (s.`_line_number` > ...))
    """
    condition = ""
    for column in reversed(order_by):
        n, o = f"{new}.{_q(column)}", f"{old}.{_q(column)}"
        condition = f"({n} > {o})" if not condition else f"({n} > {o}) OR (({n} = {o}) AND ({condition}))"
    return condition


def _creation_options(contract: TableContract) -> dict[str, str]:
    """Table properties a first write sets, from the contract."""
    options = {"delta.appendOnly": "true" if contract.write_mode is WriteMode.APPEND else "false"}
    if contract.change_data_feed:
        options["delta.enableChangeDataFeed"] = "true"
    if contract.deletion_vectors:
        options["delta.enableDeletionVectors"] = "true"
    return options


class SafeDeltaWriter:
    """Writes contracts' tables through explicit modes, reconciling each commit's row counts."""

    def __init__(
        self, spark: SparkSession, catalog: Catalog, hook: Callable[[str], None] | None = None
    ) -> None:
        self.spark = spark
        self.catalog = catalog
        self.hook = hook or (lambda name: None)

    # --- reading state (the Delta log, no Spark job) -------------------------------------------------
    def path(self, table: str) -> str:
        return self.catalog.uri(table)

    def exists(self, table: str) -> bool:
        return deltalog.exists(self.path(table))

    def version(self, table: str) -> int | None:
        """The table's latest version, None when it does not exist."""
        return deltalog.version(self.path(table))

    def _last_commit(self, table: str) -> dict[str, Any]:
        return deltalog.last_commit(self.path(table))

    def history_metadata(self, table: str) -> list[tuple[int, dict[str, Any]]]:
        """(version, lakeforge user metadata) of every commit that carries it, newest first."""
        found = []
        for commit in deltalog.commits(self.path(table)):
            meta = deltalog.lakeforge_metadata(commit)
            if meta is not None:
                found.append((int(commit["version"]), meta))
        return found

    # --- creating --------------------------------------------------------------------------------------
    def create_if_missing(self, table: str) -> bool:
        """Create an empty table from its contract (`CREATE TABLE IF NOT EXISTS`). True if it was created.

        The pipeline does not need this (a first write creates its table in the same commit); it is for
        tables that must exist before they hold rows.
        """
        if self.exists(table):
            return False
        contract = self.catalog.contract(table)
        columns = ", ".join(
            f"{_q(f.name)} {f.dataType.simpleString()}{'' if f.nullable else ' NOT NULL'}"
            for f in self.catalog.registry.get_schema(table).fields
        )
        parts = (
            f" PARTITIONED BY ({', '.join(_q(c) for c in contract.partition_by)})"
            if contract.partition_by
            else ""
        )
        props = ", ".join(f"'{k}' = '{v}'" for k, v in _creation_options(contract).items())
        comment = f"lakeforge contract {contract.table} v{contract.version}"
        self.spark.sql(
            f"CREATE TABLE IF NOT EXISTS delta.{_q(self.path(table))} ({columns}) USING delta{parts} "
            f"COMMENT '{comment}' TBLPROPERTIES ({props})"
        )
        self.hook(f"create:{table}:after")
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

    def _commit_append(
        self, df: DataFrame, target: str, options: dict[str, str], metadata: dict[str, Any] | None
    ) -> int | None:
        """Append `df` in one commit (creating the table from its contract if missing); the version before."""
        before = self.version(target)
        writer = df.write.format("delta").mode("append").options(**options)
        if before is None:
            contract = self.catalog.contract(target)
            writer = writer.options(**_creation_options(contract))
            if contract.partition_by:
                writer = writer.partitionBy(*contract.partition_by)
        self.hook(f"commit:{target}:before")
        with self._user_metadata(metadata):
            writer.save(self.path(target))
        self.hook(f"commit:{target}:after")
        if before is None:
            log.info("created Delta table %s at %s by its first write", target, self.path(target))
        return before

    def _append(
        self,
        df: DataFrame,
        target: str,
        rows_in: int,
        options: dict[str, str],
        metadata: dict[str, Any] | None,
        mode: WriteMode = WriteMode.APPEND,
    ) -> tuple[WriteMetrics, dict[str, str]]:
        """One append commit with its hooks; returns the commit's metrics (not yet checked)."""
        started = time.monotonic()
        before = self._commit_append(df, target, options, metadata)
        return self._metrics(target, mode, rows_in, before, started)

    def append(
        self, df: DataFrame, target: str, *, expected_rows: int, metadata: dict[str, Any] | None = None
    ) -> WriteMetrics:
        """A plain append of rows whose count the caller knows (e.g. rows new by construction)."""
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
        log.info("appended %s rows to %s (v%s)", rows_in, target, metrics.version, extra={"event": "write"})
        return metrics

    def _check_unique(self, df: DataFrame, target: str, keys: list[str]) -> None:
        dupes = df.groupBy(*keys).count().where("count > 1").limit(1).count()
        if dupes:
            raise LakeforgeError(f"merge into {target}: the source has more than one row per {keys}")

    def _merge_sql(
        self, df: DataFrame, target: str, keys: list[str], clauses: list[str], metadata: dict[str, Any] | None
    ) -> None:
        view = f"lakeforge_merge_{uuid.uuid4().hex[:12]}"
        df.createOrReplaceTempView(view)
        condition = " AND ".join(f"t.{_q(k)} <=> s.{_q(k)}" for k in keys)
        statement = (
            f"MERGE INTO delta.{_q(self.path(target))} AS t USING {view} AS s ON {condition} "
            + " ".join(clauses)
        )
        try:
            self.hook(f"commit:{target}:before")
            with self._user_metadata(metadata):
                self.spark.sql(statement)
            self.hook(f"commit:{target}:after")
        finally:
            self.spark.catalog.dropTempView(view)

    def _merge_metrics(
        self, target: str, rows_in: int, before: int | None, started: float, deletes: bool = False
    ) -> tuple[WriteMetrics, dict[str, str]]:
        """A MERGE's metrics, reconciled: it saw every source row, changed at most that many, deleted none."""
        metrics, om = self._metrics(target, WriteMode.MERGE, rows_in, before, started)
        if metrics.skipped:
            # with deletion vectors Delta commits nothing when no row changes: every source row was stale.
            # The table's own property decides (the contract's may have changed since it was created)
            if rows_in and not deltalog.writes_deletion_vectors(self.path(target)):
                self._check(target, "source rows seen by the MERGE", rows_in, 0, om)
            return replace(metrics, stale=rows_in), om
        self._check(target, "source rows seen by the MERGE", rows_in, int(om.get("numSourceRows", "-1")), om)
        changed = metrics.inserted + metrics.updated
        if changed > rows_in:
            raise WriteReconciliationError(
                f"{target}: the MERGE of {rows_in} source rows reports {metrics.inserted} inserted and "
                f"{metrics.updated} updated rows (operationMetrics {om})",
                hint="the table may have been changed by another writer; inspect DESCRIBE HISTORY",
            )
        if not deletes:
            self._check(target, "deleted rows", 0, metrics.deleted, om)
        return replace(metrics, stale=rows_in - changed), om

    def write_with_merge(
        self,
        df: DataFrame,
        target: str,
        merge_keys: list[str],
        *,
        order_by: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        rows_in: int | None = None,
        unique_keys: bool = False,
    ) -> WriteMetrics:
        """Upsert by key. With `order_by`, a matched row is replaced only if the incoming one wins by it.

        The source must hold at most one row per key: checked here (one Spark job) unless the caller
        guarantees it (`unique_keys=True`, e.g. after `latest_by`). `rows_in`: the source's row count when
        the caller knows it. The commit's operationMetrics give inserted and updated rows; a source row
        neither inserted nor updated lost to the stored row (`stale`).
        """
        started = time.monotonic()
        df = self._conform(df, target, allow_additive=False)
        if not unique_keys:
            self._check_unique(df, target, merge_keys)
        rows_in = df.count() if rows_in is None else rows_in
        before = self.version(target)
        if before is None:  # nothing to match: the first write creates the table
            metrics, om = self._append(df, target, rows_in, {}, metadata, mode=WriteMode.MERGE)
            self._check(target, "inserted rows", rows_in, metrics.inserted, om)
        else:
            wins = f" AND ({ordering_wins_sql(order_by)})" if order_by else ""
            # not SQL injection: the column names come from the table contracts, backtick-quoted by _q
            clauses = [f"WHEN MATCHED{wins} THEN UPDATE SET *", "WHEN NOT MATCHED THEN INSERT *"]  # nosec B608
            self._merge_sql(df, target, merge_keys, clauses, metadata)
            metrics, om = self._merge_metrics(target, rows_in, before, started)
        log.info(
            "merged %s rows into %s: %s inserted, %s updated (v%s)",
            rows_in,
            target,
            metrics.inserted,
            metrics.updated,
            metrics.version,
            extra={"event": "write"},
        )
        return metrics

    def write_full(
        self,
        df: DataFrame,
        target: str,
        keys: list[str],
        *,
        rows_in: int | None = None,
        metadata: dict[str, Any] | None = None,
        unique_keys: bool = False,
    ) -> WriteMetrics:
        """Make the table hold exactly `df`: a MERGE that updates every key, inserts the new ones and deletes
        the keys `df` no longer has. The safe form of a full refresh (never a blind overwrite).
        """
        started = time.monotonic()
        df = self._conform(df, target, allow_additive=False)
        if not unique_keys:
            self._check_unique(df, target, keys)
        rows_in = df.count() if rows_in is None else rows_in
        before = self.version(target)
        if before is None:
            metrics, om = self._append(df, target, rows_in, {}, metadata, mode=WriteMode.MERGE)
            self._check(target, "inserted rows", rows_in, metrics.inserted, om)
            return metrics
        clauses = [
            "WHEN MATCHED THEN UPDATE SET *",
            "WHEN NOT MATCHED THEN INSERT *",
            "WHEN NOT MATCHED BY SOURCE THEN DELETE",
        ]
        self._merge_sql(df, target, keys, clauses, metadata)
        metrics, om = self._merge_metrics(target, rows_in, before, started, deletes=True)
        self._check(target, "inserted and updated rows", rows_in, metrics.inserted + metrics.updated, om)
        log.info(
            "refreshed %s: %s rows, %s deleted (v%s)", target, rows_in, metrics.deleted, metrics.version,
            extra={"event": "write"},
        )  # fmt: skip
        return metrics

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
        before = self.version(target)
        if before is None:
            fresh = df
        else:
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
            self._commit_append(fresh, target, {}, metadata)
        metrics, om = self._metrics(target, WriteMode.INSERT_ONLY, expected, before, started)
        self._check(target, "inserted rows", expected, metrics.inserted, om)
        log.info(
            "inserted %s new rows into %s (v%s)",
            metrics.inserted,
            target,
            metrics.version,
            extra={"event": "write"},
        )
        return metrics

    @staticmethod
    def _constant(predicate: str, columns: list[str]) -> bool:
        """True when the predicate names none of the table's columns (`true`, `2=2`, `NOT false`): it
        cannot scope a write. Read from the text (string literals dropped, typed literals such as
        DATE'...' are not names), not by asking Spark to resolve it: a failed resolution logs an ERROR."""
        text = re.sub(r"'(?:[^'\\]|\\.|'')*'", "'", predicate)
        text = re.sub(r'"(?:[^"\\]|\\.)*"', '"', text)
        names = {n.lower() for n in re.findall(r"`((?:[^`]|``)+)`", text)}
        text = re.sub(r"`(?:[^`]|``)+`", " ", text)
        names |= {m.group(1).lower() for m in re.finditer(r"\b([A-Za-z_][A-Za-z0-9_]*)\b(?!\s*')", text)}
        return not names & {c.lower() for c in columns}

    def write_with_replace_where(
        self,
        df: DataFrame,
        target: str,
        predicate: str,
        *,
        metadata: dict[str, Any] | None = None,
    ) -> WriteMetrics:
        """Replace exactly the rows matching `predicate` (a partition-scoped overwrite) with `df`."""
        from pyspark.sql import functions as F

        started = time.monotonic()
        if not predicate or not predicate.strip() or self._constant(predicate, df.columns):
            raise LakeforgeError(
                f"replaceWhere on {target} refused: the predicate {predicate!r} would replace the whole table",
                hint="scope it to the partitions that changed",
            )
        df = self._conform(df, target, allow_additive=False)
        counts = df.select(
            F.count(F.lit(1)).alias("n"),
            F.sum(F.when(~F.coalesce(F.expr(predicate), F.lit(False)), 1).otherwise(0)).alias("outside"),
        ).collect()[0]
        rows_in, outside = int(counts["n"]), int(counts["outside"] or 0)
        if outside:
            raise LakeforgeError(
                f"replaceWhere on {target} refused: {outside} of {rows_in} rows fall outside {predicate!r}"
            )
        before = self.version(target)
        if before is None:  # nothing to replace: the first write creates the table
            metrics, om = self._append(df, target, rows_in, {}, metadata, mode=WriteMode.REPLACE_WHERE)
            self._check(target, "written rows", rows_in, metrics.inserted, om)
            return metrics
        replaced = self.spark.read.format("delta").load(self.path(target)).where(predicate).count()
        self.hook(f"commit:{target}:before")
        with self._user_metadata(metadata):
            (
                df.write.format("delta")
                .mode("overwrite")  # scoped by replaceWhere just below, never the whole table
                .option("replaceWhere", predicate)
                .save(self.path(target))
            )
        self.hook(f"commit:{target}:after")
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
        metrics = replace(metrics, inserted=rows_in, updated=0, deleted=replaced)
        log.info(
            "replaced %s rows of %s where %s with %s rows (v%s)",
            replaced,
            target,
            predicate,
            rows_in,
            metrics.version,
            extra={"event": "write"},
        )
        return metrics
