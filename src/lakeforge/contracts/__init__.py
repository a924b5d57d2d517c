"""Table contracts (one YAML per table), the registry that builds Spark schemas, and drift detection."""
