"""Log lines: plain text by default, one JSON object per line with `logging.json_format: true`.

    configure(json_format=True, level="INFO")
    with log_context(run_id="r1", command="full"), log_context(stage="transform", table="silver.orders"):
        log.info("merged %s rows", 12, extra={"event": "write"})
    # {"time": "...", "level": "INFO", "logger": "lakeforge.writers.delta", "message": "merged 12 rows",
    #  "run_id": "r1", "command": "full", "stage": "transform", "table": "silver.orders", "event": "write"}

The context (run, stage, table) is carried by a ContextVar and copied onto every record by a filter, so
code that logs does not pass it around. JSON comes from python-json-logger, not from hand-made strings.
`event` names what happened (plan, write, gate, recompute, lock_wait, maintenance, ...); records
without one get `log`.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import IO

_CONTEXT: ContextVar[dict[str, str]] = ContextVar("lakeforge_log_context", default={})  # noqa: B039 - never mutated
PLAIN_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


@contextmanager
def log_context(**fields: str) -> Iterator[None]:
    """Add fields (run_id, command, stage, table) to every record logged inside the block."""
    token = _CONTEXT.set({**_CONTEXT.get(), **fields})
    try:
        yield
    finally:
        _CONTEXT.reset(token)


class ContextFilter(logging.Filter):
    """Copy the current log context onto the record, and give it an `event`."""

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in _CONTEXT.get().items():
            if not hasattr(record, key):
                setattr(record, key, value)
        if not hasattr(record, "event"):
            record.event = "log"
        return True


def configure(json_format: bool = False, level: str = "INFO", stream: IO[str] | None = None) -> None:
    """(Re)configure the root logger: one handler on stderr, plain text or JSON lines."""
    handler = logging.StreamHandler(stream or sys.stderr)
    if json_format:
        from pythonjsonlogger.json import JsonFormatter

        handler.setFormatter(
            JsonFormatter(
                "%(asctime)s %(levelname)s %(name)s %(message)s",
                rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
                json_ensure_ascii=False,
            )
        )
    else:
        handler.setFormatter(logging.Formatter(PLAIN_FORMAT))
    handler.addFilter(ContextFilter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
