"""Layers point one way: lower layers never import higher ones (TYPE_CHECKING imports included).

results, errors, storage, logs, procs  leaves: import no other lakeforge module (errors excepted)
deltalog                       storage only
contracts                      may use the leaves
config                         contracts and below
sources, transforms, quality, writers, flows   config and below, never the pipeline or ops
ops                            results, contracts, deltalog; never the pipeline
spark, remote, server          config and below (server: spark, remote, procs), never the pipeline
pipeline, maintenance, cli     anything
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "lakeforge"

FORBIDDEN: dict[str, set[str]] = {
    "results": {"*"},
    "errors": {"*"},
    "deltalog": {"*"},
    "storage": {"*"},
    "logs": {"*"},
    "procs": {"*"},
    "contracts": {
        "config",
        "sources",
        "transforms",
        "quality",
        "writers",
        "flows",
        "ops",
        "pipeline",
        "maintenance",
        "cli",
        "spark",
    },
    "config": {
        "sources",
        "transforms",
        "quality",
        "writers",
        "flows",
        "ops",
        "pipeline",
        "maintenance",
        "cli",
    },
    "sources": {"transforms", "quality", "writers", "flows", "ops", "pipeline", "maintenance", "cli"},
    "transforms": {"writers", "ops", "pipeline", "maintenance", "cli"},
    "quality": {"writers", "flows", "ops", "pipeline", "maintenance", "cli"},
    "writers": {"quality", "flows", "ops", "pipeline", "maintenance", "cli"},
    "flows": {"writers", "ops", "pipeline", "maintenance", "cli"},
    "ops": {
        "sources",
        "transforms",
        "quality",
        "writers",
        "flows",
        "pipeline",
        "maintenance",
        "cli",
        "spark",
    },
    "spark": {"contracts", "sources", "transforms", "quality", "writers", "flows", "ops", "pipeline", "cli"},
    "remote": {"contracts", "sources", "transforms", "quality", "writers", "flows", "ops", "pipeline", "cli"},
    "server": {"contracts", "sources", "transforms", "quality", "writers", "flows", "ops", "pipeline", "cli"},
}
LEAF_ALLOWED = {
    "errors": set(),
    "results": set(),
    "deltalog": {"storage"},
    "storage": set(),
    "logs": set(),
    "procs": set(),
}


def layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("lakeforge")}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("lakeforge"):
            found.add(node.module)
            found |= {f"{node.module}.{a.name}" for a in node.names if node.module == "lakeforge"}
    return found


def test_layers_point_one_way() -> None:
    offenders = []
    for path in sorted(SRC.rglob("*.py")):
        module = "lakeforge." + ".".join(path.relative_to(SRC).with_suffix("").parts)
        own = layer(module)
        forbidden = FORBIDDEN.get(own, set())
        for target in imports(path):
            other = layer(target)
            if not other or other == own:
                continue
            if forbidden == {"*"} and other not in LEAF_ALLOWED.get(own, set()) and other != "errors":
                offenders.append(f"{module} imports {target}")
            elif other in forbidden:
                offenders.append(f"{module} imports {target}")
    assert offenders == []


def test_the_checker_sees_a_violation(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("from lakeforge.pipeline.faults import crashpoint\n")
    assert imports(bad) == {"lakeforge.pipeline.faults"}
    assert "pipeline" in FORBIDDEN["writers"]
