"""Property-based API fuzzing with schemathesis against the app's own /openapi.json.

Every JSON operation gets a bounded number of generated requests (valid and
invalid bodies, queries and path parameters). Checks: no 5xx, every status
and content type is documented, and every response body matches its schema.
Session and admin operations get real credentials, so the fuzzing reaches
past authentication.
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.helpers import ORIGIN, sign_in

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance]
MAX_EXAMPLES = 25  # per operation and database: well under a minute each


@pytest.fixture
def fuzz_target(make_app: Any, smtp_sink: Any) -> Any:
    app = make_app(ip_limit=1_000_000, email_limit=1_000_000)
    client = app.test_client()
    session = sign_in(client, smtp_sink, "fuzz@example.com")["session_token"]
    with app.app_context():
        from loginsvc.admin.api_keys import create_api_key

        admin_key = create_api_key(name="fuzz", scope="admin")
    return app, {"session": session, "admin": admin_key}


def _credentials(case: Any, creds: dict[str, str]) -> dict[str, str]:
    path = case.operation.path
    if path in ("/api/v1/auth/logout-all", "/api/v1/auth/logout") or (
            case.method.upper() == "DELETE" and path == "/api/v1/me"):
        return {}  # these would end the fuzzing session itself: fuzzed signed out
    if path.startswith("/api/v1/admin/"):
        return {"Authorization": f"Bearer {creds['admin']}"}
    if path.startswith("/api/v1/me"):
        return {"Authorization": f"Bearer {creds['session']}", **ORIGIN}
    return {}


def test_api_conforms_to_its_openapi_document(fuzz_target: Any) -> None:
    app, creds = fuzz_target
    schema = schemathesis.openapi.from_wsgi("/openapi.json", app)
    # JSON operations only; HTML pages and static files are covered by their own tests.
    schema = schema.include(path_regex=r"^/(api/|healthz$|readyz$|openapi\.json$)")
    failures: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1

        @given(case=operation.as_strategy())
        @settings(max_examples=MAX_EXAMPLES, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck), phases=[Phase.explicit,
                                                                   Phase.generate])
        def fuzz(case: Any) -> None:
            case.call_and_validate(headers=_credentials(case, creds), checks=CHECKS)

        try:
            fuzz()
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as exc:  # noqa: BLE001  one report per operation, not just the first
            failures.append(f"{operation.method.upper()} {operation.path}: {exc}"[:1500])
    assert operations >= 5
    assert failures == [], "\n\n".join(failures)
