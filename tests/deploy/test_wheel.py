"""The built wheel, installed into a fresh virtualenv, is the whole product: --version, init, a full run.

Nothing of the checkout is used after the wheel is built: the venv has no --system-site-packages, the
commands run in a temp folder outside the repository with no PYTHONPATH, and `import lakeforge` must
resolve into the new venv. Pip installs with `-c requirements/constraints.txt` (the tested set; pip's
cache is warm in CI), without compiling bytecode: about 25 s instead of 65. The Delta jars come from the shared cache `lakeforge fetch-jars` filled
(`make install` runs it), so the run downloads nothing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
import venv
from dataclasses import dataclass
from pathlib import Path

import pytest

from lakeforge.project import init_project
from lakeforge.spark import cached_delta_jars, default_jars_cache
from tests.oracle import expected_from_landing

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
CONSTRAINTS = REPO / "requirements" / "constraints.txt"
VERSION = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"]
RUN = ("run", "--config", "config/local.yaml", "--env", "local", "--cmd", "full")
# What the scaffold's sample (scale 0.0005, seed 42) gives; the oracle must agree (checked below).
ROWS = {
    "bronze.customers": 53,
    "bronze.orders": 503,
    "silver.customers": 50,
    "silver.orders": 500,
    "quarantine.customers": 2,
    "quarantine.orders": 2,
    "gold.daily_revenue": 10,
    "gold.customer_ltv": 50,
    "gold.orders_by_status": 5,
}


def _files(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


@dataclass
class Installed:
    bin: Path
    env: dict[str, str]
    work: Path  # a folder outside the checkout, the cwd of every command


def _clean_env(bin_dir: Path) -> dict[str, str]:
    """The caller's environment without anything that could point back at the checkout or its venv."""
    drop = ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYSPARK_PYTHON", "PYSPARK_DRIVER_PYTHON")
    env = {
        k: v for k, v in os.environ.items() if k not in drop and not k.startswith(("LAKEFORGE_", "COVERAGE_"))
    }
    paths = [
        p
        for p in env.get("PATH", "").split(os.pathsep)
        if p and Path(p).resolve() != Path(sys.executable).parent.resolve()
    ]
    env["PATH"] = os.pathsep.join([str(bin_dir), *paths])
    return env


def _run(
    installed: Installed, *args: str, cwd: Path | None = None, timeout: int = 900
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(installed.bin / "lakeforge"), *args],
        cwd=cwd or installed.work,
        env=installed.env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    root = tmp_path_factory.mktemp("deploy")
    assert REPO not in root.resolve().parents, "the wheel must be tried outside the checkout"
    jars = cached_delta_jars(default_jars_cache())
    assert jars, f"no Delta jars in {default_jars_cache()}: run `lakeforge fetch-jars` (make install does)"
    dist = root / "dist"
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", str(dist), str(REPO)],
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert built.returncode == 0, built.stderr[-3000:]
    (wheel,) = dist.glob("lakeforge-*.whl")
    # No pip inside: this venv's pip (`--python`) installs into it, without bytecode (the costly part)
    venv.EnvBuilder(with_pip=False, system_site_packages=False).create(root / "venv")
    bin_dir = root / "venv" / "bin"
    env = _clean_env(bin_dir)
    pip = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(bin_dir / "python"), "install", "--quiet",
         "--no-compile", "--disable-pip-version-check", "-c", str(CONSTRAINTS), str(wheel)],
        capture_output=True, text=True, timeout=900, check=False, cwd=root,
    )  # fmt: skip
    assert pip.returncode == 0, pip.stderr[-3000:]
    work = root / "work"
    work.mkdir()
    return Installed(bin=bin_dir, env=env, work=work)


def test_the_package_comes_from_the_new_venv_not_the_checkout(installed: Installed) -> None:
    where = subprocess.run(
        [str(installed.bin / "python"), "-c", "import lakeforge, sys; print(lakeforge.__file__); print(sys.prefix)"],
        cwd=installed.work, env=installed.env, capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    module, prefix = where.stdout.split()
    assert Path(prefix) == installed.bin.parent
    assert Path(module).is_relative_to(installed.bin.parent / "lib")
    assert not Path(module).resolve().is_relative_to(REPO)


def test_version_is_the_package_metadata(installed: Installed) -> None:
    done = _run(installed, "--version")
    assert (done.returncode, done.stdout) == (0, f"lakeforge {VERSION}\n")


def test_init_refuses_a_folder_that_is_not_empty(installed: Installed) -> None:
    (installed.work / "taken").mkdir()
    (installed.work / "taken" / "notes.txt").write_text("mine\n")
    done = _run(installed, "init", "taken")
    assert done.returncode == 2
    assert done.stderr.splitlines()[-1].startswith("lakeforge: ConfigError: taken is not empty")
    assert sorted(p.name for p in (installed.work / "taken").iterdir()) == ["notes.txt"]


def test_init_then_a_full_run_from_the_project(installed: Installed) -> None:
    init = _run(installed, "init", "shop")
    assert init.returncode == 0, init.stderr[-3000:]
    project = installed.work / "shop"
    from_checkout = init_project(installed.work.parent / "from_checkout", sample=False)
    assert _files(project) - {f for f in _files(project) if f.startswith("data/")} == set(from_checkout.files)
    assert {f for f in from_checkout.files if f.startswith("dags/")} == {
        f"dags/{p.name}" for p in (REPO / "dags").glob("*.py")
    }

    run = _run(installed, *RUN, cwd=project)
    assert run.returncode == 0, run.stderr[-5000:]

    status = _run(installed, "status", "--config", "config/local.yaml", "--json", cwd=project)
    assert status.returncode == 0, status.stderr[-3000:]
    found = json.loads(status.stdout)
    assert [(r["command"], r["status"], r["exit_code"]) for r in found["runs"]] == [("full", "success", 0)]
    rows = {t["table"]: t["rows"] for t in found["tables"] if t["table"] != "_ops.events"}
    assert rows == ROWS

    want = expected_from_landing(project / "data" / "landing")
    assert ROWS == {
        "bronze.customers": want.customers.bronze_records,
        "bronze.orders": want.orders.bronze_records,
        "silver.customers": len(want.customers.silver),
        "silver.orders": len(want.orders.silver),
        "quarantine.customers": len(want.customers.quarantine),
        "quarantine.orders": len(want.orders.quarantine),
        "gold.daily_revenue": len(want.daily_revenue),
        "gold.customer_ltv": len(want.customer_ltv),
        "gold.orders_by_status": len({o["status"] for o in want.orders.silver}),
    }
