"""Pure DataFrame -> DataFrame transforms of the medallion layers (no I/O, no actions, no clock)."""
