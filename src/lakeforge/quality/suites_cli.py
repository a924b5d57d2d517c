"""`lakeforge suites [--check]`: regenerate a project's GE suites from its contracts and show the diff.

main(["--config", "config/local.yaml"])   # the config's contracts_dir; suites/ next to it
main(["--contracts", "contracts"])        # a contracts folder; --out names another suites folder
main(["--check"])                         # write nothing; print the diff and return 1 when a suite is stale

Without --config or --contracts it takes `./contracts` (a project made by `lakeforge init`, or a
checkout of lakeforge, where `contracts` links to the packaged ones). It never writes into an installed
package: the packaged suites ship with lakeforge and change with it.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from lakeforge.contracts.registry import ContractRegistry
from lakeforge.errors import ConfigError
from lakeforge.quality.suites import suites_dir, write_suites

PACKAGE_DIR = Path(__file__).resolve().parent.parent


def parser() -> argparse.ArgumentParser:
    out = argparse.ArgumentParser(
        prog="lakeforge suites", description="Regenerate the GE suites from the table contracts."
    )
    add_arguments(out)
    return out


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `lakeforge suites` (also used by the main CLI's subcommand)."""
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if a suite is stale")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--config", type=Path, help="a project config: its contracts_dir")
    where.add_argument("--contracts", type=Path, help="a contracts folder (default: ./contracts)")
    parser.add_argument("--env", default="local", help="the environment overlay of --config")
    parser.add_argument("--out", type=Path, help="the suites folder (default: suites/ beside the contracts)")


def _contracts(args: argparse.Namespace) -> Path:
    if args.config is not None:
        from lakeforge.config import load_settings

        settings = load_settings(args.config, env=args.env)
        if settings.contracts_dir is None:
            raise ConfigError(
                f"{args.config} sets no contracts_dir: it uses the contracts packaged with lakeforge, "
                "whose suites ship with it",
                hint="set contracts_dir to the project's own copy (lakeforge init makes one)",
            )
        return settings.contracts_dir
    if args.contracts is not None:
        return Path(args.contracts)
    if Path("contracts").is_dir():
        return Path("contracts")
    raise ConfigError(
        f"no contracts folder: {Path.cwd()} has no contracts/",
        hint="run it in a project folder (lakeforge init makes one), or pass --config or --contracts",
    )


def _installed_package(target: Path) -> bool:
    """Whether `target` lies inside lakeforge as installed (not a source checkout: src/lakeforge)."""
    resolved = target.resolve()
    inside = resolved == PACKAGE_DIR or PACKAGE_DIR in resolved.parents
    checkout = PACKAGE_DIR.parent.name == "src" and (PACKAGE_DIR.parent.parent / "pyproject.toml").is_file()
    return inside and not checkout


def run(args: argparse.Namespace) -> int:
    """Regenerate (or with `check`, compare) the suites; 0 in sync or written, 1 stale under --check."""
    registry = ContractRegistry(_contracts(args))
    where = args.out if args.out is not None else suites_dir(registry)
    if not args.check and _installed_package(where):
        raise ConfigError(
            f"refusing to write suites into the installed lakeforge package ({where.resolve()})",
            hint="run it in a project folder with its own contracts (lakeforge init), or pass --out",
        )
    diff = write_suites(check_only=args.check, registry=registry, directory=where)
    out = sys.stdout
    out.writelines(diff)
    if not diff:
        out.write(f"suites in {where} match the contracts\n")
        return 0
    if args.check:
        out.write(f"suites in {where} are stale: run `lakeforge suites` and commit the result\n")
        return 1
    out.write(f"suites in {where} regenerated\n")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return run(parser().parse_args(list(argv) if argv is not None else None))
