"""The `lakeforge` command line: parse options, call the pipeline, print a summary, exit with SPEC §5 codes.

lakeforge run --config config/local.yaml --env local --cmd full
lakeforge status --config config/local.yaml            # no Spark: runs, tables, waiting files, lock
lakeforge history silver.orders --config config/local.yaml
lakeforge report --config config/local.yaml --out report.html   # no Spark: one HTML page of the last run
lakeforge generate --scale 0.01 --seed 7 --out data/landing
lakeforge init shop                                    # a new project: config, contracts, flows, DAGs
lakeforge --version
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
import traceback
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from lakeforge.errors import ConfigError, LakeforgeError
from lakeforge.logs import configure as configure_logging
from lakeforge.pipeline.context import RunContext

if TYPE_CHECKING:
    from lakeforge.config.models import Settings
    from lakeforge.ops.progress import RunEnd

log = logging.getLogger("lakeforge")


def _console(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def _fail(message: str) -> None:
    sys.stderr.write(message + "\n")
    sys.stderr.flush()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lakeforge", description="A medallion lakehouse pipeline on Spark + Delta"
    )
    parser.add_argument("--debug", action="store_true", help="print full tracebacks")
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run the pipeline or one of its stages")
    run.add_argument("--config", type=Path, required=True, help="YAML config, e.g. config/local.yaml")
    run.add_argument("--env", default="local", help="the environment overlay of the config")
    run.add_argument(
        "--cmd", required=True, choices=["full", "ingest", "transform", "validate", "load", "maintenance"]
    )
    run.add_argument("--run-id", help="the run's id (default: derived from the clock)")
    run.add_argument("--logical-date", type=date.fromisoformat, help="the orchestrator's logical date")
    run.add_argument("--as-of", help="the run's clock as YYYY-MM-DDTHH:MM:SSZ (default: now)")
    run.add_argument(
        "--wait",
        action="store_true",
        help="wait for the pipeline lock (lock.wait_timeout_seconds) instead of exiting 5",
    )
    run.add_argument(
        "--wait-seconds",
        type=float,
        metavar="N",
        help="wait up to N seconds for the pipeline lock, then exit 5 (implies --wait)",
    )
    run.add_argument("--json", action="store_true", help="print the summary as JSON")
    run.add_argument(
        "--verify-landing",
        action="store_true",
        help="re-hash files already in the ledger (default: size and mtime)",
    )
    run.add_argument("--debug", action="store_true", help="print full tracebacks")
    run.add_argument(
        "--remote",
        metavar="sc://HOST:PORT",
        help="run through a Spark Connect server (`lakeforge server start`) instead of an embedded Spark; "
        "default: LAKEFORGE_SPARK_REMOTE, else embedded",
    )

    plan = sub.add_parser("plan", help="show what a run would do, from metadata alone (no Spark)")
    plan.add_argument("--config", type=Path, required=True, help="YAML config, e.g. config/local.yaml")
    plan.add_argument("--env", default="local", help="the environment overlay of the config")
    plan.add_argument(
        "--cmd", default="full", choices=["full", "ingest", "transform", "validate", "load", "maintenance"]
    )
    plan.add_argument("--json", action="store_true", help="print the plan as JSON")
    plan.add_argument("--verify-landing", action="store_true", help="re-hash files already in the ledger")
    plan.add_argument("--debug", action="store_true", help="print full tracebacks")

    st = sub.add_parser(
        "status", help="last runs, tables, waiting files and the lock, from metadata (no Spark)"
    )
    st.add_argument("--config", type=Path, required=True, help="YAML config, e.g. config/local.yaml")
    st.add_argument("--env", default="local", help="the environment overlay of the config")
    st.add_argument("--runs", type=int, default=5, help="how many recent runs to show")
    st.add_argument("--json", action="store_true", help="print the status as JSON")
    st.add_argument("--debug", action="store_true", help="print full tracebacks")

    hist = sub.add_parser("history", help="the runs, or one table's commits with their metrics (no Spark)")
    hist.add_argument(
        "table", nargs="?", help="a table of the flow graph, e.g. silver.orders (default: runs)"
    )
    hist.add_argument("--config", type=Path, required=True, help="YAML config, e.g. config/local.yaml")
    hist.add_argument("--env", default="local", help="the environment overlay of the config")
    hist.add_argument("--limit", type=int, default=20, help="how many runs or commits, newest first")
    hist.add_argument("--json", action="store_true", help="print the history as JSON")
    hist.add_argument("--debug", action="store_true", help="print full tracebacks")

    rep = sub.add_parser("report", help="a run's report as one self-contained HTML page (no Spark)")
    rep.add_argument("--config", type=Path, required=True, help="YAML config, e.g. config/local.yaml")
    rep.add_argument("--env", default="local", help="the environment overlay of the config")
    rep.add_argument("--run", metavar="ID", help="the run to show (default: the newest)")
    rep.add_argument("--runs", type=int, default=20, help="how many runs the trends cover, up to this one")
    rep.add_argument("--out", type=Path, required=True, help="the HTML file to write, e.g. report.html")
    rep.add_argument("--debug", action="store_true", help="print full tracebacks")

    server = sub.add_parser("server", help="a warm Spark Connect server that `run --remote` shares")
    server.add_argument("action", choices=["start", "stop", "status", "run"], help="run: in the foreground")
    server.add_argument("--config", type=Path, help="YAML config whose spark: section the server runs with")
    server.add_argument("--env", default="local", help="the environment overlay of the config")
    server.add_argument("--host", default="127.0.0.1", help="interface to bind (default loopback)")
    server.add_argument("--port", type=int, default=15002)
    server.add_argument(
        "--token",
        choices=["auto", "on", "off"],
        default="auto",
        help="require a token (auto: on loopback; PySpark sends tokens only to localhost or over TLS)",
    )
    server.add_argument(
        "--no-warm-up",
        dest="warm_up",
        action="store_false",
        help="start: return once it listens, without the small sample run that warms its JVM first",
    )
    server.add_argument("--json", action="store_true", help="print the server's state as JSON")
    server.add_argument("--debug", action="store_true", help="print full tracebacks")

    gen = sub.add_parser("generate", help="write a sample landing zone (SPEC §7)")
    gen.add_argument("--scale", type=float, default=0.01, help="1 = 100,000 customers and 1,000,000 orders")
    gen.add_argument("--seed", type=int, default=42)
    gen.add_argument("--out", type=Path, required=True)
    gen.add_argument("--dirt-rate", type=float, default=0.01)
    gen.add_argument("--files", type=int, default=10, help="daily files per source")
    gen.add_argument("--debug", action="store_true", help="print full tracebacks")
    jars = sub.add_parser("fetch-jars", help="download the Delta jars into the local cache (once)")
    jars.add_argument("--debug", action="store_true", help="print full tracebacks")
    assets = sub.add_parser(
        "fetch-assets",
        help="download the data docs' CSS/JS from the npm registry into the local cache (once)",
    )
    assets.add_argument("--debug", action="store_true", help="print full tracebacks")

    suites = sub.add_parser("suites", help="regenerate the Great Expectations suites from the contracts")
    from lakeforge.quality.suites_cli import add_arguments as suites_arguments

    suites_arguments(suites)
    suites.add_argument("--debug", action="store_true", help="print full tracebacks")

    init = sub.add_parser("init", help="create a new project: config, contracts, flows, DAGs, sample data")
    init.add_argument("directory", type=Path, help="the project folder (created; must be empty)")
    init.add_argument("--force", action="store_true", help="write into a folder that is not empty")
    init.add_argument("--no-sample", action="store_true", help="write no sample landing zone")
    init.add_argument("--debug", action="store_true", help="print full tracebacks")
    return parser


def _fetch_jars(args: argparse.Namespace) -> int:
    from lakeforge.classdata import ensure_archive
    from lakeforge.config.models import SparkSettings
    from lakeforge.spark import delta_coordinate, fetch_jars

    settings = SparkSettings()
    jars = fetch_jars(settings)
    _console(f"{delta_coordinate()}: {len(jars)} jars cached in {jars[0].parent}")
    archive = ensure_archive(settings)
    if archive is not None:
        _console(f"JVM class-data archive: {archive}")
    return 0


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("lakeforge")
    except PackageNotFoundError:  # imported from a source tree that was never installed
        return "unknown"


def _suites(args: argparse.Namespace) -> int:
    from lakeforge.quality.suites_cli import run as suites_run

    return suites_run(args)


def _init(args: argparse.Namespace) -> int:
    from lakeforge.project import init_project

    report = init_project(args.directory, force=args.force, sample=not args.no_sample)
    lines = [f"created a lakeforge project in {report.directory} ({len(report.files)} files)"]
    if report.sample:
        counts = " and ".join(f"{n} {source}" for source, n in report.sample.items())
        lines.append(f"sample landing zone in data/landing: {counts} records")
    lines += [
        "next:",
        f"  cd {args.directory}",
        "  lakeforge run --config config/local.yaml --env local --cmd full",
    ]
    _console("\n".join(lines))
    return 0


def _clock(text: str | None) -> datetime:
    if text is None:
        from lakeforge.pipeline.runner import now_utc

        return now_utc()
    try:
        return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except ValueError:
        raise ConfigError(f"--as-of {text!r} is not YYYY-MM-DDTHH:MM:SSZ") from None


def _print_run(args: argparse.Namespace, settings: Settings, ctx: RunContext, end: RunEnd) -> None:
    """The run's summary on stdout, success or failure: JSON with --json, else rich tables (lakeforge.console)."""
    if args.json:
        failed = {} if end.error is None else {"exit_code": end.exit_code, "error": end.message}
        summary = {
            "run_id": ctx.run_id,
            "command": ctx.command,
            "status": end.status,
            "duration_s": round(end.duration_s, 3),
            "delta_commits": end.delta_commits,
            "spark_jobs": sum(s.spark_jobs for s in end.report.stages.values()),
            "rows": end.rows,
            **failed,
            **end.report.to_dict(),
        }
        _console(json.dumps(summary, default=str))
        return
    from rich.console import Console

    from lakeforge.console import print_summary

    terminal = sys.stdout.isatty()
    out = Console(file=sys.stdout, width=None if terminal else 160, highlight=False)
    print_summary(out, end, ctx.run_id, ctx.command, settings.paths.lakehouse)
    sys.stdout.flush()


