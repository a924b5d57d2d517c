"""The safe Delta writer: the only code that commits to a Delta table."""

from lakeforge.writers.delta import SafeDeltaWriter, WriteMetrics

__all__ = ["SafeDeltaWriter", "WriteMetrics"]
