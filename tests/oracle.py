"""An independent, plain-Python reference implementation of the data contract (docs/contract.md, "SPEC") sections 1-4.

Why: the Spark pipeline is checked against a second implementation that shares no code with it, written
from the data contract alone (csv, decimal, datetime). When both agree on bronze counts, quarantine
reasons, silver rows and gold figures, the contract is met; when they disagree, one of them is wrong.

    >>> exp = expected_from_landing(Path("/tmp/landing"))          # doctest: +SKIP
    >>> exp.orders.quarantine[("orders/orders_20260301.csv", 7)]   # doctest: +SKIP
    ['invalid:status', 'missing:total_amount']

Conventions (the pipeline follows the same decisions):

- ``_source_file`` is the path relative to the landing dir with forward slashes; the files of a source are
  ``<landing>/<source>/*.csv`` (top level only; symbolic links, empty files and names starting with ``.``
  or ``_`` are not batches, nor is a file with the same bytes as an earlier one), processed in lexical order of their file name (Python ``str`` order, i.e. code points).
- A file is UTF-8 with an optional leading BOM, RFC 4180 (Python's ``csv`` excel dialect, lenient about
  stray quotes inside unquoted values). The first non-empty record is the header.
- A record of zero fields (an empty line) is not a record: it is skipped and not counted.
  ``_line_number`` numbers the data records 1, 2, 3... (a quoted multi-line record counts once).
- Timestamps in silver are **timezone-aware UTC** ``datetime`` objects (``tzinfo=UTC``); dates are
  ``datetime.date``; amounts are ``Decimal`` with exactly two places.
- A required column missing from a header, or a header naming a column twice, raises :class:`HeaderError`.
- A "real" date or instant is one Python's ``date``/``datetime`` accepts: years 0001-9999, no leap second.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Context, Decimal
from pathlib import Path
from typing import Any

SOURCES: tuple[str, ...] = ("customers", "orders")
KEYS: dict[str, str] = {"customers": "customer_id", "orders": "order_id"}
REQUIRED: dict[str, tuple[str, ...]] = {
    "customers": ("customer_id", "email", "country", "signup_date", "updated_at"),
    "orders": ("order_id", "customer_id", "order_ts", "status", "total_amount", "updated_at"),
}
OPTIONAL: dict[str, tuple[str, ...]] = {"customers": ("first_name", "last_name"), "orders": ()}
STATUSES: frozenset[str] = frozenset({"placed", "shipped", "delivered", "cancelled", "returned"})
COUNTED_STATUSES: frozenset[str] = frozenset({"placed", "shipped", "delivered"})
MALFORMED = "malformed_line"

_TRIM = " \t\r\n"
_ASCII_WS = " \t\n\r\f\v"
_EMAIL = re.compile(f"[^@{_ASCII_WS}]+@[^@{_ASCII_WS}]+")
_COUNTRY = re.compile("[A-Z]{2}")
_DATE = re.compile("([0-9]{4})-([0-9]{2})-([0-9]{2})")
_TS = re.compile("([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})Z")
_AMOUNT = re.compile(r"[0-9]+(\.[0-9]+)?")
_CENT = Decimal("0.01")
_DECIMAL_12_2_LIMIT = Decimal(10) ** 10


class HeaderError(ValueError):
    """A file's header breaks the contract (a required column is missing or a name repeats)."""


@dataclass
class SourceExpected:
    """What the contract says one source's bronze, quarantine and silver must hold.

    ``quarantine`` maps ``(_source_file, _line_number)`` to the sorted reasons of that record;
    ``silver`` is sorted by key; ``superseded`` = ``valid - len(silver)``.

        >>> src = expected_from_landing(landing).customers    # doctest: +SKIP
        >>> src.valid + src.quarantined == src.bronze_records  # doctest: +SKIP
        True
    """

    key: str
    bronze_records: int = 0
    records_per_file: dict[str, int] = field(default_factory=dict)
    quarantine: dict[tuple[str, int], list[str]] = field(default_factory=dict)
    valid: int = 0
    silver: list[dict[str, Any]] = field(default_factory=list)
    superseded: int = 0
    extra_columns: dict[str, list[str]] = field(default_factory=dict)

    @property
    def quarantined(self) -> int:
        """Number of quarantined records (malformed or breaking a rule)."""
        return len(self.quarantine)

    @property
    def quarantine_ratio(self) -> float:
        """Quarantined / records read; 0.0 for a source without records."""
        return self.quarantined / self.bronze_records if self.bronze_records else 0.0

    def silver_by_key(self) -> dict[str, dict[str, Any]]:
        """Silver rows keyed by their business key, for lookups in tests."""
        return {row[self.key]: row for row in self.silver}


