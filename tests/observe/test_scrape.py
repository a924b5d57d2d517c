"""A real scrape: a tiny pipeline run writes its textfile into the node exporter's folder; Prometheus
scrapes it, evaluates deploy/prometheus/alerts.yml, and answers every query of the Grafana dashboard."""

from __future__ import annotations

import json

import pytest

from lakeforge.config.models import MetricsSettings
from lakeforge.ops.metrics import write_metrics
from lakeforge.results import GateResult, RunReport
from lakeforge.sample.generator import generate
from tests.integration.helpers import run, settings_for, table_path
from tests.observe.conftest import ROOT, Stack

pytestmark = [pytest.mark.observe, pytest.mark.slow]

DASHBOARD = ROOT / "deploy" / "grafana" / "dashboards" / "lakeforge.json"


def L(**labels: str) -> tuple[tuple[str, str], ...]:  # noqa: N802 - reads like a label set
    return tuple(sorted(labels.items()))


@pytest.fixture(scope="module")
def scraped(spark, stack: Stack, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """One `full` run (scale 0.0005, two daily files) with its metrics in the stack's textfile folder."""
    root = tmp_path_factory.mktemp("scrape")
    generate(root / "landing", scale=0.0005, seed=31, files_per_source=2)
    settings = settings_for(root / "landing", root / "lake", max_ratio=0.5).model_copy(
        update={"metrics": MetricsSettings(prometheus_textfile=stack.metrics_dir / "lakeforge.prom")}
    )
    outcome = run(settings)
    assert outcome.status == "success"
    assert sorted(p.name for p in stack.metrics_dir.iterdir()) == ["lakeforge_full.prom"]
    stack.wait_for("the full run's series", lambda: stack.query('lakeforge_run_success{command="full"}'))
    return outcome, root / "lake"


def test_prometheus_scrapes_the_runs_exact_values(spark, stack: Stack, scraped) -> None:  # type: ignore[no-untyped-def]
    outcome, lake = scraped
    assert stack.query('lakeforge_run_success{command="full"}') == {L(command="full"): 1.0}
    assert stack.query('lakeforge_run_exit_code{command="full"}') == {L(command="full"): 0.0}
    counted = {
        table: float(spark.read.format("delta").load(table_path(lake, table)).count())
        for table in outcome.rows
    }
    assert stack.query("lakeforge_table_rows") == {
        L(command="full", table=table): n for table, n in counted.items()
    }
    # a first run only inserts: rows written = rows in each table, none updated or deleted
    written = stack.query("lakeforge_table_rows_written")
    assert {dict(k)["table"]: v for k, v in written.items() if dict(k)["operation"] == "inserted"} == counted
    assert {v for k, v in written.items() if dict(k)["operation"] != "inserted"} == {0.0}
    for source in ("customers", "orders"):
        quarantined = counted[f"quarantine.{source}"]
        records = stack.query(f'lakeforge_records{{source="{source}", stage="transform"}}')
        assert (
            records[L(command="full", source=source, stage="transform", outcome="quarantined")] == quarantined
        )
        read = records[L(command="full", source=source, stage="transform", outcome="records_read")]
        assert read == counted[f"bronze.{source}"]
        assert stack.query(f'lakeforge_quarantine_ratio{{source="{source}"}}') == {
            L(command="full", source=source): pytest.approx(quarantined / read)
        }
    assert set(stack.query("lakeforge_reconciliation_balanced").values()) == {1.0}
    assert stack.query("node_textfile_scrape_error") == {(): 0.0}


def test_a_second_commands_file_shows_beside_it_and_fires_its_alert(stack: Stack, scraped) -> None:  # type: ignore[no-untyped-def]
    report = RunReport(gates=[GateResult("gold.daily_revenue.published", "gold.daily_revenue", False, 3, 1)])
    write_metrics(
        stack.metrics_dir / "lakeforge.prom",
        command="validate",
        run_id="v1",
        finished=1_800_000_000.0,
        status="failed",
        exit_code=3,
        duration_s=2.0,
        report=report,
        rows={},
    )
    stack.wait_for("the validate file", lambda: len(stack.query("lakeforge_run_success")) == 2)
    assert stack.query("lakeforge_run_success") == {L(command="full"): 1.0, L(command="validate"): 0.0}
    assert stack.query("node_textfile_scrape_error") == {(): 0.0}  # no series exported twice

    def firing() -> set[tuple[str, str]]:
        alerts = stack.api("alerts")["alerts"]
        return {
            (a["labels"]["alertname"], a["labels"].get("command", ""))
            for a in alerts
            if a["state"] == "firing"
        }

    expected = {
        ("LakeforgeRunFailed", "validate"),
        ("LakeforgeGateFailed", "validate"),
        # the test's run clock is 2026-03-11 (tests.integration.helpers.CLOCK): its success is "old"
        ("LakeforgeNoRecentSuccess", "full"),
    }
    stack.wait_for("the alerts", lambda: firing() >= expected)
    assert firing() == expected
    rules = [r for g in stack.api("rules")["groups"] for r in g["rules"]]
    assert len(rules) == 7 and {r["health"] for r in rules} == {"ok"}


def test_every_dashboard_query_runs_and_finds_series(stack: Stack, scraped) -> None:  # type: ignore[no-untyped-def]
    panels = json.loads(DASHBOARD.read_text())["panels"]
    for panel in panels:
        for target in panel["targets"]:
            result = stack.api("query", query=target["expr"])["result"]  # a syntax error answers 400
            assert result, f"panel {panel['title']!r}: {target['expr']!r} found nothing"
