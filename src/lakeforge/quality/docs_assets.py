"""Great Expectations data docs that open without a network: their CDN assets, kept beside the site.

    fetch_assets()                      # once, at install (`lakeforge fetch-assets`): npm tarballs -> cache
    make_offline(docs_dir)              # after each build: copy into docs_dir/static/vendor, rewrite links

GE 1.24.1's page templates load Bootstrap, jQuery, Font Awesome, bootstrap-table, Vega, ... from CDNs
(unpkg, jsDelivr, cdnjs, ...), so the pages open blank where there is no network. `PACKAGES` lists the
same files from the npm registry at the exact versions those URLs name (Vega's `@5`/`@6` pinned to the
newest release of that major), each tarball checked against its registry integrity (sha512). They are
fetched into a cache (`LAKEFORGE_ASSETS_CACHE`, default `~/.cache/lakeforge/web`) at install time, never
during a run; a site built without them keeps its CDN links and a warning says how to fetch them.
"""

from __future__ import annotations

import base64
import hashlib
import io
import logging
import os
import re
import shutil
import tarfile
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

log = logging.getLogger("lakeforge.quality")

REGISTRY = "https://registry.npmjs.org"
VENDOR = "static/vendor"  # inside the site, beside GE's own static/ files


@dataclass(frozen=True)
class Package:
    """Files of one npm package version; `integrity` is the registry's `dist.integrity` (sha512)."""

    name: str
    version: str
    integrity: str
    files: tuple[str, ...]

    @property
    def key(self) -> str:
        return f"{self.name}@{self.version}"

    def tarball_url(self, registry: str) -> str:
        return f"{registry.rstrip('/')}/{self.name}/-/{self.name.rpartition('/')[2]}-{self.version}.tgz"


def _pkg(name: str, version: str, integrity: str, *files: str) -> Package:
    return Package(name, version, integrity, files)


PACKAGES = (
    _pkg("bootstrap", "4.3.1", "sha512-rXqOmH1VilAt2DyPzluTi2blhk17bO7ef+zLLPlWvG494pDxcM234pJ8wTc/6R40UWizAIIMgxjvxZg5kmsbag==",
         "dist/css/bootstrap.min.css", "dist/js/bootstrap.min.js"),
    _pkg("@forevolve/bootstrap-dark", "1.1.0", "sha512-A3ucpEpxPoTVO490lZZCfjPXxv832l7mm1IxX3bXyxvgwnPGXDLyh7dWrphXKO8YBAu3EswbBEu3VSW8NRMW3A==",
         "dist/css/bootstrap-prefers-dark.css"),
    _pkg("bootstrap-datepicker", "1.9.0", "sha512-9rYYbaVOheGYxjOr/+bJCmRPihfy+LkLSg4fIFMT9Od8WwWB/MB50w0JO1eBgKUMbb7PFHQD5uAfI3ArAxZRXA==",
         "dist/css/bootstrap-datepicker.min.css", "dist/js/bootstrap-datepicker.min.js"),
    _pkg("@fortawesome/fontawesome-free", "6.6.0", "sha512-60G28ke/sXdtS9KZCpZSHHkCbdsOGEhIUGlwq6yhY74UpTiToIh8np7A8yphhM4BWsvNFtIvLpi4co+h9Mr9Ow==",
         "css/all.min.css", *(f"webfonts/fa-{f}.{ext}" for f in ("brands-400", "regular-400", "solid-900",
                                                                  "v4compatibility") for ext in ("woff2", "ttf"))),
    _pkg("bootstrap-table", "1.19.1", "sha512-WvV+l1AI/C+zThaKmfHmi/IuayVNB0qdFyEhFx1jyZhO0oLtNJNANkCR3rvJf6Dkh72dsLElxpE/bzK9seEQLA==",
         "dist/bootstrap-table.min.css", "dist/bootstrap-table.min.js",
         "dist/extensions/filter-control/bootstrap-table-filter-control.min.js"),
    _pkg("bootstrap-table", "1.19.0", "sha512-L+USHm3X9FKocx/6yngGu12yF6r6s1Ntuc+hoIK2a2QQJjHw5kcySLiE2HY/9sEaSGAOfPbfQOtBH3uKkcpqEA==",
         "dist/extensions/filter-control/bootstrap-table-filter-control.css",
         "dist/extensions/filter-control/bootstrap-table-filter-control.min.css"),
    _pkg("popper.js", "1.12.9", "sha512-s0EEi9xiSCdqz9lV4IiVH5yIZnDX/U1t0tCjB+0jXx9jW8lrR7kOpVupiUg175ogqVoudpDXHF1p6dKATCHMeg==",
         "dist/umd/popper.min.js"),
    _pkg("jquery", "3.7.1", "sha512-m4avr8yL8kmFN8psrbFFFmB/If14iN5o9nw/NgnnM+kybDJpRsAynV2BsfpTYrTRysYUdADVD7CkUUizgkpLfg==",
         "dist/jquery.min.js"),
    _pkg("vega", "5.33.1", "sha512-1fArfVDUqVbb5z8n+/nVQb+VNBzx8svY6CrsyTK4Ujm4yrd9I1auoKxBAPXLCavY1LcrbHUskQbGUP8gXOzyQw==",
         "build/vega.min.js"),
    _pkg("vega-lite", "5.23.0", "sha512-l4J6+AWE3DIjvovEoHl2LdtCUkfm4zs8Xxx7INwZEAv+XVb6kR6vIN1gt3t2gN2gs/y4DYTs/RPoTeYAuEg6mA==",
         "build/vega-lite.min.js"),
    _pkg("vega-embed", "6.29.0", "sha512-PmlshTLtLFLgWtF/b23T1OwX53AugJ9RZ3qPE2c01VFAbgt3/GSNI/etzA/GzdrkceXFma+FDHNXUppKuM0U6Q==",
         "build/vega-embed.min.js"),
)  # fmt: skip

