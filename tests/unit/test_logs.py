"""lakeforge.logs: plain text by default, one JSON object per line with the run's context when asked."""

from __future__ import annotations

import io
import json
import logging

from lakeforge.logs import PLAIN_FORMAT, configure, log_context


def test_json_lines_carry_run_stage_table_and_event(restore_logging: None) -> None:
    out = io.StringIO()
    configure(json_format=True, level="INFO", stream=out)
    log = logging.getLogger("lakeforge.writers.delta")
    with log_context(run_id="r1", command="full"):
        log.info("plan: %s", "ingest bronze.orders")
        with log_context(stage="transform"), log_context(table="silver.orders"):
            log.info("merged %s rows into %s", 12, "silver.orders", extra={"event": "write"})
        log.warning("café, naïve: not ASCII")
    log.debug("below the level: not written")
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert len(lines) == 3
    for line in lines:
        assert line.pop("time")
    assert lines == [
        {"level": "INFO", "logger": "lakeforge.writers.delta", "message": "plan: ingest bronze.orders",
         "run_id": "r1", "command": "full", "event": "log"},
        {"level": "INFO", "logger": "lakeforge.writers.delta", "message": "merged 12 rows into silver.orders",
         "run_id": "r1", "command": "full", "stage": "transform", "table": "silver.orders", "event": "write"},
        {"level": "WARNING", "logger": "lakeforge.writers.delta", "message": "café, naïve: not ASCII",
         "run_id": "r1", "command": "full", "event": "log"},
    ]  # fmt: skip


def test_plain_text_is_the_default_and_the_context_does_not_leak(restore_logging: None) -> None:
    out = io.StringIO()
    configure(stream=out)
    log = logging.getLogger("lakeforge.x")
    with log_context(run_id="r2"):
        log.info("inside")
    log.info("outside")
    text = out.getvalue().splitlines()
    assert [line.split(" ", 2)[2] for line in text] == [
        "INFO lakeforge.x: inside",
        "INFO lakeforge.x: outside",
    ]
    assert not text[0].startswith("{")
    assert PLAIN_FORMAT == "%(asctime)s %(levelname)s %(name)s: %(message)s"
    record = logging.LogRecord("lakeforge.x", logging.INFO, __file__, 1, "m", None, None)
    handler = logging.getLogger().handlers[0]
    handler.filter(record)
    assert not hasattr(record, "run_id")  # the context ended with its block
