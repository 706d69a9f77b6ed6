"""Which webhook URLs the service may call: a guard against server-side request forgery.

A subscriber chooses the URL and the service calls it from inside the operator's network, so a
URL must not reach loopback, private, link-local, multicast, reserved or unspecified addresses
(cloud metadata at 169.254.169.254, the database, admin ports) unless the operator allows it
(`BENEFIT_LEDGER_ALLOW_PRIVATE_WEBHOOKS`, for tests and closed networks). The check runs when a
webhook is registered and again at every attempt, and the worker then connects to the very
address it checked, so a name that resolves elsewhere later (DNS rebinding) cannot slip through.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
MAX_URL_LENGTH = 2048
DEFAULT_PORTS = {"http": 80, "https": 443}
NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
BLOCKED_PROPERTIES = ("loopback", "private", "link_local", "multicast", "reserved", "unspecified")


class UrlRefused(ValueError):
    """The URL may not be called; the message says why, for the caller to read."""


@dataclass(frozen=True)
class Target:
    """A checked URL: where to connect (`addresses`, every one allowed) and what to ask for."""

    url: str
    scheme: str
    host: str
    port: int
    addresses: tuple[IPAddress, ...]


def _split(url: str) -> SplitResult:
    if len(url) > MAX_URL_LENGTH:
        raise UrlRefused(f"the URL is longer than {MAX_URL_LENGTH} characters")
    if any(character.isspace() or ord(character) < 32 for character in url):
        raise UrlRefused("the URL contains whitespace or control characters")
    parts = urlsplit(url)
    if parts.scheme not in DEFAULT_PORTS:
        raise UrlRefused("the URL must start with http:// or https://")
    if not parts.hostname:
        raise UrlRefused("the URL has no host")
    return parts


def _port(parts: SplitResult) -> int:
    try:
        port = parts.port
    except ValueError as error:
        raise UrlRefused("the URL has an invalid port") from error
    return port if port is not None else DEFAULT_PORTS[parts.scheme]


def _embedded(address: IPAddress) -> IPAddress:
    """The IPv4 address an IPv6 one carries (mapped, 6to4, NAT64), which is where it goes."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped
        if address.sixtofour is not None:
            return address.sixtofour
        if address in NAT64:
            return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address


def blocked_reason(address: IPAddress) -> str | None:
    """Why an address may not be called, or None when it is a public one."""
    target = _embedded(address)
    for name in BLOCKED_PROPERTIES:
        if getattr(target, f"is_{name}"):
            return f"{address} is a {name.replace('_', '-')} address"
    if not target.is_global:
        return f"{address} is not a globally routable address"
    return None


def resolve(host: str, port: int) -> tuple[IPAddress, ...]:
    """Every address the host resolves to (an address literal resolves to itself)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as error:
        raise UrlRefused(f"the host {host!r} does not resolve: {error}") from error
    found: list[IPAddress] = []
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        if address not in found:
            found.append(address)
    if not found:
        raise UrlRefused(f"the host {host!r} has no address")
    return tuple(found)


def check_url(url: str, *, allow_private: bool) -> Target:
    """Parse, resolve and check a URL (blocking: it resolves names). Raises UrlRefused."""
    parts = _split(url)
    host = str(parts.hostname)
    port = _port(parts)
    addresses = resolve(host, port)
    if not allow_private:
        for address in addresses:
            reason = blocked_reason(address)
            if reason is not None:
                raise UrlRefused(f"the host {host!r} resolves to {reason}")
    return Target(url, parts.scheme, host, port, addresses)
