"""The one HTTP client for URLs a tenant supplies (webhooks, MCP proxy, OpenAPI import): SSRF-safe.

The host is resolved once, every address is checked, and the connection goes to a checked address
(no second lookup, so no DNS rebinding); TLS SNI, certificate checks and the Host header keep the
hostname. Redirects are never followed. Built on urllib3 directly: no cookie jar shared between
tenants, no proxy settings from the environment, and the address to connect to is simply the pool's
host. Hosts in OUTBOUND_ALLOWED_HOSTS (tests, local development) skip the address check and may use
plain http.
"""

from __future__ import annotations

import http.client
import socket
import ssl
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address, ip_network

from flask import current_app
from urllib3 import BaseHTTPResponse, HTTPHeaderDict, PoolManager, Timeout
from urllib3.exceptions import (
    ConnectTimeoutError,
    HTTPError,
    LocationParseError,
    NewConnectionError,
    ReadTimeoutError,
)
from urllib3.util import parse_url

IPAddress = IPv4Address | IPv6Address

# Refused by name, before the generic checks below: `is_global` lets some of these through
# (Python 3.11), the translation ranges embed an IPv4 address that may be private, and the rest get
# a clearer message than "private network".
_DENIED: dict[IPv4Network | IPv6Network, str] = {
    ip_network("100.64.0.0/10"): "carrier-grade NAT",
    ip_network("192.0.0.0/24"): "IETF protocol assignments",
    ip_network("192.0.2.0/24"): "documentation",
    ip_network("198.51.100.0/24"): "documentation",
    ip_network("203.0.113.0/24"): "documentation",
    ip_network("198.18.0.0/15"): "benchmarking",
    ip_network("192.88.99.0/24"): "6to4 relay",
    ip_network("64:ff9b::/96"): "NAT64",
    ip_network("64:ff9b:1::/48"): "NAT64",
    ip_network("2001::/32"): "Teredo",
    ip_network("2002::/16"): "6to4",
    ip_network("2001:db8::/32"): "documentation",
    ip_network("3fff::/20"): "documentation",
}
_IPV4_COMPATIBLE = ip_network("::/96")

_local = threading.local()


class OutboundError(Exception):
    """A request that could not be made or did not complete; str(exc) is one line, safe to show the tenant."""


class BlockedUrl(OutboundError):  # noqa: N818 (the name callers use)
    """The URL is refused by policy (scheme, credentials, missing host, blocked address)."""


@dataclass(frozen=True)
class OutboundResponse:
    status_code: int
    headers: Mapping[str, str]
    content: bytes  # at most max_response_bytes (the rest is not read)
    elapsed_ms: int


@dataclass(frozen=True)
class _Target:
    scheme: str
    host: str  # as sent in the Host header: lowercase, IDNA-encoded, an IPv6 literal in brackets
    port: int
    path: str  # path and query; the fragment is never sent
    allowed: bool  # listed in OUTBOUND_ALLOWED_HOSTS

    @property
    def hostname(self) -> str:
        return self.host.strip("[]")

    @property
    def host_header(self) -> str:
        default = 443 if self.scheme == "https" else 80
        return self.host if self.port == default else f"{self.host}:{self.port}"


def check_url(url: str) -> None:
    """Validation when a tenant saves a URL: raise BlockedUrl unless it may be used.

    https only (http too for an allow-listed host), no credentials, a host, and every address the
    host has now is allowed. A host that does not resolve now is accepted: request() will say so.
    """
    target = _parse(url)
    if not target.allowed:
        _check_addresses(target, _lookup(target))


