"""The one place that wires read -> transform -> gate -> write, stage by stage (SPEC §1-§5).

    pipeline = Pipeline(spark, settings, ctx)
    pipeline.ingest(); pipeline.transform(); pipeline.validate(); pipeline.load()

Exactly once: a landing file is published by one bronze commit whose metadata lists it; the ledger
`_ops/ingested_files` is written after and repaired from bronze's history at the start of every ingest,
so a crash between the two can never load a file twice. Incremental: silver reads the bronze versions
after its watermark (Change Data Feed), gold recomputes only the order dates and customers whose silver
rows changed. Watermarks travel inside the consumer's own commit, so table and watermark move together.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

from lakeforge.config.models import DriftPolicy, Settings
from lakeforge.contracts.drift import DriftEvent, diff_header
from lakeforge.contracts.registry import PACKAGED_CONTRACTS, Catalog, ContractRegistry
from lakeforge.errors import ContractViolation, QualityGateFailed, SchemaDriftError
from lakeforge.ops.report import GateResult, Reconciliation, RunReport
from lakeforge.pipeline.context import RunContext
from lakeforge.quality.gates import QualityGate
from lakeforge.sources.landing import LandingFile, check_header_names, list_files, read_bronze_batch
from lakeforge.spark import persisted
from lakeforge.transforms import gold as gold_t
from lakeforge.transforms import silver as silver_t
from lakeforge.writers.delta import SafeDeltaWriter

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

log = logging.getLogger(__name__)

SOURCES = ("customers", "orders")
VALIDATED = "_ops.validated"  # watermark consumer: the table versions whose suites passed
GOLD_TABLES = ("gold.daily_revenue", "gold.customer_ltv")
PUBLISHED_TABLES = (
    "bronze.customers",
    "bronze.orders",
    "silver.customers",
    "silver.orders",
    "gold.daily_revenue",
    "gold.customer_ltv",
)


@dataclass
class _Prepared:
    """A source's checked increment and winning rows, gated and cached, waiting to be published."""

    source: str
    upto: int
    checked: DataFrame
    winners: DataFrame
    n_winners: int
    recon: Reconciliation


