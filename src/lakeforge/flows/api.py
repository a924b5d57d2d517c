"""Declaring a derived table: its name, its inputs and a pure transform; the contract says the rest.

    from lakeforge.flows import table

    @table("gold.daily_revenue", inputs=["silver.orders"], by="order_date")
    def daily_revenue(orders: DataFrame) -> DataFrame: ...

The decorator only attaches a `DerivedFlow` to the function and returns the function unchanged, so the
transform stays an ordinary pure function (testable on three inline rows). The graph collects every
declaration of the modules the config names (`flows:`), checks it against the contracts, and derives
how the table is written (the contract's `write_mode`) and how it is kept up to date (`by`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

ATTRIBUTE = "__lakeforge_flow__"


@dataclass(frozen=True)
class DerivedFlow:
    """A table computed from other tables by a pure function of their DataFrames.

    `by`: a column of every input and of the result. An incremental run recomputes only the `by` values
    that changed in any input (read from the inputs' change feed), then merges the result by the
    contract's keys (`write_mode: merge`) or replaces the rows with those values (`replace_where`).
    None: the contract's key when it has exactly one (resolved by the graph).
    """

    table: str
    inputs: tuple[str, ...]
    transform: Callable[..., DataFrame]
    by: str | None = None
    origin: str = ""

    def compute(self, frames: list[DataFrame]) -> DataFrame:
        return self.transform(*frames)


def table(name: str, *, inputs: list[str], by: str | None = None) -> Callable[[Any], Any]:
    """Declare `name` as computed by the decorated function from `inputs` (passed in that order)."""
    if not inputs:
        raise ValueError(f"table {name!r} declares no inputs")

    def declare(fn: Callable[..., DataFrame]) -> Callable[..., DataFrame]:
        origin = f"{fn.__module__}.{fn.__qualname__}"
        setattr(fn, ATTRIBUTE, DerivedFlow(name, tuple(inputs), fn, by, origin))
        return fn

    return declare
