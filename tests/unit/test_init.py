"""`lakeforge init`, `lakeforge --version` and `lakeforge suites` writing into a project, never the package.

No Spark here: the project is checked through its config, its flow graph and its plan (metadata only);
tests/deploy/test_wheel.py runs it from an installed wheel.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path

import pytest
import yaml

from lakeforge import cli
from lakeforge.config import load_settings
from lakeforge.contracts.registry import PACKAGED_CONTRACTS, ContractRegistry
from lakeforge.errors import ConfigError
from lakeforge.flows import load_graph
from lakeforge.logs import configure as configure_logging
from lakeforge.project import SCAFFOLD, init_project
from lakeforge.quality import suites_cli
from lakeforge.quality.suites import render, suite_for

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = "gold.orders_by_status"


@pytest.fixture(autouse=True)
def _logging_off_capsys() -> Iterator[None]:
    """cli.main logs to the stderr of its test (capsys); later tests must not write to that closed stream."""
    yield
    configure_logging(stream=sys.__stderr__)


def _files(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A new project in tmp_path/shop, with the working directory in it (as its README says)."""
    init_project(tmp_path / "shop")
    monkeypatch.chdir(tmp_path / "shop")
    return tmp_path / "shop"


def test_init_writes_config_contracts_suites_flows_dags_and_a_sample(tmp_path: Path) -> None:
    report = init_project(tmp_path / "shop")

    tables = sorted([p.stem for p in PACKAGED_CONTRACTS.glob("*.yaml")] + [EXAMPLE])
    dags = sorted(p.name for p in (REPO / "dags").glob("*.py"))
    expected = {
        ".gitignore",
        "README.md",
        "config/local.yaml",
        "flows.py",
        *(f"contracts/{t}.yaml" for t in tables),
        *(f"suites/{t}.json" for t in tables),
        *(f"dags/{d}" for d in dags),
    }
    root = tmp_path / "shop"
    assert sorted(report.files) == sorted(expected)
    assert {f for f in _files(root) if not f.startswith("data/")} == expected
    assert report.sample == {"customers": 53, "orders": 503}
    assert sorted(_files(root / "data" / "landing")) == sorted(
        [f"customers/customers_202603{d:02d}.csv" for d in range(1, 11)]
        + [f"orders/orders_202603{d:02d}.csv" for d in range(1, 11)]
    )
    for table in (t for t in tables if t != EXAMPLE):
        assert (root / "contracts" / f"{table}.yaml").read_bytes() == (
            PACKAGED_CONTRACTS / f"{table}.yaml"
        ).read_bytes()
    for dag in dags:
        assert (root / "dags" / dag).read_bytes() == (REPO / "dags" / dag).read_bytes()


def test_the_project_config_loads_with_its_own_contracts_and_flows(project: Path) -> None:
    settings = load_settings(Path("config/local.yaml"), env="local")

    assert settings.paths.landing == str(project / "data" / "landing")
    assert settings.paths.lakehouse == str(project / "data" / "lakehouse")
    assert Path(settings.contracts_dir or "").resolve() == project / "contracts"
    graph = load_graph(settings)
    assert EXAMPLE in graph.tables()
    example = next(f for f in graph.derived if f.table == EXAMPLE)
    assert (example.inputs, example.by) == (("silver.orders",), "status")


def test_the_project_suites_match_its_contracts(project: Path) -> None:
    registry = ContractRegistry(project / "contracts")
    for table in registry.names():
        assert (project / "suites" / f"{table}.json").read_text(encoding="utf-8") == render(
            suite_for(registry.get(table))
        ), table


def test_plan_of_a_new_project_ingests_every_sample_file(project: Path, capsys) -> None:
    assert cli.main(["plan", "--config", "config/local.yaml", "--json"]) == 0

    plan = json.loads(capsys.readouterr().out)
    assert plan["has_work"] is True
    ingest = {s["table"]: len(s["files"]) for s in plan["steps"] if s["stage"] == "ingest"}
    assert ingest == {"bronze.customers": 10, "bronze.orders": 10}
    assert {s["table"] for s in plan["steps"] if s["stage"] == "load"} == {
        "gold.customer_ltv",
        "gold.daily_revenue",
        EXAMPLE,
    }


