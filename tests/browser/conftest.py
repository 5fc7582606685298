"""The real server over a small real index, intranet host pages on other origins, and chromium.

- ``archive``: the two seed articles (English and Italian, Isis in Syria) plus a hostile article
  whose title, text and source carry ``<script>`` and ``<img onerror>``, embedded with the real
  multilingual-e5-small.
- ``host`` / ``stranger``: tiny pages on 127.0.0.2 and 127.0.0.3 (other origins than the server
  on 127.0.0.1) that include the widget with its one ``<script>`` line; only ``host`` is in
  NEWSRAG_ALLOWED_ORIGINS.
- ``server``: ``ui.web.server.create_app`` under uvicorn in a thread, on a free loopback port,
  behind the SSO header (every page of the tests sends it); ``locked_server``: the same with
  API keys set, embedded by ``locked_host`` (127.0.0.4).
- screenshots go to tests/artifacts/ under fixed names (``shot``).
"""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.app_server import running
from tests.conftest import REPO

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
ARTIFACTS = REPO / "tests" / "artifacts"
TIMEOUT_MS = 90_000  # the first answer loads the language models
# the SSO proxy's header, which every page of the tests sends (the servers require it)
SSO_HEADER = "X-Forwarded-User"
SSO = {SSO_HEADER: "tester"}
LOCKED_KEY = "browser-tests-key"

HOSTILE_TITLE = (
    'Palmyra museum <script>window.__pwned=1</script><img src=x onerror="window.__pwned=1">'
)
HOSTILE_ARTICLE = {
    "id": "hostile-palmyra",
    "lang": "en",
    "date": "2024-02-01",
    "source": "<b>agency</b>",
    "url": "javascript:window.__pwned=1",
    "title": HOSTILE_TITLE,
    "text": "Militants of the Islamic State attacked the Palmyra museum on Tuesday night "
    "<script>window.__pwned=1</script>. The attack on the Palmyra museum destroyed three "
    'ancient statues <img src=x onerror="window.__pwned=1">. Guards said the attackers came '
    "from the desert east of the city.",
}
HOSTILE_QUESTION = "Who attacked the Palmyra museum?"


