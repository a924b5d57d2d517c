"""lakeforge's speed goals, measured in one run on this machine: `make bench` (BENCH_ARGS=... for options).

    .venv/bin/python benchmarks/bench.py [--out DIR] [--scale 1] [--no-big] [--only 1,2] [--repeat 3]

Every figure is a ratio (or a bound) of wall times taken in this run, so a slower or busier machine moves
both sides. Every process is timed whole, from start to exit (subprocess, time.monotonic), one at a time.

  1 sample       `--cmd full` of the sample (scale 0.01, seed 42, 10 files) into an empty lakehouse,
                 divided by the floor (floor.py: the pipeline's Spark session + one 1-row Delta table)  <= 2x
  2 noop         the same run again, nothing new: wall seconds                                           <= 3 s
                 and whether a JVM was started (the summary's `jvm_started`, and no child process whose
                 command line holds `org.apache.spark`)                                                  no
  3 rebuild      `--cmd full` of scale 1 (100 files per source) into an empty lakehouse, divided by
                 naive.py (plain PySpark, same transforms, whole-table overwrites)                       <= 1.3x
  4 delivery     a lakehouse holding files 1-99 gets file 100 of each source:
                 (run - floor) / (full rebuild - floor)                                                  <= 20%
  5 big          the same 1% delivery (~10k orders) into scale 4 (400 files, 399 loaded) divided by
                 the delivery of measure 4 (skip with --no-big: scale 4 takes minutes and disk)          <= 1.3x
  6 commits      Delta commits of measure 4's run (cross-checked with the `_delta_log` files it added)
                 at most the tables it changed + 1
  7 remote       `--cmd full` of the sample through a warm Spark Connect server (`lakeforge server`,
                 warmed by one full run into another lakehouse) / the same run embedded                 <= 0.4x
  8 remote_noop  `--cmd ingest` of the sample through that server, nothing new: wall seconds             <= 2 s
  9 dag          `airflow dags test lakeforge_medallion` through the server (scripts/airflow/e2e.sh
                 with LAKEFORGE_E2E_REMOTE=1, on its sample: scale 0.01, seed 7) / one embedded
                 `--cmd full` of the same data (needs `make airflow-venv`; PostgreSQL is started)        <= 1.2x

`--repeat N` repeats the small measures (1, 2 and the floor) and reports medians. Generated landing
zones are kept under `--out/data` and reused while the generator's source is unchanged; lakehouses are
rebuilt every run. Prints a table and one JSON line, and appends the JSON line to results.jsonl.
Exit code 0 when every selected measure was taken (met or not), 1 when one could not be.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from importlib.util import find_spec
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
CLI = Path(sys.executable).parent / "lakeforge"
RESULTS = HERE / "results.jsonl"

SAMPLE = (0.01, 42, 10)  # scale, seed, files per source: the README's sample
SEED = 1  # the scale runs
FILES = 100  # files per source at --scale: one file ~ 1% of the data
BIG = 4  # measure 5: BIG x the data over BIG x the files, so one file holds the same ~10k orders
SPARK_MARK = "org.apache.spark"

MEASURES = {  # number -> name accepted by --only
    1: "sample",
    2: "noop",
    3: "rebuild",
    4: "delivery",
    5: "big",
    6: "commits",
    7: "remote",
    8: "remote_noop",
    9: "dag",
}


class BenchError(RuntimeError):
    """A measure could not be taken: a run failed, or its summary lacks what the measure needs."""


# --------------------------------------------------------------------------------- the run summary (JSON)
def parse_summary(stdout: str, where: str) -> dict[str, Any]:
    """The JSON object on the last non-empty stdout line of `lakeforge run --json`."""
    lines = [line for line in stdout.splitlines() if line.strip()]
    if not lines:
        raise BenchError(f"{where}: nothing on stdout; expected the JSON summary of `run --json` last")
    try:
        data = json.loads(lines[-1])
    except json.JSONDecodeError as exc:
        raise BenchError(f"{where}: the last stdout line is not JSON ({exc}): {lines[-1][:200]!r}") from None
    if not isinstance(data, dict):
        raise BenchError(f"{where}: the JSON summary is a {type(data).__name__}, not an object")
    return data


def require(summary: dict[str, Any], key: str, kind: type | tuple[type, ...], where: str) -> Any:
    """summary[key], checked to be of `kind` (bool is not accepted as an int)."""
    if key not in summary:
        raise BenchError(f"{where}: the run summary has no {key!r} (it has: {', '.join(sorted(summary))})")
    value = summary[key]
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if (isinstance(value, bool) and bool not in kinds) or not isinstance(value, kinds):
        names = "/".join(k.__name__ for k in kinds)
        raise BenchError(f"{where}: the run summary's {key!r} is {value!r}, expected {names}")
    return value


def tables_changed(summary: dict[str, Any], where: str) -> list[str]:
    """The distinct tables of `writes` that were not skipped."""
    writes = require(summary, "writes", list, where)
    changed = set()
    for i, write in enumerate(writes):
        if not isinstance(write, dict):
            raise BenchError(f"{where}: writes[{i}] is {write!r}, expected an object")
        table = require(write, "table", str, f"{where}: writes[{i}]")
        if not require(write, "skipped", bool, f"{where}: writes[{i}]"):
            changed.add(table)
    return sorted(changed)


def stage_seconds(summary: dict[str, Any]) -> dict[str, float]:
    """Seconds per stage for the details, from `stages` (or the older `stage_seconds`); {} if neither."""
    stages = summary.get("stages")
    if isinstance(stages, dict):
        return {k: v["seconds"] for k, v in stages.items() if isinstance(v, dict) and "seconds" in v}
    legacy = summary.get("stage_seconds")
    return dict(legacy) if isinstance(legacy, dict) else {}


def jvm_verdict(reported: list[bool], children: list[list[str]] | None) -> tuple[bool, str]:
    """Was a JVM started in any of the runs: by the summaries' `jvm_started`, or by a Spark child process.

    `children`: per run, the Java command lines seen among its descendants (None: not checked).
    Returns (started, note).
    """
    said = any(reported)
    if children is None:
        return said, "child-process check skipped"
    seen = any(SPARK_MARK in cmd for cmds in children for cmd in cmds)
    if seen != said:
        return True, f"summary says jvm_started={said}, child processes say {seen}"
    return said, ""


# ------------------------------------------------------------------------------------------- ratio math
def ratio(num: float, den: float) -> float:
    if den <= 0:
        raise BenchError(f"cannot divide by {den:.3f} s")
    return num / den


def share_above_floor(run: float, full: float, floor: float) -> float:
    """(run - floor) / (full - floor): the part of a full rebuild's own work that a run repeats."""
    if full <= floor:
        raise BenchError(f"the full rebuild ({full:.1f} s) is not slower than the floor ({floor:.1f} s)")
    return (run - floor) / (full - floor)


