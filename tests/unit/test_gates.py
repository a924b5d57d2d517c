"""The quality gate (SPEC §5): a table's stored GE suite run on a DataFrame before it is published."""

from __future__ import annotations

import json
import logging
import shutil
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
import yaml

from lakeforge.contracts.registry import PACKAGED_CONTRACTS, ContractRegistry
from lakeforge.errors import ConfigError, QualityGateFailed
from lakeforge.quality.gates import QualityGate, run_dq_checkpoint
from lakeforge.quality.suites import write_suites

ORDERS_DDL = (
    "order_id string, customer_id string, order_ts timestamp, order_date date, status string, "
    "total_amount decimal(12,2), updated_at timestamp, _source_file string, _line_number long, "
    "_ingested_at timestamp, _run_id string"
)
TS = datetime(2026, 3, 1, 10, 0, 0)


def order(order_id: str | None, status: str = "placed", amount: str = "10.00", line: int = 1) -> tuple:
    return (
        order_id,
        "c1",
        TS,
        date(2026, 3, 1),
        status,
        Decimal(amount),
        TS,
        "orders/orders_20260301.csv",
        line,
        TS,
        "run-1",
    )


@pytest.fixture(scope="module")
def docs_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("lake") / "_ops" / "data_docs"


@pytest.fixture(scope="module")
def gate(docs_dir: Path) -> QualityGate:
    """One gate (one GE context) for the module, as the pipeline keeps one per run."""
    return QualityGate(ContractRegistry.default(), docs_dir=docs_dir, run_name="test-run")


@pytest.fixture(params=["spark", "pandas"])
def engine(request: pytest.FixtureRequest) -> str:
    """The same checks through GE's Spark engine and, for a batch of known small size, its pandas one."""
    return str(request.param)


def rows(df, engine: str) -> int | None:
    """The `rows` a caller passes: unknown (Spark's engine) or the count (at most local_max_rows)."""
    return df.count() if engine == "pandas" else None


def test_a_valid_batch_passes_every_expectation(spark, gate: QualityGate, engine: str, capfd) -> None:
    df = spark.createDataFrame([order("o1"), order("o2", "shipped", "0.00", 2)], ORDERS_DDL)

    result = gate.check(df, "silver.orders", suite="silver.orders.batch", rows=rows(df, engine))

    assert (result.success, result.failed, result.failures) == (True, 0, [])
    assert result.evaluated == 14  # unique + 11 not-null + value set + minimum
    assert (result.suite, result.table) == ("silver.orders.batch", "silver.orders")
    assert "Calculating Metrics" not in capfd.readouterr().err  # GE's progress bars are off


def test_an_empty_batch_passes(spark, gate: QualityGate, engine: str) -> None:
    empty = spark.createDataFrame([], ORDERS_DDL)
    result = gate.check(empty, "silver.orders", suite="silver.orders.batch", rows=rows(empty, engine))

    assert (result.success, result.evaluated, result.failures) == (True, 14, [])


def test_a_duplicate_key_fails_with_its_count_and_value(spark, gate: QualityGate, engine: str) -> None:
    df = spark.createDataFrame([order("o1"), order("o1", line=2), order("o2", line=3)], ORDERS_DDL)

    result = gate.check(df, "silver.orders", suite="silver.orders.batch", rows=rows(df, engine))

    assert not result.success
    assert result.failures == [
        "expect_column_values_to_be_unique(order_id): 2 of 3 rows unexpected (66.67%), e.g. ['o1', 'o1']"
    ]


def test_a_null_key_fails_with_its_count(spark, gate: QualityGate, engine: str) -> None:
    df = spark.createDataFrame([order(None), order("o2", line=2)], ORDERS_DDL)

    result = gate.check(df, "silver.orders", suite="silver.orders.batch", rows=rows(df, engine))

    assert result.failures == [
        "expect_column_values_to_not_be_null(order_id): 1 of 2 rows unexpected (50.00%), e.g. [None]"
    ]


def test_a_value_outside_its_set_fails_with_the_value(spark, gate: QualityGate, engine: str) -> None:
    df = spark.createDataFrame([order("o1", "lost"), order("o2", line=2)], ORDERS_DDL)

    result = gate.check(df, "silver.orders", suite="silver.orders.batch", rows=rows(df, engine))

    assert result.failed == 1
    (failure,) = result.failures
    assert failure.startswith("expect_column_values_to_be_in_set(status, value_set=['placed', 'shipped',")
    assert failure.endswith(": 1 of 2 rows unexpected (50.00%), e.g. ['lost']")


def test_a_negative_amount_fails_with_the_amount(spark, gate: QualityGate, engine: str) -> None:
    df = spark.createDataFrame([order("o1", amount="-5.25"), order("o2", line=2)], ORDERS_DDL)

    result = gate.check(df, "silver.orders", suite="silver.orders.batch", rows=rows(df, engine))

    assert result.failures == [
        "expect_column_values_to_be_between(total_amount, min_value=0): 1 of 2 rows unexpected (50.00%), "
        "e.g. ['-5.25']"
    ]


