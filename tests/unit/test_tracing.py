"""OpenTelemetry spans and OpenLineage events from the run's callbacks, driven by hand: the span tree and
its attributes, ERROR on failure, the lineage events and their datasets; and nothing at all (not even an
import) when neither is configured."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, date, datetime
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

from lakeforge.config.models import LineageSettings
from lakeforge.errors import QualityGateFailed
from lakeforge.ops.lineage import LineageObserver, dataset_name, lineage_configured, lineage_observer
from lakeforge.ops.progress import PlannedStep, RunEnd, RunObserver, RunStart
from lakeforge.ops.tracing import TracingObserver, tracing_observer
from lakeforge.results import GateResult, RunReport, StageStats, WriteMetrics

CLOCK = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)
RUN = RunStart(
    "20260302T060000Z-abc",
    "full",
    "test",
    CLOCK,
    date(2026, 3, 1),
    "/data/landing",
    {
        "bronze.orders": "/lake/bronze/orders",
        "silver.orders": "/lake/silver/orders",
        "quarantine.orders": "/lake/quarantine/orders",
    },
)
STEPS = [
    PlannedStep(
        "ingest", "ingest", "bronze.orders", ("bronze.orders",), (), ("orders/o1.csv", "orders/o2.csv")
    ),
    PlannedStep(
        "transform", "cleanse", "silver.orders", ("silver.orders", "quarantine.orders"), ("bronze.orders",)
    ),
]
BRONZE = WriteMetrics("bronze.orders", "append", 10, 10, 0, 0, 2, 2048, 0.5, 0)


def _drive(observer: RunObserver, fail: bool) -> None:
    """The callbacks of a full run that ingests, then fails (or passes) the silver gate."""
    observer.run_started(RUN)
    observer.stage_started("plan")
    observer.stage_finished("plan", StageStats(0.1, 0, 0), None)
    observer.planned(STEPS)
    observer.stage_started("ingest")
    observer.table_written(BRONZE)
    observer.stage_finished("ingest", StageStats(1.0, 3, 1), None)
    observer.stage_started("transform")
    failures = ["x: 1 of 9 rows"] if fail else []
    gate = GateResult("silver.orders.batch", "silver.orders", not fail, 4, len(failures), failures)
    observer.gate_checked(gate)
    error = QualityGateFailed("suite silver.orders.batch on silver.orders failed") if fail else None
    if not fail:
        observer.table_written(WriteMetrics("silver.orders", "merge", 9, 8, 1, 0, 1, 1000, 0.25, 3))
        observer.table_written(WriteMetrics("quarantine.orders", "append", 1, 1, 0, 0, 1, 100, 0.1, 0))
    observer.stage_finished("transform", StageStats(2.0, 5, 0 if fail else 2), error)
    observer.stage_started("record")
    observer.stage_finished("record", StageStats(0.2, 0, 0), None)
    report = RunReport(jvm_started=True)
    observer.run_finished(
        RunEnd("failed" if fail else "success", 3 if fail else 0, 4.0, report, {}, 2, error)
    )


@pytest.fixture
def spans() -> Iterator[tuple[TracingObserver, InMemorySpanExporter]]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()  # this test's own: the global provider is never set
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield TracingObserver(provider.get_tracer("test")), exporter
    provider.shutdown()


def tree(finished: tuple[ReadableSpan, ...]) -> dict[str, list[str]]:
    """parent span name -> its children's names, in the order they ended."""
    by_id = {s.context.span_id: s.name for s in finished}
    out: dict[str, list[str]] = {}
    for s in finished:
        parent = by_id[s.parent.span_id] if s.parent is not None else ""
        out.setdefault(parent, []).append(s.name)
    return out


