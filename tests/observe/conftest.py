"""The scrape stack of scripts/observe (node exporter + Prometheus on free loopback ports), per module.

Skipped where Prometheus is not installed, unless LAKEFORGE_OBSERVE_REQUIRED=1 (`make observe-test`,
which installs it first): then a missing tool fails the test instead.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = ROOT / "scripts" / "observe"
TOOLS = ("/usr/bin/prometheus", "/usr/bin/promtool", "/usr/bin/prometheus-node-exporter")


def require_tools() -> None:
    missing = [t for t in TOOLS if not os.access(t, os.X_OK)]
    if not missing:
        return
    message = f"{', '.join(missing)} missing: `make observe-test` installs them"
    if os.environ.get("LAKEFORGE_OBSERVE_REQUIRED") == "1":
        pytest.fail(message)
    pytest.skip(message)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class Stack:
    url: str
    metrics_dir: Path

    def api(self, path: str, **params: str) -> Any:
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        with urllib.request.urlopen(f"{self.url}/api/v1/{path}{query}", timeout=10) as response:
            body = json.load(response)
        assert body["status"] == "success", body
        return body["data"]

    def query(self, expr: str) -> dict[tuple[tuple[str, str], ...], float]:
        """An instant query: labels (without __name__, instance, job) -> value."""
        out = {}
        for r in self.api("query", query=expr)["result"]:
            labels = {k: v for k, v in r["metric"].items() if k not in ("__name__", "instance", "job")}
            out[tuple(sorted(labels.items()))] = float(r["value"][1])
        return out

    def wait_for(self, what: str, check: Callable[[], Any], timeout: float = 30.0) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            found = check()
            if found:
                return found
            if time.monotonic() > deadline:
                raise AssertionError(f"{what}: not seen within {timeout} s")
            time.sleep(0.25)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    require_tools()
    state = tmp_path_factory.mktemp("observe")
    port = _free_port()
    env = {
        **os.environ,
        "LAKEFORGE_OBSERVE_DIR": str(state),
        "LAKEFORGE_METRICS_DIR": str(state / "textfiles"),
        "LAKEFORGE_NODE_EXPORTER_PORT": str(_free_port()),
        "LAKEFORGE_PROMETHEUS_PORT": str(port),
        "LAKEFORGE_SCRAPE_INTERVAL": "1s",
    }
    assert shutil.which("bash")
    up = subprocess.run(
        ["bash", str(SCRIPTS / "up.sh")], env=env, capture_output=True, text=True, timeout=120
    )
    try:
        assert up.returncode == 0, up.stderr
        yield Stack(f"http://127.0.0.1:{port}", state / "textfiles")
    finally:
        down = subprocess.run(
            ["bash", str(SCRIPTS / "down.sh")], env=env, capture_output=True, text=True, timeout=60
        )
        assert down.returncode == 0, down.stderr
