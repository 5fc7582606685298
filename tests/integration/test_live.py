"""A living archive, end to end: real `newsrag serve` processes on loopback, real ingests.

- Embedded index: the server holds it; a second writer is refused with its PID and URL; an
  ingest through the server is answered, with citations, when it returns; questions asked in a
  loop meanwhile all succeed.
- Chroma server (`chroma run` on loopback): two serving processes and one separate ingest
  process; both servers follow new, changed and pruned articles without a restart.
- kill -9 of the server in the middle of an ingest through it, then the same ingest again:
  exact counts, nothing lost or doubled, the lexical index matching the store.

Every loop is bounded in count and time; everything listens on 127.0.0.1 only.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from rag.archive.lexical import LexicalIndex
from tests.conftest import REPO
from tests.integration.test_cli import assert_clean_error, newsrag, stats
from tests.llm_server import free_port

pytestmark = [pytest.mark.slow, pytest.mark.integration]

LIVE = REPO / "tests" / "data" / "live"
KEY = "live-test-admin-key"
TESSALIT = "Who attacked the base at Tessalit?"
QUESTIONS = [TESSALIT, "where is Isis still active in Syria?", "chi ha colpito il convoglio?"]
MAX_LOOP_REQUESTS = 400
MAX_LOOP_SECONDS = 240.0


@dataclass
class Server:
    url: str
    proc: subprocess.Popen
    log: Path

    @property
    def pid(self) -> int:
        return self.proc.pid

    def get(self, path: str, **kw) -> httpx.Response:
        return httpx.get(self.url + path, timeout=60, **kw)

    def ask(self, question: str) -> httpx.Response:
        return httpx.post(self.url + "/api/ask", json={"question": question}, timeout=120)


@contextmanager
def running_server(index: Path, tmp_path: Path, env: dict[str, str]) -> Iterator[Server]:
    port = free_port()
    log = tmp_path / f"serve-{port}.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "ui.cli", "serve", "--index", str(index), "--port", str(port)],
        cwd=REPO, env={**os.environ, "NEWSRAG_RATE_LIMIT_PER_MINUTE": "0", **env},
        stdout=log.open("w"), stderr=subprocess.STDOUT,
    )  # fmt: skip
    server = Server(f"http://127.0.0.1:{port}", proc, log)
    try:
        wait_ready(server)
        yield server
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def wait_ready(server: Server, timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            pytest.fail(f"newsrag serve exited: {server.log.read_text()[-3000:]}")
        try:
            if server.get("/readyz").status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    pytest.fail(f"newsrag serve was not ready in {timeout} s: {server.log.read_text()[-3000:]}")


@dataclass
class Asker:
    """Questions in a loop against servers until stopped (bounded), every answer recorded."""

    servers: list[Server]
    # (server, question, status, started, finished, cited article ids)
    results: list[tuple[str, str, int, float, float, set[str]]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)

    def __enter__(self) -> Asker:
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=MAX_LOOP_SECONDS)

    def _loop(self) -> None:
        started, n = time.monotonic(), 0
        while not self._stop.is_set() and n < MAX_LOOP_REQUESTS:
            if time.monotonic() - started > MAX_LOOP_SECONDS:
                break
            server = self.servers[n % len(self.servers)]
            question = QUESTIONS[n % len(QUESTIONS)]
            started = time.monotonic()
            try:
                got = server.ask(question)
                cited = {c["article_id"] for c in got.json().get("citations", [])}
                status = got.status_code
            except httpx.HTTPError as exc:
                status, cited = -1, {repr(exc)}
            self.results.append((server.url, question, status, started, time.monotonic(), cited))
            n += 1

    def failures(self) -> list[tuple[str, str, int, float, float, set[str]]]:
        return [r for r in self.results if r[2] != 200]

    def asked_after(self, moment: float, question: str) -> list[bool]:
        """For each ``question`` asked after ``moment``: whether it cited the new article."""
        return [
            "live-tessalit-2026" in cited
            for _, q, _, started, _, cited in self.results
            if q == question and started > moment
        ]


def cites(response: httpx.Response, article_id: str) -> bool:
    assert response.status_code == 200, response.text
    return article_id in {c["article_id"] for c in response.json()["citations"]}


def test_a_served_index_is_written_through_its_server_and_answers_at_once(tmp_path, seeds_dir):
    index = tmp_path / "index"
    assert newsrag("ingest", str(seeds_dir), "--index", str(index), "-q").returncode == 0
    with running_server(index, tmp_path, {"NEWSRAG_ADMIN_KEYS": KEY}) as server:
        assert not cites(server.ask(TESSALIT), "live-tessalit-2026")
        # the bug of issue 11: a second process writing beside the server. Now refused:
        second = newsrag("ingest", "--index", str(index), str(LIVE / "tessalit.md"))
        assert_clean_error(second, 8, f"PID {server.pid}", server.url,
                           f"newsrag ingest --server {server.url}", "stop the server")  # fmt: skip
        assert stats(index)["articles"] == 2  # it wrote nothing

        with Asker([server]) as asker:
            time.sleep(2)  # questions already flowing when the ingest starts
            sent = newsrag(
                "ingest", "--server", server.url, str(LIVE), env={"NEWSRAG_ADMIN_KEY": KEY}
            )
            returned = time.monotonic()
            time.sleep(3)
        assert sent.returncode == 0, sent.stderr
        assert f"ingest into {server.url}" in sent.stdout and "added" in sent.stdout
        assert asker.failures() == [] and len(asker.results) >= 5
        after = asker.asked_after(returned, TESSALIT)
        assert after and all(after)  # answered from the moment the ingest returned
        first = min(r[4] for r in asker.results if "live-tessalit-2026" in r[5])
        print(f"\nfreshness: first cited {first - returned:+.2f} s from the ingest's return; "
              f"{len(asker.results)} questions asked meanwhile, none failed")  # fmt: skip

        answer = server.ask(TESSALIT)
        assert cites(answer, "live-tessalit-2026") and "JNIM" in answer.json()["answer"]
        status = server.get("/api/status").json()
        assert status["articles"] == 4 and status["up_to_date"] and status["writes_here"]
    after = newsrag("ingest", "--index", str(index), str(LIVE), "-q")  # server stopped: allowed
    assert after.returncode == 0 and stats(index)["articles"] == 4


def test_two_servers_follow_a_separate_ingest_through_a_chroma_server(
    tmp_path, seeds_dir, chroma_server
):
    url, _, _ = chroma_server
    env = {"NEWSRAG_CHROMA_URL": url, "NEWSRAG_REFRESH_SECONDS": "0.5"}
    index = tmp_path / "index"
    archive = tmp_path / "archive"
    shutil.copytree(LIVE, archive)
    assert newsrag("ingest", str(seeds_dir), "--index", str(index), "-q", env=env).returncode == 0
    with (
        running_server(index, tmp_path, env) as a,
        running_server(index, tmp_path, env) as b,
        Asker([a, b]) as asker,
    ):
        time.sleep(2)
        ingest = newsrag("ingest", str(archive), "--index", str(index), "-q", env=env)
        done = time.monotonic()
        assert ingest.returncode == 0, ingest.stderr
        generation = _generation(index)
        lags = {s.url: _caught_up(s, generation) - done for s in (a, b)}
        print(f"\nfreshness with a Chroma server (poll 0.5 s): {lags}")
        for s in (a, b):
            assert cites(s.ask(TESSALIT), "live-tessalit-2026")

        tessalit = archive / "tessalit.md"
        tessalit.write_text(tessalit.read_text() + "\nA zeppelin was seen over Tessalit.\n")
        (archive / "bourem.md").unlink()
        again = newsrag("ingest", str(archive), "--index", str(index), "--prune", "-q", env=env)
        assert again.returncode == 0, again.stderr
        generation = _generation(index)
        for s in (a, b):
            _caught_up(s, generation)
            hits = s.get("/api/search", params={"q": "zeppelin Tessalit"}).json()["passages"]
            assert hits[0]["article_id"] == "live-tessalit-2026"
            assert "zeppelin" in hits[0]["text"]
            bourem = s.get("/api/search", params={"q": "convoglio Bourem"}).json()["passages"]
            assert "live-bourem-2026" not in {p["article_id"] for p in bourem}
            assert s.get("/api/status").json()["articles"] == 3
        time.sleep(1)
    assert asker.failures() == [] and len(asker.results) >= 10
    assert {r[0] for r in asker.results} == {a.url, b.url}


def _generation(index: Path) -> int:
    with sqlite3.connect(f"file:{index / 'manifest.sqlite'}?mode=ro", uri=True) as db:
        return int(db.execute("SELECT value FROM meta WHERE key = 'generation'").fetchone()[0])


def _caught_up(server: Server, generation: int, timeout: float = 30) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = server.get("/api/status").json()
        if status["serving_generation"] >= generation:
            return time.monotonic()
        time.sleep(0.05)
    pytest.fail(f"{server.url} did not reach generation {generation} in {timeout} s")


def test_kill_9_of_the_server_during_an_ingest_through_it_then_again(
    tmp_path, shared_data, seeds_dir, tiny_model
):
    source = shared_data / "sample" / "fakes_syria_en.passages.jsonl"
    index, clean = tmp_path / "index", tmp_path / "clean"
    model = {"NEWSRAG_EMBEDDING_MODEL": str(tiny_model)}
    env = {**model, "NEWSRAG_ADMIN_KEYS": KEY, "NEWSRAG_INGEST_BATCH_CHUNKS": "8"}
    for folder in (index, clean):
        assert (
            newsrag("ingest", str(seeds_dir), "--index", str(folder), "-q", env=model).returncode
            == 0
        )
    assert newsrag("ingest", str(source), "--index", str(clean), "-q", env=model).returncode == 0

    client_env = {**os.environ, "NEWSRAG_ADMIN_KEY": KEY}
    with running_server(index, tmp_path, env) as server:
        upload = subprocess.Popen(
            [sys.executable, "-m", "ui.cli", "ingest", "--server", server.url, str(source), "-q"],
            cwd=REPO, env=client_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        manifest = index / "manifest.sqlite"
        deadline, done = time.time() + 180, 0
        while time.time() < deadline and upload.poll() is None and done < 10:
            with sqlite3.connect(f"file:{manifest}?mode=ro", uri=True) as db:
                done = db.execute("SELECT COUNT(*) FROM articles WHERE state='done'").fetchone()[0]
            time.sleep(0.1)
        assert upload.poll() is None, "the ingest finished before the server could be killed"
        os.kill(server.pid, signal.SIGKILL)
        server.proc.wait()
        _, err = upload.communicate(timeout=60)
        assert upload.returncode != 0 and "Traceback" not in err
        assert "newsrag server" in err or "without a report" in err, err
    assert 2 + 5 <= stats(index)["articles"] < 2 + 50

    with running_server(index, tmp_path, env) as server:  # the dead server's lock is gone
        again = newsrag(
            "ingest", "--server", server.url, str(source), "-q", env={"NEWSRAG_ADMIN_KEY": KEY}
        )
        assert again.returncode == 0, again.stderr
        assert server.get("/api/status").json()["articles"] == 52
    want, got = stats(clean), stats(index)
    assert got["articles"] == want["articles"] == 52 and got["pending"] == 0
    assert got["chunks"] == got["chunks_in_store"] == want["chunks"]

    import chromadb

    def chunk_ids(folder: Path) -> set[str]:
        client = chromadb.PersistentClient(path=str(folder / "chroma"))
        return set(client.get_collection("newsrag-chunks").get(include=[])["ids"])

    assert chunk_ids(index) == chunk_ids(clean)
    saved = LexicalIndex.load(index)
    assert saved is not None and saved.chunk_ids() == chunk_ids(index)
    assert json.loads((index / "lexical" / "state.json").read_text())["generation"] == _generation(
        index
    )
