"""Landing-zone reading (RFC 4180, record by record) and the exactly-once file ledger."""
