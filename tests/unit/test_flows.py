"""lakeforge.flows: tables declared once, the graph derived from contracts and `@table` declarations."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from lakeforge.contracts.registry import PACKAGED_CONTRACTS, ContractRegistry
from lakeforge.errors import ConfigError
from lakeforge.flows import FlowGraph, load_declarations, table
from lakeforge.flows.api import DerivedFlow

REFERENCE = ["lakeforge.transforms.gold"]


def graph(registry: ContractRegistry | None = None, flows: list[DerivedFlow] | None = None) -> FlowGraph:
    return FlowGraph.build(registry or ContractRegistry.default(), flows or load_declarations(REFERENCE))


@pytest.fixture
def contracts(tmp_path: Path) -> Path:
    folder = tmp_path / "contracts"
    shutil.copytree(PACKAGED_CONTRACTS, folder)
    return folder


def test_the_reference_graph_derives_every_table_stage_and_order() -> None:
    g = graph()
    assert [s.source for s in g.sources] == ["customers", "orders"]
    assert g.tables() == [
        "bronze.customers", "bronze.orders", "silver.customers", "quarantine.customers", "silver.orders",
        "quarantine.orders", "gold.customer_ltv", "gold.daily_revenue",
    ]  # fmt: skip
    assert g.published() == [t for t in g.tables() if not t.startswith("quarantine.")]
    assert [g.stage_of(t) for t in g.tables()] == ["ingest"] * 2 + ["transform"] * 4 + ["load"] * 2
    ltv, daily = g.derived
    assert (ltv.table, ltv.inputs, ltv.by, ltv.incremental) == (
        "gold.customer_ltv", ("silver.customers", "silver.orders"), "customer_id", True,
    )  # fmt: skip
    assert (daily.table, daily.by, daily.write_mode.value) == (
        "gold.daily_revenue",
        "order_date",
        "replace_where",
    )


def test_the_decorator_leaves_the_transform_an_ordinary_function() -> None:
    from lakeforge.transforms import gold

    assert gold.daily_revenue.__name__ == "daily_revenue"
    flow = gold.daily_revenue.__lakeforge_flow__  # type: ignore[attr-defined]
    assert flow.transform is gold.daily_revenue and flow.origin == "lakeforge.transforms.gold.daily_revenue"


def test_a_flow_file_is_loaded_by_path(tmp_path: Path) -> None:
    path = tmp_path / "my_flows.py"
    path.write_text(
        "from lakeforge.flows import table\n\n"
        "@table('gold.orders_copy', inputs=['silver.orders'], by='order_id')\n"
        "def orders_copy(orders):\n    return orders\n"
    )
    (found,) = load_declarations([str(path)])
    assert (found.table, found.inputs, found.by) == ("gold.orders_copy", ("silver.orders",), "order_id")


def declared(name: str, inputs: list[str], by: str | None = None) -> DerivedFlow:
    @table(name, inputs=inputs, by=by)
    def fn(*frames):  # type: ignore[no-untyped-def]
        return frames[0]

    return fn.__lakeforge_flow__  # type: ignore[attr-defined,no-any-return]


def test_a_table_without_a_contract_is_a_config_error_naming_it() -> None:
    with pytest.raises(
        ConfigError, match=r"\(table gold\.nowhere\): no contract for table gold\.nowhere"
    ) as err:
        graph(flows=[declared("gold.nowhere", ["silver.orders"])])
    assert err.value.exit_code == 2


@pytest.mark.parametrize(
    ("flows", "message"),
    [
        ([declared("gold.daily_revenue", ["silver.nope"])], r"input silver\.nope is written by no flow"),
        (
            [declared("gold.daily_revenue", ["silver.orders"], by="status_x")],
            r"by='status_x' is not a column",
        ),
        (
            [
                declared("gold.daily_revenue", ["silver.orders"]),
                declared("gold.daily_revenue", ["silver.orders"]),
            ],
            r"table gold\.daily_revenue is declared twice",
        ),
        ([declared("silver.orders", ["bronze.orders"])], r"which a source's flow already writes"),
    ],
)
def test_declarations_the_graph_refuses(flows: list[DerivedFlow], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        graph(flows=flows)


def test_derived_tables_are_ordered_after_what_they_read_and_cycles_refused(contracts: Path) -> None:
    for name in ("gold.a", "gold.b"):
        spec = yaml.safe_load((contracts / "gold.customer_ltv.yaml").read_text())
        spec["table"] = name
        (contracts / f"{name}.yaml").write_text(yaml.safe_dump(spec))
    registry = ContractRegistry(contracts)
    g = graph(registry, [declared("gold.b", ["gold.a"]), declared("gold.a", ["silver.customers"])])
    assert [d.table for d in g.derived] == ["gold.a", "gold.b"]
    with pytest.raises(ConfigError, match=r"derived tables form a cycle: gold\.a -> gold\.b -> gold\.a"):
        graph(registry, [declared("gold.b", ["gold.a"]), declared("gold.a", ["gold.b"])])


def test_a_silver_table_without_its_quarantine_is_refused(contracts: Path) -> None:
    (contracts / "quarantine.orders.yaml").unlink()
    with pytest.raises(ConfigError, match=r"source orders: a silver table needs a quarantine table"):
        graph(ContractRegistry(contracts))
