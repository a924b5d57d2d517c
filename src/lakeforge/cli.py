"""The `lakeforge` command line: parse options, call the pipeline, print a summary, exit with SPEC §5 codes.

lakeforge run --config config/local.yaml --env local --cmd full
lakeforge status --config config/local.yaml            # no Spark: runs, tables, waiting files, lock
lakeforge history silver.orders --config config/local.yaml
lakeforge generate --scale 0.01 --seed 7 --out data/landing
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
    from lakeforge.pipeline.runner import Outcome

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

    gen = sub.add_parser("generate", help="write a sample landing zone (SPEC §7)")
    gen.add_argument("--scale", type=float, default=0.01, help="1 = 100,000 customers and 1,000,000 orders")
    gen.add_argument("--seed", type=int, default=42)
    gen.add_argument("--out", type=Path, required=True)
    gen.add_argument("--dirt-rate", type=float, default=0.01)
    gen.add_argument("--files", type=int, default=10, help="daily files per source")
    gen.add_argument("--debug", action="store_true", help="print full tracebacks")
    jars = sub.add_parser("fetch-jars", help="download the Delta jars into the local cache (once)")
    jars.add_argument("--debug", action="store_true", help="print full tracebacks")

    suites = sub.add_parser("suites", help="regenerate the Great Expectations suites from the contracts")
    suites.add_argument("--check", action="store_true", help="only show the diff; exit 1 if suites are stale")
    suites.add_argument("--debug", action="store_true", help="print full tracebacks")
    return parser


def _fetch_jars(args: argparse.Namespace) -> int:
    from lakeforge.config.models import SparkSettings
    from lakeforge.spark import delta_coordinate, fetch_jars

    jars = fetch_jars(SparkSettings())
    _console(f"{delta_coordinate()}: {len(jars)} jars cached in {jars[0].parent}")
    return 0


def _suites(args: argparse.Namespace) -> int:
    from lakeforge.quality.suites_cli import main as suites_main

    return suites_main(["--check"] if args.check else [])


def _clock(text: str | None) -> datetime:
    if text is None:
        from lakeforge.pipeline.runner import now_utc

        return now_utc()
    try:
        return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except ValueError:
        raise ConfigError(f"--as-of {text!r} is not YYYY-MM-DDTHH:MM:SSZ") from None


def _summary(outcome: Outcome, settings: Settings, ctx: RunContext) -> str:
    lines = [f"lakeforge run {ctx.run_id} ({ctx.command}): {outcome.status} in {outcome.duration_s:.1f}s"]
    lines.append(f"lakehouse: {settings.paths.lakehouse}")
    if not outcome.report.jvm_started:
        lines.append("nothing to do: no Spark session was started")
    lines.append("")
    lines.append(f"{'stage':<12}{'seconds':>9}{'jobs':>7}{'commits':>9}")
    for name, s in outcome.report.stages.items():
        lines.append(f"{name:<12}{s.seconds:>9.2f}{s.spark_jobs:>7}{s.delta_commits:>9}")
    lines.append(
        f"{'total':<12}{outcome.duration_s:>9.2f}{sum(s.spark_jobs for s in outcome.report.stages.values()):>7}"
        f"{outcome.delta_commits:>9}"
    )
    lines.append("")
    lines.append(f"{'table':<24}{'rows':>12}{'version':>9}")
    for table, value in outcome.rows.items():
        rows, version = ("-", "-") if value is None else value
        lines.append(f"{table:<24}{rows:>12}{version:>9}")
    if outcome.report.reconciliation:
        lines.append("")
        lines.append(
            f"{'source':<10}{'stage':<10}{'read':>9}{'bronze':>9}{'valid':>9}{'quar.':>7}"
            f"{'ins.':>9}{'upd.':>7}{'super.':>8}  balanced"
        )
        for r in outcome.report.reconciliation:

            def f(v: int | None) -> str:
                return "-" if v is None else str(v)

            lines.append(
                f"{r.source:<10}{r.stage:<10}{f(r.records_read):>9}{f(r.bronze_added):>9}{f(r.valid):>9}"
                f"{f(r.quarantined):>7}{f(r.inserted):>9}{f(r.updated):>7}{f(r.superseded):>8}  {r.balanced}"
            )
    if outcome.report.skipped_files:
        lines.append(f"\nskipped {len(outcome.report.skipped_files)} file(s) already ingested")
    for w in outcome.report.warnings:
        lines.append(f"warning: {w}")
    if outcome.report.data_docs:
        lines.append(f"\ndata docs: {outcome.report.data_docs}")
    return "\n".join(lines)


def _run(args: argparse.Namespace) -> int:
    from lakeforge.config import load_settings
    from lakeforge.pipeline.runner import run_command

    settings = load_settings(args.config, env=args.env)
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
    outcome = run_command(settings, ctx, wait=wait, verify_landing=args.verify_landing)
    if args.json:
        _console(
            json.dumps(
                {
                    "run_id": ctx.run_id,
                    "command": ctx.command,
                    "status": outcome.status,
                    "duration_s": round(outcome.duration_s, 3),
                    "delta_commits": outcome.delta_commits,
                    "spark_jobs": sum(s.spark_jobs for s in outcome.report.stages.values()),
                    "rows": outcome.rows,
                    **outcome.report.to_dict(),
                },
                default=str,
            )
        )
    else:
        _console(_summary(outcome, settings, ctx))
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
            "generate": _generate,
            "fetch-jars": _fetch_jars,
            "suites": _suites,
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