def test_every_failed_expectation_is_listed(spark, gate: QualityGate, engine: str) -> None:
    df = spark.createDataFrame(
        [order("o1", "lost"), order("o1", amount="-1.00", line=2), order(None, line=3)], ORDERS_DDL
    )

    result = gate.check(df, "silver.orders", suite="silver.orders.published", rows=rows(df, engine))

    assert result.failed == 4
    assert [f.split("(")[0] for f in result.failures] == [
        "expect_column_values_to_be_unique",
        "expect_column_values_to_not_be_null",
        "expect_column_values_to_be_in_set",
        "expect_column_values_to_be_between",
    ]


def test_a_missing_column_is_reported_not_raised(spark, gate: QualityGate) -> None:
    df = spark.createDataFrame([order("o1")], ORDERS_DDL).drop("status")

    result = gate.check(df, "silver.orders", suite="silver.orders.batch")

    assert not result.success
    assert any(
        f.startswith("expect_column_values_to_be_in_set(status") and "could not be evaluated" in f
        for f in result.failures
    )


def test_run_dq_checkpoint_raises_quality_gate_failed(spark, gate: QualityGate) -> None:
    df = spark.createDataFrame([order("o1"), order("o1", line=2)], ORDERS_DDL)

    with pytest.raises(
        QualityGateFailed, match=r"suite silver.orders.batch on silver.orders failed 1 of 14"
    ) as exc:
        run_dq_checkpoint("silver.orders.batch", df=df, gate=gate)

    assert "expect_column_values_to_be_unique(order_id): 2 of 2 rows unexpected" in exc.value.message
    assert exc.value.exit_code == 3


def test_run_dq_checkpoint_without_fail_on_error_returns_the_result(spark, gate: QualityGate) -> None:
    df = spark.createDataFrame([order("o1"), order("o1", line=2)], ORDERS_DDL)

    result = run_dq_checkpoint("silver.orders.batch", df=df, gate=gate, fail_on_error=False)

    assert (result.success, result.failed) == (False, 1)


def test_a_checkpoint_that_names_no_table_is_a_config_error(spark, gate: QualityGate) -> None:
    df = spark.createDataFrame([order("o1")], ORDERS_DDL)

    with pytest.raises(ConfigError, match="checkpoint 'silver.nothing.batch' names no table"):
        run_dq_checkpoint("silver.nothing.batch", df=df, gate=gate)


def test_a_checkpoint_name_belongs_to_one_table(spark, gate: QualityGate) -> None:
    df = spark.createDataFrame([order("o1")], ORDERS_DDL)
    gate.check(df, "silver.orders", suite="silver.orders.batch")

    with pytest.raises(ConfigError, match="checkpoint 'silver.orders.batch' already validates silver.orders"):
        gate.check(df, "gold.daily_revenue", suite="silver.orders.batch")


def test_each_checkpoint_logs_one_json_summary(spark, gate: QualityGate, engine: str, caplog) -> None:
    df = spark.createDataFrame([order("o1"), order("o2", "bogus", line=2)], ORDERS_DDL)
    n = rows(df, engine)

    with caplog.at_level(logging.INFO, logger="lakeforge.quality"):
        gate.check(df, "silver.orders", suite="silver.orders.batch", rows=n)

    lines = [r.getMessage() for r in caplog.records if r.name == "lakeforge.quality"]
    assert len(lines) == 1
    summary = json.loads(lines[0])
    assert summary.pop("duration_s") >= 0
    assert summary == {
        "suite": "silver.orders.batch",
        "table": "silver.orders",
        "version": 1,
        "evaluated": 14,
        "failed": 1,
        "engine": engine,
    }


def test_a_batch_past_local_max_rows_stays_on_spark(spark, docs_dir: Path, caplog) -> None:
    gate = QualityGate(ContractRegistry.default(), local_max_rows=1)
    df = spark.createDataFrame([order("o1"), order("o2", line=2)], ORDERS_DDL)

    with caplog.at_level(logging.INFO, logger="lakeforge.quality"):
        assert gate.check(df, "silver.orders", suite="silver.orders.batch", rows=2).success
        assert gate.check(df.limit(1), "silver.orders", suite="silver.orders.batch", rows=1).success

    summaries = [r.getMessage() for r in caplog.records if r.name == "lakeforge.quality"]
    engines = [json.loads(m)["engine"] for m in summaries if m.startswith("{")]  # after "context ready"
    assert engines == ["spark", "pandas"]


def test_the_gate_leaves_the_caller_s_caching_alone(spark, gate: QualityGate) -> None:
    uncached = spark.createDataFrame([order("o1")], ORDERS_DDL)
    cached = spark.createDataFrame([order("o2")], ORDERS_DDL).persist()

    gate.check(uncached, "silver.orders", suite="silver.orders.batch")
    gate.check(cached, "silver.orders", suite="silver.orders.batch")

    assert not uncached.storageLevel.useMemory
    assert cached.storageLevel.useMemory
    cached.unpersist()


