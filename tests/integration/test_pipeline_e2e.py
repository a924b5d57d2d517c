"""The whole pipeline on generated data, checked table by table against the independent oracle."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from lakeforge.errors import ContractViolation, QualityGateFailed, SchemaDriftError
from lakeforge.sample.generator import generate
from tests.integration.helpers import (
    DATA_TABLES,
    SOURCES,
    cli_run,
    events,
    naive_utc,
    rows,
    run,
    settings_for,
    versions,
    write_config,
)
from tests.oracle import expected_from_landing

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def landing(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("landing")
    generate(out, scale=0.002, seed=11)
    return out


@pytest.fixture(scope="module")
def expected(landing: Path):  # type: ignore[no-untyped-def]
    return expected_from_landing(landing)


@pytest.fixture(scope="module", params=["embedded", "remote"])
def lakehouse(spark, landing: Path, tmp_path_factory: pytest.TempPathFactory, request) -> Path:  # type: ignore[no-untyped-def]
    """The run every check below reads: in-process with an embedded Spark, and as a CLI through a Spark
    Connect server (`--remote`): both must give the oracle's tables exactly."""
    lake = tmp_path_factory.mktemp(f"lake-{request.param}")
    if request.param == "embedded":
        outcome = run(settings_for(landing, lake))
        assert outcome.status == "success"
        return lake
    server = request.getfixturevalue("connect_server")
    config = write_config(lake.parent / f"{lake.name}.yaml", landing, lake)
    result = cli_run(config, "--json", remote=server)
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads(result.stdout)
    assert summary["remote"] == server["url"] and summary["jvm_started"]
    return lake


def test_bronze_holds_every_record_of_every_file(spark, lakehouse, expected) -> None:  # type: ignore[no-untyped-def]
    for source in SOURCES:
        got = rows(spark, lakehouse, f"bronze.{source}")
        per_file: dict[str, int] = {}
        for r in got:
            per_file[r["_source_file"]] = per_file.get(r["_source_file"], 0) + 1
        assert per_file == expected[source].records_per_file
        assert len(got) == expected[source].bronze_records
        numbers = sorted((r["_source_file"], r["_line_number"]) for r in got)
        assert len(set(numbers)) == len(numbers)
        malformed = {(r["_source_file"], r["_line_number"]) for r in got if r["_malformed"]}
        oracle_malformed = {k for k, v in expected[source].quarantine.items() if v == ["malformed_line"]}
        assert malformed == oracle_malformed
        assert all(r["_raw_line"] for r in got if r["_malformed"])
        assert all(r["_raw_line"] is None for r in got if not r["_malformed"])


def test_bronze_keeps_raw_text_and_extra_columns(spark, lakehouse, landing) -> None:  # type: ignore[no-untyped-def]
    from tests.oracle import read_records

    got = {(r["_source_file"], r["_line_number"]): r for r in rows(spark, lakehouse, "bronze.customers")}
    checked = 0
    for path in sorted((landing / "customers").glob("*.csv")):
        rel = f"customers/{path.name}"
        header, records = read_records(path, rel)
        for number, record in enumerate(records, start=1):
            if len(record) != len(header):
                continue
            row = got[(rel, number)]
            assert {h: row[h] for h in header} == dict(zip(header, record, strict=True))
            checked += 1
    assert checked > 100


def test_quarantine_has_every_bad_record_with_its_reasons(spark, lakehouse, expected) -> None:  # type: ignore[no-untyped-def]
    for source in SOURCES:
        got = {
            (r["_source_file"], r["_line_number"]): sorted(r["_reasons"])
            for r in rows(spark, lakehouse, f"quarantine.{source}")
        }
        assert got == expected[source].quarantine
        assert expected[source].quarantined > 0


def test_silver_equals_the_oracle(spark, lakehouse, expected) -> None:  # type: ignore[no-untyped-def]
    for source, key in (("customers", "customer_id"), ("orders", "order_id")):
        got = rows(spark, lakehouse, f"silver.{source}", drop={"_ingested_at", "_run_id"})
        want = [{k: naive_utc(v) for k, v in r.items()} for r in expected[source].silver]
        assert sorted(got, key=lambda r: r[key]) == sorted(want, key=lambda r: r[key])


def test_gold_equals_the_oracle(spark, lakehouse, expected) -> None:  # type: ignore[no-untyped-def]
    got = sorted(rows(spark, lakehouse, "gold.daily_revenue"), key=lambda r: r["order_date"])
    assert got == sorted(expected.daily_revenue, key=lambda r: r["order_date"])
    got_ltv = sorted(rows(spark, lakehouse, "gold.customer_ltv"), key=lambda r: r["customer_id"])
    want = [{k: naive_utc(v) for k, v in r.items()} for r in expected.customer_ltv]
    assert got_ltv == sorted(want, key=lambda r: r["customer_id"])


