"""The OpenAPI document: FastAPI's, completed with what the routes cannot say themselves.

FastAPI documents each route from its signature. This adds, in one place: the schemas of bodies
that a route reads by hand (POST /v1/events validates its batch itself, every problem at once),
the contract's error shape for every status an operation can answer (instead of FastAPI's
`{"detail": [...]}`), the role each operation needs, and a description of every parameter.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.encoders import jsonable_encoder
from fastapi.openapi.models import OpenAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from contracts.queries import ErrorOut

REF = "#/components/schemas/{model}"
# bodies a route reads by hand, documented from their model (see `documented_body`)
_DOCUMENTED_BODIES: dict[str, type[BaseModel]] = {}


def documented_body(model: type[BaseModel]) -> dict[str, Any]:
    """`openapi_extra` of a route that reads its JSON body itself: the body is documented as
    `model` (its schema joins the document's components) while the route keeps its own parsing."""
    _DOCUMENTED_BODIES[model.__name__] = model
    schema = {"$ref": REF.format(model=model.__name__)}
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


# --- parameters ------------------------------------------------------------------------------

_DAY = "YYYY-MM-DD"
PARAMETERS: dict[str, str] = {
    "member_id": "The member's id, as its events name it. Another tenant's member answers 404.",
    "authorization_number": "The authorization number of the key.",
    "service_code": "The service code of the key.",
    "as_of": f"The day the answer is for, {_DAY} (default today in the tenant's time zone: "
    "UTC unless `tenant.settings_changed` set one).",
    "known_at": "Only what the ledger had recorded at this instant (RFC 3339; without a zone, "
    "UTC) is seen: the answer as it would have been then (default now).",
    "benefit_id": "The limit's id, as `benefit.limit_defined` named it.",
    "threshold": "The share of the limit used, e.g. 0.8 (the default): more than 0.",
    "effective_date": f"The day whose benefit period is shown, {_DAY} (default today, UTC).",
    "plan_type": "Only this plan type (default: the member's first medical enrollment in force "
    "on the effective date).",
    "schedule_id": "Only this schedule.",
    "all_plans": "Every plan the member is enrolled in, not only one plan type.",
    "code": "The accumulator's code in its schedule.",
    "illness": "Only the row of this illness code (accumulators kept per illness).",
    "tooth": "Only the row of this tooth (accumulators kept per tooth).",
    "format": "json (default), csv, or html (a printable claims history report).",
    "visit_id": "The visit's id, as its events name it.",
    "after": "Only what comes after this ledger position (default 0: from the first).",
    "limit": "At most this many items, 1 to 1000 (default 100).",
    "type": "Only events of this type, e.g. `visit.scheduled`.",
    "wait": "Long poll: when nothing is there yet, wait up to this many seconds for it "
    "(0 to 60, default 0).",
    "types": "Only these derived event types, comma-separated (default: every type).",
    "webhook_id": "The webhook's id (`wh_...`), as its creation answered.",
    "sequence": "The feed sequence of the event to deliver again.",
    "key_id": "The key's id, as its creation or the key list answered.",
    "token": "A stream token (POST /v1/feeds/stream-tokens) instead of the Authorization "
    "header, for a browser's EventSource.",
}
# where a name means something else on one path
PARAMETERS_ON_PATH: dict[tuple[str, str], str] = {
    ("/v1/ledger/events", "member_id"): "Only the events of this member.",
    ("/v1/feeds/events", "after"): "Only derived events after this feed sequence (default 0).",
    ("/v1/feeds/events/stream", "after"): "Start after this feed sequence (default 0); a "
    "`Last-Event-ID` header wins over it.",
    ("/v1/feeds/events/stream", "limit"): "End the stream after this many events "
    "(default 0: never).",
    ("/v1/webhooks/{webhook_id}/deliveries", "limit"): "At most this many attempts, newest "
    "first, 1 to 1000 (default 100).",
}


def _describe_parameters(path: str, operation: dict[str, Any]) -> None:
    for parameter in operation.get("parameters", []):
        name = parameter["name"]
        found = PARAMETERS_ON_PATH.get((path, name)) or PARAMETERS.get(name)
        if found and not parameter.get("description"):
            parameter["description"] = found


# --- errors ----------------------------------------------------------------------------------

ERROR_REF = {"$ref": REF.format(model=ErrorOut.__name__)}
ERRORS: dict[int, str] = {
    400: "`http_error`: the body could not be read as JSON.",
    401: "`unauthenticated`: the API key is missing, unknown, expired or revoked.",
    403: "`forbidden`: the key lacks the role this operation needs.",
    404: "`not_found`: nothing of that id in the caller's tenant (another tenant's data answers "
    "the same, as if absent).",
    409: "A conflict.",
    413: "`payload_too_large`: the body is over the service's limit "
    "(BENEFIT_LEDGER_MAX_BODY_BYTES, 5,000,000 bytes by default); it was not read whole, "
    "nothing was stored.",
    422: "`invalid_request`: the request is not valid (a parameter, the body, or a query "
    "parameter the operation does not take); one detail per problem, all at once.",
    503: "`unavailable`: the database cannot be reached (refused, the connection cut, no "
    "pooled connection in time); try again after `Retry-After` seconds. A write answered so "
    "may have been stored if its connection was cut as it committed: its event ids make the "
    "retry safe.",
}
RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds to wait before trying again.",
        "schema": {"type": "integer"},
    }
}
# what one operation says beyond the general text
ERRORS_OF: dict[tuple[str, str], dict[int, str]] = {
    ("post", "/v1/events"): {
        403: "`forbidden`: the key lacks the `writer` role, or an event carries an `override` "
        "and the key lacks the `supervisor` role. Nothing was stored.",
        409: "`event_id_reused`: an id was recorded before with another body; "
        "`condition_failed`: the append condition matched (each detail carries the tenant's "
        "current `position`); `concurrency_conflict`: try again. Nothing was stored.",
        422: "`invalid_event`: one detail per problem (`index` of the event, `field`, "
        "`problem`), all at once (a body over 5 MB included); `not_supported_yet`: a type of "
        "a later release; `invalid_request`: a query parameter it does not take. Nothing was "
        "stored.",
    },
    ("post", "/v1/admin/recalculate"): {404: "`not_found`: no such member in the tenant."},
}
ROLE = "Needs an API key with the `{role}` role."


