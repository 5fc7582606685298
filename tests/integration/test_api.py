"""The web server and its HTTP API, over a real engine (e5 model, real index) via TestClient."""

from __future__ import annotations

import csv
import io
import json
import re
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient
from typer.testing import CliRunner

from app.services import Services
from ingest.sync import Ingestor
from rag.answer.citations import MARKER
from rag.answer.extractive import ExtractiveAnswerer
from rag.answer.llm import LLMAnswerer, build_chat_model, parse_llm_spec
from rag.archive.index import ArchiveIndex
from rag.chat import Engine
from rag.config import Settings
from rag.retrieval import Retriever
from rag.types import Citation
from tests.app_server import running
from tests.conftest import REPO
from tests.llm_server import free_port
from ui.cli import app as cli
from ui.web.present import citation_json
from ui.web.server import create_app

pytestmark = [pytest.mark.slow, pytest.mark.integration]

INTRANET = "https://intranet.example.org"
SYRIA = "where is Isis still active in Syria?"
HOSTILE_TEXT = (
    "A hostile article about the Syrian desert. <script>alert(1)</script> Islamic State cells "
    "are hiding near Palmyra, officials said. <img src=x onerror=alert(1)> The army sent "
    "reinforcements to the region on Monday & Tuesday."
)
HOSTILE = {
    "id": "hostile-1",
    "title": "<script>alert('title')</script> Desert cells",
    "lang": "en",
    "date": "2020-02-03",
    "url": "javascript:alert(1)",
    "source": "test",
    "text": HOSTILE_TEXT,
}
LINKED = {
    "id": "linked-1",
    "title": "Harvest festival in a quiet town",
    "lang": "en",
    "date": "2019-09-09",
    "url": "https://news.example.org/harvest?x=1&y=2",
    "source": "test",
    "text": "The town held its yearly harvest festival with music and a market on the square. "
    "Farmers sold apples, pears and honey to visitors from the nearby villages.",
}


@dataclass
class Archive:
    engine: Engine
    index_dir: Path


@pytest.fixture(scope="module")
def archive(tmp_path_factory, e5_embedder, seeds_dir) -> Iterator[Archive]:
    root = tmp_path_factory.mktemp("api")
    extra = root / "extra.jsonl"
    extra.write_text("\n".join(json.dumps(r) for r in (HOSTILE, LINKED)) + "\n", encoding="utf-8")
    settings = Settings(index_dir=root / "index")
    index = ArchiveIndex.open(settings, model_label=e5_embedder.label, dim=e5_embedder.dim)
    Ingestor(index, e5_embedder).run([REPO / "data" / "sample", seeds_dir, extra], max_bytes=10**7)
    engine = Engine(
        Retriever(index, e5_embedder),
        ExtractiveAnswerer(e5_embedder),
        e5_embedder,
        **e5_embedder.spec.refusal(),
    )
    yield Archive(engine, settings.index_dir)
    index.close()


def make_settings(tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "index_dir": tmp_path / "web",  # feedback lives here; the engine is the module's
        "allowed_origins": [INTRANET],
        "rate_limit_per_minute": 0,
        "trusted_user_header": "X-Forwarded-User",
    }
    return Settings(**(values | overrides))


# what the SSO proxy in front adds to every request (NEWSRAG_TRUSTED_USER_HEADER)
SSO = {"X-Forwarded-User": "tester"}


@pytest.fixture
def web(archive, tmp_path) -> Iterator[TestClient]:
    with client_with(archive, tmp_path) as c:
        yield c


def client_with(archive: Archive, tmp_path: Path, **overrides: Any) -> TestClient:
    settings = make_settings(tmp_path, **overrides)
    app = create_app(settings, services=Services.with_engine(settings, archive.engine))
    return TestClient(app, headers=SSO)


def sse_events(body: str) -> list[tuple[str, Any]]:
    events = []
    for block in body.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines() if not line.startswith(":"))
        events.append((lines["event"], json.loads(lines["data"])))
    return events