def shot(page: object, name: str) -> Path:
    """Saves a screenshot as tests/artifacts/NAME.png (the folder ignores itself in git)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    ignore = ARTIFACTS / ".gitignore"
    if not ignore.exists():
        ignore.write_text("# screenshots written by tests/browser\n*\n")
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)  # type: ignore[attr-defined]
    return path


# --- host pages on other origins ------------------------------------------------------------
@dataclass
class HostPage:
    """An 'intranet page' on its own origin that includes the widget script."""

    origin: str
    server: http.server.ThreadingHTTPServer
    widget_src: str = ""  # set once the newsrag server is up
    attributes: str = 'data-lang="en" data-color="#0b6e4f"'

    @property
    def html(self) -> bytes:
        return (
            "<!doctype html><html><head><meta charset='utf-8'><title>Intranet</title>"
            # page CSS that must not reach the widget
            "<style>button{background:red!important;font-size:40px!important}"
            "*{font-family:serif!important}</style></head><body><h1>Intranet home</h1>"
            "<p>News and notices.</p>"
            f'<script src="{self.widget_src}" {self.attributes} '
            'data-title="Ask the <b>archive</b>" '
            'data-greeting="Hello <img src=x onerror=window.__pwned=1>" async></script>'
            "</body></html>"
        ).encode()


def serve_host(address: str) -> HostPage:
    holder: list[HostPage] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = holder[0].html
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer((address, 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    page = HostPage(f"http://{address}:{server.server_address[1]}", server)
    holder.append(page)
    return page


@pytest.fixture(scope="session")
def host() -> Iterator[HostPage]:
    page = serve_host("127.0.0.2")
    yield page
    page.server.shutdown()


@pytest.fixture(scope="session")
def stranger() -> Iterator[HostPage]:
    page = serve_host("127.0.0.3")
    yield page
    page.server.shutdown()


# --- the archive and the server -------------------------------------------------------------
@pytest.fixture(scope="session")
def archive(tmp_path_factory, e5_embedder, seeds_dir) -> Path:
    from ingest.sync import Ingestor
    from rag.archive.index import ArchiveIndex
    from rag.config import Settings

    root = tmp_path_factory.mktemp("browser-archive")
    hostile = root / "hostile"
    hostile.mkdir()
    (hostile / "hostile.jsonl").write_text(json.dumps(HOSTILE_ARTICLE) + "\n", encoding="utf-8")
    settings = Settings(_env_file=None, index_dir=root / "index")
    index = ArchiveIndex.open(settings, model_label=e5_embedder.label, dim=e5_embedder.dim)
    Ingestor(index, e5_embedder).run([seeds_dir, hostile], max_bytes=10**7)
    index.close()
    return root / "index"


@dataclass
class Server:
    url: str
    index_dir: Path


@pytest.fixture(scope="session")
def engine(archive, e5_embedder) -> Iterator[object]:
    from rag.answer.extractive import ExtractiveAnswerer
    from rag.archive.index import ArchiveIndex
    from rag.chat import Engine
    from rag.config import Settings
    from rag.retrieval import Retriever

    settings = Settings(_env_file=None, index_dir=archive)
    index = ArchiveIndex.open(settings, model_label=e5_embedder.label, dim=e5_embedder.dim)
    yield Engine(
        Retriever(index, e5_embedder),
        ExtractiveAnswerer(e5_embedder),
        e5_embedder,
        **e5_embedder.spec.refusal(),
    )
    index.close()


def serve_engine(engine: object, archive: Path, **overrides: object) -> Iterator[Server]:
    """The real app over the session's engine, under uvicorn on loopback."""
    from app.services import Services
    from rag.config import Settings
    from ui.web.server import create_app

    values: dict[str, object] = {
        "_env_file": None, "index_dir": archive, "api_keys": [], "public_url": None,
        "rate_limit_per_minute": 0, "trusted_user_header": SSO_HEADER, "llm": None,
    }  # fmt: skip
    settings = Settings(**(values | overrides))  # type: ignore[arg-type]
    app = create_app(settings, services=Services.with_engine(settings, engine))  # type: ignore[arg-type]
    with running(app) as url:
        yield Server(url, archive)


@pytest.fixture(scope="session")
def server(engine, archive, host, stranger) -> Iterator[Server]:
    """An open server (no API keys) behind the SSO header, ``host`` allowed to embed it."""
    for served in serve_engine(engine, archive, allowed_origins=[host.origin]):
        for page in (host, stranger):
            page.widget_src = f"{served.url}/widget.js"
        yield served


@pytest.fixture(scope="session")
def locked_host() -> Iterator[HostPage]:
    page = serve_host("127.0.0.4")
    yield page
    page.server.shutdown()


@pytest.fixture(scope="session")
def locked_server(engine, archive, locked_host) -> Iterator[Server]:
    """The same, locked: API keys set, so browsers get in only through their page's session."""
    for served in serve_engine(
        engine, archive, allowed_origins=[locked_host.origin], api_keys=[LOCKED_KEY]
    ):
        locked_host.widget_src = f"{served.url}/widget.js"
        yield served


# --- the browser ----------------------------------------------------------------------------
@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing: `make chromium` installs Debian's chromium")
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=TIMEOUT_MS)
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def new_page(browser):
    """``new_page(locale=..., width=...)``: a page in a fresh context, closed after the test."""
    contexts = []

    def make(locale: str = "en-US", width: int = 1280, height: int = 900):
        context = browser.new_context(
            locale=locale, viewport={"width": width, "height": height}, extra_http_headers=SSO
        )
        context.set_default_timeout(TIMEOUT_MS)
        contexts.append(context)
        page = context.new_page()
        page.errors = []  # uncaught page errors, for the tests to assert on
        page.on("pageerror", lambda err: page.errors.append(str(err)))
        return page

    yield make
    for context in contexts:
        context.close()