def _reads_its_own_body(body: dict[str, Any]) -> bool:
    schema = body.get("content", {}).get("application/json", {}).get("schema", {})
    return schema.get("$ref") in {REF.format(model=name) for name in _DOCUMENTED_BODIES}


def _error_statuses(method: str, path: str, operation: dict[str, Any]) -> set[int]:
    """What an operation can answer besides success: 401/403/503 with a key (the key is looked
    up in the database); 422 always (every route refuses query parameters it does not take:
    services/api/limits.py); 413 and 400 with a body (over the limit; not JSON, where FastAPI
    parses it); 404 with an id in the path."""
    statuses = {401, 403, 503} if operation.get("security") else set()
    statuses.add(422)
    body = operation.get("requestBody")
    if body:
        statuses.add(413)
    if body and not _reads_its_own_body(body):
        statuses.add(400)  # FastAPI parses it: a body that is not JSON at all
    if "{" in path:
        statuses.add(404)
    return statuses | set(ERRORS_OF.get((method, path), {}))


def _document_errors(method: str, path: str, operation: dict[str, Any]) -> None:
    # the roles are the scopes of the operation's security requirement (deps.require)
    roles = [
        role
        for needed in operation.get("security", [])
        for scopes in needed.values()
        for role in scopes
    ]
    responses = operation.setdefault("responses", {})
    special = ERRORS_OF.get((method, path), {})
    for status in sorted(_error_statuses(method, path, operation)):
        text = special.get(status) or ERRORS[status]
        if status == 403 and roles and status not in special:
            text = f"{text} {ROLE.format(role=roles[0])}"
        answer: dict[str, Any] = {
            "description": text,
            "content": {"application/json": {"schema": ERROR_REF}},
        }
        if status == 401:
            answer["headers"] = {
                "WWW-Authenticate": {"description": "`Bearer`", "schema": {"type": "string"}}
            }
        if status == 503:
            answer["headers"] = RETRY_AFTER
        responses[str(status)] = answer
    if roles:
        role = ROLE.format(role=roles[0])
        operation["description"] = f"{operation.get('description', '')}\n\n{role}".strip()


