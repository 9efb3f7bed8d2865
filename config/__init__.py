"""Settings for loginsvc: every environment variable is read here and nowhere else."""

from .default import Settings, load_settings

__all__ = ["Settings", "load_settings"]
