"""One door (issue 15): every route that answers, uploads or reads passes the same checks.

Real servers on loopback (the app under uvicorn, over a small real index with the hash
embedder): a **locked** one (API keys, an allowed origin, the SSO header) and an **open** demo
(no keys). Each test is one defect that main had: Gradio's routes answered with no key, from a
foreign origin and without the SSO header; ``Sec-Fetch-Site`` or an allowed ``Origin`` stood
in for the key; ``/gradio_api/upload`` stored 20 MB from anyone; NEWSRAG_MAX_BODY_KB did not
cover ``/gradio_api``.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.services import Services
from ingest.sync import Ingestor
from rag.answer.extractive import ExtractiveAnswerer
from rag.archive.index import ArchiveIndex
from rag.chat import Engine
from rag.config import Settings
from rag.retrieval import Retriever
from tests.app_server import running
from tests.fakes import HashEmbedder
from ui.web.server import create_app
from ui.web.session import COOKIE, Sessions

pytestmark = [pytest.mark.integration, pytest.mark.slow]

KEY = "door-key-for-tests"
INTRANET = "https://intranet.example.org"
EVIL = "https://evil.example.com"
USER = {"X-Forwarded-User": "mrossi"}
ARTICLE = {"id": "harvest-1", "title": "Harvest festival in Valdoro", "lang": "en",
           "date": "2019-09-09", "source": "test",
           "text": "The town of Valdoro held its yearly harvest festival with music and a "
                   "market on the square. Farmers sold apples, pears and honey."}  # fmt: skip
QUESTION = "When did Valdoro hold its harvest festival?"
# /gradio_api/call/respond's inputs: the question, then the filters (language, dates, source)
CALL = {"data": [QUESTION, "any", "", "", ""]}
MB20 = 20 * 1024 * 1024


@pytest.fixture(scope="module")
def engine(tmp_path_factory) -> Iterator[Engine]:
    root = tmp_path_factory.mktemp("door")
    embedder = HashEmbedder()
    settings = Settings(_env_file=None, index_dir=root / "index")
    (root / "a.jsonl").write_text(json.dumps(ARTICLE) + "\n", "utf-8")
    index = ArchiveIndex.open(settings, model_label=embedder.label, dim=embedder.dim)
    Ingestor(index, embedder).run([root / "a.jsonl"], max_bytes=10**6)
    yield Engine(
        Retriever(index, embedder), ExtractiveAnswerer(embedder), embedder, refusal_threshold=-1.0
    )
    index.close()


def serve(engine: Engine, root: Path, **overrides: Any) -> Iterator[str]:
    values: dict[str, Any] = {"_env_file": None, "index_dir": root / "web",
                              "allowed_origins": [INTRANET], "rate_limit_per_minute": 0,
                              "max_body_kb": 16}  # fmt: skip
    settings = Settings(**(values | overrides))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GRADIO_TEMP_DIR", str(root / "gradio"))  # where its upload route stores
        app = create_app(settings, services=Services.with_engine(settings, engine))
    with running(app) as url:
        yield url


@pytest.fixture(scope="module")
def locked(engine, tmp_path_factory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("locked")
    yield from serve(engine, root, api_keys=[KEY], trusted_user_header="X-Forwarded-User")


@pytest.fixture(scope="module")
def open_demo(engine, tmp_path_factory) -> Iterator[str]:
    yield from serve(engine, tmp_path_factory.mktemp("open"))


def gradio_answer(url: str, headers: dict[str, str], cookies: Any = None) -> str:
    """Asks through Gradio's call API; the streamed events as text."""
    with httpx.Client(base_url=url, headers=headers, cookies=cookies, timeout=60) as c:
        started = c.post("/gradio_api/call/respond", json=CALL)
        assert started.status_code == 200, started.text
        return c.get(f"/gradio_api/call/respond/{started.json()['event_id']}").text


