"""Standard Webhooks signing: the published test vector, secrets, and what verify refuses."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest

from services.api.webhooks.delivery import retry_after_seconds
from services.api.webhooks.signing import (
    SignatureError,
    new_secret,
    secret_key,
    sign,
    signed_headers,
    verify,
)

# the example of the Standard Webhooks specification and its reference libraries
VECTOR_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
VECTOR_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
VECTOR_TIMESTAMP = 1614265330
VECTOR_BODY = '{"test": 2432232314}'
VECTOR_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_the_specification_vector():
    assert sign(VECTOR_SECRET, VECTOR_ID, VECTOR_TIMESTAMP, VECTOR_BODY) == VECTOR_SIGNATURE


def test_a_new_secret_is_whsec_and_24_random_bytes():
    secret = new_secret()
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret.removeprefix("whsec_"))) == 24
    assert secret_key(secret) == base64.b64decode(secret[6:])
    assert new_secret() != secret


def _headers(secret: str, body: bytes, timestamp: int = 1_700_000_000) -> dict[str, str]:
    return signed_headers(secret, "evt-1", timestamp, body)


def test_verify_accepts_what_was_signed_with_any_header_case():
    secret, body = new_secret(), b'{"sequence":1}'
    headers = _headers(secret, body)
    assert headers["content-type"] == "application/json"
    verify(secret, headers, body, now=1_700_000_010)
    verify(secret, {name.title(): value for name, value in headers.items()}, body, now=1.7e9)


def test_verify_accepts_one_matching_signature_among_several():
    secret, body = new_secret(), b"{}"
    headers = _headers(secret, body)
    other = sign(new_secret(), "evt-1", 1_700_000_000, body)
    headers["webhook-signature"] = f"{other} {headers['webhook-signature']}"
    verify(secret, headers, body, now=1_700_000_000)


def test_while_a_secret_is_rotated_out_the_header_carries_a_signature_by_each():
    new, old, body = new_secret(), new_secret(), b'{"sequence":1}'
    headers = signed_headers([new, old], "evt-1", 1_700_000_000, body)
    signatures = headers["webhook-signature"].split(" ")
    assert signatures == [
        sign(new, "evt-1", 1_700_000_000, body),
        sign(old, "evt-1", 1_700_000_000, body),
    ]
    verify(new, headers, body, now=1_700_000_000)
    verify(old, headers, body, now=1_700_000_000)
    with pytest.raises(SignatureError, match="no signature matches"):
        verify(new_secret(), headers, body, now=1_700_000_000)
    assert signed_headers([new], "evt-1", 1_700_000_000, body) == _headers(new, body)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda h, b: (h, b + b" "), "no signature matches"),
        (lambda h, b: ({**h, "webhook-id": "evt-2"}, b), "no signature matches"),
        (lambda h, b: ({**h, "webhook-timestamp": "1700000001"}, b), "no signature matches"),
        (lambda h, b: ({**h, "webhook-timestamp": "soon"}, b), "not an integer"),
        (lambda h, b: ({k: v for k, v in h.items() if k != "webhook-id"}, b), "missing"),
        (lambda h, b: ({**h, "webhook-signature": "v1,AAAA"}, b), "no signature matches"),
    ],
)
def test_verify_refuses_tampering(change, message):
    secret, body = new_secret(), b'{"sequence":1}'
    headers, sent = change(_headers(secret, body), body)
    with pytest.raises(SignatureError, match=message):
        verify(secret, headers, sent, now=1_700_000_000)


def test_verify_refuses_another_secret_and_an_old_timestamp():
    secret, body = new_secret(), b"{}"
    with pytest.raises(SignatureError, match="no signature"):
        verify(new_secret(), _headers(secret, body), body, now=1_700_000_000)
    with pytest.raises(SignatureError, match="too far"):
        verify(secret, _headers(secret, body), body, now=1_700_000_000 + 301)


def test_retry_after_in_seconds_or_as_a_date_and_bounded():
    now = datetime(2026, 11, 23, 10, 0, 0, tzinfo=UTC)
    assert retry_after_seconds("7", now) == 7.0
    assert retry_after_seconds("Mon, 23 Nov 2026 10:00:30 GMT", now) == 30.0
    assert retry_after_seconds("Mon, 23 Nov 2026 09:00:00 GMT", now) == 0.0
    assert retry_after_seconds("999999999", now) == 86400.0
    assert retry_after_seconds("soon", now) is None
    assert retry_after_seconds(None, now) is None
