"""The sample generator: deterministic, counted, and dirty in every way the contract handles (SPEC §7).

The landing zones it writes are checked with the independent oracle (tests/oracle.py).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from datetime import date
from pathlib import Path

import pytest

from lakeforge.sample.generator import (
    CUSTOMER_FAULT_WEIGHTS,
    ORDER_FAULT_WEIGHTS,
    GenerateReport,
    allocate_faults,
    generate,
    is_quarantine_kind,
)
from tests.oracle import Expected, expected_from_landing, read_records, validate

CUSTOMER_REASONS = {
    "malformed_line",
    *(f"missing:{c}" for c in ("customer_id", "email", "country", "signup_date", "updated_at")),
    *(f"invalid:{c}" for c in ("email", "country", "signup_date", "updated_at")),
}
ORDER_REASONS = {
    "malformed_line",
    *(
        f"missing:{c}"
        for c in ("order_id", "customer_id", "order_ts", "status", "total_amount", "updated_at")
    ),
    *(f"invalid:{c}" for c in ("order_ts", "status", "total_amount", "updated_at")),
}

SUPERSEDING_KINDS = ("duplicate", "late_update", "stale_update", "tie_across_files", "tie_within_file")


def file_bytes(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*.csv"))}


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, GenerateReport, Expected]:
    """The default sample (scale 0.01, 1% dirt), generated once, with the oracle's verdict."""
    out = tmp_path_factory.mktemp("landing")
    report = generate(out, scale=0.01, seed=42)
    return out, report, expected_from_landing(out)


def assert_consistent(report: GenerateReport, exp: Expected) -> None:
    """What the report says was planted is exactly what the contract makes of the files."""
    for source in ("customers", "orders"):
        written, expected = getattr(report, source), exp[source]
        assert expected.bronze_records == written.records == written.keys + sum(written.faults.values())
        assert len(expected.records_per_file) == written.files
        assert expected.quarantined == written.quarantined
        assert expected.valid == written.records - written.quarantined
    assert len(exp.customers.silver) == report.customers.keys
    assert len(exp.orders.silver) == report.orders.keys + report.orders.faults["orphan"]
    customer_ids = {c["customer_id"] for c in exp.customers.silver}
    orphans = [o for o in exp.orders.silver if o["customer_id"] not in customer_ids]
    assert len(orphans) == report.orders.faults["orphan"]
    for source in ("customers", "orders"):  # every planted extra version of a key loses but one
        planted = getattr(report, source).faults
        assert exp[source].superseded == sum(planted[k] for k in SUPERSEDING_KINDS)


# ---------------------------------------------------------------------------------------- determinism
def test_the_same_seed_gives_byte_identical_files(tmp_path: Path) -> None:
    first = generate(tmp_path / "a", scale=0.002, seed=7)
    second = generate(tmp_path / "b", scale=0.002, seed=7)
    assert file_bytes(tmp_path / "a") == file_bytes(tmp_path / "b")
    assert first.to_dict() | {"out_dir": ""} == second.to_dict() | {"out_dir": ""}


def test_another_seed_gives_other_files(tmp_path: Path) -> None:
    generate(tmp_path / "a", scale=0.002, seed=7)
    generate(tmp_path / "b", scale=0.002, seed=8)
    a, b = file_bytes(tmp_path / "a"), file_bytes(tmp_path / "b")
    assert a.keys() == b.keys()
    assert all(a[name] != b[name] for name in a)


# --------------------------------------------------------------------------------------------- counts
def test_counts_at_a_small_scale_follow_the_formula(tmp_path: Path) -> None:
    report = generate(tmp_path, scale=0.002, seed=1)
    # n = round(base * scale); faults = round((200 + 2000) * 0.01 / 0.99) = 22, one per kind in turn
    assert (report.customers.keys, report.orders.keys) == (200, 2000)
    assert (sum(report.customers.faults.values()), sum(report.orders.faults.values())) == (11, 11)
    assert (report.customers.records, report.orders.records) == (211, 2011)
    assert sorted(p.name for p in (tmp_path / "customers").iterdir()) == [
        f"customers_202603{day:02d}.csv" for day in range(1, 11)
    ]
    assert sorted(p.name for p in (tmp_path / "orders").iterdir()) == [
        f"orders_202603{day:02d}.csv" for day in range(1, 11)
    ]
    exp = expected_from_landing(tmp_path)
    assert_consistent(report, exp)
    first_day = exp.customers.records_per_file["customers/customers_20260301.csv"]
    assert first_day >= 100  # half of the customers arrive on the first day