def test_reconciliation_balances_with_exact_figures(spark, lakehouse, expected) -> None:  # type: ignore[no-untyped-def]
    recon = {(r["source"], r["stage"]): r for r in events(spark, lakehouse, "reconciliation")}
    for source in SOURCES:
        exp = expected[source]
        ingest, transform = recon[(source, "ingest")], recon[(source, "transform")]
        assert (ingest["files"], ingest["records_read"], ingest["bronze_added"]) == (
            10,
            exp.bronze_records,
            exp.bronze_records,
        )
        assert transform["records_read"] == exp.bronze_records
        assert (transform["valid"], transform["quarantined"]) == (exp.valid, exp.quarantined)
        assert (transform["inserted"], transform["updated"], transform["superseded"]) == (
            len(exp.silver),
            0,
            exp.superseded,
        )
        assert ingest["balanced"] and transform["balanced"]


def test_ledger_records_each_file_once_with_its_hash(spark, lakehouse, landing) -> None:  # type: ignore[no-untyped-def]
    got = {r["path"]: r for r in events(spark, lakehouse, "file")}
    files = sorted(landing.glob("*/*.csv"))
    assert len(got) == len(files) == 20
    for f in files:
        entry = got[f"{f.parent.name}/{f.name}"]
        assert entry["sha256"] == hashlib.sha256(f.read_bytes()).hexdigest()
        assert entry["size"] == f.stat().st_size


def test_runs_table_records_the_run(spark, lakehouse) -> None:  # type: ignore[no-untyped-def]
    runs = events(spark, lakehouse, "run")
    assert [(r["command"], r["status"], r["exit_code"], r["error"]) for r in runs] == [
        ("full", "success", 0, None)
    ]


def test_rerun_with_nothing_new_changes_no_table(spark, lakehouse, landing) -> None:  # type: ignore[no-untyped-def]
    before = versions(spark, lakehouse)
    outcome = run(settings_for(landing, lakehouse))
    assert outcome.status == "success"
    assert versions(spark, lakehouse) == before
    assert len(outcome.report.skipped_files) == 20
    assert not outcome.report.jvm_started  # planned from metadata: no Spark session was needed
    assert outcome.delta_commits == 1  # the run's own record in the event log


def _copy_landing(src: Path, dst: Path, names: list[str] | None = None) -> None:
    for path in sorted(src.glob("*/*.csv")):
        if names is None or path.name in names:
            (dst / path.parent.name).mkdir(parents=True, exist_ok=True)
            (dst / path.parent.name / path.name).write_bytes(path.read_bytes())


def test_changed_file_is_refused_and_nothing_loaded(spark, landing, tmp_path) -> None:  # type: ignore[no-untyped-def]
    mine = tmp_path / "landing"
    _copy_landing(landing, mine, ["customers_20260301.csv", "orders_20260301.csv"])
    settings = settings_for(mine, tmp_path / "lake")
    run(settings)
    before = versions(spark, tmp_path / "lake")
    target = mine / "orders" / "orders_20260301.csv"
    target.write_bytes(
        target.read_bytes() + b"O99999999,C0000001,2026-03-01T10:00:00Z,placed,1.00,2026-03-01T10:00:00Z\n"
    )
    with pytest.raises(
        ContractViolation, match=r"orders/orders_20260301.csv was ingested before with SHA-256"
    ) as err:
        run(settings)
    assert err.value.exit_code == 4
    assert versions(spark, tmp_path / "lake") == before


def test_missing_required_column_stops_the_run_naming_file_and_column(spark, tmp_path) -> None:  # type: ignore[no-untyped-def]
    landing = tmp_path / "landing"
    (landing / "orders").mkdir(parents=True)
    (landing / "customers").mkdir(parents=True)
    (landing / "orders" / "orders_1.csv").write_text(
        "order_id,customer_id,order_ts,status,updated_at\nO1,C1,2026-03-01T10:00:00Z,placed,2026-03-01T10:00:00Z\n"
    )
    (landing / "orders" / "orders_0.csv").write_text(
        "order_id,customer_id,order_ts,status,total_amount,updated_at\n"
        "O0,C1,2026-03-01T10:00:00Z,placed,1.00,2026-03-01T10:00:00Z\n"
    )
    with pytest.raises(
        SchemaDriftError,
        match=r"column 'total_amount' \(string\) of bronze.orders is missing from orders/orders_1.csv",
    ) as err:
        run(settings_for(landing, tmp_path / "lake"))
    assert err.value.exit_code == 4
    # nothing of the batch was published: not even the good file that sorts first
    assert versions(spark, tmp_path / "lake")["bronze.orders"] is None
    drift = events(spark, tmp_path / "lake", "drift")
    assert [(d["location"], d["column"], d["classification"], d["action"]) for d in drift] == [
        ("orders/orders_1.csv", "total_amount", "breaking", "refused")
    ]


