"""Origins, API keys, rate limit, body size and headers, on a small app behind the middleware."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from fastapi import FastAPI, Request
from starlette.responses import HTMLResponse
from starlette.testclient import TestClient

from rag.config import Settings
from ui.security import RateLimiter, SecurityMiddleware

INTRANET = "https://intranet.example.org"
ELSEWHERE = "https://evil.example.com"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def client(**overrides: object) -> TestClient:
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

    @app.get("/page")
    async def page() -> HTMLResponse:
        return HTMLResponse("<p>hi</p>")

    limiter = RateLimiter(settings.rate_limit_per_minute)
    app.add_middleware(SecurityMiddleware, settings=settings, limiter=limiter)
    return TestClient(app)


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
    response = client().get("/page")
    assert response.headers["content-security-policy"] == f"frame-ancestors 'self' {INTRANET}"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "same-origin"
    alone = client(allowed_origins=[]).get("/page")
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
    assert c.get("/page").status_code == 200  # pages need no key


def test_browsers_on_our_pages_or_allowed_origins_need_no_key():
    c = client(api_keys=["k-one"])
    assert c.get("/api/search", headers={"Sec-Fetch-Site": "same-origin"}).status_code == 200
    assert c.get("/api/search", headers={"Origin": INTRANET}).status_code == 200
    assert c.get("/api/search", headers={"Origin": "http://testserver"}).status_code == 200
    assert c.get("/api/search", headers={"Sec-Fetch-Site": "cross-site"}).status_code == 401
    # a wrong key is refused even from our own page
    wrong = c.get("/api/search", headers={"Sec-Fetch-Site": "same-origin", "X-API-Key": "bad"})
    assert wrong.status_code == 401


# --- body size ------------------------------------------------------------------------------
def test_a_body_over_the_limit_is_refused_by_its_content_length():
    c = client(max_body_kb=1)
    ok = c.post("/api/ask", content=b"x" * 1024)
    assert ok.status_code == 200 and ok.json() == {"received": 1024}
    big = c.post("/api/ask", content=b"x" * 1025)
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
