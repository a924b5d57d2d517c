"""Shared fixtures: one Spark session for the whole test run (local[2], UTC, UI off, Delta enabled)."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

import pytest

os.environ["TZ"] = "UTC"
time.tzset()


@pytest.fixture(scope="session")
def spark() -> Iterator[object]:
    from lakeforge.config.models import SparkSettings
    from lakeforge.spark import build_spark

    session = build_spark(SparkSettings(master="local[2]", shuffle_partitions=2, driver_memory="2g"))
    yield session
    session.stop()
