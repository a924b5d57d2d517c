"""Daily medallion run: ingest -> transform -> load, one `lakeforge run` process per stage.

Each stage gates its own batches before it publishes them (quality suites on the increment); the
whole-table suites run weekly in ``lakeforge_maintenance``.

Each task calls the pipeline's CLI (see ``lakeforge_common``) with the DAG run's id and logical
date. Each waits for the pipeline lock while maintenance holds it (``--wait-seconds``). Exit codes 2,
3 and 4 (config error, quality gate, contract violation) fail the task at once; 1 and 5 (error, lock
still held) are retried with exponential backoff.
Settings come from Airflow Variables or env vars: ``lakeforge_cli`` / ``LAKEFORGE_CLI``, ...
"""

from __future__ import annotations

from datetime import UTC, datetime

from airflow.sdk import dag, task
from lakeforge_common import run_stage, stage_task_args


@dag(
    dag_id="lakeforge_medallion",
    schedule="@daily",
    start_date=datetime(2024, 1, 1, tzinfo=UTC),
    catchup=False,
    max_active_runs=1,
    tags=["lakeforge"],
    doc_md=__doc__,
)
def lakeforge_medallion() -> None:
    @task(**stage_task_args(minutes=60))
    def ingest(**context) -> None:
        """Landing files -> bronze tables."""
        run_stage("ingest", context)

    @task(**stage_task_args(minutes=90))
    def transform(**context) -> None:
        """Bronze -> silver and quarantine (rules, dedupe, merge), gated on the batch."""
        run_stage("transform", context)

    @task(**stage_task_args(minutes=60))
    def load(**context) -> None:
        """Silver -> gold: only the dates and customers that changed, gated on the batch."""
        run_stage("load", context)

    ingest() >> transform() >> load()


lakeforge_medallion()
