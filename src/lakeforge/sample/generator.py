"""Deterministic sample landing zone: realistic customers and orders with a controlled share of dirt.

Why: the pipeline, its tests and its benchmarks need input that exercises every rule of the data contract
(docs/contract.md, "SPEC") - malformed records, missing and invalid values, duplicates, late and stale updates, ties,
orphans, header drift, BOM, CRLF, quoted line breaks - in known amounts, reproducibly for a seed.

    >>> report = generate(Path("/tmp/landing"), scale=0.01, seed=7)   # doctest: +SKIP
    >>> report.customers.records, report.orders.files                 # doctest: +SKIP
    (1024, 10)

Record counts (``r`` = ``dirt_rate``, Python ``round``):

- ``n_customers = max(1, round(100_000 * scale))`` and ``n_orders = max(1, round(1_000_000 * scale))`` clean
  base records, one per key (``C0000001``..., ``O00000001``...).
- ``faults = round((n_customers + n_orders) * r / (1 - r))`` extra records, each carrying exactly one fault
  kind, so faults / all records = ``r``. They are allotted to kinds deterministically: first one per kind
  (customers and orders kinds interleaved) while the budget lasts, then the rest split between the sources
  in proportion to their base counts and, within a source, by fixed kind weights (largest remainder).
- records written per source = base + faults of that source; silver ends with ``n_customers`` customers
  and ``n_orders + orphan`` orders; quarantined records = the faults of quarantine kinds.

Example: scale 0.002 at the default rate gives 200 + 11 customer and 2,000 + 11 order records.
"""

from __future__ import annotations

import csv
import logging
import math
import unicodedata
from bisect import bisect_right
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from itertools import chain
from operator import itemgetter
from pathlib import Path
from random import Random
from typing import Any

logger = logging.getLogger(__name__)

CUSTOMERS_AT_SCALE_1 = 100_000
ORDERS_AT_SCALE_1 = 1_000_000
MAX_DIRT_RATE = 0.5
TRICKY_RATE = 0.03
"""Share of clean records given valid-but-awkward formatting (padding, case, quoting, rounding)."""

CUSTOMER_COLUMNS: tuple[str, ...] = (
    "customer_id",
    "first_name",
    "last_name",
    "email",
    "country",
    "signup_date",
    "updated_at",
)
ORDER_COLUMNS: tuple[str, ...] = (
    "order_id",
    "customer_id",
    "order_ts",
    "status",
    "total_amount",
    "updated_at",
)
EXTRA_COLUMNS: dict[str, str] = {"customers": "loyalty_tier", "orders": "channel"}

# Fault kinds per source with their weight, in the order they get their first record. Kinds that end in
# the quarantine are the malformed_*, missing_*, invalid_* and multiple_reasons ones.
CUSTOMER_FAULT_WEIGHTS: dict[str, int] = {
    "malformed_too_few": 2, "duplicate": 10, "missing_email": 2, "late_update": 30,
    "invalid_email": 5, "stale_update": 6, "missing_customer_id": 1, "tie_across_files": 4,
    "invalid_country": 3, "tie_within_file": 4, "malformed_too_many": 2, "missing_country": 2,
    "invalid_signup_date": 3, "missing_signup_date": 1, "invalid_updated_at": 3, "missing_updated_at": 1,
    "multiple_reasons": 1,
}  # fmt: skip
ORDER_FAULT_WEIGHTS: dict[str, int] = {
    "malformed_too_many": 3, "duplicate": 10, "missing_total_amount": 2, "late_update": 30,
    "invalid_total_amount": 5, "orphan": 6, "invalid_status": 3, "stale_update": 6,
    "missing_order_id": 1, "tie_across_files": 3, "invalid_order_ts": 2, "tie_within_file": 3,
    "malformed_too_few": 2, "missing_customer_id": 1, "missing_status": 1, "invalid_updated_at": 2,
    "missing_order_ts": 1, "missing_updated_at": 1, "multiple_reasons": 1,
}  # fmt: skip
_QUARANTINE_PREFIXES = ("malformed_", "missing_", "invalid_", "multiple_reasons")
_UNIQUE_KEY_KINDS = frozenset(
    {"duplicate", "late_update", "stale_update", "tie_across_files", "tie_within_file"}
)
_LATER_FILE_KINDS = frozenset({"late_update", "stale_update", "tie_across_files"})