# Every CDN URL in GE 1.24.1's templates (great_expectations/render/view/templates) -> (package, file).
CDN: dict[str, tuple[str, str]] = {
    "https://maxcdn.bootstrapcdn.com/bootstrap/4.3.1/css/bootstrap.min.css": ("bootstrap@4.3.1", "dist/css/bootstrap.min.css"),
    "https://stackpath.bootstrapcdn.com/bootstrap/4.3.1/js/bootstrap.min.js": ("bootstrap@4.3.1", "dist/js/bootstrap.min.js"),
    "https://cdn.jsdelivr.net/npm/@forevolve/bootstrap-dark@1.1.0/dist/css/bootstrap-prefers-dark.css":
        ("@forevolve/bootstrap-dark@1.1.0", "dist/css/bootstrap-prefers-dark.css"),
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/css/bootstrap-datepicker.min.css":
        ("bootstrap-datepicker@1.9.0", "dist/css/bootstrap-datepicker.min.css"),
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/js/bootstrap-datepicker.min.js":
        ("bootstrap-datepicker@1.9.0", "dist/js/bootstrap-datepicker.min.js"),
    "https://cdnjs.cloudflare.com/ajax/libs/font-awesome/6.6.0/css/all.min.css": ("@fortawesome/fontawesome-free@6.6.0", "css/all.min.css"),
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.css": ("bootstrap-table@1.19.1", "dist/bootstrap-table.min.css"),
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.js": ("bootstrap-table@1.19.1", "dist/bootstrap-table.min.js"),
    "https://unpkg.com/bootstrap-table@1.19.1/dist/extensions/filter-control/bootstrap-table-filter-control.min.js":
        ("bootstrap-table@1.19.1", "dist/extensions/filter-control/bootstrap-table-filter-control.min.js"),
    "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/bootstrap-table-filter-control.css":
        ("bootstrap-table@1.19.0", "dist/extensions/filter-control/bootstrap-table-filter-control.css"),
    "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/bootstrap-table-filter-control.min.css":
        ("bootstrap-table@1.19.0", "dist/extensions/filter-control/bootstrap-table-filter-control.min.css"),
    "https://cdnjs.cloudflare.com/ajax/libs/popper.js/1.12.9/umd/popper.min.js": ("popper.js@1.12.9", "dist/umd/popper.min.js"),
    "https://code.jquery.com/jquery-3.7.1.min.js": ("jquery@3.7.1", "dist/jquery.min.js"),
    "https://cdn.jsdelivr.net/npm/vega@5": ("vega@5.33.1", "build/vega.min.js"),
    "https://cdn.jsdelivr.net/npm/vega-lite@5": ("vega-lite@5.23.0", "build/vega-lite.min.js"),
    "https://cdn.jsdelivr.net/npm/vega-embed@6": ("vega-embed@6.29.0", "build/vega-embed.min.js"),
}  # fmt: skip
# GE's navbar logos come from its S3 bucket; the light one ships in the site's own static/images.
_GE_IMAGES = re.compile(
    r"https://great-expectations-web-assets\.s3\.us-east-2\.amazonaws\.com/([\w.-]+)(\?[^\"']*)?"
)
_CDN = re.compile("|".join(re.escape(url) for url in sorted(CDN, key=len, reverse=True)) + r"(?=[\"'])")


