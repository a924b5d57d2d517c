"""OpenTelemetry spans of a run: run -> stage -> table write / gate, exported by OTLP when configured.

    OTEL_EXPORTER_OTLP_ENDPOINT=http://collector:4318 lakeforge run --config config/local.yaml --cmd full

`tracing_observer()` returns None unless `OTEL_EXPORTER_OTLP_ENDPOINT` (or `..._TRACES_ENDPOINT`) is set,
and imports no OpenTelemetry module then: a run without a collector pays nothing. When set, the run gets
its own TracerProvider (not the global one) with a batching OTLP/HTTP exporter that reads the standard
`OTEL_EXPORTER_OTLP_*` variables; it is flushed and shut down when the run ends. Tests pass a tracer of
their own provider instead:

    provider = TracerProvider(); provider.add_span_processor(SimpleSpanProcessor(InMemorySpanExporter()))
    run_command(settings, ctx, observers=[TracingObserver(provider.get_tracer("test"))])
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from lakeforge.ops.progress import RunEnd, RunObserver, RunStart
from lakeforge.results import GateResult, StageStats, WriteMetrics

if TYPE_CHECKING:
    from opentelemetry.trace import Span, Tracer

SERVICE_NAME = "lakeforge"
ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")


def tracing_observer(environ: Mapping[str, str] | None = None) -> TracingObserver | None:
    """Spans exported by OTLP/HTTP when an OTLP endpoint is set (and the SDK is not disabled); else None."""
    env = os.environ if environ is None else environ
    if not any(env.get(name) for name in ENDPOINT_VARIABLES):
        return None
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return None
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    # OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES win over our default name
    resource = Resource.create({} if env.get("OTEL_SERVICE_NAME") else {"service.name": SERVICE_NAME})
    provider = TracerProvider(resource=resource, shutdown_on_exit=False)
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    return TracingObserver(provider.get_tracer("lakeforge"), on_finish=provider.shutdown)


def _now_ns() -> int:
    return time.time_ns()


class TracingObserver(RunObserver):
    """Turns the run's callbacks into spans. Names and attributes are in docs/operations.md."""

    def __init__(self, tracer: Tracer, on_finish: Callable[[], object] | None = None) -> None:
        self.tracer = tracer
        self.on_finish = on_finish
        self._run: Span | None = None
        self._stage: Span | None = None
        self._common: dict[str, Any] = {}

    def _child_of(self, parent: Span | None) -> Any:
        from opentelemetry import trace

        return trace.set_span_in_context(parent) if parent is not None else None

    def run_started(self, run: RunStart) -> None:
        self._common = {"lakeforge.run_id": run.run_id, "lakeforge.command": run.command}
        attributes: dict[str, Any] = {**self._common, "lakeforge.env": run.env}
        if run.logical_date is not None:
            attributes["lakeforge.logical_date"] = run.logical_date.isoformat()
        self._run = self.tracer.start_span(f"lakeforge {run.command}", attributes=attributes)

    def stage_started(self, stage: str) -> None:
        self._stage = self.tracer.start_span(
            f"stage {stage}",
            context=self._child_of(self._run),
            attributes={**self._common, "lakeforge.stage": stage},
        )

    def table_written(self, write: WriteMetrics) -> None:
        end = _now_ns()
        span = self.tracer.start_span(
            f"write {write.table}",
            context=self._child_of(self._stage or self._run),
            start_time=end - int(write.duration_s * 1e9),
            attributes={
                **self._common,
                "lakeforge.table": write.table,
                "lakeforge.write.mode": write.mode,
                "lakeforge.write.skipped": write.skipped,
                "lakeforge.rows_in": write.rows_in,
                "lakeforge.rows_inserted": write.inserted,
                "lakeforge.rows_updated": write.updated,
                "lakeforge.rows_deleted": write.deleted,
                "lakeforge.files_added": write.files_added,
                "lakeforge.bytes_added": write.bytes_added,
                **({} if write.version is None else {"lakeforge.delta.version": write.version}),
            },
        )
        span.end(end_time=end)

    def gate_checked(self, result: GateResult) -> None:
        from opentelemetry.trace import Status, StatusCode

        end = _now_ns()
        span = self.tracer.start_span(
            f"gate {result.suite}",
            context=self._child_of(self._stage or self._run),
            start_time=end - int(result.duration_s * 1e9),
            attributes={
                **self._common,
                "lakeforge.table": result.table,
                "lakeforge.gate.suite": result.suite,
                "lakeforge.gate.success": result.success,
                "lakeforge.gate.evaluated": result.evaluated,
                "lakeforge.gate.failed": result.failed,
                "lakeforge.gate.failures": list(result.failures),
            },
        )
        if not result.success:
            span.set_status(Status(StatusCode.ERROR, f"{result.failed} expectation(s) failed"))
        span.end(end_time=end)

    def stage_finished(self, stage: str, stats: StageStats, error: BaseException | None) -> None:
        span, self._stage = self._stage, None
        if span is None:
            return
        span.set_attributes(
            {"lakeforge.spark_jobs": stats.spark_jobs, "lakeforge.delta_commits": stats.delta_commits}
        )
        _fail(span, error)
        span.end()

    def run_finished(self, end: RunEnd) -> None:
        span, self._run = self._run, None
        try:
            if span is not None:
                span.set_attributes(
                    {
                        "lakeforge.status": end.status,
                        "lakeforge.exit_code": end.exit_code,
                        "lakeforge.delta_commits": end.delta_commits,
                        "lakeforge.jvm_started": end.report.jvm_started,
                    }
                )
                _fail(span, end.error)
                span.end()
        finally:
            if self.on_finish is not None:
                self.on_finish()  # export now: the CLI may leave by os._exit, past any atexit hook


def _fail(span: Span, error: BaseException | None) -> None:
    if error is None:
        return
    from opentelemetry.trace import Status, StatusCode

    span.record_exception(error)
    span.set_status(Status(StatusCode.ERROR, f"{type(error).__name__}: {error}"))
