"""lakeforge.pipeline.planner: what a run will do, from the landing zone, the ledger and table versions.

No Spark anywhere in this file: planning must never need a JVM.
"""

from __future__ import annotations

import hashlib
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from lakeforge.contracts.registry import Catalog, ContractRegistry
from lakeforge.errors import ContractViolation, SchemaDriftError
from lakeforge.flows import FlowGraph, load_declarations
from lakeforge.ops.events import EVENTS, EventLog, RunInfo, append_events, run_events
from lakeforge.pipeline.planner import LakehouseState, Landing, plan_run
from lakeforge.results import FileRecord, RunReport, Watermark

ORDERS = "order_id,customer_id,order_ts,status,total_amount,updated_at\nO1,C1,2026-03-01T10:00:00Z,placed,1.00,2026-03-01T10:00:00Z\n"
GRAPH = FlowGraph.build(ContractRegistry.default(), load_declarations(["lakeforge.transforms.gold"]))


def state(
    tmp_path: Path, log: EventLog | None = None, versions: dict[str, int | None] | None = None
) -> LakehouseState:
    s = LakehouseState.load(Catalog(tmp_path / "lake", GRAPH.registry), GRAPH)
    if log is not None:
        s.events = log
    s.versions.update(versions or {})
    return s


def write(landing: Path, rel: str, text: str) -> Path:
    path = landing / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def record(path: Path, rel: str, bronze_version: int = 0) -> FileRecord:
    data = path.read_bytes()
    return FileRecord("orders", rel, len(data), path.stat().st_mtime_ns, hashlib.sha256(data).hexdigest(), 1,
                      bronze_version, "r0")  # fmt: skip


