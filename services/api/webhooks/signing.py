"""Standard Webhooks signing: secrets, the `webhook-signature` header, and its verification.

The signed content is `f"{webhook_id}.{timestamp}.{body}"`, the key is the base64-decoded secret
after its `whsec_` prefix, and a signature is `v1,<base64 HMAC-SHA256>`. A header may carry
several space-separated signatures (while a secret is rotated); one match is enough. Receivers
should also refuse old timestamps, which is what keeps a captured request from being replayed.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import time
from collections.abc import Sequence

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 24
SIGNATURE_VERSION = "v1"
DEFAULT_TOLERANCE_SECONDS = 300


class SignatureError(ValueError):
    """The request does not carry a valid, fresh signature."""


def new_secret() -> str:
    """A fresh signing secret: `whsec_` and the base64 of 24 random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def secret_key(secret: str) -> bytes:
    """The HMAC key of a secret; a secret without the prefix is taken as base64 too."""
    try:
        return base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True)
    except binascii.Error as error:
        raise SignatureError("the secret is not base64 after its whsec_ prefix") from error


def _digest(secret: str, webhook_id: str, timestamp: int, body: bytes) -> bytes:
    content = f"{webhook_id}.{timestamp}.".encode() + body
    return hmac.new(secret_key(secret), content, hashlib.sha256).digest()


def sign(secret: str, webhook_id: str, timestamp: int, body: bytes | str) -> str:
    """The `webhook-signature` header value for one request."""
    raw = body.encode() if isinstance(body, str) else body
    signature = base64.b64encode(_digest(secret, webhook_id, timestamp, raw)).decode()
    return f"{SIGNATURE_VERSION},{signature}"


def signed_headers(
    secret: str | Sequence[str], webhook_id: str, timestamp: int, body: bytes
) -> dict[str, str]:
    """The three Standard Webhooks headers and the content type of one delivery attempt. With
    several secrets (while one is rotated out) `webhook-signature` carries a signature by each,
    space-separated, in the order given."""
    keys = [secret] if isinstance(secret, str) else list(secret)
    assert keys, "a delivery is signed with at least one secret"
    return {
        "content-type": "application/json",
        "webhook-id": webhook_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(sign(key, webhook_id, timestamp, body) for key in keys),
    }


def _parse_timestamp(value: str) -> int:
    try:
        return int(value)
    except ValueError as error:
        raise SignatureError("webhook-timestamp is not an integer") from error


def verify(
    secret: str,
    headers: dict[str, str],
    body: bytes | str,
    *,
    tolerance: int = DEFAULT_TOLERANCE_SECONDS,
    now: float | None = None,
) -> None:
    """Check a received request as a receiver would; raises SignatureError when it fails.

    `headers` keys are matched case-insensitively. The timestamp must be within `tolerance`
    seconds of `now` either way, against replays and against clocks far apart.
    """
    lowered = {name.lower(): value for name, value in headers.items()}
    try:
        webhook_id = lowered["webhook-id"]
        timestamp = _parse_timestamp(lowered["webhook-timestamp"])
        header = lowered["webhook-signature"]
    except KeyError as error:
        raise SignatureError(f"missing header {error.args[0]}") from error
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance:
        raise SignatureError("webhook-timestamp is too far from now")
    raw = body.encode() if isinstance(body, str) else body
    expected = sign(secret, webhook_id, timestamp, raw)
    for candidate in header.split():
        if hmac.compare_digest(candidate.encode(), expected.encode()):
            return
    raise SignatureError("no signature matches")