@dataclass
class Row:
    """One line of the table and one entry of the JSON line."""

    measure: int
    key: str
    title: str
    unit: str  # x | s | share | bool | commits
    limit: float | bool | None
    value: float | bool | None = None
    detail: dict[str, Any] = field(default_factory=dict)
    note: str = ""  # why there is no value (error, skipped)

    @property
    def met(self) -> bool | None:
        if self.value is None or self.limit is None:
            return None
        if self.unit == "bool":
            return self.value == self.limit
        return float(self.value) <= float(self.limit)

    def shown(self, value: float | bool | None) -> str:
        if value is None:
            return "-"
        if self.unit == "bool":
            return "yes" if value else "no"
        if self.unit == "x":
            return f"{value:.2f}x"
        if self.unit == "s":
            return f"{value:.1f} s"
        if self.unit == "share":
            return f"{100 * value:.1f}%"
        return f"{value:g}"

    def goal(self) -> str:
        if self.limit is None:
            return "-"
        return ("" if self.unit == "bool" else "<= ") + self.shown(self.limit)

    def to_json(self) -> dict[str, Any]:
        value = round(self.value, 4) if isinstance(self.value, float) else self.value
        out: dict[str, Any] = {"measure": self.measure, "value": value, "limit": self.limit}
        out |= {"unit": self.unit, "met": self.met, **self.detail}
        if self.note:
            out["note"] = self.note
        return out


