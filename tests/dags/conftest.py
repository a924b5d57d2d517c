"""Fixtures for the DAG tests; run them with the Airflow virtualenv's Python:

    .airflow/venv/bin/python -m pytest tests/dags

They need no database: the DagBag is parsed from files and stages call a fake CLI.
"""

from __future__ import annotations

import importlib.util
import os
import shlex
import shutil
import sys
import tempfile
from pathlib import Path
from types import ModuleType

import pytest

PROJECT_DIR = Path(__file__).resolve().parents[2]
DAGS_DIR = PROJECT_DIR / "dags"
FAKE_CLI = Path(__file__).resolve().parent / "fake_lakeforge.sh"

_airflow_home: str | None = None


def pytest_configure(config: pytest.Config) -> None:
    """Point Airflow at a throw-away home before anything imports it."""
    global _airflow_home
    _airflow_home = tempfile.mkdtemp(prefix="lakeforge-airflow-test-")
    os.environ["AIRFLOW_HOME"] = _airflow_home
    os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(DAGS_DIR)
    os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"


def pytest_unconfigure(config: pytest.Config) -> None:
    if _airflow_home:
        shutil.rmtree(_airflow_home, ignore_errors=True)


@pytest.fixture(scope="session")
def dags_dir() -> Path:
    return DAGS_DIR


@pytest.fixture(scope="session")
def common() -> ModuleType:
    """``dags/lakeforge_common.py`` imported by path, as the DAG files see it."""
    if "lakeforge_common" in sys.modules:
        return sys.modules["lakeforge_common"]
    spec = importlib.util.spec_from_file_location("lakeforge_common", DAGS_DIR / "lakeforge_common.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["lakeforge_common"] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def dagbag():
    from airflow.dag_processing.dagbag import BundleDagBag

    return BundleDagBag(dag_folder=DAGS_DIR, bundle_path=DAGS_DIR, bundle_name="dags-folder")


@pytest.fixture(autouse=True)
def no_lakeforge_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test starts without LAKEFORGE_* and FAKE_LAKEFORGE_* variables, whatever the shell had."""
    for name in list(os.environ):
        if name.startswith("FAKE_LAKEFORGE_") or name.startswith("LAKEFORGE_"):
            monkeypatch.delenv(name)


@pytest.fixture
def fake_cli(tmp_path: Path) -> Path:
    """An executable copy of the fake CLI."""
    cli = tmp_path / "lakeforge"
    shutil.copy(FAKE_CLI, cli)
    cli.chmod(0o755)
    return cli


@pytest.fixture
def tell_fake(fake_cli: Path):
    """``tell_fake(EXIT="3")`` sets FAKE_LAKEFORGE_EXIT for ``fake_cli`` through its settings file.

    A DAG task passes the CLI an allow-listed environment, so FAKE_LAKEFORGE_* set with
    ``monkeypatch.setenv`` would not reach it.
    """
    settings = fake_cli.with_name(fake_cli.name + ".settings")

    def tell(**values: str) -> None:
        with settings.open("a") as out:
            for name, value in values.items():
                out.write(f"FAKE_LAKEFORGE_{name}={shlex.quote(value)}\n")

    return tell
