"""Typed envelopes of every event type and the batch of `POST /v1/events`, for documentation.

The service validates a batch by hand (services/ledger/validation.py: every problem of the batch
at once, in the contract's error shape); these models say the same in JSON Schema, for the
OpenAPI document and the exported schemas in contracts/schemas/. One envelope per event type,
`{id, type, data}` with `type` a constant and `data` that type's model; an event of a batch is
one of them, told apart by `type`. Built from EVENT_TYPES, so a new type is documented at once.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union, cast
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, JsonValue, create_model

from contracts.events import EVENT_TYPES, MAX_BATCH_EVENTS, AppendCondition
from contracts.fields import Strict

EVENT_ID_DESCRIPTION = (
    "A UUID chosen by the sender. The same id with the same body again is a duplicate "
    "(nothing stored twice); with another body, 409 `event_id_reused`."
)


def envelope_name(event_type: str) -> str:
    """`visit.scheduled` -> `VisitScheduledEvent`."""
    words = event_type.replace(".", "_").split("_")
    return "".join(word.capitalize() for word in words) + "Event"


def examples_of(model: type[BaseModel]) -> list[JsonValue]:
    """The examples a model's configuration carries (contracts.fields.example)."""
    extra = model.model_config.get("json_schema_extra")
    found = extra.get("examples") if isinstance(extra, dict) else None
    return list(found) if isinstance(found, list) else []


def _envelope(event_type: str, data_model: type[Strict]) -> type[BaseModel]:
    examples: list[JsonValue] = [
        {"id": "8d3c5a0e-5c1f-4f8e-9a53-0f6b2a9d7c41", "type": event_type, "data": data}
        for data in examples_of(data_model)
    ]
    constant: Any = cast(Any, Literal)[event_type]  # a type built at run time
    return create_model(
        envelope_name(event_type),
        __config__=ConfigDict(extra="forbid", json_schema_extra={"examples": examples}),
        __doc__=f"A `{event_type}` event. {data_model.__doc__ or ''}".strip(),
        id=(UUID, Field(description=EVENT_ID_DESCRIPTION)),
        type=(constant, Field(description="The event type.")),
        data=(data_model, ...),
    )


ENVELOPES: dict[str, type[BaseModel]] = {
    event_type: _envelope(event_type, model) for event_type, model in EVENT_TYPES.items()
}

# a union built from the table: typed as Any, since its members are only known at run time
AnyEvent: Any = Annotated[Union[tuple(ENVELOPES.values())], Field(discriminator="type")]  # noqa: UP007


class EventBatch(Strict):
    """The body of `POST /v1/events`: 1 to 1000 events, recorded atomically in order (all or
    none), with an optional append condition."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "events": [
                        {
                            "id": f"1b0e7c3e-3f55-4a8e-8d0c-2f1f6f1d9a0{number}",
                            "type": event_type,
                            "data": examples_of(EVENT_TYPES[event_type])[0],
                        }
                        for number, event_type in enumerate(
                            ["payer.settings_changed", "authorization.granted", "visit.scheduled"]
                        )
                    ],
                    "condition": {"after": 0, "tags": ["member:M-1"]},
                }
            ]
        },
    )

    events: Annotated[list[AnyEvent], Field(min_length=1, max_length=MAX_BATCH_EVENTS)]
    condition: AppendCondition | None = Field(
        default=None,
        description="Refuse the whole batch (409 `condition_failed`) when an event carrying "
        "every one of `tags` was recorded after position `after`.",
    )
