"""Tables declared once: contracts for every table, `@table` for derived ones; the graph derives the rest.

from lakeforge.flows import table
graph = load_graph(settings)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lakeforge.flows.api import DerivedFlow, table
from lakeforge.flows.graph import FlowGraph, ResolvedFlow, SourceFlow, load_declarations

if TYPE_CHECKING:
    from lakeforge.config.models import Settings

__all__ = [
    "DerivedFlow",
    "FlowGraph",
    "ResolvedFlow",
    "SourceFlow",
    "load_declarations",
    "load_graph",
    "table",
]


def load_graph(settings: Settings) -> FlowGraph:
    """The graph of a configuration: its contracts folder and its `flows:` modules."""
    from lakeforge.contracts.registry import PACKAGED_CONTRACTS, ContractRegistry

    registry = ContractRegistry(settings.contracts_dir or PACKAGED_CONTRACTS)
    return FlowGraph.build(registry, load_declarations(list(settings.flows)))
