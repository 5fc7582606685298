"""The chat page's discreet "Archive updated …, N articles" line follows a background sync.

A page left open redraws the line on a timer (ui.web.web_chat.STATUS_EVERY_S, shortened here), so
what the server's background sync brings shows without a reload or a question. The server is
the real app under uvicorn with the real sync thread, over a real embedded Chroma (hash
embedder: this is plumbing), syncing the loopback news site of tests/web_site.py.
"""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import expect

from ingest.sync import Ingestor
from rag.answer.extractive import ExtractiveAnswerer
from rag.archive.index import ArchiveIndex
from rag.chat import Engine
from rag.config import Settings
from rag.retrieval import Retriever
from tests.fakes import HashEmbedder
from tests.web_site import ARTICLES, LOOPBACK, NewsSite, Route, rss

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SEEDS = [
    {"id": "seed-1", "title": "Harvest festival", "lang": "en", "date": "2019-09-09",
     "text": "The town held its yearly harvest festival with music and a market."},
    {"id": "seed-2", "title": "Festa del raccolto", "lang": "it", "date": "2019-09-10",
     "text": "Il paese ha festeggiato il raccolto con musica e un mercato in piazza."},
]  # fmt: skip
FEED = ["/it/borgoverde-ponte.html", "/en/valdoro-port-floods.html", "/en/lantern-museum.html"]


@pytest.fixture
def site() -> Iterator[NewsSite]:
    s = NewsSite().start()
    for path in ARTICLES:
        s.page(path)
    s.routes["/robots.txt"] = Route(b"User-agent: *\nAllow: /\n", "text/plain")
    s.routes["/rss.xml"] = Route(rss(s.base, FEED), "application/rss+xml")
    yield s
    s.stop()


@pytest.fixture
def syncing_server(tmp_path, monkeypatch) -> Iterator[tuple[str, Settings]]:
    import uvicorn

    import ui.web.web_chat
    from app.services import Services
    from ui.web.server import create_app

    monkeypatch.setattr(ui.web.web_chat, "STATUS_EVERY_S", 1.5)
    embedder = HashEmbedder()
    settings = Settings(
        _env_file=None, index_dir=tmp_path / "index", rate_limit_per_minute=0, chunk_tokens=60,
        chunk_overlap=10, sync="auto", sync_check_seconds=1, fetch_host_delay=0,
        fetch_allow=[LOOPBACK],  # the site is on loopback: refused unless allowed
    )  # fmt: skip
    seeds = tmp_path / "seeds.jsonl"
    seeds.write_text("".join(json.dumps(s) + "\n" for s in SEEDS), "utf-8")
    index = ArchiveIndex.open(settings, model_label=embedder.label, dim=embedder.dim)
    Ingestor(index, embedder, chunk_tokens=60, chunk_overlap=10).run([seeds], max_bytes=10**6)
    engine = Engine(
        Retriever(index, embedder), ExtractiveAnswerer(embedder), embedder, refusal_threshold=-1.0
    )
    app = create_app(settings, services=Services.with_engine(settings, engine))
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    uv = uvicorn.Server(uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=2))
    thread = threading.Thread(target=uv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail(f"the newsrag server at {url} did not become ready")
        time.sleep(0.2)
    yield url, settings
    uv.should_exit = True
    thread.join(10)
    sock.close()
    index.close()


def test_a_page_left_open_shows_what_a_background_sync_brought(syncing_server, site, new_page):
    from app.sources import add_source

    url, settings = syncing_server
    page = new_page()
    page.goto(url + "/")
    line = page.locator("#nr-archive")
    expect(line).to_contain_text(re.compile(r"Archive updated .*, 2 articles"))

    add_source(settings, site.base + "/rss.xml", every="30m", name="gazzetta")
    # no reload, no question: the background sync stores 3 articles, the line follows
    expect(line).to_contain_text(re.compile(r"Archive updated .*, 5 articles"), timeout=30_000)
    assert httpx.get(url + "/api/status").json()["articles"] == 5
    assert not page.errors