def _run(args: argparse.Namespace) -> int:
    from lakeforge.config import load_settings
    from lakeforge.pipeline.runner import run_command

    settings = load_settings(args.config, env=args.env)
    if args.remote:
        settings = settings.model_copy(
            update={"spark": settings.spark.model_copy(update={"remote": args.remote})}
        )
    configure_logging(settings.logging.json_format, settings.logging.level)
    ctx = RunContext.create(
        command=args.cmd,
        env=args.env,
        clock=_clock(args.as_of),
        run_id=args.run_id,
        logical_date=args.logical_date,
    )
    if args.wait_seconds is not None:
        if args.wait_seconds < 0:
            raise ConfigError(f"--wait-seconds must be 0 or more, not {args.wait_seconds:g}")
        settings = settings.model_copy(
            update={"lock": settings.lock.model_copy(update={"wait_timeout_seconds": args.wait_seconds})}
        )
    wait = args.wait or args.wait_seconds is not None
    from lakeforge.console import LiveView, RunEnded

    ended = RunEnded()  # the summary is printed on failure too: the runner tells how the run ended
    live = None
    if sys.stderr.isatty() and not settings.logging.json_format:
        from rich.console import Console

        live = LiveView(Console(file=sys.stderr))
    try:
        run_command(
            settings, ctx, wait=wait, verify_landing=args.verify_landing,
            observers=[ended] if live is None else [ended, live],
        )  # fmt: skip
    finally:
        if live is not None:
            live.close()
        end = ended.end  # None: the run never started (the lock is held)
        if end is not None and not isinstance(end.error, ConfigError):  # a config error: its one line only
            _print_run(args, settings, ctx, end)
    return 0