def test_quarantine_gate_failure_leaves_silver_and_gold_unchanged(spark, landing, tmp_path) -> None:  # type: ignore[no-untyped-def]
    mine = tmp_path / "landing"
    _copy_landing(landing, mine, ["customers_20260301.csv", "orders_20260301.csv"])
    lake = tmp_path / "lake"
    run(settings_for(mine, lake))
    before = versions(spark, lake)
    bad = (
        "order_id,customer_id,order_ts,status,total_amount,updated_at\n"
        + "".join(f"B{i},C1,not-a-time,placed,1.00,2026-03-02T10:00:00Z\n" for i in range(5))
        + "G1,C1,2026-03-02T10:00:00Z,placed,1.00,2026-03-02T10:00:00Z\n"
    )
    (mine / "orders" / "orders_20260302.csv").write_text(bad)
    # customers pass their gates, but nothing of silver may change while orders fail theirs
    (mine / "customers" / "customers_20260302.csv").write_text(
        "customer_id,first_name,last_name,email,country,signup_date,updated_at\n"
        "C7777777,New,Customer,new@example.com,FR,2026-03-02,2026-03-02T10:00:00Z\n"
    )
    for attempt in range(2):  # the failure repeats until someone acts
        with pytest.raises(
            QualityGateFailed, match=r"quarantine ratio 0.8333 \(5 of 6 records\) exceeds"
        ) as err:
            run(settings_for(mine, lake))
        assert err.value.exit_code == 3
        after = versions(spark, lake)
        for table in DATA_TABLES:
            if not table.startswith("bronze"):
                assert after[table] == before[table], (attempt, table)
    assert after["bronze.orders"] == before["bronze.orders"] + 1  # bronze keeps the raw records
    assert after["bronze.customers"] == before["bronze.customers"] + 1
    runs = events(spark, lake, "run")
    assert sorted((r["status"], r["exit_code"]) for r in runs) == [
        ("failed", 3),
        ("failed", 3),
        ("success", 0),
    ]


def test_maintenance_compacts_and_keeps_every_table_up_to_date(spark, lakehouse, landing, tmp_path) -> None:  # type: ignore[no-untyped-def]
    import shutil

    from lakeforge import deltalog

    if "remote" in lakehouse.name:
        pytest.skip("maintenance of the same tables is checked once, on the embedded run's lakehouse")
    lake = tmp_path / "lake"
    shutil.copytree(lakehouse, lake)
    before = versions(spark, lake)
    snapshot = {t: rows(spark, lake, t) for t in DATA_TABLES}
    outcome = run(settings_for(landing, lake), command="maintenance")
    assert outcome.status == "success"
    after = versions(spark, lake)
    # OPTIMIZE committed where there was something to compact; no table lost or changed a row
    assert all(after[t] is not None and after[t] >= before[t] for t in DATA_TABLES)  # type: ignore[operator]
    assert any(after[t] != before[t] for t in DATA_TABLES)
    assert {t: rows(spark, lake, t) for t in DATA_TABLES} == snapshot
    assert deltalog.last_commit(str(lake / "silver" / "orders"))["operation"] in ("OPTIMIZE", "VACUUM END")
    # recorded in the event log like any run, table by table
    import json

    (record,) = [r for r in events(spark, lake, "run") if r["command"] == "maintenance"]
    done = {m["table"]: m for m in json.loads(record["metrics"])["maintenance"]}
    assert set(done) == {*DATA_TABLES, "_ops.events"}
    assert all(m["vacuum"] == "retain 168 h" for m in done.values())
    # the watermarks were recorded again for the new versions: the next run has nothing to do
    rerun = run(settings_for(landing, lake))
    assert not rerun.report.jvm_started
    assert versions(spark, lake) == after
    # and maintenance again OPTIMIZEs only what was written since: nothing but the event log
    second = run(settings_for(landing, lake), command="maintenance")
    again = {m["table"]: m for m in second.report.maintenance}
    assert {t for t, m in again.items() if "files_added" in m} == {"_ops.events"}
    assert all(
        again[t]["optimize"] == "skipped: nothing written since the last OPTIMIZE" for t in DATA_TABLES
    )