def plain(text: str) -> str:
    """The text without [n] markers and with whitespace tidied, as the citation guard leaves it."""
    return re.sub(r"\s+([.,;:!?])", r"\1", " ".join(MARKER.sub("", text).split()))


# --- health ---------------------------------------------------------------------------------
def test_health_and_readiness(web):
    assert web.get("/healthz").json() == {"status": "ok"}
    ready = web.get("/readyz")
    assert ready.status_code == 200 and ready.json() == {"status": "ready", "mode": "extractive"}


def test_not_ready_while_the_engine_loads(archive, tmp_path):
    release = threading.Event()

    def slow_load(_: Settings) -> Engine:
        release.wait(60)
        return archive.engine

    settings = make_settings(tmp_path)
    services = Services(settings, load=slow_load)
    with TestClient(create_app(settings, services=services), headers=SSO) as c:
        assert c.get("/healthz").status_code == 200
        ready = c.get("/readyz")
        assert ready.status_code == 503 and ready.json()["error"]["code"] == "not_ready"
        assert "still loading" in ready.json()["error"]["message"]
        asked = c.post("/api/ask", json={"question": SYRIA})
        assert asked.status_code == 503 and asked.headers["retry-after"] == "5"
        streamed = c.post("/api/ask/stream", json={"question": SYRIA})
        assert streamed.status_code == 503
        assert streamed.headers["content-type"].startswith("application/json")
        release.set()
        assert services.wait(60)
        assert c.get("/readyz").status_code == 200


def test_no_index_gives_a_503_that_says_to_ingest(tmp_path):
    settings = make_settings(tmp_path, index_dir=tmp_path / "nothing-here")
    services = Services(settings)
    with TestClient(create_app(settings, services=services), headers=SSO) as c:
        assert services.wait(120)
        ready = c.get("/readyz")
        assert ready.status_code == 503
        error = ready.json()["error"]
        assert error["code"] == "no_index"
        assert "No index at" in error["message"] and "newsrag ingest" in error["message"]
        asked = c.post("/api/ask", json={"question": SYRIA})
        assert asked.status_code == 503 and asked.json()["error"]["code"] == "no_index"


# --- ask ------------------------------------------------------------------------------------
def test_ask_returns_a_cited_turn(web, archive):
    r = web.post("/api/ask", json={"question": SYRIA})
    assert r.status_code == 200
    turn = r.json()
    assert set(turn) == {"turn_id", "question", "query", "lang", "answer", "citations", "mode",
                         "refused", "filters", "timings"}  # fmt: skip
    assert re.fullmatch(r"[0-9a-f-]{36}", turn["turn_id"])
    assert turn["lang"] == "en" and not turn["refused"] and "[1]" in turn["answer"]
    assert any("Deir Ez" in c["quote"] for c in turn["citations"])
    first = turn["citations"][0]
    assert set(first) == {"n", "article_id", "chunk_id", "title", "date", "url", "link", "lang",
                          "source", "quote", "start", "end", "highlight", "also_in"}  # fmt: skip
    for c in turn["citations"]:
        article = web.get(f"/api/articles/{c['article_id']}").json()
        assert article["text"][c["start"] : c["end"]] == c["quote"]
        if c["url"] is None:
            assert c["link"].startswith("/articles/") and c["link"].endswith("#passage")
    again = web.post("/api/ask", json={"question": SYRIA}).json()
    assert again["turn_id"] != turn["turn_id"] and again["answer"] == turn["answer"]


def test_ask_in_italian_with_filters_and_history(web):
    r = web.post(
        "/api/ask",
        json={"question": "chi ha attaccato la base di Acharan?", "filters": {"lang": "IT"}},
    )
    turn = r.json()
    assert r.status_code == 200 and turn["lang"] == "it" and "Fonti:" in turn["answer"]
    assert turn["filters"]["lang"] == "it" and all(c["lang"] == "it" for c in turn["citations"])

    first = web.post("/api/ask", json={"question": SYRIA}).json()
    history = [
        {"role": "user", "content": SYRIA},
        {"role": "assistant", "content": first["answer"]},
    ]
    follow = web.post("/api/ask", json={"question": "and in Iraq?", "history": history}).json()
    assert follow["query"] == "where is Isis still active in Iraq?"