def test_spans_nest_run_stage_write_and_gate_with_their_attributes(spans) -> None:  # type: ignore[no-untyped-def]
    observer, exporter = spans
    _drive(observer, fail=False)
    finished = exporter.get_finished_spans()
    assert tree(finished) == {
        "": ["lakeforge full"],
        "lakeforge full": ["stage plan", "stage ingest", "stage transform", "stage record"],
        "stage ingest": ["write bronze.orders"],
        "stage transform": ["gate silver.orders.batch", "write silver.orders", "write quarantine.orders"],
    }
    by_name = {s.name: s for s in finished}
    assert {s.context.trace_id for s in finished} == {by_name["lakeforge full"].context.trace_id}
    assert dict(by_name["lakeforge full"].attributes or {}) == {
        "lakeforge.run_id": "20260302T060000Z-abc",
        "lakeforge.command": "full",
        "lakeforge.env": "test",
        "lakeforge.logical_date": "2026-03-01",
        "lakeforge.status": "success",
        "lakeforge.exit_code": 0,
        "lakeforge.delta_commits": 2,
        "lakeforge.jvm_started": True,
    }
    write = dict(by_name["write silver.orders"].attributes or {})
    assert write == {
        "lakeforge.run_id": "20260302T060000Z-abc",
        "lakeforge.command": "full",
        "lakeforge.table": "silver.orders",
        "lakeforge.write.mode": "merge",
        "lakeforge.write.skipped": False,
        "lakeforge.rows_in": 9,
        "lakeforge.rows_inserted": 8,
        "lakeforge.rows_updated": 1,
        "lakeforge.rows_deleted": 0,
        "lakeforge.files_added": 1,
        "lakeforge.bytes_added": 1000,
        "lakeforge.delta.version": 3,
    }
    span = by_name["write silver.orders"]
    assert span.end_time is not None and span.start_time is not None
    assert span.end_time - span.start_time == 250_000_000  # the commit's own duration
    stage = dict(by_name["stage transform"].attributes or {})
    assert (stage["lakeforge.stage"], stage["lakeforge.spark_jobs"], stage["lakeforge.delta_commits"]) == (
        "transform",
        5,
        2,
    )
    assert by_name["gate silver.orders.batch"].attributes["lakeforge.gate.success"] is True  # type: ignore[index]
    assert all(s.status.status_code is StatusCode.UNSET for s in finished)


def test_a_failed_run_marks_gate_stage_and_run_spans_error_with_the_exception(spans) -> None:  # type: ignore[no-untyped-def]
    observer, exporter = spans
    _drive(observer, fail=True)
    by_name = {s.name: s for s in exporter.get_finished_spans()}
    errors = sorted(n for n, s in by_name.items() if s.status.status_code is StatusCode.ERROR)
    assert errors == ["gate silver.orders.batch", "lakeforge full", "stage transform"]
    run = by_name["lakeforge full"]
    assert run.status.description == "QualityGateFailed: suite silver.orders.batch on silver.orders failed"
    assert [(e.name, (e.attributes or {})["exception.type"]) for e in run.events] == [
        ("exception", "lakeforge.errors.QualityGateFailed")
    ]
    assert by_name["gate silver.orders.batch"].attributes["lakeforge.gate.failures"] == ("x: 1 of 9 rows",)  # type: ignore[index]
    assert by_name["stage ingest"].status.status_code is StatusCode.UNSET