def test_compound_keys_and_contract_expectations(spark, tmp_path: Path) -> None:
    tables = tmp_path / "contracts" / "tables"
    tables.mkdir(parents=True)
    contract = {
        "table": "gold.pairs",
        "version": 3,
        "layer": "gold",
        "grain": ["a", "b"],
        "keys": ["a", "b"],
        "write_mode": "merge",
        "columns": [
            {"name": "a", "type": "string", "nullable": False},
            {"name": "b", "type": "long", "nullable": False},
            {"name": "n", "type": "long"},
        ],
        "expectations": [
            {"type": "expect_column_max_to_be_between", "kwargs": {"column": "n", "max_value": 9}}
        ],
    }
    (tables / "gold.pairs.yaml").write_text(yaml.safe_dump(contract))
    registry = ContractRegistry(tables)
    write_suites(registry=registry)
    df = spark.createDataFrame([("x", 1, 5), ("x", 1, 12), ("x", 2, 1)], "a string, b long, n long")

    result = QualityGate(registry).check(df, "gold.pairs", suite="gold.pairs.batch")

    assert result.evaluated == 4
    assert result.failures == [
        "expect_compound_columns_to_be_unique(a, b): 2 of 3 rows unexpected (66.67%), "
        "e.g. [{'a': 'x', 'b': 1}, {'a': 'x', 'b': 1}]",
        "expect_column_max_to_be_between(n, max_value=9): observed 12",
    ]


def test_an_expectation_ge_does_not_know_is_a_config_error(spark, tmp_path: Path) -> None:
    tables = tmp_path / "tables"
    shutil.copytree(PACKAGED_CONTRACTS, tables)
    path = tables / "gold.daily_revenue.yaml"
    contract = yaml.safe_load(path.read_text())
    contract["expectations"] = [{"type": "expect_revenue_to_be_nice", "kwargs": {}}]
    path.write_text(yaml.safe_dump(contract))
    registry = ContractRegistry(tables)
    df = spark.createDataFrame(
        [(date(2026, 3, 1), 1, Decimal("1.00"), 1, Decimal("1.00"))],
        "order_date date, orders_count long, revenue decimal(18,2), customers_count long, avg_order_value decimal(18,2)",
    )

    with pytest.raises(
        ConfigError, match=r"suite of gold.daily_revenue: expectation 9 \('expect_revenue_to_be_nice'\)"
    ):
        QualityGate(registry).check(df, "gold.daily_revenue", suite="gold.daily_revenue.batch")


def test_data_docs_index_exists_after_build_docs(spark, gate: QualityGate, docs_dir: Path) -> None:
    df = spark.createDataFrame([order("o1")], ORDERS_DDL)
    gate.check(df, "silver.orders", suite="silver.orders.batch")

    index = gate.build_docs()

    assert index == docs_dir / "index.html"
    assert index.is_file()
    assert "silver.orders.batch" in index.read_text(encoding="utf-8")
    assert list((docs_dir / "validations").rglob("*.html"))


def test_build_docs_is_off_without_a_docs_dir_and_makes_an_empty_site_otherwise(tmp_path: Path) -> None:
    assert QualityGate(ContractRegistry.default()).build_docs() is None

    index = QualityGate(ContractRegistry.default(), docs_dir=tmp_path / "docs").build_docs()

    assert index == tmp_path / "docs" / "index.html"
    assert index.is_file()


def test_a_warm_up_that_failed_in_its_thread_is_done_again_when_the_context_is_needed(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Two threads importing one package at once can fail in either (seen: a KeyError of a Great
    Expectations module in sys.modules while the JVM started): the run must not fail for it."""
    from lakeforge.quality import gates

    made: list[str] = []

    class Flaky:
        def __init__(self, docs_dir: object, run_name: object) -> None:
            if not made:
                made.append("failed")
                raise KeyError("great_expectations.datasource.fluent.data_asset.path.file_asset")
            made.append("made")

    monkeypatch.setattr(gates, "_GxContext", Flaky)
    gate = gates.QualityGate(ContractRegistry.default())
    gate.warm_up([])
    with caplog.at_level("WARNING", logger="lakeforge.quality"):
        context = gate.gx
    assert isinstance(context, Flaky) and made == ["failed", "made"]
    assert gate.gx is context
    assert "did not load in the background (KeyError" in caplog.text


def test_a_run_that_validated_nothing_writes_the_docs_page_without_great_expectations(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lakeforge.quality import gates

    def no_context(*args: object, **kwargs: object) -> None:
        raise AssertionError("Great Expectations' context was made for a run that validated nothing")

    monkeypatch.setattr(gates, "_GxContext", no_context)
    docs = tmp_path / "docs"
    gate = QualityGate(ContractRegistry.default(), docs_dir=docs, run_name="r1")

    assert gate.build_docs() == docs / "index.html"
    assert (docs / "index.html").read_text(encoding="utf-8") == gates.EMPTY_DOCS

    (docs / "index.html").write_text("an earlier run's site", encoding="utf-8")
    assert gate.build_docs() == docs / "index.html"  # docs already there are left as they are
    assert (docs / "index.html").read_text(encoding="utf-8") == "an earlier run's site"
    assert QualityGate(ContractRegistry.default(), docs_dir=None).build_docs() is None
