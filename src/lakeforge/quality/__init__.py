"""Row rules (Column expressions), the quarantine split, and the dataset-level gates."""
