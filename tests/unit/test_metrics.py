"""lakeforge.ops.metrics: one textfile per command, exact values from a hand-built RunReport, the last
success kept across failures, and alerts and dashboard that ask only for metrics the code exports."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from lakeforge.ops.metrics import command_textfile, write_metrics
from lakeforge.results import GateResult, Reconciliation, RunReport, StageStats, WriteMetrics

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS = ROOT / "deploy" / "prometheus"
DASHBOARD = ROOT / "deploy" / "grafana" / "dashboards" / "lakeforge.json"

Series = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def _write(m: str, table: str, ins: int, upd: int = 0, dele: int = 0, skipped: bool = False) -> WriteMetrics:
    return WriteMetrics(table, m, ins + upd, ins, upd, dele, 1, 100, 0.5, 3, skipped=skipped)


def full_report() -> RunReport:
    """A `full` run over one source: every kind of result the metrics read."""
    return RunReport(
        writes=[
            _write("append", "bronze.orders", 100),
            _write("append", "quarantine.orders", 3),
            _write("merge", "silver.orders", 90, upd=5),
            _write("merge", "silver.orders", 1, upd=1),  # a second commit to the same table in the run
            _write("replace_where", "gold.daily_revenue", 4, dele=2),
            _write("merge", "gold.customer_ltv", 0, skipped=True),  # a retry found its commit done
        ],
        reconciliation=[
            Reconciliation("orders", "ingest", files=2, records_read=100, bronze_added=100),
            Reconciliation(
                "orders",
                "transform",
                records_read=100,
                valid=97,
                quarantined=3,
                inserted=91,
                updated=6,
                superseded=0,
            ),
        ],
        gates=[
            GateResult("quarantine.orders.ratio", "quarantine.orders", True, 1, 0),
            GateResult("silver.orders.batch", "silver.orders", True, 4, 0),
        ],
        stages={
            "plan": StageStats(0.25),
            "ingest": StageStats(3.5, spark_jobs=4, delta_commits=1),
            "transform": StageStats(6.0, spark_jobs=9, delta_commits=3),
            "load": StageStats(2.0, spark_jobs=2, delta_commits=1),
        },
    )


ROWS: dict[str, tuple[int, int] | None] = {
    "bronze.orders": (100, 1),
    "silver.orders": (97, 2),
    "gold.daily_revenue": (4, 1),
    "gold.customer_ltv": None,  # no table yet: no series
}


def series(path: Path) -> Series:
    """Every sample of a textfile: (name, sorted labels) -> value."""
    out: Series = {}
    for family in text_string_to_metric_families(path.read_text()):
        for s in family.samples:
            key = (s.name, tuple(sorted(s.labels.items())))
            assert key not in out, f"{key} twice in {path}"
            out[key] = s.value
    return out


def named(found: Series, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    return {labels: value for (n, labels), value in found.items() if n == name}


def L(**labels: str) -> tuple[tuple[str, str], ...]:  # noqa: N802 - reads like a label set
    return tuple(sorted(labels.items()))


def write(base: Path, command: str = "full", **kwargs: Any) -> Path:
    args: dict[str, Any] = {
        "run_id": "r1",
        "finished": 1_800_000_000.0,
        "status": "success",
        "exit_code": 0,
        "duration_s": 12.5,
        "report": full_report(),
        "rows": ROWS,
    }
    args.update(kwargs)
    return write_metrics(base, command=command, **args)


def test_a_full_run_exports_exact_values_per_run_stage_table_source_and_gate(tmp_path: Path) -> None:
    path = write(tmp_path / "lakeforge.prom")
    assert path == tmp_path / "lakeforge_full.prom"
    found = series(path)
    full = L(command="full")
    run = {name: named(found, name) for name in {n for n, _ in found if n.startswith("lakeforge_run_")}}
    assert run == {
        "lakeforge_run_success": {full: 1.0},
        "lakeforge_run_exit_code": {full: 0.0},
        "lakeforge_run_duration_seconds": {full: 12.5},
        "lakeforge_run_finished_timestamp_seconds": {full: 1_800_000_000.0},
        "lakeforge_run_last_success_timestamp_seconds": {full: 1_800_000_000.0},
        "lakeforge_run_info": {L(command="full", run_id="r1"): 1.0},
    }
    assert named(found, "lakeforge_stage_duration_seconds") == {
        L(command="full", stage="plan"): 0.25,
        L(command="full", stage="ingest"): 3.5,
        L(command="full", stage="transform"): 6.0,
        L(command="full", stage="load"): 2.0,
    }
    assert named(found, "lakeforge_stage_spark_jobs")[L(command="full", stage="transform")] == 9
    assert named(found, "lakeforge_stage_delta_commits") == {
        L(command="full", stage="plan"): 0,
        L(command="full", stage="ingest"): 1,
        L(command="full", stage="transform"): 3,
        L(command="full", stage="load"): 1,
    }
    assert named(found, "lakeforge_table_rows") == {
        L(command="full", table="bronze.orders"): 100,
        L(command="full", table="silver.orders"): 97,
        L(command="full", table="gold.daily_revenue"): 4,
    }
    assert named(found, "lakeforge_table_version")[L(command="full", table="silver.orders")] == 2
    written = named(found, "lakeforge_table_rows_written")
    assert {k: v for k, v in written.items() if v} == {
        L(command="full", table="bronze.orders", operation="inserted"): 100,
        L(command="full", table="quarantine.orders", operation="inserted"): 3,
        L(command="full", table="silver.orders", operation="inserted"): 91,
        L(command="full", table="silver.orders", operation="updated"): 6,
        L(command="full", table="gold.daily_revenue", operation="inserted"): 4,
        L(command="full", table="gold.daily_revenue", operation="deleted"): 2,
    }
    assert len(written) == 5 * 3  # every table written (the skipped one too) has all three operations
    assert named(found, "lakeforge_table_commits") == {
        L(command="full", table="bronze.orders"): 1,
        L(command="full", table="quarantine.orders"): 1,
        L(command="full", table="silver.orders"): 2,
        L(command="full", table="gold.daily_revenue"): 1,
        L(command="full", table="gold.customer_ltv"): 0,
    }
    assert named(found, "lakeforge_table_write_seconds")[L(command="full", table="silver.orders")] == 1.0
    assert named(found, "lakeforge_records") == {
        L(command="full", source="orders", stage="ingest", outcome="records_read"): 100,
        L(command="full", source="orders", stage="ingest", outcome="bronze_added"): 100,
        L(command="full", source="orders", stage="transform", outcome="records_read"): 100,
        L(command="full", source="orders", stage="transform", outcome="valid"): 97,
        L(command="full", source="orders", stage="transform", outcome="quarantined"): 3,
        L(command="full", source="orders", stage="transform", outcome="inserted"): 91,
        L(command="full", source="orders", stage="transform", outcome="updated"): 6,
        L(command="full", source="orders", stage="transform", outcome="superseded"): 0,
    }
    assert named(found, "lakeforge_source_files") == {L(command="full", source="orders", stage="ingest"): 2}
    assert named(found, "lakeforge_reconciliation_balanced") == {
        L(command="full", source="orders", stage="ingest"): 1,
        L(command="full", source="orders", stage="transform"): 1,
    }
    assert named(found, "lakeforge_quarantine_ratio") == {L(command="full", source="orders"): 0.03}
    assert named(found, "lakeforge_gate_success") == {
        L(command="full", suite="quarantine.orders.ratio", table="quarantine.orders"): 1,
        L(command="full", suite="silver.orders.batch", table="silver.orders"): 1,
    }
    assert (
        named(found, "lakeforge_gate_evaluated_expectations")[
            L(command="full", suite="silver.orders.batch", table="silver.orders")
        ]
        == 4
    )
    assert set(named(found, "lakeforge_gate_failed_expectations").values()) == {0}


def test_a_failed_run_keeps_when_the_command_last_succeeded(tmp_path: Path) -> None:
    base = tmp_path / "lakeforge.prom"
    write(base, command="transform", finished=1_000.0)
    report = RunReport(
        gates=[
            GateResult("silver.orders.batch", "silver.orders", False, 4, 2, ["keys unique"]),
            GateResult("silver.orders.batch", "silver.orders", True, 4, 0),  # the same suite twice
        ],
        stages={"plan": StageStats(0.5), "transform": StageStats(4.0, spark_jobs=3)},
    )
    path = write(
        base, command="transform", run_id="r2", finished=2_000.0, status="failed", exit_code=3, report=report
    )
    found = series(path)
    t = L(command="transform")
    assert named(found, "lakeforge_run_success") == {t: 0}
    assert named(found, "lakeforge_run_exit_code") == {t: 3}
    assert named(found, "lakeforge_run_finished_timestamp_seconds") == {t: 2_000.0}
    assert named(found, "lakeforge_run_last_success_timestamp_seconds") == {t: 1_000.0}
    assert named(found, "lakeforge_run_info") == {L(command="transform", run_id="r2"): 1}
    gate = L(command="transform", suite="silver.orders.batch", table="silver.orders")
    assert named(found, "lakeforge_gate_success") == {gate: 0}
    assert named(found, "lakeforge_gate_failed_expectations") == {gate: 2}
    assert named(found, "lakeforge_gate_evaluated_expectations") == {gate: 8}
    assert named(found, "lakeforge_records") == {}
    assert named(found, "lakeforge_quarantine_ratio") == {}

    # a second failure still knows the success; the next success moves it
    write(base, command="transform", run_id="r3", finished=3_000.0, status="failed", exit_code=1)
    assert named(series(path), "lakeforge_run_last_success_timestamp_seconds") == {t: 1_000.0}
    write(base, command="transform", run_id="r4", finished=4_000.0)
    assert named(series(path), "lakeforge_run_last_success_timestamp_seconds") == {t: 4_000.0}


def test_a_command_that_never_succeeded_has_no_last_success(tmp_path: Path) -> None:
    path = write(tmp_path / "lakeforge.prom", command="load", status="failed", exit_code=4)
    found = series(path)
    assert named(found, "lakeforge_run_success") == {L(command="load"): 0}
    assert named(found, "lakeforge_run_last_success_timestamp_seconds") == {}


def test_an_unreadable_previous_file_loses_only_the_last_success(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "lakeforge_full.prom"
    path.write_text('lakeforge_run_last_success_timestamp_seconds{command="full" 12\n')  # truncated
    with caplog.at_level(logging.WARNING, logger="lakeforge.ops.metrics"):
        write(tmp_path / "lakeforge.prom", status="failed", exit_code=1)
    assert named(series(path), "lakeforge_run_last_success_timestamp_seconds") == {}
    assert f"could not read the last success time from {path}" in caplog.text


def test_an_unbalanced_reconciliation_is_exported_as_0(tmp_path: Path) -> None:
    report = full_report()
    report.reconciliation[1].quarantined = 2  # 97 + 2 != 100 read
    path = write(tmp_path / "lakeforge.prom", status="failed", exit_code=4, report=report)
    assert named(series(path), "lakeforge_reconciliation_balanced") == {
        L(command="full", source="orders", stage="ingest"): 1,
        L(command="full", source="orders", stage="transform"): 0,
    }


def test_the_commands_of_a_dag_run_write_their_own_files_without_a_common_series(tmp_path: Path) -> None:
    base = tmp_path / "metrics" / "lakeforge.prom"
    base.parent.mkdir()
    base.write_text('lakeforge_run_success{command="full"} 1\n')  # left by a version with one file
    paths = [write(base, command=c) for c in ("ingest", "transform", "load", "validate")]
    assert sorted(p.name for p in base.parent.iterdir()) == [
        "lakeforge_ingest.prom",
        "lakeforge_load.prom",
        "lakeforge_transform.prom",
        "lakeforge_validate.prom",
    ]  # no temp files left, and the old single file is gone (it would repeat the series)
    seen: dict[tuple[str, tuple[tuple[str, str], ...]], str] = {}
    for path, command in zip(paths, ("ingest", "transform", "load", "validate"), strict=True):
        for key in series(path):
            assert dict(key[1])["command"] == command
            assert key not in seen, f"{key} in {seen.get(key)} and {path}"
            seen[key] = path.name
    assert named(series(paths[0]), "lakeforge_run_success") == {L(command="ingest"): 1}


@pytest.mark.parametrize(
    ("configured", "expected"),
    [
        ("lakeforge.prom", "lakeforge_full.prom"),
        ("node/pipeline-a.prom", "node/pipeline-a_full.prom"),
        ("node/pipeline-a", "node/pipeline-a_full.prom"),  # the collector reads only *.prom
        ("node/metrics.txt", "node/metrics_full.prom"),
    ],
)
def test_per_command_names_derive_from_the_configured_file(
    tmp_path: Path, configured: str, expected: str
) -> None:
    assert command_textfile(tmp_path / configured, "full") == tmp_path / expected


def test_a_configured_folder_gets_lakeforge_files_inside(tmp_path: Path) -> None:
    path = write(tmp_path, command="validate")
    assert path == tmp_path / "lakeforge_validate.prom"
    assert named(series(path), "lakeforge_run_success") == {L(command="validate"): 1}


def test_the_push_uses_a_grouping_key_per_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pushed: list[tuple[str, str, bytes]] = []

    def handler(url: str, method: str, timeout: float | None, headers: list[Any], data: bytes) -> Any:
        return lambda: pushed.append((url, method, data))

    from lakeforge.ops import metrics

    original = metrics.push_to_gateway

    def push(*args: Any, **kwargs: Any) -> None:
        original(*args, handler=handler, **kwargs)

    monkeypatch.setattr(metrics, "push_to_gateway", push)
    write(tmp_path / "lakeforge.prom", command="ingest", pushgateway_url="http://gw:9091")
    [(url, method, data)] = pushed
    assert (url, method) == ("http://gw:9091/metrics/job/lakeforge/command/ingest", "PUT")
    assert 'lakeforge_run_success{command="ingest"} 1.0' in data.decode()


# --- alerts and dashboard ask only for what the code exports ------------------------------------------


def exported_names(tmp_path: Path) -> set[str]:
    """Every metric name a successful full run exports (a failed run adds none of its own)."""
    path = write(tmp_path / "lakeforge.prom")
    return {name for name, _ in series(path)}


def alert_rules() -> list[dict[str, Any]]:
    doc = yaml.safe_load((PROMETHEUS / "alerts.yml").read_text())
    return [rule for group in doc["groups"] for rule in group["rules"]]


def dashboard_exprs() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    return [t["expr"] for p in dashboard["panels"] for t in p["targets"]]


METRIC = re.compile(r"\blakeforge_[a-z0-9_]+")


@pytest.mark.parametrize("where", ["alerts", "dashboard"])
def test_alerts_and_dashboard_ask_only_for_exported_metrics(tmp_path: Path, where: str) -> None:
    exprs = [r["expr"] for r in alert_rules()] if where == "alerts" else dashboard_exprs()
    exported = exported_names(tmp_path)
    assert len(exprs) >= 7
    for expr in exprs:
        used = set(METRIC.findall(expr))
        assert used, f"{expr!r} asks for no lakeforge metric"
        assert used <= exported, f"{expr!r} asks for {sorted(used - exported)}, not exported"


def test_the_metric_check_sees_a_misspelt_name(tmp_path: Path) -> None:
    assert set(METRIC.findall("sum(lakeforge_table_row) by (table)")) - exported_names(tmp_path) == {
        "lakeforge_table_row"
    }


def test_every_alert_has_a_promtool_test_and_the_dashboard_one_datasource() -> None:
    tests = yaml.safe_load((PROMETHEUS / "alerts_test.yml").read_text())["tests"]
    tested = {case["alertname"] for t in tests for case in t["alert_rule_test"]}
    firing = {case["alertname"] for t in tests for case in t["alert_rule_test"] if case["exp_alerts"]}
    silent = {case["alertname"] for t in tests for case in t["alert_rule_test"] if not case["exp_alerts"]}
    names = {r["alert"] for r in alert_rules()}
    assert names == tested == firing == silent
    assert names >= {
        "LakeforgeRunFailed",
        "LakeforgeGateFailed",
        "LakeforgeReconciliationUnbalanced",
        "LakeforgeNoRecentSuccess",
        "LakeforgeQuarantineRatioRising",
        "LakeforgeDurationRegression",
    }
    dashboard = json.loads(DASHBOARD.read_text())
    provisioned = yaml.safe_load((ROOT / "deploy/grafana/provisioning/datasources/lakeforge.yml").read_text())
    [source] = provisioned["datasources"]
    uids = {p["datasource"]["uid"] for p in dashboard["panels"]}
    uids |= {t["datasource"]["uid"] for p in dashboard["panels"] for t in p["targets"]}
    assert uids == {source["uid"]}
    assert len({p["id"] for p in dashboard["panels"]}) == len(dashboard["panels"])
