"""One exception tree for lakeforge, each error carrying the CLI exit code of SPEC §5.

Messages say what was expected, what was found and where, so the CLI can print one clear line::

    raise ContractViolation("orders/orders_20260301.csv changed since it was ingested", hint="...")
"""

from __future__ import annotations


class LakeforgeError(Exception):
    """Base of every error lakeforge raises on purpose. `exit_code` is what the CLI returns."""

    exit_code = 1
    retryable = True

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def one_line(self) -> str:
        """The single line the CLI prints: what failed, where, and what to do."""
        text = f"{type(self).__name__}: {self.message}"
        if self.hint:
            text += f" -- {self.hint}"
        return " ".join(text.split("\n"))


class ConfigError(LakeforgeError):
    """A configuration file or option is wrong (exit 2)."""

    exit_code = 2
    retryable = False


class JavaNotFoundError(ConfigError):
    """No usable Java 17+ runtime (exit 2: the machine's configuration is wrong)."""


class ContractViolation(LakeforgeError):
    """Input breaks the data contract: a changed file, a refused header, a bad encoding (exit 4)."""

    exit_code = 4
    retryable = False


class SchemaDriftError(ContractViolation):
    """A schema differs from its registered contract in a way the layer's policy refuses (exit 4)."""


class QualityGateFailed(LakeforgeError):
    """A dataset-level quality gate failed; nothing of the layer was published (exit 3)."""

    exit_code = 3
    retryable = False


class PipelineLocked(LakeforgeError):
    """Another run holds the lakehouse lock (exit 5)."""

    exit_code = 5
    retryable = True


class WriteReconciliationError(LakeforgeError):
    """A Delta commit changed a different number of rows than the writer computed beforehand (exit 1)."""
