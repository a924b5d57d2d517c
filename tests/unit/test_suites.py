"""GE suites generated from the contracts, stored as JSON and kept in sync (`lakeforge suites [--check]`)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from lakeforge.contracts.registry import PACKAGED_CONTRACTS, ContractRegistry
from lakeforge.errors import ConfigError
from lakeforge.quality.suites import load_suite, suite_for, suites_dir, write_suites
from lakeforge.quality.suites_cli import main


@pytest.fixture
def registry(tmp_path: Path) -> ContractRegistry:
    """A copy of the packaged contracts with their suites, to change freely."""
    shutil.copytree(PACKAGED_CONTRACTS, tmp_path / "contracts" / "tables")
    shutil.copytree(PACKAGED_CONTRACTS.parent / "suites", tmp_path / "contracts" / "suites")
    return ContractRegistry(tmp_path / "contracts" / "tables")


def edit_contract(registry: ContractRegistry, table: str, change) -> ContractRegistry:
    path = registry.directory / f"{table}.yaml"
    contract = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(contract)
    path.write_text(yaml.safe_dump(contract, sort_keys=False), encoding="utf-8")
    return ContractRegistry(registry.directory)


def test_the_stored_suites_match_the_contracts() -> None:
    assert write_suites(check_only=True) == []


def test_every_table_of_the_registry_has_a_stored_suite() -> None:
    registry = ContractRegistry.default()
    stored = sorted(p.stem for p in suites_dir(registry).glob("*.json"))

    assert stored == registry.names()


def test_the_orders_suite_follows_its_contract() -> None:
    suite = suite_for(ContractRegistry.default().get("silver.orders"))

    assert suite["name"] == "silver.orders"
    assert suite["meta"] == {
        "table": "silver.orders",
        "contract_version": 1,
        "generated_by": "lakeforge.quality.suites",
    }
    kinds = [(e["type"], e["kwargs"].get("column")) for e in suite["expectations"]]
    assert kinds[:2] == [
        ("expect_column_values_to_be_unique", "order_id"),
        ("expect_column_values_to_not_be_null", "order_id"),
    ]
    assert ("expect_column_values_to_not_be_null", "total_amount") in kinds
    assert suite["expectations"][-2:] == [
        {
            "type": "expect_column_values_to_be_in_set",
            "kwargs": {
                "column": "status",
                "value_set": ["placed", "shipped", "delivered", "cancelled", "returned"],
            },
            "meta": {"rule": "values"},
        },
        {
            "type": "expect_column_values_to_be_between",
            "kwargs": {"column": "total_amount", "min_value": 0},
            "meta": {"rule": "min"},
        },
    ]


def test_a_compound_key_is_unique_as_a_whole() -> None:
    suite = suite_for(ContractRegistry.default().get("bronze.orders"))

    assert suite["expectations"][:3] == [
        {
            "type": "expect_compound_columns_to_be_unique",
            "kwargs": {"column_list": ["_source_file", "_line_number"]},
            "meta": {"rule": "key"},
        },
        {
            "type": "expect_column_values_to_not_be_null",
            "kwargs": {"column": "_source_file"},
            "meta": {"rule": "key"},
        },
        {
            "type": "expect_column_values_to_not_be_null",
            "kwargs": {"column": "_line_number"},
            "meta": {"rule": "key"},
        },
    ]


def test_a_changed_contract_shows_its_diff_and_check_only_writes_nothing(registry: ContractRegistry) -> None:
    def change(contract: dict) -> None:
        contract["version"] = 2
        status = next(c for c in contract["columns"] if c["name"] == "status")
        status["values"].append("lost")

    changed = edit_contract(registry, "silver.orders", change)
    stored = suites_dir(changed) / "silver.orders.json"
    before = stored.read_text(encoding="utf-8")

    diff = write_suites(check_only=True, registry=changed)

    assert diff[:2] == ["--- a/suites/silver.orders.json\n", "+++ b/suites/silver.orders.json\n"]
    assert '-    "contract_version": 1,\n' in diff
    assert '+    "contract_version": 2,\n' in diff
    assert '+          "returned",\n' in diff and '+          "lost"\n' in diff
    assert stored.read_text(encoding="utf-8") == before


def test_write_suites_regenerates_and_then_is_in_sync(registry: ContractRegistry) -> None:
    changed = edit_contract(registry, "gold.daily_revenue", lambda c: c.update(version=5))

    assert write_suites(registry=changed) != []

    assert write_suites(check_only=True, registry=changed) == []
    assert (
        json.loads((suites_dir(changed) / "gold.daily_revenue.json").read_text())["meta"]["contract_version"]
        == 5
    )


def test_a_new_table_and_a_removed_table_show_in_the_diff(registry: ContractRegistry) -> None:
    (registry.directory / "_ops.events.yaml").unlink()
    spec = yaml.safe_load((registry.directory / "gold.daily_revenue.yaml").read_text())
    spec["table"] = "gold.monthly_revenue"
    (registry.directory / "gold.monthly_revenue.yaml").write_text(yaml.safe_dump(spec))
    changed = ContractRegistry(registry.directory)

    diff = write_suites(registry=changed)

    assert "--- a/suites/_ops.events.json\n" in diff
    assert "+++ /dev/null\n" in diff
    assert "--- /dev/null\n" in diff and "+++ b/suites/gold.monthly_revenue.json\n" in diff
    names = sorted(p.stem for p in suites_dir(changed).glob("*.json"))
    assert names == changed.names()


def test_contract_expectations_are_appended_to_the_suite(registry: ContractRegistry) -> None:
    extra = {"type": "expect_table_row_count_to_be_between", "kwargs": {"min_value": 1}}
    changed = edit_contract(registry, "gold.daily_revenue", lambda c: c.update(expectations=[extra]))

    suite = suite_for(changed.get("gold.daily_revenue"))

    assert suite["expectations"][-1] == {**extra, "meta": {"rule": "contract expectation"}}


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (
            {"type": "row_count_positive"},
            "type must be a GE expectation name like expect_..., got 'row_count_positive'",
        ),
        ({"type": "expect_x", "args": {}}, r"has unknown keys \['args'\]"),
        ({"type": "expect_x", "kwargs": [1]}, "kwargs and meta must be mappings"),
    ],
)
def test_a_malformed_contract_expectation_is_a_config_error(
    registry: ContractRegistry, entry: dict, message: str
) -> None:
    changed = edit_contract(registry, "gold.daily_revenue", lambda c: c.update(expectations=[entry]))

    with pytest.raises(ConfigError, match=r"contract gold.daily_revenue, expectations\[0\].*" + message):
        suite_for(changed.get("gold.daily_revenue"))


def test_load_suite_uses_the_stored_file_and_warns_when_it_is_stale(
    registry: ContractRegistry, caplog
) -> None:
    changed = edit_contract(registry, "silver.orders", lambda c: c.update(version=9))

    suite = load_suite("silver.orders", changed)

    assert suite["meta"]["contract_version"] == 1
    assert "suite" in caplog.text and "is stale" in caplog.text


def test_load_suite_generates_a_missing_suite(registry: ContractRegistry, caplog) -> None:
    (suites_dir(registry) / "silver.orders.json").unlink()

    assert load_suite("silver.orders", registry) == suite_for(registry.get("silver.orders"))
    assert "no stored suite" in caplog.text


def test_the_cli_check_fails_on_stale_suites_and_prints_the_diff(registry: ContractRegistry, capsys) -> None:
    edit_contract(registry, "silver.orders", lambda c: c.update(version=2))

    assert main(["--check", "--contracts", str(registry.directory)]) == 1
    out = capsys.readouterr().out
    assert "+++ b/suites/silver.orders.json" in out
    assert "are stale: run `lakeforge suites`" in out

    assert main(["--contracts", str(registry.directory)]) == 0
    assert main(["--check", "--contracts", str(registry.directory)]) == 0
    assert capsys.readouterr().out.endswith("match the contracts\n")


def test_every_stored_suite_loads_into_great_expectations() -> None:
    import great_expectations as gx

    registry = ContractRegistry.default()
    for table in registry.names():
        stored = load_suite(table, registry)
        suite = gx.ExpectationSuite(name=table, expectations=stored["expectations"])
        assert len(suite.expectations) == len(stored["expectations"]), table
