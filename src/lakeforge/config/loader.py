"""Load a YAML config: pick the `--env` overlay, interpolate `${VAR}`, apply env overrides, validate.

    settings = load_settings(Path("config/local.yaml"), env="local")

The file holds base settings plus an optional `environments:` mapping; `environments.<env>` is merged
over the base (mappings deep-merged, everything else replaced). Then `${VAR}` and `${VAR:-default}` are
replaced from the environment, and `LAKEFORGE_LANDING`, `LAKEFORGE_LAKEHOUSE` and
`LAKEFORGE_SPARK_MASTER` and `LAKEFORGE_SPARK_REMOTE` override their keys (SPEC §1). Relative paths are taken from the directory the
command runs in.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from lakeforge.config.models import Settings
from lakeforge.errors import ConfigError

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")

ENV_OVERRIDES = {
    "LAKEFORGE_LANDING": ("paths", "landing"),
    "LAKEFORGE_LAKEHOUSE": ("paths", "lakehouse"),
    "LAKEFORGE_SPARK_MASTER": ("spark", "master"),
    "LAKEFORGE_SPARK_REMOTE": ("spark", "remote"),
}


def _deep_merge(base: dict[str, Any], overlay: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in overlay.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _interpolate(value: Any, where: str, source: Path, environ: Mapping[str, str]) -> Any:
    if isinstance(value, dict):
        return {
            k: _interpolate(v, f"{where}.{k}" if where else str(k), source, environ) for k, v in value.items()
        }
    if isinstance(value, list):
        return [_interpolate(v, f"{where}[{i}]", source, environ) for i, v in enumerate(value)]
    if not isinstance(value, str):
        return value

    def replace(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        found = environ.get(name)
        if found not in (None, ""):
            return found
        if default is not None:
            return default
        raise ConfigError(
            f"{source}: key '{where}' uses ${{{name}}} but the environment variable {name} is not set",
            hint=f"export {name}=... or write ${{{name}:-default}}",
        )

    return _VAR.sub(replace, value)


def _format_validation(error: ValidationError, source: Path) -> str:
    parts = []
    for item in error.errors():
        key = ".".join(str(p) for p in item["loc"])
        if item["type"] == "extra_forbidden":
            parts.append(f"unknown key '{key}'")
        elif item["type"] == "missing":
            parts.append(f"missing key '{key}'")
        else:
            parts.append(f"key '{key}': {item['msg']} (got {item.get('input')!r})")
    return f"{source}: " + "; ".join(parts)


def load_settings(path: Path, env: str = "local", environ: Mapping[str, str] | None = None) -> Settings:
    """Read, overlay, interpolate and validate one config file; raise ConfigError naming file and key."""
    environ = os.environ if environ is None else environ
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist", hint="pass --config config/local.yaml")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {' '.join(str(exc).split())}") from exc
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: the top level must be a mapping, found {type(raw).__name__}")

    environments = raw.pop("environments", None) or {}
    if not isinstance(environments, dict):
        raise ConfigError(f"{path}: key 'environments' must be a mapping of environment name to overlay")
    if environments and env not in environments:
        raise ConfigError(
            f"{path}: unknown environment '{env}'", hint=f"choose one of {sorted(environments)}"
        )
    overlay = environments.get(env) or {}
    if not isinstance(overlay, dict):
        raise ConfigError(f"{path}: key 'environments.{env}' must be a mapping")
    merged = _deep_merge(raw, overlay)
    merged["env"] = env
    merged = _interpolate(merged, "", path, environ)

    for var, (section, key) in ENV_OVERRIDES.items():
        if environ.get(var):
            merged.setdefault(section, {})
            if not isinstance(merged[section], dict):
                raise ConfigError(f"{path}: key '{section}' must be a mapping")
            merged[section][key] = environ[var]

    try:
        settings = Settings.model_validate(merged)
    except ValidationError as exc:
        raise ConfigError(_format_validation(exc, path)) from exc
    return settings  # paths.landing and paths.lakehouse are locations (lakeforge.storage): absolute or URIs
