"""/metrics on the real app over a fast engine (hash embedder, real Chroma in tmp_path): the
outcomes the real-server test cannot provoke (an answer that fails), the key, route templates."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from starlette.testclient import TestClient

from app.services import Services
from ingest.sync import Ingestor
from rag.answer.extractive import ExtractiveAnswerer
from rag.archive.index import ArchiveIndex
from rag.chat import Engine
from rag.config import Settings
from rag.retrieval import Retriever
from rag.types import Message, Passage
from tests.fakes import HashEmbedder
from ui.web.server import create_app


class BrokenAnswerer:
    name = "llm:broken"  # as an LLM that fails mid-answer

    def stream(
        self,
        question: str,
        lang: str,
        passages: Sequence[Passage],
        history: Sequence[Message],
        **_: object,
    ) -> Iterator[str]:
        raise RuntimeError("the answerer broke")
        yield ""  # pragma: no cover


@pytest.fixture
def index(tmp_path) -> Iterator[tuple[Settings, ArchiveIndex, HashEmbedder]]:
    settings = Settings(index_dir=tmp_path / "index", rate_limit_per_minute=0)
    embedder = HashEmbedder()
    src = tmp_path / "a.jsonl"
    record = {"id": "a1", "title": "Aleppo", "text": "Fighting resumed in Aleppo on Monday."}
    src.write_text(json.dumps(record) + "\n", "utf-8")
    index = ArchiveIndex.open(settings, model_label=embedder.label, dim=embedder.dim)
    Ingestor(index, embedder).run([src], max_bytes=10**6)
    yield settings, index, embedder
    index.close()


def app_with(settings: Settings, engine: Engine, **overrides: Any) -> TestClient:
    settings = Settings(index_dir=settings.index_dir, rate_limit_per_minute=0, **overrides)
    app = create_app(settings, services=Services.with_engine(settings, engine))
    return TestClient(app, raise_server_exceptions=False)  # a 500, as a client sees it


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_answers_are_counted_by_outcome_error_included(index):
    settings, archive, embedder = index
    good = Engine(
        Retriever(archive, embedder), ExtractiveAnswerer(embedder), embedder, refusal_threshold=-1
    )
    broken = Engine(Retriever(archive, embedder), BrokenAnswerer(), embedder, refusal_threshold=-1)
    with app_with(settings, good) as client:
        assert client.post("/api/ask", json={"question": "Aleppo fighting?"}).status_code == 200
        got = samples(client.get("/metrics").text)
    assert got[("newsrag_answers_total", frozenset({("outcome", "answered")}))] == 1
    assert got[("newsrag_answers_total", frozenset({("outcome", "error")}))] == 0
    assert not good.observers  # the app's observer went with it
    with app_with(settings, broken) as client:
        assert client.post("/api/ask", json={"question": "Aleppo fighting?"}).status_code == 500
        got = samples(client.get("/metrics").text)
    assert got[("newsrag_answers_total", frozenset({("outcome", "error")}))] == 1
    assert got[("newsrag_answers_total", frozenset({("outcome", "answered")}))] == 0


def test_the_metrics_key_is_required_when_set(index):
    settings, archive, embedder = index
    engine = Engine(
        Retriever(archive, embedder), ExtractiveAnswerer(embedder), embedder, refusal_threshold=-1
    )
    key = "scrape-key"
    with app_with(settings, engine, metrics_key=key) as client:
        missing = client.get("/metrics")
        assert missing.status_code == 401 and missing.headers["www-authenticate"] == "Bearer"
        assert missing.json()["error"]["code"] == "unauthorized"
        assert client.get("/metrics", headers={"Authorization": "Bearer nope"}).status_code == 401
        ok = client.get("/metrics", headers={"Authorization": f"Bearer {key}"})
        assert ok.status_code == 200 and "newsrag_index_articles 1.0" in ok.text


def test_routes_are_labelled_by_template_never_by_raw_path(index):
    settings, archive, embedder = index
    engine = Engine(
        Retriever(archive, embedder), ExtractiveAnswerer(embedder), embedder, refusal_threshold=-1
    )
    with app_with(settings, engine, api_keys=["k"]) as client:
        for n in range(3):
            client.get(f"/api/articles/secret-{n}", headers={"X-API-Key": "k"})
        client.get("/api/articles/x")  # refused before routing: no key
        client.get("/v1/nothing/here", headers={"X-API-Key": "k"})
        text = client.get("/metrics").text
    got = samples(text)
    route = "/api/articles/{article_id:path}"
    key = frozenset({("route", route), ("method", "GET"), ("status", "404")})
    assert got[("newsrag_http_requests_total", key)] == 3
    key = frozenset({("route", route), ("method", "GET"), ("status", "401")})
    assert got[("newsrag_http_requests_total", key)] == 1
    key = frozenset({("route", "/v1/{rest:path}"), ("method", "GET"), ("status", "404")})
    assert got[("newsrag_http_requests_total", key)] == 1
    assert "secret-" not in text and "/v1/nothing" not in text


def test_a_stream_abandoned_by_its_reader_is_no_outcome(index):
    _, archive, embedder = index
    engine = Engine(
        Retriever(archive, embedder), ExtractiveAnswerer(embedder), embedder, refusal_threshold=-1
    )
    seen: list[str] = []
    engine.observers.append(seen.append)
    events = engine.ask_stream("Aleppo fighting?")
    next(events)
    events.close()
    assert seen == []
    list(engine.ask_stream("Aleppo fighting?"))
    assert seen == ["answered"]
