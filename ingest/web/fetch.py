"""One polite HTTP client for a sync: robots.txt, a per-host delay, conditional GET, limits.

Every request of a sync goes through one ``Fetcher``, so the rules hold across sources on
the same host:
- robots.txt is read once per host and sync, or taken from ``robots_cache`` when read less
  than ``ROBOTS_TTL`` ago (RFC 9309 allows a day); a 4xx robots.txt allows everything, a 5xx
  one, or a host that cannot be reached, allows nothing until the next sync; every URL,
  redirect targets included, is checked against it for our User-Agent;
- two requests to one host are at least ``host_delay`` seconds apart (robots.txt's
  Crawl-delay wins when it is longer, up to ``MAX_CRAWL_DELAY``);
- ``If-None-Match`` / ``If-Modified-Since`` are sent when the caller has validators, so an
  unchanged feed or page costs a 304 and no body;
- redirects are followed by hand, at most ``max_redirects``, and a loop is named as such;
- only public addresses are connected to, for every request and redirect hop, unless the
  policy's ``allow`` names the host or network (``guard.py``: loopback, private and
  link-local addresses are refused where the connection is opened, after DNS);
- the whole response must arrive within ``timeout`` seconds and be at most ``max_bytes``
  (after content decoding, so a compressed bomb stops at the limit too).
A URL that fails raises ``FetchError`` with a reason for the sync's per-URL report; it is
not a ``NewsragError``, because one bad URL never stops a sync.
"""

from __future__ import annotations

import logging
import time
import urllib.robotparser
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urljoin, urlsplit

if TYPE_CHECKING:
    from .guard import Resolver

log = logging.getLogger(__name__)

ROBOTS_TTL = 3600.0  # seconds a robots.txt read is used again (RFC 9309: at most 24 h)
MAX_CRAWL_DELAY = 30.0  # a robots.txt asking for minutes between requests is not followed
ROBOTS_MAX_BYTES = 512 * 1024  # RFC 9309: crawlers may stop reading at 500 KiB
_REDIRECTS = (301, 302, 303, 307, 308)


@dataclass(frozen=True)
class FetchPolicy:
    """How politely and how far a sync fetches (from Settings: NEWSRAG_FETCH_*)."""

    user_agent: str = "newsrag/0.1"
    timeout: float = 20.0
    max_bytes: int = 10 * 1024 * 1024
    max_redirects: int = 5
    host_delay: float = 1.0
    # hosts, addresses and networks fetched although not public (NEWSRAG_FETCH_ALLOW)
    allow: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        # guard builds on httpx (0.3 s to import): loaded when a fetch is set up, not before
        from .guard import parse_allow_entry

        if self.timeout <= 0 or self.max_bytes <= 0 or self.max_redirects < 0:
            raise ValueError("timeout and max_bytes must be positive, max_redirects >= 0")
        for entry in self.allow:
            parse_allow_entry(entry)  # ValueError with what to write

    @property
    def robots_agent(self) -> str:
        """The product token robots.txt groups are matched against ("newsrag")."""
        return self.user_agent.split("/", 1)[0].split()[0] or "newsrag"


@dataclass(frozen=True)
class Fetched:
    """A successful answer: a body (status 200) or 304 Not Modified (``body`` empty)."""

    url: str  # as asked for
    final_url: str  # after redirects
    status: int
    content_type: str  # the media type, lower case, without parameters ("" when not given)
    charset: str | None
    body: bytes
    etag: str | None
    last_modified: str | None

    @property
    def not_modified(self) -> bool:
        return self.status == 304


class FetchError(Exception):
    """A URL that could not be fetched; ``reason`` says why and what happens next."""

    def __init__(
        self, url: str, reason: str, *, disallowed: bool = False, refused: bool = False
    ) -> None:
        super().__init__(f"{url}: {reason}")
        self.url = url
        self.reason = reason
        self.disallowed = disallowed  # by robots.txt: a rule followed, not a failure
        self.refused = refused  # not a public address and not allowed (guard.py)


class RobotsCache(Protocol):
    """Where robots.txt files read in earlier syncs are kept (``SourceRegistry``)."""

    def robots(self, origin: str, max_age: float) -> str | None: ...

    def save_robots(self, origin: str, text: str) -> None: ...


@dataclass
class _Host:
    robots: urllib.robotparser.RobotFileParser | None = None
    unreachable: str | None = None  # why robots.txt could not be read: nothing is fetched
    refused: bool = False  # because the host's address is not public (guard.py)
    last_request: float | None = None
    delay: float = 0.0


