"""One door: what every request passes through, whichever route it is for.

Every route that answers, uploads or reads goes through the same checks, Gradio's own routes
(``/gradio_api/*``, ``/config``) as well as ``/api/*`` and ``/v1/*``. Before, Gradio's were
reachable like the chat page itself: ``POST /gradio_api/call/respond`` answered with no key,
from a foreign ``Origin`` and without the SSO header, and ``/gradio_api/upload`` stored a 20 MB
file from anyone and served it back (issue 15). Routes are sorted by ``kind_of``:

- **health** (``/healthz``, ``/readyz``, ``/metrics``): for probes and scrapers that do not
  pass the SSO proxy; ``/metrics`` checks its own ``NEWSRAG_METRICS_KEY`` (ui/web/metrics.py).
- **closed**: Gradio routes that no component of the chat uses (uploads, recordings, its
  proxy, streaming media, run history, monitoring, login, vibe editing): 404 before the body is
  read, whoever asks.
- **static** (``/widget.js``, Gradio's ``/assets``, ``/static``, theme; ``/docs``,
  ``/openapi.json``) and **pages** (``GET /``, ``/widget``, ``/articles/{id}``): no key; the
  pages hand the browser its session (ui/web/session.py).
- **admin** (``/api/admin/``): the admin keys, checked by ui/web/admin.py (a session never counts).
- **data**: everything else, and any path not named above (default deny).

The checks, in order:

- **Origin.** ``NEWSRAG_ALLOWED_ORIGINS`` are the intranet pages that may embed the widget. A
  request whose ``Origin`` is neither ours nor one of them gets 403 on every route. Allowed
  origins get CORS headers (no credentials) on ``/api`` and ``/v1``; every HTML response carries
  ``Content-Security-Policy: frame-ancestors 'self' <origins>``.
- **SSO header** (``NEWSRAG_TRUSTED_USER_HEADER``): when set, a request without it gets 401,
  unless it carries a valid API key (a script reaching the server directly, as ``newsrag
  ingest --server`` from cron does on the admin routes).
- **API key or session.** With ``NEWSRAG_API_KEYS`` set, a data route needs one of the keys
  (``Authorization: Bearer KEY`` or ``X-API-Key``) or a valid page session (cookie, or the
  widget's ``X-Newsrag-Session``); else 401. Browser-only signals (``Origin``,
  ``Sec-Fetch-Site``) are never enough: any client can send them, and the API used to take
  them in place of the key. Without keys the server is an open demo: no key or session is
  needed, every other check applies.
- **Body size**: at most ``NEWSRAG_MAX_BODY_KB`` on data routes, Gradio's included, whether
  announced by ``Content-Length`` or streamed; over it, 413. The chat page's biggest message
  is a thumbs up, which carries the rated answer's HTML: 2,032 bytes for the cited Deir Ezzor
  answer of tests/browser/test_locked.py (its question: 137), far below the 64 KiB default.
- **Rate limit**: a token bucket of ``NEWSRAG_RATE_LIMIT_PER_MINUTE`` questions per client (the
  API key, else the SSO user, else the client address) on the asking routes; over it, 429 with
  ``Retry-After``. The chat page's questions take from the same buckets (ui/web/web_chat.py).
- **Admin routes** have no rate limit and take uploads up to ``NEWSRAG_ADMIN_MAX_UPLOAD_MB``,
  streamed to the route rather than held in memory here.

Websocket connections are refused: no route here uses one. Every refusal is a JSON error in the
contract's shape (ui.web.present.error_json).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any
from urllib.parse import urlsplit

from starlette.datastructures import Headers, MutableHeaders
from starlette.requests import cookie_parser
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.ratelimit import RateLimiter
from rag.config import Settings

from .errors import too_large_message
from .present import error_json
from .session import COOKIE, HEADER, Session, Sessions

API_PREFIXES = ("/api/", "/v1/")
ADMIN_PREFIX = "/api/admin/"
ASKING_ROUTES = frozenset({"/api/ask", "/api/ask/stream", "/v1/chat/completions", "/api/search"})
CORS_METHODS = "GET, POST, OPTIONS"
CORS_HEADERS = "Authorization, Content-Type, X-API-Key"


class Kind(Enum):
    """What a route is, for the door (the module's docstring)."""

    HEALTH = "health"
    CLOSED = "closed"
    STATIC = "static"
    PAGE = "page"
    ADMIN = "admin"
    DATA = "data"


HEALTH_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
CLOSED_PATHS = frozenset({
    "/gradio_api/upload", "/gradio_api/upload_progress", "/gradio_api/process_recording",
    "/gradio_api/dev/reload", "/gradio_api/undo-vibe-edit", "/login", "/logout",
})  # fmt: skip
CLOSED_PREFIXES = (
    "/gradio_api/proxy=", "/gradio_api/vibe-", "/gradio_api/run-history/", "/gradio_api/stream/",
    "/monitoring",
)  # fmt: skip
STATIC_PATHS = frozenset({
    "/widget.js", "/favicon.ico", "/robots.txt", "/manifest.json", "/theme.css",
    "/gradio_api/theme.css", "/docs", "/openapi.json",
})  # fmt: skip
STATIC_PREFIXES = ("/assets/", "/static/", "/svelte/", "/pwa_icon")
WIDGET_PAGE = "/widget"
COOKIE_PAGES = frozenset({"/"})
COOKIE_PAGE_PREFIXES = ("/articles/",)


def kind_of(method: str, path: str) -> Kind:
    """The kind of route ``method path`` reaches; DATA for anything not named."""
    bare = path.rstrip("/") or "/"
    if bare in CLOSED_PATHS or bare.startswith(CLOSED_PREFIXES):
        return Kind.CLOSED
    if path.startswith(ADMIN_PREFIX):
        return Kind.ADMIN
    if method not in ("GET", "HEAD"):
        return Kind.DATA
    if path in HEALTH_PATHS:
        return Kind.HEALTH
    if path in STATIC_PATHS or path.startswith(STATIC_PREFIXES):
        return Kind.STATIC
    if path == WIDGET_PAGE or sets_cookie(path):
        return Kind.PAGE
    return Kind.DATA


def sets_cookie(path: str) -> bool:
    """Pages that give the browser its session as a cookie (the widget's page embeds it)."""
    return path in COOKIE_PAGES or path.startswith(COOKIE_PAGE_PREFIXES)


def key_fingerprint(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Caller:
    """Who a request comes from, as far as its headers tell."""

    key: str | None  # the API key sent, if any
    key_valid: bool
    session: Session | None  # a valid session a page gave
    session_in_cookie: bool  # where it came from (a renewal goes back the same way)
    origin_forbidden: bool  # a browser on an origin that is neither ours nor allowed
    user: str | None  # the SSO header's value, when one is configured
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


def sso_user(settings: Settings, headers: Mapping[str, str]) -> str | None:
    """The user the SSO proxy names, when NEWSRAG_TRUSTED_USER_HEADER is set."""
    name = settings.trusted_user_header
    if not name:
        return None
    return headers.get(name.lower()) or headers.get(name) or None


def client_key(settings: Settings, headers: Mapping[str, str], host: str | None) -> str:
    """The rate-limit bucket of a request without a valid API key: SSO user, else address."""
    user = sso_user(settings, headers)
    return f"user:{user}" if user else f"ip:{host or 'unknown'}"


def identify(settings: Settings, sessions: Sessions, headers: Headers, host: str | None) -> Caller:
    key = sent_key(headers)
    keys: Iterable[str] = (k.get_secret_value() for k in settings.api_keys)
    key_valid = key is not None and any(hmac.compare_digest(key, k) for k in keys)
    origin = headers.get("origin")
    allowed = origin is not None and (
        origin in settings.allowed_origins or own_origin(origin, headers, settings)
    )
    in_cookie = False
    session = sessions.check(headers.get(HEADER))
    if session is None and "cookie" in headers:
        session = sessions.check(cookie_parser(headers["cookie"]).get(COOKIE))
        in_cookie = session is not None
    if key_valid and key:
        client = f"key:{key_fingerprint(key)}"
    else:
        client = client_key(settings, headers, host)
    return Caller(
        key=key,
        key_valid=key_valid,
        session=session,
        session_in_cookie=in_cookie,
        origin_forbidden=origin is not None and not allowed,
        user=sso_user(settings, headers),
        client=client,
    )


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
    """The door of this module's docstring, as one pure ASGI middleware (streaming-safe)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        settings: Settings,
        limiter: RateLimiter,
        sessions: Sessions | None = None,
    ) -> None:
        self.app = app
        self.settings = settings
        self.limiter = limiter
        self.sessions = sessions or Sessions.for_settings(settings)
        self.max_body = settings.max_body_kb * 1024
        frame = " ".join(["'self'", *settings.allowed_origins])
        self.frame_ancestors = f"frame-ancestors {frame}"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        method: str = scope["method"]
        kind = kind_of(method, path)
        headers = Headers(scope=scope)
        origin = headers.get("origin")
        is_api = path.startswith(API_PREFIXES)
        cors_origin = origin if is_api and origin in self.settings.allowed_origins else None
        if kind is Kind.HEALTH:
            await self.app(scope, receive, self._with_headers(send, cors_origin))
            return
        if kind is Kind.CLOSED:
            await _json(
                404,
                error_json(
                    "not_found",
                    "Not found: this server takes no uploads here (articles go to "
                    "POST /api/admin/ingest with an admin key).",
                ),
            )(scope, receive, self._with_headers(send, None))
            return
        client = scope.get("client")
        caller = identify(self.settings, self.sessions, headers, client[0] if client else None)
        send = self._with_headers(send, cors_origin, self._renewal(scope, kind, caller))
        if kind is Kind.ADMIN:
            await self._admin(scope, receive, send, headers, caller)
            return
        refusal = self._refusal(scope, kind, headers, caller)
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        if method == "OPTIONS" and "access-control-request-method" in headers:
            await self._preflight(scope, receive, send)
            return
        if kind is Kind.DATA and method in ("POST", "PUT", "PATCH"):
            try:
                receive = await self._buffered_body(receive)
            except BodyTooLarge:
                await self._too_large()(scope, receive, send)
                return
        await self.app(scope, receive, send)

    def _refusal(
        self, scope: Scope, kind: Kind, headers: Headers, caller: Caller
    ) -> Response | None:
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
        if scope["method"] == "OPTIONS" and "access-control-request-method" in headers:
            return None  # a preflight carries neither the key nor the session
        if self.settings.api_keys and caller.key is not None and not caller.key_valid:
            return _json(401, error_json("unauthorized", "The API key is not valid."))
        if self.settings.trusted_user_header and not caller.user and not caller.key_valid:
            name = self.settings.trusted_user_header
            return _json(
                401,
                error_json(
                    "unauthorized",
                    f"The {name} header is missing: this server is reached through the "
                    "intranet's single sign-on (NEWSRAG_TRUSTED_USER_HEADER), or with an "
                    "API key.",
                ),
            )
        if kind is not Kind.DATA:
            return None
        if self.settings.api_keys and not caller.key_valid and caller.session is None:
            return _json(
                401,
                error_json(
                    "unauthorized",
                    "An API key is required: send it as `Authorization: Bearer KEY` or "
                    "`X-API-Key: KEY`. In a browser, reload the page: its session may have "
                    "expired.",
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

    def _renewal(self, scope: Scope, kind: Kind, caller: Caller) -> list[tuple[str, str]]:
        """Headers that give the browser a new session: a cookie page without a fresh one,
        or a session past half its life (sent back the way it came)."""
        session = caller.session
        due = session is not None and self.sessions.renew_due(session)
        if kind is Kind.PAGE and sets_cookie(scope["path"]) and (session is None or due):
            return [("set-cookie", self._cookie(scope)), ("cache-control", "private, no-store")]
        if kind is not Kind.DATA or not due:
            return []
        if caller.session_in_cookie:
            return [("set-cookie", self._cookie(scope))]
        return [(HEADER, self.sessions.issue())]

    def _cookie(self, scope: Scope) -> str:
        secure = scope.get("scheme") == "https" or (self.settings.public_url or "").startswith(
            "https:"
        )
        return self.sessions.cookie(self.sessions.issue(), secure=secure)

    async def _admin(
        self, scope: Scope, receive: Receive, send: Send, headers: Headers, caller: Caller
    ) -> None:
        if caller.origin_forbidden:
            refusal = self._refusal(scope, Kind.ADMIN, headers, caller)
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

    def _with_headers(
        self, send: Send, cors_origin: str | None, extra: list[tuple[str, str]] | None = None
    ) -> Send:
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
                for name, value in extra or ():
                    if name == "set-cookie":
                        headers.append(name, value)
                    else:
                        headers[name] = value
            await send(message)

        return wrapped
