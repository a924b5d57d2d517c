"""`lakeforge suites [--check]`: regenerate the stored GE suites from the contracts and show the diff.

main([])            # write the suites, print what changed, return 0
main(["--check"])   # write nothing; print the diff and return 1 when a suite is stale
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from lakeforge.contracts.registry import ContractRegistry
from lakeforge.quality.suites import suites_dir, write_suites


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="lakeforge suites", description="Regenerate the GE suites from the table contracts."
    )
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if a suite is stale")
    parser.add_argument("--contracts", type=Path, help="a contracts folder (default: the packaged one)")
    args = parser.parse_args(list(argv) if argv is not None else None)
    registry = ContractRegistry(args.contracts) if args.contracts else ContractRegistry.default()
    diff = write_suites(check_only=args.check, registry=registry)
    out = sys.stdout
    out.writelines(diff)
    where = suites_dir(registry)
    if not diff:
        out.write(f"suites in {where} match the contracts\n")
        return 0
    if args.check:
        out.write(f"suites in {where} are stale: run `lakeforge suites` and commit the result\n")
        return 1
    out.write(f"suites in {where} regenerated\n")
    return 0