def _plan(args: argparse.Namespace) -> int:
    from lakeforge.config import load_settings
    from lakeforge.contracts.registry import Catalog
    from lakeforge.flows import load_graph
    from lakeforge.pipeline.planner import LakehouseState
    from lakeforge.pipeline.runner import make_plan
    from lakeforge.results import RunReport

    settings = load_settings(args.config, env=args.env)
    logging.getLogger().setLevel(settings.logging.level.upper())
    ctx = RunContext.create(command=args.cmd, env=args.env, clock=_clock(None))
    graph = load_graph(settings)
    state = LakehouseState.load(Catalog(settings.paths.lakehouse, graph.registry), graph)
    report = RunReport()
    plan = make_plan(settings, ctx, graph, state, report, args.verify_landing)
    if args.json:
        steps = [
            {"stage": s.stage, "kind": s.kind, "table": s.target, "reason": s.reason,
             "files": [f.rel_path for f in s.files], "inputs": {k: list(v) for k, v in s.inputs.items()}}
            for s in plan.steps
        ]  # fmt: skip
        _console(json.dumps({"command": args.cmd, "has_work": plan.has_work, "steps": steps,
                             "warnings": report.warnings}))  # fmt: skip
        return 0
    lines = [f"lakeforge plan ({args.cmd}) for {settings.paths.lakehouse}", "", "flows:"]
    lines += [f"  {line}" for line in graph.describe()]
    lines.append("")
    if not plan.has_work:
        lines.append("nothing to do: every table is up to date with its inputs (a run starts no Spark)")
    else:
        lines.append("steps:")
        lines += [f"  {s.describe()}" for s in plan.steps]
    lines += [f"warning: {w}" for w in report.warnings]
    _console("\n".join(lines))
    return 0