# --- the document ----------------------------------------------------------------------------

READINESS = {
    "type": "object",
    "description": "`status` ready, lagging (projections behind the ledger) or unavailable "
    "(the database did not answer); `reason` says which. No count of events: a tenant's "
    "are behind its admin key (GET /v1/admin/status).",
    "properties": {
        "status": {"type": "string", "enum": ["ready", "lagging", "unavailable"]},
        "reason": {
            "type": "string",
            "enum": ["projections lagging", "database unreachable"],
        },
        "tenants_lagging": {"type": "integer", "description": "Tenants whose projections lag."},
        "lag_oldest_age_seconds": {
            "type": "number",
            "description": "How long the oldest event not reflected yet has waited.",
        },
    },
    "required": ["status"],
}


def _add_components(document: dict[str, Any], models: list[type[BaseModel]]) -> None:
    """The schemas of `models` (and of what they refer to) among the document's components, in
    FastAPI's form; a name FastAPI already used must be the same schema, or two models would
    share one name."""
    inputs = [
        (model, "validation" if model in _DOCUMENTED_BODIES.values() else "serialization")
        for model in models
    ]
    _, found = models_json_schema(inputs, ref_template=REF)  # type: ignore[arg-type]
    # FastAPI's form: what its own components went through (null defaults dropped and the like)
    encoded = OpenAPI.model_validate(
        {
            "openapi": document["openapi"],
            "info": document["info"],
            "components": {"schemas": found["$defs"]},
        }
    )
    added = jsonable_encoder(encoded, by_alias=True, exclude_none=True)["components"]["schemas"]
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    for name, schema in added.items():
        assert schemas.get(name, schema) == schema, f"two schemas named {name}"
        schemas[name] = schema


def _readiness(document: dict[str, Any]) -> None:
    operation = document["paths"].get("/readyz", {}).get("get")
    if operation is None:
        return
    body = {"application/json": {"schema": READINESS}}
    operation["responses"]["200"] = {"description": "Ready.", "content": body}
    operation["responses"]["503"] = {
        "description": "Lagging or unavailable.",
        "content": body,
        "headers": RETRY_AFTER,
    }


def _drop_unused(document: dict[str, Any], names: tuple[str, ...]) -> None:
    schemas = document["components"]["schemas"]
    text = str(document["paths"])
    for name in names:
        if REF.format(model=name) not in text:
            schemas.pop(name, None)


def build(app: FastAPI) -> dict[str, Any]:
    document = get_openapi(  # what FastAPI's own app.openapi() passes
        title=app.title,
        version=app.version,
        openapi_version=app.openapi_version,
        summary=app.summary,
        description=app.description,
        terms_of_service=app.terms_of_service,
        contact=app.contact,
        license_info=app.license_info,
        routes=app.routes,
        webhooks=app.webhooks.routes,
        tags=app.openapi_tags,
        servers=app.servers,
        separate_input_output_schemas=app.separate_input_output_schemas,
    )
    _add_components(document, [*_DOCUMENTED_BODIES.values(), ErrorOut])
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            _describe_parameters(path, operation)
            _document_errors(method, path, operation)
    _readiness(document)
    _drop_unused(document, ("HTTPValidationError", "ValidationError"))
    return document


def install(app: FastAPI) -> None:
    """Serve `build(app)` at the app's openapi_url, built once, on first use."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = build(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