class Pipeline:
    def __init__(
        self, spark: SparkSession, settings: Settings, ctx: RunContext, report: RunReport | None = None
    ):
        self.spark = spark
        self.settings = settings
        self.ctx = ctx
        self.registry = ContractRegistry(settings.contracts_dir or PACKAGED_CONTRACTS)
        self.catalog = Catalog(settings.paths.lakehouse, self.registry)
        self.writer = SafeDeltaWriter(spark, self.catalog)
        self.report = report or RunReport()
        self.watermarks: dict[tuple[str, str], int] = {}
        docs = settings.paths.lakehouse / "_ops" / "data_docs" if settings.quality.data_docs else None
        self.quality = QualityGate(self.registry, docs_dir=docs, run_name=ctx.run_id)

    # --- helpers ------------------------------------------------------------------------------------
    def read(self, table: str, version: int | None = None) -> DataFrame:
        reader = self.spark.read.format("delta")
        if version is not None:
            reader = reader.option("versionAsOf", version)
        return reader.load(str(self.catalog.location(table)))

    def changes(self, table: str, after: int | None, upto: int) -> DataFrame:
        """Rows of `table` changed in versions (after, upto] from its Change Data Feed."""
        return (
            self.spark.read.format("delta")
            .option("readChangeFeed", "true")
            .option("startingVersion", 0 if after is None else after + 1)
            .option("endingVersion", upto)
            .load(str(self.catalog.location(table)))
        )

    def watermark(self, consumer: str, source: str) -> int | None:
        """The version of `source` that `consumer` has fully processed (None: nothing yet)."""
        found: list[int] = []
        if (consumer, source) in self.watermarks:
            found.append(self.watermarks[(consumer, source)])
        for _, meta in self.writer.history_metadata(consumer):
            mark = (meta.get("watermark") or {}).get(source)
            if mark is not None:
                found.append(int(mark))
                break
        if self.writer.exists("_ops.watermarks"):
            rows = (
                self.read("_ops.watermarks")
                .where(f"consumer = '{consumer}' AND input = '{source}'")
                .select("version")
                .collect()
            )
            found += [int(r["version"]) for r in rows]
        return max(found) if found else None

    def _save_watermarks(self, consumer: str, marks: dict[str, int]) -> None:
        """Remember how far `consumer` has read; the consumer's own commit already carries the same marks,
        `_ops/watermarks` mirrors them at the end of the run for commits that changed nothing."""
        for source, version in marks.items():
            self.watermarks[(consumer, source)] = version

    def flush_watermarks(self) -> None:
        from pyspark.sql import functions as F

        if not self.watermarks:
            return
        rows = [
            (consumer, source, version) for (consumer, source), version in sorted(self.watermarks.items())
        ]
        df = self.spark.createDataFrame(rows, "consumer string, input string, version long").withColumns(
            {"run_id": F.lit(self.ctx.run_id), "updated_at": F.lit(self.ctx.clock).cast("timestamp")}
        )
        self.report.writes.append(self.writer.write_with_merge(df, "_ops.watermarks", ["consumer", "input"]))
        self.watermarks.clear()

    def _metadata(self, **extra: Any) -> dict[str, Any]:
        return {"run_id": self.ctx.run_id, "command": self.ctx.command, **extra}

    def _record_drift(self, events: list[DriftEvent], action: str) -> None:
        for event in events:
            self.report.drift.append((event, action))
            level = logging.ERROR if action == "refused" else logging.WARNING
            log.log(level, "schema drift (%s, %s): %s", event.classification, action, event.describe())

    # --- ingest: landing -> bronze ----------------------------------------------------------------------
    def _ledger(self, source: str) -> dict[str, str]:
        if not self.writer.exists("_ops.ingested_files"):
            return {}
        rows = (
            self.read("_ops.ingested_files").where(f"source = '{source}'").select("path", "sha256").collect()
        )
        return {r["path"]: r["sha256"] for r in rows}

    def _repair_ledger(self, source: str) -> None:
        """Put into the ledger every file a bronze commit published but the ledger lacks (a crash)."""
        from pyspark.sql import functions as F

        ledger = self._ledger(source)
        missing = []
        for version, meta in self.writer.history_metadata(f"bronze.{source}"):
            for f in meta.get("files", []):
                if f["path"] not in ledger:
                    missing.append(
                        (
                            source,
                            f["path"],
                            int(f["size"]),
                            f["sha256"],
                            int(f["rows"]),
                            meta["run_id"],
                            version,
                        )
                    )
        if not missing:
            return
        log.warning(
            "ledger repair: %s file(s) of bronze.%s were committed but not recorded", len(missing), source
        )
        df = self.spark.createDataFrame(
            missing,
            "source string, path string, size long, sha256 string, rows long, run_id string, bronze_version long",
        ).withColumn("ingested_at", F.lit(self.ctx.clock).cast("timestamp"))
        self.report.writes.append(self.writer.insert_new(df, "_ops.ingested_files", ["source", "path"]))

    def plan_ingest(self, source: str) -> tuple[list[LandingFile], list[str]]:
        """New files of a source and the extra columns they bring; refuses changed files and bad headers."""
        contract = self.registry.get(f"bronze.{source}")
        self._repair_ledger(source)
        ledger = self._ledger(source)
        new: list[LandingFile] = []
        for f in list_files(self.settings.paths.landing, source):
            known = ledger.get(f.rel_path)
            if known == f.sha256:
                self.report.skipped_files.append(f.rel_path)
                continue
            if known is not None:
                raise ContractViolation(
                    f"{f.rel_path} was ingested before with SHA-256 {known[:12]}..., now it is {f.sha256[:12]}...; "
                    "nothing from it was loaded",
                    hint="landing files are immutable: deliver changes as a new file",
                )
            new.append(f)
        reserved = {c.name for c in contract.columns if c.source is None}
        extras: list[str] = []
        for f in new:
            if f.header is None:
                message = f"{f.rel_path} is empty (0 bytes): recorded with 0 rows"
                log.warning(message)
                self.report.warnings.append(message)
                continue
            check_header_names(f, reserved)
            drift = diff_header(contract, list(f.header), location=f.rel_path)
            refused = drift.refused(self.settings.drift.bronze)
            self._record_drift([e for e in drift.events if e not in refused], "accepted")
            if refused:
                self._record_drift(refused, "refused")
                raise SchemaDriftError(
                    "; ".join(e.describe() for e in refused)
                    + "; nothing of this source's batch was published",
                    hint="fix the file's header (or the contract, by a reviewed change) and rerun",
                )
            extras += [c for c in f.header if c not in contract.column_names and c not in extras]
        if extras and self.settings.drift.bronze is DriftPolicy.NONE:
            raise SchemaDriftError(f"extra columns {extras} refused by the bronze drift policy 'none'")
        return new, extras

    def ingest(self) -> None:
        plans = {source: self.plan_ingest(source) for source in SOURCES}  # every check before any write
        for source, (files, extras) in plans.items():
            self._ingest_source(source, files, extras)

    def _ingest_source(self, source: str, files: list[LandingFile], extras: list[str]) -> None:
        from pyspark.sql import functions as F

        table = f"bronze.{source}"
        contract = self.registry.get(table)
        recon = Reconciliation(
            source=source, stage="ingest", files=len(files), records_read=0, bronze_added=0
        )
        self.report.reconciliation.append(recon)
        if not files:
            return
        columns = [c.name for c in contract.source_columns] + extras
        batch = read_bronze_batch(self.spark, files, columns).withColumns(
            {
                "_ingested_at": F.lit(self.ctx.clock).cast("timestamp"),
                "_run_id": F.lit(self.ctx.run_id),
                "ingest_date": F.lit(self.ctx.clock.date()),
            }
        )
        with persisted(batch) as batch:
            per_file = {
                r["_source_file"]: int(r["n"])
                for r in batch.groupBy("_source_file").agg(F.count(F.lit(1)).alias("n")).collect()
            }
            total = sum(per_file.values())
            recon.records_read = total
            version = None
            listed = [
                {"path": f.rel_path, "sha256": f.sha256, "size": f.size, "rows": per_file.get(f.rel_path, 0)}
                for f in files
            ]
            if total:
                before = self.writer.version(table)
                metrics = self.writer.append_idempotent(
                    batch,
                    table,
                    app_id=f"lakeforge-ingest-{source}",
                    version=(before or 0) + 1,
                    expected_rows=total,
                    allow_additive=bool(extras),
                    metadata=self._metadata(files=listed),
                )
                self.report.writes.append(metrics)
                recon.bronze_added = metrics.inserted
                version = metrics.version
        ledger = self.spark.createDataFrame(
            [
                (source, f["path"], f["size"], f["sha256"], f["rows"], self.ctx.run_id, version)
                for f in listed
            ],
            "source string, path string, size long, sha256 string, rows long, run_id string, bronze_version long",
        ).withColumn("ingested_at", F.lit(self.ctx.clock).cast("timestamp"))
        self.report.writes.append(self.writer.insert_new(ledger, "_ops.ingested_files", ["source", "path"]))
        log.info("ingested %s records of %s file(s) into %s", total, len(files), table)

    # --- transform: bronze -> silver + quarantine ------------------------------------------------------
    def transform(self) -> None:
        """Check every source and pass every gate before publishing anything (SPEC §5)."""
        with ExitStack() as stack:
            ready = [p for source in SOURCES if (p := self._prepare_transform(source, stack)) is not None]
            for prepared in ready:
                self._publish_transform(prepared)

    def _gate(self, result: GateResult) -> None:
        self.report.gates.append(result)
        if not result.success:
            raise QualityGateFailed(
                f"suite {result.suite} on {result.table} failed: " + "; ".join(result.failures),
                hint="nothing was published; fix the data (bronze keeps it) and rerun",
            )

    def _ratio_gate(self, recon: Reconciliation) -> None:
        name = f"quarantine.{recon.source}"
        quarantined, records = recon.quarantined or 0, recon.records_read or 0
        ratio = quarantined / records if records else 0.0
        limit = self.settings.quality.max_quarantine_ratio
        failures = []
        if ratio > limit:
            failures.append(
                f"quarantine ratio {ratio:.4f} ({quarantined} of {records} records) "
                f"exceeds quality.max_quarantine_ratio {limit}"
            )
        self._gate(GateResult(f"{name}.ratio", name, not failures, 1, len(failures), failures))

    def _prepare_transform(self, source: str, stack: ExitStack) -> _Prepared | None:
        from pyspark.sql import functions as F

        bronze_name, silver_name = f"bronze.{source}", f"silver.{source}"
        bronze_c, silver_c = self.registry.get(bronze_name), self.registry.get(silver_name)
        upto = self.writer.version(bronze_name)
        if upto is None:
            return None
        after = self.watermark(silver_name, bronze_name)
        if after is not None and after >= upto:
            log.info("%s is up to date with %s v%s", silver_name, bronze_name, upto)
            return None
        increment = (
            self.changes(bronze_name, after, upto)
            .where("_change_type = 'insert'")
            .drop("_change_type", "_commit_version", "_commit_timestamp")
        )
        checked = stack.enter_context(persisted(increment.transform(silver_t.with_reasons(bronze_c))))
        counts = checked.select(
            F.count(F.lit(1)).alias("records"),
            F.sum(F.when(F.size("_reasons") == 0, 1).otherwise(0)).alias("valid"),
            F.sum(F.when(F.size("_reasons") > 0, 1).otherwise(0)).alias("quarantined"),
        ).collect()[0]
        recon = Reconciliation(
            source=source,
            stage="transform",
            records_read=int(counts["records"]),
            valid=int(counts["valid"] or 0),
            quarantined=int(counts["quarantined"] or 0),
        )
        self._ratio_gate(recon)
        valid = checked.transform(silver_t.valid_rows).transform(silver_t.typed(bronze_c, silver_c))
        winners = stack.enter_context(
            persisted(valid.transform(silver_t.latest_by(silver_c.keys, silver_c.order_by)))
        )
        n_winners = winners.count()  # materialises the cache, so the gate's time is the gate's own
        self._gate(self.quality.check(winners, silver_name, suite=f"{silver_name}.batch"))
        return _Prepared(source, upto, checked, winners, n_winners, recon)

    def _publish_transform(self, p: _Prepared) -> None:
        bronze_name, silver_name, quarantine_name = (
            f"bronze.{p.source}",
            f"silver.{p.source}",
            f"quarantine.{p.source}",
        )
        silver_c = self.registry.get(silver_name)
        quarantine = p.checked.transform(
            silver_t.quarantine_rows(self.registry.get(quarantine_name), self.ctx.clock, self.ctx.run_id)
        )
        self.report.writes.append(
            self.writer.insert_new(quarantine, quarantine_name, ["_source_file", "_line_number"])
        )
        metrics = self.writer.write_with_merge(
            p.winners,
            silver_name,
            silver_c.keys,
            order_by=silver_c.order_by,
            metadata=self._metadata(watermark={bronze_name: p.upto}),
        )
        self.report.writes.append(metrics)
        recon = p.recon
        recon.inserted, recon.updated = metrics.inserted, metrics.updated
        recon.superseded = ((recon.valid or 0) - p.n_winners) + metrics.stale
        self._save_watermarks(silver_name, {bronze_name: p.upto})
        self.report.reconciliation.append(recon)
        if not recon.balanced:
            raise ContractViolation(f"reconciliation of {p.source} does not balance: {recon.to_dict()}")

    # --- load: silver -> gold --------------------------------------------------------------------------
    def load(self) -> None:
        """Compute and gate both gold tables before writing either (SPEC §5)."""
        with ExitStack() as stack:
            publish = [self._plan_daily_revenue(stack), self._plan_customer_ltv(stack)]
            for step in publish:
                if step is not None:
                    step()

    def _plan_daily_revenue(self, stack: ExitStack) -> Callable[[], None] | None:
        from pyspark.sql import functions as F

        target, source = "gold.daily_revenue", "silver.orders"
        upto = self.writer.version(source)
        if upto is None:
            return None
        after = self.watermark(target, source) if self.writer.exists(target) else None
        if after is not None and after >= upto:
            return None
        orders = self.read(source, upto)
        meta = self._metadata(watermark={source: upto})
        if after is None:
            result = stack.enter_context(persisted(orders.transform(gold_t.daily_revenue)))
            self._gate(self.quality.check(result, target, suite=f"{target}.batch"))

            def build() -> None:
                self.writer.create_if_missing(target)
                self.report.writes.append(
                    self.writer.append_idempotent(
                        result, target, app_id="lakeforge-gold-daily_revenue", version=upto, metadata=meta
                    )
                )
                self._save_watermarks(target, {source: upto})

            return build
        dates = sorted(
            r["order_date"]
            for r in self.changes(source, after, upto).select("order_date").distinct().collect()
            if r["order_date"] is not None
        )
        if not dates:
            return lambda: self._save_watermarks(target, {source: upto})
        literal = ", ".join(f"DATE'{d.isoformat()}'" for d in dates)
        result = stack.enter_context(
            persisted(orders.where(F.col("order_date").isin(dates)).transform(gold_t.daily_revenue))
        )
        self._gate(self.quality.check(result, target, suite=f"{target}.batch"))

        def replace() -> None:
            self.report.writes.append(
                self.writer.write_with_replace_where(
                    result, target, f"order_date IN ({literal})", metadata=meta
                )
            )
            self._save_watermarks(target, {source: upto})

        return replace

    def _plan_customer_ltv(self, stack: ExitStack) -> Callable[[], None] | None:
        target = "gold.customer_ltv"
        vc, vo = self.writer.version("silver.customers"), self.writer.version("silver.orders")
        if vc is None:
            return None
        customers = self.read("silver.customers", vc)
        orders = (
            self.read("silver.orders", vo)
            if vo is not None
            else self.spark.createDataFrame([], self.registry.get_schema("silver.orders"))
        )
        exists = self.writer.exists(target)
        wc = self.watermark(target, "silver.customers") if exists else None
        wo = self.watermark(target, "silver.orders") if exists else None
        marks = {"silver.customers": vc, **({"silver.orders": vo} if vo is not None else {})}
        meta = self._metadata(watermark=marks)
        if wc is None:
            result = stack.enter_context(persisted(gold_t.customer_ltv(customers, orders)))
            self._gate(self.quality.check(result, target, suite=f"{target}.batch"))

            def build() -> None:
                self.writer.create_if_missing(target)
                self.report.writes.append(
                    self.writer.append_idempotent(
                        result, target, app_id="lakeforge-gold-customer_ltv", version=vc, metadata=meta
                    )
                )
                self._save_watermarks(target, marks)

            return build
        customers_changed = wc < vc
        orders_changed = vo is not None and (wo is None or wo < vo)
        if not customers_changed and not orders_changed:
            return None
        parts = []
        if customers_changed:
            parts.append(self.changes("silver.customers", wc, vc).select("customer_id"))
        if orders_changed:
            assert vo is not None
            parts.append(self.changes("silver.orders", wo, vo).select("customer_id"))
        affected = parts[0] if len(parts) == 1 else parts[0].unionByName(parts[1])
        affected = affected.distinct()
        result = stack.enter_context(
            persisted(
                gold_t.customer_ltv(
                    customers.join(affected, "customer_id", "left_semi"),
                    orders.join(affected, "customer_id", "left_semi"),
                )
            )
        )
        self._gate(self.quality.check(result, target, suite=f"{target}.batch"))

        def merge() -> None:
            self.report.writes.append(
                self.writer.write_with_merge(result, target, ["customer_id"], metadata=meta)
            )
            self._save_watermarks(target, marks)

        return merge

    # --- validate: the published tables ------------------------------------------------------------------
    def validate(self, only_changed: bool = False) -> None:
        """Run every published table's suite; with `only_changed`, skip a table whose Delta version was
        already validated (its content is the same), as `full` runs do."""
        failures = []
        for table in PUBLISHED_TABLES:
            version = self.writer.version(table)
            if version is None:
                continue
            if only_changed and self.watermark(VALIDATED, table) == version:
                log.info("%s v%s was validated before: skipped", table, version)
                continue
            result = self.quality.check(self.read(table, version), table, suite=f"{table}.published")
            self.report.gates.append(result)
            if result.success:
                self._save_watermarks(VALIDATED, {table: version})
            else:
                failures.append(result)
        if failures:
            raise QualityGateFailed(
                "; ".join(f"{r.table}: {', '.join(r.failures)}" for r in failures),
                hint="the published tables break their contracts; investigate before the next load",
            )

    def row_counts(self) -> dict[str, tuple[int, int] | None]:
        """(rows, version) of every table, None where it does not exist yet."""
        out: dict[str, tuple[int, int] | None] = {}
        for table in (*PUBLISHED_TABLES, "quarantine.customers", "quarantine.orders"):
            version = self.writer.version(table)
            out[table] = None if version is None else (self.read(table).count(), version)
        return out


def today(ctx: RunContext) -> date:
    return ctx.clock.date()


def timed(report: RunReport, name: str) -> Any:
    @contextmanager
    def _timer() -> Iterator[None]:
        started = time.monotonic()
        try:
            yield
        finally:
            report.stage_seconds[name] = round(time.monotonic() - started, 3)

    return _timer()