def test_a_date_filter_outside_the_archive_is_refused_politely(web):
    r = web.post(
        "/api/ask",
        json={"question": SYRIA, "filters": {"date_from": "2030-01-01", "date_to": "2030-12-31"}},
    )
    assert r.status_code == 200
    turn = r.json()
    assert turn["refused"] and turn["mode"] == "refusal" and turn["citations"] == []
    assert turn["filters"] == {"lang": None, "date_from": "2030-01-01", "date_to": "2030-12-31",
                               "source": None}  # fmt: skip


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({}, "question", "is required"),
        ({"question": "   "}, "question", "must not be empty"),
        ({"question": 5}, "question", "string"),
        ({"question": "q?", "history": [{"role": "system", "content": "x"}]}, "history.0.role",
         "'user' or 'assistant'"),
        ({"question": "q?", "filters": {"lang": "ita"}}, "filters.lang", "two-letter"),
        ({"question": "q?", "filters": {"date_from": "05/04/2017"}}, "filters.date_from",
         "YYYY-MM-DD"),
        ({"question": "q?", "filters": {"date_from": "2017-02-30"}}, "filters.date_from",
         "YYYY-MM-DD"),
        ({"question": "q?", "filters": {"date_from": "2018-01-01", "date_to": "2017-01-01"}},
         "filters", "date_from 2018-01-01 is after date_to 2017-01-01"),
    ],
)  # fmt: skip
def test_invalid_requests_get_a_422_naming_the_field(web, body, field, words):
    r = web.post("/api/ask", json=body)
    assert r.status_code == 422
    error = r.json()["error"]
    assert error["code"] == "validation" and error["field"] == field
    assert field in error["message"] and words in error["message"]


def test_a_body_that_is_not_json_is_a_readable_422(web):
    r = web.post("/api/ask", content=b"{not json", headers={"Content-Type": "application/json"})
    assert r.status_code == 422 and "not valid JSON" in r.json()["error"]["message"]


def test_a_question_over_the_limit_is_refused(archive, tmp_path):
    with client_with(archive, tmp_path, max_question_chars=50) as c:
        r = c.post("/api/ask", json={"question": "x" * 51})
        assert r.status_code == 422
        error = r.json()["error"]
        assert error["field"] == "question" and "51 characters, at most 50" in error["message"]
        assert c.get("/api/search", params={"q": "y" * 51}).json()["error"]["field"] == "q"


def test_a_body_over_the_limit_is_a_413(archive, tmp_path):
    with client_with(archive, tmp_path, max_body_kb=1) as c:
        r = c.post("/api/ask", json={"question": SYRIA, "history": [
            {"role": "user", "content": "x" * 2000}]})  # fmt: skip
        assert r.status_code == 413 and r.json()["error"]["code"] == "too_large"
        assert c.post("/api/ask", json={"question": SYRIA}).status_code == 200


# --- streaming ------------------------------------------------------------------------------
def test_the_stream_sends_tokens_then_citations_then_the_turn(web, archive):
    with web.stream("POST", "/api/ask/stream", json={"question": SYRIA}) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        body = "".join(r.iter_text())
    events = sse_events(body)
    kinds = [kind for kind, _ in events]
    n_tokens = kinds.count("token")
    assert n_tokens >= 2 and kinds == ["token"] * n_tokens + ["citations", "done"]
    tokens = "".join(data["text"] for kind, data in events if kind == "token")
    citations = events[-2][1]["citations"]
    turn = events[-1][1]
    assert citations == turn["citations"] and citations
    # the streamed text is the answer before the citation guard renumbered its markers
    assert plain(tokens) == plain(turn["answer"])
    assert turn["answer"] == web.post("/api/ask", json={"question": SYRIA}).json()["answer"]
    # every citation points to a passage the answerer was given (the top passages)
    given = web.get("/api/search", params={"q": SYRIA, "k": archive.engine.passages}).json()
    assert {c["chunk_id"] for c in citations} <= {p["chunk_id"] for p in given["passages"]}


