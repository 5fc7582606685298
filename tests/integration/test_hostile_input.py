"""Hostile requests and hostile articles on the real app (issue 15, defects 5, 6 and 7).

The real app (ui.web.server.create_app) over a real embedded Chroma, with the hash embedder and
no refusal threshold, so every question is answered from the one hostile article: what a
client sends that is not text (a lone surrogate, a 5,000-level nesting) is a 4xx naming the
field; what /v1 returns of an article's markup is plain text for a Markdown front end; and
an uploaded HTML file's ``javascript:`` canonical link does not become an article id.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from starlette.testclient import TestClient

from app.services import Services
from ingest.sync import Ingestor
from rag.answer.extractive import ExtractiveAnswerer
from rag.archive.index import ArchiveIndex
from rag.chat import Engine
from rag.config import Settings
from rag.retrieval import Retriever
from tests.fakes import HashEmbedder
from ui.remote_ingest import run_remote_ingest
from ui.web.server import create_app

pytestmark = pytest.mark.integration

KEY = "hostile-admin-key"
HOSTILE = {
    "id": "hostile-lanterns",
    "title": "<script>alert('title')</script> Lanterns of Corvina <img src=x onerror=alert(2)>",
    "lang": "en",
    "date": "2031-03-08",
    "source": "<b>Gazzetta</b>",
    "text": (
        "The Museum of Lanterns of Corvina reopened on Saturday, [the island's site]"
        "(javascript:alert(document.cookie)) and [the archive](https://archive.example.org/l) "
        "said <script>alert(1)</script><img src=x onerror=alert(3)>.\n\n"
        "[1]: javascript:alert(4)\n\n"
        "Three hundred lanterns hang again in the old salt warehouse by the harbour of Corvina, "
        "and entry is free for children <javascript:alert(5)> until the summer."
    ),
}
QUESTION = "When did the Museum of Lanterns of Corvina reopen?"


@dataclass
class Served:
    client: TestClient
    index: ArchiveIndex


@pytest.fixture
def served(tmp_path) -> Iterator[Served]:
    embedder = HashEmbedder()
    settings = Settings(
        index_dir=tmp_path / "index", rate_limit_per_minute=0, chunk_tokens=200,
        chunk_overlap=10, admin_keys=[KEY], refresh_seconds=0,
    )  # fmt: skip
    articles = tmp_path / "hostile.jsonl"
    articles.write_text(json.dumps(HOSTILE) + "\n", "utf-8")
    index = ArchiveIndex.open(settings, model_label=embedder.label, dim=embedder.dim)
    Ingestor(index, embedder, chunk_tokens=200, chunk_overlap=10).run([articles], max_bytes=10**6)
    engine = Engine(
        Retriever(index, embedder), ExtractiveAnswerer(embedder), embedder, refusal_threshold=-1.0
    )
    app = create_app(settings, services=Services.with_engine(settings, engine))
    with TestClient(app, raise_server_exceptions=False) as client:  # a 500 is an answer here
        yield Served(client, index)
    index.close()


def post_json(client: TestClient, route: str, raw: str, **kw: Any) -> Any:
    """The body as written: json= would not send a lone surrogate as the escape it is."""
    headers = {"Content-Type": "application/json", **kw.pop("headers", {})}
    return client.post(route, content=raw.encode(), headers=headers, **kw)


# --- defect 5: text that is not Unicode, and nesting ------------------------------------
LONE = '"Where did the lanterns \\ud800 go?"'


@pytest.mark.parametrize(
    ("route", "body", "field"),
    [
        ("/api/ask", f'{{"question": {LONE}}}', "question"),
        ("/api/ask/stream", f'{{"question": {LONE}}}', "question"),
        ("/api/ask", f'{{"question": "ok?", "history": [{{"role": "user", "content": {LONE}}}]}}',
         "history.0.content"),
        ("/v1/chat/completions", f'{{"messages": [{{"role": "user", "content": {LONE}}}]}}',
         "messages.0.content"),
        ("/v1/chat/completions",
         f'{{"stream": true, "messages": [{{"role": "user", "content": {LONE}}}]}}',
         "messages.0.content"),
        ("/v1/chat/completions",
         f'{{"messages": [{{"role": "user", "content": [{{"type": "text", "text": {LONE}}}]}}]}}',
         "messages.0.content"),
        ("/v1/chat/completions",
         '{"model": "x\\udfff", "messages": [{"role": "user", "content": "hi"}]}', "model"),
        ("/api/feedback", f'{{"question": {LONE}, "answer": "a", "rating": "up"}}', "question"),
        ("/api/feedback",
         f'{{"question": "q", "answer": "a", "rating": "up", "citations": [{{"title": {LONE}}}]}}',
         "citations"),
    ],
)  # fmt: skip
def test_a_lone_surrogate_is_a_422_naming_the_field(served, route, body, field):
    got = post_json(served.client, route, body)
    assert got.status_code == 422, got.text
    assert got.headers["content-type"].startswith("application/json")  # not a stream
    error = got.json()["error"]
    assert error["code"] == "validation" and error["field"] == field
    assert "lone surrogate" in error["message"] and field in error["message"]


def test_text_with_a_real_emoji_is_still_answered(served):
    got = post_json(
        served.client, "/api/ask", '{"question": "Lanterns of Corvina \\ud83c\\udfee?"}'
    )
    assert got.status_code == 200 and "🏮" in got.json()["question"]
    emoji = '{"question": "q \\ud83c\\udfee", "answer": "a", "rating": "up"}'
    rated = post_json(served.client, "/api/feedback", emoji)
    assert rated.status_code == 201


def test_nesting_thousands_of_levels_deep_is_a_422_naming_the_field(served):
    deep = "[" * 5000 + "]" * 5000
    meta = f'{{"files": [], "extra": {deep}}}'
    got = served.client.post(
        "/api/admin/ingest", data={"meta": meta}, headers={"Authorization": f"Bearer {KEY}"}
    )
    assert got.status_code == 422, got.text
    error = got.json()["error"]
    assert error["field"] == "meta" and "nested too deeply" in error["message"]

    surrogate = '{"files": [{"where": "notes\\ud800.txt", "file_id": "file:notes.txt"}]}'
    got = served.client.post(
        "/api/admin/ingest", data={"meta": surrogate}, files={"files": ("a.txt", b"x " * 50)},
        headers={"Authorization": f"Bearer {KEY}"},
    )  # fmt: skip
    assert got.status_code == 422 and got.json()["error"]["field"] == "meta"
    assert "lone surrogate (\\ud800) at files[0].where" in got.json()["error"]["message"]

    body = post_json(served.client, "/api/ask", f'{{"question": "q?", "filters": {deep}}}')
    assert body.status_code == 422 and body.json()["error"]["field"] == "body"
    citations = "[" * 100 + "]" * 100  # readable JSON, but no citation is shaped like that
    feedback = post_json(served.client, "/api/feedback",
                         f'{{"question": "q", "answer": "a", "rating": "up", '
                         f'"citations": [{{"x": {citations}}}]}}')  # fmt: skip
    assert feedback.status_code == 422 and feedback.json()["error"]["field"] == "citations"
    assert "nested more than 32 levels" in feedback.json()["error"]["message"]


# --- defect 6: /v1 output is plain text ---------------------------------------------------
def rendered(markdown: str) -> str:
    """HTML as a lenient Markdown front end renders it: raw HTML on, any link scheme kept."""
    from markdown_it import MarkdownIt

    md = MarkdownIt("commonmark")
    md.validateLink = lambda url: True  # markdown-it refuses javascript:; not every renderer does
    return md.render(markdown)


def assert_plain(content: str) -> None:
    page = rendered(content)
    assert not re.search(r"<(script|img)\b", page, re.IGNORECASE), page
    assert "onerror" not in page
    hrefs = re.findall(r'href="([^"]*)"', page)
    assert all(h.startswith(("http://", "https://")) for h in hrefs), hrefs
    assert "https://archive.example.org/l" in hrefs  # an http(s) link stays a link
    assert "the island's site" in content  # a refused link keeps its text


def test_v1_answers_and_titles_are_plain_text(served):
    messages = [{"role": "user", "content": QUESTION}]
    plain = served.client.post("/v1/chat/completions", json={"messages": messages}).json()
    content = plain["choices"][0]["message"]["content"]
    assert "Museum of Lanterns" in content and "Sources:" in content
    assert_plain(content)
    [cited] = plain["citations"]
    assert cited["title"].strip() == "Lanterns of Corvina" and cited["source"] == "Gazzetta"

    with served.client.stream(
        "POST", "/v1/chat/completions", json={"messages": messages, "stream": True}
    ) as r:
        lines = [x for x in "".join(r.iter_text()).split("\n\n") if x.startswith("data: {")]
    streamed = "".join(json.loads(x[6:])["choices"][0]["delta"].get("content", "") for x in lines)
    assert streamed == content

    # /api keeps the archive as it is: the chat page and the widget show it as text
    asked = served.client.post("/api/ask", json={"question": QUESTION}).json()
    assert asked["citations"][0]["title"] == HOSTILE["title"]


# --- defect 7: an HTML file's javascript: canonical ---------------------------------------
def test_an_uploaded_html_file_with_a_javascript_canonical_keeps_its_path_id(served, tmp_path):
    folder = tmp_path / "upload"
    folder.mkdir()
    (folder / "faro.html").write_text(
        "<html lang='it'><head><title>Il faro</title>"
        "<link rel='canonical' href='javascript:alert(document.cookie)'></head><body><article>"
        "<h1>Il faro di Corvina</h1><p>" + "Il faro di Corvina torna a splendere. " * 10 +
        "</p></article></body></html>", "utf-8",
    )  # fmt: skip
    report = run_remote_ingest(
        "http://testserver", KEY, [folder], field_map={}, prune=False, quiet=True,
        client=served.client,
    )  # fmt: skip
    assert report.added == 1 and report.problems == ()
    ids = {r.id for r in served.index.manifest.iter_records()}
    [faro] = ids - {HOSTILE["id"]}
    assert faro.startswith("file:") and faro.endswith("faro.html")
    stored = served.client.get(f"/api/articles/{faro}").json()
    assert stored["url"] is None
    assert served.client.get("/api/articles/javascript:alert(document.cookie)").status_code == 404
