"""The owner console (/admin): its blueprint with every page attached."""

from loginsvc.admin.console import (  # noqa: F401  (attach the routes)
    customer_email,
    customers,
    events,
    manage,
    signin,
)
from loginsvc.admin.console.base import bp

__all__ = ["bp"]
