"""Which URLs a webhook may be sent to: the rules against server-side request forgery.

An endpoint URL names a machine that Tributum's functions will connect to, so it is
checked like untrusted input that wants to reach inside:

* ``https`` only; no user name or password in the URL; no fragment; at most
  2048 characters; an ASCII host name (punycode for others) or an IP address in its
  usual notation (``2130706433`` or ``0x7f.1`` are refused, not guessed at);
* never a name that means "this machine" or "the platform" (``localhost``,
  ``*.localhost``, ``*.local``, ``*.internal``, ``metadata``);
* every address the host resolves to must be publicly routable: no private,
  loopback, link-local (where the cloud's metadata server answers), unique-local,
  multicast, reserved or unspecified address, also not inside an IPv4-mapped, 6to4 or
  NAT64 IPv6 address.

The check runs when an endpoint is created or its URL changed, and again before every
delivery attempt; the attempt then connects to the very address that passed (see
``transport.py``), so a name re-pointed at an internal address after the check (DNS
rebinding) is never reached. Redirects are never followed.

The one exception is :attr:`UrlPolicy.allowed_private_hosts`, the deployment setting
``TRIBUTUM_WEBHOOKS__ALLOWED_PRIVATE_HOSTS``: hosts (``127.0.0.1``) or host:port pairs
(``127.0.0.1:8790``) that may resolve to private addresses and may use ``http``. The
cloud sets it to the empty list (and refuses to start with anything else); the local
stack sets it to its webhook sink.

Pure apart from :func:`system_resolver`: the resolver is passed in.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import urlsplit

from shared.webhooks.rules import MAX_URL_LENGTH

Resolver = Callable[[str, int], Sequence[str]]
IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_HOST_NAME = re.compile(rf"^{_LABEL}(?:\.{_LABEL})*$")
# A label a resolver may read as a number (inet_aton accepts 0x7f, 0177, 2130706433).
_NUMERIC_LABEL = re.compile(r"^(?:0x[0-9a-f]*|[0-9]+)$")
_FORBIDDEN_NAMES = frozenset({"localhost", "metadata", "metadata.google.internal"})
_FORBIDDEN_SUFFIXES = (".localhost", ".local", ".internal")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_DEFAULT_PORTS = {"https": 443, "http": 80}


class UnsafeUrlError(Exception):
    """A URL webhooks must not be sent to; ``code`` says which rule refused it."""

    def __init__(self, code: str, reason: str) -> None:
        self.code = code
        self.reason = reason
        super().__init__(reason)


class UnresolvableHostError(UnsafeUrlError):
    """The host name does not resolve (now): refused at creation, retried at delivery."""


def system_resolver(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to, in the resolver's order (duplicates dropped)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError) as exc:
        raise UnresolvableHostError("url_unresolvable", "the host name does not resolve") from exc
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


@dataclass(frozen=True, slots=True)
class UrlPolicy:
    """The deployment's allowance for private hosts, and how names are resolved."""

    allowed_private_hosts: frozenset[str] = frozenset()
    resolver: Resolver = field(default=system_resolver)


@dataclass(frozen=True, slots=True)
class Target:
    """A URL that passed the syntax rules, taken apart for the connection."""

    url: str
    scheme: Literal["http", "https"]
    host: str  # lower-case, IPv6 without brackets, no trailing dot
    port: int
    request_target: str  # path and query, "/" when the URL has no path
    private_allowed: bool

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == _DEFAULT_PORTS[self.scheme] else f"{host}:{self.port}"


@dataclass(frozen=True, slots=True)
class ResolvedTarget:
    """A target with the addresses it resolved to, all checked; ``address`` is dialled."""

    target: Target
    addresses: tuple[str, ...]

    @property
    def address(self) -> str:
        return self.addresses[0]


def _ip(host: str) -> IpAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def _is_allowed(host: str, port: int, allowed: Collection[str]) -> bool:
    bracketed = f"[{host}]" if ":" in host else host
    return host in allowed or f"{bracketed}:{port}" in allowed


