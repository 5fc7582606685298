"""A serving process syncs its sources: in the background, and through POST /api/admin/sync.

The real app (ui.web.server.create_app) over a real embedded Chroma, the real scheduler thread,
and the news site of tests/web_site.py on loopback; the hash embedder keeps it fast. The slow
test with real `newsrag serve` processes and the real model is test_live_sync.py.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from app.services import Services
from app.sources import add_source
from ingest.sync import Ingestor
from rag.answer.extractive import ExtractiveAnswerer
from rag.archive.index import ArchiveIndex
from rag.chat import Engine
from rag.config import Settings
from rag.retrieval import Retriever
from tests.fakes import HashEmbedder
from tests.web_site import ARTICLES, LATER, NewsSite, Route, rss
from ui.remote_sync import run_remote_sync
from ui.web.server import create_app
from ui.web.web_chat import archive_html

pytestmark = pytest.mark.integration

KEY = "sync-admin-key"
FEED = ["/it/borgoverde-ponte.html", "/en/valdoro-port-floods.html", "/en/lantern-museum.html"]
HONEY = "/en/montegrigio-honey.html"
SEED = {"id": "seed-1", "title": "Harvest festival", "lang": "en", "date": "2019-09-09",
        "text": "The town held its yearly harvest festival with music and a market."}  # fmt: skip
WAIT_S = 30.0  # the longest any test here waits for the background thread


@dataclass
class Served:
    client: TestClient
    services: Services
    settings: Settings
    site: NewsSite

    def status(self) -> dict[str, Any]:
        got = self.client.get("/api/status")
        assert got.status_code == 200, got.text
        return got.json()

    def search(self, q: str) -> list[str]:
        got = self.client.get("/api/search", params={"q": q, "k": 5})
        assert got.status_code == 200, got.text
        return [p["article_id"] for p in got.json()["passages"]]

    def follow(self, path: str = "/rss.xml", name: str = "gazzetta") -> None:
        add_source(self.settings, self.site.base + path, every="30m", name=name)

    def make_due(self, name: str = "gazzetta") -> None:
        """As if its interval had passed: its last sync an hour earlier."""
        with sqlite3.connect(self.settings.index_dir / "sources.sqlite") as db:
            db.execute(
                "UPDATE sources SET last_sync_at = last_sync_at - 3600 WHERE name = ?", (name,)
            )

    def sync(self, body: Any = None, key: str | None = KEY, **kw: Any) -> Any:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return self.client.post("/api/admin/sync", json=body, headers=headers, **kw)


def until(check: Callable[[], Any], what: str, timeout: float = WAIT_S) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = check()
        if got:
            return got
        time.sleep(0.1)
    pytest.fail(f"{what}: not within {timeout} s")


@pytest.fixture
def site(fetch_loopback) -> Iterator[NewsSite]:
    s = NewsSite().start()
    for path in [*ARTICLES, *LATER]:
        s.page(path)
    s.routes["/robots.txt"] = Route(b"User-agent: *\nAllow: /\n", "text/plain")
    s.routes["/rss.xml"] = Route(rss(s.base, FEED), "application/rss+xml")
    yield s
    s.stop()


def serving(tmp_path: Path, site: NewsSite, **overrides: Any) -> Iterator[Served]:
    embedder = HashEmbedder()
    values: dict[str, Any] = {
        "index_dir": tmp_path / "index", "rate_limit_per_minute": 0, "chunk_tokens": 60,
        "chunk_overlap": 10, "admin_keys": [KEY], "refresh_seconds": 0,
        "sync_check_seconds": 1, "fetch_host_delay": 0,
    }  # fmt: skip
    settings = Settings(**(values | overrides))
    tmp_path.mkdir(parents=True, exist_ok=True)
    seed = tmp_path / "seed.jsonl"
    seed.write_text(json.dumps(SEED) + "\n", "utf-8")
    index = ArchiveIndex.open(settings, model_label=embedder.label, dim=embedder.dim)
    Ingestor(index, embedder, chunk_tokens=60, chunk_overlap=10).run([seed], max_bytes=10**6)
    engine = Engine(
        Retriever(index, embedder), ExtractiveAnswerer(embedder), embedder, refusal_threshold=-1.0
    )
    services = Services.with_engine(settings, engine)
    with TestClient(create_app(settings, services=services)) as client:
        yield Served(client, services, settings, site)
    index.close()


@pytest.fixture
def served(tmp_path, site) -> Iterator[Served]:
    yield from serving(tmp_path, site, sync="auto")


@pytest.fixture
def manual(tmp_path, site) -> Iterator[Served]:
    """NEWSRAG_SYNC=off: nothing in the background, syncs only through the admin route."""
    yield from serving(tmp_path, site, sync="off")


def synced(served: Served, name: str = "gazzetta", after: float = 0.0) -> dict[str, Any] | None:
    for s in served.status()["sources"]:
        if s["name"] == name and s["last_sync_at"] and s["last_sync_at"] > _iso(after):
            return s
    return None


def settled(served: Served, after: float = 0.0) -> dict[str, Any] | None:
    """The source synced, and the sync done: its last sync is recorded before the sync has
    refreshed the serving index and let the writer go."""
    source = synced(served, after=after)
    return source if source and not served.status()["sync"]["running"] else None


def _iso(epoch: float) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds") if epoch else ""


# --- the background sync ------------------------------------------------------------------
def test_a_source_added_while_serving_is_synced_in_the_background_and_answered(served):
    base = served.site.base
    before = served.status()
    assert before["sources"] == [] and before["next_sync_at"] is None
    assert before["sync"]["background"] and before["sync"]["mode"] == "auto"
    assert before["articles"] == 1
    assert "1 articles" in archive_html(served.services, "en")

    served.follow()  # what `newsrag sources add` does: the registry only, no lock, no server
    source = until(lambda: settled(served), "the new source synced by the background thread")
    assert source["articles"] == 3 and source["added"] == 3 and source["reached"]
    assert source["kind"] == "web" and source["url"] == base + "/rss.xml"
    assert source["detected"] == "rss20" and source["every"] == "30m"
    assert source["problems"] == [] and source["problem_count"] == 0
    status = served.status()
    assert status["articles"] == 4 and status["up_to_date"]
    last = status["sync"]["last"]
    assert last["trigger"] == "schedule" and last["sources"] == ["gazzetta"]
    assert last["added"] == 3 and last["error"] is None
    # the next sync is the source's interval after this one
    assert status["next_sync_at"] == source["next_sync_at"] > source["last_sync_at"]
    assert base + "/it/borgoverde-ponte.html" in served.search("ponte Borgoverde Lirano")
    # the chat page's discreet line says so too (drawn on load, after answers, every minute)
    assert "4 articles" in archive_html(served.services, "en")

    # nothing is due now: the thread looks at the sources again, and asks nothing of the site
    served.site.clear()
    time.sleep(2.5)
    assert served.site.hits == []


def test_a_due_source_is_synced_again_and_its_new_article_answered(served):
    site = served.site
    served.follow()
    first = until(lambda: settled(served), "the first sync")
    site.routes["/rss.xml"] = Route(rss(site.base, [HONEY, *FEED]), "application/rss+xml")
    site.clear()
    published = time.time()
    served.make_due()
    again = until(lambda: settled(served, after=published - 1), "the second sync")
    assert again["articles"] == 4 and again["added"] == 1
    assert served.status()["sync"]["last"]["added"] == 1
    asked = served.client.post("/api/ask", json={"question": "Montegrigio chestnut honey"})
    assert asked.status_code == 200
    assert site.base + HONEY in {c["article_id"] for c in asked.json()["citations"]}
    # polite: the pages it already had were asked for with their validators, answered 304
    statuses = {h.path: h.status for h in site.hits}
    assert statuses[HONEY] == 200 and all(statuses[p] == 304 for p in FEED)
    assert first["last_sync_at"] < again["last_sync_at"]


def test_a_feed_that_is_down_is_reported_in_the_status_and_tried_again(served):
    site = served.site
    site.routes["/rss.xml"] = Route(b"down for maintenance", status=503)
    served.follow()
    source = until(lambda: synced(served), "the failed sync recorded")
    assert source["reached"] is False and source["articles"] == 0
    assert [p["url"] for p in source["problems"]] == [site.base + "/rss.xml"]
    assert "503" in source["problems"][0]["reason"]
    assert served.client.post("/api/ask", json={"question": "harvest festival"}).status_code == 200
    site.routes["/rss.xml"] = Route(rss(site.base, FEED), "application/rss+xml")
    retried = time.time()
    served.make_due()
    # the stored articles count as they are written; the sync's record comes when it ends
    fixed = until(lambda: settled(served, after=retried - 1), "the retry")
    assert fixed["articles"] == 3 and fixed["problems"] == [] and fixed["reached"]


def test_a_damaged_sources_file_is_reported_and_the_server_keeps_answering(served, caplog):
    served.follow()
    until(lambda: settled(served), "the first sync")
    registry = served.settings.index_dir / "sources.sqlite"
    kept = registry.with_suffix(".kept")
    with sqlite3.connect(registry) as db:  # everything in the main file, none in the WAL
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    shutil.copy(registry, kept)
    for extra in ("-wal", "-shm"):
        Path(f"{registry}{extra}").unlink(missing_ok=True)
    registry.write_bytes(b"this is not a database" * 100)

    def reported() -> str | None:
        return served.status()["sync"]["error"]

    error = until(reported, "the damaged sources file in the status")
    assert "sources.sqlite" in error and "newsrag sources add" in error
    assert served.status()["sources"] == []  # the rest of the status stands
    asked = served.client.post("/api/ask", json={"question": "harvest festival"})
    assert asked.status_code == 200 and asked.json()["citations"]
    got = served.sync()
    assert got.status_code == 503 and "sources.sqlite" in got.json()["error"]["message"]

    shutil.copy(kept, registry)
    until(lambda: served.status()["sync"]["error"] is None, "the error cleared")
    assert [s["name"] for s in served.status()["sources"]] == ["gazzetta"]


def test_a_background_sync_waits_for_an_admin_write_and_then_runs(served):
    served.follow()
    until(lambda: settled(served), "the first sync")
    session = served.services.begin_write()  # an ingest through the server, still running
    try:
        started = time.time()
        served.make_due()
        waiting = until(lambda: served.status()["sync"]["waiting"], "the sync waiting")
        assert "Another ingest through this server is running" in waiting
        assert synced(served, after=started) is None
    finally:
        session.close()
    until(lambda: synced(served, after=started), "the sync after the ingest", timeout=20)
    assert served.status()["sync"]["waiting"] is None


def test_an_admin_ingest_during_a_sync_is_a_clear_409(served):
    site = served.site
    hold = site.holds["/en/lantern-museum.html"] = threading.Event()
    served.follow()
    try:
        until(lambda: "/en/lantern-museum.html" in site.arrived, "the sync fetching a page")
        status = served.status()["sync"]
        assert status["running"] == "schedule" and status["running_since"]
        meta = {"files": [], "field_map": None, "prune_roots": None}
        got = served.client.post(
            "/api/admin/ingest", data={"meta": json.dumps(meta)}, headers={"X-API-Key": KEY}
        )
        assert got.status_code == 409 and got.json()["error"]["code"] == "busy"
        assert (
            "A sync of the sources through this server is running"
            in (got.json()["error"]["message"])
        )
        assert served.sync().status_code == 409
    finally:
        hold.set()
    assert until(lambda: synced(served), "the sync finishing")["articles"] == 3


# --- NEWSRAG_SYNC=off and POST /api/admin/sync --------------------------------------------
def test_with_sync_off_nothing_runs_in_the_background(manual):
    manual.follow()
    time.sleep(3)  # three of the thread's checks, had it been running
    assert manual.site.hits == []
    status = manual.status()
    assert status["sync"]["background"] is False and status["sync"]["mode"] == "off"
    [source] = status["sources"]
    assert source["last_sync_at"] is None and source["articles"] == 0
    assert status["next_sync_at"] == source["next_sync_at"]  # due since it was added


def test_the_admin_sync_needs_a_key_and_says_what_is_missing(manual, tmp_path):
    assert manual.sync(key=None).status_code == 401
    assert manual.sync(key="wrong").status_code == 401
    none = manual.sync()
    assert none.status_code == 409 and none.json()["error"]["code"] == "no_sources"
    assert "newsrag sources add" in none.json()["error"]["message"]
    manual.follow()
    unknown = manual.sync({"names": ["nope"]})
    assert unknown.status_code == 422 and unknown.json()["error"]["field"] == "names"
    assert "gazzetta" in unknown.json()["error"]["message"]
    bad = manual.sync({"force": "yes please"})
    assert bad.status_code == 422 and "force" in bad.json()["error"]["message"]
    extra = manual.sync({"name": "gazzetta"})
    assert extra.status_code == 422 and "name" in extra.json()["error"]["message"]
    assert manual.site.hits == []  # none of these reached the site
    for served in serving(tmp_path / "nokeys", manual.site, sync="off", admin_keys=[]):
        assert served.sync().status_code == 403


def test_the_admin_sync_answers_with_the_report(manual):
    site = manual.site
    manual.follow()
    got = manual.sync()  # no body: the due sources (this one, never synced)
    assert got.status_code == 200, got.text
    report = got.json()
    [source] = report["sources"]
    assert source["name"] == "gazzetta" and source["added"] == 3 and source["reached"]
    assert report["added"] == 3 and report["problem_count"] == 0
    assert site.base + "/en/lantern-museum.html" in manual.search("Museum of Lanterns Corvina")
    assert manual.status()["sync"]["last"]["trigger"] == "admin"

    nothing = manual.sync({})
    assert nothing.status_code == 200 and nothing.json()["sources"] == []
    assert "nothing due" in nothing.json()["message"]
    site.clear()
    forced = manual.sync({"force": True}).json()  # every source now: the feed answers 304
    assert forced["sources"][0]["not_modified"] == 1 and forced["added"] == 0
    assert [h.status for h in site.hits] == [304]


def test_a_feed_on_loopback_is_refused_by_the_server_unless_the_operator_allows_it(
    tmp_path, site, monkeypatch
):
    monkeypatch.delenv("NEWSRAG_FETCH_ALLOW")  # the default: public addresses only
    feed = site.base + "/rss.xml"
    for served in serving(tmp_path / "default", site, sync="off"):
        served.follow()
        report = served.sync().json()
        [source] = report["sources"]
        assert source["added"] == 0 and not source["reached"] and report["problem_count"] == 1
        [problem] = source["problems"]
        assert problem["path"] == feed
        assert "127.0.0.1 is a loopback address" in problem["reason"]
        assert "set NEWSRAG_FETCH_ALLOW=127.0.0.1" in problem["reason"]
        [listed] = served.status()["sources"][0]["problems"]
        assert listed["url"] == feed and listed["reason"] == problem["reason"]
        assert site.hits == []  # nothing was asked of the site
    for served in serving(tmp_path / "allowed", site, sync="off", fetch_allow=["127.0.0.1"]):
        served.follow()
        assert served.sync().json()["added"] == 3


def test_newsrag_sync_server_streams_progress_then_the_report(manual):
    manual.follow()
    with manual.client.stream(
        "POST", "/api/admin/sync", json={"names": ["gazzetta"]},
        headers={"X-API-Key": KEY, "Accept": "application/x-ndjson"},
    ) as response:  # fmt: skip
        lines = [json.loads(line) for line in response.iter_lines() if line.strip()]
    assert response.status_code == 200
    assert lines[0] == {"progress": f"gazzetta: {manual.site.base}/rss.xml"}
    assert lines[-1]["report"]["added"] == 3

    manual.make_due()
    report, message = run_remote_sync(
        "http://testserver", KEY, [], force=False, quiet=True, client=manual.client
    )
    assert message is None and [s.name for s in report.sources] == ["gazzetta"]
    assert report.sources[0].not_modified == 1  # the unchanged feed: one 304
    report, message = run_remote_sync(
        "http://testserver", KEY, [], force=False, quiet=True, client=manual.client
    )
    assert report.sources == () and message and "nothing due" in message