def test_a_refusal_streams_its_message_as_is(web):
    with web.stream(
        "POST",
        "/api/ask/stream",
        json={"question": "Qual è la ricetta della carbonara tradizionale?"},
    ) as r:
        events = sse_events("".join(r.iter_text()))  # fmt: skip
    turn = events[-1][1]
    assert (
        turn["refused"] and turn["lang"] == "it" and events[-2] == ("citations", {"citations": []})
    )
    assert "".join(d["text"] for k, d in events if k == "token") == turn["answer"]
    assert turn["answer"].startswith("Non ho trovato")


def test_an_unreachable_llm_is_a_502_and_a_stream_error(archive, tmp_path, e5_embedder):
    url = f"http://127.0.0.1:{free_port()}/v1"  # nothing listens there
    spec = parse_llm_spec(f"openai:gemma@{url}")
    engine = Engine(
        archive.engine.retriever,
        LLMAnswerer(build_chat_model(spec, api_key=None, timeout=5), name=spec.name),
        e5_embedder,
        **e5_embedder.spec.refusal(),
    )
    settings = make_settings(tmp_path)
    app = create_app(settings, services=Services.with_engine(settings, engine))
    with TestClient(app, headers=SSO) as c:
        r = c.post("/api/ask", json={"question": SYRIA})
        assert r.status_code == 502
        assert r.json()["error"]["code"] == "llm_unreachable"
        assert url in r.json()["error"]["message"]
        with c.stream("POST", "/api/ask/stream", json={"question": SYRIA}) as s:
            events = sse_events("".join(s.iter_text()))
        assert events[-1][0] == "error" and events[-1][1]["error"]["code"] == "llm_unreachable"
        chat = c.post(
            "/v1/chat/completions", json={"messages": [{"role": "user", "content": SYRIA}]}
        )
        assert chat.status_code == 502


# --- search ---------------------------------------------------------------------------------
def test_search_returns_ranked_passages_with_links(web):
    r = web.get("/api/search", params={"q": "Islamic State cells hiding in the Syrian desert",
                                       "k": 3, "lang": "it"})  # fmt: skip
    assert r.status_code == 200
    data = r.json()
    assert data["query"] == "Islamic State cells hiding in the Syrian desert"
    assert 1 <= len(data["passages"]) <= 3 and all(p["lang"] == "it" for p in data["passages"])
    top = data["passages"][0]
    assert top["article_id"] == "sample-badia-2021-it"
    assert (
        top["link"]
        == f"/articles/sample-badia-2021-it?start={top['start']}&end={top['end']}#passage"
    )
    scores = [p["score"] for p in data["passages"]]
    assert scores == sorted(scores, reverse=True)


def test_search_validates_its_parameters(web):
    assert web.get("/api/search").json()["error"]["field"] == "q"
    bad_k = web.get("/api/search", params={"q": "x", "k": 0})
    assert bad_k.status_code == 422 and bad_k.json()["error"]["field"] == "k"
    bad_date = web.get("/api/search", params={"q": "x", "date_to": "2017-13-01"})
    assert bad_date.status_code == 422 and bad_date.json()["error"]["field"] == "date_to"


# --- articles -------------------------------------------------------------------------------
def test_article_json_has_text_and_translations(web):
    r = web.get("/api/articles/sample-badia-2021-en")
    assert r.status_code == 200
    article = r.json()
    assert article["id"] == "sample-badia-2021-en" and article["lang"] == "en"
    assert len(article["text"]) > 200 and article["title"]
    assert [t["id"] for t in article["translations"]] == ["sample-badia-2021-it"]
    assert article["translations"][0]["lang"] == "it"