@dataclass
class Expected:
    """The expected state of every table after one run over a landing zone (= any sequence of runs).

    >>> exp = expected_from_landing(landing)   # doctest: +SKIP
    >>> exp["orders"].valid, len(exp.daily_revenue)   # doctest: +SKIP
    (10012, 10)
    """

    customers: SourceExpected
    orders: SourceExpected
    daily_revenue: list[dict[str, Any]]
    customer_ltv: list[dict[str, Any]]

    def __getitem__(self, source: str) -> SourceExpected:
        if source not in SOURCES:
            raise KeyError(f"unknown source {source!r}; expected one of {SOURCES}")
        return self.customers if source == "customers" else self.orders


# --------------------------------------------------------------------------------------------- reading
def read_records(path: Path, rel: str) -> tuple[list[str], Iterator[list[str]]]:
    """Return a file's normalised header and an iterator over its non-empty data records.

    Why: header handling (BOM, trimming, lower-casing) and blank-record skipping are shared by every
    source and must be identical everywhere.  ``([], iter([]))`` for a zero-byte file.

        >>> header, records = read_records(Path("orders_20260301.csv"), "orders/orders_20260301.csv")
        ... # doctest: +SKIP
    """
    text = path.read_bytes().decode("utf-8")
    if text.startswith("\ufeff"):
        text = text[1:]
    reader = (record for record in csv.reader(io.StringIO(text, newline="")) if record)
    raw_header = next(reader, None)
    if raw_header is None:
        return [], iter(())
    header = [name.strip(_TRIM).lower() for name in raw_header]
    seen: set[str] = set()
    for name in header:
        if name in seen:
            raise HeaderError(f"{rel}: column {name!r} appears twice in the header")
        seen.add(name)
    return header, reader


# ------------------------------------------------------------------------------------------------ rules
def _trim(value: str) -> str:
    return value.strip(_TRIM)


def parse_timestamp(text: str) -> datetime | None:
    """``YYYY-MM-DDTHH:MM:SSZ`` as an aware UTC datetime, or None if the text is not a real instant.

    >>> parse_timestamp("2026-03-01T25:00:00Z") is None
    True
    """
    match = _TS.fullmatch(text)
    if match is None:
        return None
    year, month, day, hour, minute, second = (int(part) for part in match.groups())
    try:
        return datetime(year, month, day, hour, minute, second, tzinfo=UTC)
    except ValueError:
        return None


def parse_date(text: str) -> date | None:
    """``YYYY-MM-DD`` as a date, or None if it is not a real calendar date (``2026-02-29`` is not)."""
    match = _DATE.fullmatch(text)
    if match is None:
        return None
    year, month, day = (int(part) for part in match.groups())
    try:
        return date(year, month, day)
    except ValueError:
        return None


def parse_amount(text: str) -> Decimal | None:
    """Amount rounded half up to 2 places, or None if it breaks the rule or does not fit decimal(12,2).

    >>> parse_amount("10.005"), parse_amount("9999999999.995"), parse_amount("1e5")
    (Decimal('10.01'), None, None)
    """
    if _AMOUNT.fullmatch(text) is None:
        return None
    context = Context(prec=len(text) + 4, rounding=ROUND_HALF_UP)
    value = Decimal(text).quantize(_CENT, context=context)
    if value >= _DECIMAL_12_2_LIMIT:
        return None
    return value


def validate(source: str, values: dict[str, str]) -> tuple[list[str], dict[str, Any]]:
    """Apply the column rules of one source to one record; return (sorted reasons, typed values).

    ``values`` maps normalised header names to the raw text; columns absent from it are missing.

        >>> validate("orders", {"order_id": "O1", "status": "pending"})[0][:2]
        ['invalid:status', 'missing:customer_id']
    """
    reasons: list[str] = []
    typed: dict[str, Any] = {}
    for column in REQUIRED[source]:
        text = _trim(values.get(column, ""))
        if not text:
            reasons.append(f"missing:{column}")
            continue
        value: Any
        if column in ("customer_id", "order_id"):
            value = text
        elif column == "email":
            value = text.lower() if _EMAIL.fullmatch(text) else None
        elif column == "country":
            upper = text.upper()
            value = upper if _COUNTRY.fullmatch(upper) else None
        elif column == "signup_date":
            value = parse_date(text)
        elif column in ("updated_at", "order_ts"):
            value = parse_timestamp(text)
        elif column == "status":
            lower = text.lower()
            value = lower if lower in STATUSES else None
        elif column == "total_amount":
            value = parse_amount(text)
        else:  # pragma: no cover - REQUIRED lists only the columns above
            raise AssertionError(column)
        if value is None:
            reasons.append(f"invalid:{column}")
        else:
            typed[column] = value
    for column in OPTIONAL[source]:
        text = _trim(values.get(column, ""))
        typed[column] = text or None
    if source == "orders" and "order_ts" in typed:
        typed["order_date"] = typed["order_ts"].date()
    return sorted(reasons), typed


# ----------------------------------------------------------------------------------------------- silver
_SILVER_COLUMNS: dict[str, tuple[str, ...]] = {
    "customers": ("customer_id", "first_name", "last_name", "email", "country", "signup_date", "updated_at"),
    "orders": ("order_id", "customer_id", "order_ts", "order_date", "status", "total_amount", "updated_at"),
}