def request(
    method: str,
    url: str,
    *,
    headers: Mapping[str, str] | None = None,
    body: bytes | None = None,
    connect_timeout: float = 5.0,
    total_timeout: float = 15.0,
    max_response_bytes: int = 4096,
) -> OutboundResponse:
    """Make one request to the checked address: no redirects (a 3xx is returned), no retries.

    `total_timeout` bounds everything after the DNS lookup, reading the body included. Raises
    BlockedUrl as check_url() does, OutboundError for anything else that goes wrong.
    """
    started = time.monotonic()
    deadline = started + total_timeout
    target = _parse(url)
    addresses = _lookup(target)
    if not addresses:
        raise OutboundError(f"Could not resolve host {target.hostname}")
    if not target.allowed:
        _check_addresses(target, addresses)
    send_headers = HTTPHeaderDict(headers or {})
    send_headers["Host"] = target.host_header  # the pool's host is an address
    try:
        response = _send(method, target, addresses, send_headers, body, connect_timeout, deadline)
        content = _read_body(response, deadline, max_response_bytes)
    except ValueError:
        # http.client refuses a malformed method or header; its message quotes the (maybe secret) value
        raise OutboundError("Invalid request method or header") from None
    except _DeadlineError:
        raise OutboundError(f"Timed out after {total_timeout:g} s") from None
    except (HTTPError, http.client.HTTPException, OSError) as exc:
        raise OutboundError(_describe(exc, connect_timeout, total_timeout)) from exc
    return OutboundResponse(
        status_code=response.status,
        headers=response.headers,
        content=content,
        elapsed_ms=int((time.monotonic() - started) * 1000),
    )


def _parse(url: str) -> _Target:
    # urllib3's parser is the one whose result we connect to, so the check and the request agree
    try:
        parts = parse_url(url)
    except LocationParseError:
        raise BlockedUrl("Invalid URL") from None
    if not parts.host:
        raise BlockedUrl("The URL has no host")
    if parts.auth is not None:
        raise BlockedUrl("Credentials in the URL are not allowed")
    allowed_hosts = {host.strip().strip("[]").lower() for host in current_app.config["OUTBOUND_ALLOWED_HOSTS"]}
    allowed = parts.host.strip("[]") in allowed_hosts
    if not (parts.scheme == "https" or (parts.scheme == "http" and allowed)):
        raise BlockedUrl("Only https URLs are allowed")
    default_port = 443 if parts.scheme == "https" else 80
    return _Target(
        scheme=parts.scheme,
        host=parts.host,
        port=default_port if parts.port is None else parts.port,
        path=parts.request_uri,
        allowed=allowed,
    )


