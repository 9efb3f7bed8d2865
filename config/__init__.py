"""Settings for loginsvc: every environment variable is read here and nowhere else."""

from .default import OidcProvider, Settings, load_settings

__all__ = ["OidcProvider", "Settings", "load_settings"]
