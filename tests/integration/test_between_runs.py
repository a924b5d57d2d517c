"""SPEC §4, whatever happened between runs: deleted tables, a RESTORE, maintenance while a layer lags, a
lag longer than the log retention. After each, the next run leaves every table equal to one clean run
over the same files, itself checked against the oracle.
"""

from __future__ import annotations

import logging
import shutil
from datetime import timedelta
from pathlib import Path

import pytest

from lakeforge import deltalog
from lakeforge.config.models import MaintenanceSettings
from lakeforge.sample.generator import generate
from tests.integration.helpers import (
    CLOCK,
    DATA_TABLES,
    GRAPH,
    RUN_COLUMNS,
    SOURCES,
    naive_utc,
    rows,
    run,
    settings_for,
    table_path,
    versions,
)
from tests.oracle import expected_from_landing

pytestmark = pytest.mark.slow

DERIVED = tuple(t for t in DATA_TABLES if GRAPH.stage_of(t) != "ingest")


def _deliver(src: Path, dst: Path, days: range) -> None:
    for source in SOURCES:
        (dst / source).mkdir(parents=True, exist_ok=True)
        for day in days:
            name = f"{source}_202603{day:02d}.csv"
            shutil.copy(src / source / name, dst / source / name)


def _snapshot(spark, lake: Path) -> dict[str, list[dict]]:  # type: ignore[no-untyped-def]
    return {t: rows(spark, lake, t, drop=RUN_COLUMNS) for t in DATA_TABLES}


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("generated")
    generate(out, scale=0.001, seed=17)
    return out


