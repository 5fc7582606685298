"""What every request passes through: origins, API keys, rate limit, body size, headers.

- **Origins.** ``NEWSRAG_ALLOWED_ORIGINS`` are the intranet pages that may embed the widget and
  call the API from a browser. They get CORS headers (no credentials) on ``/api`` and ``/v1``;
  a browser request from any other origin gets 403. Every HTML response carries
  ``Content-Security-Policy: frame-ancestors 'self' <origins>``, so a page elsewhere cannot
  frame the chat, the widget or an article.
- **API keys** (``NEWSRAG_API_KEYS``), when set, are required on ``/api/*`` and ``/v1/*``,
  except for browser requests from our own pages or an allowed origin (``Sec-Fetch-Site:
  same-origin`` or such an ``Origin``), so the chat page and the widget need none. Those
  headers can be forged by any non-browser client: keys keep honest scripts accounted for,
  they are NOT a secret boundary. Who may reach the server at all is decided by the intranet's
  SSO reverse proxy in front of it (which also sets ``NEWSRAG_TRUSTED_USER_HEADER``). Gradio's
  own endpoints under ``/gradio_api`` are reachable like the chat page itself.
- **Rate limit**: a token bucket of ``NEWSRAG_RATE_LIMIT_PER_MINUTE`` questions per client (the
  API key, else the SSO user, else the client address) on the asking routes; over it, 429 with
  ``Retry-After``.
- **Body size**: at most ``NEWSRAG_MAX_BODY_KB`` on ``/api`` and ``/v1``, whether announced by
  ``Content-Length`` or streamed; over it, 413. (Gradio's routes keep their own limits: its
  queue messages carry the whole conversation.)
- **Admin routes** (``/api/admin/``) check their own keys (ui/admin.py: admin keys, never the
  browser exemption), have no rate limit, and take uploads up to ``NEWSRAG_ADMIN_MAX_UPLOAD_MB``,
  streamed to the route rather than held in memory here.

Every refusal is a JSON error in the contract's shape (ui.present.error_json).
"""

from __future__ import annotations

import hashlib
import hmac
import math
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from starlette.datastructures import Headers, MutableHeaders
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from rag.config import Settings

from .present import error_json

API_PREFIXES = ("/api/", "/v1/")
ADMIN_PREFIX = "/api/admin/"
ASKING_ROUTES = frozenset({"/api/ask", "/api/ask/stream", "/v1/chat/completions", "/api/search"})
CORS_METHODS = "GET, POST, OPTIONS"
CORS_HEADERS = "Authorization, Content-Type, X-API-Key"


class RateLimiter:
    """A token bucket per client: ``per_minute`` requests a minute, bursts up to the same.

    Thread-safe (the Gradio page calls it from worker threads). ``per_minute=0`` disables it.
    """

    def __init__(self, per_minute: int, *, clock: Callable[[], float] = time.monotonic) -> None:
        if per_minute < 0:
            raise ValueError("per_minute must not be negative")
        self.per_minute = per_minute
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # client -> (tokens, updated)
        self._lock = threading.Lock()

    def check(self, client: str) -> int | None:
        """Takes one token for ``client``: None if allowed, else seconds to wait (>= 1)."""
        if self.per_minute == 0:
            return None
        rate = self.per_minute / 60.0
        with self._lock:
            now = self._clock()
            tokens, updated = self._buckets.get(client, (float(self.per_minute), now))
            tokens = min(float(self.per_minute), tokens + (now - updated) * rate)
            if tokens >= 1.0:
                self._buckets[client] = (tokens - 1.0, now)
                if len(self._buckets) > 10_000:
                    self._forget_full(now, rate)
                return None
            self._buckets[client] = (tokens, now)
            return max(1, math.ceil((1.0 - tokens) / rate))

    def _forget_full(self, now: float, rate: float) -> None:
        """Drops buckets that have refilled: they hold nothing a new bucket would not."""
        full = [
            c
            for c, (tokens, updated) in self._buckets.items()
            if tokens + (now - updated) * rate >= self.per_minute
        ]
        for c in full:
            del self._buckets[c]