def _expected_source(landing: Path, source: str) -> SourceExpected:
    key = KEYS[source]
    result = SourceExpected(key=key)
    directory = landing / source
    files = []
    contents: set[bytes] = set()
    for path in sorted(directory.glob("*.csv"), key=lambda p: p.name):
        # SPEC §1: regular files only (links never followed), `.`/`_` names are still being written, an
        # empty file has not arrived, and a file with the content of an earlier one is a copy
        if path.is_symlink() or not path.is_file() or path.name.startswith((".", "_")):
            continue
        data = path.read_bytes()
        if not data or data in contents:
            continue
        contents.add(data)
        files.append(path)
    winners: dict[str, tuple[tuple[datetime, str, int], dict[str, Any]]] = {}
    for path in files:
        rel = f"{source}/{path.name}"
        header, records = read_records(path, rel)
        if header:
            for column in REQUIRED[source]:
                if column not in header:
                    raise HeaderError(f"{rel}: required column {column!r} is missing from the header")
            known = set(REQUIRED[source]) | set(OPTIONAL[source])
            result.extra_columns[rel] = [name for name in header if name not in known]
        count = 0
        for record in records:
            count += 1
            if len(record) != len(header):
                result.quarantine[(rel, count)] = [MALFORMED]
                continue
            reasons, typed = validate(source, dict(zip(header, record, strict=True)))
            if reasons:
                result.quarantine[(rel, count)] = reasons
                continue
            result.valid += 1
            row = {column: typed[column] for column in _SILVER_COLUMNS[source]}
            row["_source_file"] = rel
            row["_line_number"] = count
            rank = (row["updated_at"], rel, count)
            current = winners.get(row[key])
            if current is None or rank > current[0]:
                winners[row[key]] = (rank, row)
        result.records_per_file[rel] = count
        result.bronze_records += count
    result.silver = [winners[k][1] for k in sorted(winners)]
    result.superseded = result.valid - len(result.silver)
    return result


# ------------------------------------------------------------------------------------------------- gold
def _cents(amount: Decimal) -> int:
    return int(amount.scaleb(2))


def _money(cents: int) -> Decimal:
    """Integer cents (>= 0) as a Decimal with exactly two places."""
    return Decimal(f"{cents // 100}.{cents % 100:02d}")


def _average(total_cents: int, count: int) -> Decimal | None:
    """total / count rounded half up to 2 places, exactly (integer arithmetic); None when count is 0."""
    if count == 0:
        return None
    quotient, remainder = divmod(total_cents, count)
    if 2 * remainder >= count:
        quotient += 1
    return _money(quotient)


def _daily_revenue(orders: list[dict[str, Any]]) -> list[dict[str, Any]]:
    days: dict[date, list[dict[str, Any]]] = {}
    for order in orders:
        days.setdefault(order["order_date"], [])
        if order["status"] in COUNTED_STATUSES:
            days[order["order_date"]].append(order)
    rows = []
    for day in sorted(days):
        counted = days[day]
        total = sum(_cents(o["total_amount"]) for o in counted)
        rows.append(
            {
                "order_date": day,
                "orders_count": len(counted),
                "revenue": _money(total),
                "customers_count": len({o["customer_id"] for o in counted}),
                "avg_order_value": _average(total, len(counted)),
            }
        )
    return rows


def _customer_ltv(customers: list[dict[str, Any]], orders: list[dict[str, Any]]) -> list[dict[str, Any]]:
    by_customer: dict[str, list[dict[str, Any]]] = {}
    for order in orders:
        if order["status"] in COUNTED_STATUSES:
            by_customer.setdefault(order["customer_id"], []).append(order)
    rows = []
    for customer in customers:
        counted = by_customer.get(customer["customer_id"], [])
        total = sum(_cents(o["total_amount"]) for o in counted)
        row = {column: customer[column] for column in _SILVER_COLUMNS["customers"]}
        row.update(
            {
                "orders_count": len(counted),
                "lifetime_revenue": _money(total),
                "first_order_ts": min((o["order_ts"] for o in counted), default=None),
                "last_order_ts": max((o["order_ts"] for o in counted), default=None),
                "avg_order_value": _average(total, len(counted)),
            }
        )
        rows.append(row)
    return rows


def expected_from_landing(landing: Path) -> Expected:
    """Compute bronze counts, quarantine, silver and gold for one run over every file of a landing zone.

    >>> exp = expected_from_landing(tmp_path)                  # doctest: +SKIP
    >>> [r["orders_count"] for r in exp.daily_revenue]         # doctest: +SKIP
    [3, 0]
    """
    customers = _expected_source(landing, "customers")
    orders = _expected_source(landing, "orders")
    return Expected(
        customers=customers,
        orders=orders,
        daily_revenue=_daily_revenue(orders.silver),
        customer_ltv=_customer_ltv(customers.silver, orders.silver),
    )