@pytest.mark.parametrize(
    ("scale", "dirt_rate", "files"),
    [(0.001, 0.0, 4), (0.0005, 0.5, 3), (0.00001, 0.3, 1), (0.003, 0.05, 2)],
)
def test_the_report_matches_the_contract_for_any_arguments(
    tmp_path: Path, scale: float, dirt_rate: float, files: int
) -> None:
    report = generate(tmp_path, scale=scale, seed=3, dirt_rate=dirt_rate, files_per_source=files)
    assert_consistent(report, expected_from_landing(tmp_path))
    if dirt_rate == 0:
        assert report.customers.records + report.orders.records == 100 + 1000


def test_fault_allocation_hits_the_rate_and_every_kind() -> None:
    customers, orders = allocate_faults(111, 1000, 10_000)
    assert sum(customers.values()) + sum(orders.values()) == 111
    assert min(customers.values()) >= 1 and min(orders.values()) >= 1
    assert list(customers) == list(CUSTOMER_FAULT_WEIGHTS) and list(orders) == list(ORDER_FAULT_WEIGHTS)
    assert allocate_faults(0, 10, 10) == (dict.fromkeys(customers, 0), dict.fromkeys(orders, 0))


def test_the_report_is_plain_json(sample: tuple[Path, GenerateReport, Expected]) -> None:
    _, report, _ = sample
    data = json.loads(json.dumps(report.to_dict()))
    assert data["customers"]["keys"] == 1000 and data["orders"]["keys"] == 10_000
    assert data["orders"]["faults"]["orphan"] == report.orders.faults["orphan"]


# ----------------------------------------------------------------------------------------------- dirt
def test_the_default_sample_is_consistent_with_the_contract(
    sample: tuple[Path, GenerateReport, Expected],
) -> None:
    _, report, exp = sample
    assert_consistent(report, exp)
    total = report.customers.records + report.orders.records
    faults = sum(report.customers.faults.values()) + sum(report.orders.faults.values())
    assert faults / total == pytest.approx(0.01, abs=0.0005)


@pytest.mark.parametrize(("source", "reasons"), [("customers", CUSTOMER_REASONS), ("orders", ORDER_REASONS)])
def test_every_quarantine_reason_appears(
    sample: tuple[Path, GenerateReport, Expected], source: str, reasons: set[str]
) -> None:
    _, report, exp = sample
    seen = Counter(reason for found in exp[source].quarantine.values() for reason in found)
    assert set(seen) == reasons
    assert any(len(found) > 1 for found in exp[source].quarantine.values())  # several reasons on one row
    assert all(count >= 1 for count in getattr(report, source).faults.values())


@pytest.mark.parametrize("source", ["customers", "orders"])
def test_the_quarantine_share_stays_well_under_the_gate(
    sample: tuple[Path, GenerateReport, Expected], source: str
) -> None:
    _, _, exp = sample
    assert 0 < exp[source].quarantine_ratio < 0.05


@pytest.mark.parametrize("source", ["customers", "orders"])
def test_duplicates_updates_stale_versions_and_ties_are_present(
    sample: tuple[Path, GenerateReport, Expected], source: str
) -> None:
    out, report, exp = sample
    versions: dict[str, list[tuple[str, int, tuple[str, ...], object]]] = {}
    for path in sorted((out / source).glob("*.csv")):
        rel = f"{source}/{path.name}"
        header, records = read_records(path, rel)
        for line, record in enumerate(records, start=1):
            if len(record) != len(header):
                continue
            reasons, typed = validate(source, dict(zip(header, record, strict=True)))
            if not reasons:
                content = tuple(sorted(typed.items()))
                versions.setdefault(typed[exp[source].key], []).append(
                    (rel, line, content, typed["updated_at"])
                )
    kinds: Counter[str] = Counter()
    for found in versions.values():
        for i, (file_a, _, raw_a, upd_a) in enumerate(found):
            for file_b, _, raw_b, upd_b in found[i + 1 :]:
                if raw_a == raw_b:
                    kinds["duplicate"] += 1
                elif upd_a == upd_b:
                    kinds["tie_within_file" if file_a == file_b else "tie_across_files"] += 1
                elif upd_b > upd_a:
                    kinds["late_update"] += 1
                elif file_b > file_a:
                    kinds["stale_update"] += 1
    planted = getattr(report, source).faults
    for kind in SUPERSEDING_KINDS:
        assert kinds[kind] >= planted[kind] >= 1, kind


def well_formed(out: Path, source: str) -> list[dict[str, str]]:
    """Every record with the header's field count, as raw text by normalised column name."""
    rows = []
    for path in sorted((out / source).glob("*.csv")):
        header, records = read_records(path, f"{source}/{path.name}")
        rows += [dict(zip(header, r, strict=True)) for r in records if len(r) == len(header)]
    return rows


