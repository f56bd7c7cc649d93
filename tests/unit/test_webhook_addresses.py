"""Where a webhook may connect: public addresses only, unless a network is allowed by setting."""

from __future__ import annotations

import ipaddress
import socket

import pytest
from aiohttp.abc import ResolveResult
from aiohttp.resolver import ThreadedResolver
from hypothesis import given
from hypothesis import strategies as st

from registry.outbox import RefusedAddress, _PublicResolver, address_refusal, allowed_networks

NONE: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()


@pytest.mark.parametrize(("address", "why"), [
    ("127.0.0.1", "loopback"), ("127.255.0.9", "loopback"), ("::1", "loopback"),
    ("10.1.2.3", "private"), ("172.16.0.1", "private"), ("192.168.1.1", "private"), ("fd00::1", "private"),
    ("169.254.169.254", "link-local"),  # the cloud metadata service
    ("fe80::1", "link-local"), ("fe80::1%eth0", "link-local"),
    ("224.0.0.1", "multicast"), ("ff02::1", "multicast"),
    ("240.0.0.1", "reserved"), ("0.0.0.0", "unspecified"), ("::", "unspecified"),
    ("100.64.0.1", "not global"),  # carrier-grade NAT
    ("::ffff:127.0.0.1", "loopback"), ("::ffff:10.0.0.1", "private"), ("::ffff:169.254.169.254", "link-local"),
    ("2002:7f00:1::", "loopback"),  # 6to4 of 127.0.0.1
    ("not-an-address", "not an IP address"),
])
def test_non_public_addresses_are_refused(address: str, why: str) -> None:
    found = address_refusal(address, NONE)
    assert found is not None and (found == why or why in found or found in ("private", "reserved")), found


@pytest.mark.parametrize("address", ["93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c", "1.1.1.1"])
def test_public_addresses_pass(address: str) -> None:
    assert address_refusal(address, NONE) is None


def test_the_allow_list_opens_exactly_its_networks() -> None:
    allowed = allowed_networks(["127.0.0.1", "10.1.0.0/16", "::1"])
    assert address_refusal("127.0.0.1", allowed) is None and address_refusal("::1", allowed) is None
    assert address_refusal("::ffff:127.0.0.1", allowed) is None  # the same address, mapped
    assert address_refusal("10.1.200.3", allowed) is None
    assert address_refusal("127.0.0.2", allowed) == "loopback" and address_refusal("10.2.0.1", allowed) == "private"
    with pytest.raises(ValueError, match="not an address"):
        allowed_networks(["localhost"])


def _embedded(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    if not isinstance(ip, ipaddress.IPv6Address):
        return []
    return [v4 for v4 in (ip.ipv4_mapped, ip.sixtofour, ip.teredo[1] if ip.teredo else None) if v4 is not None]


@given(st.ip_addresses())
def test_an_address_is_refused_when_it_or_the_ipv4_inside_it_is_not_public(
        ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> None:
    refused = address_refusal(str(ip), NONE) is not None
    candidates = [ip, *_embedded(ip)]
    if any(not c.is_global for c in candidates):
        assert refused
    if refused:
        assert any(not c.is_global or c.is_reserved or c.is_multicast for c in candidates)


async def test_the_resolver_refuses_a_name_with_any_private_address(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every resolved address is checked, and what the connector gets is what was checked: a name
    answering a public and a private address (or rebinding to one) is refused as a whole."""
    answers: list[list[str]] = [["93.184.215.14"], ["93.184.215.14", "10.0.0.7"], ["127.0.0.1"]]

    async def fake(self: ThreadedResolver, host: str, port: int = 0, family: int = 0) -> list[ResolveResult]:
        return [ResolveResult(hostname=host, host=a, port=port, family=socket.AF_INET, proto=0, flags=0)
                for a in answers.pop(0)]

    monkeypatch.setattr(ThreadedResolver, "resolve", fake)
    resolver = _PublicResolver(())
    first = await resolver.resolve("receiver.example", 443)
    assert [r["host"] for r in first] == ["93.184.215.14"]  # the connector connects to exactly these
    for _ in range(2):
        with pytest.raises(RefusedAddress, match=r"private|loopback"):
            await resolver.resolve("receiver.example", 443)
    await resolver.close()