def test_unknown_articles_are_404(web):
    for path in ("/api/articles/nope", "/articles/nope"):
        r = web.get(path)
        assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    assert web.get("/api/nothing-here").json()["error"]["code"] == "not_found"


def test_the_article_page_escapes_the_archive_and_marks_the_passage(web):
    start = HOSTILE_TEXT.index("Islamic State")
    end = HOSTILE_TEXT.index("officials said.") + len("officials said.")
    r = web.get(f"/articles/hostile-1?start={start}&end={end}")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    page = r.text
    assert "<script" not in page.lower() and "<img" not in page.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page
    assert "&lt;script&gt;alert(&#x27;title&#x27;)&lt;/script&gt; Desert cells" in page
    assert f'<mark id="passage">{HOSTILE_TEXT[start:end]}</mark>' in page
    assert "javascript:" not in page  # its URL is not a link
    csp = r.headers["content-security-policy"]
    assert "default-src 'none'" in csp and f"frame-ancestors 'self' {INTRANET}" in csp
    # the JSON keeps the text as stored, and drops the javascript: URL
    article = web.get("/api/articles/hostile-1").json()
    assert article["text"] == HOSTILE_TEXT and article["url"] is None


def test_the_article_page_links_an_http_original(web):
    page = web.get("/articles/linked-1").text
    assert '<a href="https://news.example.org/harvest?x=1&amp;y=2"' in page
    assert "<mark" not in page  # no passage asked for
    assert web.get("/articles/linked-1?start=5&end=99999").text.count("<mark") == 0


def test_a_javascript_url_never_becomes_a_link(web):
    found = web.get("/api/search", params={"q": "a hostile article about the Syrian desert"}).json()
    [hostile] = [p for p in found["passages"] if p["article_id"] == "hostile-1"]
    assert hostile["url"] is None
    assert (
        hostile["link"]
        == f"/articles/hostile-1?start={hostile['start']}&end={hostile['end']}#passage"
    )
    cited = citation_json(Citation(
        n=1, article_id="a/b?c#d", chunk_id="a/b?c#d:0", title="t", date=None,
        url=" JavaScript:alert(1)", lang="en", source=None, quote="q", start=3, end=9,
    ))  # fmt: skip
    assert cited["url"] is None and cited["link"] == "/articles/a%2Fb%3Fc%23d?start=3&end=9#passage"
    # an article id with / ? # in it still reaches its page through the link
    linked = citation_json(Citation(
        n=1, article_id="x", chunk_id="x:0", title="t", date=None, url="https://e.org/a b",
        lang="en", source=None, quote="q", start=0, end=1,
    ))  # fmt: skip
    assert linked["url"] is None and linked["link"].startswith("/articles/x?")


# --- OpenAI-compatible ----------------------------------------------------------------------
def test_openai_chat_completion(web):
    r = web.post("/v1/chat/completions", json={
        "model": "anything-goes",
        "messages": [{"role": "system", "content": "be nice"}, {"role": "user", "content": SYRIA}],
    })  # fmt: skip
    assert r.status_code == 200
    data = r.json()
    assert data["object"] == "chat.completion" and data["model"] == "anything-goes"
    assert data["id"].startswith("chatcmpl-")
    choice = data["choices"][0]
    assert choice["finish_reason"] == "stop" and choice["message"]["role"] == "assistant"
    content = choice["message"]["content"]
    answer, sources = content.split("\n\nSources:\n")
    assert "[1]" in answer and "Sources: [1]" not in answer  # the one-line date list replaced
    lines = sources.splitlines()
    assert len(lines) == len(data["citations"]) >= 1
    first = data["citations"][0]
    assert lines[0].startswith(f"[1] {first['title']} (")
    assert lines[0].endswith("http://testserver" + first["link"]) or lines[0].endswith(
        first["link"]
    )