def reference_sources() -> tuple[str, ...]:
    """The landing sources of the packaged reference contracts (SPEC §1): the ones this generator writes."""
    from lakeforge.contracts.registry import ContractRegistry

    registry = ContractRegistry.default()
    return tuple(
        sorted({s for n in registry.names() if (s := registry.get(n).source) and n.startswith("bronze.")})
    )


def is_quarantine_kind(kind: str) -> bool:
    """True for fault kinds whose records the contract sends to the quarantine.

    >>> is_quarantine_kind("invalid_email"), is_quarantine_kind("late_update")
    (True, False)
    """
    return kind.startswith(_QUARANTINE_PREFIXES)


@dataclass(frozen=True)
class SourceReport:
    """What was written for one source: files, records, clean base keys and fault records per kind.

    >>> SourceReport(files=1, records=3, keys=2, faults={"duplicate": 1}).quarantined
    0
    """

    files: int
    records: int
    keys: int
    faults: Mapping[str, int] = field(default_factory=dict)

    @property
    def quarantined(self) -> int:
        """Records the contract must quarantine (malformed, missing or invalid values)."""
        return sum(n for kind, n in self.faults.items() if is_quarantine_kind(kind))

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready form."""
        return {
            "files": self.files,
            "records": self.records,
            "keys": self.keys,
            "quarantined": self.quarantined,
            "faults": dict(self.faults),
        }


@dataclass(frozen=True)
class GenerateReport:
    """Summary of one :func:`generate` call, per source.

    >>> generate(Path("/tmp/landing"), scale=0.01).to_dict()["orders"]["faults"]["orphan"]  # doctest: +SKIP
    6
    """

    out_dir: Path
    seed: int
    scale: float
    dirt_rate: float
    customers: SourceReport
    orders: SourceReport

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready form (paths as strings)."""
        return {
            "out_dir": str(self.out_dir),
            "seed": self.seed,
            "scale": self.scale,
            "dirt_rate": self.dirt_rate,
            "customers": self.customers.to_dict(),
            "orders": self.orders.to_dict(),
        }


# ------------------------------------------------------------------------------------------- vocabulary
_FIRST_NAMES = (
    "Anna", "Ben", "Chloé", "David", "Emma", "Farid", "Grace", "Hiro", "Inès", "Jonas", "Kofi", "Lena",
    "Mateo", "Nora", "Oskar", "Priya", "Quinn", "Rosa", "Sven", "Tomás", "Uma", "Victor", "Wei", "Ximena",
    "Yusuf", "Zoë",
)  # fmt: skip
_LAST_NAMES = (
    "Smith", "Müller", "García", "Rossi", "Kowalski", "Nakamura", "Okafor", "Dubois", "Jensen", "Silva",
    "Novak", "Ivanova", "O'Brien", "van der Berg", "Łukasiewicz", "Haddad", "Kim", "Singh", "Andersson",
    "Costa",
)  # fmt: skip
_DOMAINS = ("example.com", "mail.example.org", "inbox.test", "post.example.net")
_COUNTRIES = (
    "US", "US", "US", "DE", "DE", "GB", "FR", "NL", "ES", "IT", "PL", "SE", "DK", "NO", "FI", "IE", "PT",
    "BE", "AT", "CH", "JP", "BR", "IN", "CA", "AU",
)  # fmt: skip
_STATUS_POOL = tuple(
    ["placed"] * 30 + ["shipped"] * 25 + ["delivered"] * 33 + ["cancelled"] * 7 + ["returned"] * 5
)
_NEXT_STATUS = {
    "placed": "shipped", "shipped": "delivered", "delivered": "returned", "cancelled": "placed",
    "returned": "delivered",
}  # fmt: skip
_TIERS = ("bronze", "silver", "gold", "platinum", "")
_CHANNELS = ("web", "app", "store", "phone")
_PADS = (" ", "  ", "\t", " \t", "\t ")
_HEADER_PADS = (" {} ", "{}\t", "  {}")
_MISSING = ("", "   ", "\t", " \t ")
_BAD_COUNTRIES = ("USA", "DEU", "12", "U", "U1", "E.S.", "Deutschland")
_BAD_DATES = (
    "2026-02-30", "2025-02-29", "2025-13-01", "2025/03/01", "01-03-2025", "20250301", "2025-3-1",
    "2025-03-01T00:00:00Z", "2025-00-10",
)  # fmt: skip
_BAD_STATUSES = ("pending", "canceled", "shipped!", "unknown", "deliverd", "0", "placed-2")
_BAD_AMOUNTS = (
    "-12.50", "abc", "1e5", "12345678901.00", "9999999999.995", "12.", ".50", "1,234.50", "$12.00",
    "12.5.1", "１２.００", "+12.00", "NaN", "12 .50",
)  # fmt: skip


