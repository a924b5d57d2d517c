"""Typed settings, env overlays and `${VAR}` interpolation."""

from lakeforge.config.loader import load_settings
from lakeforge.config.models import DriftPolicy, Settings

__all__ = ["DriftPolicy", "Settings", "load_settings"]
