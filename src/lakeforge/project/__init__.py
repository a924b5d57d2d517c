"""`lakeforge init DIR`: a new project that `lakeforge run` accepts at once, from files in the wheel.

    created = init_project(Path("shop"))                # refuses a folder that is not empty
    created = init_project(Path("shop"), force=True)    # writes its files over whatever is there
    # then, in shop/: lakeforge run --config config/local.yaml --env local --cmd full

Why copies: a project owns its contracts (`contracts_dir` replaces the packaged ones), its suites, its
DAGs and its config, and changes them under its own version control; the installed package is never
written to. The files come from `lakeforge/scaffold/` and the packaged contracts and suites.
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from lakeforge.contracts.registry import PACKAGED_CONTRACTS
from lakeforge.errors import ConfigError

log = logging.getLogger(__name__)

SCAFFOLD = Path(__file__).resolve().parent.parent / "scaffold"  # package data (pyproject)
SAMPLE_SCALE = 0.0005  # 50 customers and 500 orders over 10 daily files per source
SAMPLE_SEED = 42
LANDING = Path("data") / "landing"
# scaffold file -> where it goes in the project (a name starting with a dot is not package data)
RENAMED = {"gitignore": ".gitignore"}


@dataclass
class InitReport:
    """What `init_project` wrote, relative to the project folder."""

    directory: Path
    files: list[str] = field(default_factory=list)
    sample: dict[str, int] = field(default_factory=dict)  # source -> records generated

    def to_dict(self) -> dict[str, object]:
        return {"directory": str(self.directory), "files": self.files, "sample": self.sample}


def _copy_tree(source: Path, target: Path, report: InitReport, root: Path) -> None:
    for path in sorted(source.iterdir()):
        if path.name == "__pycache__":
            continue
        dest = target / RENAMED.get(path.name, path.name)
        if path.is_dir():
            _copy_tree(path, dest, report, root)
            continue
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, dest)
        report.files.append(dest.relative_to(root).as_posix())


def init_project(
    directory: Path, *, force: bool = False, sample: bool = True, scale: float = SAMPLE_SCALE
) -> InitReport:
    """Write a project into `directory` (created if missing); return what was written.

    A folder that holds anything is refused with a ConfigError (exit 2) unless `force`, which writes the
    scaffold's files over the ones of the same name and leaves every other file alone. The sample landing
    zone (`lakeforge generate` at `scale`, seed 42) is written only where `data/landing` is empty or
    missing: files already there may have been ingested, and a changed file would be refused.
    """
    directory = Path(directory)
    if directory.exists() and not directory.is_dir():
        raise ConfigError(f"cannot create a project in {directory}: it is a file")
    if directory.is_dir() and any(directory.iterdir()) and not force:
        raise ConfigError(
            f"{directory} is not empty; lakeforge init writes only into a new or empty folder",
            hint="choose another folder, or add --force to write the project's files over the ones there",
        )
    directory.mkdir(parents=True, exist_ok=True)
    report = InitReport(directory=directory.resolve())
    _copy_tree(SCAFFOLD, directory, report, directory)
    _copy_tree(PACKAGED_CONTRACTS, directory / "contracts", report, directory)
    _copy_tree(PACKAGED_CONTRACTS.parent / "suites", directory / "suites", report, directory)
    _write_project_suites(directory, report)
    if sample:
        _sample(directory / LANDING, scale, report)
    log.info("created lakeforge project %s: %d files", report.directory, len(report.files))
    return report


def _write_project_suites(directory: Path, report: InitReport) -> None:
    """The suites of the project's contracts (the packaged ones plus the example's) into suites/."""
    from lakeforge.contracts.registry import ContractRegistry
    from lakeforge.quality.suites import write_suites

    registry = ContractRegistry(directory / "contracts")
    write_suites(registry=registry, directory=directory / "suites")
    report.files.extend(
        f"suites/{t}.json" for t in registry.names() if f"suites/{t}.json" not in report.files
    )


def _sample(landing: Path, scale: float, report: InitReport) -> None:
    from lakeforge.sample.generator import generate

    if landing.is_dir() and any(landing.iterdir()):
        log.info("kept the landing zone already in %s; no sample written", landing)
        return
    try:
        generated = generate(landing, scale=scale, seed=SAMPLE_SEED)
    except ValueError as exc:
        raise ConfigError(f"cannot write the sample landing zone: {exc}") from exc
    report.sample = {"customers": generated.customers.records, "orders": generated.orders.records}