def test_init_refuses_a_folder_that_is_not_empty(tmp_path: Path, capsys) -> None:
    (tmp_path / "shop").mkdir()
    (tmp_path / "shop" / "notes.txt").write_text("mine\n")

    with pytest.raises(
        ConfigError, match=r"shop is not empty; lakeforge init writes only into a new or empty"
    ):
        init_project(tmp_path / "shop")
    assert cli.main(["init", str(tmp_path / "shop")]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith(f"lakeforge: ConfigError: {tmp_path / 'shop'} is not empty")
    assert "--force" in err[0]
    assert _files(tmp_path / "shop") == {"notes.txt"}


def test_init_refuses_a_file(tmp_path: Path) -> None:
    (tmp_path / "shop").write_text("")

    with pytest.raises(ConfigError, match="cannot create a project in .*shop: it is a file"):
        init_project(tmp_path / "shop")


def test_force_writes_the_scaffold_over_and_keeps_other_files_and_the_landing(tmp_path: Path) -> None:
    root = tmp_path / "shop"
    init_project(root)
    (root / "config" / "local.yaml").write_text("changed\n")
    (root / "notes.txt").write_text("mine\n")
    delivered = root / "data" / "landing" / "orders" / "orders_20260301.csv"
    before = delivered.read_bytes()

    report = init_project(root, force=True)

    assert (root / "config" / "local.yaml").read_bytes() == (SCAFFOLD / "config" / "local.yaml").read_bytes()
    assert (root / "notes.txt").read_text() == "mine\n"
    assert report.sample == {}  # the landing zone there is kept, not generated again
    assert delivered.read_bytes() == before


def test_no_sample_writes_no_landing_zone(tmp_path: Path) -> None:
    report = init_project(tmp_path / "shop", sample=False)

    assert report.sample == {}
    assert not (tmp_path / "shop" / "data").exists()


def test_cli_init_prints_what_to_do_next(tmp_path: Path, capsys) -> None:
    assert cli.main(["init", str(tmp_path / "shop")]) == 0

    out = capsys.readouterr().out.splitlines()
    assert out[1] == "sample landing zone in data/landing: 53 customers and 503 orders records"
    assert out[-1] == "  lakeforge run --config config/local.yaml --env local --cmd full"


def test_version_comes_from_the_package_metadata(capsys) -> None:
    with pytest.raises(SystemExit) as exit_:
        cli.main(["--version"])

    assert exit_.value.code == 0
    assert capsys.readouterr().out == f"lakeforge {version('lakeforge')}\n"


# ------------------------------------------------------------------------------- lakeforge suites


def _bump(project: Path, table: str) -> None:
    path = project / "contracts" / f"{table}.yaml"
    contract = yaml.safe_load(path.read_text(encoding="utf-8"))
    contract["version"] += 1
    path.write_text(yaml.safe_dump(contract, sort_keys=False), encoding="utf-8")


def test_suites_of_a_project_are_written_into_its_suites_folder(project: Path, capsys) -> None:
    _bump(project, EXAMPLE)

    assert cli.main(["suites", "--check", "--config", "config/local.yaml"]) == 1
    assert "+++ b/suites/gold.orders_by_status.json" in capsys.readouterr().out
    assert cli.main(["suites", "--config", "config/local.yaml"]) == 0
    assert capsys.readouterr().out.endswith(f"suites in {project / 'suites'} regenerated\n")

    stored = json.loads((project / "suites" / f"{EXAMPLE}.json").read_text(encoding="utf-8"))
    assert stored["meta"]["contract_version"] == 2
    assert cli.main(["suites", "--check"]) == 0  # ./contracts by default
    assert capsys.readouterr().out == f"suites in {project / 'suites'} match the contracts\n"


def test_suites_out_names_another_folder(project: Path, tmp_path: Path) -> None:
    assert cli.main(["suites", "--contracts", "contracts", "--out", str(tmp_path / "elsewhere")]) == 0

    assert (
        sorted(p.stem for p in (tmp_path / "elsewhere").glob("*.json"))
        == ContractRegistry(project / "contracts").names()
    )


def test_suites_refuse_a_config_with_the_packaged_contracts(tmp_path: Path, capsys) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump({"paths": {"landing": "l", "lakehouse": "h"}}))

    assert cli.main(["suites", "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert f"lakeforge: ConfigError: {config} sets no contracts_dir" in err


def test_suites_without_a_contracts_folder_exit_2(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)

    assert cli.main(["suites"]) == 2
    assert capsys.readouterr().err.startswith(f"lakeforge: ConfigError: no contracts folder: {tmp_path} has")


def test_suites_never_write_into_an_installed_package(tmp_path: Path, monkeypatch) -> None:
    """An installed lakeforge (no src/ checkout around it) refuses; --check still only reads."""
    site = tmp_path / "site-packages" / "lakeforge"
    (site / "contracts").mkdir(parents=True)
    for path in PACKAGED_CONTRACTS.glob("*.yaml"):
        (site / "contracts" / path.name).write_bytes(path.read_bytes())
    monkeypatch.setattr(suites_cli, "PACKAGE_DIR", site)

    with pytest.raises(ConfigError, match="refusing to write suites into the installed lakeforge package"):
        suites_cli.main(["--contracts", str(site / "contracts")])
    assert not (site / "suites").exists()
    assert suites_cli.main(["--check", "--contracts", str(site / "contracts")]) == 1
    assert suites_cli.main(["--contracts", str(site / "contracts"), "--out", str(tmp_path / "mine")]) == 0
