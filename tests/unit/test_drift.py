"""Schema drift: each class of change and what each layer policy does with it (SPEC §1 header drift)."""

from __future__ import annotations

import re

import pytest
from pyspark.sql.types import StructField, StructType

from lakeforge.config.models import DriftPolicy
from lakeforge.contracts.drift import DriftEvent, diff_header, diff_schemas
from lakeforge.contracts.registry import ContractRegistry, spark_type
from lakeforge.errors import SchemaDriftError


def ddl(text: str) -> StructType:
    """A schema from `name type, ...` in contract type names, without starting Spark."""
    fields = re.split(r",\s*(?![^()]*\))", text)
    return StructType([StructField(n, spark_type(t)) for n, t in (f.split() for f in fields)])


EXPECTED = ddl("order_id string, line long, qty int, amount decimal(12,2), note string")
ORDERS_HEADER = ["order_id", "customer_id", "order_ts", "status", "total_amount", "updated_at"]
CUSTOMERS_HEADER = ["customer_id", "first_name", "last_name", "email", "country", "signup_date", "updated_at"]


def diff(found_ddl: str):
    return diff_schemas(EXPECTED, ddl(found_ddl), table="silver.orders", location="batch 7")


def registry() -> ContractRegistry:
    return ContractRegistry.default()


def test_identical_schemas_have_no_drift() -> None:
    report = diff("order_id string, line long, qty int, amount decimal(12,2), note string")

    assert report.events == []
    for policy in DriftPolicy:
        report.raise_if_refused(policy)


def test_a_new_column_is_additive() -> None:
    report = diff("order_id string, line long, qty int, amount decimal(12,2), note string, coupon string")

    assert report.events == [
        DriftEvent("silver.orders", "batch 7", "coupon", "added", "additive", None, "string")
    ]


@pytest.mark.parametrize(
    ("found", "column", "expected", "got"),
    [
        ("order_id string, line long, qty long, amount decimal(12,2), note string", "qty", "int", "bigint"),
        (
            "order_id string, line long, qty int, amount decimal(14,2), note string",
            "amount",
            "decimal(12,2)",
            "decimal(14,2)",
        ),
    ],
)
def test_a_type_that_holds_every_old_value_is_widening(
    found: str, column: str, expected: str, got: str
) -> None:
    report = diff(found)

    assert report.events == [
        DriftEvent("silver.orders", "batch 7", column, "type_changed", "widening", expected, got)
    ]


@pytest.mark.parametrize(
    ("found", "event"),
    [
        (
            "order_id string, line long, qty int, amount decimal(12,2)",
            DriftEvent("silver.orders", "batch 7", "note", "missing", "breaking", "string"),
        ),
        (
            "order_id string, line int, qty int, amount decimal(12,2), note string",
            DriftEvent("silver.orders", "batch 7", "line", "type_changed", "breaking", "bigint", "int"),
        ),
        (
            "order_id int, line long, qty int, amount decimal(12,2), note string",
            DriftEvent("silver.orders", "batch 7", "order_id", "type_changed", "breaking", "string", "int"),
        ),
        (
            "order_id string, line long, qty int, amount decimal(12,3), note string",
            DriftEvent(
                "silver.orders",
                "batch 7",
                "amount",
                "type_changed",
                "breaking",
                "decimal(12,2)",
                "decimal(12,3)",
            ),
        ),
    ],
    ids=["missing column", "long to int", "string to int", "decimal losing integer digits"],
)
def test_a_missing_column_or_narrowing_or_incompatible_type_is_breaking(
    found: str, event: DriftEvent
) -> None:
    assert diff(found).events == [event]


def test_an_optional_landing_column_missing_from_a_header_is_compatible() -> None:
    contract = registry().get("bronze.customers")
    header = [c for c in CUSTOMERS_HEADER if c != "first_name"]

    report = diff_header(contract, header, location="customers/customers_20260301.csv")

    assert report.events == [
        DriftEvent(
            "bronze.customers",
            "customers/customers_20260301.csv",
            "first_name",
            "missing",
            "compatible",
            "string",
        )
    ]


