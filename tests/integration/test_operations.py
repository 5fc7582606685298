"""Running newsrag for an IT department, against real `newsrag serve` processes on loopback:

- OpenAI-compatible clients list the models first: the official `openai` client and
  LangChain's ChatOpenAI (models.list / retrieve, then a chat), with the API key required;
- Prometheus scrapes /metrics: parsed with prometheus_client's own parser, the counts move
  with the requests, answers, refusals and syncs made between two scrapes;
- a backup of the served index while it syncs, restored into a fresh folder, answers with
  citations from a fresh server.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import REPO
from tests.integration.test_cli import assert_clean_error, newsrag, stats
from tests.integration.test_live import Server, running_server

pytestmark = [pytest.mark.slow, pytest.mark.integration]

API_KEY = "ops-api-key"
ADMIN_KEY = "ops-admin-key"
METRICS_KEY = "ops-metrics-key"
SYRIA = "where is Isis still active in Syria?"
UNANSWERED = "who won the 1982 world cup in Spain?"
ENV = {
    "NEWSRAG_API_KEYS": API_KEY,
    "NEWSRAG_ADMIN_KEYS": ADMIN_KEY,
    "NEWSRAG_METRICS_KEY": METRICS_KEY,
    "NEWSRAG_SYNC": "off",  # syncs only through the admin route: counts the test can predict
}
MAX_DROPS = 60
DROP = """---
id: drop-{n}
title: Drop {n} from the agency
date: 2026-02-01
lang: en
---
Agency drop number {n}: the convoy reached the town of Kidal on Monday, officials said.
"""


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    """The sample archive (13 articles), following a folder of agency drops (one, synced)."""
    root = tmp_path_factory.mktemp("ops")
    index = root / "index"
    out = newsrag("ingest", str(REPO / "data" / "sample"), "--index", str(index), "-q")
    assert out.returncode == 0, out.stderr
    drops = root / "drops"
    drops.mkdir()
    (drops / "drop-1.md").write_text(DROP.format(n=1), "utf-8")
    added = newsrag("sources", "add", str(drops), "--name", "drops", "--index", str(index))
    assert added.returncode == 0, added.stderr
    synced = newsrag("sync", "drops", "--index", str(index), "-q")
    assert synced.returncode == 0, synced.stderr
    return root


@pytest.fixture(scope="module")
def served(root) -> Iterator[Server]:
    with running_server(root / "index", root, ENV) as server:
        yield server


def ask(server: Server, question: str) -> dict:
    got = httpx.post(
        server.url + "/api/ask",
        json={"question": question},
        headers={"Authorization": f"Bearer {API_KEY}"},
        timeout=120,
    )
    assert got.status_code == 200, got.text
    return got.json()


def admin_sync(server: Server) -> httpx.Response:
    return httpx.post(
        server.url + "/api/admin/sync",
        json={"names": ["drops"], "force": True},
        headers={"Authorization": f"Bearer {ADMIN_KEY}"},
        timeout=120,
    )


# --- /v1/models ------------------------------------------------------------------------------
def test_the_openai_client_lists_and_retrieves_the_model(served):
    import openai

    client = openai.OpenAI(base_url=served.url + "/v1", api_key=API_KEY, max_retries=0)
    assert [m.id for m in client.models.list()] == ["newsrag"]
    model = client.models.retrieve("newsrag")
    assert (model.id, model.object, model.owned_by) == ("newsrag", "model", "newsrag")
    assert model.created > 0
    with pytest.raises(openai.NotFoundError) as missing:
        client.models.retrieve("gpt-4o")
    assert missing.value.status_code == 404
    assert (missing.value.code, missing.value.type) == ("model_not_found", "invalid_request_error")
    assert "gpt-4o" in missing.value.message
    stranger = openai.OpenAI(base_url=served.url + "/v1", api_key="not-a-key", max_retries=0)
    with pytest.raises(openai.AuthenticationError):  # the same key as the chat route
        stranger.models.list()


def test_langchain_lists_the_models_then_chats_with_one(served):
    import openai
    from langchain_openai import ChatOpenAI

    listed = openai.OpenAI(base_url=served.url + "/v1", api_key=API_KEY).models.list()
    chat = ChatOpenAI(
        model=listed.data[0].id,
        base_url=served.url + "/v1",
        api_key=API_KEY,  # type: ignore[arg-type]
        max_retries=0,
        timeout=120,
    )
    reply = chat.invoke(SYRIA)
    assert "Deir Ezzor" in str(reply.content) and "[1]" in str(reply.content)
    assert reply.response_metadata["model_name"] == "newsrag"


# --- /metrics --------------------------------------------------------------------------------
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(server: Server, key: str | None = METRICS_KEY) -> tuple[httpx.Response, Samples]:
    from prometheus_client.parser import text_string_to_metric_families

    headers = {"Authorization": f"Bearer {key}"} if key else {}
    got = httpx.get(server.url + "/metrics", headers=headers, timeout=60)
    samples: Samples = {}
    if got.status_code == 200:
        for family in text_string_to_metric_families(got.text):
            for s in family.samples:
                samples[(s.name, frozenset(s.labels.items()))] = s.value
    return got, samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def test_metrics_are_scraped_and_move_with_what_the_server_does(served, root):
    assert scrape(served, key=None)[0].status_code == 401
    assert scrape(served, key="wrong")[0].status_code == 401
    page, before = scrape(served)
    assert page.headers["content-type"].startswith("text/plain; version=")

    assert not ask(served, SYRIA)["refused"]
    assert ask(served, UNANSWERED)["refused"]
    no_key = httpx.post(served.url + "/v1/chat/completions", json={"messages": []}, timeout=30)
    assert no_key.status_code == 401
    unknown = httpx.get(
        served.url + "/api/articles/no-such-article-1234",
        headers={"Authorization": f"Bearer {API_KEY}"},
        timeout=30,
    )
    assert unknown.status_code == 404
    (root / "drops" / "drop-2.md").write_text(DROP.format(n=2), "utf-8")
    assert admin_sync(served).status_code == 200
    page, after = scrape(served)

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    ask_route = {"route": "/api/ask", "method": "POST"}
    assert moved("newsrag_http_requests_total", status="200", **ask_route) == 2
    assert moved("newsrag_http_request_duration_seconds_count", **ask_route) == 2
    assert moved("newsrag_http_request_duration_seconds_sum", **ask_route) > 0
    assert moved("newsrag_answers_total", outcome="answered") == 1
    assert moved("newsrag_answers_total", outcome="refused") == 1
    assert moved("newsrag_answers_total", outcome="error") == 0
    # refused before routing, still counted under the route's template; ids never a label
    assert moved("newsrag_http_requests_total", route="/v1/chat/completions", method="POST",
                 status="401") == 1  # fmt: skip
    assert moved("newsrag_http_requests_total", route="/api/articles/{article_id:path}",
                 method="GET", status="404") == 1  # fmt: skip
    assert "no-such-article-1234" not in page.text
    assert moved("newsrag_sync_runs_total", source="drops") == 1
    assert moved("newsrag_sync_articles_total", source="drops", change="added") == 1
    assert moved("newsrag_sync_failures_total", source="drops") == 0
    assert moved("newsrag_index_articles") == 1 and value(after, "newsrag_index_chunks") > 0
    assert value(after, "newsrag_index_generation") == value(
        after, "newsrag_index_serving_generation"
    )
    assert value(after, "newsrag_source_articles", source="drops") == 2
    assert value(after, "newsrag_source_last_sync_timestamp_seconds", source="drops") > 0
    assert value(after, "newsrag_ready") == value(after, "newsrag_embedder_loaded") == 1
    assert value(after, "newsrag_embedder_info", model="multilingual-e5-small", dim="384") == 1
    assert value(after, "newsrag_writer_lock_held") == 1  # serve holds its embedded index
    assert value(after, "newsrag_write_in_progress", kind="sync") == 0


# --- backup and restore ----------------------------------------------------------------------
def test_a_backup_of_a_served_syncing_index_restores_and_answers(served, root, tmp_path):
    index = root / "index"
    # the server holds the index: a local backup is refused and says to go through it
    local = newsrag("backup", str(tmp_path / "local"), "--index", str(index))
    assert_clean_error(local, 8, f"newsrag backup DIR --server {served.url}")
    assert not (tmp_path / "local").exists()

    syncs: list[int] = []
    stop = threading.Event()

    def keep_syncing() -> None:  # new articles written until the backup is made
        for n in range(3, MAX_DROPS):
            if stop.is_set():
                break
            (root / "drops" / f"drop-{n}.md").write_text(DROP.format(n=n), "utf-8")
            syncs.append(admin_sync(served).status_code)

    writer = threading.Thread(target=keep_syncing)
    writer.start()
    while not syncs:  # the backup starts while the syncs are under way
        time.sleep(0.1)
    env = {"NEWSRAG_ADMIN_KEY": ADMIN_KEY}
    target = tmp_path / "backup"
    try:
        for _ in range(10):  # a sync running when it starts: 409, try again
            made = newsrag("backup", str(target), "--server", served.url, env=env)
            if made.returncode != 8:
                break
            time.sleep(0.5)
    finally:
        stop.set()
        writer.join(timeout=300)
    assert made.returncode == 0, made.stderr
    assert f"backed up to {target}" in made.stdout
    assert set(syncs) <= {200, 409} and 200 in syncs  # writes and the copy took turns
    print(f"\nbackup while syncing: syncs answered {syncs}; {made.stdout.strip()}")
    assert not list(root.glob(".index-backup-*"))  # the server's copy is gone once sent

    restored = tmp_path / "restored"
    back = newsrag("restore", str(target), "--index", str(restored))
    assert back.returncode == 0, back.stderr
    again = newsrag("restore", str(target), "--index", str(restored))
    assert_clean_error(again, 5, "exists and is not empty")
    got = stats(restored)
    assert got["pending"] == 0 and got["chunks"] == got["chunks_in_store"]
    # exactly what the server had when it made the copy: the sample and the drops synced
    assert f": {got['articles']} articles, {got['chunks']} chunks" in made.stdout
    assert 15 <= got["articles"] < 14 + MAX_DROPS

    with running_server(restored, tmp_path, ENV) as fresh:
        answer = ask(fresh, SYRIA)
        assert not answer["refused"] and answer["citations"]
        assert "Deir Ezzor" in answer["answer"]
        status = httpx.get(
            fresh.url + "/api/status", headers={"Authorization": f"Bearer {API_KEY}"}, timeout=30
        )
        assert status.json()["articles"] == got["articles"]
