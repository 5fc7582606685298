"""Which addresses a sync may connect to: public ones, and those the operator allows.

A followed feed is input from outside. Its items, a sitemap's URLs, or a redirect of any of
them may point at the machine newsrag runs on (``127.0.0.1``: its admin routes, a database),
at the cloud's metadata service (``169.254.169.254``) or into the intranet (``10.x``,
``192.168.x``, ``fd00::/8``); fetched, such a page would be stored and quoted in answers
(issue 15 reproduced exactly that). So every connection a sync opens is checked where it is
opened, in the network backend under httpx: the host name is resolved once, every address
it resolves to must be public, and the socket is connected to one of those checked addresses,
never to the name resolved again (a DNS answer that changes between the check and the
connection cannot slip a private address through). robots.txt, feeds, sitemaps, pages and
each redirect hop are connections of the one client of ``fetch.Fetcher``, so all are checked
alike, whatever the URL looks like (``http://localhost.``, ``http://2130706433/``, a public
name whose DNS answers ``127.0.0.1``).

Not public: loopback, private (RFC 1918, ULA ``fc00::/7``), link-local, unspecified,
carrier-grade NAT (``100.64.0.0/10``), documentation, benchmarking, reserved, broadcast and
multicast addresses (``ipaddress``'s ``is_global``, and not multicast); an IPv4 address
carried inside an IPv6 one (``::ffff:a.b.c.d``, 6to4, NAT64) is judged as that IPv4 address.

An intranet feed is a real case: ``NEWSRAG_FETCH_ALLOW`` names the host names (matched as
written, whatever they resolve to), addresses and networks (``10.0.0.0/8``) that may be
fetched all the same.

Through an HTTP proxy from the environment (``HTTP_PROXY``, ``HTTPS_PROXY``, ``ALL_PROXY``,
and ``NO_PROXY`` as urllib reads it; httpx used them before, and a transport of our own turns
its reading off) the proxy opens the connection: the target's name is resolved and checked
here first, and the proxy resolves it again, so there the proxy's own rules are the last
word.
"""

from __future__ import annotations

import ipaddress
import re
import socket
import time
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import httpcore
import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], list[str]]  # host, port -> its addresses

ALLOW_SETTING = "NEWSRAG_FETCH_ALLOW"
_HOST_NAME = re.compile(r"^[a-z0-9_-]+(\.[a-z0-9_-]+)*$")  # as rag/config.py checks it
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_SHARED = ipaddress.IPv4Network("100.64.0.0/10")


class AddressRefused(Exception):
    """A connection the policy refuses; ``reason`` names the host, the address and the fix."""

    def __init__(self, host: str, reason: str) -> None:
        super().__init__(reason)
        self.host = host
        self.reason = reason


def parse_allow_entry(entry: str) -> str | IPNetwork:
    """One ``NEWSRAG_FETCH_ALLOW`` entry as a network, or a host name (lower case, ASCII).

    Raises ValueError with what to write instead.
    """
    text = entry.strip().lower().rstrip(".")
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError:
        pass
    try:
        name = text.encode("idna").decode("ascii")
    except UnicodeError:
        name = ""
    if not _HOST_NAME.match(name):
        raise ValueError(
            f"{entry!r} is neither a host name, an IP address nor a network: write e.g. "
            "news.intra, 10.1.2.3 or 10.0.0.0/8"
        )
    return name


def not_public(address: IPAddress) -> str | None:
    """What kind of non-public address ``address`` is ("a loopback address"), or None."""
    if isinstance(address, ipaddress.IPv6Address):
        inner = address.ipv4_mapped or address.sixtofour
        if inner is None and address in _NAT64:
            inner = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if inner is None and address.teredo:
            inner = address.teredo[1]
        if inner is not None:
            return not_public(inner)
    checks = (
        (address.is_loopback, "a loopback address"),
        (address.is_unspecified, "an unspecified address"),
        (address.is_link_local, "a link-local address"),
        (address.is_multicast, "a multicast address"),
        (isinstance(address, ipaddress.IPv4Address) and address in _SHARED,
         "a carrier-grade NAT address"),
        (address.is_private, "a private address"),
        (address.is_reserved, "a reserved address"),
        (not address.is_global, "not a public address"),
    )  # fmt: skip
    return next((what for hit, what in checks if hit), None)


def system_resolver(host: str, port: int) -> list[str]:
    """The addresses of ``host`` (getaddrinfo, in its order, without duplicates)."""
    found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in found))