def test_a_required_landing_column_missing_from_a_header_is_breaking_and_an_extra_one_additive() -> None:
    contract = registry().get("bronze.orders")
    header = [c for c in ORDERS_HEADER if c != "status"] + ["coupon"]

    report = diff_header(contract, header, location="orders/orders_20260301.csv")

    assert [(e.column, e.change, e.classification) for e in report.events] == [
        ("status", "missing", "breaking"),
        ("coupon", "added", "additive"),
    ]


def test_the_additive_policy_accepts_additive_widening_and_compatible_drift() -> None:
    for report in (
        diff("order_id string, line long, qty long, amount decimal(14,2), note string, coupon string"),
        diff_header(
            registry().get("bronze.customers"), CUSTOMERS_HEADER[:1] + CUSTOMERS_HEADER[3:], location="f.csv"
        ),
    ):
        assert report.events
        assert report.refused(DriftPolicy.ADDITIVE) == []
        report.raise_if_refused(DriftPolicy.ADDITIVE)


def test_the_additive_policy_refuses_breaking_drift_naming_the_column_and_location() -> None:
    report = diff("order_id string, line int, qty long, amount decimal(12,2), note string, coupon string")

    assert [e.column for e in report.refused(DriftPolicy.ADDITIVE)] == ["line"]
    with pytest.raises(SchemaDriftError) as exc:
        report.raise_if_refused(DriftPolicy.ADDITIVE)

    assert exc.value.message == "column 'line' of silver.orders is int in batch 7, the contract says bigint"
    assert exc.value.exit_code == 4
    assert "the 'additive' drift policy refuses this" in exc.value.one_line()


def test_the_additive_policy_refuses_a_required_header_column_missing() -> None:
    header = [c for c in ORDERS_HEADER if c != "total_amount"]
    report = diff_header(registry().get("bronze.orders"), header, location="orders/orders_20260302.csv")

    with pytest.raises(
        SchemaDriftError,
        match=r"^column 'total_amount' \(string\) of bronze.orders is missing from orders/orders_20260302.csv$",
    ):
        report.raise_if_refused(DriftPolicy.ADDITIVE)


@pytest.mark.parametrize(
    ("found", "message"),
    [
        (
            "order_id string, line long, qty int, amount decimal(12,2), note string, coupon string",
            "new column 'coupon' (string) in batch 7, not in silver.orders's contract",
        ),
        (
            "order_id string, line long, qty long, amount decimal(12,2), note string",
            "column 'qty' of silver.orders is bigint in batch 7, the contract says int",
        ),
        (
            "order_id string, line long, qty int, amount decimal(12,2)",
            "column 'note' (string) of silver.orders is missing from batch 7",
        ),
    ],
    ids=["additive", "widening", "breaking"],
)
def test_the_none_policy_refuses_every_difference(found: str, message: str) -> None:
    report = diff(found)

    assert report.refused(DriftPolicy.NONE) == report.events
    with pytest.raises(SchemaDriftError) as exc:
        report.raise_if_refused(DriftPolicy.NONE)
    assert exc.value.message == message
    assert "the 'none' drift policy refuses this" in exc.value.one_line()


def test_the_none_policy_refuses_a_compatible_header() -> None:
    header = [c for c in CUSTOMERS_HEADER if c != "last_name"]
    report = diff_header(registry().get("bronze.customers"), header, location="customers/c_1.csv")

    with pytest.raises(
        SchemaDriftError,
        match=r"column 'last_name' \(string\) of bronze.customers is missing from customers/c_1.csv",
    ):
        report.raise_if_refused(DriftPolicy.NONE)


def test_every_refused_change_is_named_in_one_message() -> None:
    report = diff("order_id int, line long, qty int, amount decimal(12,2), coupon string")

    with pytest.raises(SchemaDriftError) as exc:
        report.raise_if_refused(DriftPolicy.NONE)

    assert exc.value.message.split("; ") == [
        "column 'order_id' of silver.orders is int in batch 7, the contract says string",
        "column 'note' (string) of silver.orders is missing from batch 7",
        "new column 'coupon' (string) in batch 7, not in silver.orders's contract",
    ]


def test_a_dataframe_schema_is_checked_against_its_contract() -> None:
    schema = registry().get_schema("silver.orders")
    found = StructType([f for f in schema.fields if f.name != "status"])

    report = diff_schemas(schema, found, table="silver.orders")

    assert [(e.column, e.location, e.classification) for e in report.events] == [
        ("status", "silver.orders", "breaking")
    ]