def test_no_endpoint_no_tracer_and_nothing_imported() -> None:
    assert tracing_observer({}) is None
    assert (
        tracing_observer({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://x:4318", "OTEL_SDK_DISABLED": "true"})
        is None
    )
    made = tracing_observer({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9"})
    assert isinstance(made, TracingObserver) and made.on_finish is not None
    made.on_finish()  # shuts its own provider down; nothing was recorded, nothing is sent
    code = (
        "import sys\n"
        "from lakeforge.config.models import LineageSettings\n"
        "from lakeforge.ops.lineage import lineage_observer\n"
        "from lakeforge.ops.tracing import tracing_observer\n"
        "assert tracing_observer({}) is None and lineage_observer(LineageSettings(), {}) is None\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'opentelemetry', 'openlineage', 'rich'}))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd="/")
    assert (done.returncode, done.stdout) == (0, "[]\n"), done.stderr


class Recording(Transport):
    kind = "recording"

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def emit(self, event: Any) -> None:
        self.events.append(json.loads(Serde.to_json(event)))


def _lineage(fail: bool) -> list[dict[str, Any]]:
    transport = Recording()
    _drive(LineageObserver(OpenLineageClient(transport=transport), namespace="shop"), fail)
    return transport.events


def _datasets(items: list[dict[str, Any]]) -> list[tuple[str, str, Any]]:
    return [
        (
            d["namespace"],
            d["name"],
            [i["name"] for i in d.get("facets", {}).get("symlinks", {}).get("identifiers", [])],
        )
        for d in items
    ]


def _stats(items: list[dict[str, Any]]) -> dict[str, tuple[int, int, int]]:
    out = {}
    for d in items:
        s = d["outputFacets"]["outputStatistics"]
        out[d["name"]] = (s["rowCount"], s["size"], s["fileCount"])
    return out


def test_lineage_start_and_complete_with_inputs_outputs_and_row_counts() -> None:
    events = _lineage(fail=False)
    assert [e["eventType"] for e in events] == ["START", "COMPLETE"]
    assert {(e["job"]["namespace"], e["job"]["name"]) for e in events} == {("shop", "lakeforge.full")}
    assert len({e["run"]["runId"] for e in events}) == 1
    inputs = [
        ("file", "/data/landing/orders/o1.csv", []),
        ("file", "/data/landing/orders/o2.csv", []),
        ("file", "/lake/bronze/orders", ["bronze.orders"]),
    ]
    start, complete = events
    assert _datasets(start["inputs"]) == _datasets(complete["inputs"]) == inputs
    assert _datasets(start["outputs"]) == [
        ("file", "/lake/bronze/orders", ["bronze.orders"]),
        ("file", "/lake/silver/orders", ["silver.orders"]),
        ("file", "/lake/quarantine/orders", ["quarantine.orders"]),
    ]
    assert _stats(complete["outputs"]) == {
        "/lake/bronze/orders": (10, 2048, 2),
        "/lake/silver/orders": (9, 1000, 1),  # 8 inserted + 1 updated
        "/lake/quarantine/orders": (1, 100, 1),
    }
    assert complete["run"]["facets"]["nominalTime"]["nominalStartTime"] == "2026-03-01T00:00:00Z"
    assert complete["job"]["facets"]["jobType"]["processingType"] == "BATCH"
    assert "errorMessage" not in complete["run"]["facets"]


def test_lineage_fail_names_the_error_and_only_what_was_written() -> None:
    events = _lineage(fail=True)
    assert [e["eventType"] for e in events] == ["START", "FAIL"]
    fail = events[1]
    assert _stats(fail["outputs"]) == {"/lake/bronze/orders": (10, 2048, 2)}
    error = fail["run"]["facets"]["errorMessage"]
    assert (error["message"], error["programmingLanguage"]) == (
        "QualityGateFailed: suite silver.orders.batch on silver.orders failed",
        "python",
    )


def test_a_run_that_fails_while_planning_still_starts_then_fails() -> None:
    transport = Recording()
    observer = LineageObserver(OpenLineageClient(transport=transport))
    observer.run_started(RUN)
    observer.run_finished(RunEnd("failed", 4, 0.1, RunReport(), error=ValueError("bad header")))
    assert [(e["eventType"], e["inputs"], e["outputs"]) for e in transport.events] == [
        ("START", [], []),
        ("FAIL", [], []),
    ]
    assert transport.events[0]["job"] == {
        "namespace": "lakeforge",
        "name": "lakeforge.full",
        "facets": transport.events[0]["job"]["facets"],
    }


def test_lineage_is_configured_only_by_a_transport(tmp_path: Path) -> None:
    nowhere = {"cwd": tmp_path, "home": tmp_path}
    assert not lineage_configured(LineageSettings(), {}, **nowhere)
    assert lineage_configured(LineageSettings(transport={"type": "console"}), {}, **nowhere)
    assert lineage_configured(LineageSettings(), {"OPENLINEAGE_URL": "http://m:5000"}, **nowhere)
    assert lineage_configured(LineageSettings(), {"OPENLINEAGE__TRANSPORT__TYPE": "http"}, **nowhere)
    assert not lineage_configured(
        LineageSettings(), {"OPENLINEAGE_CONFIG": str(tmp_path / "none.yml")}, **nowhere
    )
    (tmp_path / "openlineage.yml").write_text("transport:\n  type: console\n")
    assert lineage_configured(LineageSettings(), {}, **nowhere)
    disabled = {"OPENLINEAGE_URL": "http://m:5000", "OPENLINEAGE_DISABLED": "true"}
    assert not lineage_configured(LineageSettings(transport={"type": "console"}), disabled, **nowhere)
    made = lineage_observer(LineageSettings(namespace="shop", transport={"type": "console"}), {})
    assert made is not None and (made.namespace, made.client.transport.kind) == ("shop", "console")


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("/lake/silver/orders", ("file", "/lake/silver/orders")),
        ("file:///lake/silver/orders", ("file", "/lake/silver/orders")),
        ("s3a://bucket/lake/silver/orders", ("s3://bucket", "lake/silver/orders")),
        ("gs://bucket/lake/t", ("gs://bucket", "lake/t")),
        ("hdfs://nn:8020/lake/t", ("hdfs://nn:8020", "/lake/t")),
    ],
)
def test_dataset_names_follow_the_openlineage_naming(uri: str, expected: tuple[str, str]) -> None:
    assert dataset_name(uri) == expected
