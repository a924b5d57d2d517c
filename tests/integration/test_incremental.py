"""SPEC §4: after any sequence of runs, silver equals one run over all files and gold equals a rebuild."""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path

import pytest

from lakeforge.sample.generator import generate
from tests.integration.helpers import (
    CLOCK,
    DATA_TABLES,
    RUN_COLUMNS,
    SOURCES,
    naive_utc,
    rows,
    run,
    settings_for,
    versions,
)
from tests.oracle import expected_from_landing

pytestmark = pytest.mark.slow

LATE_ORDERS = (
    "order_id,customer_id,order_ts,status,total_amount,updated_at\n"
    # a newer version of an early order that moves it to another day: both days must be recomputed
    "O00000001,C0000001,2026-03-05T09:00:00Z,delivered,77.70,2026-03-20T00:00:00Z\n"
    # a stale version of another order: loses to what is stored
    "O00000002,C0000001,2026-03-01T09:00:00Z,returned,1.00,2020-01-01T00:00:00Z\n"
    "O90000001,C0000002,2026-02-28T12:00:00Z,placed,10.005,2026-02-28T12:00:00Z\n"
    "O90000002,C0000002,2026-02-28T12:00:00Z,placed,-1,2026-02-28T12:00:00Z\n"
)
LATE_CUSTOMERS = (
    "customer_id,first_name,last_name,email,country,signup_date,updated_at\n"
    "C0000003,Late,Update,LATE@EXAMPLE.COM,de,2026-01-01,2026-03-30T00:00:00Z\n"
)


def _deliver(src: Path, dst: Path, days: range) -> None:
    for source in SOURCES:
        (dst / source).mkdir(parents=True, exist_ok=True)
        for day in days:
            name = f"{source}_202603{day:02d}.csv"
            if (src / source / name).exists():
                shutil.copy(src / source / name, dst / source / name)


def _late(dst: Path) -> None:
    (dst / "orders" / "orders_20260228.csv").write_text(LATE_ORDERS)
    (dst / "customers" / "customers_20260228.csv").write_text(LATE_CUSTOMERS)


def _snapshot(spark, lake: Path) -> dict[str, list[dict]]:  # type: ignore[no-untyped-def]
    return {t: rows(spark, lake, t, drop=RUN_COLUMNS) for t in DATA_TABLES}


def test_incremental_runs_equal_one_run_over_all_files(spark, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    generated = tmp_path / "generated"
    generate(generated, scale=0.002, seed=5)

    one_shot_landing = tmp_path / "all"
    _deliver(generated, one_shot_landing, range(1, 11))
    _late(one_shot_landing)
    run(settings_for(one_shot_landing, tmp_path / "one_shot", max_ratio=0.5))

    landing, lake = tmp_path / "inc", tmp_path / "incremental"
    # small increments: the ratio gate is tested elsewhere. These runs keep every batch in Spark and
    # gate it through GE's Spark engine (`local_max_rows: 0`); the one-shot run above held its small
    # batches on the driver: the two paths must give the same tables
    settings = settings_for(landing, lake, max_ratio=0.5, local_max_rows=0)
    _deliver(generated, landing, range(1, 4))
    run(settings, clock=CLOCK)
    _deliver(generated, landing, range(4, 8))
    for i, command in enumerate(
        ("ingest", "transform", "validate", "load")
    ):  # stage by stage, as Airflow does
        run(settings, command=command, clock=CLOCK + timedelta(hours=1, minutes=i))
    _deliver(generated, landing, range(8, 11))
    run(settings, command="ingest", clock=CLOCK + timedelta(hours=2))
    run(settings, command="full", clock=CLOCK + timedelta(hours=3))
    _late(landing)  # a late file whose name sorts before everything already loaded
    run(settings, clock=CLOCK + timedelta(hours=4))

    incremental, reference = _snapshot(spark, lake), _snapshot(spark, tmp_path / "one_shot")
    for table in DATA_TABLES:
        assert incremental[table] == reference[table], table

    # and both are what the contract says
    expected = expected_from_landing(one_shot_landing)
    silver = rows(spark, lake, "silver.orders", drop={"_ingested_at", "_run_id"})
    want = [{k: naive_utc(v) for k, v in r.items()} for r in expected.orders.silver]
    assert sorted(silver, key=lambda r: r["order_id"]) == want
    moved = next(r for r in silver if r["order_id"] == "O00000001")
    assert (str(moved["order_date"]), str(moved["total_amount"])) == ("2026-03-05", "77.70")
    daily = sorted(rows(spark, lake, "gold.daily_revenue"), key=lambda r: r["order_date"])
    assert daily == sorted(expected.daily_revenue, key=lambda r: r["order_date"])
    ltv = sorted(rows(spark, lake, "gold.customer_ltv"), key=lambda r: r["customer_id"])
    assert ltv == sorted(
        ([{k: naive_utc(v) for k, v in r.items()} for r in expected.customer_ltv]),
        key=lambda r: r["customer_id"],
    )

    # gold was maintained incrementally: the last run replaced only the order dates that changed
    from lakeforge import deltalog

    last = deltalog.last_commit(str(lake / "gold" / "daily_revenue"))
    assert last["operation"] == "WRITE"
    assert "2026-02-28" in last["operationParameters"]["predicate"]
    written = int(last["operationMetrics"]["numOutputRows"]) - int(last["operationMetrics"]["numCopiedRows"])
    assert written == 3  # 2026-02-28, 2026-03-01, 2026-03-05; the other rows of rewritten files are copied

    before = versions(spark, lake)
    run(settings, clock=CLOCK + timedelta(hours=5))
    assert versions(spark, lake) == before
