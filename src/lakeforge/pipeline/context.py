"""The run context: an id, the command, and the run's clock, all given from outside the logic.

    ctx = RunContext.create(command="full", env="local", clock=datetime(2026, 3, 2, tzinfo=UTC))

Every timestamp a run writes (`_ingested_at`, `_quarantined_at`, run records) is `ctx.clock`, so a rerun
with the same clock writes the same values.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime


@dataclass(frozen=True)
class RunContext:
    run_id: str
    command: str
    env: str
    clock: datetime  # timezone-aware UTC
    logical_date: date | None = None

    @staticmethod
    def create(
        command: str,
        env: str,
        clock: datetime,
        run_id: str | None = None,
        logical_date: date | None = None,
    ) -> RunContext:
        if clock.tzinfo is None:
            raise ValueError("the run clock must be timezone-aware (UTC)")
        clock = clock.astimezone(UTC).replace(microsecond=0)
        rid = run_id or f"{clock:%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}"
        return RunContext(run_id=rid, command=command, env=env, clock=clock, logical_date=logical_date)

    @property
    def clock_naive_utc(self) -> datetime:
        """The clock as Spark's TimestampType wants it from Python (naive, UTC session time zone)."""
        return self.clock.astimezone(UTC).replace(tzinfo=None)