def parse_target(url: str, allowed_private_hosts: Collection[str] = ()) -> Target:
    """``url`` taken apart, or :class:`UnsafeUrlError` for a URL the syntax rules refuse."""
    if len(url) > MAX_URL_LENGTH:
        raise UnsafeUrlError("url_invalid", f"must be at most {MAX_URL_LENGTH} characters")
    if any(ord(c) <= 0x20 or ord(c) == 0x7F for c in url) or not url.isascii():
        raise UnsafeUrlError(
            "url_invalid", "must be ASCII without spaces (percent-encode the rest)"
        )
    try:
        parts = urlsplit(url)
        port_given = parts.port
    except ValueError:
        raise UnsafeUrlError("url_invalid", "is not a valid URL") from None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        raise UnsafeUrlError("url_scheme", "must be an https URL")
    if "@" in parts.netloc:
        raise UnsafeUrlError("url_userinfo", "must not contain a user name or password")
    if parts.fragment or url.endswith("#"):
        raise UnsafeUrlError("url_invalid", "must not contain a fragment")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise UnsafeUrlError("url_invalid", "must name a host")
    port = port_given if port_given is not None else _DEFAULT_PORTS[scheme]
    if port == 0:
        raise UnsafeUrlError("url_invalid", "must not use port 0")
    address = _ip(host)
    if address is None:
        if not _HOST_NAME.match(host):
            raise UnsafeUrlError("url_invalid", "the host is not a valid host name")
        if all(_NUMERIC_LABEL.match(label) for label in host.split(".")):
            raise UnsafeUrlError("url_invalid", "write an IPv4 address as four decimal numbers")
    allowed = _is_allowed(host, port, allowed_private_hosts)
    if not allowed and (host in _FORBIDDEN_NAMES or host.endswith(_FORBIDDEN_SUFFIXES)):
        raise UnsafeUrlError("url_forbidden_host", "must not name a local or internal host")
    if scheme == "http" and not allowed:
        raise UnsafeUrlError("url_scheme", "must be an https URL")
    request_target = parts.path or "/"
    if parts.query:
        request_target = f"{request_target}?{parts.query}"
    return Target(
        url=url,
        scheme="https" if scheme == "https" else "http",
        host=host,
        port=port,
        request_target=request_target,
        private_allowed=allowed,
    )


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def refused_address(text: str) -> str | None:
    """Why a connection to ``text`` is refused, or None for a publicly routable address."""
    address = _ip(text.split("%", 1)[0])
    if address is None:
        return "is not an IP address"
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            reason = refused_address(str(embedded))
            if reason is not None:
                return reason
    if address.is_loopback:
        return "is a loopback address"
    if address.is_link_local:
        return "is a link-local address (where metadata servers answer)"
    if address.is_private:
        return "is a private address"
    if address.is_multicast or address.is_unspecified or address.is_reserved:
        return "is not a unicast address"
    if not address.is_global:
        return "is not a publicly routable address"
    return None


def check_addresses(target: Target, addresses: Sequence[str]) -> None:
    """Every address must be public, unless the deployment allows this host."""
    if not addresses:
        raise UnresolvableHostError("url_unresolvable", "the host name does not resolve")
    if target.private_allowed:
        return
    for address in addresses:
        reason = refused_address(address)
        if reason is not None:
            # The address itself stays out of the message: it may be internal topology.
            raise UnsafeUrlError("url_private_address", f"the host resolves to what {reason}")


def resolve_target(url: str, policy: UrlPolicy) -> ResolvedTarget:
    """``url`` parsed, resolved and every address checked; raises :class:`UnsafeUrlError`."""
    target = parse_target(url, policy.allowed_private_hosts)
    literal = _ip(target.host)
    addresses = (
        (str(literal),)
        if literal is not None
        else tuple(dict.fromkeys(policy.resolver(target.host, target.port)))
    )
    check_addresses(target, addresses)
    return ResolvedTarget(target, addresses)
