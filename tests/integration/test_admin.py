"""The admin routes over a real app and a real embedded Chroma (hash embedder: fast).

The client is the real one (`newsrag ingest --server`'s ui/remote_ingest.py) sending through
the app's TestClient. The slow tests with real servers are in test_live.py.
"""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from app.services import Services
from ingest.formats.common import SourceFile
from ingest.formats.fields import Fields
from ingest.sync import Ingestor
from rag.answer.extractive import ExtractiveAnswerer
from rag.archive.index import ArchiveIndex
from rag.archive.writer_lock import WriterLock
from rag.chat import Engine
from rag.config import Settings
from rag.errors import ConfigError, IndexBusyError
from rag.retrieval import Retriever
from tests.conftest import REPO
from tests.fakes import HashEmbedder
from ui.remote_ingest import run_remote_ingest
from ui.web.server import create_app

pytestmark = pytest.mark.integration

LIVE = REPO / "tests" / "data" / "live"
KEY = "admin-key-for-tests"
SEED = {"id": "seed-1", "title": "Harvest festival", "lang": "en", "date": "2019-09-09",
        "text": "The town held its yearly harvest festival with music and a market."}  # fmt: skip


@dataclass
class Served:
    client: TestClient
    index: ArchiveIndex
    services: Services
    archive: Path  # a folder of articles to upload (a copy of tests/data/live)

    def upload(self, *paths: Path, prune: bool = False, key: str | None = KEY) -> Any:
        return run_remote_ingest(
            "http://testserver", key, list(paths) or [self.archive], field_map={}, prune=prune,
            quiet=True, client=self.client,
        )  # fmt: skip

    def search(self, q: str) -> list[str]:
        got = self.client.get("/api/search", params={"q": q, "k": 5})
        assert got.status_code == 200, got.text
        return [p["article_id"] for p in got.json()["passages"]]


def serve(tmp_path: Path, **overrides: Any) -> Iterator[Served]:
    embedder = HashEmbedder()
    values: dict[str, Any] = {"index_dir": tmp_path / "index", "rate_limit_per_minute": 0,
                              "chunk_tokens": 60, "chunk_overlap": 10, "admin_keys": [KEY],
                              "refresh_seconds": 0}  # fmt: skip
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
    archive = tmp_path / "archive"
    shutil.copytree(LIVE, archive)
    with TestClient(create_app(settings, services=services)) as client:
        yield Served(client, index, services, archive)
    index.close()


@pytest.fixture
def served(tmp_path) -> Iterator[Served]:
    yield from serve(tmp_path)


def post_ingest(client: TestClient, headers: dict[str, str] | None = None, **kw: Any):
    meta = {"files": [], "field_map": None, "prune_roots": None}
    return client.post(
        "/api/admin/ingest", data={"meta": json.dumps(meta)}, headers=headers or {}, **kw
    )


def test_the_admin_routes_are_refused_when_no_key_is_configured(tmp_path):
    for served in serve(tmp_path, admin_keys=[]):
        got = post_ingest(served.client, {"Authorization": f"Bearer {KEY}"})
        assert got.status_code == 403
        assert got.json()["error"]["code"] == "admin_disabled"
        assert "NEWSRAG_ADMIN_KEYS" in got.json()["error"]["message"]


def test_an_admin_key_is_needed_even_from_the_chat_page(served):
    client = served.client
    missing = post_ingest(client)
    assert missing.status_code == 401 and "NEWSRAG_ADMIN_KEY" in missing.json()["error"]["message"]
    assert post_ingest(client, {"X-API-Key": "wrong"}).status_code == 401
    # the chat page's own requests need no API key; they get no pass on the admin routes
    same_origin = {"Sec-Fetch-Site": "same-origin", "Origin": "http://testserver"}
    assert post_ingest(client, same_origin).status_code == 401
    assert post_ingest(client, {"Origin": "https://elsewhere.example"}).status_code == 403
    ok = post_ingest(client, {"X-API-Key": KEY})
    assert ok.status_code == 200 and ok.json()["articles_seen"] == 0


def test_api_keys_stand_in_when_no_admin_keys_are_set(tmp_path):
    for served in serve(tmp_path, admin_keys=[], api_keys=["api-1"]):
        assert post_ingest(served.client, {"X-API-Key": "api-1"}).status_code == 200
        assert post_ingest(served.client, {"X-API-Key": "api-2"}).status_code == 401
    for served in serve(tmp_path / "both", admin_keys=[KEY], api_keys=["api-1"]):
        # admin keys set: an API key is not an admin key, and an admin key passes the API check
        assert post_ingest(served.client, {"X-API-Key": "api-1"}).status_code == 401
        assert post_ingest(served.client, {"X-API-Key": KEY}).status_code == 200


def test_an_upload_is_answerable_when_the_ingest_returns(served):
    before = served.client.get("/api/status").json()
    report = served.upload()
    assert (report.added, report.articles_seen, report.problems) == (2, 2, ())
    assert served.search("Tessalit base attack")[0] == "live-tessalit-2026"
    assert served.search("convoglio Bourem")[0] == "live-bourem-2026"
    answer = served.client.post("/api/ask", json={"question": "Who attacked the base at Tessalit?"})
    assert answer.status_code == 200
    assert "live-tessalit-2026" in {c["article_id"] for c in answer.json()["citations"]}
    status = served.client.get("/api/status").json()
    assert status["articles"] == before["articles"] + 2 and status["up_to_date"]
    assert status["serving_generation"] == status["generation"] > before["generation"]
    assert status["last_updated"] >= (before["last_updated"] or "")