def test_openai_stream_sends_chunks_then_done(web):
    messages = [
        {
            "role": "user",
            "content": [{"type": "text", "text": "chi ha attaccato la base di Acharan?"}],
        }
    ]
    plain_reply = web.post("/v1/chat/completions", json={"messages": messages}).json()
    with web.stream(
        "POST", "/v1/chat/completions", json={"messages": messages, "stream": True}
    ) as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        lines = [line for line in "".join(r.iter_text()).split("\n\n") if line.startswith("data: ")]
    assert lines[-1] == "data: [DONE]"
    chunks = [json.loads(line[6:]) for line in lines[:-1]]
    assert all(c["object"] == "chat.completion.chunk" and c["model"] == "newsrag" for c in chunks)
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    content = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks)
    assert content == plain_reply["choices"][0]["message"]["content"]
    assert "\n\nFonti:\n[1] " in content


def test_openai_history_and_validation(web):
    first = web.post("/api/ask", json={"question": SYRIA}).json()
    messages = [
        {"role": "user", "content": SYRIA},
        {"role": "assistant", "content": first["answer"]},
        {"role": "user", "content": "and in Iraq?"},
    ]
    chat = web.post("/v1/chat/completions", json={"messages": messages}).json()
    history = [{"role": m["role"], "content": m["content"]} for m in messages[:2]]
    same = web.post("/api/ask", json={"question": "and in Iraq?", "history": history}).json()
    assert chat["choices"][0]["message"]["content"].startswith(
        same["answer"].split("\n\nSources:")[0]
    )
    no_user = web.post(
        "/v1/chat/completions", json={"messages": [{"role": "system", "content": "x"}]}
    )
    assert no_user.status_code == 422 and no_user.json()["error"]["field"] == "messages"
    empty = web.post("/v1/chat/completions", json={"messages": []})
    assert empty.status_code == 422 and empty.json()["error"]["field"] == "messages"


# --- feedback -------------------------------------------------------------------------------
def test_feedback_is_stored_with_the_user_and_exported(web, tmp_path):
    turn = web.post("/api/ask", json={"question": SYRIA}).json()
    r = web.post(
        "/api/feedback",
        json={"question": SYRIA, "answer": turn["answer"], "citations": turn["citations"],
              "rating": "down", "comment": "la data è sbagliata", "turn_id": turn["turn_id"],
              "mode": turn["mode"]},
        headers={"X-Forwarded-User": "mrossi", "Origin": INTRANET},
    )  # fmt: skip
    assert r.status_code == 201 and r.json() == {"id": 1}
    changed = web.post(
        "/api/feedback",
        json={"question": SYRIA, "answer": turn["answer"], "rating": "down",
              "turn_id": turn["turn_id"]},
        headers={"X-Forwarded-User": "mrossi"},
    )  # fmt: skip
    assert changed.status_code == 201 and changed.json() == {"id": 1}  # the same answer's row
    assert web.post(
        "/api/feedback", json={"question": "q", "answer": "a", "rating": "up"}
    ).json() == {"id": 2}
    bad = web.post("/api/feedback", json={"question": "q", "answer": "a", "rating": "meh"})
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "rating"

    index = str(tmp_path / "web")
    runner = CliRunner()
    jsonl = runner.invoke(cli, ["feedback", "export", "--index", index, "--format", "jsonl"])
    assert jsonl.exit_code == 0, jsonl.output
    first, second = (json.loads(line) for line in jsonl.stdout.splitlines())
    assert first["user"] == "mrossi" and first["origin"] == INTRANET
    assert first["rating"] == "down" and first["comment"] == "la data è sbagliata"
    assert first["citations"] == turn["citations"] and first["turn_id"] == turn["turn_id"]
    assert first["mode"] == "extractive" and first["answer"] == turn["answer"]
    assert second["user"] == "tester" and second["rating"] == "up"
    out = tmp_path / "feedback.csv"
    assert (
        runner.invoke(cli, ["feedback", "export", "--index", index, "--out", str(out)]).exit_code
        == 0
    )
    rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"))))
    assert [r["rating"] for r in rows] == ["down", "up"]
    assert json.loads(rows[0]["citations"]) == turn["citations"] and rows[0]["user"] == "mrossi"


