"""docs/ kept in step with the code.

docs/api.md documents every endpoint of the app ("METHOD /path", path parameters as in the route)
and every event type of `contracts.events.EVENT_TYPES` with a table row for each field of its
model (nested models as `override.by`, `lines[].applied[].amount`), saying whether it is required
as the model does; nothing outside its "Planned" section is an endpoint or event type the code
lacks. docs/rules.md keeps the section numbers the code cites ("accumulation.md 2.9", "spec
4.4"). No document links outside the repository.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, get_args, get_origin

import fastapi.routing
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from pydantic import BaseModel

from contracts.events import EVENT_TYPES, NOT_SUPPORTED_YET
from contracts.subscriptions import BalanceChanged, NegativeAccrualFlagged
from services.api.app import create_app
from services.api.settings import Settings
from services.projections.feed import DERIVED_TYPES

REPOSITORY = Path(__file__).resolve().parents[2]
DOCS = REPOSITORY / "docs"
API_DOC = DOCS / "api.md"
RULES_DOC = DOCS / "rules.md"
FASTAPI_OWN_PATHS = frozenset({"/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"})
PLANNED_HEADING = "\n## Planned\n"
METHOD_PATH = re.compile(r"\b(GET|POST|PUT|PATCH|DELETE) (/[\w{}\-./]*[\w}])")
HEADING = re.compile(r"^(#+) ")
CITED_SECTION = re.compile(r"(?:accumulation\.md|spec)(?: section)? (\d+(?:\.\d+)?)")
MARKDOWN_LINK = re.compile(r"\]\(([^)\s]+)\)|^\s*\[[^\]]+\]:\s*(\S+)", re.MULTILINE)


# --- reading the documents ------------------------------------------------------------------


def api_doc() -> str:
    return API_DOC.read_text(encoding="utf-8")


def split_planned(text: str) -> tuple[str, str]:
    """The part describing what the code does, and the "Planned" part after it."""
    assert PLANNED_HEADING in text, "docs/api.md needs a '## Planned' section, last"
    available, planned = text.split(PLANNED_HEADING, 1)
    assert not re.search(r"^## ", planned, re.MULTILINE), "'## Planned' must be the last section"
    return available, planned


def section(text: str, name: str) -> str | None:
    """The lines under the heading that names `name` in backticks, up to the next heading of the
    same or a higher level; None when no heading names it."""
    lines = text.splitlines()
    for start, line in enumerate(lines):
        found = HEADING.match(line)
        if found is None or f"`{name}`" not in line:
            continue
        level = len(found.group(1))
        end = start + 1
        while end < len(lines):
            following = HEADING.match(lines[end])
            if following is not None and len(following.group(1)) <= level:
                break
            end += 1
        return "\n".join(lines[start:end])
    return None


def top_section(text: str, title: str) -> str:
    """A `## title...` section, up to the next `## ` heading."""
    found = re.search(rf"^## {re.escape(title)}.*?(?=^## |\Z)", text, re.MULTILINE | re.DOTALL)
    assert found is not None, f"docs/api.md has no '## {title}' section"
    return found.group(0)


def table_rows(text: str) -> dict[str, list[str]]:
    """Markdown table rows keyed by their first cell (e.g. "`lines[].days`"), cells stripped."""
    rows = {}
    for line in text.splitlines():
        if line.startswith("|") and not line.startswith("| ---"):
            cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
            rows[cells[0]] = cells
    return rows


# --- what the code has -----------------------------------------------------------------------


def _models_in(annotation: Any, in_list: bool = False) -> Iterator[tuple[type[BaseModel], bool]]:
    """The pydantic models inside an annotation (Optional, unions, Annotated, lists)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation, in_list
        return
    origin = get_origin(annotation)
    for argument in get_args(annotation):
        yield from _models_in(argument, in_list or origin is list)


def field_paths(model: type[BaseModel], prefix: str = "") -> dict[str, bool]:
    """Every field of the model and of the models it nests: dotted path -> required."""
    paths: dict[str, bool] = {}
    for name, info in model.model_fields.items():
        paths.setdefault(prefix + name, info.is_required())
        for nested, in_list in _models_in(info.annotation):
            child = f"{prefix}{name}{'[]' if in_list else ''}."
            for path, required in field_paths(nested, child).items():
                paths.setdefault(path, required)
    return paths


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> FastAPI:
    database = tmp_path_factory.mktemp("docs") / "ledger.db"
    settings = Settings(database_url=f"sqlite:///{database}", delivery_workers=False)
    return create_app(settings, migrate=False)


def route_contexts(app: FastAPI) -> Iterator[Any]:
    """The app's routes, included routers flattened (FastAPI >= 0.16x includes them lazily)."""
    iterate = getattr(fastapi.routing, "iter_route_contexts", None)
    yield from iterate(app.routes) if iterate is not None else app.routes


def endpoints(app: FastAPI) -> set[tuple[str, str]]:
    """(method, path) of every APIRoute, FastAPI's own documentation routes left out."""
    found = set()
    for context in route_contexts(app):
        route = getattr(context, "original_route", context)
        if isinstance(route, APIRoute) and context.path not in FASTAPI_OWN_PATHS:
            found |= {(method, context.path) for method in context.methods}
    return found


def all_paths(app: FastAPI) -> set[tuple[str, str]]:
    """Every (method, path) the app answers, FastAPI's own routes included."""
    return {
        (method, context.path)
        for context in route_contexts(app)
        for method in (getattr(context, "methods", None) or ())
    }


def mentions(text: str, method: str, path: str) -> bool:
    """`METHOD /path` written out, not only as the start of a longer path."""
    return re.search(rf"(?<![A-Z]){method} {re.escape(path)}(?![\w/{{}}\-])", text) is not None


