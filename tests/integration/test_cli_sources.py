"""`newsrag sources` and `newsrag sync` as a user runs them, against a real site on loopback."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.integration.test_cli import assert_clean_error, newsrag, stats
from tests.web_site import ARTICLES, NewsSite, Route, rss

pytestmark = pytest.mark.integration

FAST = {"NEWSRAG_FETCH_HOST_DELAY": "0", "NEWSRAG_FETCH_TIMEOUT": "5"}


@pytest.fixture
def site(fetch_loopback):
    s = NewsSite().start()
    for path in ARTICLES:
        s.page(path)
    s.routes["/robots.txt"] = Route(b"User-agent: *\nDisallow: /private/\n", "text/plain")
    s.routes["/rss.xml"] = Route(rss(s.base, list(ARTICLES)), "application/rss+xml")
    yield s
    s.stop()


def sources_json(index: Path) -> list[dict]:
    out = newsrag("sources", "list", "--json", "--index", str(index))
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_sources_add_list_remove_and_their_mistakes(tmp_path, site):
    index = str(tmp_path / "i")
    folder = tmp_path / "archive"
    folder.mkdir()
    feed = newsrag("sources", "add", site.base + "/rss.xml", "--every", "2h", "--index", index)
    assert feed.returncode == 0, feed.stderr
    assert "'127.0.0.1'" in feed.stdout and "every 2h" in feed.stdout
    assert newsrag("sources", "add", str(folder), "--index", index).returncode == 0
    rows = sources_json(tmp_path / "i")
    assert [(r["name"], r["kind"], r["every"], r["last_sync"]) for r in rows] == [
        ("127.0.0.1", "web", "2h", None), ("archive", "folder", "30m", None),
    ]  # fmt: skip
    assert rows[1]["location"] == str(folder.resolve())

    assert_clean_error(newsrag("sources", "add", site.base + "/rss.xml", "--index", index), 6,
                       "already followed as source '127.0.0.1'")  # fmt: skip
    assert_clean_error(newsrag("sources", "add", "ftp://x.org/f", "--index", index), 6, "http")
    assert_clean_error(newsrag("sources", "add", "news.example.org/rss", "--index", index), 6,
                       "https://news.example.org/rss")  # fmt: skip
    assert_clean_error(newsrag("sources", "add", str(folder), "--every", "5 weeks",
                               "--index", index, "--name", "x"), 6, "15m, 2h or 1d")  # fmt: skip
    assert_clean_error(newsrag("sources", "add", site.base + "/a.xml", "--name", "archive",
                               "--index", index), 6, "already a source called")  # fmt: skip
    assert_clean_error(newsrag("sources", "remove", "nope", "--index", index), 6,
                       "127.0.0.1, archive")  # fmt: skip

    assert_clean_error(newsrag("sync", "nope", "--index", index), 6, "no source called 'nope'")

    removed = newsrag("sources", "remove", "archive", "--index", index)
    assert removed.returncode == 0 and "stay in the archive" in removed.stdout
    assert [r["name"] for r in sources_json(tmp_path / "i")] == ["127.0.0.1"]
    nothing = newsrag("sync", "--index", str(tmp_path / "empty"))
    assert nothing.returncode == 1 and "sources add" in nothing.stderr


@pytest.mark.slow
def test_sync_then_search_and_ask_find_the_synced_article(tmp_path, site):
    """With the real e5 model: what a newsroom does on day one."""
    index = str(tmp_path / "i")
    bad = "<item><title>gone</title><link>" + site.base + "/404.html</link></item>"
    site.routes["/rss.xml"].body = site.routes["/rss.xml"].body.replace(
        b"</channel>", bad.encode() + b"</channel>"
    )
    assert newsrag("sources", "add", site.base + "/rss.xml", "--name", "gazzetta",
                   "--index", index).returncode == 0  # fmt: skip
    first = newsrag("sync", "--index", index, env=FAST)
    assert first.returncode == 0, first.stderr
    assert "6 added" in first.stdout and "/404.html: HTTP 404" in first.stdout
    assert "bm25s" not in first.stderr + first.stdout
    (row,) = sources_json(tmp_path / "i")
    assert row["articles"] == 6 and row["detected"] == "rss20"
    assert row["last_sync"]["problems"][0]["url"] == site.base + "/404.html"
    listed = newsrag("sources", "list", "--index", index)
    assert "gazzetta" in listed.stdout and "HTTP 404" in listed.stdout

    # not due again yet: no model is loaded, nothing is asked for
    site.clear()
    waiting = newsrag("sync", "--index", index, env=FAST)
    assert waiting.returncode == 0 and "nothing due" in waiting.stdout and site.hits == []

    found = newsrag("search", "ponte pedonale sul torrente", "--json", "--index", index)
    assert found.returncode == 0, found.stderr
    top = json.loads(found.stdout)["results"][0]
    assert top["url"] == site.base + "/it/borgoverde-ponte.html"
    answer = newsrag("ask", "When will the works on the Borgoverde bridge start?", "--json",
                     "--index", index)  # fmt: skip
    assert answer.returncode == 0, answer.stderr
    turn = json.loads(answer.stdout)
    assert not turn["refused"]
    assert site.base + "/it/borgoverde-ponte.html" in {c["url"] for c in turn["citations"]}


@pytest.mark.slow
def test_kill_9_during_a_sync_then_sync_again_gives_exact_counts(tmp_path, site, tiny_model):
    model = ["--model", str(tiny_model)]
    env = {**FAST, "NEWSRAG_INGEST_BATCH_CHUNKS": "1"}
    clean, crashed = str(tmp_path / "clean"), str(tmp_path / "crashed")
    for index in (clean, crashed):
        added = newsrag("sources", "add", site.base + "/rss.xml", "--name", "g", "--index", index)
        assert added.returncode == 0, added.stderr
    assert newsrag("sync", "--index", clean, *model, "-q", env=env).returncode == 0

    held = list(ARTICLES)[3]  # the fourth page waits until the sync is killed
    site.holds[held] = threading.Event()
    site.clear()
    proc = subprocess.Popen(
        [sys.executable, "-m", "ui.cli", "sync", "--index", crashed, *model, "-q"],
        env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.time() + 120
        while held not in site.arrived and time.time() < deadline and proc.poll() is None:
            time.sleep(0.05)
        assert held in site.arrived, "the sync never reached the held page"
        done = _done_articles(Path(crashed))
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    finally:
        site.holds[held].set()
        if proc.poll() is None:
            proc.kill()
    assert done == 3  # the three pages before the held one were written

    again = newsrag("sync", "g", "--index", crashed, *model, "-q", env=env)
    assert again.returncode == 0, again.stderr
    want, got = stats(Path(clean)), stats(Path(crashed))
    assert got["articles"] == want["articles"] == 6
    assert got["chunks"] == got["chunks_in_store"] == want["chunks"] and got["pending"] == 0
    assert _chunk_ids(Path(crashed)) == _chunk_ids(Path(clean))
    (row,) = sources_json(Path(crashed))
    assert row["articles"] == 6 and row["last_sync"]["problems"] == []


def _done_articles(index: Path) -> int:
    with sqlite3.connect(f"file:{index / 'manifest.sqlite'}?mode=ro", uri=True) as db:
        return db.execute("SELECT COUNT(*) FROM articles WHERE state='done'").fetchone()[0]


def _chunk_ids(index: Path) -> set[str]:
    import chromadb

    client = chromadb.PersistentClient(path=str(index / "chroma"))
    return set(client.get_collection("newsrag-chunks").get(include=[])["ids"])