def page_session(url: str, headers: dict[str, str]) -> httpx.Cookies:
    page = httpx.get(url + "/", headers=headers)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert COOKIE in page.cookies
    return page.cookies


# --- defect 1: Gradio's routes behind the key ------------------------------------------------
def test_gradio_routes_need_a_key_or_the_pages_session_when_keys_are_set(locked):
    for method, path, body in (
        ("POST", "/gradio_api/call/respond", CALL),
        ("POST", "/gradio_api/queue/join", {"data": [], "fn_index": 0, "session_hash": "x"}),
        ("POST", "/gradio_api/run/predict", {"data": [], "fn_index": 0}),
        ("GET", "/gradio_api/queue/data?session_hash=x", None),
        ("GET", "/gradio_api/info", None),
        ("GET", "/config", None),
        ("GET", "/gradio_api/file=/etc/hostname", None),
    ):
        got = httpx.request(method, locked + path, json=body, headers=USER)
        assert got.status_code == 401, (path, got.status_code, got.text[:200])
        assert got.json()["error"]["code"] == "unauthorized"

    by_key = gradio_answer(locked, USER | {"Authorization": f"Bearer {KEY}"})
    assert "Harvest festival in Valdoro" in by_key
    by_page = gradio_answer(locked, USER, cookies=page_session(locked, USER))
    assert "Harvest festival in Valdoro" in by_page
    # the page, its code and the health probes stay reachable without a key
    assert httpx.get(locked + "/widget.js", headers=USER).status_code == 200
    assert httpx.get(locked + "/healthz").status_code == 200


def test_a_foreign_origin_is_refused_on_gradio_routes_too(locked, open_demo):
    keyed = USER | {"Authorization": f"Bearer {KEY}"}
    for url, headers in ((locked, keyed), (open_demo, {})):
        for method, path, body in (
            ("POST", "/gradio_api/call/respond", CALL),
            ("POST", "/gradio_api/queue/join", {"data": [], "fn_index": 0, "session_hash": "x"}),
            ("GET", "/gradio_api/queue/data?session_hash=x", None),
            ("POST", "/api/ask", {"question": QUESTION}),
        ):
            got = httpx.request(method, url + path, json=body, headers=headers | {"Origin": EVIL})
            assert got.status_code == 403, (url, path, got.status_code, got.text[:200])
            assert got.json()["error"]["code"] == "forbidden_origin"
        # the same requests from the intranet's origin are answered
        allowed = headers | {"Origin": INTRANET}
        assert httpx.post(url + "/api/ask", json={"question": QUESTION}, headers=allowed).is_success


def test_the_sso_header_is_required_when_configured(locked):
    for method, path in (
        ("POST", "/gradio_api/call/respond"),
        ("POST", "/api/ask"),
        ("GET", "/"),
        ("GET", "/widget"),
        ("GET", "/gradio_api/info"),
    ):
        got = httpx.request(method, locked + path, json=CALL)
        assert got.status_code == 401, (path, got.status_code)
        assert "X-Forwarded-User header is missing" in got.json()["error"]["message"]
    # nor does a session stand in for it: it was given to whoever the proxy let through
    cookies = page_session(locked, USER)
    got = httpx.post(locked + "/gradio_api/call/respond", json=CALL, cookies=cookies)
    assert got.status_code == 401
    # a script with an API key does not pass the proxy (cron on the server's machine)
    keyed = {"Authorization": f"Bearer {KEY}"}
    asked = httpx.post(locked + "/api/ask", json={"question": QUESTION}, headers=keyed)
    assert asked.status_code == 200 and "Harvest festival in Valdoro" in asked.text
    assert httpx.get(locked + "/readyz").status_code == 200  # probes go around the proxy


