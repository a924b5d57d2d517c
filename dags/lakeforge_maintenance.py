"""Weekly: the whole-table quality suites (`--cmd validate`), then maintenance (optimize, vacuum).

Like every stage, each task waits for the pipeline lock (``--wait-seconds``, ``LOCK_WAIT``) instead
of exiting 5 while a medallion stage holds it, and its retries outlast the longest medallion stage.
"""

from __future__ import annotations

from datetime import UTC, datetime

from airflow.sdk import dag, task
from lakeforge_common import run_stage, stage_task_args


@dag(
    dag_id="lakeforge_maintenance",
    schedule="@weekly",
    start_date=datetime(2024, 1, 1, tzinfo=UTC),
    catchup=False,
    max_active_runs=1,
    tags=["lakeforge"],
    doc_md=__doc__,
)
def lakeforge_maintenance() -> None:
    @task(**stage_task_args(minutes=60))
    def validate(**context) -> None:
        """Every published table against its whole-table suite; exit 3 fails without retry."""
        run_stage("validate", context)

    @task(**stage_task_args(minutes=120))
    def maintenance(**context) -> None:
        """Compact and vacuum the Delta tables."""
        run_stage("maintenance", context)

    validate() >> maintenance()


lakeforge_maintenance()
