"""Spans and lineage events of real in-process runs (the shared Spark session, scale 0.0005, one day):
a clean full run, then one that fails its quarantine gate. The exporters are in memory and belong to
this module: no global tracer provider is set. The expected names come from the flow graph."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from openlineage.client import OpenLineageClient
from openlineage.client.serde import Serde
from openlineage.client.transport import Transport
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from lakeforge.errors import QualityGateFailed
from lakeforge.ops.lineage import LineageObserver
from lakeforge.ops.tracing import TracingObserver
from lakeforge.pipeline.context import RunContext
from lakeforge.pipeline.runner import Outcome, run_command
from lakeforge.sample.generator import generate
from tests.integration.helpers import CLOCK, DATA_TABLES, GRAPH, settings_for, table_path

pytestmark = pytest.mark.slow


class Recording(Transport):
    kind = "recording"

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def emit(self, event: Any) -> None:
        self.events.append(json.loads(Serde.to_json(event)))


@dataclass
class Observed:
    spans: tuple[ReadableSpan, ...]
    events: list[dict[str, Any]]


@dataclass
class Runs:
    landing: Path
    files: list[str]  # the landing files of the clean run
    lake: Path
    ok: Outcome
    clean: Observed
    failed: Observed
    error: QualityGateFailed


def _observed(settings: Any, run_id: str) -> tuple[Observed, Outcome | QualityGateFailed]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    transport = Recording()
    observers = [
        TracingObserver(provider.get_tracer("test")),
        LineageObserver(OpenLineageClient(transport=transport), namespace="test"),
    ]
    ctx = RunContext.create(command="full", env="test", clock=CLOCK, run_id=run_id)
    try:
        result: Outcome | QualityGateFailed = run_command(settings, ctx, observers=observers)
    except QualityGateFailed as exc:
        result = exc
    finally:
        provider.shutdown()
    return Observed(exporter.get_finished_spans(), transport.events), result


@pytest.fixture(scope="module")
def runs(spark, tmp_path_factory: pytest.TempPathFactory) -> Runs:  # type: ignore[no-untyped-def]
    root = tmp_path_factory.mktemp("telemetry")
    generate(root / "generated", scale=0.0005, seed=31)
    landing = root / "landing"
    for source in ("customers", "orders"):
        (landing / source).mkdir(parents=True)
        name = f"{source}_20260301.csv"
        shutil.copy2(root / "generated" / source / name, landing / source / name)
    files = sorted(str(p) for p in landing.glob("*/*.csv"))
    settings = settings_for(landing, root / "lake", max_ratio=0.5)
    clean, ok = _observed(settings, "telemetry-ok")
    assert isinstance(ok, Outcome) and ok.status == "success"
    (landing / "orders" / "orders_20260302.csv").write_text(
        "order_id,customer_id,order_ts,status,total_amount,updated_at\n"
        + "".join(f"B{i},C1,not-a-time,placed,1.00,2026-03-02T10:00:00Z\n" for i in range(5))
        + "G1,C1,2026-03-02T10:00:00Z,placed,1.00,2026-03-02T10:00:00Z\n"
    )
    failed, error = _observed(settings, "telemetry-fail")
    assert isinstance(error, QualityGateFailed)
    return Runs(landing, files, root / "lake", ok, clean, failed, error)


def _children(spans: tuple[ReadableSpan, ...]) -> dict[str, list[str]]:
    names = {s.context.span_id: s.name for s in spans}
    out: dict[str, list[str]] = {}
    for s in spans:
        out.setdefault(names[s.parent.span_id] if s.parent else "", []).append(s.name)
    return {k: sorted(v) for k, v in out.items()}


def _attrs(spans: tuple[ReadableSpan, ...], name: str) -> dict[str, Any]:
    [span] = [s for s in spans if s.name == name]
    return dict(span.attributes or {})


def test_a_clean_run_is_one_trace_run_stage_write_and_gate(runs: Runs) -> None:
    spans = runs.clean.spans
    sources, derived = GRAPH.sources, [d.table for d in GRAPH.derived]
    assert _children(spans) == {
        "": ["lakeforge full"],
        "lakeforge full": sorted(
            f"stage {s}" for s in ("plan", "spark", "ingest", "transform", "load", "record")
        ),
        "stage ingest": sorted(f"write {s.bronze}" for s in sources),
        "stage transform": sorted(
            [f"write {t}" for s in sources for t in s.outputs]
            + [f"gate {s.quarantine}.ratio" for s in sources]
            + [f"gate {s.silver}.batch" for s in sources]
        ),
        "stage load": sorted([f"write {t}" for t in derived] + [f"gate {t}.batch" for t in derived]),
    }
    assert len({s.context.trace_id for s in spans}) == 1
    assert all(s.status.status_code is StatusCode.UNSET for s in spans)
    run = _attrs(spans, "lakeforge full")
    assert (run["lakeforge.run_id"], run["lakeforge.command"], run["lakeforge.status"]) == (
        "telemetry-ok",
        "full",
        "success",
    )
    assert run["lakeforge.delta_commits"] == runs.ok.delta_commits
    for table in DATA_TABLES:  # a first run inserts every row, at version 0
        write = _attrs(spans, f"write {table}")
        assert (write["lakeforge.rows_inserted"], write["lakeforge.delta.version"]) == (
            runs.ok.rows[table][0],
            0,
        )  # type: ignore[index]
        assert write["lakeforge.run_id"] == "telemetry-ok"
    stages = {s: runs.ok.report.stages[s] for s in ("ingest", "transform", "load")}
    for name, stats in stages.items():
        got = _attrs(spans, f"stage {name}")
        assert (got["lakeforge.spark_jobs"], got["lakeforge.delta_commits"]) == (
            stats.spark_jobs,
            stats.delta_commits,
        )


def test_a_clean_run_sends_start_and_complete_with_files_tables_and_row_counts(runs: Runs) -> None:
    events = runs.clean.events
    assert [e["eventType"] for e in events] == ["START", "COMPLETE"]
    assert {(e["job"]["namespace"], e["job"]["name"]) for e in events} == {("test", "lakeforge.full")}
    read = {s.bronze for s in GRAPH.sources} | {t for d in GRAPH.derived for t in d.inputs}
    expected_inputs = runs.files + sorted(table_path(runs.lake, t) for t in read)
    for event in events:
        assert all(d["namespace"] == "file" for d in event["inputs"] + event["outputs"])
        assert sorted(d["name"] for d in event["inputs"]) == sorted(expected_inputs)
        assert sorted(d["name"] for d in event["outputs"]) == sorted(
            table_path(runs.lake, t) for t in DATA_TABLES
        )
    counts = {d["name"]: d["outputFacets"]["outputStatistics"]["rowCount"] for d in events[1]["outputs"]}
    assert counts == {table_path(runs.lake, t): runs.ok.rows[t][0] for t in DATA_TABLES}  # type: ignore[index]


def test_a_failed_run_marks_its_gate_stage_and_run_error_and_sends_fail(runs: Runs) -> None:
    spans = runs.failed.spans
    orders = GRAPH.source("orders")
    errors = sorted(s.name for s in spans if s.status.status_code is StatusCode.ERROR)
    assert errors == sorted(["lakeforge full", "stage transform", f"gate {orders.quarantine}.ratio"])
    assert "stage load" not in _children(spans)["lakeforge full"]
    assert _children(spans)["stage ingest"] == [f"write {orders.bronze}"]
    run = _attrs(spans, "lakeforge full")
    assert (run["lakeforge.status"], run["lakeforge.exit_code"]) == ("failed", 3)
    [span] = [s for s in spans if s.name == "lakeforge full"]
    assert span.status.description == f"QualityGateFailed: {runs.error}"
    assert [e.attributes["exception.type"] for e in span.events] == ["lakeforge.errors.QualityGateFailed"]  # type: ignore[index]
    gate = _attrs(spans, f"gate {orders.quarantine}.ratio")
    assert (gate["lakeforge.gate.success"], gate["lakeforge.gate.failed"]) == (False, 1)
    assert gate["lakeforge.gate.failures"][0].startswith("quarantine ratio 0.8333 (5 of 6 records) exceeds")

    events = runs.failed.events
    assert [e["eventType"] for e in events] == ["START", "FAIL"]
    assert [f["name"] for f in events[1]["inputs"] if f["name"].endswith(".csv")] == [
        str(runs.landing / "orders" / "orders_20260302.csv")
    ]
    outputs = {d["name"]: d["outputFacets"]["outputStatistics"]["rowCount"] for d in events[1]["outputs"]}
    assert outputs == {table_path(runs.lake, orders.bronze): 6}  # bronze keeps the raw records; nothing else
    assert events[1]["run"]["facets"]["errorMessage"]["message"] == f"QualityGateFailed: {runs.error}"