def _lookup(target: _Target) -> list[IPAddress]:
    """Every address of the host, in the resolver's order; empty when it does not resolve."""
    if _is_ip_literal(target.hostname):
        return [ip_address(target.hostname)]  # as written, even with a zone the resolver rejects
    try:
        infos = socket.getaddrinfo(target.hostname, target.port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return []
    return list(dict.fromkeys(ip_address(info[4][0]) for info in infos))


def _check_addresses(target: _Target, addresses: list[IPAddress]) -> None:
    for address in addresses:
        reason = _refusal(address)
        if reason is None:
            continue
        if _is_ip_literal(target.hostname):
            raise BlockedUrl(f"Address {target.hostname} is not allowed ({reason})")
        raise BlockedUrl(f"{target.hostname} resolves to {address}, which is not allowed ({reason})")


def _is_ip_literal(host: str) -> bool:
    try:
        ip_address(host)
    except ValueError:
        return False
    return True


def _refusal(address: IPAddress) -> str | None:
    """Why `address` may not be contacted, or None for a public unicast address."""
    ip = address
    if isinstance(ip, IPv6Address):
        # ::ffff:a.b.c.d and the deprecated ::a.b.c.d reach the IPv4 address (:: and ::1 are themselves)
        if ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        elif ip in _IPV4_COMPATIBLE and not (ip.is_loopback or ip.is_unspecified):
            ip = IPv4Address(int(ip))
    for network, name in _DENIED.items():
        if ip in network:
            return name
    if ip.is_loopback:
        return "loopback"
    if ip.is_link_local:
        return "link-local"
    if ip.is_multicast:
        return "multicast"
    if ip.is_unspecified or ip.is_reserved:
        return "reserved"
    if ip.is_private:
        return "private network"
    if not ip.is_global:
        return "not a public address"
    return None


class _DeadlineError(Exception):
    """total_timeout ran out."""


def _remaining(deadline: float) -> float:
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise _DeadlineError
    return remaining


def _pools() -> PoolManager:
    # One per thread, kept: a thread's keep-alive connections are reused by its next requests.
    pools: PoolManager | None = getattr(_local, "pools", None)
    if pools is None:
        pools = _local.pools = PoolManager()
    return pools


def _send(
    method: str,
    target: _Target,
    addresses: list[IPAddress],
    headers: HTTPHeaderDict,
    body: bytes | None,
    connect_timeout: float,
    deadline: float,
) -> BaseHTTPResponse:
    # SNI and certificate verification are done against the hostname, not the address connected to
    pool_kwargs = {"server_hostname": target.hostname} if target.scheme == "https" else None

    def attempt(address: IPAddress) -> BaseHTTPResponse:
        pool = _pools().connection_from_host(str(address), target.port, target.scheme, pool_kwargs)
        remaining = _remaining(deadline)
        return pool.urlopen(
            method,
            target.path,
            body=body,
            headers=headers,
            retries=False,
            redirect=False,
            timeout=Timeout(total=remaining, connect=min(connect_timeout, remaining)),
            preload_content=False,
            decode_content=False,  # the size limit applies to the bytes on the wire
        )

    *others, last = addresses
    for address in others:
        try:
            return attempt(address)
        except ConnectTimeoutError:  # also NewConnectionError: nothing was sent, try the next address
            continue
    return attempt(last)


def _read_body(response: BaseHTTPResponse, deadline: float, limit: int) -> bytes:
    # read1 returns what one recv() gives, so a server trickling bytes cannot keep a read going;
    # each read's socket timeout is the time left, so a stalling one cannot either.
    sock = getattr(response.connection, "sock", None)
    content = bytearray()
    try:
        while len(content) < limit:
            remaining = _remaining(deadline)
            if sock is not None:  # None once urllib3 has seen the whole body
                sock.settimeout(remaining)
            chunk = response.read1(limit - len(content))
            if not chunk:
                break
            content += chunk
    finally:
        # At the end of the body urllib3 has already put the connection back in the pool; otherwise
        # unread bytes remain, so the connection is closed rather than reused.
        response.close()
        response.release_conn()
    return bytes(content)


def _describe(exc: BaseException, connect_timeout: float, total_timeout: float) -> str:
    """A one-line message for the tenant: no traceback, no header values."""
    if isinstance(exc, ReadTimeoutError):
        return f"Timed out after {total_timeout:g} s"
    if isinstance(exc, ConnectTimeoutError) and not isinstance(exc, NewConnectionError):
        return f"Timed out connecting after {min(connect_timeout, total_timeout):g} s"
    for cause in _chain(exc):
        if isinstance(cause, TimeoutError):  # socket.timeout while sending the request
            return f"Timed out after {total_timeout:g} s"
        if isinstance(cause, http.client.RemoteDisconnected):
            return "The server closed the connection without a response"
        if isinstance(cause, ssl.SSLCertVerificationError):
            return f"TLS certificate verification failed: {cause.verify_message}"
        if isinstance(cause, ssl.SSLError):
            return f"TLS handshake failed: {cause.reason or cause.__class__.__name__}"
        if isinstance(cause, OSError) and cause.strerror:
            return cause.strerror  # e.g. "Connection refused", "Network is unreachable"
        if isinstance(cause, http.client.HTTPException):
            return "The server did not send a valid HTTP response"
    return f"The request failed ({exc.__class__.__name__})"


def _chain(exc: BaseException | None) -> Iterator[BaseException]:
    while exc is not None:
        yield exc
        exc = exc.__cause__ or exc.__context__