def default_cache() -> Path:
    """`LAKEFORGE_ASSETS_CACHE`, else `$XDG_CACHE_HOME/lakeforge/web`, else `~/.cache/lakeforge/web`."""
    if os.environ.get("LAKEFORGE_ASSETS_CACHE"):
        return Path(os.environ["LAKEFORGE_ASSETS_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "lakeforge" / "web"


def missing(cache: Path | None = None) -> list[str]:
    """The packages (`name@version`) whose files are not all in the cache."""
    root = cache or default_cache()
    return [p.key for p in PACKAGES if not all((root / p.key / f).is_file() for f in p.files)]


def _verify(data: bytes, integrity: str, what: str) -> None:
    algorithm, _, expected = integrity.partition("-")
    if algorithm != "sha512":
        raise ValueError(f"{what}: unsupported integrity {integrity!r}")
    found = base64.b64encode(hashlib.sha512(data).digest()).decode()
    if found != expected:
        raise ValueError(f"{what}: sha512 {found} differs from the registry's {expected}")


def _extract(package: Package, data: bytes, target: Path) -> None:
    """The listed files and the licence files of a package tarball into `target` (written atomically)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".partial-", dir=target.parent))
    try:
        wanted = set(package.files)
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
            for member in tar.getmembers():
                parts = PurePosixPath(member.name).parts
                rel = "/".join(parts[1:])  # npm tarballs hold one top folder, usually `package/`
                licence = len(parts) == 2 and parts[1].upper().startswith(("LICENSE", "LICENCE"))
                if not member.isfile() or not (rel in wanted or licence):
                    continue
                source = tar.extractfile(member)
                assert source is not None
                out = tmp / rel
                out.parent.mkdir(parents=True, exist_ok=True)
                out.write_bytes(source.read())
                wanted.discard(rel)
        if wanted:
            raise ValueError(f"{package.key}: the tarball has no {', '.join(sorted(wanted))}")
        if target.exists():
            shutil.rmtree(target)
        tmp.rename(target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def fetch_assets(cache: Path | None = None, registry: str | None = None, timeout: float = 60.0) -> Path:
    """Download the packages missing from the cache from the npm registry; returns the cache folder.

    The registry is `LAKEFORGE_NPM_REGISTRY` (a mirror) or registry.npmjs.org. Each tarball is checked
    against its pinned sha512 before anything is written.
    """
    root = (cache or default_cache()).expanduser().absolute()
    base = registry or os.environ.get("LAKEFORGE_NPM_REGISTRY") or REGISTRY
    todo = set(missing(root))
    for package in PACKAGES:
        if package.key not in todo:
            continue
        url = package.tarball_url(base)
        log.info("fetching %s from %s", package.key, url)
        # bandit B310: the registry is https (or a mirror the user names); each tarball's sha512 is checked
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310  # nosec B310
            data = response.read()
        _verify(data, package.integrity, package.key)
        _extract(package, data, root / package.key)
    return root


def _files_to_copy() -> list[tuple[str, str]]:
    return [(p.key, f) for p in PACKAGES for f in p.files]


@dataclass(frozen=True)
class Offline:
    """What `make_offline` did: pages rewritten, and the packages it lacked (then nothing was done)."""

    pages: int
    missing: list[str]


def make_offline(site: Path, cache: Path | None = None) -> Offline:
    """Copy the cached assets into `site/static/vendor` and point every page of the site at them.

    Run after each GE build (GE writes its pages with CDN links again). Without the cache, the site is
    left as GE wrote it and a warning says how to fetch the assets.
    """
    root = cache or default_cache()
    lacking = missing(root)
    if lacking:
        log.warning(
            "data docs keep their CDN links (they need a network to display): %s not in %s; "
            "run `make web-assets` or `lakeforge fetch-assets`",
            ", ".join(lacking),
            root,
        )
        return Offline(0, lacking)
    vendor = site / VENDOR
    for key, rel in _files_to_copy():
        source, target = root / key / rel, vendor / key / rel
        if not target.is_file() or target.stat().st_size != source.stat().st_size:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)
    for package in PACKAGES:  # the licences travel with the files
        for licence in (root / package.key).glob("LICEN[CS]E*"):
            shutil.copyfile(licence, vendor / package.key / licence.name)
    images = site / "static" / "images"
    pages = 0
    for page in site.rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        prefix = os.path.relpath(site, page.parent).replace(os.sep, "/")

        def local(match: re.Match[str], prefix: str = prefix) -> str:
            key, rel = CDN[match.group(0)]
            return f"{prefix}/{VENDOR}/{key}/{rel}"

        def image(match: re.Match[str], prefix: str = prefix) -> str:
            name = match.group(1)
            if not (images / name).is_file() and "logo" in name:
                name = "logo-long.png"  # the dark-mode logo (full_logo_dark.png) is not shipped with GE
            return f"{prefix}/static/images/{name}" if (images / name).is_file() else match.group(0)

        new = _GE_IMAGES.sub(image, _CDN.sub(local, text))
        if new != text:
            page.write_text(new, encoding="utf-8")
            pages += 1
    return Offline(pages, [])


def cdn_references(site: Path) -> dict[str, list[str]]:
    """Every CDN or GE-bucket URL still loaded by a page of the site, by page (relative path)."""
    found: dict[str, list[str]] = {}
    for page in sorted(site.rglob("*.html")):
        text = page.read_text(encoding="utf-8")
        urls = [m.group(0) for m in _CDN.finditer(text)] + [m.group(0) for m in _GE_IMAGES.finditer(text)]
        if urls:
            found[page.relative_to(site).as_posix()] = urls
    return found
