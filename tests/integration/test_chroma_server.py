"""Server mode: a real `chroma run` on loopback, ingested into through NEWSRAG_CHROMA_URL."""

from __future__ import annotations

import socket

import pytest

from tests.integration.test_cli import assert_clean_error, newsrag, stats

pytestmark = [pytest.mark.slow, pytest.mark.integration]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_ingest_and_query_through_a_chroma_server(tmp_path, seeds_dir, chroma_server, e5_embedder):
    import chromadb

    url, port, data = chroma_server
    index = tmp_path / "index"
    env = {"NEWSRAG_CHROMA_URL": url}
    out = newsrag("ingest", str(seeds_dir), "--index", str(index), env=env)
    assert out.returncode == 0, out.stderr
    got = stats(index, env)
    assert got["store"] == url
    assert got["articles"] == 2 and got["chunks"] == got["chunks_in_store"] > 2
    # the vectors live in the server's folder; the index folder keeps only the manifest
    assert not (index / "chroma").exists() and any(data.iterdir())

    client = chromadb.HttpClient(host="127.0.0.1", port=port)
    chunks = client.get_collection("newsrag-chunks")
    assert chunks.count() == got["chunks"]
    query = e5_embedder.embed_queries(["where is Isis still active in Syria?"])
    hit = chunks.query(query_embeddings=query, n_results=1, where={"lang": "en"})
    assert "Deir Ez" in hit["documents"][0][0]

    again = newsrag("ingest", str(seeds_dir), "--index", str(index), "-q", env=env)
    assert again.returncode == 0 and chunks.count() == got["chunks"]


def test_an_unreachable_server_is_a_clear_error(tmp_path, seeds_dir):
    env = {"NEWSRAG_CHROMA_URL": f"http://127.0.0.1:{_free_port()}"}
    out = newsrag("ingest", str(seeds_dir), "--index", str(tmp_path / "i"), "-q", env=env)
    assert_clean_error(out, 5, "Cannot reach the Chroma server", "NEWSRAG_CHROMA_URL")
