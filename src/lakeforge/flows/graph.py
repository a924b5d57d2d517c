"""The flow graph: every table of a project, who writes it, from what, in which stage, in which order.

    graph = FlowGraph.build(registry, load_declarations(["lakeforge.transforms.gold", "flows.py"]))
    graph.sources            # [SourceFlow(source="customers", bronze="bronze.customers", ...), ...]
    graph.derived            # resolved derived flows in dependency order
    graph.tables()           # every table a flow writes, in run order

Sources come from the contracts alone: a bronze contract with `source: X` is read from `<landing>/X/`,
and the silver and quarantine contracts with the same `source` are its cleansing flow's outputs.
Derived tables come from `@table` declarations (`lakeforge.flows.api`). Nothing else lists tables:
the runner, the planner, tests, scripts and docs all ask the graph.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
from dataclasses import dataclass
from pathlib import Path

from lakeforge.contracts.models import TableContract, WriteMode
from lakeforge.contracts.registry import ContractRegistry
from lakeforge.errors import ConfigError
from lakeforge.flows.api import ATTRIBUTE, DerivedFlow

STAGES = ("ingest", "transform", "load")


@dataclass(frozen=True)
class SourceFlow:
    """A landing source: files -> `bronze` (ingest); `bronze` -> `silver` + `quarantine` (transform)."""

    source: str
    bronze: str
    silver: str | None
    quarantine: str | None

    @property
    def outputs(self) -> list[str]:
        return [t for t in (self.silver, self.quarantine) if t is not None]


@dataclass(frozen=True)
class ResolvedFlow:
    """A derived flow checked against the contracts: how it is written and kept up to date."""

    flow: DerivedFlow
    contract: TableContract
    by: str | None  # None: recomputed whole whenever an input changes
    incremental: bool  # by is set and every input keeps a change feed

    @property
    def table(self) -> str:
        return self.flow.table

    @property
    def inputs(self) -> tuple[str, ...]:
        return self.flow.inputs

    @property
    def write_mode(self) -> WriteMode:
        return self.contract.write_mode


def _load_module(spec: str):  # type: ignore[no-untyped-def]
    if spec.endswith(".py"):
        path = Path(spec).expanduser().absolute()
        if not path.is_file():
            raise ConfigError(f"flows: {spec} is not a file", hint="name a module or an existing .py file")
        name = f"lakeforge_flows_{path.stem}_{hashlib.sha256(str(path).encode()).hexdigest()[:8]}"
        module_spec = importlib.util.spec_from_file_location(name, path)
        assert module_spec is not None and module_spec.loader is not None
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[name] = module
        module_spec.loader.exec_module(module)
        try:  # functions of a module loaded from a file travel to Python workers by value
            from pyspark import cloudpickle

            cloudpickle.register_pickle_by_value(module)
        except ImportError:  # pragma: no cover - pyspark is a dependency
            pass
        return module
    try:
        return importlib.import_module(spec)
    except ImportError as exc:
        raise ConfigError(f"flows: cannot import module {spec!r}: {exc}") from exc


def load_declarations(specs: list[str]) -> list[DerivedFlow]:
    """Every `@table` declaration in the named modules or `.py` files, in the order they are found."""
    found: list[DerivedFlow] = []
    for spec in specs:
        module = _load_module(spec)
        for value in vars(module).values():
            flow = getattr(value, ATTRIBUTE, None)
            if isinstance(flow, DerivedFlow) and flow not in found:
                found.append(flow)
    return found


class FlowGraph:
    def __init__(self, registry: ContractRegistry, sources: list[SourceFlow], derived: list[ResolvedFlow]):
        self.registry = registry
        self.sources = sources
        self.derived = derived

    @staticmethod
    def build(registry: ContractRegistry, declarations: list[DerivedFlow]) -> FlowGraph:
        sources = _sources(registry)
        produced = {s.bronze for s in sources} | {t for s in sources for t in s.outputs}
        declared: dict[str, DerivedFlow] = {}
        for flow in declarations:
            if flow.table in declared:
                raise ConfigError(
                    f"table {flow.table} is declared twice: by {declared[flow.table].origin} and {flow.origin}"
                )
            if flow.table in produced:
                raise ConfigError(
                    f"{flow.origin} declares {flow.table}, which a source's flow already writes"
                )
            declared[flow.table] = flow
        resolved = {
            name: _resolve(registry, flow, produced | set(declared)) for name, flow in declared.items()
        }
        return FlowGraph(registry, sources, _ordered(resolved))

    # --- questions the rest of lakeforge asks ---------------------------------------------------------
    def source(self, name: str) -> SourceFlow:
        for s in self.sources:
            if s.source == name:
                return s
        raise ConfigError(f"no source {name!r}: no bronze contract declares `source: {name}`")

    def tables(self) -> list[str]:
        """Every table a flow writes, in the order a full run writes them."""
        out = [s.bronze for s in self.sources]
        out += [t for s in self.sources for t in s.outputs]
        return out + [d.table for d in self.derived]

    def published(self) -> list[str]:
        """The tables consumers read: bronze, silver and derived (not quarantine)."""
        return [t for t in self.tables() if self.registry.get(t).layer != "quarantine"]

    def stage_of(self, table: str) -> str:
        if any(table == s.bronze for s in self.sources):
            return "ingest"
        if any(table in s.outputs for s in self.sources):
            return "transform"
        if any(table == d.table for d in self.derived):
            return "load"
        raise ConfigError(f"no flow writes {table}")

    def describe(self) -> list[str]:
        lines = []
        for s in self.sources:
            lines.append(f"landing/{s.source}/*.csv -> {s.bronze}")
            if s.outputs:
                lines.append(f"{s.bronze} -> {', '.join(s.outputs)}")
        for d in self.derived:
            how = f"by {d.by}" if d.incremental else "whole"
            lines.append(f"{', '.join(d.inputs)} -> {d.table} ({d.write_mode.value}, {how}; {d.flow.origin})")
        return lines


def _sources(registry: ContractRegistry) -> list[SourceFlow]:
    by_layer: dict[tuple[str, str], str] = {}
    for name in registry.names():
        c = registry.get(name)
        if c.source is None:
            continue
        key = (c.layer, c.source)
        if key in by_layer:
            raise ConfigError(
                f"contracts {by_layer[key]} and {name} are both the {c.layer} table of {c.source}"
            )
        by_layer[key] = name
    sources = []
    for (layer, source), bronze in sorted(by_layer.items()):
        if layer != "bronze":
            continue
        silver, quarantine = by_layer.get(("silver", source)), by_layer.get(("quarantine", source))
        if (silver is None) != (quarantine is None):
            raise ConfigError(
                f"source {source}: a silver table needs a quarantine table and the other way round "
                f"(found silver={silver}, quarantine={quarantine})",
                hint=f"add the contract quarantine.{source} or silver.{source} with `source: {source}`",
            )
        sources.append(SourceFlow(source, bronze, silver, quarantine))
    for (layer, source), name in by_layer.items():
        if layer in ("silver", "quarantine") and ("bronze", source) not in by_layer:
            raise ConfigError(f"contract {name} names source {source}, but no bronze contract does")
    return sources


def _resolve(registry: ContractRegistry, flow: DerivedFlow, known: set[str]) -> ResolvedFlow:
    where = f"{flow.origin} (table {flow.table})"
    if flow.table not in registry.names():
        raise ConfigError(
            f"{where}: no contract for table {flow.table} in {registry.directory}",
            hint=f"add {flow.table}.yaml to the contracts folder",
        )
    contract = registry.get(flow.table)
    if contract.layer in ("bronze", "quarantine", "ops"):
        raise ConfigError(f"{where}: a derived table cannot be a {contract.layer} table")
    if contract.write_mode not in (WriteMode.MERGE, WriteMode.REPLACE_WHERE):
        raise ConfigError(
            f"{where}: write_mode must be merge or replace_where, got {contract.write_mode.value}"
        )
    for name in flow.inputs:
        if name not in known:
            raise ConfigError(
                f"{where}: input {name} is written by no flow", hint="declare it or fix the name"
            )
    if contract.write_mode is WriteMode.MERGE and not contract.keys:
        raise ConfigError(f"{where}: write_mode merge needs `keys` in the contract")
    by = flow.by if flow.by is not None else (contract.keys[0] if len(contract.keys) == 1 else None)
    if by is None and contract.write_mode is WriteMode.REPLACE_WHERE:
        raise ConfigError(
            f"{where}: write_mode replace_where needs `by` (the column whose values are replaced)"
        )
    if by is not None:
        for name in (flow.table, *flow.inputs):
            if by not in registry.get(name).column_names:
                raise ConfigError(f"{where}: by={by!r} is not a column of {name}")
    incremental = by is not None and all(registry.get(i).change_data_feed for i in flow.inputs)
    if not incremental and contract.write_mode is WriteMode.REPLACE_WHERE:
        missing = [i for i in flow.inputs if not registry.get(i).change_data_feed]
        raise ConfigError(f"{where}: replace_where needs a change feed on every input; none on {missing}")
    return ResolvedFlow(flow, contract, by, incremental)


def _ordered(flows: dict[str, ResolvedFlow]) -> list[ResolvedFlow]:
    """Derived flows so that each comes after the derived flows it reads (ConfigError on a cycle)."""
    done: list[ResolvedFlow] = []
    state: dict[str, str] = {}

    def visit(name: str, path: list[str]) -> None:
        if state.get(name) == "done":
            return
        if state.get(name) == "visiting":
            raise ConfigError(f"derived tables form a cycle: {' -> '.join([*path, name])}")
        state[name] = "visiting"
        for dep in flows[name].inputs:
            if dep in flows:
                visit(dep, [*path, name])
        state[name] = "done"
        done.append(flows[name])

    for name in sorted(flows):
        visit(name, [])
    return done
