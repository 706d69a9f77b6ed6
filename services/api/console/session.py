"""Console sessions: a signed cookie naming an API key, and CSRF tokens for the console's forms.

The cookie holds the key's id, an expiry, a random session id and the generation of the key's
console sessions it was started in, signed with an HMAC keyed by the key's stored hash (as the
stream tokens are, services/ledger/keys.py). Every request reads the key's row again: revoking or
expiring the key ends its sessions at once in every `serve` process, and so does signing out,
which adds one to the key's `console_generation` (schema 6): every cookie of the key issued
before, a copy taken from another browser included, then names an old generation and is
refused. Signing out therefore ends every console session of that key, not only this browser's
(decision: a key is one person's or one desk's; a table of sessions would be needed to end one
session alone, and would need pruning). A restart ends none. The API key itself never leaves the
sign-in form's POST body.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass

SESSION_COOKIE = "console_session"
SIGN_IN_COOKIE = "console_sign_in"  # the sign-in form's CSRF token, before there is a session
SESSION_SECONDS = 8 * 3600  # a working day; sign in again after
SIGN_IN_SECONDS = 3600
COOKIE_PATH = "/console"
SESSION_VERSION = "cs2"  # cs1 cookies (no generation) are refused: sign in again
MAX_COOKIE_CHARS = 512  # a longer value is not ours: refused before any work


@dataclass(frozen=True)
class Session:
    key_id: str
    expires: int  # Unix seconds
    session_id: str
    generation: int  # the key's console_generation when it was started


def _mac(secret: str, *parts: str) -> str:
    digest = hmac.new(secret.encode(), ".".join(parts).encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def new_session(key_id: str, now_seconds: int, generation: int) -> Session:
    return Session(key_id, now_seconds + SESSION_SECONDS, secrets.token_urlsafe(16), generation)


def _fields(session: Session) -> tuple[str, ...]:
    return (
        SESSION_VERSION,
        session.key_id,
        str(session.expires),
        session.session_id,
        str(session.generation),
    )


def session_cookie(session: Session, key_hash: str) -> str:
    fields = _fields(session)
    return ".".join((*fields, _mac(key_hash, *fields)))


def parse_session_cookie(value: str) -> tuple[Session, str] | None:
    """(session, signature) of a well-formed cookie, else None; the signature is checked by
    `session_valid` once the key's hash is read."""
    if len(value) > MAX_COOKIE_CHARS:
        return None
    parts = value.split(".")
    if len(parts) != 6 or parts[0] != SESSION_VERSION:
        return None
    if not (
        parts[2].isascii() and parts[2].isdigit() and parts[4].isascii() and parts[4].isdigit()
    ):
        return None
    return Session(parts[1], int(parts[2]), parts[3], int(parts[4])), parts[5]


def session_valid(
    session: Session, signature: str, key_hash: str, generation: int, now_seconds: int
) -> bool:
    """Signed with the key's hash, not expired, and not signed out since (`generation` is the
    key's console_generation now)."""
    signed = hmac.compare_digest(_mac(key_hash, *_fields(session)), signature)
    return signed and now_seconds < session.expires and session.generation == generation


def csrf_token(session: Session, key_hash: str) -> str:
    """The token every form of this session posts: bound to the session, unguessable without
    the key's hash, so another site cannot forge a post (SameSite=Strict is the second wall)."""
    return _mac(key_hash, "csrf", session.session_id)


def tokens_equal(posted: str | None, expected: str) -> bool:
    """In constant time; a missing or non-ASCII token is simply not equal."""
    if not posted:
        return False
    return hmac.compare_digest(posted.encode(), expected.encode())


def sign_in_token() -> str:
    """A random token for the sign-in form, set as a cookie too: a post must carry both equal
    (double submit), so another site cannot sign a browser in with its own key."""
    return secrets.token_urlsafe(24)


def sign_in_valid(cookie: str | None, posted: str | None) -> bool:
    if not cookie or len(cookie) > MAX_COOKIE_CHARS:
        return False
    return tokens_equal(posted, cookie)
