"""Sync benchmark: what a feed sync costs, on the test site on loopback, with the real model.

    python bench/sync.py [--model multilingual-e5-small] [--delay 0]

Prints one JSON object. A feed of five invented articles (tests/web_site.py) is synced into a
new index, then synced again unchanged, then a sixth article is published (added to the
feed) and synced; after each, the seconds, HTTP requests and pages embedded. The last sync
is also timed to the moment a search in the same process ranks the new article first: the
lag from "published" to "answerable" when a sync runs right after publication (a scheduled
sync adds up to its interval). Model loading is not counted.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="multilingual-e5-small")
    parser.add_argument("--delay", type=float, default=0.0, help="per-host delay, seconds")
    args = parser.parse_args()

    from app.compose import ingest_parts
    from app.quiet import quiet_phone_home
    from ingest.registry import SourceRegistry
    from ingest.source_sync import SourceSyncer
    from rag.config import Settings
    from rag.retrieval import RetrievalConfig, Retriever
    from tests.web_site import ARTICLES, LOOPBACK, NewsSite, Route, rss

    quiet_phone_home(offline=True)
    paths = list(ARTICLES)
    site = NewsSite().start()
    for path in paths:
        site.page(path)
    site.routes["/robots.txt"] = Route(b"User-agent: *\nAllow: /\n", "text/plain")
    site.routes["/rss.xml"] = Route(rss(site.base, paths[:5]), "application/rss+xml")
    out: dict[str, object] = {"model": args.model, "host_delay_s": args.delay}
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(index_dir=Path(tmp) / "index", embedding_model=args.model,
                            fetch_host_delay=args.delay, fetch_allow=[LOOPBACK])  # fmt: skip
        t0 = time.perf_counter()
        parts = ingest_parts(settings)
        out["model_load_s"] = round(time.perf_counter() - t0, 2)
        registry = SourceRegistry(settings.index_dir)
        registry.add(site.base + "/rss.xml", kind="web", every_seconds=1800, name="gazzetta")
        from ingest.source_sync import fetch_policy

        syncer = SourceSyncer(parts.ingestor, registry, fetch_policy(settings),
                              max_file_bytes=settings.max_file_bytes)  # fmt: skip

        def run(label: str) -> None:
            site.clear()
            started = time.perf_counter()
            (report,) = syncer.sync(["gazzetta"]).sources
            out[label] = {
                "seconds": round(time.perf_counter() - started, 3),
                "requests": len(site.hits),
                "not_modified": report.not_modified,
                "added": report.added,
                "chunks_embedded": report.chunks_written,
            }

        run("first_sync_5_pages")
        run("unchanged_resync")
        site.routes["/rss.xml"] = Route(rss(site.base, paths[:6]), "application/rss+xml")
        published = time.perf_counter()
        run("one_new_article")
        retriever = Retriever(parts.index, parts.embedder, RetrievalConfig())
        question = "Quando è stato riacceso il faro di Corvina dopo il restauro?"
        hits = retriever.search(question, lang="it", k=3)
        out["published_to_answerable_s"] = round(time.perf_counter() - published, 3)
        out["new_article_rank"] = next(
            (n for n, h in enumerate(hits, 1) if h.url == site.base + paths[5]), None
        )
        registry.close()
        parts.index.close()
    site.stop()
    sys.stdout.write(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