def test_valid_but_awkward_formatting_is_present(sample: tuple[Path, GenerateReport, Expected]) -> None:
    out, _, exp = sample
    files = file_bytes(out)
    assert sum(content.startswith(b"\xef\xbb\xbf") for content in files.values()) == 2  # one per source
    assert sum(b"\r\n" in content for content in files.values()) == 2
    raw_headers = [c.decode("utf-8-sig").splitlines()[0].split(",") for c in files.values()]
    assert any(h[0] == " CUSTOMER_ID " for h in raw_headers) and any(
        h[0] == " ORDER_ID " for h in raw_headers
    )
    names = [[n.strip().lower() for n in h] for h in raw_headers]
    assert any(n[0] not in ("customer_id", "order_id") for n in names)  # columns in another order
    assert any("loyalty_tier" in n for n in names) and any("channel" in n for n in names)
    customers, orders = well_formed(out, "customers"), well_formed(out, "orders")
    values = [v for row in customers + orders for v in row.values()]
    assert any(v != v.strip(" \t") and v.strip() for v in values)  # padded with spaces or tabs
    assert any(v.strip() and v[0] == "\t" or v[-1:] == "\t" for v in values)
    assert any("\n" in c["last_name"] for c in customers)  # quoted line break
    assert any(", Jr." in c["last_name"] for c in customers)  # quoted comma
    assert any('"' in c["first_name"] for c in customers)  # doubled quotes
    assert any(c["email"].strip() != c["email"].strip().lower() for c in customers)
    assert any(c["country"].strip() != c["country"].strip().upper() for c in customers)
    assert any(o["status"].strip() != o["status"].strip().lower() for o in orders)
    assert any(re.fullmatch(r"\d+\.\d\d5", o["total_amount"].strip()) for o in orders)  # half up
    assert exp.customers.extra_columns["customers/customers_20260310.csv"] == ["loyalty_tier"]
    assert any(c["first_name"] is None for c in exp.customers.silver)


def test_a_start_date_and_a_single_file(tmp_path: Path) -> None:
    report = generate(tmp_path, scale=0.0005, seed=5, files_per_source=1, start_date=date(2025, 12, 31))
    assert [p.name for p in (tmp_path / "orders").iterdir()] == ["orders_20251231.csv"]
    exp = expected_from_landing(tmp_path)
    assert_consistent(report, exp)
    assert {row["order_date"] for row in exp.daily_revenue} <= {date(2025, 12, 31), date(2026, 1, 1)}


# ---------------------------------------------------------------------------------------------- refusals
def test_it_refuses_to_write_into_a_landing_zone(tmp_path: Path) -> None:
    generate(tmp_path, scale=0.0005, seed=1)
    before = file_bytes(tmp_path)
    with pytest.raises(ValueError, match="already holds a landing zone .* refusing to overwrite"):
        generate(tmp_path, scale=0.0005, seed=2)
    assert file_bytes(tmp_path) == before


def test_it_refuses_a_directory_with_only_order_files(tmp_path: Path) -> None:
    (tmp_path / "orders").mkdir()
    (tmp_path / "orders" / "orders_20260301.csv").write_text("order_id\n")
    with pytest.raises(ValueError, match="orders files"):
        generate(tmp_path, scale=0.0005)


def test_it_accepts_an_existing_directory_without_csv_files(tmp_path: Path) -> None:
    (tmp_path / "customers").mkdir()
    (tmp_path / "README.txt").write_text("landing zone")
    report = generate(tmp_path, scale=0.0005, seed=1)
    assert report.customers.files == 10


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"scale": 0}, "scale must be a finite number > 0"),
        ({"scale": -1.0}, "scale must be a finite number > 0"),
        ({"scale": float("nan")}, "scale must be a finite number > 0"),
        ({"dirt_rate": -0.01}, r"dirt_rate must be between 0 and 0.5"),
        ({"dirt_rate": 0.51}, r"dirt_rate must be between 0 and 0.5"),
        ({"files_per_source": 0}, "files_per_source must be an integer >= 1"),
    ],
)
def test_bad_arguments_are_refused(tmp_path: Path, kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        generate(tmp_path / "out", **kwargs)  # type: ignore[arg-type]
    assert not (tmp_path / "out").exists()


def test_quarantine_kinds_are_named_consistently() -> None:
    quarantined = {k for k in (*CUSTOMER_FAULT_WEIGHTS, *ORDER_FAULT_WEIGHTS) if is_quarantine_kind(k)}
    assert (
        "multiple_reasons" in quarantined and "orphan" not in quarantined and "duplicate" not in quarantined
    )
