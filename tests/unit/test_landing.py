"""lakeforge.sources.landing: the bronze batch is the same whether the driver or the workers parse it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lakeforge.sources.landing import candidates, fingerprint, read_bronze_batch

FILES = {
    "orders_1.csv": 'order_id,status,total_amount\nO1,placed,"1,5"\nO2,shipped\n\nO3,"multi\nline",3\n',
    "orders_2.csv": "\ufefftotal_amount,order_id\r\n7.00,O4\r\n",
    "orders_3.csv": "order_id,status,total_amount\n",
}
COLUMNS = ["order_id", "status", "total_amount"]


def _files(tmp_path: Path) -> list[Any]:
    (tmp_path / "orders").mkdir()
    for name, text in FILES.items():
        (tmp_path / "orders" / name).write_text(text, encoding="utf-8")
    return [fingerprint(c) for c in candidates(tmp_path, "orders").files]


def test_driver_and_worker_parsing_give_the_same_rows_and_counts(spark: Any, tmp_path: Path) -> None:
    files = _files(tmp_path)
    in_driver, counts = read_bronze_batch(spark, files, COLUMNS, driver_max_bytes=1 << 20)
    in_workers, none = read_bronze_batch(spark, files, COLUMNS, driver_max_bytes=0)
    assert none is None
    assert counts == {"orders/orders_1.csv": 3, "orders/orders_2.csv": 1, "orders/orders_3.csv": 0}
    driver_rows = sorted((tuple(r) for r in in_driver.collect()), key=lambda r: (r[-2], r[-1]))
    assert driver_rows == sorted((tuple(r) for r in in_workers.collect()), key=lambda r: (r[-2], r[-1]))
    assert driver_rows == [
        ("O1", "placed", "1,5", None, False, "orders/orders_1.csv", 1),
        (None, None, None, "O2,shipped", True, "orders/orders_1.csv", 2),
        ("O3", "multi\nline", "3", None, False, "orders/orders_1.csv", 3),
        ("O4", None, "7.00", None, False, "orders/orders_2.csv", 1),
    ]
    assert in_driver.schema == in_workers.schema
