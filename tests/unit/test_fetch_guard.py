"""Which addresses a sync may connect to (ingest/web/guard.py) and NEWSRAG_FETCH_ALLOW."""

from __future__ import annotations

import ipaddress

import pytest
from pydantic import ValidationError

from ingest.source_sync import fetch_policy
from ingest.web.fetch import FetchPolicy
from ingest.web.guard import AddressGuard, AddressRefused, not_public
from rag.config import Settings


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("127.0.0.1", "loopback"), ("127.8.9.10", "loopback"), ("::1", "loopback"),
        ("0.0.0.0", "unspecified"), ("::", "unspecified"),
        ("169.254.169.254", "link-local"), ("fe80::1", "link-local"),
        ("10.1.2.3", "private"), ("172.16.0.1", "private"), ("192.168.1.1", "private"),
        ("fd00::1", "private"), ("100.64.0.1", "carrier-grade NAT"),
        ("224.0.0.1", "multicast"), ("255.255.255.255", "private"),
        ("192.0.2.1", "private"),  # documentation
        ("::ffff:127.0.0.1", "loopback"), ("::ffff:10.0.0.1", "private"),  # IPv4 in IPv6
        ("2002:7f00:1::1", "loopback"),  # 6to4 of 127.0.0.1
        ("64:ff9b::a9fe:a9fe", "link-local"),  # NAT64 of 169.254.169.254
        ("8.8.8.8", None), ("2001:4860:4860::8888", None), ("93.184.215.14", None),
    ],
)  # fmt: skip
def test_what_is_not_a_public_address(address, kind):
    what = not_public(ipaddress.ip_address(address))
    assert (what is None) if kind is None else (kind in str(what))


def test_the_guard_checks_every_address_a_name_resolves_to():
    dns = {"public.example": ["8.8.8.8"], "mixed.example": ["8.8.4.4", "10.0.0.7"],
           "news.intra": ["10.1.2.3"], "lab.example": ["192.168.5.5"]}  # fmt: skip
    guard = AddressGuard.allowing(
        ["news.intra", "192.168.0.0/16"], lambda h, _p: dns[h.lower().rstrip(".")]
    )
    assert guard.addresses("public.example", 443) == ["8.8.8.8"]
    assert guard.addresses("news.intra", 80) == ["10.1.2.3"]  # allowed by name
    assert guard.addresses("lab.example", 80) == ["192.168.5.5"]  # allowed by network
    assert guard.addresses("NEWS.INTRA.", 80) == ["10.1.2.3"]
    with pytest.raises(AddressRefused) as refused:
        guard.addresses("mixed.example", 80)
    reason = refused.value.reason
    assert "mixed.example (resolves to 10.0.0.7) is a private address" in reason
    assert "NEWSRAG_FETCH_ALLOW=mixed.example" in reason
    with pytest.raises(AddressRefused, match=r"127\.0\.0\.1 is a loopback address"):
        guard.addresses("127.0.0.1", 80)  # a literal address is not resolved
    with pytest.raises(AddressRefused, match="is a loopback address"):
        AddressGuard().addresses("::1", 80)


def test_fetch_allow_is_read_from_the_settings_and_checked():
    settings = Settings(fetch_allow="news.intra, 10.0.0.0/8,[fd00::1],Bücher.example")
    assert settings.fetch_allow == ["news.intra", "10.0.0.0/8", "[fd00::1]", "Bücher.example"]
    policy = fetch_policy(settings)
    assert policy.allow == ("news.intra", "10.0.0.0/8", "[fd00::1]", "Bücher.example")
    assert Settings(fetch_allow='["127.0.0.1"]').fetch_allow == ["127.0.0.1"]
    assert Settings().fetch_allow == [] and fetch_policy(Settings()).allow == ()
    with pytest.raises(ValidationError, match="neither a host name, an IP address nor a network"):
        Settings(fetch_allow="http://news.intra/feed")
    with pytest.raises(ValueError, match="neither a host name"):
        FetchPolicy(allow=("10.0.0.0/8", "a b"))
