"""The reference oracle against tiny hand-written landing zones with hand-computed answers (SPEC §1-§4)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from tests.oracle import Expected, HeaderError, expected_from_landing, parse_amount

CUSTOMER_HEADER = "customer_id,first_name,last_name,email,country,signup_date,updated_at"
ORDER_HEADER = "order_id,customer_id,order_ts,status,total_amount,updated_at"
GOOD_CUSTOMER = {
    "customer_id": "C1",
    "first_name": "Ann",
    "last_name": "Lee",
    "email": "ann@example.com",
    "country": "DE",
    "signup_date": "2025-01-31",
    "updated_at": "2026-03-01T10:00:00Z",
}
GOOD_ORDER = {
    "order_id": "O1",
    "customer_id": "C1",
    "order_ts": "2026-03-01T09:00:00Z",
    "status": "placed",
    "total_amount": "12.50",
    "updated_at": "2026-03-01T10:00:00Z",
}


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def land(root: Path, rel: str, content: str | bytes) -> Path:
    """Write one landing file byte for byte (no newline translation)."""
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    return path


def csv_line(values: dict[str, str], header: str) -> str:
    return ",".join(values[c] for c in header.split(","))


def one_row(tmp_path: Path, source: str, **changes: str) -> Expected:
    good, header = (GOOD_CUSTOMER, CUSTOMER_HEADER) if source == "customers" else (GOOD_ORDER, ORDER_HEADER)
    land(tmp_path, f"{source}/{source}_20260301.csv", f"{header}\n{csv_line({**good, **changes}, header)}\n")
    return expected_from_landing(tmp_path)


def reasons_of(exp: Expected, source: str) -> list[str]:
    assert exp[source].bronze_records == 1
    return exp[source].quarantine.get((f"{source}/{source}_20260301.csv", 1), [])


# ------------------------------------------------------------------------------------------ column rules
def test_a_valid_customer_is_trimmed_typed_and_normalised(tmp_path: Path) -> None:
    exp = one_row(
        tmp_path,
        "customers",
        customer_id=" \tC1 ",
        first_name="  ",
        last_name=" Lee\t",
        email=" Ann.Lee@Example.COM ",
        country="de",
        signup_date="2025-01-31 ",
        updated_at="\t2026-03-01T10:00:00Z",
    )
    assert exp.customers.quarantine == {}
    assert exp.customers.silver == [
        {
            "customer_id": "C1",
            "first_name": None,
            "last_name": "Lee",
            "email": "ann.lee@example.com",
            "country": "DE",
            "signup_date": date(2025, 1, 31),
            "updated_at": datetime(2026, 3, 1, 10, 0, 0, tzinfo=UTC),
            "_source_file": "customers/customers_20260301.csv",
            "_line_number": 1,
        }
    ]


def test_a_valid_order_is_typed_with_its_utc_order_date(tmp_path: Path) -> None:
    exp = one_row(
        tmp_path,
        "orders",
        order_ts="2026-03-01T23:59:59Z",
        status=" SHIPPED",
        total_amount="10.005",
        updated_at="2026-03-02T00:00:00Z",
    )
    assert exp.orders.silver == [
        {
            "order_id": "O1",
            "customer_id": "C1",
            "order_ts": utc("2026-03-01T23:59:59Z"),
            "order_date": date(2026, 3, 1),
            "status": "shipped",
            "total_amount": Decimal("10.01"),
            "updated_at": utc("2026-03-02T00:00:00Z"),
            "_source_file": "orders/orders_20260301.csv",
            "_line_number": 1,
        }
    ]


@pytest.mark.parametrize("column", ["customer_id", "email", "country", "signup_date", "updated_at"])
@pytest.mark.parametrize("blank", ["", "   ", "\t", ' "\n" '.strip()])
def test_an_empty_required_customer_value_is_only_missing(tmp_path: Path, column: str, blank: str) -> None:
    exp = one_row(tmp_path, "customers", **{column: blank})
    assert reasons_of(exp, "customers") == [f"missing:{column}"]


@pytest.mark.parametrize("column", ["first_name", "last_name"])
def test_an_empty_optional_customer_value_is_null(tmp_path: Path, column: str) -> None:
    exp = one_row(tmp_path, "customers", **{column: " "})
    assert exp.customers.silver[0][column] is None


@pytest.mark.parametrize(
    "column", ["order_id", "customer_id", "order_ts", "status", "total_amount", "updated_at"]
)
def test_an_empty_required_order_value_is_only_missing(tmp_path: Path, column: str) -> None:
    exp = one_row(tmp_path, "orders", **{column: " \t "})
    assert reasons_of(exp, "orders") == [f"missing:{column}"]


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("email", "ann.example.com"),
        ("email", "ann@@example.com"),
        ("email", "ann lee@example.com"),
        ("email", "ann@example.com@corp"),
        ("email", "@example.com"),
        ("email", "ann@"),
        ("email", "ann@exa\x0bmple.com"),  # vertical tab is ASCII whitespace
        ("email", "ann@example.com\x0c"),  # form feed is not trimmed and is whitespace
        ("country", "USA"),
        ("country", "12"),
        ("country", "D"),
        ("country", "D1"),
        ("country", "D E"),
        ("signup_date", "2026-02-30"),
        ("signup_date", "2025-02-29"),
        ("signup_date", "2025-13-01"),
        ("signup_date", "2025/01/31"),
        ("signup_date", "2025-1-31"),
        ("signup_date", "20250131"),
        ("signup_date", "2025-01-31T00:00:00Z"),
        ("signup_date", "２０２５-01-31"),  # digits must be ASCII
        ("updated_at", "2026-03-01T25:00:00Z"),
        ("updated_at", "2026-03-01T24:00:00Z"),
        ("updated_at", "2026-03-01T10:60:00Z"),
        ("updated_at", "2026-03-01T10:00:60Z"),
        ("updated_at", "2026-02-30T10:00:00Z"),
        ("updated_at", "2026-03-01 10:00:00"),
        ("updated_at", "2026-03-01T10:00:00"),
        ("updated_at", "2026-03-01T10:00:00+00:00"),
        ("updated_at", "2026-03-01T10:00:00.123Z"),
        ("updated_at", "2026-03-01t10:00:00z"),
        ("updated_at", "1772359200"),
    ],
)
def test_a_present_customer_value_breaking_its_rule_is_invalid(
    tmp_path: Path, column: str, value: str
) -> None:
    exp = one_row(tmp_path, "customers", **{column: value})
    assert reasons_of(exp, "customers") == [f"invalid:{column}"]


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("status", "pending"),
        ("status", "canceled"),
        ("status", "shipped!"),
        ("status", "place d"),
        ("total_amount", "-12.50"),
        ("total_amount", "abc"),
        ("total_amount", "1e5"),
        ("total_amount", "12."),
        ("total_amount", ".50"),
        ("total_amount", "+12.00"),
        ("total_amount", "$12.00"),
        ("total_amount", "12.5.1"),
        ("total_amount", "12 .50"),
        ("total_amount", '"1,234.50"'),
        ("total_amount", "１２.００"),
        ("total_amount", "NaN"),
        ("total_amount", "10000000000.00"),
        ("total_amount", "9999999999.995"),  # rounds half up to 10**10: no longer fits decimal(12,2)
        ("total_amount", "123456789012345678901234567890123456789"),
        ("order_ts", "2026-03-01T25:00:00Z"),
        ("order_ts", "2026-03-01 09:00:00"),
        ("order_ts", "2026-02-29T09:00:00Z"),
        ("updated_at", "2026-03-01T10:61:00Z"),
    ],
)
def test_a_present_order_value_breaking_its_rule_is_invalid(tmp_path: Path, column: str, value: str) -> None:
    exp = one_row(tmp_path, "orders", **{column: value})
    assert reasons_of(exp, "orders") == [f"invalid:{column}"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("10.005", "10.01"),
        ("10.004999", "10.00"),
        ("2.675", "2.68"),  # a float would give 2.67
        ("0.005", "0.01"),
        ("0.004", "0.00"),
        ("007.5", "7.50"),
        ("12", "12.00"),
        ("0", "0.00"),
        ("9999999999.994", "9999999999.99"),
    ],
)
def test_amounts_round_half_up_to_two_places(text: str, expected: str) -> None:
    value = parse_amount(text)
    assert value == Decimal(expected)
    assert str(value) == expected


def test_only_ascii_whitespace_counts_for_email_and_trimming(tmp_path: Path) -> None:
    exp = one_row(tmp_path, "customers", customer_id="\u00a0", email="ann\u00a0lee@example.com")
    assert exp.customers.quarantine == {}
    assert exp.customers.silver[0]["customer_id"] == "\u00a0"
    assert exp.customers.silver[0]["email"] == "ann\u00a0lee@example.com"


def test_every_reason_of_a_row_is_collected_and_sorted(tmp_path: Path) -> None:
    land(
        tmp_path,
        "customers/customers_20260301.csv",
        f"{CUSTOMER_HEADER}\n ,Ann,Lee,not-an-email,USA,2025-13-01,\n",
    )
    land(tmp_path, "orders/orders_20260301.csv", f"{ORDER_HEADER}\nO1,,2026-03-01T09:00:00,pending,-1,\n")
    exp = expected_from_landing(tmp_path)
    assert exp.customers.quarantine == {
        ("customers/customers_20260301.csv", 1): [
            "invalid:country",
            "invalid:email",
            "invalid:signup_date",
            "missing:customer_id",
            "missing:updated_at",
        ]
    }
    assert exp.orders.quarantine == {
        ("orders/orders_20260301.csv", 1): [
            "invalid:order_ts",
            "invalid:status",
            "invalid:total_amount",
            "missing:customer_id",
            "missing:updated_at",
        ]
    }
    assert exp.customers.valid == exp.orders.valid == 0


# ---------------------------------------------------------------------------------------- CSV and files
def test_a_record_with_the_wrong_field_count_is_only_malformed(tmp_path: Path) -> None:
    land(
        tmp_path,
        "orders/orders_20260301.csv",
        f"{ORDER_HEADER}\n"
        "O1,C1,2026-03-01T09:00:00Z,placed,5,00,2026-03-01T10:00:00Z\n"  # unquoted decimal comma
        "O2,C1,2026-03-01T09:00:00Z,placed\n"  # too few, and would be missing values too
        "O3,C1,2026-03-01T09:00:00Z,placed,5.00,2026-03-01T10:00:00Z,\n"  # trailing comma
        "O4,C1,2026-03-01T09:00:00Z,placed,5.00,2026-03-01T10:00:00Z\n",
    )
    exp = expected_from_landing(tmp_path)
    rel = "orders/orders_20260301.csv"
    assert exp.orders.quarantine == {
        (rel, 1): ["malformed_line"],
        (rel, 2): ["malformed_line"],
        (rel, 3): ["malformed_line"],
    }
    assert (exp.orders.bronze_records, exp.orders.valid) == (4, 1)
    assert [o["order_id"] for o in exp.orders.silver] == ["O4"]


def test_quoted_values_keep_commas_doubled_quotes_and_line_breaks(tmp_path: Path) -> None:
    land(
        tmp_path,
        "customers/customers_20260301.csv",
        f"{CUSTOMER_HEADER}\n"
        'C1,"Lee, Jr.","O""Brien\nJones",ann@example.com,DE,2025-01-31,2026-03-01T10:00:00Z\n'
        'C2,"""Bo""","  Kim\n",bo@example.com,DE,2025-01-31,2026-03-01T10:00:00Z\n',
    )
    exp = expected_from_landing(tmp_path)
    assert exp.customers.quarantine == {}
    rows = exp.customers.silver_by_key()
    assert (rows["C1"]["first_name"], rows["C1"]["last_name"]) == ("Lee, Jr.", 'O"Brien\nJones')
    assert (rows["C2"]["first_name"], rows["C2"]["last_name"]) == ('"Bo"', "Kim")
    assert [rows["C1"]["_line_number"], rows["C2"]["_line_number"]] == [1, 2]


def test_bom_crlf_and_a_drifted_header_are_read(tmp_path: Path) -> None:
    header = " UPDATED_AT ,Email\t,COUNTRY,  customer_id,Signup_Date,LOYALTY_TIER,first_name,last_name"
    body = "2026-03-01T10:00:00Z,ann@example.com,de,C1,2025-01-31,gold,Ann,Lee"
    land(tmp_path, "customers/customers_20260301.csv", ("\ufeff" + header + "\r\n" + body + "\r\n").encode())
    exp = expected_from_landing(tmp_path)
    assert exp.customers.quarantine == {}
    assert exp.customers.extra_columns == {"customers/customers_20260301.csv": ["loyalty_tier"]}
    row = exp.customers.silver[0]
    assert (row["customer_id"], row["last_name"], row["country"]) == ("C1", "Lee", "DE")
    assert "loyalty_tier" not in row


def test_empty_lines_are_not_records_and_not_counted(tmp_path: Path) -> None:
    good = csv_line(GOOD_ORDER, ORDER_HEADER)
    land(
        tmp_path,
        "orders/orders_20260301.csv",
        f"\n{ORDER_HEADER}\n\n{good}\r\n\r\n\n{good.replace('O1', 'O2')}\n \n",
    )
    exp = expected_from_landing(tmp_path)
    rel = "orders/orders_20260301.csv"
    assert exp.orders.records_per_file == {rel: 3}
    assert [(o["order_id"], o["_line_number"]) for o in exp.orders.silver] == [("O1", 1), ("O2", 2)]
    assert exp.orders.quarantine == {(rel, 3): ["malformed_line"]}  # a line of one space is a record


def test_zero_byte_files_have_not_arrived_and_header_only_files_have_no_records(tmp_path: Path) -> None:
    land(tmp_path, "orders/orders_20260301.csv", b"")
    land(tmp_path, "orders/orders_20260302.csv", f"{ORDER_HEADER}\n")
    land(tmp_path, "orders/orders_20260303.csv", "\ufeff" + ORDER_HEADER)
    land(tmp_path, "orders/notes.txt", "not a batch")
    land(tmp_path, "orders/.orders_20260304.csv", f"{ORDER_HEADER}\n{csv_line(GOOD_ORDER, ORDER_HEADER)}\n")
    land(
        tmp_path,
        "orders/archive/orders_20260201.csv",
        f"{ORDER_HEADER}\n{csv_line(GOOD_ORDER, ORDER_HEADER)}\n",
    )
    exp = expected_from_landing(tmp_path)
    assert exp.orders.records_per_file == {  # SPEC §1: the zero-byte orders_20260301.csv has not arrived
        "orders/orders_20260302.csv": 0,
        "orders/orders_20260303.csv": 0,
    }
    assert exp.orders.bronze_records == exp.orders.valid == 0
    assert exp.customers.records_per_file == {}  # no customers directory at all
    assert exp.daily_revenue == [] and exp.customer_ltv == []


def test_a_required_column_missing_from_the_header_is_an_error(tmp_path: Path) -> None:
    land(tmp_path, "orders/orders_20260301.csv", "order_id,customer_id,order_ts,status,updated_at\n")
    with pytest.raises(HeaderError, match=r"orders/orders_20260301.csv: required column 'total_amount'"):
        expected_from_landing(tmp_path)


def test_a_column_named_twice_is_an_error(tmp_path: Path) -> None:
    land(tmp_path, "orders/orders_20260301.csv", f"{ORDER_HEADER}, Status \n")
    with pytest.raises(HeaderError, match="'status' appears twice"):
        expected_from_landing(tmp_path)


# --------------------------------------------------------------------------------------------- dedupe
def test_greatest_updated_at_wins_then_later_file_then_greater_line(tmp_path: Path) -> None:
    def row(order_id: str, status: str, updated: str) -> str:
        return f"{order_id},C1,2026-03-01T09:00:00Z,{status},1.00,2026-03-01T{updated}Z"

    land(
        tmp_path,
        "orders/orders_20260301.csv",
        "\n".join(
            [
                ORDER_HEADER,
                row("O1", "placed", "10:00:00"),
                row("O1", "shipped", "12:00:00"),  # newest version of O1
                row("O2", "placed", "10:00:00"),
                row("O3", "placed", "10:00:00"),
                row(" O3 ", "shipped", "10:00:00"),  # tie in one file: greater line wins
                row("O3", "cancelled", "10:00:00"),  # ... and this is the greatest line
                row("O4", "placed", "10:00:00"),
            ]
        )
        + "\n",
    )
    land(
        tmp_path,
        "orders/orders_20260302.csv",
        "\n".join(
            [
                ORDER_HEADER,
                row("O1", "delivered", "11:00:00"),  # stale in a later file: loses
                row("O2", "shipped", "10:00:00"),  # tie across files: later file wins
                row("O4", "placed", "10:00:00"),  # exact duplicate in a later file
            ]
        )
        + "\n",
    )
    exp = expected_from_landing(tmp_path)
    winners = {
        o["order_id"]: (o["status"], o["_source_file"][-12:], o["_line_number"]) for o in exp.orders.silver
    }
    assert winners == {
        "O1": ("shipped", "20260301.csv", 2),
        "O2": ("shipped", "20260302.csv", 2),
        "O3": ("cancelled", "20260301.csv", 6),
        "O4": ("placed", "20260302.csv", 3),
    }
    assert (exp.orders.valid, len(exp.orders.silver), exp.orders.superseded) == (10, 4, 6)


def test_files_are_ordered_by_name_for_ties(tmp_path: Path) -> None:
    header = CUSTOMER_HEADER
    land(
        tmp_path, "customers/b.csv", f"{header}\nC1,From,B,b@example.com,DE,2025-01-31,2026-03-01T10:00:00Z\n"
    )
    land(
        tmp_path, "customers/a.csv", f"{header}\nC1,From,A,a@example.com,DE,2025-01-31,2026-03-01T10:00:00Z\n"
    )
    land(
        tmp_path,
        "customers/B.csv",
        f"{header}\nC1,From,UB,u@example.com,DE,2025-01-31,2026-03-01T10:00:00Z\n",
    )
    exp = expected_from_landing(tmp_path)
    assert list(exp.customers.records_per_file) == ["customers/B.csv", "customers/a.csv", "customers/b.csv"]
    assert exp.customers.silver[0]["last_name"] == "B"
    assert exp.customers.superseded == 2


# ----------------------------------------------------------------------------------------------- gold
def test_gold_daily_revenue_and_customer_ltv(tmp_path: Path) -> None:
    land(
        tmp_path,
        "customers/customers_20260301.csv",
        f"{CUSTOMER_HEADER}\n"
        "C1,Ann,Lee,ann@example.com,DE,2025-01-31,2026-03-01T10:00:00Z\n"
        "C2,Bo,,bo@example.com,FR,2025-02-01,2026-03-01T10:00:00Z\n"
        "C3,Cy,Oh,cy@example.com,US,2025-02-02,2026-03-01T10:00:00Z\n",
    )

    def order(order_id: str, customer: str, ts: str, status: str, amount: str, updated: str = "") -> str:
        return f"{order_id},{customer},{ts},{status},{amount},{updated or ts}"

    land(
        tmp_path,
        "orders/orders_20260301.csv",
        "\n".join(
            [
                ORDER_HEADER,
                order("O1", "C1", "2026-03-01T08:00:00Z", "placed", "10.00"),
                order("O2", "C1", "2026-03-01T23:59:59Z", "shipped", "20.005"),  # -> 20.01
                order("O3", "C2", "2026-03-01T12:00:00Z", "delivered", "5"),
                order("O4", "C1", "2026-03-01T13:00:00Z", "cancelled", "100.00"),
                order("O5", "C2", "2026-03-01T14:00:00Z", "returned", "50.00"),
                order("O6", "C9", "2026-03-01T15:00:00Z", "placed", "7.00"),  # orphan: counts per day
                order("O7", "C3", "2026-03-01T16:00:00Z", "placed", "99.00"),
                order("O7", "C3", "2026-03-01T16:00:00Z", "cancelled", "99.00", "2026-03-02T08:00:00Z"),
                order("O8", "C3", "2026-03-02T09:00:00Z", "cancelled", "30.00"),  # a day of cancellations
            ]
        )
        + "\n",
    )
    exp = expected_from_landing(tmp_path)
    assert len(exp.orders.silver) == 8
    assert exp.daily_revenue == [
        {
            "order_date": date(2026, 3, 1),
            "orders_count": 4,
            "revenue": Decimal("42.01"),
            "customers_count": 3,
            "avg_order_value": Decimal("10.50"),  # 42.01 / 4 = 10.5025
        },
        {
            "order_date": date(2026, 3, 2),
            "orders_count": 0,
            "revenue": Decimal("0.00"),
            "customers_count": 0,
            "avg_order_value": None,
        },
    ]
    assert str(exp.daily_revenue[1]["revenue"]) == "0.00"
    ltv = {row["customer_id"]: row for row in exp.customer_ltv}
    assert list(ltv) == ["C1", "C2", "C3"]
    assert ltv["C1"] == {
        "customer_id": "C1",
        "first_name": "Ann",
        "last_name": "Lee",
        "email": "ann@example.com",
        "country": "DE",
        "signup_date": date(2025, 1, 31),
        "updated_at": utc("2026-03-01T10:00:00Z"),
        "orders_count": 2,
        "lifetime_revenue": Decimal("30.01"),
        "first_order_ts": utc("2026-03-01T08:00:00Z"),
        "last_order_ts": utc("2026-03-01T23:59:59Z"),
        "avg_order_value": Decimal("15.01"),  # 15.005 rounds half up
    }
    assert (ltv["C2"]["orders_count"], ltv["C2"]["lifetime_revenue"], ltv["C2"]["last_name"]) == (
        1,
        Decimal("5.00"),
        None,
    )
    no_orders = {
        k: ltv["C3"][k] for k in ("orders_count", "lifetime_revenue", "first_order_ts", "avg_order_value")
    }
    assert no_orders == {
        "orders_count": 0,
        "lifetime_revenue": Decimal("0.00"),
        "first_order_ts": None,
        "avg_order_value": None,
    }
    assert ltv["C3"]["last_order_ts"] is None


def test_sources_are_reachable_by_name(tmp_path: Path) -> None:
    exp = expected_from_landing(tmp_path)
    assert exp["orders"] is exp.orders and exp["customers"] is exp.customers
    with pytest.raises(KeyError, match="unknown source 'payments'"):
        exp["payments"]