class Fetcher:
    """GETs for one sync. Not thread-safe: one sync fetches one URL at a time."""

    def __init__(
        self,
        policy: FetchPolicy,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        robots_cache: RobotsCache | None = None,
        resolve: Resolver | None = None,
    ) -> None:
        """``resolve`` (host, port -> addresses) stands in for DNS in tests."""
        import httpx

        # with httpx, only when something is fetched (see __post_init__)
        from .guard import AddressGuard, GuardedTransport, system_resolver

        self.policy = policy
        self._robots_cache = robots_cache
        self._clock = clock
        self._sleep = sleep
        self._hosts: dict[str, _Host] = {}
        self.requests = 0  # every request sent, robots.txt included (the sync reports it)
        guard = AddressGuard.allowing(policy.allow, resolve or system_resolver)
        self._client = httpx.Client(
            headers={"User-Agent": policy.user_agent},
            timeout=httpx.Timeout(policy.timeout),
            follow_redirects=False,
            transport=GuardedTransport(guard),
        )

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> Fetcher:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # --- robots.txt -----------------------------------------------------------------------
    def allowed(self, url: str) -> bool:
        host = self._host(url)
        return host.robots is not None and host.robots.can_fetch(self.policy.robots_agent, url)

    def sitemaps(self, url: str) -> list[str]:
        """The ``Sitemap:`` lines of the robots.txt of ``url``'s host."""
        host = self._host(url)
        if host.unreachable:
            raise FetchError(url, host.unreachable, refused=host.refused)
        found = host.robots.site_maps() if host.robots is not None else None
        return list(dict.fromkeys(found or []))

    def _host(self, url: str) -> _Host:
        key = _origin(url)
        host = self._hosts.get(key)
        if host is None:
            host = self._hosts[key] = _Host(delay=self.policy.host_delay)
            self._read_robots(key, host)
        return host

    def _read_robots(self, origin: str, host: _Host) -> None:
        robots_url = f"{origin}/robots.txt"
        parser = urllib.robotparser.RobotFileParser(robots_url)
        cached = self._robots_cache.robots(origin, ROBOTS_TTL) if self._robots_cache else None
        if cached is not None:
            self._use_robots(parser, cached, host)
            return
        try:
            fetched = self._get(robots_url, {}, host, ROBOTS_MAX_BYTES, check_robots=False)
        except FetchError as err:
            if err.refused:  # not a public address: nothing on it is fetched, and why
                host.unreachable, host.refused = err.reason, True
                return
            if err.reason.startswith("HTTP 4"):  # RFC 9309: unavailable, everything allowed
                self._use_robots(parser, "", host)
                if self._robots_cache:
                    self._robots_cache.save_robots(origin, "")
                return
            # RFC 9309: unreachable (5xx, network): assume everything is disallowed for now
            host.unreachable = (
                err.reason
                if err.reason.startswith(("cannot connect", "no complete answer"))
                else f"its robots.txt could not be read ({err.reason}), so nothing on "
                f"{origin} is fetched; retried at the next sync"
            )
            return
        try:
            text = fetched.body.decode(fetched.charset or "utf-8", errors="replace")
        except LookupError:  # a charset no codec knows: robots.txt is ASCII in practice
            text = fetched.body.decode("utf-8", errors="replace")
        self._use_robots(parser, text, host)
        if self._robots_cache:
            self._robots_cache.save_robots(origin, text)

    def _use_robots(
        self, parser: urllib.robotparser.RobotFileParser, text: str, host: _Host
    ) -> None:
        parser.parse(text.splitlines())
        host.robots = parser
        delay = parser.crawl_delay(self.policy.robots_agent)
        if delay:
            host.delay = max(host.delay, min(float(delay), MAX_CRAWL_DELAY))

    # --- GET ------------------------------------------------------------------------------
    def get(
        self,
        url: str,
        *,
        etag: str | None = None,
        last_modified: str | None = None,
        accept: str = "*/*",
    ) -> Fetched:
        """The URL's body (or a 304), or FetchError. Checks robots.txt first."""
        headers = {"Accept": accept}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        if urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).hostname:
            raise FetchError(url, "not an http(s) URL; skipped")
        return self._get(url, headers, None, self.policy.max_bytes, check_robots=True)

    def _get(
        self,
        url: str,
        headers: dict[str, str],
        host: _Host | None,
        max_bytes: int,
        *,
        check_robots: bool,
    ) -> Fetched:
        import httpx

        # with httpx, only when something is fetched (see __post_init__)
        from .guard import AddressRefused

        hops = [url]
        current = url
        while True:
            here = host if host is not None and not check_robots else self._host(current)
            hop = f"redirected to {current}: " if current != url else ""
            if check_robots:
                if here.unreachable:
                    raise FetchError(url, hop + here.unreachable, refused=here.refused)
                if not self.allowed(current):
                    where = f" (redirected to {current})" if current != url else ""
                    raise FetchError(
                        url,
                        f"disallowed by the robots.txt of {_origin(current)}{where} for "
                        f"{self.policy.robots_agent!r}; not fetched",
                        disallowed=True,
                    )
            self._wait(here)
            started = self._clock()
            try:
                self.requests += 1
                request = self._client.build_request("GET", current, headers=headers)
                response = self._client.send(request, stream=True)
            except AddressRefused as err:  # before any byte was sent
                raise FetchError(url, hop + err.reason, refused=True) from None
            except httpx.TimeoutException:
                here.last_request = self._clock()
                raise FetchError(url, self._timeout_reason()) from None
            except httpx.ConnectError as err:
                here.last_request = self._clock()
                raise FetchError(
                    url,
                    f"cannot connect to {_origin(current)} ({_short(err)}): the server is down "
                    "or the address is wrong; retried at the next sync",
                ) from None
            except (httpx.HTTPError, httpx.InvalidURL, ValueError) as err:
                here.last_request = self._clock()
                reason = f"request failed ({_short(err)}); retried at the next sync"
                raise FetchError(url, reason) from None
            try:
                if response.status_code in _REDIRECTS and "location" in response.headers:
                    target = urljoin(current, response.headers["location"])
                    if target in hops:
                        raise FetchError(
                            url, f"redirect loop ({' -> '.join([*hops, target])}); skipped"
                        )
                    if len(hops) > self.policy.max_redirects:
                        raise FetchError(
                            url,
                            f"more than {self.policy.max_redirects} redirects "
                            "(NEWSRAG_FETCH_MAX_REDIRECTS); skipped",
                        )
                    hops.append(target)
                    current = target
                    continue
                return self._answer(url, current, response, started, max_bytes)
            finally:
                response.close()
                here.last_request = self._clock()

    def _answer(
        self, url: str, final: str, response: Any, started: float, max_bytes: int
    ) -> Fetched:
        import httpx

        status = response.status_code
        if status != 304 and not 200 <= status < 300:
            raise FetchError(url, _status_reason(status, response.reason_phrase))
        body = b""
        if status != 304:
            declared = response.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > max_bytes:
                raise FetchError(url, _too_large(int(declared), max_bytes))
            parts: list[bytes] = []
            size = 0
            try:
                for part in response.iter_bytes():
                    size += len(part)
                    if size > max_bytes:
                        raise FetchError(url, _too_large(size, max_bytes, at_least=True))
                    if self._clock() - started > self.policy.timeout:
                        raise FetchError(url, self._timeout_reason())
                    parts.append(part)
            except httpx.TimeoutException:
                raise FetchError(url, self._timeout_reason()) from None
            except httpx.HTTPError as err:
                raise FetchError(
                    url, f"no complete answer ({_short(err)}); retried at the next sync"
                ) from None
            body = b"".join(parts)
        media, charset = _content_type(response.headers.get("content-type", ""))
        return Fetched(
            url=url,
            final_url=final,
            status=status,
            content_type=media,
            charset=charset,
            body=body,
            etag=response.headers.get("etag"),
            last_modified=response.headers.get("last-modified"),
        )

    def _wait(self, host: _Host) -> None:
        if host.last_request is None:
            return
        left = host.last_request + host.delay - self._clock()
        if left > 0:
            self._sleep(left)

    def _timeout_reason(self) -> str:
        return (
            f"no complete answer within {self.policy.timeout:g} s (NEWSRAG_FETCH_TIMEOUT); "
            "retried at the next sync"
        )


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def _content_type(value: str) -> tuple[str, str | None]:
    media, _, params = value.partition(";")
    charset = None
    for param in params.split(";"):
        key, _, val = param.partition("=")
        if key.strip().lower() == "charset" and val.strip():
            charset = val.strip().strip("\"'")
    return media.strip().lower(), charset


def _status_reason(status: int, phrase: str) -> str:
    head = f"HTTP {status} {phrase}".strip()
    if status in (404, 410):
        return f"{head}: the page is not there (moved or deleted); skipped"
    if status in (401, 403):
        return f"{head}: the server refuses to give it to us; skipped"
    if status == 429 or status >= 500:
        return f"{head}: the server failed or is overloaded; retried at the next sync"
    return f"{head}; skipped"


def _too_large(size: int, limit: int, *, at_least: bool = False) -> str:
    mb = f"{'over ' if at_least else ''}{size / 1e6:.2f} MB"
    return f"too large ({mb}; the limit is {limit / 1e6:.2f} MB, NEWSRAG_FETCH_MAX_MB); skipped"


def _short(err: BaseException) -> str:
    text = str(err) or type(err).__name__
    return text if len(text) < 160 else text[:157] + "..."