def table(rows: list[Row]) -> str:
    head = ("#", "measure", "value", "goal", "met")
    body = [
        (
            str(r.measure),
            r.title,
            r.shown(r.value),
            r.goal(),
            {True: "yes", False: "NO", None: "-"}[r.met] + (f"  ({r.note})" if r.note else ""),
        )
        for r in rows
    ]
    widths = [max(len(line[i]) for line in [head, *body]) for i in range(4)]
    fmt = "  ".join(f"{{:{'>' if i == 2 else '<'}{w}}}" for i, w in enumerate(widths)) + "  {}"
    return "\n".join(fmt.format(*line) for line in [head, *body])


def parse_only(text: str | None) -> list[int]:
    """'1,noop,4' -> [1, 2, 4]; None -> every measure."""
    if not text:
        return sorted(MEASURES)
    by_name = {name: n for n, name in MEASURES.items()}
    chosen = set()
    for item in (part.strip().lower() for part in text.split(",")):
        if item.isdigit() and int(item) in MEASURES:
            chosen.add(int(item))
        elif item in by_name:
            chosen.add(by_name[item])
        elif item:
            known = ", ".join(f"{n}/{name}" for n, name in MEASURES.items())
            raise SystemExit(f"bench: unknown measure {item!r} in --only (known: {known})")
    return sorted(chosen)


# --------------------------------------------------------------------------------------- child processes
def child_env() -> dict[str, str]:
    """This environment without LAKEFORGE_* (the config files say everything)."""
    return {k: v for k, v in os.environ.items() if not k.startswith("LAKEFORGE_")}


def _proc_descendants(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry.name}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _proc_cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


def jvm_check_method() -> str | None:
    if find_spec("psutil") is not None:
        return "psutil"
    if Path("/proc/self/stat").is_file():
        return "/proc"
    return None


class ChildWatcher(threading.Thread):
    """Polls the descendants of a process (every 0.1 s) and remembers the Java ones it sees."""

    def __init__(self, pid: int, method: str) -> None:
        super().__init__(daemon=True)
        self.pid, self.method = pid, method
        self.java: set[str] = set()
        self._stop_event = threading.Event()

    def _cmdlines(self) -> list[str]:
        if self.method == "psutil":
            import psutil

            out = []
            try:
                children = psutil.Process(self.pid).children(recursive=True)
            except psutil.Error:
                return []
            for child in children:
                try:
                    out.append(" ".join(child.cmdline()))
                except psutil.Error:
                    continue
            return out
        return [_proc_cmdline(pid) for pid in _proc_descendants(self.pid)]

    def run(self) -> None:
        while True:
            for cmd in self._cmdlines():
                if SPARK_MARK in cmd or Path(cmd.split(" ", 1)[0]).name == "java":
                    self.java.add(cmd[:160])
            if self._stop_event.wait(0.1):
                return

    def stop(self) -> None:
        self._stop_event.set()
        self.join()

    @property
    def spark_seen(self) -> bool:
        return any(SPARK_MARK in cmd for cmd in self.java)


@dataclass
class Proc:
    label: str
    wall: float
    stdout: str
    log: Path
    summary: dict[str, Any] = field(default_factory=dict)
    java: list[str] | None = None  # Java command lines seen among the children; None: not watched
    delivered: list[str] = field(default_factory=list)  # the landing files this run got
    log_commits: dict[str, int] = field(default_factory=dict)  # new commit files per table, from disk


def log(message: str) -> None:
    print(f"[{datetime.now().strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def write_config(path: Path, landing: Path, lakehouse: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        f"paths:\n  landing: {json.dumps(str(landing))}\n  lakehouse: {json.dumps(str(lakehouse))}\n"
        "spark:\n  master: local[*]\n  shuffle_partitions: 4\n  driver_memory: 6g\n"
        "environments:\n  local: {}\n"
    )
    return path


def deliver(generated: Path, landing: Path, index: slice) -> list[str]:
    """Hard-link (or copy) the files `index` (by name, per source) of a generated zone into `landing`."""
    delivered = []
    for source_dir in sorted(p for p in generated.iterdir() if p.is_dir()):
        target = landing / source_dir.name
        target.mkdir(parents=True, exist_ok=True)
        for path in sorted(source_dir.glob("*.csv"))[index]:
            try:
                os.link(path, target / path.name)
            except OSError:
                shutil.copy2(path, target / path.name)
            delivered.append(f"{source_dir.name}/{path.name}")
    return delivered


