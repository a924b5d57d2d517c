"""What a person sees of a run: the rich summary (on failure too, with what failed), the live progress
view, and the observer hook both hang on. No Spark: hand-built reports, and one CLI run that fails while
planning (a refused header), which starts no JVM."""

from __future__ import annotations

import io
import json
import logging
from datetime import UTC, datetime
from pathlib import Path

import pytest
from rich.console import Console

from lakeforge import cli
from lakeforge.console import LiveView, print_summary, what_failed
from lakeforge.errors import QualityGateFailed, SchemaDriftError
from lakeforge.ops.progress import Observers, PlannedStep, RunEnd, RunObserver, RunStart
from lakeforge.results import (
    DriftEvent,
    GateResult,
    Reconciliation,
    RunReport,
    StageStats,
    WriteMetrics,
)

CLOCK = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)


def _failed_report() -> RunReport:
    report = RunReport(jvm_started=True)
    report.stages["plan"] = StageStats(0.25, 0, 0)
    report.stages["ingest"] = StageStats(3.5, 4, 2)
    report.stages["transform"] = StageStats(5.0, 9, 0)
    report.gates.append(GateResult("quarantine.orders.ratio", "quarantine.orders", True, 1, 0))
    report.gates.append(
        GateResult(
            "silver.orders.batch",
            "silver.orders",
            False,
            12,
            2,
            [
                "expect_column_values_to_not_be_null(order_id): 3 of 10 rows unexpected (30.00%)",
                "expect_column_values_to_be_between(total_amount, min_value=0): 1 of 10 rows unexpected "
                "(10.00%), e.g. [-5.0]",
            ],
        )
    )
    missing = DriftEvent(
        "bronze.customers", "customers/customers_2.csv", "email", "missing", "breaking", "string"
    )
    added = DriftEvent("bronze.orders", "orders/orders_2.csv", "coupon", "added", "additive", None, "string")
    report.drift += [(added, "accepted"), (missing, "refused")]
    report.reconciliation.append(
        Reconciliation("orders", "ingest", files=1, records_read=10, bronze_added=10)
    )
    report.reconciliation.append(
        Reconciliation("orders", "transform", records_read=10, valid=7, quarantined=2, inserted=7)
    )
    return report


def _render(end: RunEnd) -> list[str]:
    console = Console(file=io.StringIO(), record=True, width=120)
    print_summary(console, end, "20260302T060000Z-abc", "full", "/lake")
    return [line.rstrip() for line in console.export_text().splitlines()]


def test_failed_run_summary_names_each_failed_expectation_the_file_and_column() -> None:
    error = QualityGateFailed(
        "suite silver.orders.batch on silver.orders failed", hint="nothing was published"
    )
    end = RunEnd(
        "failed", 3, 8.75, _failed_report(), {"bronze.orders": (10, 0), "silver.orders": None}, 2, error
    )
    lines = _render(end)
    assert lines[:2] == [
        "lakeforge run 20260302T060000Z-abc (full): failed (exit 3) in 8.8s",
        "lakehouse: /lake",
    ]
    assert "nothing to do" not in "\n".join(lines)
    tail = lines[lines.index("what failed:") + 1 :]
    assert tail == [
        "gate silver.orders.batch on silver.orders: 2 of 12 expectation(s) failed",
        "  - expect_column_values_to_not_be_null(order_id): 3 of 10 rows unexpected (30.00%)",
        "  - expect_column_values_to_be_between(total_amount, min_value=0): 1 of 10 rows unexpected (10.00%), "
        "e.g. [-5.0]",
        "schema drift refused in customers/customers_2.csv, column 'email' (missing, breaking): column 'email' "
        "(string) of bronze.customers is missing from customers/customers_2.csv",
        "reconciliation of orders (transform) does not balance: files -, records_read 10, bronze_added -, "
        "valid 7, quarantined 2, inserted 7, updated -, superseded -",
        "error: QualityGateFailed: suite silver.orders.batch on silver.orders failed -- nothing was published",
    ]
    # the tables are there on failure too: stages with the total, rows, and which reconciliation failed
    rows = [line.split() for line in lines]
    assert ["ingest", "3.50", "4", "2"] in rows
    assert ["total", "8.75", "13", "2"] in rows
    assert ["bronze.orders", "10", "0"] in rows and ["silver.orders", "-", "-"] in rows
    assert ["orders", "ingest", "10", "10", "-", "-", "-", "-", "-", "yes"] in rows
    assert ["orders", "transform", "10", "-", "7", "2", "7", "-", "-", "NO"] in rows


def test_successful_run_summary_says_nothing_failed_and_when_nothing_was_done() -> None:
    report = RunReport(skipped_files=["orders/o1.csv", "orders/o2.csv"])
    report.stages["plan"] = StageStats(0.5, 0, 0)
    lines = _render(RunEnd("success", 0, 0.75, report, {"bronze.orders": (10, 3)}, 1))
    assert lines[:3] == [
        "lakeforge run 20260302T060000Z-abc (full): success in 0.8s",
        "lakehouse: /lake",
        "nothing to do: no Spark session was started",
    ]
    assert "what failed:" not in lines
    assert "skipped 2 file(s) already ingested" in lines
    assert ["total", "0.75", "0", "1"] in [line.split() for line in lines]