def _status(args: argparse.Namespace) -> int:
    from lakeforge.config import load_settings
    from lakeforge.flows import load_graph
    from lakeforge.pipeline.status import format_status, status

    settings = load_settings(args.config, env=args.env)
    found = status(settings, load_graph(settings), runs=args.runs)
    _console(json.dumps(found.to_dict(), default=str) if args.json else format_status(found))
    return 0


def _history(args: argparse.Namespace) -> int:
    from lakeforge.config import load_settings
    from lakeforge.flows import load_graph
    from lakeforge.pipeline.status import format_commits, format_runs, run_history, table_history

    settings = load_settings(args.config, env=args.env)
    if args.table is None:
        runs = run_history(settings, args.limit)
        _console(json.dumps(runs, default=str) if args.json else "\n".join(format_runs(runs)))
        return 0
    commits = table_history(settings, load_graph(settings), args.table, args.limit)
    _console(json.dumps(commits, default=str) if args.json else format_commits(args.table, commits))
    return 0


def _server(args: argparse.Namespace) -> int:
    from lakeforge import server
    from lakeforge.config.models import SparkSettings

    spark = SparkSettings()
    if args.config is not None:
        from lakeforge.config import load_settings

        spark = load_settings(args.config, env=args.env).spark
    host, port = server.parse_host_port(args.host, args.port)
    token = {"auto": None, "on": True, "off": False}[args.token]
    if args.action == "run":
        server.run(spark, host, port, token)
        return 0  # not reached: the process became the server
    if args.action == "start":
        info = server.start(spark, host, port, token=token)
        if args.warm_up:
            from lakeforge.pipeline.warmup import warm_up

            done = warm_up(str(info["url"]), server.default_state().folder / "warm-up")
            info["warm_up_s"] = round(done.seconds, 1)
            if not done.ok:
                log.warning("the server runs, but its warm-up run failed (%s); it starts cold", done.detail)
        if args.json:
            _console(json.dumps(info))
        else:
            _console(
                f"Spark Connect server listening on {info['url']} (pid {info['pid']}, "
                f"after {info['listening_after_s']}s"
                + (f", warmed up in {info['warm_up_s']}s" if "warm_up_s" in info else "")
                + f"); log: {info['log']}\n"
                f"run through it: lakeforge run --remote {info['url']} ... "
                f"(or export LAKEFORGE_SPARK_REMOTE={info['url']})"
            )
        return 0
    if args.action == "stop":
        stopped = server.stop()
        _console(json.dumps({"stopped": stopped}) if args.json else (
            f"stopped the Spark Connect server (pid {stopped['pid']})" if stopped else "no Spark Connect server runs"
        ))  # fmt: skip
        return 0
    found = server.status()
    if args.json:
        _console(json.dumps(found))
    elif not found["running"]:
        _console("no Spark Connect server runs")
    else:
        _console(
            f"Spark Connect server {found['url']}: pid {found['pid']} since {found['started_at']}, "
            f"{'listening' if found['listening'] else 'NOT listening'}; log: {found['log']}"
        )
    return 0 if found["running"] else 3


