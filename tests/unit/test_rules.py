"""lakeforge.quality.rules: every column rule of SPEC §1 as the `_reasons` it gives a bronze row."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from chispa import assert_df_equality

from lakeforge.contracts.registry import ContractRegistry
from lakeforge.quality.rules import amount_cents, row_reasons

ORDERS_DDL = (
    "order_id string, customer_id string, order_ts string, status string, total_amount string, "
    "updated_at string, _malformed boolean"
)
CUSTOMERS_DDL = (
    "customer_id string, first_name string, last_name string, email string, country string, "
    "signup_date string, updated_at string, _malformed boolean"
)
TS = "2026-03-01T10:00:00Z"
BLANK = " \t\r\n"


def order(
    order_id: str | None = "o1",
    customer_id: str | None = "c1",
    order_ts: str | None = TS,
    status: str | None = "placed",
    total_amount: str | None = "12.50",
    updated_at: str | None = TS,
    malformed: bool = False,
) -> tuple[Any, ...]:
    return (order_id, customer_id, order_ts, status, total_amount, updated_at, malformed)


def customer(
    customer_id: str | None = "c1",
    first_name: str | None = "Ada",
    last_name: str | None = "Lovelace",
    email: str | None = "ada@example.com",
    country: str | None = "GB",
    signup_date: str | None = "2026-01-15",
    updated_at: str | None = TS,
    malformed: bool = False,
) -> tuple[Any, ...]:
    return (customer_id, first_name, last_name, email, country, signup_date, updated_at, malformed)


def assert_reasons(spark: Any, table: str, ddl: str, cases: list[tuple[tuple[Any, ...], list[str]]]) -> None:
    """`bronze.withColumn("_reasons", row_reasons(contract))` equals the rows with their expected reasons."""
    contract = ContractRegistry.default().get(table)
    bronze = spark.createDataFrame([row for row, _ in cases], ddl)
    expected = spark.createDataFrame(
        [(*row, reasons) for row, reasons in cases], f"{ddl}, _reasons array<string>"
    )
    actual = bronze.withColumn("_reasons", row_reasons(contract))
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


# --- orders -----------------------------------------------------------------------------------------------
ORDER_COLUMNS = ["order_id", "customer_id", "order_ts", "status", "total_amount", "updated_at"]


def test_valid_order_has_no_reasons(spark: Any) -> None:
    assert_reasons(spark, "bronze.orders", ORDERS_DDL, [(order(), [])])


def test_orders_empty_blank_or_null_required_value_is_missing_only(spark: Any) -> None:
    cases = []
    for i, column in enumerate(ORDER_COLUMNS):
        for j, empty in enumerate(["", BLANK, None]):
            values = {"order_id": f"o{i}{j}", column: empty}
            cases.append((order(**values), [f"missing:{column}"]))
    assert_reasons(spark, "bronze.orders", ORDERS_DDL, cases)


def test_orders_present_value_breaking_its_rule_is_invalid(spark: Any) -> None:
    cases = [
        (order(order_id="o1", order_ts="yesterday"), ["invalid:order_ts"]),
        (order(order_id="o2", status="pending"), ["invalid:status"]),
        (order(order_id="o3", total_amount="12,50"), ["invalid:total_amount"]),
        (order(order_id="o4", updated_at="2026-03-01"), ["invalid:updated_at"]),
        # order_id and customer_id take any non-empty text
        (order(order_id=" weird id #1 ", customer_id="ü-42"), []),
    ]
    assert_reasons(spark, "bronze.orders", ORDERS_DDL, cases)


def test_orders_every_reason_is_listed_sorted(spark: Any) -> None:
    cases = [
        (
            order(order_id="o1", customer_id="", order_ts="x", status="", total_amount="-1", updated_at="y"),
            [
                "invalid:order_ts",
                "invalid:total_amount",
                "invalid:updated_at",
                "missing:customer_id",
                "missing:status",
            ],
        ),
        (
            order(
                order_id=None,
                customer_id=None,
                order_ts=None,
                status=None,
                total_amount=None,
                updated_at=None,
            ),
            [f"missing:{c}" for c in sorted(ORDER_COLUMNS)],
        ),
    ]
    assert_reasons(spark, "bronze.orders", ORDERS_DDL, cases)


def test_malformed_record_has_only_malformed_line(spark: Any) -> None:
    cases = [
        (order(order_id=None, customer_id=None, order_ts=None, status=None, total_amount=None,
               updated_at=None, malformed=True), ["malformed_line"]),
        (order(order_id="o2", status="bogus", total_amount="x", malformed=True), ["malformed_line"]),
        (order(order_id="o3", malformed=True), ["malformed_line"]),
    ]  # fmt: skip
    assert_reasons(spark, "bronze.orders", ORDERS_DDL, cases)


def test_orders_values_are_trimmed_of_spaces_tabs_cr_lf(spark: Any) -> None:
    cases = [
        (
            order(
                order_id=" o1\t",
                customer_id="\r\nc1 ",
                order_ts=f" {TS}\r\n",
                status="\tplaced ",
                total_amount=" 12.50\n",
                updated_at=f"\t{TS}\t",
            ),
            [],
        ),
        # only the ends are trimmed: inner spaces still break a rule
        (order(order_id="o2", total_amount="1 000"), ["invalid:total_amount"]),
        (order(order_id="o3", order_ts="2026-03-01T10:00:00 Z"), ["invalid:order_ts"]),
    ]
    assert_reasons(spark, "bronze.orders", ORDERS_DDL, cases)


def test_status_is_lower_cased_before_it_is_checked(spark: Any) -> None:
    cases = [
        (order(order_id="o1", status="PLACED"), []),
        (order(order_id="o2", status="Shipped"), []),
        (order(order_id="o3", status="deLivered"), []),
        (order(order_id="o4", status="CANCELLED"), []),
        (order(order_id="o5", status="returned"), []),
        (order(order_id="o6", status="canceled"), ["invalid:status"]),
        (order(order_id="o7", status="placed,shipped"), ["invalid:status"]),
        (order(order_id="o8", status="pla ced"), ["invalid:status"]),
    ]
    assert_reasons(spark, "bronze.orders", ORDERS_DDL, cases)


@pytest.mark.parametrize("column", ["order_ts", "updated_at"])
def test_timestamps_must_be_utc_z_and_a_real_instant(spark: Any, column: str) -> None:
    values = {
        "2026-03-01T00:00:00Z": [],
        "2026-03-01T23:59:59Z": [],
        "2024-02-29T12:00:00Z": [],  # leap day
        "2026-03-01T24:00:00Z": [f"invalid:{column}"],  # hour 24
        "2026-03-01T25:00:00Z": [f"invalid:{column}"],  # hour 25
        "2026-03-01T10:60:00Z": [f"invalid:{column}"],
        "2026-03-01T10:00:60Z": [f"invalid:{column}"],
        "2026-02-30T10:00:00Z": [f"invalid:{column}"],  # no such day
        "2023-02-29T10:00:00Z": [f"invalid:{column}"],  # not a leap year
        "2026-03-01T10:00:00": [f"invalid:{column}"],  # missing Z
        "2026-03-01T10:00:00+00:00": [f"invalid:{column}"],
        "2026-03-01T10:00:00.000Z": [f"invalid:{column}"],
        "2026-03-01 10:00:00Z": [f"invalid:{column}"],
        "2026-03-01t10:00:00z": [f"invalid:{column}"],
        "2026-3-01T10:00:00Z": [f"invalid:{column}"],
        "2026-03-01T1:00:00Z": [f"invalid:{column}"],
        "2026-03-01": [f"invalid:{column}"],
    }
    cases = [(order(order_id=f"o{i}", **{column: v}), r) for i, (v, r) in enumerate(values.items())]
    assert_reasons(spark, "bronze.orders", ORDERS_DDL, cases)


def test_total_amount_is_plain_digits_that_fit_decimal_12_2_after_rounding(spark: Any) -> None:
    bad = ["invalid:total_amount"]
    values = {
        "0": [],
        "0.5": [],
        "0012.50": [],  # leading zeros are fine
        "10.005": [],  # rounds to 10.01
        "12.345678901234567890": [],  # any number of decimals
        "9999999999.99": [],
        "9999999999.994": [],  # rounds to 9999999999.99: still fits
        "9999999999.995": bad,  # rounds half up to 10^10: does not fit decimal(12,2)
        "10000000000": bad,
        "99999999999999999999999999999999999999999.99": bad,  # far too big, still a clean reason
        "1e5": bad,
        "-1": bad,
        "+1": bad,
        "5.": bad,
        ".5": bad,
        "1.2.3": bad,
        "12,50": bad,
        "$12": bad,
        "NaN": bad,
    }
    cases = [(order(order_id=f"o{i}", total_amount=v), r) for i, (v, r) in enumerate(values.items())]
    assert_reasons(spark, "bronze.orders", ORDERS_DDL, cases)


# --- customers --------------------------------------------------------------------------------------------
CUSTOMER_REQUIRED = ["customer_id", "email", "country", "signup_date", "updated_at"]


def test_valid_customer_has_no_reasons_and_optional_names_may_be_empty(spark: Any) -> None:
    cases = [
        (customer(customer_id="c1"), []),
        (customer(customer_id="c2", first_name="", last_name=None), []),
        (customer(customer_id="c3", first_name=BLANK, last_name="   "), []),
    ]
    assert_reasons(spark, "bronze.customers", CUSTOMERS_DDL, cases)


def test_customers_empty_blank_or_null_required_value_is_missing_only(spark: Any) -> None:
    cases = []
    for i, column in enumerate(CUSTOMER_REQUIRED):
        for j, empty in enumerate(["", BLANK, None]):
            values = {"customer_id": f"c{i}{j}", column: empty}
            cases.append((customer(**values), [f"missing:{column}"]))
    assert_reasons(spark, "bronze.customers", CUSTOMERS_DDL, cases)


def test_customers_every_reason_sorted_and_malformed_alone(spark: Any) -> None:
    cases = [
        (
            customer(customer_id="", email="no-at", country="usa", signup_date="", updated_at="soon"),
            [
                "invalid:country",
                "invalid:email",
                "invalid:updated_at",
                "missing:customer_id",
                "missing:signup_date",
            ],
        ),
        (customer(customer_id="c2", email="bad", malformed=True), ["malformed_line"]),
    ]
    assert_reasons(spark, "bronze.customers", CUSTOMERS_DDL, cases)


def test_email_is_lower_cased_and_needs_one_at_and_no_whitespace(spark: Any) -> None:
    bad = ["invalid:email"]
    values = {
        "Ada@Example.COM": [],
        " ada@example.com\r\n": [],
        "a@b": [],
        "ada lovelace@example.com": bad,  # a space inside
        "ada@exa\tmple.com": bad,
        "ada@@example.com": bad,
        "ada@example@com": bad,
        "example.com": bad,
        "@example.com": bad,
        "ada@": bad,
    }
    cases = [(customer(customer_id=f"c{i}", email=v), r) for i, (v, r) in enumerate(values.items())]
    assert_reasons(spark, "bronze.customers", CUSTOMERS_DDL, cases)


def test_country_is_upper_cased_then_two_letters(spark: Any) -> None:
    bad = ["invalid:country"]
    values = {
        "US": [],
        "us": [],
        "De": [],
        "\tfr\r\n": [],
        "usa": bad,
        "u1": bad,
        "U": bad,
        "U S": bad,
        "ÜS": bad,
    }
    cases = [(customer(customer_id=f"c{i}", country=v), r) for i, (v, r) in enumerate(values.items())]
    assert_reasons(spark, "bronze.customers", CUSTOMERS_DDL, cases)


def test_signup_date_is_yyyy_mm_dd_and_a_real_date(spark: Any) -> None:
    bad = ["invalid:signup_date"]
    values = {
        "2026-01-15": [],
        "2024-02-29": [],  # leap day
        "2000-02-29": [],  # divisible by 400: a leap year
        "1582-10-10": [],  # proleptic Gregorian: no gap at the 1582 switch
        "0001-01-01": [],
        "9999-12-31": [],
        " 2026-01-15\n": [],
        "1900-02-29": bad,  # divisible by 100: not a leap year
        "2026-02-30": bad,
        "2023-02-29": bad,
        "2026-13-01": bad,
        "2026-2-3": bad,
        "2026/01/15": bad,
        "20260115": bad,
        "2026-01-15T00:00:00Z": bad,
        "15-01-2026": bad,
    }
    cases = [(customer(customer_id=f"c{i}", signup_date=v), r) for i, (v, r) in enumerate(values.items())]
    assert_reasons(spark, "bronze.customers", CUSTOMERS_DDL, cases)


def test_year_zero_is_not_a_real_date_or_instant(spark: Any) -> None:
    cases = [
        (customer(customer_id="c1", signup_date="0000-01-01"), ["invalid:signup_date"]),
        (customer(customer_id="c2", updated_at="0000-12-31T23:59:59Z"), ["invalid:updated_at"]),
    ]
    assert_reasons(spark, "bronze.customers", CUSTOMERS_DDL, cases)


def test_customer_updated_at_follows_the_timestamp_rule(spark: Any) -> None:
    cases = [
        (customer(customer_id="c1", updated_at="2026-03-01T24:00:00Z"), ["invalid:updated_at"]),
        (customer(customer_id="c2", updated_at="2026-03-01T10:00:00+00:00"), ["invalid:updated_at"]),
        (customer(customer_id="c3", updated_at="2026-03-01T23:59:59Z"), []),
    ]
    assert_reasons(spark, "bronze.customers", CUSTOMERS_DDL, cases)


# --- amount_cents -----------------------------------------------------------------------------------------
def test_amount_cents_rounds_half_up_exactly_on_any_length(spark: Any) -> None:
    from pyspark.sql import functions as F

    expected = {
        "0": Decimal(0),
        "5": Decimal(500),
        "0012.50": Decimal(1250),
        "10.005": Decimal(1001),
        "10.004999999999999999999999999": Decimal(1000),
        "0.0049999999999999999999": Decimal(0),
        "0.005": Decimal(1),
        "0.015": Decimal(2),
        "0.994999999999": Decimal(99),
        "0.995": Decimal(100),
        "12.345678901234567890123456789": Decimal(1235),
        "9999999999.994": Decimal(999999999999),
        "9999999999.995": Decimal(1000000000000),
        "123456789012345678901234567890.125": Decimal(12345678901234567890123456789013),
        "9" * 35 + ".999": Decimal(10**37),  # 35 integer digits: still exact
        "1" + "0" * 35: None,  # 36 integer digits: beyond decimal(38,0) in cents
    }
    df = spark.createDataFrame([(v,) for v in expected], "v string")
    got = {r["v"]: r["cents"] for r in df.select("v", amount_cents(F.col("v")).alias("cents")).collect()}
    assert got == expected
