"""The one place that wires read -> transform -> gate -> write, for any flow of the graph (SPEC §1-§5).

    engine = Engine(spark, settings, ctx, graph, state, report, hook=crashpoint)
    engine.run(steps)        # the planned steps of one stage: prepare and gate them all, then publish

Three kinds of flow, all derived from declarations:
- ingest (landing -> bronze): one append per source under Delta's txnAppId/txnVersion; the commit's
  metadata lists its files, so the ledger can be repaired from bronze's history after a crash.
- cleanse (bronze -> silver + quarantine): the bronze rows after the watermark (Change Data Feed), or
  all of bronze when there is no valid watermark; rules, reasons, dedupe, gates, then a guarded MERGE.
- derive (tables -> a declared table): only the `by` values that changed in an input are recomputed
  and merged or replaced; without a valid watermark the table is recomputed whole.
Every gate of a stage passes before any of its tables is written.
"""

from __future__ import annotations

import logging
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lakeforge import deltalog, storage
from lakeforge.contracts.models import WriteMode
from lakeforge.errors import ContractViolation, QualityGateFailed
from lakeforge.logs import log_context
from lakeforge.ops.events import VALIDATED
from lakeforge.ops.progress import RunObserver
from lakeforge.quality.gates import QualityGate
from lakeforge.results import FileRecord, GateResult, Reconciliation, RunReport, Watermark, WriteMetrics
from lakeforge.sources.landing import read_bronze_batch
from lakeforge.spark import persisted
from lakeforge.transforms import silver as silver_t
from lakeforge.writers.delta import SafeDeltaWriter

if TYPE_CHECKING:
    from collections.abc import Callable

    import pyarrow as pa
    from pyspark.sql import DataFrame, SparkSession

    from lakeforge.config.models import Settings
    from lakeforge.flows.graph import FlowGraph
    from lakeforge.pipeline.context import RunContext
    from lakeforge.pipeline.planner import LakehouseState, Step

log = logging.getLogger(__name__)


@dataclass
class _Prepared:
    """A step's gated result, waiting to be published."""

    step: Step
    publish: Callable[[], None]
    notes: dict[str, Any] = field(default_factory=dict)


def docs_dir(settings: Settings) -> Path | None:
    """Where Great Expectations builds the data docs: `<lakehouse>/_ops/data_docs`, or a staging folder
    of this host's state folder for a lakehouse that is not local (`publish_docs` copies it there)."""
    if not settings.quality.data_docs:
        return None
    return storage.local_home(settings.paths.lakehouse, "data_docs")


def quality_gate(settings: Settings, ctx: RunContext, graph: FlowGraph) -> QualityGate:
    return QualityGate(
        graph.registry,
        docs_dir=docs_dir(settings),
        run_name=ctx.run_id,
        local_max_rows=settings.spark.local_max_rows,
    )


def planned_checks(steps: list[Step]) -> list[tuple[str, str]]:
    """(suite, table) of every Great Expectations check the steps will run."""
    checks = []
    for s in steps:
        if s.kind in ("cleanse", "derive"):
            checks.append((f"{s.target}.batch", s.target))
        elif s.kind == "validate":
            checks.append((f"{s.target}.published", s.target))
    return checks


def reason_counts(checked: pa.Table) -> tuple[int, int, int]:
    """(records, valid, quarantined) of checked rows held on the driver: valid rows have no `_reasons`."""
    import pyarrow.compute as pc

    lengths = pc.list_value_length(checked.column("_reasons"))
    valid = pc.sum(pc.equal(lengths, 0)).as_py() or 0
    quarantined = pc.sum(pc.greater(lengths, 0)).as_py() or 0
    return checked.num_rows, int(valid), int(quarantined)


def sql_literal(value: Any) -> str:
    if isinstance(value, datetime):
        return f"TIMESTAMP'{value.isoformat(sep=' ')}'"
    if isinstance(value, date):
        return f"DATE'{value.isoformat()}'"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return "'" + str(value).replace("\\", "\\\\").replace("'", "\\'") + "'"


