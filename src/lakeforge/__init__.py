"""lakeforge: a medallion (bronze -> silver -> gold) lakehouse pipeline on PySpark and Delta Lake.

Every input row is accounted for, reruns are exactly-once, and bad rows are quarantined with a reason.
"""

__version__ = "0.1.0"
