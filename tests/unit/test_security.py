"""The door: route kinds, origins, API keys and page sessions, the SSO header, rate limit, body
size and headers, on a small app behind the middleware."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from fastapi import FastAPI, Request, WebSocket
from starlette.responses import HTMLResponse
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from app.ratelimit import RateLimiter
from rag.config import Settings
from ui.web.security import Kind, SecurityMiddleware, kind_of
from ui.web.session import COOKIE, Sessions

INTRANET = "https://intranet.example.org"
ELSEWHERE = "https://evil.example.com"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def client(
    *, sessions: Sessions | None = None, base_url: str = "http://testserver", **overrides: object
) -> TestClient:
    values: dict[str, object] = {"allowed_origins": [INTRANET], "rate_limit_per_minute": 0}
    settings = Settings(**(values | overrides))  # type: ignore[arg-type]
    app = FastAPI()

    @app.post("/api/ask")
    async def ask(request: Request) -> dict[str, int]:
        return {"received": len(await request.body())}

    @app.get("/api/search")
    async def search() -> dict[str, str]:
        return {"ok": "search"}

    @app.get("/api/articles/x")
    async def article() -> dict[str, str]:
        return {"ok": "article"}

    @app.get("/articles/x")
    async def page() -> HTMLResponse:
        return HTMLResponse("<p>hi</p>")

    @app.post("/gradio_api/queue/join")
    async def join(request: Request) -> dict[str, int]:
        return {"received": len(await request.body())}

    @app.post("/gradio_api/upload")
    async def upload(request: Request) -> dict[str, int]:
        return {"stored": len(await request.body())}

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.websocket("/ws")
    async def ws(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text("hello")

    limiter = RateLimiter(settings.rate_limit_per_minute)
    app.add_middleware(SecurityMiddleware, settings=settings, limiter=limiter, sessions=sessions)
    return TestClient(app, base_url=base_url)


def session_of(response: object) -> str:
    """The session token a response's Set-Cookie carries."""
    cookie = response.headers["set-cookie"]  # type: ignore[attr-defined]
    assert cookie.startswith(f"{COOKIE}=")
    return str(cookie.split(";", 1)[0].split("=", 1)[1])


# --- rate limiter ---------------------------------------------------------------------------
def test_the_bucket_allows_a_burst_then_refills_at_the_rate():
    clock = Clock()
    limiter = RateLimiter(3, clock=clock)
    assert [limiter.check("a") for _ in range(3)] == [None, None, None]
    assert limiter.check("a") == 20  # 3 a minute: one token every 20 s
    assert limiter.check("b") is None  # another client has its own bucket
    clock.now += 10
    assert limiter.check("a") == 10
    clock.now += 10
    assert limiter.check("a") is None
    assert limiter.check("a") == 20


def test_zero_disables_the_limit():
    limiter = RateLimiter(0)
    assert all(limiter.check("a") is None for _ in range(1000))


