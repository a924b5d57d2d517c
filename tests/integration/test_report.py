"""Pages people open without a network, checked in Debian's headless Chromium with name resolution off.

- Great Expectations data docs: built by the gate after a real validation, their CDN assets local.
- The run report: `test_status.py::test_the_report_page_draws_the_lakehouse` runs it on that module's
  finished lakehouse (no second pipeline run); the browser helpers live here.

Chromium comes from `make chromium` (part of `make test`); without it these tests skip, and fail in CI.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from lakeforge.contracts.registry import ContractRegistry
from lakeforge.quality.docs_assets import VENDOR, cdn_references, default_cache, missing

# Chromium's own service requests (updates, time, accounts, dictionaries): not the page's.
BROWSER_SERVICES = re.compile(r"^https?://[^/]*\b(google|googleapis|gvt1|gstatic)\.com(/|$)")


def chromium() -> str:
    found = shutil.which("chromium")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed: `make chromium` installs it (part of `make test`)")
        pytest.skip("chromium is not installed (`make chromium`)")
    return found


def browse(
    page: Path, work: Path, screenshot: Path | None = None, size: str = "1400,1800"
) -> tuple[str, list[str]]:
    """The page's DOM after its scripts ran (or a screenshot), and the URLs the page asked the network for.

    Name resolution is off (`MAP * ~NOTFOUND`): the page gets nothing from outside, and every request it
    makes is still written to the net log, which is read back.
    """
    work.mkdir(parents=True, exist_ok=True)
    net_log = work / "net.json"
    output = [f"--screenshot={screenshot}", f"--window-size={size}"] if screenshot else ["--dump-dom"]
    result = subprocess.run(
        [
            chromium(), "--headless", "--disable-gpu", "--no-sandbox", "--no-first-run",
            f"--user-data-dir={work / 'profile'}", "--host-resolver-rules=MAP * ~NOTFOUND",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            f"--log-net-log={net_log}", *output, page.as_uri(),
        ],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    urls = set(re.findall(r'"url":"([a-z]+://[^"]+)"', net_log.read_text(encoding="utf-8", errors="replace")))
    return result.stdout, sorted(u for u in urls if u.startswith("http") and not BROWSER_SERVICES.match(u))


def require_assets() -> None:
    if missing():
        message = f"data docs assets not in {default_cache()}: `make web-assets` fetches them"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


def test_data_docs_open_offline(spark, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from lakeforge.quality.gates import EMPTY_DOCS, QualityGate
    from tests.unit.test_gates import ORDERS_DDL, order

    require_assets()
    docs = tmp_path / "data_docs"
    gate = QualityGate(ContractRegistry.default(), docs_dir=docs, run_name="r1", examples=False)
    assert gate.build_docs() == docs / "index.html"  # nothing validated yet: the page that says so
    assert (docs / "index.html").read_text(encoding="utf-8") == EMPTY_DOCS
    df = spark.createDataFrame([order("o1"), order("o1", line=2)], ORDERS_DDL)
    assert gate.check(df, "silver.orders", suite="silver.orders.batch").failed == 1

    index = gate.build_docs()  # GE's site, over the placeholder

    assert index == docs / "index.html"
    assert "silver.orders.batch" in index.read_text(encoding="utf-8")
    pages = sorted(p.relative_to(docs).as_posix() for p in docs.rglob("*.html"))
    assert len(pages) == 3  # the index, the suite, the validation
    assert cdn_references(docs) == {}
    for page in docs.rglob("*.html"):  # every asset lakeforge pointed a page at is a file of the site
        text = page.read_text(encoding="utf-8")
        ours = re.findall(rf'(?:src|href)="([^"]*{VENDOR}/[^"]+)"', text)
        assert len(ours) == 15, (page, ours)  # the 15 CDN files of GE's page template
        for ref in ours:
            assert (page.parent / ref).resolve().is_file(), (page, ref)
    dom, requested = browse(index, tmp_path / "browser")
    assert requested == []
    # bootstrap-table (with jQuery and Bootstrap) builds the validation list only when its scripts loaded
    assert '<div class="bootstrap-table bootstrap4">' in dom
    assert re.search(r'<span class="pagination-info">\s*Showing 1 to 1 of 1 rows', dom), dom[-3000:]
