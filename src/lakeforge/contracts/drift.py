"""Schema drift: a diff of what arrived (a file header, a DataFrame) against the registered contract.

    report = diff_header(contract, ["order_id", "status", "coupon"], location="orders/orders_1.csv")
    report.events        # [DriftEvent(column="coupon", change="added", classification="additive"), ...]
    report.raise_if_refused(policy=DriftPolicy.ADDITIVE)

Classes of change: `additive` (a new column), `widening` (a type that holds every old value, e.g.
int -> long), `compatible` (an optional landing column absent from a file: its values are null), and
`breaking` (a missing required column, a narrowing or incompatible type). A layer's policy decides:
`additive` accepts everything but breaking changes, `none` refuses any difference.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from lakeforge.errors import SchemaDriftError
from lakeforge.results import DriftEvent, DriftPolicy

if TYPE_CHECKING:
    from pyspark.sql.types import DataType, StructType

    from lakeforge.contracts.models import TableContract

log = logging.getLogger(__name__)


@dataclass
class DriftReport:
    table: str
    location: str
    events: list[DriftEvent] = field(default_factory=list)

    @property
    def breaking(self) -> list[DriftEvent]:
        return [e for e in self.events if e.classification == "breaking"]

    def refused(self, policy: DriftPolicy) -> list[DriftEvent]:
        if policy is DriftPolicy.NONE:
            return list(self.events)
        return self.breaking

    def raise_if_refused(self, policy: DriftPolicy = DriftPolicy.NONE, allow_additive: bool = False) -> None:
        """Raise SchemaDriftError naming every refused change (policy ADDITIVE when allow_additive)."""
        effective = DriftPolicy.ADDITIVE if allow_additive else policy
        refused = self.refused(effective)
        if refused:
            raise SchemaDriftError(
                "; ".join(e.describe() for e in refused),
                hint=f"the {effective.value!r} drift policy refuses this: fix the input or make a reviewed "
                "change to the contract (and bump its version)",
            )


def _widening(expected: DataType, found: DataType) -> bool:
    from pyspark.sql import types as T

    if isinstance(expected, T.IntegerType) and isinstance(found, T.LongType):
        return True
    if isinstance(expected, T.FloatType) and isinstance(found, T.DoubleType):
        return True
    if isinstance(expected, T.DateType) and isinstance(found, T.TimestampType):
        return True
    if isinstance(expected, T.DecimalType) and isinstance(found, T.DecimalType):
        return found.scale >= expected.scale and (found.precision - found.scale) >= (
            expected.precision - expected.scale
        )
    return False


def diff_schemas(
    expected: StructType, found: StructType, *, table: str, location: str | None = None
) -> DriftReport:
    """Compare two Spark schemas by column name (case-sensitive; nullability is not compared)."""
    report = DriftReport(table=table, location=location or table)
    found_by_name = {f.name: f for f in found.fields}
    expected_by_name = {f.name: f for f in expected.fields}
    for f in expected.fields:
        got = found_by_name.get(f.name)
        if got is None:
            report.events.append(
                DriftEvent(table, report.location, f.name, "missing", "breaking", f.dataType.simpleString())
            )
        elif got.dataType.simpleString() != f.dataType.simpleString():
            kind = "widening" if _widening(f.dataType, got.dataType) else "breaking"
            report.events.append(
                DriftEvent(
                    table,
                    report.location,
                    f.name,
                    "type_changed",
                    kind,
                    f.dataType.simpleString(),
                    got.dataType.simpleString(),
                )
            )
    for f in found.fields:
        if f.name not in expected_by_name:
            report.events.append(
                DriftEvent(
                    table, report.location, f.name, "added", "additive", None, f.dataType.simpleString()
                )
            )
    return report


def diff_header(contract: TableContract, header: list[str], *, location: str) -> DriftReport:
    """Compare a landing file's (normalised) header with the source columns of a bronze contract."""
    report = DriftReport(table=contract.table, location=location)
    present = set(header)
    for col in contract.source_columns:
        assert col.source is not None
        if col.name not in present:
            kind = "breaking" if col.source.required else "compatible"
            report.events.append(DriftEvent(contract.table, location, col.name, "missing", kind, "string"))
    known = set(contract.column_names)
    for name in header:
        if name not in known:
            report.events.append(
                DriftEvent(contract.table, location, name, "added", "additive", None, "string")
            )
    return report
