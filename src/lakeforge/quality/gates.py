"""The quality gate: a table's suite run on a DataFrame before it is published.

    gate = QualityGate(registry, docs_dir=lakehouse / "_ops" / "data_docs")
    result = gate.check(df, "silver.orders", suite="silver.orders.batch")   # GateResult
    if not result.success: raise QualityGateFailed(...)

The suite of a table is generated from its contract (keys unique and not null, non-null columns,
value sets, minimums).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from lakeforge.contracts.registry import ContractRegistry
from lakeforge.ops.report import GateResult
from lakeforge.quality.checks import contract_checks

if TYPE_CHECKING:
    from pyspark.sql import DataFrame


class QualityGate:
    def __init__(self, registry: ContractRegistry, docs_dir: Path | None = None) -> None:
        self.registry = registry
        self.docs_dir = docs_dir

    def check(self, df: DataFrame, table: str, suite: str) -> GateResult:
        return contract_checks(df, self.registry.get(table), suite=suite)

    def build_docs(self) -> Path | None:
        """Rebuild the data docs of this run's validations; returns the index page (None if disabled)."""
        return None