def _ascii_slug(name: str) -> str:
    """'Łukasiewicz' -> 'lukasiewicz', 'van der Berg' -> 'vanderberg' (for e-mail local parts)."""
    folded = unicodedata.normalize("NFKD", name.replace("Ł", "L").replace("ł", "l"))
    return "".join(c for c in folded.lower() if "a" <= c <= "z")


class _Calendar:
    """Formats instants given as seconds since ``start_date`` 00:00:00 UTC; caches day strings."""

    def __init__(self, start: date) -> None:
        self.start = start
        self.times = [f"{h:02d}:{m:02d}:{s:02d}Z" for h in range(24) for m in range(60) for s in range(60)]
        self._days: dict[int, str] = {}

    def day(self, offset: int) -> str:
        """``YYYY-MM-DD`` of ``start + offset`` days."""
        text = self._days.get(offset)
        if text is None:
            text = (self.start + timedelta(days=offset)).isoformat()
            self._days[offset] = text
        return text

    def ts(self, seconds: int) -> str:
        """``YYYY-MM-DDTHH:MM:SSZ`` of an instant."""
        day, rest = divmod(seconds, 86_400)
        return f"{self.day(day)}T{self.times[rest]}"


@dataclass
class _Origin:
    """A base record a fault is derived from: its canonical values and instants (seconds)."""

    values: list[str]
    ts: int
    upd: int


@dataclass
class _Fault:
    kind: str
    key: int  # base key index, -1 for a record with a new key (orphan)
    target: int  # file index the record lands in
    variant: int  # n-th record of this kind: picks the concrete bad value


@dataclass
class _Layout:
    header: list[str]
    order: tuple[int, ...]
    bom: bool
    crlf: bool


# ------------------------------------------------------------------------------------------- allocation
def _fault_budget(n_customers: int, n_orders: int, dirt_rate: float) -> int:
    return round((n_customers + n_orders) * dirt_rate / (1.0 - dirt_rate))


