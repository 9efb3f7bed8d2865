"""The owner console (/admin): its blueprint with every page attached."""

from loginsvc.admin.console import customers, manage, signin  # noqa: F401  (attach the routes)
from loginsvc.admin.console.base import bp

__all__ = ["bp"]