# --- event types -----------------------------------------------------------------------------


@pytest.mark.parametrize("event_type", sorted(EVENT_TYPES))
def test_every_event_type_has_a_row_for_every_field_saying_whether_it_is_required(
    event_type: str,
):
    available, _ = split_planned(api_doc())
    found = section(top_section(available, "Event types"), event_type)
    assert found is not None, f"no heading naming `{event_type}` under '## Event types'"
    rows = table_rows(found)
    paths = field_paths(EVENT_TYPES[event_type])
    assert paths, f"{event_type} has no fields?"
    missing = [path for path in paths if f"`{path}`" not in rows]
    assert not missing, f"{event_type}: fields not in its table: {missing}"
    for path, required in paths.items():
        said = rows[f"`{path}`"][2]
        expected = "required" if required else "optional"
        assert said.startswith(expected), f"{event_type}.{path}: the model says {expected}"


def test_the_event_types_section_documents_no_type_the_code_lacks():
    available, _ = split_planned(api_doc())
    types_section = top_section(available, "Event types")
    headings = [line for line in types_section.splitlines() if line.startswith("### ")]
    named = {name for line in headings for name in re.findall(r"`([a-z_]+\.[a-z_]+)`", line)}
    assert named == set(EVENT_TYPES) | NOT_SUPPORTED_YET


def test_types_not_supported_yet_are_marked_so():
    available, _ = split_planned(api_doc())
    found = re.search(
        r"^### Types not supported yet\n(.*?)(?=^#{1,3} |\Z)", available, re.MULTILINE | re.DOTALL
    )
    assert found is not None, "docs/api.md needs a '### Types not supported yet' section"
    text = found.group(1)
    assert "`contracts.events.NOT_SUPPORTED_YET`" in text
    assert ("empty in this release" in text) == (not NOT_SUPPORTED_YET)
    for event_type in sorted(NOT_SUPPORTED_YET):
        documented = section(available, event_type)
        assert documented is not None, f"{event_type} (not supported yet) is not documented"
        assert "not supported yet" in documented.lower(), event_type


def test_every_derived_event_type_is_documented_with_its_fields():
    available, _ = split_planned(api_doc())
    subscriptions = top_section(available, "Subscriptions")
    for derived_type in DERIVED_TYPES:
        assert section(subscriptions, derived_type) is not None, derived_type
    for derived_type, model in (
        ("balance.changed", BalanceChanged),
        ("accumulation.negative_accrual_flagged", NegativeAccrualFlagged),
    ):
        rows = table_rows(section(subscriptions, derived_type) or "")
        missing = [name for name in model.model_fields if f"`{name}`" not in rows]
        assert not missing, f"{derived_type}: fields not in its table: {missing}"


# --- endpoints -------------------------------------------------------------------------------


def test_every_endpoint_of_the_app_is_documented_as_available(app: FastAPI):
    found = endpoints(app)
    assert ("POST", "/v1/events") in found and len(found) >= 20, "route discovery broke"
    available, _ = split_planned(api_doc())
    missing = sorted(f"{m} {p}" for m, p in found if not mentions(available, m, p))
    assert not missing, f"endpoints missing from docs/api.md (outside Planned): {missing}"


def test_nothing_outside_planned_is_an_endpoint_the_app_lacks(app: FastAPI):
    available, _ = split_planned(api_doc())
    answered = all_paths(app)
    documented = set(METHOD_PATH.findall(available))
    assert documented, "no METHOD /path found in docs/api.md"
    unknown = sorted(f"{m} {p}" for m, p in documented - answered)
    assert not unknown, f"documented as available but not in the app: {unknown}"


def test_planned_endpoints_are_not_in_the_app(app: FastAPI):
    _, planned = split_planned(api_doc())
    planned_endpoints = set(METHOD_PATH.findall(planned))
    built = sorted(f"{m} {p}" for m, p in planned_endpoints & all_paths(app))
    assert not built, f"built already: move them out of Planned: {built}"


# --- rules.md --------------------------------------------------------------------------------


def test_every_section_number_the_code_cites_is_a_heading_of_rules_md():
    cited: set[str] = set()
    for folder in ("services", "contracts", "tests"):
        for source in (REPOSITORY / folder).rglob("*.py"):
            cited |= set(CITED_SECTION.findall(source.read_text(encoding="utf-8")))
    assert {"2.9", "4.4"} <= cited, "the citation pattern no longer finds the code's citations"
    rules = RULES_DOC.read_text(encoding="utf-8")
    headings = {
        found.group(1) for found in re.finditer(r"^#{2,3} (\d+(?:\.\d+)?)[. ]", rules, re.MULTILINE)
    }
    assert not cited - headings, f"cited but not a section of docs/rules.md: {cited - headings}"
    assert "numbering" in rules.split("\n## ", 1)[0], "rules.md must say numbers follow the spec"


# --- links -----------------------------------------------------------------------------------


def test_no_document_links_outside_the_repository():
    documents = sorted(DOCS.glob("**/*.md"))
    assert {API_DOC, RULES_DOC} <= set(documents)
    checked = 0
    for document in documents:
        text = document.read_text(encoding="utf-8")
        assert "../shared" not in text, f"{document.name} points at ../shared"
        for found in MARKDOWN_LINK.finditer(text):
            target = (found.group(1) or found.group(2)).split("#", 1)[0]
            if not target or re.match(r"^[a-z][a-z0-9+.-]*:", target):  # anchor, URL, mailto
                continue
            resolved = (document.parent / target).resolve()
            assert resolved.is_relative_to(REPOSITORY), f"{document.name} links outside: {target}"
            assert resolved.exists(), f"{document.name} links to a missing file: {target}"
            checked += 1
    assert checked > 0, "no relative link was checked: the link pattern is broken"
