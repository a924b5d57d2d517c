"""Great Expectations suites generated from the table contracts and kept under version control.

    suite = suite_for(registry.get("silver.orders"))     # a GE 1.x suite as a plain JSON dict
    diff = write_suites(check_only=True)                  # unified diff lines; [] when in sync
    stored = load_suite("silver.orders")                  # what the gate runs

Every suite holds, in this order: the keys unique (one column: `expect_column_values_to_be_unique`,
several: `expect_compound_columns_to_be_unique`) and not null, the other non-null columns, value sets,
minimums, then the contract's own `expectations:` entries (`{type: expect_..., kwargs: {...}}`).
The JSON is written without Great Expectations (no import, no ids, no version stamps), so it is
byte-for-byte reproducible and `lakeforge suites --check` is fast; the gate loads it into GE.
"""

from __future__ import annotations

import difflib
import json
import logging
from pathlib import Path
from typing import Any

from lakeforge.contracts.models import TableContract
from lakeforge.contracts.registry import ContractRegistry
from lakeforge.errors import ConfigError

log = logging.getLogger(__name__)

GENERATOR = "lakeforge.quality.suites"


def suites_dir(registry: ContractRegistry) -> Path:
    """Where a registry's suites live: `suites/` next to its `tables/` folder."""
    return registry.directory.resolve().parent / "suites"


def _number(value: float) -> int | float:
    return int(value) if float(value).is_integer() else value


def _extra(contract: TableContract, index: int, entry: dict[str, object]) -> dict[str, Any]:
    """One `expectations:` entry of a contract, checked for shape (GE checks the kwargs at load)."""
    where = f"contract {contract.table}, expectations[{index}]"
    unknown = sorted(set(entry) - {"type", "kwargs", "meta"})
    if unknown:
        raise ConfigError(f"{where} has unknown keys {unknown}; expected type, kwargs and optional meta")
    kind = entry.get("type")
    if not isinstance(kind, str) or not kind.startswith("expect_"):
        raise ConfigError(f"{where}: type must be a GE expectation name like expect_..., got {kind!r}")
    kwargs = entry.get("kwargs", {})
    meta = entry.get("meta", {})
    if not isinstance(kwargs, dict) or not isinstance(meta, dict):
        raise ConfigError(f"{where}: kwargs and meta must be mappings")
    return {"type": kind, "kwargs": dict(kwargs), "meta": {**meta, "rule": "contract expectation"}}


def suite_for(contract: TableContract) -> dict[str, Any]:
    """The GE suite of one table, as the JSON dict that is stored (name = the table)."""
    expectations: list[dict[str, Any]] = []

    def add(kind: str, rule: str, **kwargs: Any) -> None:
        expectations.append({"type": kind, "kwargs": kwargs, "meta": {"rule": rule}})

    if len(contract.keys) == 1:
        add("expect_column_values_to_be_unique", "key", column=contract.keys[0])
    elif contract.keys:
        add("expect_compound_columns_to_be_unique", "key", column_list=list(contract.keys))
    for key in contract.keys:
        add("expect_column_values_to_not_be_null", "key", column=key)
    for col in contract.columns:
        if not col.nullable and col.name not in contract.keys:
            add("expect_column_values_to_not_be_null", "not nullable", column=col.name)
    for col in contract.columns:
        if col.values:
            add("expect_column_values_to_be_in_set", "values", column=col.name, value_set=list(col.values))
    for col in contract.columns:
        if col.min is not None:
            add("expect_column_values_to_be_between", "min", column=col.name, min_value=_number(col.min))
    expectations.extend(_extra(contract, i, e) for i, e in enumerate(contract.expectations))
    return {
        "name": contract.table,
        "meta": {
            "table": contract.table,
            "contract_version": contract.version,
            "generated_by": GENERATOR,
        },
        "expectations": expectations,
    }


def render(suite: dict[str, Any]) -> str:
    """The stored text of a suite: 2-space indented JSON with a final newline."""
    return json.dumps(suite, indent=2, ensure_ascii=False) + "\n"


def load_suite(table: str, registry: ContractRegistry | None = None) -> dict[str, Any]:
    """The stored suite of a table; generated from the contract (with a warning) when none is stored.

    A stored suite that no longer matches its contract is still used, with a warning: the
    reviewed file is what runs, and `lakeforge suites --check` fails until it is regenerated.
    """
    registry = registry or ContractRegistry.default()
    contract = registry.get(table)
    expected = suite_for(contract)
    path = suites_dir(registry) / f"{table}.json"
    if not path.is_file():
        log.warning(
            "no stored suite %s; using the one generated from the contract (run lakeforge suites)", path
        )
        return expected
    text = path.read_text(encoding="utf-8")
    try:
        stored = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"suite {path} is not valid JSON: {exc}", hint="run `lakeforge suites`") from exc
    if text != render(expected):
        log.warning(
            "suite %s is stale: contract %s v%s generates a different suite (run lakeforge suites)",
            path,
            table,
            contract.version,
        )
    return stored


def _diff(old: str, new: str, name: str) -> list[str]:
    return list(
        difflib.unified_diff(
            old.splitlines(keepends=True),
            new.splitlines(keepends=True),
            fromfile=f"a/{name}" if old else "/dev/null",
            tofile=f"b/{name}" if new else "/dev/null",
        )
    )


def write_suites(
    check_only: bool = False, *, registry: ContractRegistry | None = None, directory: Path | None = None
) -> list[str]:
    """Regenerate every table's suite from its contract; return the unified diff of what changed.

    With `check_only` nothing is written. Suites of tables no longer in the registry are removed.
    The diff lines keep their line ends: `sys.stdout.writelines(write_suites(check_only=True))`.
    """
    registry = registry or ContractRegistry.default()
    directory = directory or suites_dir(registry)
    wanted = {f"{table}.json": render(suite_for(registry.get(table))) for table in registry.names()}
    existing = {p.name for p in directory.glob("*.json")} if directory.is_dir() else set()
    diff: list[str] = []
    for name in sorted(set(wanted) | existing):
        path = directory / name
        old = path.read_text(encoding="utf-8") if name in existing else ""
        new = wanted.get(name, "")
        if old == new:
            continue
        diff.extend(_diff(old, new, f"suites/{name}"))
        if check_only:
            continue
        if new:
            directory.mkdir(parents=True, exist_ok=True)
            path.write_text(new, encoding="utf-8")
        else:
            path.unlink()
    return diff
