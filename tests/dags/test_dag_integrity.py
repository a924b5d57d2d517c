"""The DAG files parse, stay light, and have the shape, schedules and safety settings we promise."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest

MEDALLION = "lakeforge_medallion"
MAINTENANCE = "lakeforge_maintenance"


def test_dagbag_imports_without_errors(dagbag):
    assert dagbag.import_errors == {}
    assert set(dagbag.dag_ids) == {MEDALLION, MAINTENANCE}


def test_medallion_is_a_chain_of_the_three_stages(dagbag):
    dag = dagbag.dags[MEDALLION]
    edges = {(task.task_id, down) for task in dag.tasks for down in task.downstream_task_ids}

    assert set(dag.task_ids) == {"ingest", "transform", "load"}
    assert edges == {("ingest", "transform"), ("transform", "load")}
    assert [task.task_id for task in dag.topological_sort()] == ["ingest", "transform", "load"]


def test_maintenance_validates_then_maintains(dagbag):
    assert sorted(dagbag.dags[MAINTENANCE].task_ids) == ["maintenance", "validate"]


@pytest.mark.parametrize("dag_id", [MEDALLION, MAINTENANCE])
def test_no_cycles(dagbag, dag_id):
    dagbag.dags[dag_id].check_cycle()  # raises on a cycle


@pytest.mark.parametrize(("dag_id", "schedule"), [(MEDALLION, "@daily"), (MAINTENANCE, "@weekly")])
def test_schedule_without_catchup(dagbag, dag_id, schedule):
    dag = dagbag.dags[dag_id]

    assert dag.schedule == schedule
    assert dag.catchup is False
    assert dag.max_active_runs == 1


@pytest.mark.parametrize("dag_id", [MEDALLION, MAINTENANCE])
def test_every_task_has_timeout_and_backoff_retries(dagbag, dag_id):
    for task in dagbag.dags[dag_id].tasks:
        assert task.execution_timeout is not None and task.execution_timeout <= timedelta(hours=3), task
        assert task.retries >= 2, task
        assert task.retry_exponential_backoff >= 2, task
        assert task.max_retry_delay is not None, task


def test_dag_files_import_nothing_heavy(dags_dir):
    """Parsing must stay cheap: no Spark, pandas or the pipeline package at DAG top level."""
    code = (
        "import runpy, sys\n"
        "for name in ('lakeforge_medallion.py', 'lakeforge_maintenance.py'):\n"
        f"    runpy.run_path({str(dags_dir)!r} + '/' + name)\n"
        "heavy = sorted(m for m in ('pyspark', 'pandas', 'numpy', 'lakeforge', 'deltalake') if m in sys.modules)\n"
        "print('HEAVY=' + ','.join(heavy))\n"
    )
    # the DAG folder on the import path, as Airflow puts it there for DAG files
    env = {**os.environ, "PYTHONPATH": str(dags_dir)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)

    assert [line for line in out.stdout.splitlines() if line.startswith("HEAVY=")] == ["HEAVY="]


@pytest.mark.parametrize(("task_id", "cmd"), [("ingest", "ingest"), ("load", "load")])
def test_medallion_task_calls_cli_with_run_id_and_logical_date(
    dagbag, fake_cli, tell_fake, tmp_path, monkeypatch, task_id, cmd
):
    args_file = tmp_path / "args"
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "local.yaml").write_text("{}\n")
    monkeypatch.setenv("LAKEFORGE_CLI", str(fake_cli))
    monkeypatch.setenv("LAKEFORGE_PROJECT_DIR", str(tmp_path))
    tell_fake(ARGS_FILE=str(args_file))
    task = dagbag.dags[MEDALLION].get_task(task_id)
    context = {
        "run_id": "scheduled__2024-03-04T00:00:00+00:00",
        "logical_date": datetime(2024, 3, 4, tzinfo=UTC),
    }

    task.python_callable(**context)

    assert args_file.read_text().split() == [
        "run", "--config", str((tmp_path / "config" / "local.yaml").resolve()), "--env", "local", "--cmd", cmd,
        "--run-id", "scheduled__2024-03-04T00:00:00+00:00", "--logical-date", "2024-03-04",
        "--wait-seconds", "1800",
    ]  # fmt: skip


def test_maintenance_task_waits_for_the_lock(dagbag, fake_cli, tell_fake, tmp_path, monkeypatch):
    args_file = tmp_path / "args"
    monkeypatch.setenv("LAKEFORGE_CLI", str(fake_cli))
    tell_fake(ARGS_FILE=str(args_file))
    task = dagbag.dags[MAINTENANCE].get_task("maintenance")

    task.python_callable(run_id="manual__x", logical_date=datetime(2024, 3, 3, tzinfo=UTC))

    args = args_file.read_text().split()
    assert args[args.index("--cmd") + 1] == "maintenance"
    assert args[-2:] == ["--wait-seconds", "1800"]


def test_each_dag_outlasts_the_other_holding_the_lock(dagbag):
    """HARDEN: a task that finds the lock held waits (each attempt, then retries) longer than any task of
    the other DAG can hold it (its work bound: the timeout minus its own lock wait)."""
    import lakeforge_common as common

    def work(task):
        return task.execution_timeout - common.LOCK_WAIT

    def window(task):
        return common.lock_window(
            {
                "retries": task.retries,
                "retry_delay": task.retry_delay,
                "retry_exponential_backoff": task.retry_exponential_backoff,
                "max_retry_delay": task.max_retry_delay,
            }
        )

    medallion, maintenance = dagbag.dags[MEDALLION].tasks, dagbag.dags[MAINTENANCE].tasks
    for waiting, holding in ((medallion, maintenance), (maintenance, medallion)):
        longest = max(work(t) for t in holding)
        for task in waiting:
            assert window(task) > longest, (task.task_id, window(task), longest)