def test_browser_signals_never_stand_in_for_the_key(locked):
    ask = {"question": QUESTION}
    for spoofed in (
        {"Sec-Fetch-Site": "same-origin"},
        {"Origin": INTRANET},
        {"Origin": locked, "Sec-Fetch-Site": "same-origin", "Sec-Fetch-Mode": "cors"},
        {"Cookie": f"{COOKIE}=v1.9999999999.0011223344556677.forged"},
        {"X-Newsrag-Session": "v1.9999999999.0011223344556677.forged"},
    ):
        got = httpx.post(locked + "/api/ask", json=ask, headers=USER | spoofed)
        assert got.status_code == 401, spoofed
        assert "API key is required" in got.json()["error"]["message"]
    expired = Sessions(b"0" * 32, 60, clock=lambda: time.time() - 3600).issue()
    got = httpx.post(locked + "/api/ask", json=ask, headers=USER | {"X-Newsrag-Session": expired})
    assert got.status_code == 401

    # what a browser really has: the session its page was given
    asked = httpx.post(locked + "/api/ask", json=ask, headers=USER,
                       cookies=page_session(locked, USER))  # fmt: skip
    assert asked.status_code == 200 and "Harvest festival in Valdoro" in asked.text
    widget = httpx.get(locked + "/widget", headers=USER)
    assert widget.headers["cache-control"] == "private, no-store"
    token = widget.text.split('name="newsrag-session" content="', 1)[1].split('"', 1)[0]
    streamed = httpx.post(locked + "/api/ask/stream", json=ask,
                          headers=USER | {"X-Newsrag-Session": token})  # fmt: skip
    assert streamed.status_code == 200 and "event: done" in streamed.text


# --- defect 2: uploads and bodies ------------------------------------------------------------
def test_gradio_upload_is_closed_and_stores_nothing(locked, open_demo, tmp_path_factory):
    base = tmp_path_factory.getbasetemp()
    big = b"x" * MB20
    for url, headers in ((open_demo, {"Origin": EVIL}), (open_demo, {}),
                         (locked, USER | {"Authorization": f"Bearer {KEY}"})):  # fmt: skip
        started = time.monotonic()
        got = httpx.post(url + "/gradio_api/upload", files={"files": ("big.txt", big)},
                         headers=headers, timeout=60)  # fmt: skip
        assert got.status_code == 404, (url, headers, got.status_code)
        assert time.monotonic() - started < 10
        assert httpx.get(url + "/gradio_api/upload_progress", headers=headers).status_code == 404
    # what was sent is nowhere: not under the tests' folders, not in Gradio's upload folder
    # (other tests' files there may be as large: a Chroma store, a model)
    gradio = Path(os.environ.get("GRADIO_TEMP_DIR") or Path(tempfile.gettempdir()) / "gradio")
    stored = [
        p for root in (base, gradio) if root.is_dir() for p in root.rglob("*")
        if p.is_file() and p.stat().st_size >= MB20 and _starts_with_x(p)
    ]  # fmt: skip
    assert stored == []


def _starts_with_x(path: Path) -> bool:
    with path.open("rb") as f:
        return f.read(4096) == b"x" * 4096


def test_an_oversized_body_on_gradio_routes_is_a_413(open_demo):
    huge = {"data": ["x" * MB20, "any", "", "", ""]}
    for path in ("/gradio_api/call/respond", "/gradio_api/queue/join", "/gradio_api/run/predict"):
        got = httpx.post(open_demo + path, json=huge, timeout=60)
        assert got.status_code == 413, (path, got.status_code)
        assert "NEWSRAG_MAX_BODY_KB" in got.json()["error"]["message"]

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
        yield b'{"data": ["'
        for _ in range(40):
            yield b"y" * 1024
        yield b'"]}'

    streamed = httpx.post(open_demo + "/gradio_api/call/respond", content=chunks(),
                          headers={"Content-Type": "application/json"})  # fmt: skip
    assert streamed.status_code == 413
    # within the limit, the open demo answers with no key at all
    assert "Harvest festival in Valdoro" in gradio_answer(open_demo, {})
