"""The GitHub Actions workflow is valid by GitHub's schema, checked offline, and runs what .ci/run runs.

check-jsonschema ships the workflow schema in its wheel (`--builtin-schema vendor.github-workflows`);
where this machine allows it (root), the check runs in a network namespace with no network at all.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
WORKFLOW = REPO / ".github" / "workflows" / "ci.yml"
CHECK = Path(sys.executable).parent / "check-jsonschema"


def _offline() -> list[str]:
    """`unshare -n` (no network) when it works here, else nothing."""
    unshare = shutil.which("unshare")
    if unshare and subprocess.run([unshare, "-n", "true"], capture_output=True, check=False).returncode == 0:
        return [unshare, "-n"]
    return []


def _load() -> dict:
    """The workflow as data; YAML 1.1 reads the key `on` as True, so it is put back."""
    workflow = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    workflow["on"] = workflow.pop(True)
    return workflow


def _validate(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*_offline(), str(CHECK), "--builtin-schema", "vendor.github-workflows", str(path)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def test_the_workflow_matches_the_github_workflow_schema() -> None:
    done = _validate(WORKFLOW)

    assert (done.returncode, done.stdout.strip()) == (0, "ok -- validation done"), done.stderr


@pytest.mark.parametrize(
    ("change", "complaint"),
    [
        (lambda w: w["jobs"]["test"].pop("runs-on"), "'runs-on' is a required property"),
        (lambda w: w["jobs"]["test"].update({"timeout-minutes": "soon"}), "timeout-minutes"),
    ],
)
def test_a_broken_workflow_is_refused(tmp_path: Path, change, complaint: str) -> None:  # type: ignore[no-untyped-def]
    unchanged = tmp_path / "same.yml"
    unchanged.write_text(yaml.safe_dump(_load(), sort_keys=False), encoding="utf-8")
    assert _validate(unchanged).returncode == 0  # the round trip alone breaks nothing
    workflow = _load()
    change(workflow)
    broken = tmp_path / "ci.yml"
    broken.write_text(yaml.safe_dump(workflow, sort_keys=False), encoding="utf-8")

    done = _validate(broken)

    assert done.returncode == 1
    assert complaint in done.stdout


def test_the_workflow_runs_make_test_and_make_security() -> None:
    workflow = _load()
    runs = {name: [s.get("run", "") for s in job["steps"]] for name, job in workflow["jobs"].items()}

    assert "make security" in runs["security"]
    assert "bash .ci/run" in runs["test"]
    assert "time make test" in (REPO / ".ci" / "run").read_text(encoding="utf-8").splitlines()