def _report(args: argparse.Namespace) -> int:
    from lakeforge.config import load_settings
    from lakeforge.flows import load_graph
    from lakeforge.ops.report import report_data, write_report

    if args.runs < 1:
        raise ConfigError(f"--runs must be 1 or more, not {args.runs}")
    settings = load_settings(args.config, env=args.env)
    data = report_data(settings, load_graph(settings), run_id=args.run, trend_runs=args.runs)
    out = write_report(data, args.out)
    _console(f"run {data['run']['run_id']} ({data['run']['status']}): {out}")
    return 0


def _fetch_assets(args: argparse.Namespace) -> int:
    from lakeforge.quality.docs_assets import PACKAGES, fetch_assets

    cache = fetch_assets()
    _console(f"data docs assets: {len(PACKAGES)} npm packages cached in {cache}")
    return 0


def _generate(args: argparse.Namespace) -> int:
    from lakeforge.sample.generator import generate

    started = time.monotonic()
    try:
        report = generate(
            args.out, scale=args.scale, seed=args.seed, dirt_rate=args.dirt_rate, files_per_source=args.files
        )
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc
    _console(
        json.dumps(
            {"out": str(args.out), "seconds": round(time.monotonic() - started, 2), **report.to_dict()}
        )
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    os.environ["TZ"] = "UTC"
    time.tzset()
    configure_logging(json_format=False, level="INFO")
    for noisy in ("py4j", "great_expectations", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    args = _parser().parse_args(argv)
    try:
        handler = {
            "run": _run,
            "plan": _plan,
            "status": _status,
            "history": _history,
            "server": _server,
            "generate": _generate,
            "fetch-jars": _fetch_jars,
            "fetch-assets": _fetch_assets,
            "report": _report,
            "suites": _suites,
            "init": _init,
        }
        return handler[args.command](args)
    except LakeforgeError as exc:
        if args.debug:
            traceback.print_exc()
        _fail(f"lakeforge: {exc.one_line()}")
        return exc.exit_code
    except KeyboardInterrupt:
        _fail("lakeforge: interrupted")
        return 130
    except Exception as exc:  # noqa: BLE001 - the CLI's last line of defence: one clear line, exit 1
        if args.debug:
            traceback.print_exc()
        first = " ".join(str(exc).split())[:500]
        _fail(f"lakeforge: unexpected {type(exc).__name__}: {first} -- rerun with --debug for the traceback")
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
