"""Request validation and the OpenAPI document, from one declaration per endpoint.

Past 300 lines on purpose: validation and the document are generated from the
same declarations, and keeping them together is what keeps them agreeing.

We use pydantic v2 models as the schema language and keep the glue here (about
150 lines) instead of a framework such as APIFlask or flask-smorest: it lets
every failure leave through our one problem+json path with stable codes, keeps
views plain Flask, and needs no CDN for the docs page.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flask import Blueprint, request
from pydantic import BaseModel, ValidationError

from loginsvc.core.errors import InvalidRequest, ProblemError

ERROR_DESCRIPTIONS: dict[str, tuple[int, str]] = {}


def error_code(code: str, status: int, description: str) -> str:
    """Declare a stable error code (collected into the OpenAPI document)."""
    ERROR_DESCRIPTIONS[code] = (status, description)
    return code


@dataclass
class EndpointSpec:
    rule: str
    method: str
    summary: str
    tags: list[str]
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    response: type[BaseModel] | None = None
    status: int = 200
    errors: list[str] = field(default_factory=list)
    auth: str | None = None  # "session" | "admin" | "signature" | None
    content_types: list[str] = field(default_factory=lambda: ["application/json"])
    response_media: str | list[str] = "application/json"
    also_status: tuple[int, ...] = ()  # other success statuses with the same body
    body_required: bool = True


REGISTRY: list[EndpointSpec] = []


def _loc(loc: tuple[Any, ...]) -> str:
    return ".".join(str(p) for p in loc) or "body"


def validation_errors(exc: ValidationError) -> list[dict[str, str]]:
    out = []
    for e in exc.errors(include_url=False, include_input=False):
        msg = e.get("msg", "invalid value")
        if e.get("type") == "extra_forbidden":
            msg = "This field is not accepted here."
        out.append({"field": _loc(tuple(e.get("loc", ()))), "message": msg})
    return out


def parse_model(model: type[BaseModel], data: Any, *, what: str = "body") -> BaseModel:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise InvalidRequest(f"The request {what} is not valid.", validation_errors(exc)) from None
    except (ValueError, TypeError) as exc:
        raise InvalidRequest(f"The request {what} is not valid: {exc}") from None


# application/json and the structured-syntax JSON types (application/merge-patch+json, …).
_JSON_MEDIA = re.compile(r"application/(?:[a-z0-9!#$&^_.-]+\+)?json")


def require_json_media() -> None:
    """A JSON body must say it is JSON: 415 otherwise.

    A cross-site `<form enctype="text/plain">` can post a body that parses as
    JSON without any CORS preflight, but it cannot send `application/json`. So
    no JSON endpoint reads a body sent under another media type.
    """
    if not _JSON_MEDIA.fullmatch(request.mimetype):
        raise ProblemError(
            415,
            "unsupported_media_type",
            "Send the body as JSON, with Content-Type: application/json.",
        )


def json_body() -> Any:
    """The parsed JSON body (every JSON endpoint reads its body through here)."""
    raw = request.get_data(cache=True)
    if raw or request.mimetype:
        require_json_media()
    if not raw:
        raise ProblemError(400, "invalid_request", "A JSON body is required.")
    try:
        # NaN and Infinity are Python's extension, not JSON (RFC 8259): unparseable, 400.
        return json.loads(raw, parse_constant=_not_json)
    except Exception:
        raise ProblemError(400, "invalid_request", "The body is not valid JSON.") from None


def _not_json(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def query_dict() -> dict[str, Any]:
    return {k: v for k, v in request.args.items()}


def endpoint(
    bp: Blueprint,
    rule: str,
    method: str = "GET",
    *,
    summary: str,
    body: type[BaseModel] | None = None,
    query: type[BaseModel] | None = None,
    response: type[BaseModel] | None = None,
    status: int = 200,
    errors: list[str] | None = None,
    auth: str | None = None,
    tags: list[str] | None = None,
    content_types: list[str] | None = None,
    response_media: str | list[str] = "application/json",
    also_status: tuple[int, ...] = (),
    body_required: bool = True,
    raw_body: bool = False,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register a JSON endpoint: its validated body/query arrive as keyword arguments."""
    full_rule = (bp.url_prefix or "") + rule
    spec = EndpointSpec(
        rule=full_rule,
        method=method,
        summary=summary,
        tags=tags or [bp.name],
        body=body,
        query=query,
        response=response,
        status=status,
        errors=errors or [],
        auth=auth,
        content_types=content_types or ["application/json"],
        response_media=response_media,
        also_status=also_status,
        body_required=body_required,
    )
    REGISTRY.append(spec)

    def decorate(view: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if auth == "session":
                # Who is asking comes before what they ask: 401 before 422.
                from loginsvc.auth import sessions

                sessions.current()
            if query is not None:
                kwargs["query"] = parse_model(query, query_dict(), what="query")
            if body is not None and not raw_body:
                kwargs["body"] = parse_model(body, json_body())
            return view(*args, **kwargs)

        bp.add_url_rule(rule, endpoint=view.__name__, view_func=wrapper, methods=[method])
        return wrapper

    return decorate


_CONVERTER = re.compile(r"<(?:[a-z]+:)?([a-zA-Z_][a-zA-Z0-9_]*)>")
_PATH_PARAM = re.compile(r"<(?:([a-z]+):)?([a-zA-Z_][a-zA-Z0-9_]*)>")
# What each URL converter matches (loginsvc.core.ids), as a parameter schema.
_PATH_SCHEMAS: dict[str, dict[str, Any]] = {
    "id": {"type": "integer", "minimum": 1, "maximum": 2**63 - 1},
    "": {"type": "string", "pattern": "^[^/\\x00]+$"},
}


def openapi_document(*, title: str, version: str, server: str) -> dict[str, Any]:
    components: dict[str, Any] = {}

    def schema_ref(model: type[BaseModel], mode: str) -> dict[str, Any]:
        sch = model.model_json_schema(ref_template="#/components/schemas/{model}", mode=mode)  # type: ignore[arg-type]
        for name, d in sch.pop("$defs", {}).items():
            components[name] = d
        components[model.__name__] = sch
        return {"$ref": f"#/components/schemas/{model.__name__}"}

    paths: dict[str, Any] = {}
    for ep in REGISTRY:
        path = _CONVERTER.sub(r"{\1}", ep.rule)
        op: dict[str, Any] = {
            "summary": ep.summary,
            "tags": ep.tags,
            "operationId": f"{ep.method.lower()}_{re.sub(r'[^a-zA-Z0-9]+', '_', path).strip('_')}",
            "responses": {},
        }
        params = [
            {
                "name": n,
                "in": "path",
                "required": True,
                "schema": _PATH_SCHEMAS.get(conv, {"type": "string"}),
            }
            for conv, n in _PATH_PARAM.findall(ep.rule)
        ]
        if ep.query is not None:
            qs = ep.query.model_json_schema()
            for name, prop in qs.get("properties", {}).items():
                params.append(
                    {
                        "name": name,
                        "in": "query",
                        "required": name in qs.get("required", []),
                        "schema": _inline_any_of(prop),
                    }
                )
        if params:
            op["parameters"] = params
        if ep.body is not None:
            ref = schema_ref(ep.body, "validation")
            op["requestBody"] = {
                "required": ep.body_required,
                "content": {
                    ct: {"schema": ref if ct == "application/json" else {"type": "string"}}
                    for ct in ep.content_types
                },
            }
        ok: dict[str, Any] = {"description": "Success"}
        medias = [ep.response_media] if isinstance(ep.response_media, str) else ep.response_media
        if ep.response is not None:
            ref = schema_ref(ep.response, "serialization")
            ok["content"] = {
                m: {"schema": ref if m == "application/json" else {"type": "string"}}
                for m in medias
            }
        elif medias != ["application/json"]:
            ok["content"] = {
                m: {"schema": {"type": "string"} if m != "application/json" else {}} for m in medias
            }
        for st in (ep.status, *ep.also_status):
            op["responses"][str(st)] = ok
        if "text/html" in medias:
            _document_page_answers(op, ep)
        codes = list(ep.errors)
        if ep.rule.count("<"):
            # A path value that names a sibling route (`/customers/export` for an id)
            # meets that route's methods.
            codes.append("method_not_allowed")
        if ep.body is not None or ep.query is not None:
            codes.append("invalid_request")
        if ep.auth == "session":
            codes += ["unauthorized", "csrf_failed"] if ep.method != "GET" else ["unauthorized"]
            codes.append("accounts_disabled")  # a session while the owner turned accounts off
        elif ep.auth == "admin":
            codes += ["unauthorized", "forbidden"]
        elif ep.auth == "signature":
            codes += ["invalid_signature", "stale_timestamp"]
        codes.append("service_unavailable")
        by_status: dict[int, list[str]] = {}
        for c in dict.fromkeys(codes):
            st = ERROR_DESCRIPTIONS.get(c, (400, ""))[0]
            by_status.setdefault(st, []).append(c)
        for st, cs in sorted(by_status.items()):
            op["responses"][str(st)] = {
                "description": "; ".join(
                    f"`{c}`: {ERROR_DESCRIPTIONS.get(c, (0, c))[1]}" for c in cs
                ),
                "content": {
                    "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
                },
            }
        if ep.body is not None:
            op["responses"].setdefault(
                "400",
                {
                    "description": "`invalid_request`: the body is not JSON",
                    "content": {
                        "application/problem+json": {
                            "schema": {"$ref": "#/components/schemas/Problem"}
                        }
                    },
                },
            )
            op["responses"].setdefault(
                "415",
                {
                    "description": "`unsupported_media_type`: the body is not sent as JSON",
                    "content": {
                        "application/problem+json": {
                            "schema": {"$ref": "#/components/schemas/Problem"}
                        }
                    },
                },
            )
            op["responses"].setdefault(
                "413",
                {
                    "description": "`payload_too_large`: the body is over 1 MiB",
                    "content": {
                        "application/problem+json": {
                            "schema": {"$ref": "#/components/schemas/Problem"}
                        }
                    },
                },
            )
        if ep.auth == "session":
            op["security"] = [{"sessionCookie": []}, {"bearerSession": []}]
        elif ep.auth == "admin":
            op["security"] = [{"adminKey": []}]
        paths.setdefault(path, {})[ep.method.lower()] = op

    components["Problem"] = {
        "type": "object",
        "required": ["type", "title", "status", "detail", "code"],
        "properties": {
            "type": {"type": "string"},
            "title": {"type": "string"},
            "status": {"type": "integer"},
            "detail": {"type": "string"},
            "code": {"type": "string", "enum": sorted(ERROR_DESCRIPTIONS)},
            "request_id": {"type": "string"},
            "errors": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
                },
            },
        },
    }
    # Sign-in first, as a shop's developer reads it; the HTML pages (many, for
    # browsers) last; tags not named here in between, alphabetically.
    first = ["auth", "passkeys", "me", "newsletter", "storefront", "webhooks", "sso"]
    last = ["admin", "admin_log", "operations", "pages"]
    used = {tag for ops in paths.values() for op in ops.values() for tag in op.get("tags", [])}

    def rank(tag: str) -> tuple[int, int, str]:
        if tag in first:
            return (0, first.index(tag), tag)
        if tag in last:
            return (2, last.index(tag), tag)
        return (1, 0, tag)

    tag_order = sorted(used, key=rank)
    return {
        "openapi": "3.1.0",
        "tags": [{"name": tag} for tag in tag_order],
        "info": {
            "title": title,
            "version": version,
            "description": "Passwordless login and customer accounts. "
            "Errors are RFC 9457 problem+json with a stable `code`.",
        },
        "servers": [{"url": server}],
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {
                "sessionCookie": {"type": "apiKey", "in": "cookie", "name": "loginsvc_session"},
                "bearerSession": {"type": "http", "scheme": "bearer"},
                "adminKey": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "An admin API key (`loginsvc api-key create`).",
                },
            },
        },
    }


_PROBLEM_OR_PAGE = {
    "text/html": {"schema": {"type": "string"}},
    "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}},
}


def _document_page_answers(op: dict[str, Any], ep: EndpointSpec) -> None:
    """What an HTML page answers besides its page: redirects and explained refusals.

    Pages redirect (to sign in, after a form, `/` to the login page) and refuse
    with a 4xx page that explains (an expired form, a used link, no such order,
    a bad field, too many requests); a client that prefers JSON gets the same
    refusal as problem+json. Listed as ranges: the page, not the status, is
    what a browser shows.
    """
    responses = op["responses"]
    responses.setdefault("2XX", {"description": "A page (a form answers 202 when sent)"})
    responses["2XX"].setdefault("content", {"text/html": {"schema": {"type": "string"}}})
    for st in ("302", "303"):
        responses.setdefault(st, {"description": "A redirect (to sign in, or after a form)"})
    responses["4XX"] = {
        "description": "An HTML page that explains the refusal (problem+json to JSON clients)",
        "content": _PROBLEM_OR_PAGE,
    }


def _inline_any_of(prop: dict[str, Any]) -> dict[str, Any]:
    prop = dict(prop)
    prop.pop("title", None)
    return prop