def test_the_bucket_is_exact_under_concurrent_threads():
    limiter = RateLimiter(100, clock=Clock())  # frozen clock: no refill
    allowed: list[bool] = []
    lock = threading.Lock()

    def hammer() -> None:
        mine = [limiter.check("same") is None for _ in range(50)]
        with lock:
            allowed.extend(mine)

    threads = [threading.Thread(target=hammer) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(allowed) == 300 and sum(allowed) == 100


def test_negative_rate_is_refused():
    with pytest.raises(ValueError, match="negative"):
        RateLimiter(-1)


# --- headers --------------------------------------------------------------------------------
def test_html_responses_may_be_framed_only_by_us_and_the_allowed_origins():
    response = client().get("/articles/x")
    assert response.headers["content-security-policy"] == f"frame-ancestors 'self' {INTRANET}"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "same-origin"
    alone = client(allowed_origins=[]).get("/articles/x")
    assert alone.headers["content-security-policy"] == "frame-ancestors 'self'"
    data = client().get("/api/search")
    assert "content-security-policy" not in data.headers
    assert data.headers["x-content-type-options"] == "nosniff"


# --- origins and CORS -----------------------------------------------------------------------
def test_an_allowed_origin_gets_cors_headers_without_credentials():
    response = client().get("/api/search", headers={"Origin": INTRANET})
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == INTRANET
    assert "access-control-allow-credentials" not in response.headers
    assert "Origin" in response.headers["vary"]


def test_a_preflight_from_an_allowed_origin_is_answered():
    response = client().options(
        "/api/ask",
        headers={
            "Origin": INTRANET,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
    )
    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == INTRANET
    assert "POST" in response.headers["access-control-allow-methods"]
    assert "Content-Type" in response.headers["access-control-allow-headers"]


def test_a_foreign_origin_is_forbidden_on_the_api_and_its_preflight():
    c = client()
    preflight = c.options(
        "/api/ask", headers={"Origin": ELSEWHERE, "Access-Control-Request-Method": "POST"}
    )
    assert preflight.status_code == 403
    assert "access-control-allow-origin" not in preflight.headers
    assert preflight.json()["error"]["code"] == "forbidden_origin"
    post = c.post("/api/ask", content=b"{}", headers={"Origin": ELSEWHERE})
    assert post.status_code == 403
    assert ELSEWHERE in post.json()["error"]["message"]
    assert "NEWSRAG_ALLOWED_ORIGINS" in post.json()["error"]["message"]
    # the server's own origin is never foreign
    assert c.get("/api/search", headers={"Origin": "http://testserver"}).status_code == 200


# --- API keys -------------------------------------------------------------------------------
def test_without_keys_configured_the_api_is_open():
    assert client().get("/api/search").status_code == 200
    # whatever key a client sends is not looked at (OpenAI's clients always send one)
    assert client().get("/api/search", headers={"Authorization": "Bearer x"}).status_code == 200


def test_keys_are_required_on_the_api_when_configured():
    c = client(api_keys=["k-one", "k-two"])
    missing = c.get("/api/articles/x")
    assert missing.status_code == 401
    assert missing.json()["error"]["code"] == "unauthorized"
    assert "Authorization: Bearer" in missing.json()["error"]["message"]
    wrong = c.get("/api/articles/x", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401 and "not valid" in wrong.json()["error"]["message"]
    assert c.get("/api/articles/x", headers={"Authorization": "Bearer k-two"}).status_code == 200
    assert c.get("/api/articles/x", headers={"X-API-Key": "k-one"}).status_code == 200
    assert c.post("/gradio_api/queue/join", content=b"{}").status_code == 401  # Gradio's too
    assert c.get("/articles/x").status_code == 200  # pages need no key


def test_browser_signals_are_not_a_key():
    c = client(api_keys=["k-one"])
    for spoofed in (
        {"Sec-Fetch-Site": "same-origin"},
        {"Origin": INTRANET},
        {"Origin": "http://testserver"},
        {"Origin": "http://testserver", "Sec-Fetch-Site": "same-origin", "Sec-Fetch-Mode": "cors"},
    ):
        assert c.get("/api/search", headers=spoofed).status_code == 401, spoofed


def test_a_page_gives_the_session_that_opens_the_data_routes():
    c = client(api_keys=["k-one"])
    page = c.get("/articles/x")
    cookie = page.headers["set-cookie"]
    for flag in ("HttpOnly", "SameSite=Strict", "Path=/", f"Max-Age={480 * 60}"):
        assert flag in cookie
    assert "Secure" not in cookie  # plain http: a Secure cookie would never come back
    assert page.headers["cache-control"] == "private, no-store"
    assert c.get("/api/search").status_code == 200  # the client sends the cookie back
    assert c.post("/gradio_api/queue/join", content=b"{}").status_code == 200
    token = session_of(page)
    fresh = client(api_keys=["k-one"])
    assert fresh.get("/api/search", headers={"X-Newsrag-Session": token}).status_code == 200
    # a page seen with a fresh session sets none; over https the cookie is Secure
    assert "set-cookie" not in c.get("/articles/x").headers
    secure = client(api_keys=["k-one"], base_url="https://testserver").get("/articles/x")
    assert "; Secure" in secure.headers["set-cookie"]


def test_sessions_are_signed_and_expire():
    clock = Clock()
    sessions = Sessions(b"s" * 32, 600, clock=clock)
    token = sessions.issue()
    assert sessions.check(token) is not None
    version, expires, nonce, signature = token.split(".")
    later = f"{version}.{int(expires) + 3600}.{nonce}.{signature}"
    for bad in (later, token + "x", token.replace(nonce, "0" * 16), "", "v1.1.2", "x" * 500,
                Sessions(b"t" * 32, 600, clock=clock).issue()):  # fmt: skip
        assert sessions.check(bad) is None, bad
    clock.now += 599
    assert sessions.check(token) is not None
    clock.now += 1
    assert sessions.check(token) is None
    with pytest.raises(ValueError, match="16 bytes"):
        Sessions(b"short", 600)


def test_replicas_with_the_same_keys_accept_each_others_sessions():
    def sessions(**values: object) -> Sessions:
        return Sessions.for_settings(Settings(**values))  # type: ignore[arg-type]

    token = sessions(api_keys=["a", "b"]).issue()
    assert sessions(api_keys=["b", "a"]).check(token) is not None
    assert sessions(api_keys=["a", "c"]).check(token) is None  # new keys end the sessions
    shared = sessions(api_keys=["a"], session_secret="x" * 32).issue()
    assert sessions(api_keys=["z"], session_secret="x" * 32).check(shared) is not None
    assert sessions().check(sessions().issue()) is None  # open server: random per process


def test_a_session_past_half_its_life_is_renewed_the_way_it_came():
    clock = Clock()
    sessions = Sessions(b"s" * 32, 600, clock=clock)
    c = client(api_keys=["k-one"], sessions=sessions)
    old = session_of(c.get("/articles/x"))
    assert "set-cookie" not in c.get("/api/search").headers  # young: nothing new
    clock.now += 301
    renewed = c.get("/api/search")
    assert renewed.status_code == 200 and session_of(renewed) != old
    widget = client(api_keys=["k-one"], sessions=sessions)
    sent = sessions.issue()
    clock.now += 301
    got = widget.get("/api/search", headers={"X-Newsrag-Session": sent})
    assert got.status_code == 200 and "set-cookie" not in got.headers
    assert sessions.check(got.headers["x-newsrag-session"]) is not None


def test_the_sso_header_is_required_when_configured():
    c = client(trusted_user_header="X-Forwarded-User", api_keys=["k-one"])
    for path in ("/api/search", "/articles/x"):
        got = c.get(path)
        assert got.status_code == 401
        assert "X-Forwarded-User header is missing" in got.json()["error"]["message"]
    user = {"X-Forwarded-User": "anna"}
    assert c.get("/articles/x", headers=user).status_code == 200
    assert c.get("/api/search", headers=user).status_code == 200  # the page's cookie
    script = client(api_keys=["k-one"], trusted_user_header="X-Forwarded-User")
    assert script.get("/api/search", headers={"X-API-Key": "k-one"}).status_code == 200
    assert c.get("/healthz").status_code == 200


def test_the_route_kinds():
    kinds = {
        ("GET", "/healthz"): Kind.HEALTH,
        ("GET", "/metrics"): Kind.HEALTH,
        ("POST", "/gradio_api/upload"): Kind.CLOSED,
        ("POST", "/gradio_api/upload/"): Kind.CLOSED,
        ("GET", "/gradio_api/upload_progress"): Kind.CLOSED,
        ("GET", "/gradio_api/proxy=http://x"): Kind.CLOSED,
        ("GET", "/monitoring/summary"): Kind.CLOSED,
        ("GET", "/assets/index.js"): Kind.STATIC,
        ("GET", "/widget.js"): Kind.STATIC,
        ("GET", "/"): Kind.PAGE,
        ("GET", "/widget"): Kind.PAGE,
        ("GET", "/articles/a1"): Kind.PAGE,
        ("POST", "/api/admin/ingest"): Kind.ADMIN,
        ("POST", "/"): Kind.DATA,
        ("POST", "/assets/index.js"): Kind.DATA,
        ("GET", "/config"): Kind.DATA,
        ("GET", "/gradio_api/info"): Kind.DATA,
        ("POST", "/gradio_api/call/respond"): Kind.DATA,
        ("GET", "/gradio_api/file=/etc/passwd"): Kind.DATA,
        ("GET", "/something/new"): Kind.DATA,
    }
    assert {route: kind_of(*route) for route in kinds} == kinds


def test_closed_routes_are_404_and_their_body_is_not_read():
    for c in (client(), client(api_keys=["k-one"])):
        got = c.post("/gradio_api/upload", content=b"x" * 100_000, headers={"X-API-Key": "k-one"})
        assert got.status_code == 404 and got.json()["error"]["code"] == "not_found"
        assert got.headers["x-content-type-options"] == "nosniff"


def test_websockets_are_refused():
    with pytest.raises(WebSocketDisconnect), client().websocket_connect("/ws") as ws:
        ws.receive_text()


# --- body size ------------------------------------------------------------------------------
def test_a_body_over_the_limit_is_refused_by_its_content_length():
    c = client(max_body_kb=1)
    for path in ("/api/ask", "/gradio_api/queue/join"):
        ok = c.post(path, content=b"x" * 1024)
        assert ok.status_code == 200 and ok.json() == {"received": 1024}
        big = c.post(path, content=b"x" * 1025)
        assert big.status_code == 413
        assert big.json()["error"]["code"] == "too_large"
        assert "1 KiB" in big.json()["error"]["message"]


def test_a_streamed_body_is_counted_as_it_arrives():
    c = client(max_body_kb=1)

    def chunks(n: int) -> Iterator[bytes]:
        for _ in range(n):
            yield b"y" * 300

    small = c.post("/api/ask", content=chunks(3))  # chunked: no Content-Length
    assert small.status_code == 200 and small.json() == {"received": 900}
    big = c.post("/api/ask", content=chunks(4))
    assert big.status_code == 413 and big.json()["error"]["code"] == "too_large"


# --- rate limit -----------------------------------------------------------------------------
def test_asking_routes_are_rate_limited_per_client_with_retry_after():
    c = client(rate_limit_per_minute=2, trusted_user_header="X-Forwarded-User")
    anna = {"X-Forwarded-User": "anna"}
    assert [c.get("/api/search", headers=anna).status_code for _ in range(2)] == [200, 200]
    limited = c.get("/api/search", headers=anna)
    assert limited.status_code == 429
    assert limited.json()["error"]["code"] == "rate_limited"
    assert 1 <= int(limited.headers["retry-after"]) <= 30
    assert c.get("/api/search", headers={"X-Forwarded-User": "bruno"}).status_code == 200
    assert c.get("/api/articles/x", headers=anna).status_code == 200  # not an asking route


def test_each_api_key_has_its_own_bucket():
    c = client(rate_limit_per_minute=1, api_keys=["k-one", "k-two"])
    assert c.get("/api/search", headers={"X-API-Key": "k-one"}).status_code == 200
    assert c.get("/api/search", headers={"X-API-Key": "k-one"}).status_code == 429
    assert c.get("/api/search", headers={"X-API-Key": "k-two"}).status_code == 200