@dataclass(frozen=True)
class AddressGuard:
    """The connection policy: public addresses, plus the allowed hosts and networks."""

    hosts: frozenset[str] = frozenset()
    networks: tuple[IPNetwork, ...] = ()
    resolve: Resolver = system_resolver

    @classmethod
    def allowing(cls, entries: Iterable[str], resolve: Resolver = system_resolver) -> AddressGuard:
        hosts: set[str] = set()
        networks: list[IPNetwork] = []
        for entry in entries:
            parsed = parse_allow_entry(entry)
            if isinstance(parsed, str):
                hosts.add(parsed)
            else:
                networks.append(parsed)
        return cls(frozenset(hosts), tuple(networks), resolve)

    def addresses(self, host: str, port: int) -> list[str]:
        """The addresses to connect to for ``host``, all allowed; or AddressRefused.

        Raises OSError when the name cannot be resolved.
        """
        name = host.lower().rstrip(".").strip("[]")
        literal = _ip(name)
        found = [name] if literal is not None else self.resolve(host, port)
        if name in self.hosts:
            return found
        for address in found:
            ip = _ip(address.split("%", 1)[0])  # checked without its IPv6 scope (%eth0)
            if ip is None:
                raise AddressRefused(host, f"{host} resolves to {address!r}, not an IP address")
            what = not_public(ip)
            if what is not None and not any(ip in net for net in self.networks):
                shown = host if literal is not None else f"{host} (resolves to {ip})"
                raise AddressRefused(host, _refusal(shown, what, host))
        return found


def _refusal(shown: str, what: str, host: str) -> str:
    return (
        f"not fetched: {shown} is {what}, and a sync fetches only from public addresses "
        f"(a feed or a redirect pointing inside the network is refused); for an intranet "
        f"feed you trust, set {ALLOW_SETTING}={host} (host names, addresses or networks such "
        "as 10.0.0.0/8, comma-separated) and sync again"
    )


def _ip(text: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


# --- under httpx ------------------------------------------------------------------------------
class _GuardedBackend(httpcore.NetworkBackend):
    """httpcore's sync backend, connecting only to the addresses the guard checked."""

    def __init__(self, guard: AddressGuard) -> None:
        self._guard = guard
        self._inner = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        try:
            addresses = self._guard.addresses(host, port)
        except OSError as err:  # the name does not resolve: reported as a failed connection
            raise httpcore.ConnectError(f"{host}: {err}") from err
        error: Exception | None = None
        for address in addresses:
            try:
                return self._inner.connect_tcp(
                    address, port, timeout, local_address, socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as err:
                error = err
        raise error or httpcore.ConnectError(f"{host} has no address")

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.NetworkStream:
        raise httpcore.ConnectError("a sync connects to no unix socket")

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


class _DirectTransport(httpx.HTTPTransport):
    """httpx's own transport (the request and response mapping, its errors) whose connection
    pool opens its sockets through the guard. httpx has no public way to hand its pool a
    network backend, so the pool is replaced: the SSRF tests fail if that stops working."""

    def __init__(self, guard: AddressGuard) -> None:
        super().__init__()
        self._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(),
            max_connections=100,  # httpx's default limits
            max_keepalive_connections=20,
            keepalive_expiry=5.0,
            network_backend=_GuardedBackend(guard),
        )


class GuardedTransport(httpx.BaseTransport):
    """The transport of a sync's client: direct connections through the guard, and the
    environment's proxies (as httpx would use them) with the target checked first."""

    def __init__(self, guard: AddressGuard) -> None:
        self._guard = guard
        self._direct = _DirectTransport(guard)
        self._proxies = urllib.request.getproxies_environment()
        self._via: dict[str, httpx.HTTPTransport] = {}

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        proxy = self._proxy_for(request.url)
        if proxy is None:
            return self._direct.handle_request(request)
        port = request.url.port or (443 if request.url.scheme == "https" else 80)
        try:
            self._guard.addresses(request.url.host, port)  # the proxy resolves it again
        except OSError as err:
            raise httpx.ConnectError(f"{request.url.host}: {err}", request=request) from err
        transport = self._via.get(proxy)
        if transport is None:
            transport = self._via[proxy] = httpx.HTTPTransport(proxy=proxy)
        return transport.handle_request(request)

    def _proxy_for(self, url: httpx.URL) -> str | None:
        proxy = self._proxies.get(url.scheme) or self._proxies.get("all")
        if not proxy:
            return None
        if urllib.request.proxy_bypass(url.host):  # NO_PROXY
            return None
        return proxy if "://" in proxy else f"http://{proxy}"

    def close(self) -> None:
        self._direct.close()
        for transport in self._via.values():
            transport.close()