def test_a_reupload_changes_nothing_and_ids_are_those_of_a_local_ingest(served):
    page = served.archive / "notes.md"  # no id in it: its id comes from its path
    page.write_text("# Notes from Kidal\n\nThe market of Kidal reopened after the curfew.\n")
    first = served.upload()
    assert first.added == 3
    local_id = SourceFile(page, Fields({})).file_id  # what `newsrag ingest` here would use
    record = served.index.manifest.get(local_id)
    assert record is not None and record.path == str(page.resolve())
    again = served.upload()
    assert (again.added, again.updated, again.unchanged, again.chunks_written) == (0, 0, 3, 0)
    assert served.index.manifest.count() == 4  # the seed and the three: nothing doubled


def test_changed_and_pruned_articles_are_followed(served):
    served.upload()
    tessalit = served.archive / "tessalit.md"
    tessalit.write_text(
        tessalit.read_text().replace("army base at Tessalit", "airfield of Tessalit")
        .replace("the army base", "the airfield").replace("# Gunmen attack", "# Drones over")
        + "\nA zeppelin was seen over the airfield.\n"
    )  # fmt: skip
    changed = served.upload()
    assert (changed.updated, changed.unchanged) == (1, 1)
    assert served.search("zeppelin airfield")[0] == "live-tessalit-2026"
    (served.archive / "bourem.md").unlink()
    pruned = served.upload(prune=True)
    assert pruned.removed == 1 and served.index.manifest.get("live-bourem-2026") is None
    assert "live-bourem-2026" not in served.search("convoglio Bourem camion cisterna")
    assert served.index.manifest.get("seed-1") is not None  # not under the pruned folder
    assert served.index.lexical().chunk_ids() == {
        f"{r.id}:{n}" for r in served.index.manifest.iter_records() for n in range(r.n_chunks)
    }


def test_the_report_is_plain_json_unless_progress_lines_are_asked_for(served):
    files = [("files", ("tessalit.md", (served.archive / "tessalit.md").read_bytes()))]
    meta = {"files": [{"where": "/elsewhere/tessalit.md", "file_id": "file:tessalit.md"}]}
    headers = {"X-API-Key": KEY}
    got = served.client.post(
        "/api/admin/ingest", data={"meta": json.dumps(meta)}, files=files, headers=headers
    )
    assert got.status_code == 200 and got.headers["content-type"] == "application/json"
    assert got.json()["unchanged"] + got.json()["added"] == 1
    lines = served.client.post(
        "/api/admin/ingest", data={"meta": json.dumps(meta)}, files=files,
        headers=headers | {"Accept": "application/x-ndjson"},
    )  # fmt: skip
    events = [json.loads(line) for line in lines.text.splitlines()]
    assert "progress" in events[0] and events[-1]["report"]["unchanged"] == 1
    bad = served.client.post("/api/admin/ingest", data={"meta": "[1]"}, headers=headers)
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "meta"


def test_an_upload_over_the_limit_is_refused_before_it_is_read(tmp_path):
    for served in serve(tmp_path, admin_max_upload_mb=0.001):
        with pytest.raises(Exception, match="NEWSRAG_ADMIN_MAX_UPLOAD_MB"):
            served.upload()
        assert served.index.manifest.count() == 1


def test_an_ingest_while_another_process_writes_is_a_clear_409(served):
    other = WriterLock(served.index.index_dir).acquire("ingest")  # as another process would
    try:
        with pytest.raises(IndexBusyError, match="being written by `newsrag ingest`"):
            served.upload()
    finally:
        other.release()
    assert served.upload().added == 2


def test_the_client_needs_a_key_and_a_reachable_server(tmp_path):
    with pytest.raises(ConfigError, match="NEWSRAG_ADMIN_KEY"):
        run_remote_ingest("http://127.0.0.1:1", None, [LIVE], field_map={}, prune=False)
    with pytest.raises(ConfigError, match="Cannot reach the newsrag server"):
        run_remote_ingest("http://127.0.0.1:1", "k", [LIVE], field_map={}, prune=False, quiet=True)


def test_a_chunk_in_one_index_and_missing_in_the_other_is_skipped_not_a_500(served, caplog):
    served.upload()
    served.index.store.chunks.delete(ids=["live-tessalit-2026:0"])  # the vectors lost it
    with caplog.at_level(logging.INFO):
        got = served.client.post(
            "/api/ask", json={"question": "Who attacked the base at Tessalit?"}
        )
        search = served.client.get("/api/search", params={"q": "Tessalit"})
    assert got.status_code == 200 and search.status_code == 200
    assert "live-tessalit-2026:0" not in {c["chunk_id"] for c in got.json()["citations"]}
    assert any(
        "skipped" in r.message and "live-tessalit-2026:0" in r.message for r in caplog.records
    )


def test_httpx_streams_the_files_it_uploads_one_at_a_time(tmp_path):
    from ui.remote_ingest import _LazyFile

    path = tmp_path / "a.md"
    path.write_bytes(b"x" * 100_000)
    lazy = _LazyFile(path)
    field = httpx._multipart.FileField("files", ("a.md", lazy, "text/plain"))  # type: ignore[attr-defined]
    assert field.get_length() == 100_000 + len(field.render_headers())
    assert lazy._f is None  # measured without opening it
    body = b"".join(field.render_data())
    assert body == b"x" * 100_000 and lazy._f is None  # closed once read
