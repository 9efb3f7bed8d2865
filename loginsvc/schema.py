"""The whole database schema: every domain's tables on one `Base.metadata`.

Alembic (migrations/env.py) and the tests import `Base` from here, so a table
declared in a domain's own `models.py` is known to both. A domain that adds a
`models.py` adds one import line below.
"""

from __future__ import annotations

from loginsvc.admin import models as _admin_models  # noqa: F401
from loginsvc.auth import models as _auth_models  # noqa: F401  (passkeys, identities)
from loginsvc.core.models import Base
from loginsvc.events import models as _events  # noqa: F401

__all__ = ["Base"]