@pytest.fixture(scope="module")
def reference(spark, generated: Path, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """One clean run over days 1-10, checked against the oracle: what every case below must end at."""
    root = tmp_path_factory.mktemp("reference")
    _deliver(generated, root / "landing", range(1, 11))
    assert run(settings_for(root / "landing", root / "lake", max_ratio=0.5)).status == "success"
    expected = expected_from_landing(root / "landing")
    for source, key in (("customers", "customer_id"), ("orders", "order_id")):
        got = rows(spark, root / "lake", f"silver.{source}", drop={"_ingested_at", "_run_id"})
        want = [{k: naive_utc(v) for k, v in r.items()} for r in expected[source].silver]
        assert sorted(got, key=lambda r: r[key]) == sorted(want, key=lambda r: r[key])
        quarantined = {
            (r["_source_file"], r["_line_number"]): sorted(r["_reasons"])
            for r in rows(spark, root / "lake", f"quarantine.{source}")
        }
        assert quarantined == expected[source].quarantine
    daily = sorted(rows(spark, root / "lake", "gold.daily_revenue"), key=lambda r: r["order_date"])
    assert daily == sorted(expected.daily_revenue, key=lambda r: r["order_date"])
    ltv = sorted(rows(spark, root / "lake", "gold.customer_ltv"), key=lambda r: r["customer_id"])
    assert ltv == sorted(
        [{k: naive_utc(v) for k, v in r.items()} for r in expected.customer_ltv],
        key=lambda r: r["customer_id"],
    )
    return _snapshot(spark, root / "lake")


@pytest.fixture(scope="module")
def delivered(generated: Path, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """Lakehouses built once, copied by each test: days 1-5 in one run, days 6-10 in a second run of
    `full` (tables with a history to go back in) or of `ingest` only (silver lagging bronze)."""
    built: dict[str, Path] = {}

    def build(second: str) -> Path:
        if second not in built:
            root = tmp_path_factory.mktemp(f"delivered-{second}")
            settings = settings_for(root / "landing", root / "lake", max_ratio=0.5)
            _deliver(generated, root / "landing", range(1, 6))
            assert run(settings, clock=CLOCK).status == "success"
            _deliver(generated, root / "landing", range(6, 11))
            assert run(settings, command=second, clock=CLOCK + timedelta(hours=1)).status == "success"
            built[second] = root
        return built[second]

    return build


def _two_deliveries(delivered, tmp_path: Path, second: str = "full"):  # type: ignore[no-untyped-def]
    """A copy of the lakehouse (and landing zone, mtimes kept) after two deliveries, for this test alone."""
    source = delivered(second)
    shutil.copytree(source / "landing", tmp_path / "landing")
    shutil.copytree(source / "lake", tmp_path / "lake")
    return settings_for(tmp_path / "landing", tmp_path / "lake", max_ratio=0.5)


def _assert_equal(spark, lake: Path, reference) -> None:  # type: ignore[no-untyped-def]
    got = _snapshot(spark, lake)
    for table in DATA_TABLES:
        assert got[table] == reference[table], table


def test_deleted_derived_tables_are_rebuilt_from_their_inputs(spark, delivered, reference, tmp_path) -> None:  # type: ignore[no-untyped-def]
    settings = _two_deliveries(delivered, tmp_path)
    for table in DERIVED:  # silver, quarantine and gold: everything but bronze
        shutil.rmtree(table_path(tmp_path / "lake", table))
    outcome = run(settings, clock=CLOCK + timedelta(hours=2))
    assert outcome.status == "success"
    assert {s.target for s in outcome.plan.steps} == {  # type: ignore[union-attr]
        t for t in DERIVED if not t.startswith("quarantine.")
    }
    _assert_equal(spark, tmp_path / "lake", reference)
    # and once rebuilt, nothing is left to do
    again = run(settings, clock=CLOCK + timedelta(hours=3))
    assert not again.report.jvm_started


def test_a_restored_table_is_brought_back_up_to_date(spark, delivered, reference, tmp_path) -> None:  # type: ignore[no-untyped-def]
    settings = _two_deliveries(delivered, tmp_path)
    lake = tmp_path / "lake"
    for table in ("silver.orders", "gold.daily_revenue", "gold.customer_ltv"):
        latest = deltalog.version(table_path(lake, table))
        assert latest is not None and latest >= 1
        # back to what the first delivery left: the second delivery's changes are gone from the table
        spark.sql(f"RESTORE TABLE delta.`{table_path(lake, table)}` TO VERSION AS OF {latest - 1}")
        assert deltalog.last_commit(table_path(lake, table))["operation"] == "RESTORE"
    assert _snapshot(spark, lake)["gold.daily_revenue"] != reference["gold.daily_revenue"]
    outcome = run(settings, clock=CLOCK + timedelta(hours=2))
    assert outcome.status == "success"
    assert {"silver.orders", "gold.daily_revenue", "gold.customer_ltv"} <= {
        s.target
        for s in outcome.plan.steps  # type: ignore[union-attr]
    }
    _assert_equal(spark, lake, reference)


def test_maintenance_while_silver_lags_keeps_what_silver_needs(
    spark, delivered, reference, tmp_path, caplog
) -> None:  # type: ignore[no-untyped-def]
    lake = tmp_path / "lake"
    settings = _two_deliveries(delivered, tmp_path, second="ingest")  # bronze ahead of silver
    # the smallest retention the config allows
    maintenance = settings.model_copy(update={"maintenance": MaintenanceSettings(vacuum_retention_hours=0)})
    with caplog.at_level(logging.INFO, logger="lakeforge"):
        outcome = run(maintenance, command="maintenance", clock=CLOCK + timedelta(hours=2))
    assert outcome.status == "success"
    kept = [
        r.getMessage() for r in caplog.records if "VACUUM" in r.getMessage() and "skipped" in r.getMessage()
    ]
    assert any("bronze.orders" in m and "silver.orders" in m for m in kept), kept
    assert run(settings, clock=CLOCK + timedelta(hours=3)).status == "success"
    _assert_equal(spark, lake, reference)


def test_a_change_feed_vacuumed_away_is_recomputed_from_the_snapshot(
    spark, delivered, reference, tmp_path, caplog
) -> None:  # type: ignore[no-untyped-def]
    lake = tmp_path / "lake"
    settings = _two_deliveries(delivered, tmp_path, second="ingest")
    spark.conf.set("spark.databricks.delta.retentionDurationCheck.enabled", "false")
    try:
        for source in SOURCES:  # an operator's own OPTIMIZE and VACUUM, outside lakeforge
            spark.sql(f"OPTIMIZE delta.`{table_path(lake, f'bronze.{source}')}`")
            spark.sql(f"VACUUM delta.`{table_path(lake, f'bronze.{source}')}` RETAIN 0 HOURS")
    finally:
        spark.conf.unset("spark.databricks.delta.retentionDurationCheck.enabled")
    with caplog.at_level(logging.INFO, logger="lakeforge"):
        outcome = run(settings, clock=CLOCK + timedelta(hours=2))
    assert outcome.status == "success"
    gone = [
        r.getMessage() for r in caplog.records if "change feed" in r.getMessage() and "gone" in r.getMessage()
    ]
    assert len([m for m in gone if "recompute" in m]) >= len(SOURCES), gone
    _assert_equal(spark, lake, reference)


def test_a_lag_longer_than_the_log_retention_recomputes(
    spark, delivered, reference, tmp_path, caplog
) -> None:  # type: ignore[no-untyped-def]
    from deltalake import DeltaTable

    lake = tmp_path / "lake"
    settings = _two_deliveries(delivered, tmp_path, second="ingest")
    for source in SOURCES:  # what Delta's log cleanup does once the commits are older than the retention
        path = Path(table_path(lake, f"bronze.{source}"))
        spark.sql(f"OPTIMIZE delta.`{path}`")  # later commits, and a checkpoint after silver's watermark
        DeltaTable(str(path)).create_checkpoint()
        latest = deltalog.version(str(path))
        assert latest is not None
        for commit in (path / "_delta_log").glob("*.json"):
            if commit.stem.isdigit() and int(commit.stem) < latest:
                commit.unlink()
    with caplog.at_level(logging.INFO, logger="lakeforge"):
        outcome = run(settings, clock=CLOCK + timedelta(hours=2))
    assert outcome.status == "success"
    gone = [
        r.getMessage() for r in caplog.records if "change feed" in r.getMessage() and "gone" in r.getMessage()
    ]
    assert len(gone) >= len(SOURCES), gone
    _assert_equal(spark, lake, reference)
    assert versions(spark, lake)["bronze.orders"] is not None