def key_fingerprint(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Caller:
    """Who a request comes from, as far as the headers tell."""

    key: str | None  # the API key sent, if any
    key_valid: bool
    browser_trusted: bool  # a browser on our own pages or an allowed origin
    origin_forbidden: bool  # a browser on an origin that is neither
    client: str  # the rate-limit bucket: key, else SSO user, else address


def own_origin(origin: str, headers: Headers, settings: Settings) -> bool:
    """``origin`` is this server as the browser sees it (its Host, or the public URL)."""
    netloc = urlsplit(origin).netloc.lower()
    host = headers.get("host", "").lower()
    if host and netloc == host:
        return True
    return bool(settings.public_url) and origin == public_origin(settings.public_url or "")


def public_origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def sent_key(headers: Headers) -> str | None:
    auth = headers.get("authorization", "")
    if auth[:7].lower() == "bearer " and auth[7:].strip():
        return auth[7:].strip()
    return headers.get("x-api-key") or None


def client_key(settings: Settings, headers: Mapping[str, str], host: str | None) -> str:
    """The rate-limit bucket of a request without a valid API key: SSO user, else address."""
    if settings.trusted_user_header:
        user = headers.get(settings.trusted_user_header.lower()) or headers.get(
            settings.trusted_user_header
        )
        if user:
            return f"user:{user}"
    return f"ip:{host or 'unknown'}"


def identify(settings: Settings, headers: Headers, host: str | None) -> Caller:
    key = sent_key(headers)
    keys: Iterable[str] = (k.get_secret_value() for k in settings.api_keys)
    key_valid = key is not None and any(hmac.compare_digest(key, k) for k in keys)
    origin = headers.get("origin")
    allowed = origin is not None and (
        origin in settings.allowed_origins or own_origin(origin, headers, settings)
    )
    trusted = allowed or headers.get("sec-fetch-site") == "same-origin"
    if key_valid and key:
        client = f"key:{key_fingerprint(key)}"
    else:
        client = client_key(settings, headers, host)
    return Caller(key, key_valid, trusted, origin is not None and not allowed, client)


def _json(
    status: int, body: dict[str, Any], headers: Mapping[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(body, status_code=status, headers=dict(headers or {}))


class BodyTooLarge(Exception):
    pass


def _counted(receive: Receive, limit: int) -> Receive:
    """``receive`` that raises BodyTooLarge once more than ``limit`` bytes came in."""
    size = 0

    async def counted() -> Message:
        nonlocal size
        message = await receive()
        if message["type"] == "http.request":
            size += len(message.get("body", b""))
            if size > limit:
                raise BodyTooLarge
        return message

    return counted


class SecurityMiddleware:
    """The checks of this module's docstring, as one pure ASGI middleware (streaming-safe)."""

    def __init__(self, app: ASGIApp, *, settings: Settings, limiter: RateLimiter) -> None:
        self.app = app
        self.settings = settings
        self.limiter = limiter
        self.max_body = settings.max_body_kb * 1024
        frame = " ".join(["'self'", *settings.allowed_origins])
        self.frame_ancestors = f"frame-ancestors {frame}"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        headers = Headers(scope=scope)
        is_api = path.startswith(API_PREFIXES)
        origin = headers.get("origin")
        cors_origin = origin if is_api and origin in self.settings.allowed_origins else None
        send = self._with_headers(send, cors_origin)
        if not is_api:
            await self.app(scope, receive, send)
            return

        client = scope.get("client")
        caller = identify(self.settings, headers, client[0] if client else None)
        if path.startswith(ADMIN_PREFIX):
            await self._admin(scope, receive, send, headers, caller)
            return
        refusal = self._refusal(scope, headers, caller)
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        if scope["method"] == "OPTIONS" and "access-control-request-method" in headers:
            await self._preflight(scope, receive, send)
            return
        if scope["method"] in ("POST", "PUT", "PATCH"):
            try:
                receive = await self._buffered_body(receive)
            except BodyTooLarge:
                await self._too_large()(scope, receive, send)
                return
        await self.app(scope, receive, send)

    def _refusal(self, scope: Scope, headers: Headers, caller: Caller) -> Response | None:
        """The error response a request gets before reaching its route, or None."""
        if caller.origin_forbidden:
            return _json(
                403,
                error_json(
                    "forbidden_origin",
                    f"Requests from {headers.get('origin')} are not allowed: add the origin to "
                    "NEWSRAG_ALLOWED_ORIGINS to embed the widget or call the API from its pages.",
                ),
            )
        if scope["method"] == "OPTIONS":
            return None  # a preflight never carries the key
        if self.settings.api_keys and not caller.key_valid:
            if caller.key is not None:
                return _json(401, error_json("unauthorized", "The API key is not valid."))
            if not caller.browser_trusted:
                return _json(
                    401,
                    error_json(
                        "unauthorized",
                        "An API key is required: send it as `Authorization: Bearer KEY` or "
                        "`X-API-Key: KEY`.",
                    ),
                    {"WWW-Authenticate": "Bearer"},
                )
        length = headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_body):
            return self._too_large()
        if scope["path"] in ASKING_ROUTES:
            wait = self.limiter.check(caller.client)
            if wait is not None:
                return _json(
                    429,
                    error_json(
                        "rate_limited",
                        f"Too many questions: at most {self.settings.rate_limit_per_minute} a "
                        f"minute. Try again in {wait} s.",
                    ),
                    {"Retry-After": str(wait)},
                )
        return None

    async def _admin(
        self, scope: Scope, receive: Receive, send: Send, headers: Headers, caller: Caller
    ) -> None:
        if caller.origin_forbidden:
            refusal = self._refusal(scope, headers, caller)
            assert refusal is not None
            await refusal(scope, receive, send)
            return
        limit = int(self.settings.admin_max_upload_mb * 1024 * 1024)
        length = headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > limit):
            await self._too_large(admin=True)(scope, receive, send)
            return
        await self.app(scope, _counted(receive, limit), send)

    def _too_large(self, *, admin: bool = False) -> Response:
        if admin:
            from .admin import too_large_message

            return _json(413, error_json("too_large", too_large_message(self.settings)))
        return _json(
            413,
            error_json(
                "too_large",
                f"The request body is larger than {self.settings.max_body_kb} KiB "
                "(NEWSRAG_MAX_BODY_KB).",
            ),
        )

    async def _buffered_body(self, receive: Receive) -> Receive:
        """Reads the body up to the limit (raising BodyTooLarge past it), then replays it."""
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break  # the client went away; the route will see it
            size += len(message.get("body", b""))
            if size > self.max_body:
                raise BodyTooLarge
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        return replay

    async def _preflight(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = Response(
            status_code=204,
            headers={
                "Access-Control-Allow-Methods": CORS_METHODS,
                "Access-Control-Allow-Headers": CORS_HEADERS,
                "Access-Control-Max-Age": "600",
            },
        )
        await response(scope, receive, send)

    def _with_headers(self, send: Send, cors_origin: str | None) -> Send:
        async def wrapped(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("X-Content-Type-Options", "nosniff")
                headers.setdefault("Referrer-Policy", "same-origin")
                if headers.get("content-type", "").startswith("text/html"):
                    csp = headers.get("content-security-policy")
                    headers["Content-Security-Policy"] = (
                        f"{csp.rstrip('; ')}; {self.frame_ancestors}"
                        if csp
                        else self.frame_ancestors
                    )
                if cors_origin:
                    headers["Access-Control-Allow-Origin"] = cors_origin
                    headers["Access-Control-Expose-Headers"] = "Retry-After"
                    headers.add_vary_header("Origin")
            await send(message)

        return wrapped