def test_an_empty_lakehouse_plans_every_flow_in_stage_order(tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    write(landing, "orders/orders_1.csv", ORDERS)
    report = RunReport()
    plan = plan_run("full", GRAPH, state(tmp_path), report, Landing(landing))
    assert [(s.stage, s.kind, s.target) for s in plan.steps] == [
        ("ingest", "ingest", "bronze.orders"),
        ("transform", "cleanse", "silver.orders"),
        ("load", "derive", "gold.customer_ltv"),
        ("load", "derive", "gold.daily_revenue"),
    ]
    assert plan.steps[0].reason == "1 new file(s): orders_1.csv"
    assert [f.rel_path for f in plan.steps[0].files] == ["orders/orders_1.csv"]


def test_files_in_the_ledger_are_recognised_by_size_and_mtime_without_reading(tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    path = write(landing, "orders/orders_1.csv", ORDERS)
    known = EventLog(files=[record(path, "orders/orders_1.csv")])
    versions = {"bronze.orders": 0}
    path.chmod(0)  # unreadable: recognising it must not open it
    try:
        report = RunReport()
        plan = plan_run("ingest", GRAPH, state(tmp_path, known, versions), report, Landing(landing))
    finally:
        path.chmod(0o644)
    assert plan.steps == [] and report.skipped_files == ["orders/orders_1.csv"]
    # --verify-landing re-hashes it: same content, still skipped
    report = RunReport()
    plan = plan_run("ingest", GRAPH, state(tmp_path, known, versions), report, Landing(landing, verify=True))
    assert plan.steps == [] and report.skipped_files == ["orders/orders_1.csv"]


def test_a_changed_file_is_refused_naming_it(tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    path = write(landing, "orders/orders_1.csv", ORDERS)
    known = EventLog(files=[record(path, "orders/orders_1.csv")])
    path.write_text(ORDERS + "O2,C1,2026-03-01T10:00:00Z,placed,2.00,2026-03-01T10:00:00Z\n")
    with pytest.raises(
        ContractViolation, match=r"orders/orders_1\.csv was ingested before with SHA-256"
    ) as err:
        plan_run("ingest", GRAPH, state(tmp_path, known, {"bronze.orders": 0}), RunReport(), Landing(landing))
    assert err.value.exit_code == 4


def test_a_copy_under_another_name_is_recorded_not_loaded(tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    write(landing, "orders/orders_1.csv", ORDERS)
    write(landing, "orders/orders_2.csv", ORDERS)
    report = RunReport()
    (step,) = plan_run("ingest", GRAPH, state(tmp_path), report, Landing(landing)).steps
    assert [f.rel_path for f in step.files] == ["orders/orders_1.csv"]
    assert [(d.path, d.duplicate_of, d.rows) for d in step.duplicates] == [
        ("orders/orders_2.csv", "orders/orders_1.csv", 0)
    ]
    assert report.warnings == [
        "orders/orders_2.csv has the same content as orders/orders_1.csv: recorded as a copy, not loaded"
    ]


def test_files_that_do_not_count_or_have_not_arrived(tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    write(landing, "orders/.orders_1.csv", ORDERS)
    write(landing, "orders/_orders_2.csv", ORDERS)
    write(landing, "orders/orders_3.txt", ORDERS)
    write(landing, "orders/orders_4.csv", "")
    target = write(tmp_path / "elsewhere", "secret.csv", "password\nhunter2\n")
    os.symlink(target, landing / "orders" / "orders_5.csv")
    report = RunReport()
    plan = plan_run("ingest", GRAPH, state(tmp_path), report, Landing(landing))
    assert plan.steps == []
    assert report.warnings == [
        "orders/orders_4.csv is empty (0 bytes): not arrived yet, left for a later run",
        "orders/orders_5.csv is a symbolic link: skipped (links are never followed)",
    ]
    assert "hunter2" not in " ".join(report.warnings) and "secret" not in " ".join(report.warnings)


def test_a_file_still_settling_waits_for_a_later_run(tmp_path: Path) -> None:
    import time

    landing = tmp_path / "landing"
    fresh = write(landing, "orders/orders_2.csv", ORDERS.replace("O1,", "O2,"))
    settled = write(landing, "orders/orders_1.csv", ORDERS)
    os.utime(settled, (time.time() - 120, time.time() - 120))  # written two minutes ago
    report = RunReport()
    plan = plan_run("ingest", GRAPH, state(tmp_path), report, Landing(landing, settle_seconds=60))
    assert [f.rel_path for s in plan.steps for f in s.files] == ["orders/orders_1.csv"]
    assert report.warnings == ["orders/orders_2.csv was modified less than 60 s ago: left for a later run"]
    os.utime(fresh, (time.time() - 61, time.time() - 61))
    plan = plan_run("ingest", GRAPH, state(tmp_path), RunReport(), Landing(landing, settle_seconds=60))
    assert [f.rel_path for s in plan.steps for f in s.files] == ["orders/orders_1.csv", "orders/orders_2.csv"]


def test_a_missing_required_column_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    write(landing, "orders/orders_1.csv", "order_id,customer_id\nO1,C1\n")
    report = RunReport()
    with pytest.raises(SchemaDriftError, match=r"column 'order_ts' \(string\) of bronze\.orders is missing"):
        plan_run("full", GRAPH, state(tmp_path), report, Landing(landing))
    assert {(e.column, action) for e, action in report.drift} >= {("order_ts", "refused")}


def test_a_header_over_max_columns_is_refused_naming_the_file(tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    header = ",".join(f"c{i}" for i in range(1001))
    write(landing, "orders/orders_1.csv", ORDERS)
    write(landing, "orders/orders_2 wide.csv", header + "\n" + ",".join("x" * 1001) + "\n")
    with pytest.raises(ContractViolation) as info:
        plan_run("ingest", GRAPH, state(tmp_path), RunReport(), Landing(landing, max_columns=1000))
    assert info.value.exit_code == 4
    assert info.value.message == (
        "orders/orders_2 wide.csv: its header has 1,001 columns, over landing.max_columns (1,000); "
        "nothing from it was loaded"
    )
    # exactly at the limit is fine as far as the bound goes (the contract then judges the columns)
    write(landing, "orders/orders_2 wide.csv", ",".join(f"c{i}" for i in range(1000)) + "\n")
    with pytest.raises(SchemaDriftError):
        plan_run("ingest", GRAPH, state(tmp_path), RunReport(), Landing(landing, max_columns=1000))


def test_a_header_of_200k_columns_stops_at_once(tmp_path: Path) -> None:
    import time

    landing = tmp_path / "landing"
    write(landing, "orders/orders_1.csv", ",".join(f"column_{i}" for i in range(200_000)) + "\n1\n")
    started = time.monotonic()
    with pytest.raises(
        ContractViolation, match=r"^orders/orders_1\.csv: its header row is longer than 1,048,576 bytes"
    ):
        plan_run("ingest", GRAPH, state(tmp_path), RunReport(), Landing(landing))
    assert time.monotonic() - started < 30  # bounded work, not a hang (a generous bound on a shared machine)


def test_a_file_over_max_file_bytes_is_refused_before_it_is_read(tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    path = write(landing, "orders/orders_1.csv", ORDERS)
    size = path.stat().st_size
    with pytest.raises(ContractViolation) as info:
        plan_run("ingest", GRAPH, state(tmp_path), RunReport(), Landing(landing, max_file_bytes=size - 1))
    assert info.value.exit_code == 4
    assert info.value.message == (
        f"orders/orders_1.csv is {size:,} bytes, over landing.max_file_bytes ({size - 1:,}); nothing from it "
        "was loaded"
    )
    plan = plan_run("ingest", GRAPH, state(tmp_path), RunReport(), Landing(landing, max_file_bytes=size))
    assert [f.rel_path for s in plan.steps for f in s.files] == ["orders/orders_1.csv"]


def test_watermarks_decide_what_is_up_to_date(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(LakehouseState, "change_feed_gap", lambda self, table, after, upto: None)
    versions = {"bronze.orders": 3, "silver.orders": 5, "quarantine.orders": 2}
    marks = [
        Watermark("silver.orders", "bronze.orders", 3, 5),
        Watermark("quarantine.orders", "bronze.orders", 3, 2),
    ]
    plan = plan_run("transform", GRAPH, state(tmp_path, EventLog(watermarks=marks), versions), RunReport(),
                    Landing(tmp_path))  # fmt: skip
    assert plan.steps == []
    # bronze moved on: the increment after the watermark
    plan = plan_run("transform", GRAPH, state(tmp_path, EventLog(watermarks=marks), {**versions, "bronze.orders": 4}),
                    RunReport(), Landing(tmp_path))  # fmt: skip
    (step,) = plan.steps
    assert (step.target, step.inputs, step.reason) == (
        "silver.orders",
        {"bronze.orders": (3, 4)},
        "bronze.orders v4..v4 new",
    )
    # silver was written (or restored) behind the log's back: its mark no longer describes it
    plan = plan_run("transform", GRAPH, state(tmp_path, EventLog(watermarks=marks), {**versions, "silver.orders": 6}),
                    RunReport(), Landing(tmp_path))  # fmt: skip
    (step,) = plan.steps
    assert (step.inputs, step.reason) == (
        {"bronze.orders": (None, 3)},
        "bronze.orders no valid watermark: recompute from v3",
    )


def test_the_event_log_round_trips_through_delta_rs(tmp_path: Path) -> None:
    registry = ContractRegistry.default()
    uri = str(tmp_path / "_ops" / "events")
    report = RunReport(
        files=[FileRecord("orders", "orders/o.csv", 10, 123, "ab" * 32, 2, 0, "r1")],
        watermarks=[Watermark("silver.orders", "bronze.orders", 0, 0)],
    )
    clock = datetime(2026, 3, 1, 6, tzinfo=UTC)
    run = RunInfo("r1", "full", "test", None, clock, clock, "success", 0, None)
    version = append_events(uri, registry, run_events(run, report))
    assert version == 0
    log = EventLog.read(uri)
    assert log.files == report.files and log.watermarks == report.watermarks
    assert log.watermark("silver.orders", "bronze.orders", 0) == 0
    assert log.watermark("silver.orders", "bronze.orders", 1) is None
    assert EVENTS == "_ops.events"


def test_a_change_feed_is_gone_once_its_files_or_commits_are(tmp_path: Path) -> None:
    import pyarrow as pa
    from deltalake import DeltaTable, write_deltalake

    from lakeforge.deltalog import change_feed_gap

    uri = tmp_path / "t"
    for i in range(3):
        write_deltalake(str(uri), pa.table({"x": [i]}), mode="append")
    assert change_feed_gap(str(uri), 0, 2) is None
    assert change_feed_gap(str(uri), 2, 2) is None
    v1_file = DeltaTable(str(uri), version=1).file_uris()
    (added,) = sorted(set(v1_file) - set(DeltaTable(str(uri), version=0).file_uris()))
    Path(added.removeprefix("file://")).unlink()  # what VACUUM does once a file is no longer current
    name = added.rpartition("/")[2]
    assert change_feed_gap(str(uri), 0, 2) == f"{name} was vacuumed"
    assert change_feed_gap(str(uri), 1, 2) is None  # a reader already past v1 does not need it
    DeltaTable(str(uri)).create_checkpoint()
    (uri / "_delta_log" / f"{2:020d}.json").unlink()  # the log retention at work
    assert change_feed_gap(str(uri), 1, 2) == "its commit v2 is gone (past the log retention)"