def delta_versions(lakehouse: Path) -> dict[str, int]:
    """Commit files (`_delta_log/<20 digits>.json`) per table folder under `lakehouse`, read from disk."""
    out: dict[str, int] = {}
    for folder, dirs, files in os.walk(lakehouse):
        if Path(folder).name == "_delta_log":
            table = str(Path(folder).parent.relative_to(lakehouse))
            out[table] = sum(1 for f in files if len(f) == 25 and f.endswith(".json") and f[:20].isdigit())
            dirs.clear()
    return out


def commits_between(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    """New commits per table folder (tables created in between count all theirs)."""
    return {t: n - before.get(t, 0) for t, n in sorted(after.items()) if n > before.get(t, 0)}


def generator_digest() -> str | None:
    spec = find_spec("lakeforge.sample.generator")
    if spec is None or spec.origin is None:
        return None
    return hashlib.sha256(Path(spec.origin).read_bytes()).hexdigest()[:16]


# ------------------------------------------------------------------------------------------------ bench
class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.out: Path = args.out.absolute()
        self.scale: float = args.scale
        self.repeat: int = args.repeat
        self.env = child_env()
        self.logs = self.out / "logs"
        shutil.rmtree(self.logs, ignore_errors=True)
        self.logs.mkdir(parents=True)
        self.jvm_method = jvm_check_method()
        self._memo: dict[Any, Any] = {}

    def memo(self, key: Any, compute: Callable[[], Any]) -> Any:
        """compute() once per key; a failure is remembered too, not retried by a later measure."""
        if key not in self._memo:
            try:
                self._memo[key] = compute()
            except Exception as exc:  # noqa: BLE001 - kept and raised again to every measure that needs it
                self._memo[key] = exc
        found = self._memo[key]
        if isinstance(found, Exception):
            raise found
        return found

    # --- processes
    def process(self, label: str, cmd: list[str], watch: bool = False) -> Proc:
        stem = self.logs / label
        with open(f"{stem}.out", "w") as out, open(f"{stem}.err", "w") as err:
            started = time.monotonic()
            child = subprocess.Popen(cmd, stdout=out, stderr=err, env=self.env, cwd=self.out)
            watcher = ChildWatcher(child.pid, self.jvm_method) if watch and self.jvm_method else None
            if watcher:
                watcher.start()
            code = child.wait()
            wall = time.monotonic() - started
            if watcher:
                watcher.stop()
        stdout = Path(f"{stem}.out").read_text()
        if code != 0:
            lines = Path(f"{stem}.err").read_text().strip().splitlines() or ["(nothing on stderr)"]
            raise BenchError(f"{label} exited {code}: {lines[-1][:300]} (log: {stem}.err)")
        log(f"{label}: {wall:.1f} s")
        return Proc(label, wall, stdout, stem, java=sorted(watcher.java) if watcher else None)

    def run(
        self, cfg: Path, label: str, watch: bool = False, remote: str | None = None, command: str = "full"
    ) -> Proc:
        """`lakeforge run --cmd full --json` with this config (through `remote`, a Connect server, if given)."""
        cmd = [str(CLI), "run", "--config", str(cfg), "--env", "local", "--cmd", command, "--json"]
        if remote:
            cmd += ["--remote", remote]
        proc = self.process(label, cmd, watch)
        proc.summary = parse_summary(proc.stdout, label)
        return proc

    def floor(self, cfg: Path, label: str) -> float:
        target = self.out / "floor-table"
        shutil.rmtree(target, ignore_errors=True)
        cmd = [sys.executable, str(HERE / "floor.py"), "--config", str(cfg), "--table", str(target)]
        return self.process(label, cmd).wall

    def floors(self, cfg: Path, label: str) -> list[float]:
        return [self.floor(cfg, f"{label}-{i + 1}") for i in range(self.repeat)]

    # --- data
    def generated(self, scale: float, seed: int, files: int) -> Path:
        """A generated landing zone, reused while the arguments and the generator's source are the same."""

        def make() -> Path:
            where = self.out / "data" / f"scale{scale:g}-seed{seed}-files{files}"
            marker = where / "generated.json"
            wanted = {"scale": scale, "seed": seed, "files": files, "generator": generator_digest()}
            if marker.is_file() and json.loads(marker.read_text()).get("args") == wanted:
                log(f"reusing {where}")
                return where
            shutil.rmtree(where, ignore_errors=True)
            cmd = [str(CLI), "generate", "--scale", f"{scale:g}", "--seed", str(seed), "--files", str(files)]
            proc = self.process(f"generate-{where.name}", [*cmd, "--out", str(where / "landing")])
            marker.write_text(json.dumps({"args": wanted, "report": parse_summary(proc.stdout, "generate")}))
            return where

        return self.memo(("data", scale, seed, files), make) / "landing"

    # --- shared steps
    def sample(self) -> Path:
        landing = self.generated(*SAMPLE)
        return write_config(self.out / "sample" / "config.yaml", landing, self.out / "sample" / "lake")

    def rebuild(self, scale: float) -> Proc:
        """`--cmd full` over all FILES files of `scale` into an empty lakehouse."""

        def make() -> Proc:
            landing = self.generated(scale, SEED, FILES)
            lake = self.out / f"scale{scale:g}" / "full-lake"
            shutil.rmtree(lake, ignore_errors=True)
            cfg = write_config(lake.parent / "full.yaml", landing, lake)
            return self.run(cfg, f"scale{scale:g}-full-rebuild")

        return self.memo(("rebuild", scale), make)

    def delivery(self, scale: float, files: int) -> tuple[Path, Proc]:
        """A lakehouse loaded with files 1..n-1 (untimed) gets file n of each source: (config, that run)."""

        def make() -> tuple[Path, Proc]:
            generated = self.generated(scale, SEED, files)
            base = self.out / f"scale{scale:g}"
            landing, lake = base / "delivery-landing", base / "delivery-lake"
            for path in (landing, lake):
                shutil.rmtree(path, ignore_errors=True)
            cfg = write_config(base / "delivery.yaml", landing, lake)
            deliver(generated, landing, slice(0, files - 1))
            self.run(cfg, f"scale{scale:g}-setup-{files - 1}-files")
            last = deliver(generated, landing, slice(files - 1, files))
            before = delta_versions(lake)
            proc = self.run(cfg, f"scale{scale:g}-delivery-file-{files}")
            proc.delivered = last
            proc.log_commits = commits_between(before, delta_versions(lake))
            return cfg, proc

        return self.memo(("delivery", scale, files), make)

    # --- the measures
    def m1_sample(self) -> list[Row]:
        row = Row(1, "sample_full_over_floor", "sample: full run into an empty lakehouse / floor", "x", 2.0)
        cfg = self.sample()
        lake = self.out / "sample" / "lake"
        floors, fulls = [], []
        for i in range(self.repeat):  # interleaved, so drift in the machine's load hits both sides
            floors.append(self.floor(cfg, f"sample-floor-{i + 1}"))
            shutil.rmtree(lake, ignore_errors=True)
            fulls.append(self.run(cfg, f"sample-full-{i + 1}").wall)
        self._memo["sample-loaded"] = True
        row.value = ratio(statistics.median(fulls), statistics.median(floors))
        row.detail = {"full_s": _rounded(fulls), "floor_s": _rounded(floors)}
        return [row]

    def m2_noop(self) -> list[Row]:
        wall = Row(2, "noop_rerun_s", "sample rerun, nothing new: wall", "s", 3.0)
        jvm = Row(2, "noop_rerun_jvm", "sample rerun, nothing new: JVM started", "bool", False)
        cfg = self.sample()
        if not self._memo.get("sample-loaded"):
            shutil.rmtree(self.out / "sample" / "lake", ignore_errors=True)
            self.run(cfg, "sample-setup")
            self._memo["sample-loaded"] = True
        runs = [self.run(cfg, f"sample-noop-{i + 1}", watch=True) for i in range(self.repeat)]
        walls = [p.wall for p in runs]
        wall.value = statistics.median(walls)
        wall.detail = {"wall_s": _rounded(walls)}
        children = None if self.jvm_method is None else [p.java or [] for p in runs]
        jvm.detail = {"child_check": self.jvm_method or "skipped: neither psutil nor /proc here"}
        jvm.detail |= {"child_java": children}
        try:
            reported = [require(p.summary, "jvm_started", bool, p.label) for p in runs]
        except BenchError as exc:  # the wall time stands without it
            jvm.note = str(exc)
            return [wall, jvm]
        jvm.value, jvm.note = jvm_verdict(reported, children)
        jvm.detail |= {"jvm_started": reported}
        return [wall, jvm]

    def m3_rebuild(self) -> list[Row]:
        row = Row(3, "rebuild_over_naive", f"scale {self.scale:g}: full rebuild / naive PySpark", "x", 1.3)
        landing = self.generated(self.scale, SEED, FILES)
        lake = self.out / f"scale{self.scale:g}" / "naive-lake"
        shutil.rmtree(lake, ignore_errors=True)
        cfg = write_config(lake.parent / "naive.yaml", landing, lake)
        naive = self.process(
            f"scale{self.scale:g}-naive", [sys.executable, str(HERE / "naive.py"), "--config", str(cfg)]
        )
        full = self.rebuild(self.scale)
        row.value = ratio(full.wall, naive.wall)
        try:
            naive_stages = parse_summary(naive.stdout, naive.label).get("seconds", {})
        except BenchError:  # only details
            naive_stages = {}
        row.detail = {"full_s": round(full.wall, 1), "naive_s": round(naive.wall, 1)}
        row.detail |= {"full_stages": stage_seconds(full.summary), "naive_stages": naive_stages}
        return [row]

    def m4_delivery(self) -> list[Row]:
        title = "1% delivery: (run - floor) / (full rebuild - floor)"
        row = Row(4, "delivery_1pct_share", title, "share", 0.20)
        cfg, run = self.delivery(self.scale, FILES)
        floors = self.floors(cfg, f"scale{self.scale:g}-floor")
        full = self.rebuild(self.scale)
        floor = statistics.median(floors)
        row.value = share_above_floor(run.wall, full.wall, floor)
        row.detail = {"run_s": round(run.wall, 1), "full_s": round(full.wall, 1), "floor_s": _rounded(floors)}
        row.detail |= {"stages": stage_seconds(run.summary), "delivered": run.delivered}
        return [row]

    def m5_big(self, enabled: bool) -> list[Row]:
        big = BIG * self.scale
        title = f"delivery into scale {big:g} / into scale {self.scale:g}"
        row = Row(5, "delivery_big_over_small", title, "x", 1.3)
        if not enabled:
            row.note = "skipped: --no-big"
            return [row]
        _, small = self.delivery(self.scale, FILES)
        _, large = self.delivery(big, BIG * FILES)
        row.value = ratio(large.wall, small.wall)
        row.detail = {"big_s": round(large.wall, 1), "small_s": round(small.wall, 1)}
        row.detail |= {
            "big_stages": stage_seconds(large.summary),
            "small_stages": stage_seconds(small.summary),
        }
        return [row]

    def m6_commits(self) -> list[Row]:
        row = Row(
            6,
            "delivery_commits",
            "Delta commits of the 1% delivery (goal: tables changed + 1)",
            "commits",
            None,
        )
        _, run = self.delivery(self.scale, FILES)
        commits = require(run.summary, "delta_commits", int, run.label)
        changed = tables_changed(run.summary, run.label)
        row.value, row.limit = commits, len(changed) + 1
        row.detail = {"tables_changed": changed, "spark_jobs": run.summary.get("spark_jobs")}
        # cross-check from disk: the commit files the run added to the lakehouse's Delta logs
        on_disk = sum(run.log_commits.values())
        row.detail |= {"log_commits": run.log_commits}
        if on_disk != commits:
            row.note = f"the Delta logs gained {on_disk} commits, the summary says {commits}"
        return [row]

    # --- DRIVER: a warm Spark Connect server
    def server(self) -> str:
        """Start `lakeforge server` once (state under --out, a free loopback port); stopped by close()."""

        def make() -> str:
            with socket.socket() as probe:
                probe.bind(("127.0.0.1", 0))
                port = probe.getsockname()[1]
            self.env["LAKEFORGE_STATE_DIR"] = str(self.out / "server-state")
            cfg = self.sample()
            cmd = [str(CLI), "server", "start", "--config", str(cfg), "--port", str(port), "--json"]
            proc = self.process("server-start", cmd)
            self._memo["server-started"] = True
            url = json.loads(proc.stdout.strip().splitlines()[-1])["url"]
            warm = self.out / "sample" / "warmup-lake"
            shutil.rmtree(warm, ignore_errors=True)
            warm_cfg = write_config(self.out / "sample" / "warmup.yaml", self.generated(*SAMPLE), warm)
            self.run(warm_cfg, "server-warmup", remote=url)
            return url

        return self.memo("server", make)

    def close(self) -> None:
        if self._memo.get("server-started"):
            subprocess.run([str(CLI), "server", "stop"], env=self.env, cwd=self.out, check=False)

    def m7_remote(self) -> list[Row]:
        row = Row(7, "remote_full_over_local", "sample: full through a warm server / embedded", "x", 0.4)
        url = self.server()
        cfg = self.sample()
        lake = self.out / "sample" / "lake"
        remote, local = [], []
        for i in range(self.repeat):  # interleaved, like measure 1
            shutil.rmtree(lake, ignore_errors=True)
            local.append(self.run(cfg, f"sample-local-{i + 1}"))
            shutil.rmtree(lake, ignore_errors=True)
            remote.append(self.run(cfg, f"sample-remote-{i + 1}", remote=url))
        self._memo["sample-loaded"] = True
        row.value = ratio(statistics.median(p.wall for p in remote), statistics.median(p.wall for p in local))
        row.detail = {
            "remote_s": _rounded([p.wall for p in remote]),
            "local_s": _rounded([p.wall for p in local]),
        }
        row.detail |= {
            "remote_stages": stage_seconds(remote[-1].summary),
            "local_stages": stage_seconds(local[-1].summary),
        }
        return [row]

    def m8_remote_noop(self) -> list[Row]:
        row = Row(8, "remote_ingest_noop_s", "sample: --cmd ingest through the server, nothing new", "s", 2.0)
        url = self.server()
        cfg = self.sample()
        if not self._memo.get("sample-loaded"):
            shutil.rmtree(self.out / "sample" / "lake", ignore_errors=True)
            self.run(cfg, "sample-setup", remote=url)
            self._memo["sample-loaded"] = True
        runs = [
            self.run(cfg, f"sample-remote-ingest-{i + 1}", remote=url, command="ingest")
            for i in range(self.repeat)
        ]
        row.value = statistics.median(p.wall for p in runs)
        row.detail = {
            "wall_s": _rounded([p.wall for p in runs]),
            "jvm_started": [p.summary.get("jvm_started") for p in runs],
        }
        return [row]

    def m9_dag(self) -> list[Row]:
        row = Row(
            9, "dag_over_local_full", "Airflow DAG through the server / one embedded --cmd full", "x", 1.2
        )
        if not (REPO / ".airflow" / "venv" / "bin" / "airflow").is_file():
            row.note = "skipped: no Airflow virtualenv (make airflow-venv)"
            return [row]
        landing = self.generated(0.01, 7, 10)  # what e2e.sh generates
        lake = self.out / "dag-local-lake"
        shutil.rmtree(lake, ignore_errors=True)
        local = self.run(write_config(self.out / "dag-local.yaml", landing, lake), "dag-local-full")
        env = {**self.env, "LAKEFORGE_E2E_REMOTE": "1", "LAKEFORGE_E2E_RUNS": "1", "PROJECT_DIR": str(REPO)}
        env.pop("LAKEFORGE_STATE_DIR", None)
        stem = self.logs / "dag-e2e"
        with open(f"{stem}.out", "w") as out, open(f"{stem}.err", "w") as err:
            code = subprocess.run(
                ["bash", str(REPO / "scripts" / "airflow" / "e2e.sh")],
                stdout=out,
                stderr=err,
                env=env,
                cwd=REPO,
            ).returncode
        text = Path(f"{stem}.err").read_text()
        if code != 0:
            raise BenchError(f"e2e.sh exited {code} (log: {stem}.err)")
        found = re.search(r"dags test exited 0 after ([0-9.]+) s", text)
        if not found:
            raise BenchError(f"no 'dags test exited 0 after N s' in {stem}.err")
        dag_s = float(found.group(1))
        # the run's own span in Airflow's database, without the `dags test` process around it
        span = re.search(r"dag run took ([0-9.]+) s", text)
        run_s = float(span.group(1)) if span else None
        log(f"dag (dags test, through the server): {dag_s:.1f} s, the DAG run itself {run_s} s")
        row.value = ratio(dag_s, local.wall)
        row.detail = {
            "dag_s": dag_s,
            "dag_run_s": run_s,
            "dag_run_over_local": ratio(run_s, local.wall) if run_s else None,
            "local_full_s": round(local.wall, 1),
            "note": "the value: dags test wall (its process included), server started before",
        }
        return [row]


def _rounded(values: list[float]) -> list[float]:
    return [round(v, 2) for v in values]


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(["git", "-C", str(REPO), *args], capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return None
    return out.stdout.strip()


def _version(package: str) -> str | None:
    try:
        return version(package)
    except PackageNotFoundError:
        return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, default=Path("/tmp/lakeforge-bench"), help="work directory")
    parser.add_argument(
        "--scale", type=float, default=1.0, help="measures 3-5 (1 = 1M orders, 100k customers)"
    )
    parser.add_argument(
        "--big", action=argparse.BooleanOptionalAction, default=True, help="measure 5 (scale x4)"
    )
    parser.add_argument("--only", help="measures to take, by number or name, e.g. 1,2 or sample,noop")
    parser.add_argument("--repeat", type=int, default=3, help="runs of measures 1, 2 and the floor (median)")
    parser.add_argument("--results", type=Path, default=RESULTS, help="the JSON lines file to append to")
    args = parser.parse_args(argv)
    if args.repeat < 1 or args.scale <= 0:
        parser.error("--repeat must be >= 1 and --scale > 0")
    chosen = parse_only(args.only)
    if not CLI.is_file():
        parser.error(f"no lakeforge CLI at {CLI}: run with the project's virtualenv (make bench)")

    started_at = datetime.now(UTC)
    load_before = os.getloadavg()
    bench = Bench(args)
    measures: dict[int, Callable[[], list[Row]]] = {
        1: bench.m1_sample,
        2: bench.m2_noop,
        3: bench.m3_rebuild,
        4: bench.m4_delivery,
        5: lambda: bench.m5_big(args.big),
        6: bench.m6_commits,
        7: bench.m7_remote,
        8: bench.m8_remote_noop,
        9: bench.m9_dag,
    }
    rows: list[Row] = []
    try:
        for number in chosen:
            log(f"measure {number} ({MEASURES[number]})")
            try:
                rows.extend(measures[number]())
            except Exception as exc:  # noqa: BLE001 - one failed measure must not lose the others
                log(f"measure {number} failed: {exc}")
                rows.append(
                    Row(number, f"{MEASURES[number]}_error", MEASURES[number], "x", None, note=str(exc))
                )
    finally:
        bench.close()

    record = {
        "ts": started_at.isoformat(timespec="seconds"),
        "minutes": round((datetime.now(UTC) - started_at).total_seconds() / 60, 1),
        "commit": _git("rev-parse", "--short", "HEAD"),
        "dirty": bool(_git("status", "--porcelain", "--", "src")),
        "host": socket.gethostname(),
        "cpus": os.cpu_count(),
        "load_1min": [round(load_before[0], 2), round(os.getloadavg()[0], 2)],  # at start, at end
        "versions": {p: _version(p) for p in ("lakeforge", "pyspark", "delta-spark")},
        "args": {"scale": args.scale, "big": args.big, "only": chosen, "repeat": args.repeat},
        "results": {r.key: r.to_json() for r in rows},
        "met": sum(r.met is True for r in rows),
        "missed": sum(r.met is False for r in rows),
    }
    line = json.dumps(record, sort_keys=False)
    print(table(rows))
    print(line, flush=True)
    args.results.parent.mkdir(parents=True, exist_ok=True)
    with args.results.open("a") as handle:
        handle.write(line + "\n")
    log(f"appended to {args.results}; logs in {bench.logs}")
    return 1 if any(r.value is None and not r.note.startswith("skipped") for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