def test_what_failed_is_empty_for_a_clean_report_and_names_any_other_error() -> None:
    assert what_failed(RunEnd("success", 0, 1.0, RunReport())) == []
    crash = RunEnd("failed", 1, 1.0, RunReport(), error=RuntimeError("disk full"))
    assert what_failed(crash) == ["error: RuntimeError: disk full"]


class _Recorder(RunObserver):
    def __init__(self) -> None:
        self.calls: list[tuple[str, object]] = []

    def stage_started(self, stage: str) -> None:
        self.calls.append(("stage_started", stage))

    def table_written(self, write: WriteMetrics) -> None:
        self.calls.append(("table_written", write.table))


class _Broken(RunObserver):
    def stage_started(self, stage: str) -> None:
        raise ValueError("observer bug")


def test_a_failing_observer_is_logged_and_the_others_still_hear(caplog: pytest.LogCaptureFixture) -> None:
    recorder = _Recorder()
    fan = Observers([_Broken(), recorder])
    with caplog.at_level(logging.WARNING, logger="lakeforge.ops.progress"):
        fan.stage_started("ingest")
        fan.table_written(WriteMetrics("bronze.orders", "append", 1, 1, 0, 0, 1, 10, 0.1, 0))
    assert recorder.calls == [("stage_started", "ingest"), ("table_written", "bronze.orders")]
    assert [r.getMessage() for r in caplog.records] == [
        "_Broken.stage_started failed: ValueError: observer bug"
    ]


def test_live_view_shows_tables_planned_and_done_rows_and_gates(restore_logging: None) -> None:
    console = Console(file=io.StringIO(), record=True, width=140)
    view = LiveView(console)
    view.run_started(RunStart("r1", "full", "test", CLOCK))
    assert logging.getLogger().handlers[0].__class__.__name__ == "RichHandler"  # logs print above the bars
    view.stage_started("plan")
    view.stage_finished("plan", StageStats(), None)
    view.planned(
        [
            PlannedStep("ingest", "ingest", "bronze.orders", ("bronze.orders",), (), ("orders/o1.csv",)),
            PlannedStep(
                "transform",
                "cleanse",
                "silver.orders",
                ("silver.orders", "quarantine.orders"),
                ("bronze.orders",),
            ),
        ]
    )
    view.stage_started("ingest")
    view.table_written(WriteMetrics("bronze.orders", "append", 10, 10, 0, 0, 1, 100, 0.1, 0))
    view.stage_finished("ingest", StageStats(), None)
    view.stage_started("transform")
    view.gate_checked(GateResult("quarantine.orders.ratio", "quarantine.orders", True, 1, 0))
    view.gate_checked(GateResult("silver.orders.batch", "silver.orders", False, 3, 1, ["x"]))
    view.stage_finished("transform", StageStats(), QualityGateFailed("gate"))
    view.run_finished(RunEnd("failed", 3, 1.0, RunReport()))
    text = console.export_text()
    assert "1/1 tables, 10 rows written" in text
    assert "0/2 tables, 0 rows written, gates 1 passed 1 failed  failed: QualityGateFailed" in text
    assert "✗ transform" in text
    assert logging.getLogger().handlers[0].__class__.__name__ != "RichHandler"  # given back
    view.close()  # twice is harmless


def test_cli_failure_prints_the_summary_on_stdout_and_one_error_line_last_on_stderr(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], restore_logging: None
) -> None:
    landing = tmp_path / "landing"
    (landing / "customers").mkdir(parents=True)
    (landing / "orders").mkdir()
    (landing / "orders" / "orders_1.csv").write_text(
        "order_id,customer_id,order_ts,status,updated_at\nO1,C1,2026-03-01T10:00:00Z,placed,2026-03-01T10:00:00Z\n"
    )
    config = tmp_path / "c.json"
    paths = {"landing": str(landing), "lakehouse": str(tmp_path / "lake")}
    config.write_text(json.dumps({"paths": paths, "environments": {"local": {}}}))
    args = [
        "run",
        "--config",
        str(config),
        "--cmd",
        "ingest",
        "--run-id",
        "r-drift",
        "--as-of",
        "2026-03-02T06:00:00Z",
    ]

    assert cli.main(args) == SchemaDriftError.exit_code == 4
    out, err = capsys.readouterr()
    lines = [line.rstrip() for line in out.splitlines()]
    assert lines[0].startswith("lakeforge run r-drift (ingest): failed (exit 4) in ")
    assert lines[lines.index("what failed:") + 1] == (
        "schema drift refused in orders/orders_1.csv, column 'total_amount' (missing, breaking): column "
        "'total_amount' (string) of bronze.orders is missing from orders/orders_1.csv"
    )
    assert ["bronze.orders", "-", "-"] in [line.split() for line in lines]  # nothing was written
    assert err.splitlines()[-1].startswith(
        "lakeforge: SchemaDriftError: column 'total_amount' (string) of bronze.orders is missing from "
        "orders/orders_1.csv"
    )

    assert cli.main([*args, "--json", "--run-id", "r-drift-2"]) == 4
    out, err = capsys.readouterr()
    summary = json.loads(out)
    assert (summary["run_id"], summary["status"], summary["exit_code"]) == ("r-drift-2", "failed", 4)
    assert summary["error"] == err.splitlines()[-1].removeprefix("lakeforge: ")
    assert [(d["location"], d["column"], d["action"]) for d in summary["drift"]] == [
        ("orders/orders_1.csv", "total_amount", "refused")
    ]