# --- security on the real app ---------------------------------------------------------------
def test_api_keys_on_the_real_app(archive, tmp_path):
    with client_with(archive, tmp_path, api_keys=["s3cret"]) as c:
        missing = c.post("/api/ask", json={"question": SYRIA})
        assert missing.status_code == 401 and missing.json()["error"]["code"] == "unauthorized"
        wrong = c.get("/api/search", params={"q": "x"}, headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        ok = c.post(
            "/api/ask", json={"question": SYRIA}, headers={"Authorization": "Bearer s3cret"}
        )
        assert ok.status_code == 200 and ok.json()["citations"]
        chat = c.post("/v1/chat/completions", headers={"X-API-Key": "s3cret"},
                      json={"messages": [{"role": "user", "content": SYRIA}]})  # fmt: skip
        assert chat.status_code == 200
        assert c.post("/v1/chat/completions", json={"messages": []}).status_code == 401
        # browser-only headers are no key (any client can send them)
        spoofed = c.post(
            "/api/ask", json={"question": SYRIA}, headers={"Sec-Fetch-Site": "same-origin"}
        )
        assert spoofed.status_code == 401
        from_intranet = c.get("/api/search", params={"q": "Raqqa"}, headers={"Origin": INTRANET})
        assert from_intranet.status_code == 401
        # the chat page gives the browser its session: then the page's requests need no key
        assert c.get("/").status_code == 200 and "newsrag_session" in c.cookies
        page = c.post("/api/ask", json={"question": SYRIA})
        assert page.status_code == 200 and page.json()["citations"]
        widget = c.get("/api/search", params={"q": "Raqqa"}, headers={"Origin": INTRANET})
        assert widget.status_code == 200
        assert widget.headers["access-control-allow-origin"] == INTRANET
        assert c.get("/healthz").status_code == 200 and c.get("/readyz").status_code == 200


def test_cors_preflight_allowed_and_foreign(web):
    asked = {
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type",
    }
    ok = web.options("/api/ask/stream", headers={"Origin": INTRANET, **asked})
    assert ok.status_code == 204 and ok.headers["access-control-allow-origin"] == INTRANET
    foreign = web.options(
        "/api/ask/stream", headers={"Origin": "https://evil.example.com", **asked}
    )
    assert foreign.status_code == 403 and "access-control-allow-origin" not in foreign.headers
    post = web.post(
        "/api/ask", json={"question": SYRIA}, headers={"Origin": "https://evil.example.com"}
    )
    assert post.status_code == 403 and post.json()["error"]["code"] == "forbidden_origin"


def test_asking_is_rate_limited(archive, tmp_path):
    with client_with(archive, tmp_path, rate_limit_per_minute=2) as c:
        # every asking route takes from the same bucket, even with a body it then refuses
        assert c.post("/api/ask", json={}).status_code == 422
        assert c.post("/v1/chat/completions", json={}).status_code == 422
        for limited in (
            c.post("/api/ask/stream", json={"question": SYRIA}),
            c.get("/api/search", params={"q": "Raqqa"}),
        ):
            assert limited.status_code == 429 and limited.json()["error"]["code"] == "rate_limited"
            assert 1 <= int(limited.headers["retry-after"]) <= 30
        assert c.get("/api/articles/sample-badia-2021-en").status_code == 200  # not limited


def test_pages_carry_frame_ancestors(web):
    for path in ("/articles/linked-1", "/docs"):
        r = web.get(path)
        assert r.status_code == 200
        assert r.headers["content-security-policy"].endswith(f"frame-ancestors 'self' {INTRANET}")
        assert r.headers["x-content-type-options"] == "nosniff"


def test_docs_are_served_without_a_cdn(web):
    docs = web.get("/docs").text
    assert "POST /api/ask/stream" in docs and "/v1/chat/completions" in docs
    assert "cdn" not in docs.lower() and "<script" not in docs.lower()
    schema = web.get("/openapi.json").json()
    assert {"/api/ask", "/api/search", "/api/feedback", "/v1/chat/completions"} <= set(
        schema["paths"]
    )


def test_widget_files_and_chat_page(web):
    js = web.get("/widget.js")
    if (REPO / "ui" / "web" / "static" / "widget.js").exists():
        assert js.status_code == 200
        assert js.headers["content-type"].startswith("application/javascript")
        assert "max-age" in js.headers["cache-control"]
        assert js.text == (REPO / "ui" / "web" / "static" / "widget.js").read_text(encoding="utf-8")
        widget = web.get("/widget")
        assert widget.status_code == 200
        assert widget.headers["content-security-policy"] == f"frame-ancestors 'self' {INTRANET}"
    else:
        assert js.status_code == 404 and js.json()["error"]["code"] == "not_found"
    if (REPO / "ui" / "web" / "web_chat.py").exists():
        page = web.get("/")
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert page.headers["content-security-policy"] == f"frame-ancestors 'self' {INTRANET}"


# --- newsrag serve --------------------------------------------------------------------------
def test_serve_says_in_one_line_when_the_port_is_taken(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        run = subprocess.run(
            [sys.executable, "-m", "ui.cli", "serve", "--port", str(port), "--index",
             str(tmp_path / "i")],
            capture_output=True, text=True, timeout=60, cwd=REPO,
        )  # fmt: skip
    assert run.returncode == 2
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and f"Port {port} on 127.0.0.1 is already in use" in lines[0]
    assert "--port" in lines[0] and "Traceback" not in run.stderr


# --- follow-ups over real HTTP ---------------------------------------------------------------
@pytest.fixture
def live(archive, tmp_path) -> Iterator[str]:
    """The app on a loopback port, for clients that speak real HTTP."""
    settings = make_settings(tmp_path, trusted_user_header=None)  # no SSO proxy in front
    with running(
        create_app(settings, services=Services.with_engine(settings, archive.engine))
    ) as url:
        yield url


ACHARAN = "Who attacked the base at Acharan?"
FOLLOW_UPS = ("And when?", "Quando?", "When did it happen?", "When did they attack it?")


def test_follow_ups_through_api_ask_carry_the_conversation(live):
    import httpx

    first = httpx.post(f"{live}/api/ask", json={"question": ACHARAN}, timeout=60).json()
    assert "JNIM" in first["answer"]
    history = [
        {"role": "user", "content": ACHARAN},
        {"role": "assistant", "content": first["answer"]},
    ]
    for follow_up in FOLLOW_UPS:
        turn = httpx.post(
            f"{live}/api/ask", json={"question": follow_up, "history": history}, timeout=60
        ).json()
        assert not turn["refused"], (follow_up, turn["answer"])
        assert "2023" in turn["answer"] and "Acharan" in turn["query"]
        history += [{"role": "user", "content": follow_up},
                    {"role": "assistant", "content": turn["answer"]}]  # fmt: skip


def test_follow_ups_through_the_openai_client_read_the_messages(live):
    from openai import OpenAI

    client = OpenAI(base_url=f"{live}/v1", api_key="unused", max_retries=0)
    messages: list[Any] = [{"role": "system", "content": "Answer briefly."},
                           {"role": "user", "content": ACHARAN}]  # fmt: skip
    first = client.chat.completions.create(model="newsrag", messages=messages)
    messages.append({"role": "assistant", "content": first.choices[0].message.content})
    for follow_up in FOLLOW_UPS[:2]:
        messages.append({"role": "user", "content": follow_up})
        reply = client.chat.completions.create(model="newsrag", messages=messages)
        content = reply.choices[0].message.content or ""
        assert "2023" in content and "[1]" in content, (follow_up, content)
        messages.append({"role": "assistant", "content": content})
