"""Property-based API fuzzing with schemathesis against the app's own /openapi.json.

Every operation — JSON API and HTML pages — gets a bounded number of generated
requests that fit the document (positive) and that do not (negative), with a
fixed seed so a failure replays. Checks: no 5xx; every status and content
type is documented; every JSON body matches its schema; data the document
forbids is not accepted. Session and admin operations get real credentials,
so the fuzzing reaches past authentication.

Schema-valid requests must be accepted (positive_data_acceptance) except
where a rule is semantic and stays 422/400 by design (SEMANTIC below: a
token not made by this service, a domain that takes no mail, …); an opaque
cursor is left out of positive cases for the same reason.
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    positive_data_acceptance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.helpers import ORIGIN, sign_in

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance]
MAX_EXAMPLES = 10  # per operation and mode: about 60 s on 2 cores
SEED = 20261201
SKIP = r"^/(static/|docs/assets/|widget\.js$|branding\.css$)"  # files, tested on their own
# Where a schema-valid request may still be refused, and why (the document says
# so in words; JSON Schema cannot): these get every check but positive acceptance.
SEMANTIC = {
    "/api/v1/auth/verify": "a token must be signed by this service",
    "/login/verify": "a token must be signed by this service",
    "/sso/wordpress/ticket": "a ticket must be issued by this service",
    "/login": "the form's fields are not described (HTML form)",
    "/api/v1/admin/customers/import": "CSV content is checked row by row",
    "/api/v1/admin/groups/{group_id}/members": "ids are strict integers (JSON Schema takes 1.0)",
    "/api/v1/admin/checkout-eligibility": "special-use domains (.test) take no mail",
    "/api/v1/me": "a phone number's characters",
    "/api/v1/admin/customers/{customer_id}": "address values are checked as text lines",
    "/api/v1/webhooks/orders": "a shop's own fields may not hold NUL",
    "/api/v1/me/wishlist/{product_id}": "a product id is 1..128 visible characters",
    "/api/v1/auth/verify-code": "a code must come from a mail of this service",
    "/api/v1/auth/approve": "a token must be signed by this service",
    "/api/v1/auth/attempts/{attempt}/complete":
        "JSON only even without a body (a CORS preflight); the attempt must exist",
    "/login/approve": "a token must be signed by this service",
    "/login/with-code": "the form's fields are not described (HTML form)",
    "/api/v1/auth/passkey/verify": "an assertion must be signed by a registered passkey",
    "/api/v1/me/passkeys": "a credential must answer this service's own challenge",
    "/api/v1/me/email": "the new address must take mail and differ from the current one",
    "/account/email/confirm": "a token must be signed by this service",
    "/api/v1/newsletter": "special-use domains (.test) take no mail",
    "/api/v1/newsletter/unsubscribe": "a token must be signed by this service",
    "/newsletter/confirm": "a token must be signed by this service",
    "/newsletter/unsubscribe": "a token must be signed by this service",
    "/admin/login/verify": "a token must be signed by this service",
    "/admin/login/code": "a code must come from an owner's sign-in mail",
}


@pytest.fixture(params=["postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    """PostgreSQL only (the production database): both would double the ~60 s run."""
    return str(request.param)


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
    if path in ("/api/v1/auth/logout-all", "/api/v1/auth/logout", "/logout") or (
            case.method.upper() in ("DELETE", "POST") and path in ("/api/v1/me", "/account/delete",
                                                                 "/account/devices/sign-out-all")):
        return {}  # these would end the fuzzing session itself: fuzzed signed out
    if path.startswith("/api/v1/admin/"):
        return {"Authorization": f"Bearer {creds['admin']}"}
    if path.startswith(("/api/v1/me", "/account")):
        return {"Authorization": f"Bearer {creds['session']}", **ORIGIN}
    return dict(ORIGIN)


def _checks(case: Any, mode: GenerationMode) -> list[Any]:
    if mode is GenerationMode.NEGATIVE:
        return [*CHECKS, negative_data_rejection]
    if case.operation.path in SEMANTIC:
        return CHECKS
    if case.query and "cursor" in case.query:
        del case.query["cursor"]  # opaque: only a next_cursor of this API is one
    return [*CHECKS, positive_data_acceptance]


def test_api_conforms_to_its_openapi_document(fuzz_target: Any) -> None:
    app, creds = fuzz_target
    schema = schemathesis.openapi.from_wsgi("/openapi.json", app)
    schema = schema.exclude(path_regex=SKIP)
    failures: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @seed(SEED)
            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(max_examples=MAX_EXAMPLES, deadline=None, database=None,
                      suppress_health_check=list(HealthCheck),
                      phases=[Phase.explicit, Phase.generate])
            def fuzz(case: Any) -> None:
                case.call_and_validate(headers=_credentials(case, creds),
                                       checks=_checks(case, case.meta.generation.mode))

            try:
                fuzz()
            except Unsatisfiable:
                continue  # nothing to negate: no parameters and no body
            except (KeyboardInterrupt, SystemExit):
                raise
            except BaseException as exc:  # noqa: BLE001  one report per operation, not just the first
                failures.append(f"{mode.value} {operation.method.upper()} {operation.path}: "
                                f"{exc}"[:1500])
    assert operations >= 50
    assert failures == [], "\n\n".join(failures)
