"""Requests that come through a reverse proxy of ours (nginx terminating TLS, docs/deploy-https.md):
the client's address and the scheme from ``X-Forwarded-For`` and ``X-Forwarded-Proto``, believed
only when the TCP peer is one of the trusted proxies (``SEMON_API_TRUSTED_PROXIES``), since anyone
else can send those headers.

The client is the right-most address of ``X-Forwarded-For`` that is not a trusted proxy (each
proxy appends the address it saw; what the client itself wrote stands to the left and is
skipped). The login throttle (``web.throttle``) and the logs then see the desk PC, not the proxy,
and the WebSocket origin check sees ``https``."""

from __future__ import annotations

import ipaddress
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

from aiohttp import web
from aiohttp.typedefs import Middleware

_Network = ipaddress.IPv4Network | ipaddress.IPv6Network
_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    text = text.strip()
    if text.startswith("[") and "]" in text:  # [v6]:port
        text = text[1:text.index("]")]
    elif text.count(":") == 1:  # v4:port
        text = text.partition(":")[0]
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class TrustedProxies:
    """The proxies whose forwarding headers are believed (empty: none)."""

    networks: tuple[_Network, ...] = ()

    @classmethod
    def of(cls, items: Iterable[str]) -> TrustedProxies:
        """From addresses or networks (``"127.0.0.1"``, ``"10.1.0.0/16"``, ``"::1"``); ValueError
        for anything else (``ApiSettings`` checked them already)."""
        return cls(tuple(ipaddress.ip_network(item, strict=False) for item in items))

    def trusts(self, peer: str | None) -> bool:
        address = _address(peer) if peer else None
        return address is not None and any(address in network for network in self.networks)

    def client(self, peer: str | None, forwarded_for: str | None) -> str | None:
        """The client's address: the right-most of ``forwarded_for`` not a trusted proxy, when
        ``peer`` is one; else ``peer``. A malformed entry ends the walk: what stands left of it
        cannot be told apart from the client's own writing, so the entry right of it is taken."""
        if not forwarded_for or not self.trusts(peer):
            return peer
        client = peer
        for item in reversed(forwarded_for.split(",")):
            address = _address(item)
            if address is None:
                break
            client = str(address)
            if not self.trusts(client):
                break
        return client

    def scheme(self, peer: str | None, forwarded_proto: str | None, given: str) -> str:
        """``https`` or ``http`` from the proxy's ``X-Forwarded-Proto`` (its last value), else ``given``."""
        if not forwarded_proto or not self.trusts(peer):
            return given
        last = forwarded_proto.split(",")[-1].strip().lower()
        return last if last in ("http", "https") else given


def proxy_middleware(proxies: TrustedProxies) -> Middleware:
    """An aiohttp middleware giving handlers the client's address (``request.remote``) and scheme
    (``request.scheme``) as the trusted proxy saw them; with no proxies, requests pass unchanged."""

    @web.middleware
    async def forwarded(request: web.Request, handler: _Handler) -> web.StreamResponse:
        peer = request.remote
        if not proxies.trusts(peer):
            return await handler(request)
        remote = proxies.client(peer, request.headers.get("X-Forwarded-For")) or "?"
        scheme = proxies.scheme(peer, request.headers.get("X-Forwarded-Proto"), request.scheme)
        return await handler(request.clone(remote=remote, scheme=scheme))

    return forwarded