class Engine:
    def __init__(
        self,
        spark: SparkSession,
        settings: Settings,
        ctx: RunContext,
        graph: FlowGraph,
        state: LakehouseState,
        report: RunReport,
        hook: Callable[[str], None] | None = None,
        quality: QualityGate | None = None,
        observer: RunObserver | None = None,
    ) -> None:
        self.spark = spark
        self.settings = settings
        self.ctx = ctx
        self.graph = graph
        self.registry = graph.registry
        self.state = state
        self.report = report
        self.catalog = state.catalog
        self.writer = SafeDeltaWriter(spark, self.catalog, hook)
        self.quality = quality or quality_gate(settings, ctx, graph)
        self.observer = observer or RunObserver()  # told of every write and gate (lakeforge.ops.progress)

    # --- reading -----------------------------------------------------------------------------------------
    def read(self, table: str, version: int | None) -> DataFrame:
        """The table at `version`; an empty DataFrame of the contract's schema when it has no version."""
        if version is None:
            return self.spark.createDataFrame([], self.registry.get_schema(table))
        return self.spark.read.format("delta").option("versionAsOf", version).load(self.catalog.uri(table))

    def changes(self, table: str, after: int | None, upto: int) -> DataFrame:
        """Rows of `table` changed in versions (after, upto] (Change Data Feed; after None: from v0)."""
        return (
            self.spark.read.format("delta")
            .option("readChangeFeed", "true")
            .option("startingVersion", 0 if after is None or after < 0 else after + 1)
            .option("endingVersion", upto)
            .load(self.catalog.uri(table))
        )

    def _metadata(self, **extra: Any) -> dict[str, Any]:
        return {"run_id": self.ctx.run_id, "command": self.ctx.command, **extra}

    def _mark(self, consumer: str, input_: str, input_version: int | None) -> None:
        mark = Watermark(
            consumer, input_, -1 if input_version is None else input_version, self.state.version(consumer)
        )
        self.report.watermarks.append(mark)
        self.state.add(self.report)

    def _written(self, table: str) -> None:
        self.state.refresh(table)

    def _wrote(self, metrics: WriteMetrics) -> None:
        self.report.writes.append(metrics)
        self.observer.table_written(metrics)

    def _checked(self, result: GateResult) -> None:
        self.report.gates.append(result)
        self.observer.gate_checked(result)

    def _hold(self, df: DataFrame) -> tuple[DataFrame, pa.Table]:
        """Compute `df` once and hold its rows on the driver (Arrow), for a batch known to be small
        (`spark.local_max_rows`): the DataFrame returned is a local relation of them, with `df`'s schema,
        so the steps after it plan no scan and need no cache."""
        held = df.toArrow()
        return self.spark.createDataFrame(held, schema=df.schema), held

    def _materialize(
        self, df: DataFrame, stack: ExitStack, bound: int | None
    ) -> tuple[DataFrame, int, pa.Table | None]:
        """`df` computed once for the actions after it, with its row count: held on the driver when
        `bound` (its rows as far as the Delta log can tell, no Spark job) is within `spark.local_max_rows`
        and it does fit, else cached in Spark (a batch larger than its bound is computed again there)."""
        limit = self.settings.spark.local_max_rows
        if bound is not None and bound <= limit:
            local, held = self._hold(df.limit(limit + 1))
            if held.num_rows <= limit:
                return local, held.num_rows, held
        cached = stack.enter_context(persisted(df))
        return cached, cached.count(), None

    def _rows_read(self, windows: dict[str, tuple[int | None, int | None]], whole: bool) -> int | None:
        """The rows a step reads from its inputs as far as their logs say: every row of each input's
        version (`whole`), or the change feed of each window. None: a log cannot say."""
        total = 0
        for name, (after, upto) in windows.items():
            if upto is None or (not whole and after is not None and after >= upto):
                continue
            rows = deltalog.rows_read(self.catalog.uri(name), None if whole else after, upto)
            if rows is None:
                return None
            total += rows
        return total

    # --- gates -------------------------------------------------------------------------------------------
    def _gate(self, result: GateResult) -> None:
        self._checked(result)
        if not result.success:
            raise QualityGateFailed(
                f"suite {result.suite} on {result.table} failed: " + "; ".join(result.failures),
                hint="nothing was published; fix the data (bronze keeps it) and rerun",
            )

    def _ratio_gate(self, recon: Reconciliation, quarantine: str) -> None:
        quarantined, records = recon.quarantined or 0, recon.records_read or 0
        ratio = quarantined / records if records else 0.0
        limit = self.settings.quality.max_quarantine_ratio
        failures = []
        if ratio > limit:
            failures.append(
                f"quarantine ratio {ratio:.4f} ({quarantined} of {records} records) "
                f"exceeds quality.max_quarantine_ratio {limit}"
            )
        self._gate(GateResult(f"{quarantine}.ratio", quarantine, not failures, 1, len(failures), failures))

    # --- one stage -----------------------------------------------------------------------------------------
    def run(self, steps: list[Step]) -> None:
        """Prepare (read, transform, gate) every step, then publish them all."""
        if not steps:
            return
        kind = steps[0].kind
        if kind == "ingest":
            for step in steps:
                with log_context(table=step.target):
                    self._ingest(step)
            return
        if kind == "validate":
            self._validate(steps)
            return
        with ExitStack() as stack:
            prepared = []
            for s in steps:
                with log_context(table=s.target):
                    prepared.append(
                        self._prepare_cleanse(s, stack)
                        if s.kind == "cleanse"
                        else self._prepare_derive(s, stack)
                    )
            for s, p in zip(steps, prepared, strict=True):
                with log_context(table=s.target):
                    p.publish()

    # --- ingest: landing -> bronze ------------------------------------------------------------------------
    def _ingest(self, step: Step) -> None:
        from pyspark.sql import functions as F

        assert step.source is not None
        table = step.target
        contract = self.registry.get(table)
        recon = Reconciliation(
            source=step.source, stage="ingest", files=len(step.files), records_read=0, bronze_added=0
        )
        self.report.reconciliation.append(recon)
        self.report.files.extend(step.duplicates)
        if not step.files:
            self.state.add(self.report)
            return
        columns = [c.name for c in contract.source_columns] + step.extras
        parsed, counted = read_bronze_batch(
            self.spark, step.files, columns, self.settings.landing.driver_parse_max_bytes
        )
        batch = parsed.withColumns(
            {
                "_ingested_at": F.lit(self.ctx.clock).cast("timestamp"),
                "_run_id": F.lit(self.ctx.run_id),
                "ingest_date": F.lit(self.ctx.clock.date()),
            }
        )
        with ExitStack() as stack:
            if counted is None:  # parsed by the workers: cache the batch, count its records per file
                batch = stack.enter_context(persisted(batch))
                counted = {
                    r["_source_file"]: int(r["n"])
                    for r in batch.groupBy("_source_file").agg(F.count(F.lit(1)).alias("n")).collect()
                }
            per_file = counted
            total = sum(per_file.values())
            recon.records_read = total
            listed: list[dict[str, Any]] = [
                {
                    "path": f.rel_path,
                    "sha256": f.sha256,
                    "size": f.size,
                    "mtime_ns": f.mtime_ns,
                    "rows": per_file.get(f.rel_path, 0),
                }
                for f in step.files
            ]
            version = None
            if total:
                before = self.state.version(table)
                metrics = self.writer.append_idempotent(
                    batch,
                    table,
                    app_id=f"lakeforge-ingest-{step.source}",
                    version=0 if before is None else before + 1,
                    expected_rows=total,
                    allow_additive=bool(step.extras),
                    metadata=self._metadata(files=listed),
                )
                self._wrote(metrics)
                recon.bronze_added = metrics.inserted
                version = metrics.version
                self._written(table)
        for f in listed:
            self.report.files.append(
                FileRecord(
                    step.source, f["path"], f["size"], f["mtime_ns"], f["sha256"], f["rows"], version,
                    self.ctx.run_id,
                )
            )  # fmt: skip
        self.state.add(self.report)
        log.info(
            "ingested %s records of %s file(s) into %s",
            total,
            len(step.files),
            table,
            extra={"event": "ingest"},
        )

    # --- cleanse: bronze -> silver + quarantine ------------------------------------------------------------
    def _prepare_cleanse(self, step: Step, stack: ExitStack) -> _Prepared:
        from pyspark.sql import functions as F

        source = self.graph.source(step.source or "")
        assert source.silver is not None and source.quarantine is not None
        bronze_c, silver_c = self.registry.get(source.bronze), self.registry.get(source.silver)
        after, upto = step.inputs[source.bronze]
        assert upto is not None
        if after is None:
            log.info("%s: no valid watermark on %s, reading all of v%s", source.silver, source.bronze, upto)
            increment = self.read(source.bronze, upto)
        else:
            increment = (
                self.changes(source.bronze, after, upto)
                .where("_change_type = 'insert'")
                .drop("_change_type", "_commit_version", "_commit_timestamp")
            )
        checked = increment.transform(silver_t.with_reasons(bronze_c))
        expected = deltalog.rows_read(self.catalog.uri(source.bronze), after, upto)
        local = expected is not None and expected <= self.settings.spark.local_max_rows
        if local:  # a small increment: parsed once, then held on the driver
            checked, held = self._hold(checked)
            records, valid_n, quarantined = reason_counts(held)
        else:
            checked = stack.enter_context(persisted(checked))
            counts = checked.select(
                F.count(F.lit(1)).alias("records"),
                F.sum(F.when(F.size("_reasons") == 0, 1).otherwise(0)).alias("valid"),
                F.sum(F.when(F.size("_reasons") > 0, 1).otherwise(0)).alias("quarantined"),
            ).collect()[0]
            records, valid_n, quarantined = (
                int(counts["records"]), int(counts["valid"] or 0), int(counts["quarantined"] or 0)
            )  # fmt: skip
        recon = Reconciliation(
            source=source.source,
            stage="transform",
            records_read=records,
            valid=valid_n,
            quarantined=quarantined,
        )
        self._ratio_gate(recon, source.quarantine)
        valid = checked.transform(silver_t.valid_rows).transform(silver_t.typed(bronze_c, silver_c))
        latest = valid.transform(silver_t.latest_by(silver_c.keys, silver_c.order_by))
        winners, n_winners, frame = self._materialize(latest, stack, recon.valid)  # at most the valid rows
        if n_winners:
            self._gate(
                self.quality.check(
                    winners, source.silver, suite=f"{source.silver}.batch", rows=n_winners, frame=frame
                )
            )

        def publish() -> None:
            self._publish_cleanse(step, checked, winners, n_winners, recon, incremental=after is not None)

        return _Prepared(step, publish)

    def _publish_cleanse(
        self,
        step: Step,
        checked: DataFrame,
        winners: DataFrame,
        n_winners: int,
        recon: Reconciliation,
        *,
        incremental: bool,
    ) -> None:
        source = self.graph.source(step.source or "")
        assert source.silver is not None and source.quarantine is not None
        silver_c = self.registry.get(source.silver)
        quarantine_c = self.registry.get(source.quarantine)
        _, upto = step.inputs[source.bronze]
        quarantine_missing = self.state.version(source.quarantine) is None
        if recon.quarantined or quarantine_missing:  # a table exists from its source's first run, if empty
            rows = checked.transform(silver_t.quarantine_rows(quarantine_c, self.ctx.clock, self.ctx.run_id))
            meta = self._metadata()
            if incremental or quarantine_missing:  # rows after a valid watermark are new by construction
                m = self.writer.append(
                    rows, source.quarantine, expected_rows=recon.quarantined or 0, metadata=meta
                )
            else:  # a recompute (crash, a restored table): insert only what is not there
                m = self.writer.insert_new(rows, source.quarantine, quarantine_c.keys, metadata=meta)
            self._wrote(m)
            self._written(source.quarantine)
        inserted = updated = stale = 0
        if n_winners or self.state.version(source.silver) is None:
            m = self.writer.write_with_merge(
                winners,
                source.silver,
                silver_c.keys,
                order_by=silver_c.order_by,
                metadata=self._metadata(),
                rows_in=n_winners,
                unique_keys=True,  # latest_by keeps one row per key
            )
            self._wrote(m)
            inserted, updated, stale = m.inserted, m.updated, m.stale
            self._written(source.silver)
        recon.inserted, recon.updated = inserted, updated
        recon.superseded = ((recon.valid or 0) - n_winners) + stale
        self.report.reconciliation.append(recon)
        for out in source.outputs:
            self._mark(out, source.bronze, upto)
        if not recon.balanced:
            raise ContractViolation(f"reconciliation of {source.source} does not balance: {recon.to_dict()}")

    # --- derive: tables -> a declared table ---------------------------------------------------------------
    def _prepare_derive(self, step: Step, stack: ExitStack) -> _Prepared:
        from pyspark.sql import functions as F

        resolved = step.flow
        assert resolved is not None
        target, contract = resolved.table, resolved.contract
        frames = [self.read(name, step.inputs[name][1]) for name in resolved.inputs]
        incremental = step.incremental(self.state.version(target) is not None)

        def mark_all() -> None:
            for name in resolved.inputs:
                self._mark(target, name, step.inputs[name][1])

        if not incremental:
            log.info("%s: recomputed whole (%s)", target, step.reason)
            bound = self._rows_read(step.inputs, whole=True)
            result, n, held = self._materialize(resolved.flow.compute(frames), stack, bound)
            if n:
                self._gate(self.quality.check(result, target, suite=f"{target}.batch", rows=n, frame=held))

            def publish_full() -> None:
                m = self.writer.write_full(
                    result, target, contract.keys, rows_in=n, metadata=self._metadata(), unique_keys=True
                )
                self._wrote(m)
                self._written(target)
                mark_all()

            return _Prepared(step, publish_full)

        by = resolved.by
        assert by is not None
        parts = [
            self.changes(name, after, upto).select(by)
            for name, (after, upto) in step.inputs.items()
            if upto is not None and after is not None and after < upto
        ]
        if not parts:
            return _Prepared(step, mark_all)
        union = parts[0]
        for part in parts[1:]:
            union = union.unionByName(part)
        changed, count, _ = self._materialize(
            union.where(F.col(by).isNotNull()).distinct(), stack, self._rows_read(step.inputs, whole=False)
        )
        values: list[Any] = []
        if contract.write_mode is WriteMode.REPLACE_WHERE:
            # the predicate of the write names the values: few by nature (dates, partitions)
            values = sorted(r[by] for r in changed.collect())
            scoped = [frame.where(F.col(by).isin(values)) for frame in frames]
        else:
            # many keys (thousands of customers): a broadcast semi-join, not a literal list to plan
            scoped = [frame.join(F.broadcast(changed), by, "left_semi") for frame in frames]
        if not count:
            return _Prepared(step, mark_all)
        # as many rows as changed values, for a table keyed by them; the bound is checked as it is held
        result, n, held = self._materialize(resolved.flow.compute(scoped), stack, count)
        if n:
            self._gate(self.quality.check(result, target, suite=f"{target}.batch", rows=n, frame=held))

        def publish() -> None:
            meta = self._metadata()
            if contract.write_mode is WriteMode.REPLACE_WHERE:
                predicate = f"`{by}` IN ({', '.join(sql_literal(v) for v in values)})"
                m = self.writer.write_with_replace_where(result, target, predicate, metadata=meta)
            else:
                if not n:
                    mark_all()
                    return
                m = self.writer.write_with_merge(
                    result, target, contract.keys, metadata=meta, rows_in=n, unique_keys=True
                )
            self._wrote(m)
            self._written(target)
            mark_all()

        log.info("%s: recomputing %s value(s) of %s", target, count, by)
        return _Prepared(step, publish)

    # --- validate: whole published tables -----------------------------------------------------------------
    def _validate(self, steps: list[Step]) -> None:
        failures = []
        for step in steps:
            version = self.state.version(step.target)
            # the table's rows, from its log: a small table is validated on the driver (GE's pandas engine)
            rows = (
                None if version is None else deltalog.rows_read(self.catalog.uri(step.target), None, version)
            )
            result = self.quality.check(
                self.read(step.target, version), step.target, suite=f"{step.target}.published", rows=rows
            )
            self._checked(result)
            if result.success:
                self._mark(VALIDATED, step.target, version)
            else:
                failures.append(result)
        if failures:
            raise QualityGateFailed(
                "; ".join(f"{r.table}: {', '.join(r.failures)}" for r in failures),
                hint="the published tables break their contracts; investigate before the next load",
            )
