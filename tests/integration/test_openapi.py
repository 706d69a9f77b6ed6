"""The OpenAPI document the service serves: valid, self-contained, complete, and kept to.

The document is read from `/openapi.json` of a real app. Completeness is checked against the
app's behaviour where it can be (an operation documented with a key answers 401 without one and
403 with a key lacking its role), and schemathesis sends generated requests and checks every
answer against the document: no 5xx, only documented statuses, bodies of the documented shape.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from openapi_spec_validator import validate
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.python import asgi
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from contracts.envelopes import EventBatch, envelope_name, examples_of
from contracts.events import EVENT_TYPES
from contracts.queries import SchedulingCheckIn
from services.api.app import create_app
from services.api.settings import Settings
from services.ledger.db import Database
from services.ledger.keys import create_key
from tests.conftest import new_tenant
from tests.integration.conftest import ROLE_SETS, Tenant

ERROR_REF = "#/components/schemas/ErrorOut"
UNKEYED = {("get", "/healthz"), ("get", "/readyz"), ("get", "/metrics")}
METHODS = {"get", "post", "put", "patch", "delete"}


@pytest.fixture(scope="module")
async def document(client: httpx.AsyncClient) -> dict[str, Any]:
    answer = await client.get("/openapi.json")
    assert answer.status_code == 200
    found: dict[str, Any] = answer.json()
    return found


def operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                yield method, path, operation


def refs(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "$ref" and isinstance(item, str):
                yield item
            else:
                yield from refs(item)
    elif isinstance(value, list):
        for item in value:
            yield from refs(item)


def resolve(document: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), f"{ref}: only local references are expected"
    found: Any = document
    for part in ref[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        assert isinstance(found, dict) and part in found, f"{ref} does not resolve"
        found = found[part]
    return found


def test_the_document_is_valid_openapi(document: dict[str, Any]) -> None:
    assert document["openapi"].startswith("3.1")
    validate(document)


def test_every_reference_resolves(document: dict[str, Any]) -> None:
    found = set(refs(document))
    assert "#/components/schemas/EventBatch" in found
    for ref in found:
        resolve(document, ref)
    assert "$defs" not in str(found), "a pydantic-local reference leaked into the document"


def test_every_event_type_is_one_branch_of_the_batch(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    body = document["paths"]["/v1/events"]["post"]["requestBody"]
    assert body["required"] is True
    assert body["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/EventBatch"
    }
    events = schemas["EventBatch"]["properties"]["events"]
    assert (events["minItems"], events["maxItems"]) == (1, 1000)
    union = events["items"]
    assert union["discriminator"]["propertyName"] == "type"
    mapping = union["discriminator"]["mapping"]
    assert set(mapping) == set(EVENT_TYPES)
    assert {branch["$ref"] for branch in union["oneOf"]} == set(mapping.values())
    for event_type, model in EVENT_TYPES.items():
        envelope = resolve(document, mapping[event_type])
        assert mapping[event_type].endswith("/" + envelope_name(event_type))
        assert envelope["required"] == ["id", "type", "data"]
        assert envelope["additionalProperties"] is False
        assert envelope["properties"]["type"]["const"] == event_type
        assert envelope["properties"]["id"]["format"] == "uuid"
        assert envelope["properties"]["data"] == {"$ref": f"#/components/schemas/{model.__name__}"}
    assert "condition" in schemas["EventBatch"]["properties"]


def test_fastapi_validation_errors_are_not_documented(document: dict[str, Any]) -> None:
    """422 answers are the contract's error shape, never FastAPI's `{"detail": [...]}`."""
    text = str(document)
    assert "HTTPValidationError" not in text
    assert "#/components/schemas/ValidationError" not in text


def test_every_error_answer_is_the_error_shape(document: dict[str, Any]) -> None:
    error = resolve(document, ERROR_REF)
    assert error["required"] == ["error"]
    body = resolve(document, error["properties"]["error"]["$ref"])
    assert {"code", "message", "details"} <= set(body["properties"])
    for method, path, operation in operations(document):
        for status, answer in operation["responses"].items():
            if int(status) < 400 or (method, path) == ("get", "/readyz"):
                continue
            schema = answer["content"]["application/json"]["schema"]
            assert schema == {"$ref": ERROR_REF}, f"{method} {path} {status}"
            assert answer["description"], f"{method} {path} {status}"


def test_every_keyed_operation_documents_its_key_and_errors(document: dict[str, Any]) -> None:
    assert document["components"]["securitySchemes"]["ApiKey"] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "API key",
        "description": document["components"]["securitySchemes"]["ApiKey"]["description"],
    }
    keyed = 0
    for method, path, operation in operations(document):
        if (method, path) in UNKEYED:
            assert "security" not in operation, f"{method} {path} needs no key"
            continue
        keyed += 1
        requirement, *alternatives = operation["security"]
        [role] = requirement["ApiKey"]
        if path == "/v1/feeds/events/stream":  # or a stream token, for a browser's EventSource
            assert alternatives == [{"StreamToken": [role]}]
        else:
            assert not alternatives, f"{method} {path}"
        assert role in {"writer", "reader", "subscriber", "supervisor", "admin"}
        expected = {"401", "403", "422", "503"}  # 422: a query parameter it does not take
        if operation.get("requestBody"):
            expected.add("413")
        if "{" in path:
            expected.add("404")
        assert expected <= set(operation["responses"]), f"{method} {path}"
        assert "WWW-Authenticate" in operation["responses"]["401"]["headers"]
        assert f"`{role}`" in operation["responses"]["403"]["description"]
    assert keyed >= 20
    conflicts = document["paths"]["/v1/events"]["post"]["responses"]
    assert {"409", "422"} <= set(conflicts)
    assert "event_id_reused" in conflicts["409"]["description"]


def test_every_parameter_and_body_is_described_with_an_example(document: dict[str, Any]) -> None:
    for method, path, operation in operations(document):
        for parameter in operation.get("parameters", []):
            assert parameter.get("description"), f"{method} {path}: {parameter['name']}"
        body = operation.get("requestBody")
        if body is None:
            continue
        schema = body["content"]["application/json"]["schema"]
        branches = schema.get("anyOf", [schema])  # an optional body: the model or null
        examples = [
            resolve(document, branch["$ref"]).get("examples")
            for branch in branches
            if "$ref" in branch
        ]
        assert any(examples), f"{method} {path}: the body has no example"


def test_decimals_are_strings_with_a_pattern(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    units = schemas["VisitScheduled"]["properties"]["units"]
    assert units["type"] == "string"
    assert units["pattern"] == r"^\d{1,12}(\.\d{1,6})?$"
    assert re.match(units["pattern"], "7.5") and not re.match(units["pattern"], "-1")
    balance = schemas["Summary"]["properties"]["raw_balance"]
    assert (balance["type"], balance["pattern"]) == ("string", r"^-?\d+(\.\d+)?$")
    # pydantic's default for a Decimal is "a number or a string": none is left; the only
    # numbers are durations in seconds (floats, not amounts)
    numbers = [
        f"{schema_name}.{name}"
        for schema_name, schema in schemas.items()
        for name, prop in schema.get("properties", {}).items()
        if '"number"' in str(prop).replace("'", '"')
    ]
    assert all(name.endswith("_seconds") for name in numbers), numbers


def test_every_example_is_valid_for_its_model() -> None:
    for model in [*EVENT_TYPES.values(), EventBatch]:
        for example in examples_of(model):
            model.model_validate(example)


async def test_documented_keys_are_the_keys_the_app_asks_for(
    client: httpx.AsyncClient, document: dict[str, Any], tenant: Tenant
) -> None:
    """Without a key every documented operation answers 401; with a key lacking its role, 403;
    the undocumented ones answer without a key."""
    for method, path, operation in operations(document):
        url = re.sub(r"\{[^}]+\}", "x", path)
        if "security" not in operation:
            answer = await client.request(method, url)
            assert answer.status_code in (200, 503), f"{method} {path}: {answer.status_code}"
            answer = await client.request(method, url, params={"surely_not_a_parameter": "1"})
            assert answer.status_code == 422, f"{method} {path}: documented 422"
            continue
        answer = await client.request(method, url)
        assert answer.status_code == 401, f"{method} {path}"
        assert answer.json()["error"]["code"] == "unauthenticated"
        [role] = operation["security"][0]["ApiKey"]
        other = "reader" if role == "subscriber" else "subscriber"
        assert role not in ROLE_SETS[other]
        answer = await client.request(method, url, headers=tenant.auth(other), json={})
        assert answer.status_code == 403, f"{method} {path}"


# --- schemathesis: generated requests against the document -----------------------------------

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
# per operation and mode: seconds for the whole document; set it higher to look harder
MAX_EXAMPLES = int(os.environ.get("BENEFIT_LEDGER_FUZZ_EXAMPLES", "5"))


@pytest.fixture(scope="module")
def fuzzed_app(database_url: str) -> Iterator[FastAPI]:
    """An app of its own: schemathesis calls it from its own event loop (and starts its
    lifespan there: stopped here, so its database pool closes in that loop)."""
    yield create_app(Settings(database_url=database_url, delivery_workers=False))
    asgi.shutdown_lifespans()


@pytest.fixture(scope="module")
def every_role(database_url: str, fuzzed_app: FastAPI) -> dict[str, str]:
    roles = ["writer", "reader", "subscriber", "supervisor", "admin"]
    key, _ = create_key(Database(database_url), new_tenant(), roles, datetime.now(UTC))
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture(scope="module")
def api_schema(fuzzed_app: FastAPI) -> Any:
    # dates across years 1-9999 and NUL characters are generated too: both answer 422
    return schemathesis.openapi.from_asgi("/openapi.json", fuzzed_app)


def _fuzz(operation: Any, mode: GenerationMode, headers: dict[str, str]) -> None:
    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,  # the same requests every run: a failure is reproducible
        suppress_health_check=list(HealthCheck),
    )
    def run(case: Any) -> None:
        case.call_and_validate(headers=dict(headers), checks=checks)  # a copy: it is added to

    # /readyz answers 503 by design while projections lag (other tests share the database):
    # documented, so only its shape is checked
    checks = CHECKS[1:] if operation.path == "/readyz" else CHECKS
    run()


def test_generated_requests_get_documented_answers(
    api_schema: Any, every_role: dict[str, str]
) -> None:
    """Valid and invalid requests to every operation (but the endless event stream), with a key
    of every role: each answer has a documented status and shape, and none is a 5xx."""
    failures = []
    for result in api_schema.get_all_operations():
        operation = result.ok()
        if operation.path == "/v1/feeds/events/stream":
            continue
        has_input = operation.definition.raw.get("parameters") or operation.definition.raw.get(
            "requestBody"
        )
        modes = [GenerationMode.POSITIVE, *([GenerationMode.NEGATIVE] if has_input else [])]
        for mode in modes:
            try:
                _fuzz(operation, mode, every_role)
            except Exception as failure:  # every operation is tried; all failures reported
                failures.append(f"{operation.method.upper()} {operation.path} ({mode}): {failure}")
    assert not failures, "\n\n".join(failures)


def test_answers_with_data_keep_to_the_document(
    api_schema: Any, database_url: str, every_role: dict[str, str]
) -> None:
    """Generated ids mostly miss: this records the documented example batch first and then
    checks the answers of the read operations about its member against the document."""
    batch = examples_of(EventBatch)[0]
    assert isinstance(batch, dict)
    batch = {"events": batch["events"]}  # its condition holds only once
    recorded = api_schema["/v1/events"]["POST"].Case(body=batch)
    recorded.call_and_validate(headers=dict(every_role), checks=CHECKS)
    member = {"member_id": "M-1"}
    key = {**member, "authorization_number": "AUTH-1001", "service_code": "T1019"}
    reads = [
        ("/v1/members/{member_id}/accumulations", member),
        ("/v1/members/{member_id}/accumulations/{authorization_number}/{service_code}", key),
        (
            "/v1/members/{member_id}/accumulations/{authorization_number}/{service_code}/explain",
            key,
        ),
        ("/v1/members/{member_id}/benefits", member),
        ("/v1/visits/{visit_id}", {"visit_id": "V-1"}),
        ("/v1/ledger/events", {}),
        ("/v1/reports/exceeding-accumulation", {}),
        ("/v1/reports/benefits-near-limit", {}),
        ("/v1/feeds/events", {}),
        ("/v1/webhooks", {}),
    ]
    for path, parameters in reads:
        case = api_schema[path]["GET"].Case(path_parameters=parameters or None)
        answer = case.call_and_validate(headers=dict(every_role), checks=CHECKS)
        assert answer.status_code == 200, f"{path}: {answer.status_code} {answer.text[:300]}"
    check = api_schema["/v1/scheduling/check"]["POST"].Case(body=examples_of(SchedulingCheckIn)[0])
    answer = check.call_and_validate(headers=dict(every_role), checks=CHECKS)
    assert answer.status_code == 200, answer.text[:300]