def _largest_remainder(total: int, weights: Mapping[str, int]) -> dict[str, int]:
    weight_sum = sum(weights.values())
    shares = {kind: total * w // weight_sum for kind, w in weights.items()}
    left = total - sum(shares.values())
    ranked = sorted(weights, key=lambda k: -((total * weights[k]) % weight_sum))
    for kind in ranked[:left]:
        shares[kind] += 1
    return shares


def allocate_faults(budget: int, n_customers: int, n_orders: int) -> tuple[dict[str, int], dict[str, int]]:
    """Split the fault budget over the kinds of both sources (see the module docstring).

    >>> c, o = allocate_faults(4, 200, 2000)
    >>> sum(c.values()), sum(o.values()), c["malformed_too_few"], o["malformed_too_many"]
    (2, 2, 1, 1)
    """
    customers = dict.fromkeys(CUSTOMER_FAULT_WEIGHTS, 0)
    orders = dict.fromkeys(ORDER_FAULT_WEIGHTS, 0)
    c_kinds, o_kinds = list(CUSTOMER_FAULT_WEIGHTS), list(ORDER_FAULT_WEIGHTS)
    firsts: list[tuple[dict[str, int], str]] = []
    for i in range(max(len(c_kinds), len(o_kinds))):
        if i < len(c_kinds):
            firsts.append((customers, c_kinds[i]))
        if i < len(o_kinds):
            firsts.append((orders, o_kinds[i]))
    for counts, kind in firsts[:budget]:
        counts[kind] += 1
    rest = max(0, budget - len(firsts))
    rest_customers = round(rest * n_customers / (n_customers + n_orders))
    for counts, weights, share in (
        (customers, CUSTOMER_FAULT_WEIGHTS, rest_customers),
        (orders, ORDER_FAULT_WEIGHTS, rest - rest_customers),
    ):
        for kind, n in _largest_remainder(share, weights).items():
            counts[kind] += n
    return customers, orders


def _split_counts(n: int, files: int, front_loaded: bool) -> list[int]:
    """Base records per file: orders evenly; customers half in the first file, the rest spread."""
    if files == 1:
        return [n]
    if front_loaded:
        rest = n // 2
        q, r = divmod(rest, files - 1)
        return [n - rest] + [q + (1 if i < r else 0) for i in range(files - 1)]
    q, r = divmod(n, files)
    return [q + (1 if i < r else 0) for i in range(files)]


def _plan(rng: Random, counts: Mapping[str, int], per_file: list[int]) -> list[_Fault]:
    """Pick, for every fault record, the base key it derives from and the file it lands in."""
    files = len(per_file)
    last = files - 1
    starts = [sum(per_file[:i]) for i in range(files)]
    n = sum(per_file)
    early = starts[last] if files > 1 and starts[last] > 0 else n
    rnd = rng.random
    used: set[int] = set()
    faults: list[_Fault] = []
    for kind, count in counts.items():
        for variant in range(count):
            if kind == "orphan":
                faults.append(_Fault(kind, -1, int(rnd() * files), variant))
                continue
            pool = early if kind in _LATER_FILE_KINDS else n
            key = int(rnd() * pool)
            if kind in _UNIQUE_KEY_KINDS:
                for _ in range(20):
                    if key not in used:
                        break
                    key = int(rnd() * pool)
                used.add(key)
            origin_file = bisect_right(starts, key) - 1
            if kind == "tie_within_file":
                target = origin_file
            elif kind in _LATER_FILE_KINDS and origin_file < last:
                target = origin_file + 1 + int(rnd() * (last - origin_file))
            else:
                target = origin_file + int(rnd() * (last - origin_file + 1))
            faults.append(_Fault(kind, key, target, variant))
    return faults


def _layouts(rng: Random, columns: tuple[str, ...], extra: str, extra_from: int, files: int) -> list[_Layout]:
    """Per-file header: canonical, shuffled (i % 3 == 1) or upper-cased and padded (i % 3 == 2);
    the extra column from file ``extra_from`` on; one BOM file and one CRLF file."""
    names = (*columns, extra)
    last = files - 1
    layouts = []
    for i in range(files):
        order = list(range(len(columns))) + ([len(columns)] if i >= extra_from else [])
        if i % 3 == 1:
            shuffled = order[:]
            rng.shuffle(shuffled)
            order = shuffled if shuffled != order else order[::-1]
        header = [names[j] for j in order]
        if i % 3 == 2:
            header = [_HEADER_PADS[p % len(_HEADER_PADS)].format(h.upper()) for p, h in enumerate(header)]
        layouts.append(_Layout(header, tuple(order), bom=i == min(3, last), crlf=i == min(4, last)))
    return layouts


# ----------------------------------------------------------------------------------------- base records
def _pad(rng: Random, value: str) -> str:
    pad = _PADS[int(rng.random() * len(_PADS))]
    side = int(rng.random() * 3)
    return pad + value if side == 0 else value + pad if side == 1 else pad + value + pad


def _tricky_customer(rng: Random, row: list[str]) -> None:
    """Valid but awkward: padding, letter case, quoted commas, quotes and line breaks, empty names."""
    choice = int(rng.random() * 9)
    if choice == 0:
        i = int(rng.random() * 7)
        row[i] = _pad(rng, row[i])
    elif choice == 1:
        row[3] = row[3].upper()
    elif choice == 2:
        local, domain = row[3].split("@")
        row[3] = f"{local.title()}@{domain.capitalize()}"
    elif choice == 3:
        row[4] = row[4].lower()
    elif choice == 4:
        row[4] = row[4][0] + row[4][1].lower()
    elif choice == 5:
        row[2] = f"{row[2]}, Jr."
    elif choice == 6:
        row[1] = f'{row[1]} "Bo"'
    elif choice == 7:
        row[2] = f"{row[2]}\n{_LAST_NAMES[int(rng.random() * len(_LAST_NAMES))]}"
    else:
        row[1] = _MISSING[int(rng.random() * len(_MISSING))]


def _tricky_order(rng: Random, row: list[str], cents: int) -> None:
    """Valid but awkward: padding, status case, amounts that need rounding or have odd digits."""
    choice = int(rng.random() * 8)
    if choice == 0:
        i = int(rng.random() * 6)
        row[i] = _pad(rng, row[i])
    elif choice == 1:
        row[3] = row[3].upper()
    elif choice == 2:
        row[3] = row[3].capitalize()
    elif choice == 3:
        row[4] = f"{cents // 100}.{cents % 100:02d}5"  # half up: 10.005 -> 10.01
    elif choice == 4:
        row[4] = str(cents // 100)
    elif choice == 5:
        row[4] = "00" + row[4]
    elif choice == 6:
        row[4] = f"{row[4]}49"  # 12.3449 -> 12.34
    else:
        row[4] = f"{cents // 100}.{cents % 100 // 10}"


def _customer_rows(
    rng: Random, cal: _Calendar, file_index: int, start: int, count: int,
    needed: set[int], origins: dict[int, _Origin],
) -> list[list[str]]:  # fmt: skip
    rnd = rng.random
    firsts = _FIRST_NAMES
    lasts = _LAST_NAMES
    slugs_first = [_ascii_slug(n) for n in firsts]
    slugs_last = [_ascii_slug(n) for n in lasts]
    prefix = cal.day(file_index) + "T"
    times = cal.times
    day0 = file_index * 86_400
    rows: list[list[str]] = []
    for key in range(start, start + count):
        fi = int(rnd() * len(firsts))
        li = int(rnd() * len(lasts))
        second = int(rnd() * 86_400)
        row = [
            f"C{key + 1:07d}",
            firsts[fi],
            lasts[li],
            f"{slugs_first[fi]}.{slugs_last[li]}{key + 1}@{_DOMAINS[int(rnd() * len(_DOMAINS))]}",
            _COUNTRIES[int(rnd() * len(_COUNTRIES))],
            cal.day(file_index - int(rnd() * 1095)),
            prefix + times[second],
            _TIERS[int(rnd() * len(_TIERS))],
        ]
        if rnd() < TRICKY_RATE:
            _tricky_customer(rng, row)
        if key in needed:
            origins[key] = _Origin(row, day0 + second, day0 + second)
        rows.append(row)
    return rows


def _order_rows(
    rng: Random, cal: _Calendar, file_index: int, start: int, count: int, known_customers: int,
    needed: set[int], origins: dict[int, _Origin],
) -> list[list[str]]:  # fmt: skip
    rnd = rng.random
    prefix = cal.day(file_index) + "T"
    next_prefix = cal.day(file_index + 1) + "T"
    times = cal.times
    day0 = file_index * 86_400
    statuses = _STATUS_POOL
    rows: list[list[str]] = []
    for key in range(start, start + count):
        second = int(rnd() * 86_400)
        updated = second + 60 + int(rnd() * 21_540)
        cents = 500 + int(49_500 * rnd() ** 2)
        row = [
            f"O{key + 1:08d}",
            f"C{int(rnd() * known_customers) + 1:07d}",
            prefix + times[second],
            statuses[int(rnd() * 100)],
            f"{cents // 100}.{cents % 100:02d}",
            prefix + times[updated] if updated < 86_400 else next_prefix + times[updated - 86_400],
            _CHANNELS[int(rnd() * len(_CHANNELS))],
        ]
        if rnd() < TRICKY_RATE:
            _tricky_order(rng, row, cents)
        if key in needed:
            origins[key] = _Origin(row, day0 + second, day0 + updated)
        rows.append(row)
    return rows


# ---------------------------------------------------------------------------------------- fault records
def _pick(options: tuple[str, ...], variant: int) -> str:
    return options[variant % len(options)]


def _bad_timestamp(day: str, variant: int) -> str:
    options = (
        f"{day}T25:10:00Z", f"{day} 10:15:00", f"{day}T10:15:00", f"{day}T10:15:00+00:00",
        f"{day}T10:61:00Z", f"{day}T10:15:60Z", "2026-02-30T10:15:00Z", f"{day}T10:15:00.123Z",
        "1772359200", f"{day}t10:15:00z", f"{day}T24:00:00Z",
    )  # fmt: skip
    return _pick(options, variant)


def _bad_email(email: str, variant: int) -> str:
    local, _, domain = email.strip().lower().partition("@")
    options = (
        f"{local}.{domain}", f"{local}@@{domain}", f"{local} x@{domain}", f"@{domain}", f"{local}@",
        f"{local}@{domain}@corp",
    )  # fmt: skip
    return _pick(options, variant)


def _newer(rng: Random, upd: int, target: int) -> int:
    """An instant later than ``upd``, usually within the target file's day."""
    return max(upd + 1 + int(rng.random() * 3_600), target * 86_400 + int(rng.random() * 86_400))


def _customer_fault(rng: Random, cal: _Calendar, fault: _Fault, origin: _Origin) -> list[str]:
    v = list(origin.values)
    kind, variant = fault.kind, fault.variant
    other_email = f"{_ascii_slug(v[1]) or 'user'}.{fault.key + 1}@{_DOMAINS[(variant + 1) % len(_DOMAINS)]}"
    other_country = _COUNTRIES[(variant * 7 + 3) % len(_COUNTRIES)]
    if kind == "duplicate":
        return v
    if kind in ("tie_across_files", "tie_within_file"):
        v[3], v[6] = other_email, cal.ts(origin.upd)
        return v
    if kind == "stale_update":
        v[3], v[4] = other_email, other_country
        v[6] = cal.ts(origin.upd - 1 - int(rng.random() * 86_400))
        return v
    v[6] = cal.ts(_newer(rng, origin.upd, fault.target))
    if kind == "late_update":
        if variant % 2:
            v[4] = other_country
        else:
            v[3] = other_email
    elif kind.startswith("missing_"):
        v[CUSTOMER_COLUMNS.index(kind.removeprefix("missing_"))] = _pick(_MISSING, variant)
    elif kind == "invalid_email":
        v[3] = _bad_email(v[3], variant)
    elif kind == "invalid_country":
        v[4] = _pick(_BAD_COUNTRIES, variant)
    elif kind == "invalid_signup_date":
        v[5] = _pick(_BAD_DATES, variant)
    elif kind == "invalid_updated_at":
        v[6] = _bad_timestamp(cal.day(fault.target), variant)
    elif kind == "multiple_reasons":
        combo = variant % 3
        if combo == 0:
            v[3], v[4] = _bad_email(v[3], variant), ""
        elif combo == 1:
            v[5], v[6] = _pick(_BAD_DATES, variant), " "
        else:
            v[0], v[3], v[4] = "", _bad_email(v[3], variant + 1), _pick(_BAD_COUNTRIES, variant)
    return v


def _order_fault(
    rng: Random, cal: _Calendar, fault: _Fault, origin: _Origin | None, n_customers: int, n_orders: int
) -> list[str]:
    kind, variant = fault.kind, fault.variant
    if origin is None:  # orphan: a new order of a customer that never appears
        second = fault.target * 86_400 + int(rng.random() * 86_400)
        return [
            f"O{n_orders + variant + 1:08d}", f"C{n_customers + variant + 1:07d}", cal.ts(second),
            _pick(("placed", "shipped", "delivered"), variant), f"{20 + variant % 80}.{variant % 100:02d}",
            cal.ts(second + 120), _pick(_CHANNELS, variant),
        ]  # fmt: skip
    v = list(origin.values)
    status = v[3].strip().lower()
    other_status = _STATUS_POOL[(_STATUS_POOL.index(status) + 37 + variant) % 100]
    if kind == "duplicate":
        return v
    if kind in ("tie_across_files", "tie_within_file"):
        v[3] = other_status if other_status != status else _NEXT_STATUS[status]
        v[5] = cal.ts(origin.upd)
        return v
    if kind == "stale_update":
        v[3] = "placed" if status != "placed" else "cancelled"
        v[5] = cal.ts(origin.ts + int(rng.random() * (origin.upd - origin.ts)))
        return v
    v[5] = cal.ts(_newer(rng, origin.upd, fault.target))
    order_day = cal.day(origin.ts // 86_400)
    if kind == "late_update":
        v[3] = _NEXT_STATUS[status]
    elif kind.startswith("missing_"):
        v[ORDER_COLUMNS.index(kind.removeprefix("missing_"))] = _pick(_MISSING, variant)
    elif kind == "invalid_order_ts":
        v[2] = _bad_timestamp(order_day, variant)
    elif kind == "invalid_status":
        v[3] = _pick(_BAD_STATUSES, variant)
    elif kind == "invalid_total_amount":
        v[4] = _pick(_BAD_AMOUNTS, variant)
    elif kind == "invalid_updated_at":
        v[5] = _bad_timestamp(cal.day(fault.target), variant)
    elif kind == "multiple_reasons":
        combo = variant % 3
        if combo == 0:
            v[3], v[4] = _pick(_BAD_STATUSES, variant), ""
        elif combo == 1:
            v[2], v[4] = _bad_timestamp(order_day, variant), _pick(_BAD_AMOUNTS, variant)
        else:
            v[1], v[3], v[5] = "\t", "", _bad_timestamp(order_day, variant + 1)
    return v


def _malform(out: list[str], kind: str, variant: int, split_at: int, split_parts: list[str]) -> list[str]:
    """Break the field count: drop fields, or add one (an unquoted comma, a trailing comma, a stray value)."""
    if kind == "malformed_too_few":
        choice = variant % 3
        if choice == 0:
            return out[:-1]
        if choice == 1:
            return out[: len(out) // 2] + out[len(out) // 2 + 1 :]
        return out[:2]
    choice = variant % 3
    if choice == 0:
        return out[:split_at] + split_parts + out[split_at + 1 :]
    if choice == 1:
        return [*out, ""]
    return [*out, "N/A"]


# ----------------------------------------------------------------------------------------------- writing
def _write_file(path: Path, layout: _Layout, rows: Iterable[Iterable[str]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        if layout.bom:
            handle.write("\ufeff")
        writer = csv.writer(handle, lineterminator="\r\n" if layout.crlf else "\n")
        writer.writerow(layout.header)
        writer.writerows(rows)


BaseRows = Callable[[int, int, int, set[int], dict[int, _Origin]], list[list[str]]]
FaultRow = Callable[[_Fault, _Origin | None], list[str]]


def _write_source(
    rng: Random, out_dir: Path, source: str, start_date: date, per_file: list[int], layouts: list[_Layout],
    faults: list[_Fault], base_rows: BaseRows, fault_row: FaultRow, split_column: int,
) -> int:  # fmt: skip
    """Write every file of a source; return the number of records written."""
    directory = out_dir / source
    directory.mkdir(parents=True, exist_ok=True)
    by_target: dict[int, list[_Fault]] = {}
    needed_by_file: dict[int, set[int]] = {}
    starts = [sum(per_file[:i]) for i in range(len(per_file))]
    for fault in faults:
        by_target.setdefault(fault.target, []).append(fault)
        if fault.key >= 0:
            needed_by_file.setdefault(bisect_right(starts, fault.key) - 1, set()).add(fault.key)
    origins: dict[int, _Origin] = {}
    written = 0
    for index, (count, layout) in enumerate(zip(per_file, layouts, strict=True)):
        base = base_rows(index, starts[index], count, needed_by_file.get(index, set()), origins)
        getter = itemgetter(*layout.order)
        extras: list[tuple[int, int, list[str]]] = []
        for seq, fault in enumerate(by_target.get(index, [])):
            origin = origins.get(fault.key) if fault.key >= 0 else None
            rendered = list(getter(fault_row(fault, origin)))
            if fault.kind.startswith("malformed_"):
                at = layout.order.index(split_column)
                parts = (
                    [rendered[at].strip().split(".")[0] or "5", "00"]
                    if source == "orders"
                    else [rendered[at].strip().split(",")[0] or "Smith", " Jr."]
                )
                rendered = _malform(rendered, fault.kind, fault.variant, at, parts)
            extras.append((int(rng.random() * (count + 1)), seq, rendered))
        extras.sort(key=itemgetter(0, 1))
        pieces: list[Iterable[Any]] = []
        previous = 0
        for position, _, rendered in extras:
            pieces.append(map(getter, base[previous:position]))
            pieces.append((rendered,))
            previous = position
        pieces.append(map(getter, base[previous:]))
        path = directory / f"{source}_{(start_date + timedelta(days=index)).strftime('%Y%m%d')}.csv"
        _write_file(path, layout, chain.from_iterable(pieces))
        written += count + len(extras)
    return written


# -------------------------------------------------------------------------------------------- public API
def _check_arguments(out_dir: Path, scale: float, dirt_rate: float, files_per_source: int) -> None:
    if not (isinstance(scale, int | float) and math.isfinite(scale) and scale > 0):
        raise ValueError(f"scale must be a finite number > 0, got {scale!r}")
    if not (isinstance(dirt_rate, int | float) and 0 <= dirt_rate <= MAX_DIRT_RATE):
        raise ValueError(f"dirt_rate must be between 0 and {MAX_DIRT_RATE}, got {dirt_rate!r}")
    if not isinstance(files_per_source, int) or files_per_source < 1:
        raise ValueError(f"files_per_source must be an integer >= 1, got {files_per_source!r}")
    if out_dir.exists() and not out_dir.is_dir():
        raise ValueError(f"out_dir {out_dir} exists and is not a directory")
    for source in reference_sources():
        existing = sorted((out_dir / source).glob("*.csv")) if (out_dir / source).is_dir() else []
        if existing:
            raise ValueError(
                f"out_dir {out_dir} already holds a landing zone ({existing[0]} and {len(existing) - 1} more "
                f"{source} files); refusing to overwrite it - choose an empty directory"
            )


def generate(
    out_dir: Path,
    *,
    scale: float = 0.01,
    seed: int = 42,
    dirt_rate: float = 0.01,
    files_per_source: int = 10,
    start_date: date = date(2026, 3, 1),
) -> GenerateReport:
    """Write a landing zone (``customers/customers_YYYYMMDD.csv``, ``orders/orders_YYYYMMDD.csv``).

    Why: one reproducible input for tests, demos and benchmarks; the same arguments always give
    byte-identical files, and the report says exactly which faults were planted.

        >>> r = generate(tmp_path / "landing", scale=0.002, seed=1)   # doctest: +SKIP
        >>> r.customers.keys, r.customers.records, r.orders.records   # doctest: +SKIP
        (200, 211, 2011)

    Raises ValueError for ``scale <= 0``, ``dirt_rate`` outside [0, 0.5], ``files_per_source < 1`` or an
    ``out_dir`` that already holds customers/orders CSV files.
    """
    out_dir = Path(out_dir)
    _check_arguments(out_dir, scale, dirt_rate, files_per_source)
    rng = Random(seed)
    cal = _Calendar(start_date)
    files = files_per_source
    n_customers = max(1, round(CUSTOMERS_AT_SCALE_1 * scale))
    n_orders = max(1, round(ORDERS_AT_SCALE_1 * scale))
    customer_faults, order_faults = allocate_faults(
        _fault_budget(n_customers, n_orders, dirt_rate), n_customers, n_orders
    )
    customers_per_file = _split_counts(n_customers, files, front_loaded=True)
    orders_per_file = _split_counts(n_orders, files, front_loaded=False)
    known_customers = [sum(customers_per_file[: i + 1]) for i in range(files)]
    customer_layouts = _layouts(rng, CUSTOMER_COLUMNS, EXTRA_COLUMNS["customers"], files // 2, files)
    order_layouts = _layouts(rng, ORDER_COLUMNS, EXTRA_COLUMNS["orders"], files - max(1, files // 5), files)
    customer_plan = _plan(rng, customer_faults, customers_per_file)
    order_plan = _plan(rng, order_faults, orders_per_file)

    def customer_base(
        index: int, start: int, count: int, needed: set[int], origins: dict[int, _Origin]
    ) -> list[list[str]]:
        return _customer_rows(rng, cal, index, start, count, needed, origins)

    def order_base(
        index: int, start: int, count: int, needed: set[int], origins: dict[int, _Origin]
    ) -> list[list[str]]:
        return _order_rows(rng, cal, index, start, count, known_customers[index], needed, origins)

    def customer_fault(fault: _Fault, origin: _Origin | None) -> list[str]:
        assert origin is not None, "every customer fault derives from a base record"
        return _customer_fault(rng, cal, fault, origin)

    def order_fault(fault: _Fault, origin: _Origin | None) -> list[str]:
        return _order_fault(rng, cal, fault, origin, n_customers, n_orders)

    out_dir.mkdir(parents=True, exist_ok=True)
    customer_records = _write_source(
        rng, out_dir, "customers", start_date, customers_per_file, customer_layouts, customer_plan,
        customer_base, customer_fault, CUSTOMER_COLUMNS.index("last_name"),
    )  # fmt: skip
    order_records = _write_source(
        rng, out_dir, "orders", start_date, orders_per_file, order_layouts, order_plan,
        order_base, order_fault, ORDER_COLUMNS.index("total_amount"),
    )  # fmt: skip
    report = GenerateReport(
        out_dir=out_dir,
        seed=seed,
        scale=scale,
        dirt_rate=dirt_rate,
        customers=SourceReport(files, customer_records, n_customers, customer_faults),
        orders=SourceReport(files, order_records, n_orders, order_faults),
    )
    logger.info(
        "generated landing zone %s: %d customer and %d order records (seed %d, scale %s, dirt %s)",
        out_dir, customer_records, order_records, seed, scale, dirt_rate,
    )  # fmt: skip
    return report
